package witness

import (
	"net"
	"sync"
	"time"
)

// failureLimiter counts refused requests per source address in fixed
// windows; a source over its budget is turned away until its window ends.
// At most maxSources are tracked: past that the oldest window is dropped.
type failureLimiter struct {
	mu         sync.Mutex
	max        int
	window     time.Duration
	maxSources int
	now        func() time.Time
	m          map[string]*window
}

type window struct {
	start time.Time
	n     int
}

func newFailureLimiter(max int, w time.Duration, maxSources int) *failureLimiter {
	return &failureLimiter{max: max, window: w, maxSources: maxSources, now: time.Now, m: map[string]*window{}}
}

func (l *failureLimiter) get(src string) *window {
	now := l.now()
	w := l.m[src]
	if w != nil && now.Sub(w.start) < l.window {
		return w
	}
	if w == nil && len(l.m) >= l.maxSources {
		var oldest string
		for k, v := range l.m {
			if oldest == "" || v.start.Before(l.m[oldest].start) {
				oldest = k
			}
		}
		delete(l.m, oldest)
	}
	w = &window{start: now}
	l.m[src] = w
	return w
}

func (l *failureLimiter) allow(src string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.get(src).n < l.max
}

func (l *failureLimiter) fail(src string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.get(src).n++
}

func sourceOf(remote string) string {
	h, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return h
}
