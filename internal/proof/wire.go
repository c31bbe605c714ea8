package proof

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/strict"
)

// MaxRequestBytes bounds an encoded challenge.
const MaxRequestBytes = 64 << 20

type challengeJSON struct {
	Version int      `json:"version"`
	Nonce   string   `json:"nonce"`
	Chunks  int      `json:"chunks"`
	Objects []string `json:"objects"`
	List    []string `json:"list,omitempty"`
}

// MarshalJSON encodes a challenge as the request body of POST /v1/prove.
func (c Challenge) MarshalJSON() ([]byte, error) {
	j := challengeJSON{Version: 1, Nonce: hex.EncodeToString(c.Nonce[:]), Chunks: c.Chunks, Objects: make([]string, len(c.Objects))}
	for i, h := range c.Objects {
		j.Objects[i] = h.String()
	}
	for _, k := range c.List {
		j.List = append(j.List, k.String())
	}
	return json.Marshal(j)
}

// DecodeChallenge reads and validates a request body.
func DecodeChallenge(r io.Reader) (Challenge, error) {
	var j challengeJSON
	b, err := io.ReadAll(io.LimitReader(r, MaxRequestBytes+1))
	if err != nil {
		return Challenge{}, fmt.Errorf("decode challenge: %w", err)
	}
	if len(b) > MaxRequestBytes {
		return Challenge{}, fmt.Errorf("decode challenge: the request is over %d bytes", MaxRequestBytes)
	}
	if err := strict.JSON(b, &j); err != nil {
		return Challenge{}, fmt.Errorf("decode challenge: %w", err)
	}
	if j.Version != 1 {
		return Challenge{}, fmt.Errorf("challenge version %d, want 1", j.Version)
	}
	var c Challenge
	// Length first: hex.Decode writes past a too-small destination (found by the fuzz tier).
	if len(j.Nonce) != 64 {
		return Challenge{}, errors.New("challenge nonce: want 64 hex digits")
	}
	if n, err := hex.Decode(c.Nonce[:], []byte(j.Nonce)); err != nil || n != 32 {
		return Challenge{}, errors.New("challenge nonce: want 64 hex digits")
	}
	if len(j.Objects) > MaxObjects {
		return Challenge{}, fmt.Errorf("%d objects, at most %d per challenge", len(j.Objects), MaxObjects)
	}
	c.Chunks = j.Chunks
	c.Objects = make([]site.Handle, len(j.Objects))
	for i, s := range j.Objects {
		h, err := ParseHandle(s)
		if err != nil {
			return Challenge{}, err
		}
		c.Objects[i] = h
	}
	for _, s := range j.List {
		k, err := site.ParseKind(s)
		if err != nil {
			return Challenge{}, err
		}
		c.List = append(c.List, k)
	}
	return c, c.Validate()
}

// ParseHandle parses "kind/name" as printed by site.Handle.String.
func ParseHandle(s string) (site.Handle, error) {
	ks, name, _ := strings.Cut(s, "/")
	k, err := site.ParseKind(ks)
	if err != nil {
		return site.Handle{}, err
	}
	h := site.Handle{Kind: k, Name: name}
	return h, h.Validate()
}

// The response is binary: it is mostly chunk bytes and hashes.
var respMagic = []byte("EPRF\x01")

// Limits a decoder enforces on a response, beyond those of the challenge.
const maxPath = 64

