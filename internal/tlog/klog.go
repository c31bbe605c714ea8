package tlog

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"k8s.io/klog/v2"
)

// tessera logs through klog, whose logger is process-global: setting it
// on every Open raced with the goroutines of logs opened before (go test
// -race). klog gets one forwarding handler, once; each Open swaps the
// logger it forwards to, atomically (the last opened log's logger wins,
// as before).
var (
	klogOnce   sync.Once
	klogTarget atomic.Pointer[slog.Logger]
)

func routeKlog(l *slog.Logger) {
	klogTarget.Store(l)
	klogOnce.Do(func() { klog.SetSlogLogger(slog.New(klogHandler{})) })
}

// klogHandler forwards to klogTarget, replaying WithAttrs and WithGroup.
type klogHandler struct {
	with []func(slog.Handler) slog.Handler
}

func (h klogHandler) target() slog.Handler {
	t := klogTarget.Load().Handler()
	for _, w := range h.with {
		t = w(t)
	}
	return t
}

func (h klogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return klogTarget.Load().Handler().Enabled(ctx, l)
}

func (h klogHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.target().Handle(ctx, r)
}

func (h klogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return klogHandler{with: append(h.with[:len(h.with):len(h.with)], func(t slog.Handler) slog.Handler { return t.WithAttrs(as) })}
}

func (h klogHandler) WithGroup(name string) slog.Handler {
	return klogHandler{with: append(h.with[:len(h.with):len(h.with)], func(t slog.Handler) slog.Handler { return t.WithGroup(name) })}
}
