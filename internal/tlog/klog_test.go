package tlog

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/transparency-dev/tessera"
)

// The process's default slog logger (what tessera's top-level slog calls
// use) forwards to the last opened log's logger: tessera's records at
// debug level, anyone else's at their own, and the log package's lines at
// warn. Not parallel: it swaps the process-wide target.
func TestDefaultLoggerRouted(t *testing.T) {
	var buf bytes.Buffer
	lvl := new(slog.LevelVar)
	lvl.Set(slog.LevelWarn)
	routeKlog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: lvl, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})))
	t.Cleanup(func() { routeKlog(slog.New(slog.DiscardHandler)) })

	// a record made at a tessera function's pc, as slog.WarnContext there makes it
	tesseraWarn := func() {
		pc := reflect.ValueOf(tessera.NewAppender).Pointer() + 1
		r := slog.NewRecord(time.Now(), slog.LevelWarn, "Failed to remove temporary file", pc)
		r.AddAttrs(slog.String("name", ""))
		if h := slog.Default().Handler(); h.Enabled(context.Background(), r.Level) {
			if err := h.Handle(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
	}
	tesseraWarn()
	slog.Warn("someone else's warning", "k", 1) //nolint:sloglint // the default logger is what is tested
	log.Print("a log package line")
	want := "level=WARN msg=\"someone else's warning\" k=1\nlevel=WARN msg=\"a log package line\"\n"
	if got := buf.String(); got != want {
		t.Fatalf("at warn level:\n%s\nwant:\n%s", got, want)
	}
	buf.Reset()
	lvl.Set(slog.LevelDebug)
	tesseraWarn()
	if got, want := buf.String(), "level=DEBUG msg=\"Failed to remove temporary file\" name=\"\"\n"; got != want {
		t.Fatalf("at debug level: %q, want %q", got, want)
	}
	routeKlog(slog.Default()) // ignored: it would forward to itself
	slog.Warn("still routed") //nolint:sloglint // the default logger is what is tested
	if got, want := buf.String(), "level=DEBUG msg=\"Failed to remove temporary file\" name=\"\"\nlevel=WARN msg=\"still routed\"\n"; got != want {
		t.Fatalf("after routing the default logger: %q, want %q", got, want)
	}
}