// WriteResponse encodes resp to w.
func WriteResponse(w io.Writer, resp Response) error {
	var b bytes.Buffer
	b.Write(respMagic)
	b.Write(resp.Nonce[:])
	put := func(v uint64) { b.Write(binary.AppendUvarint(nil, v)) }
	put(uint64(len(resp.Answers)))
	for _, a := range resp.Answers {
		b.WriteByte(byte(a.Status))
		switch a.Status {
		case StatusTree:
			put(uint64(a.Size))
			put(uint64(len(a.Chunks)))
			for _, c := range a.Chunks {
				put(uint64(c.Index))
				put(uint64(len(c.Data)))
				b.Write(c.Data)
				put(uint64(len(c.Path)))
				for _, cv := range c.Path {
					x := cv.Bytes()
					b.Write(x[:])
				}
			}
		case StatusMAC:
			put(uint64(a.Size))
			b.Write(a.MAC[:])
		case StatusMissing:
		case StatusError:
			put(uint64(len(a.Err)))
			b.WriteString(a.Err)
		default:
			return fmt.Errorf("answer status %d", a.Status)
		}
		if b.Len() > 1<<20 {
			if _, err := w.Write(b.Bytes()); err != nil {
				return err
			}
			b.Reset()
		}
	}
	put(uint64(len(resp.Listings)))
	for _, l := range resp.Listings {
		b.WriteByte(byte(l.Kind))
		put(uint64(l.Count))
		b.Write(l.Digest[:])
	}
	_, err := w.Write(b.Bytes())
	return err
}

type reader struct {
	r   io.ByteReader
	src io.Reader
	err error
}

func (r *reader) uvarint(max uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(r.r)
	if err == nil && v > max {
		err = fmt.Errorf("value %d above %d", v, max)
	}
	if r.err = err; err != nil {
		return 0
	}
	return v
}

func (r *reader) full(p []byte) {
	if r.err == nil {
		_, r.err = io.ReadFull(r.src, p)
	}
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	b, err := r.r.ReadByte()
	r.err = err
	return b
}

// ReadResponse decodes a response to challenge c from r.
func ReadResponse(rd io.Reader, c Challenge) (Response, error) {
	br, ok := rd.(interface {
		io.Reader
		io.ByteReader
	})
	if !ok {
		br = bufioReader(rd)
	}
	r := &reader{r: br, src: br}
	var resp Response
	magic := make([]byte, len(respMagic))
	r.full(magic)
	if r.err == nil && !bytes.Equal(magic, respMagic) {
		return resp, errors.New("proof response: bad magic")
	}
	r.full(resp.Nonce[:])
	n := r.uvarint(uint64(len(c.Objects)))
	if r.err == nil && n != uint64(len(c.Objects)) {
		return resp, fmt.Errorf("proof response: %d answers for %d objects", n, len(c.Objects))
	}
	resp.Answers = make([]Answer, 0, n)
	for i := uint64(0); i < n && r.err == nil; i++ {
		a := Answer{Status: Status(r.byte())}
		switch a.Status {
		case StatusTree:
			a.Size = int64(r.uvarint(1 << 62))
			nc := r.uvarint(MaxChunks + 1)
			for j := uint64(0); j < nc && r.err == nil; j++ {
				cp := ChunkProof{Index: int64(r.uvarint(1 << 62))}
				cp.Data = make([]byte, r.uvarint(ChunkLen))
				r.full(cp.Data)
				np := r.uvarint(maxPath)
				var buf [32]byte
				for k := uint64(0); k < np && r.err == nil; k++ {
					r.full(buf[:])
					cp.Path = append(cp.Path, cvFromBytes(buf[:]))
				}
				a.Chunks = append(a.Chunks, cp)
			}
		case StatusMAC:
			a.Size = int64(r.uvarint(1 << 62))
			r.full(a.MAC[:])
		case StatusMissing:
		case StatusError:
			msg := make([]byte, r.uvarint(4096))
			r.full(msg)
			a.Err = string(msg)
		default:
			if r.err == nil {
				r.err = fmt.Errorf("answer %d: status %d", i, a.Status)
			}
		}
		resp.Answers = append(resp.Answers, a)
	}
	nl := r.uvarint(uint64(len(c.List)))
	for i := uint64(0); i < nl && r.err == nil; i++ {
		l := Listing{Kind: site.Kind(r.byte()), Count: int64(r.uvarint(1 << 62))}
		r.full(l.Digest[:])
		resp.Listings = append(resp.Listings, l)
	}
	if r.err != nil {
		if errors.Is(r.err, io.EOF) {
			r.err = io.ErrUnexpectedEOF
		}
		return resp, fmt.Errorf("proof response: %w", r.err)
	}
	return resp, nil
}
