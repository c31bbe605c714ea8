package tlog

import (
	"context"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"k8s.io/klog/v2"
)

// tessera logs through klog, whose logger is process-global: setting it
// on every Open raced with the goroutines of logs opened before (go test
// -race). klog gets one forwarding handler, once; each Open swaps the
// logger it forwards to, atomically (the last opened log's logger wins,
// as before).
//
// tessera also logs through slog's top-level functions, that is the
// process's default logger: its POSIX driver warns "Failed to remove
// temporary file" when a write fails (a full disk), which printed a stray
// "2026/12/02 13:28:01 WARN ..." line on stderr beside the command's own
// error. The default logger forwards to the same logger, and tessera's
// records are at debug level there: the failure itself comes back from
// Append (ErrStorageFull) and the command reports it once, with its hint.
// Lines of the log package (net/http's) keep showing at warn level.
var (
	klogOnce   sync.Once
	klogTarget atomic.Pointer[slog.Logger]
)

func routeKlog(l *slog.Logger) {
	if _, ours := l.Handler().(klogHandler); ours {
		return // slog.Default() itself: forwarding to it would loop
	}
	klogTarget.Store(l)
	klogOnce.Do(func() {
		klog.SetSlogLogger(slog.New(klogHandler{}))
		slog.SetDefault(slog.New(klogHandler{demote: true}))
		slog.SetLogLoggerLevel(slog.LevelWarn)
	})
}

// klogHandler forwards to klogTarget, replaying WithAttrs and WithGroup.
// With demote, records logged by tessera are lowered to debug level.
type klogHandler struct {
	with   []func(slog.Handler) slog.Handler
	demote bool
}

// tesseraPkg prefixes the functions of tessera's packages.
const tesseraPkg = "github.com/transparency-dev/tessera"

func (h klogHandler) target() slog.Handler {
	t := klogTarget.Load().Handler()
	for _, w := range h.with {
		t = w(t)
	}
	return t
}

func (h klogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	t := klogTarget.Load().Handler()
	return t.Enabled(ctx, l) || h.demote && t.Enabled(ctx, slog.LevelDebug)
}

func (h klogHandler) Handle(ctx context.Context, r slog.Record) error {
	t := h.target()
	if h.demote && r.PC != 0 && r.Level > slog.LevelDebug {
		if f, _ := runtime.CallersFrames([]uintptr{r.PC}).Next(); strings.HasPrefix(f.Function, tesseraPkg) {
			r.Level = slog.LevelDebug
		}
	}
	if !t.Enabled(ctx, r.Level) {
		return nil
	}
	return t.Handle(ctx, r)
}

func (h klogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return klogHandler{demote: h.demote, with: append(h.with[:len(h.with):len(h.with)], func(t slog.Handler) slog.Handler { return t.WithAttrs(as) })}
}

func (h klogHandler) WithGroup(name string) slog.Handler {
	return klogHandler{demote: h.demote, with: append(h.with[:len(h.with):len(h.with)], func(t slog.Handler) slog.Handler { return t.WithGroup(name) })}
}
