package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"sync"
	"time"
)

// Limits bound what a peer that has not authenticated yet can cost the
// daemon: handshakes in progress per source address and in all, failed
// handshakes per source per window, and how long a handshake may take.
// A source over its failure budget is refused at accept, before any TLS
// work, until its window ends.
type Limits struct {
	PendingPerSource  int           // handshakes in progress per source IP; 0: 8
	PendingGlobal     int           // handshakes in progress in all; 0: 256
	FailuresPerSource int           // failed handshakes per source per window before refusing it; 0: 64
	Window            time.Duration // 0: one minute
	HandshakeTimeout  time.Duration // 0: 10 s
	MaxSources        int           // sources tracked at once; 0: 4096
}

func (l *Limits) defaults() {
	if l.PendingPerSource <= 0 {
		l.PendingPerSource = 8
	}
	if l.PendingGlobal <= 0 {
		l.PendingGlobal = 256
	}
	if l.FailuresPerSource <= 0 {
		l.FailuresPerSource = 64
	}
	if l.Window <= 0 {
		l.Window = time.Minute
	}
	if l.HandshakeTimeout <= 0 {
		l.HandshakeTimeout = 10 * time.Second
	}
	if l.MaxSources <= 0 {
		l.MaxSources = 4096
	}
}

// guardListener performs TLS handshakes itself, off the accept loop, so
// that unauthenticated peers are limited and counted per source before
// net/http sees them. Accept returns only connections whose handshake (and
// so client certificate verification) succeeded.
type guardListener struct {
	inner net.Listener
	tc    *tls.Config
	lim   Limits
	s     *Server

	conns  chan net.Conn
	errc   chan error
	closed chan struct{}
	once   sync.Once

	mu      sync.Mutex
	pending map[string]int
	total   int
	sources map[string]*source
}

// source is one peer address's unauthenticated activity in the current window.
type source struct {
	start    time.Time
	failures int // failed handshakes
	refused  int // connections closed at accept (over a limit)
}

func newGuard(inner net.Listener, tc *tls.Config, lim Limits, s *Server) *guardListener {
	lim.defaults()
	g := &guardListener{inner: inner, tc: tc, lim: lim, s: s,
		conns: make(chan net.Conn), errc: make(chan error, 1), closed: make(chan struct{}),
		pending: map[string]int{}, sources: map[string]*source{}}
	go g.acceptLoop()
	return g
}

func (g *guardListener) Addr() net.Addr { return g.inner.Addr() }

func (g *guardListener) Close() error {
	g.once.Do(func() { close(g.closed) })
	return g.inner.Close()
}

func (g *guardListener) Accept() (net.Conn, error) {
	select {
	case c := <-g.conns:
		return c, nil
	case err := <-g.errc:
		return nil, err
	case <-g.closed:
		return nil, net.ErrClosed
	}
}

func (g *guardListener) acceptLoop() {
	var delay time.Duration
	for {
		c, err := g.inner.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			g.errc <- err
			return
		}
		delay = 0
		ip := sourceOf(c.RemoteAddr())
		if reason := g.admit(ip); reason != "" {
			g.s.metrics.reject(reason)
			c.Close()
			continue
		}
		go g.handshake(c, ip)
	}
}

// sourceOf is the IP of a peer address, without the port.
func sourceOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

// admit reserves a handshake slot for ip, or says which limit refuses it.
func (g *guardListener) admit(ip string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	src := g.sourceLocked(ip, time.Now())
	reason := ""
	switch {
	case src.failures >= g.lim.FailuresPerSource:
		reason = "unauthenticated_source_failures"
	case g.pending[ip] >= g.lim.PendingPerSource:
		reason = "unauthenticated_source_pending"
	case g.total >= g.lim.PendingGlobal:
		reason = "unauthenticated_global_pending"
	}
	if reason != "" {
		src.refused++
		g.noteLocked(ip, src)
		return reason
	}
	g.pending[ip]++
	g.total++
	return ""
}

// sourceLocked returns ip's record for the window holding now, starting a
// new window (and forgetting the oldest source if too many) as needed.
func (g *guardListener) sourceLocked(ip string, now time.Time) *source {
	src := g.sources[ip]
	if src != nil && now.Sub(src.start) < g.lim.Window {
		return src
	}
	if src == nil && len(g.sources) >= g.lim.MaxSources {
		for k, v := range g.sources { // drop an expired one, else any
			if now.Sub(v.start) >= g.lim.Window {
				delete(g.sources, k)
				break
			}
		}
		if len(g.sources) >= g.lim.MaxSources {
			for k := range g.sources {
				delete(g.sources, k)
				break
			}
		}
	}
	src = &source{start: now}
	g.sources[ip] = src
	return src
}

func (g *guardListener) handshake(c net.Conn, ip string) {
	tc := tls.Server(c, g.tc)
	ctx, cancel := context.WithTimeout(context.Background(), g.lim.HandshakeTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	g.mu.Lock()
	if g.pending[ip]--; g.pending[ip] <= 0 {
		delete(g.pending, ip)
	}
	g.total--
	if err != nil {
		src := g.sourceLocked(ip, time.Now())
		src.failures++
		g.noteLocked(ip, src)
	}
	g.mu.Unlock()
	if err != nil {
		g.s.metrics.hsErrors.Inc()
		g.s.log.Debug("TLS handshake refused", "source", ip, "err", err)
		tc.Close()
		return
	}
	select {
	case g.conns <- tc:
	case <-g.closed:
		tc.Close()
	}
}

// noteLocked raises an aggregated event for src when its count of refused
// and failed attempts in this window reaches a power of two, so that a
// flood of N junk handshakes makes about log2(N) events per source and
// window, never one per handshake.
func (g *guardListener) noteLocked(ip string, src *source) {
	g.s.metrics.unauth.Inc(ip)
	n := src.failures + src.refused
	if n <= 0 || bits.OnesCount(uint(n)) != 1 {
		return
	}
	g.s.events.addNoise(Event{Kind: "denied", Remote: ip, Count: n,
		Detail: fmt.Sprintf("%d unauthenticated TLS connections from %s since %s (%d failed handshakes, %d refused over limits)",
			n, ip, src.start.UTC().Format(time.RFC3339), src.failures, src.refused)})
}
