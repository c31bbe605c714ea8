package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/api"
	"github.com/digital-embassy/embassy/internal/proof"
	"github.com/digital-embassy/embassy/internal/site"
)

// handleOf parses the {kind} and {name...} path values.
func handleOf(r *http.Request) (site.Handle, error) {
	return ParseHandle(r.PathValue("kind"), r.PathValue("name"))
}

// ParseHandle checks a kind and a name from a request path.
func ParseHandle(kind, name string) (site.Handle, error) {
	k, err := site.ParseKind(kind)
	if err != nil {
		return site.Handle{}, badRequest("unknown object kind")
	}
	h := site.Handle{Kind: k, Name: name}
	if err := h.Validate(); err != nil {
		return site.Handle{}, badRequest("invalid object name")
	}
	return h, nil
}

// PutOptions decodes the options of a PUT from its headers.
func PutOptions(hd http.Header) (site.PutOptions, error) {
	var o site.PutOptions
	switch v := hd.Get("If-None-Match"); v {
	case "":
	case "*":
		o.IfAbsent = true
	default:
		return o, badRequest("If-None-Match: only * is supported")
	}
	if v := hd.Get(api.HeaderRetainUntil); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return o, badRequest(api.HeaderRetainUntil + ": want an RFC 3339 time")
		}
		o.RetainUntil = t
	}
	switch hd.Get(api.HeaderDeferred) {
	case "", "0":
	case "1":
		o.Deferred = true
	default:
		return o, badRequest(api.HeaderDeferred + ": want 0 or 1")
	}
	return o, nil
}

