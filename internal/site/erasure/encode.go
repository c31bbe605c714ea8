package erasure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/digital-embassy/embassy/internal/site"
)

// gate holds back the last byte of a shard until the group decides whether
// the member may commit it. Every reader of one member's payload (retries
// make several) shares the gate.
type gate struct {
	once    sync.Once
	arrived chan struct{} // closed when a reader waits before the last byte
	decided chan struct{} // closed by decide
	ok      bool          // set before decided closes
}

func newGate() *gate {
	return &gate{arrived: make(chan struct{}), decided: make(chan struct{})}
}

// decide lets the waiting reader finish (ok) or fail; only the first call counts.
func (g *gate) decide(ok bool) {
	select {
	case <-g.decided:
	default:
		g.ok = ok
		close(g.decided)
	}
}

var errAborted = errors.New("put aborted by the erasure group")

// shardPayload is the replayable payload of one member: each reader re-reads
// the object and re-encodes, so a member's own retries replay it.
type shardPayload struct {
	b    *Backend
	ctx  context.Context
	src  site.Payload
	hdr  header
	gate *gate // nil: not gated
}

func (p shardPayload) Len() int64 { return p.hdr.layout().shardSize() }

func (p shardPayload) NewReader() io.Reader {
	return &shardReader{p: p, hb: p.hdr.marshal(), l: p.hdr.layout(), src: p.src.NewReader(), total: p.Len()}
}

type shardReader struct {
	p       shardPayload
	hb      []byte
	l       layout
	src     io.Reader
	pos     int64 // object bytes consumed from src (or skipped)
	next    int64 // next stripe to produce; -1 before the header
	started bool
	pending []byte
	emitted int64
	total   int64
	err     error
	buf     []byte   // stripe data, k·stripe for parity, stripe for data shards
	parity  [][]byte // parity shards, parity members only
}

func (r *shardReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	for len(r.pending) == 0 {
		if r.emitted == r.total {
			return 0, io.EOF
		}
		if err := r.produce(); err != nil {
			r.err = err
			return 0, err
		}
	}
	if g := r.p.gate; g != nil {
		if r.emitted == r.total-1 {
			g.once.Do(func() { close(g.arrived) })
			select {
			case <-g.decided:
			case <-r.p.ctx.Done():
				r.err = r.p.ctx.Err()
				return 0, r.err
			}
			if !g.ok {
				r.err = errAborted
				return 0, r.err
			}
		} else if r.emitted+int64(len(p)) >= r.total {
			p = p[:r.total-1-r.emitted]
		}
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	r.emitted += int64(n)
	return n, nil
}

// produce fills pending with the header or the next stripe record; after
// the last one it checks that the object ended where its Len said.
func (r *shardReader) produce() error {
	if err := r.p.ctx.Err(); err != nil {
		return err
	}
	if !r.started {
		r.started = true
		r.pending = r.hb
	} else {
		if r.next >= r.l.stripes() {
			return fmt.Errorf("shard %d: produced past its end", r.p.hdr.Index)
		}
		rec, err := r.stripe(r.next)
		if err != nil {
			return err
		}
		r.pending = rec
		r.next++
	}
	if r.next == r.l.stripes() {
		return r.end()
	}
	return nil
}

// end checks that the source holds exactly the object.
func (r *shardReader) end() error {
	if s, ok := r.src.(io.Seeker); ok {
		// Data shards may have skipped the tail by seeking.
		end, err := s.Seek(0, io.SeekEnd)
		if err != nil {
			return fmt.Errorf("read object: %w", err)
		}
		if end != r.l.size {
			return fmt.Errorf("read object: payload has %d bytes, want %d", end, r.l.size)
		}
		return nil
	}
	if r.pos != r.l.size {
		return fmt.Errorf("read object: consumed %d bytes, want %d", r.pos, r.l.size)
	}
	var one [1]byte
	n, err := io.ReadFull(r.src, one[:])
	if n > 0 {
		return fmt.Errorf("read object: payload longer than %d bytes", r.l.size)
	}
	if err != io.EOF {
		return fmt.Errorf("read object: %w", err)
	}
	return nil
}

// skip advances the source by n bytes.
func (r *shardReader) skip(n int64) error {
	if n <= 0 {
		return nil
	}
	if s, ok := r.src.(io.Seeker); ok {
		if _, err := s.Seek(n, io.SeekCurrent); err != nil {
			return fmt.Errorf("read object: %w", err)
		}
	} else if c, err := io.CopyN(io.Discard, r.src, n); err != nil {
		return fmt.Errorf("read object: payload ended after %d bytes, want %d: %w", r.pos+c, r.l.size, noEOF(err))
	}
	r.pos += n
	return nil
}

func (r *shardReader) read(buf []byte) error {
	c, err := io.ReadFull(r.src, buf)
	if err != nil {
		return fmt.Errorf("read object: payload ended after %d bytes, want %d: %w", r.pos+int64(c), r.l.size, noEOF(err))
	}
	r.pos += int64(c)
	return nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// stripe returns the record of stripe j for this reader's shard.
func (r *shardReader) stripe(j int64) ([]byte, error) {
	k, idx := r.l.k, r.p.hdr.Index
	data, s := r.l.data(j), r.l.shardLen(j)
	var shard []byte
	if idx < k {
		// A data shard: its own slice of the stripe, zero padded.
		if r.buf == nil {
			r.buf = make([]byte, r.l.stripe+tagLen)
		}
		shard = r.buf[:s]
		lo := min(int64(idx)*s, data)
		hi := min(lo+s, data)
		if err := r.skip(lo); err != nil {
			return nil, err
		}
		if err := r.read(shard[:hi-lo]); err != nil {
			return nil, err
		}
		clear(shard[hi-lo:])
		if err := r.skip(data - hi); err != nil {
			return nil, err
		}
	} else {
		if r.buf == nil {
			r.buf = make([]byte, int64(k)*r.l.stripe)
			r.parity = make([][]byte, r.p.hdr.M)
			for i := range r.parity {
				r.parity[i] = make([]byte, r.l.stripe+tagLen)
			}
		}
		all := r.buf[:int64(k)*s]
		if err := r.read(all[:data]); err != nil {
			return nil, err
		}
		clear(all[data:])
		shards := make([][]byte, k+r.p.hdr.M)
		for i := range k {
			shards[i] = all[int64(i)*s : int64(i+1)*s]
		}
		for i := range r.parity {
			shards[k+i] = r.parity[i][:s]
		}
		if err := r.p.b.enc.Encode(shards); err != nil {
			return nil, fmt.Errorf("encode stripe %d: %w", j, err)
		}
		shard = shards[idx]
	}
	t := tag(r.hb, j, shard)
	return append(shard[:s:cap(shard)], t[:]...), nil
}
