package chunker

import (
	"io"
)

// readSize is the least free space the buffer keeps past Max.
const readSize = 1 << 20

// Chunker reads a stream and returns its chunks. It is not safe for
// concurrent use.
type Chunker struct {
	r          io.Reader
	tab        *Table
	p          Params
	buf        []byte
	start, end int // unread data is buf[start:end]
	next       int // first boundary length not yet checked
	eof        bool
	err        error
}

// New returns a Chunker reading from r. buf is used as the internal buffer
// if its capacity is at least p.Max + 1 MiB; otherwise one is allocated.
// p must be valid (see Params.Validate); New panics otherwise.
func New(r io.Reader, tab *Table, p Params, buf []byte) *Chunker {
	if err := p.Validate(); err != nil {
		panic(err)
	}
	if cap(buf) < p.Max+readSize {
		buf = make([]byte, p.Max+readSize)
	}
	c := &Chunker{tab: tab, p: p, buf: buf[:cap(buf)]}
	c.Reset(r)
	return c
}

// Reset makes c read the chunks of r, keeping its table, params and buffer.
func (c *Chunker) Reset(r io.Reader) {
	c.r, c.start, c.end, c.next, c.eof, c.err = r, 0, 0, c.p.Min, false, nil
}

// Next returns the next chunk, or io.EOF after the last one. The chunk is
// only valid until the following call to Next or Reset. Read errors other
// than io.EOF are returned as they are and stick.
func (c *Chunker) Next() ([]byte, error) {
	for c.err == nil {
		data := c.buf[c.start:c.end]
		n, ok := len(data), c.eof
		if n > c.next {
			var found bool
			n, found = cut(data, c.tab, c.p, c.next)
			ok = ok || found
		}
		if !ok {
			c.next = max(c.p.Min, len(data))
			c.fill()
			continue
		}
		if n == 0 {
			return nil, io.EOF
		}
		c.start += n
		c.next = c.p.Min
		return data[:n:n], nil
	}
	return nil, c.err
}

// fill moves the unread data to the front if the space after it is short,
// then reads until the buffer is full, the stream ends or an error occurs.
func (c *Chunker) fill() {
	if len(c.buf)-c.end < readSize {
		c.end = copy(c.buf, c.buf[c.start:c.end])
		c.start = 0
	}
	for empty := 0; c.end < len(c.buf); {
		n, err := c.r.Read(c.buf[c.end:])
		c.end += n
		if err == io.EOF {
			c.eof = true
			return
		}
		if err != nil {
			c.err = err
			return
		}
		if n > 0 {
			empty = 0
		} else if empty++; empty == 100 {
			c.err = io.ErrNoProgress
			return
		}
	}
}