func (s *Server) putObject(w http.ResponseWriter, r *http.Request, c caller) error {
	h, err := handleOf(r)
	if err != nil {
		return err
	}
	opts, err := PutOptions(r.Header)
	if err != nil {
		return err
	}
	switch {
	case r.ContentLength < 0:
		return fail(http.StatusLengthRequired, api.CodeLengthNeeded, "Content-Length required", nil)
	case r.ContentLength > s.cfg.MaxBody:
		s.metrics.reject("too_large")
		return fail(http.StatusRequestEntityTooLarge, api.CodeTooLarge, fmt.Sprintf("object larger than %d bytes", s.cfg.MaxBody), nil)
	}
	p := &bodyPayload{body: http.MaxBytesReader(w, r.Body, r.ContentLength), n: r.ContentLength}
	if _, ok := proof.ContentRoot(h); ok {
		p.ob = proof.NewOutboardWriter()
	}
	s.cache.drop(h)
	err = s.cfg.Backend.Put(r.Context(), h, p, opts)
	s.metrics.bytesIn.Add(p.read)
	if err != nil {
		if p.err != nil && r.Context().Err() == nil && !errors.Is(err, site.ErrExists) {
			err = fail(http.StatusBadRequest, api.CodeBadRequest, "request body ended early or failed", err)
		}
		return err
	}
	if p.ob != nil && p.read == p.n && p.reads == 1 {
		s.cache.put(h, p.ob.Outboard())
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

// bodyPayload streams a request body into a backend once; it cannot be
// replayed, so a retrying backend fails instead of storing a partial copy.
type bodyPayload struct {
	body  io.Reader
	n     int64
	ob    *proof.OutboardWriter
	reads int
	read  int64
	err   error
}

var errReplay = errors.New("request body cannot be replayed")

func (p *bodyPayload) Len() int64 { return p.n }

func (p *bodyPayload) NewReader() io.Reader {
	p.reads++
	if p.reads > 1 {
		return errReader{errReplay}
	}
	return p
}

func (p *bodyPayload) Read(b []byte) (int, error) {
	n, err := p.body.Read(b)
	p.read += int64(n)
	if p.ob != nil {
		_, _ = p.ob.Write(b[:n]) // the outboard hasher's Write never fails
	}
	if err != nil && err != io.EOF {
		p.err = err
	}
	if err == io.EOF && p.read < p.n {
		err = io.ErrUnexpectedEOF
		p.err = err
	}
	return n, err
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// ParseRange decodes a single "bytes=off-" or "bytes=off-last" range into
// the backend's (off, n); n == 0 means to the end.
func ParseRange(v string) (off, n int64, err error) {
	spec, ok := strings.CutPrefix(v, "bytes=")
	a, b, ok2 := strings.Cut(spec, "-")
	if !ok || !ok2 || strings.Contains(b, ",") {
		return 0, 0, badRequest("Range: want bytes=off- or bytes=off-last")
	}
	off, err = strconv.ParseInt(a, 10, 64)
	if err != nil || off < 0 {
		return 0, 0, badRequest("Range: bad offset")
	}
	if b == "" {
		return off, 0, nil
	}
	last, err := strconv.ParseInt(b, 10, 64)
	if err != nil || last < off || last-off >= 1<<62 {
		return 0, 0, badRequest("Range: bad end")
	}
	return off, last - off + 1, nil
}

func (s *Server) getObject(w http.ResponseWriter, r *http.Request, c caller) error {
	h, err := handleOf(r)
	if err != nil {
		return err
	}
	var off, n int64
	ranged := r.Header.Get("Range") != ""
	if ranged {
		if off, n, err = ParseRange(r.Header.Get("Range")); err != nil {
			return err
		}
	}
	fi, err := s.cfg.Backend.Stat(r.Context(), h)
	if err != nil {
		return err
	}
	length := fi.Size - off
	if n > 0 {
		length = n
	}
	if off > fi.Size || off+length > fi.Size {
		return site.ErrRange
	}
	started := false
	return s.cfg.Backend.Get(r.Context(), h, off, n, func(rd io.Reader) error {
		if started {
			return errReplay
		}
		started = true
		// A range of up to maxBufferedGet (an erasure shard record) is
		// read with one read into a pooled buffer
		// and written to the connection at once: io.Copy read a pack 32
		// KiB at a time, a pread and a TLS write each.
		var body *[]byte
		if length <= maxBufferedGet {
			body = getBufs.Get().(*[]byte)
			defer getBufs.Put(body)
			if int64(cap(*body)) < length {
				*body = make([]byte, length, maxBufferedGet)
			}
			*body = (*body)[:length]
			if _, err := io.ReadFull(rd, *body); err != nil {
				return err
			}
		}
		hd := w.Header()
		hd.Set("Content-Type", "application/octet-stream")
		hd.Set("Content-Length", strconv.FormatInt(length, 10))
		hd.Set(api.HeaderModTime, fi.ModTime.UTC().Format(time.RFC3339Nano))
		status := http.StatusOK
		if ranged {
			status = http.StatusPartialContent
			hd.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+length-1, fi.Size))
		}
		w.WriteHeader(status)
		if body != nil {
			_, err := w.Write(*body)
			return err
		}
		_, err := io.CopyN(w, rd, length)
		return err
	})
}

// maxBufferedGet is the largest range getObject reads into one buffer:
// an erasure shard record (1 MiB and its tag) fits, and a daemon holds at
// most that much per GET in flight.
const maxBufferedGet = 1<<20 + 4<<10

// getBufs holds getObject's buffers (at most one per GET in flight).
var getBufs = sync.Pool{New: func() any { return new([]byte) }}

func (s *Server) statObject(w http.ResponseWriter, r *http.Request, c caller) error {
	h, err := handleOf(r)
	if err != nil {
		return err
	}
	fi, err := s.cfg.Backend.Stat(r.Context(), h)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Length", strconv.FormatInt(fi.Size, 10))
	w.Header().Set(api.HeaderModTime, fi.ModTime.UTC().Format(time.RFC3339Nano))
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) deleteObject(w http.ResponseWriter, r *http.Request, c caller) error {
	h, err := handleOf(r)
	if err != nil {
		return err
	}
	s.cache.drop(h)
	if err := s.cfg.Backend.Delete(r.Context(), h); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listObjects(w http.ResponseWriter, r *http.Request, c caller) error {
	k, err := site.ParseKind(r.PathValue("kind"))
	if err != nil {
		return badRequest("unknown object kind")
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := newLineEncoder(w)
	var count int64
	err = s.cfg.Backend.List(r.Context(), k, func(fi site.Info) error {
		count++
		return enc.encode(api.Entry{Name: fi.Handle.Name, Size: fi.Size, ModTime: fi.ModTime.UTC()})
	})
	if err != nil && count == 0 && !enc.started {
		return err
	}
	end := api.Entry{End: true, Count: count}
	if err != nil {
		s.log.ErrorContext(r.Context(), "list failed midway", "kind", k.String(), "err", err)
		end.Err = "listing failed at the site"
	}
	if err := enc.encode(end); err != nil {
		return err
	}
	return enc.flush()
}
