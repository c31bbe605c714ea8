// Package netlab holds test helpers for network faults: a TCP proxy that
// adds latency, limits bandwidth and can cut every connection (partition),
// and network namespaces joined to the root namespace by a veth pair, with
// tbf bandwidth limits and nftables loss and partitions. Only tests import
// it; namespace helpers need root and EMBASSY_TEST_NETNS=1.
package netlab

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy forwards TCP connections from a loopback listener to Upstream.
// Each chunk read from one side is held for Delay before it is written to
// the other (latency in each direction), and each direction of each
// connection is paced to Rate bytes per second when Rate > 0.
type Proxy struct {
	Upstream string
	Delay    time.Duration
	Rate     int64

	ln      net.Listener
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	blocked atomic.Bool
	wg      sync.WaitGroup
}

// Start listens on 127.0.0.1 (a free port) and serves until Close.
func (p *Proxy) Start() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	p.ln, p.conns = ln, map[net.Conn]struct{}{}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.blocked.Load() {
				c.Close()
				continue
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.serve(c) }()
		}
	}()
	return nil
}

// Addr is the proxy's listening address (host:port).
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every open connection and, while blocked, refuses new ones.
func (p *Proxy) Cut(blocked bool) {
	p.blocked.Store(blocked)
	if !blocked {
		return
	}
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.Cut(true)
	p.wg.Wait()
	return err
}

func (p *Proxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
	p.mu.Unlock()
}

func (p *Proxy) serve(down net.Conn) {
	up, err := net.DialTimeout("tcp", p.Upstream, 5*time.Second)
	if err != nil {
		down.Close()
		return
	}
	p.track(down, true)
	p.track(up, true)
	defer func() {
		p.track(down, false)
		p.track(up, false)
		down.Close()
		up.Close()
	}()
	done := make(chan struct{}, 2)
	go func() { p.pipe(up, down); done <- struct{}{} }()
	go func() { p.pipe(down, up); done <- struct{}{} }()
	<-done // one side ended: tear down both
}

type chunk struct {
	b   []byte
	due time.Time
}

// pipe copies src to dst, holding each chunk for Delay and pacing to Rate.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	q := make(chan chunk, 256)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{buf[:n], time.Now().Add(p.Delay)}
			}
			if err != nil {
				return
			}
		}
	}()
	start, sent := time.Now(), int64(0)
	for c := range q {
		time.Sleep(time.Until(c.due))
		if p.Rate > 0 {
			sent += int64(len(c.b))
			time.Sleep(time.Until(start.Add(time.Duration(float64(sent) / float64(p.Rate) * float64(time.Second)))))
		}
		if _, err := dst.Write(c.b); err != nil {
			src.Close()
			for range q { // drain so the reader ends
			}
			return
		}
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// WaitDial waits until addr accepts TCP connections or ctx ends.
func WaitDial(ctx context.Context, addr string) error {
	for {
		d := net.Dialer{Timeout: time.Second}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var _ io.Closer = (*Proxy)(nil)
