package tlog

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// downTransport is a witness that cannot be reached.
type downTransport struct{ calls atomic.Int64 }

func (d *downTransport) RoundTrip(*http.Request) (*http.Response, error) {
	d.calls.Add(1)
	return nil, errors.New("dial tcp 192.0.2.1:443: connect: connection refused")
}

// openWith opens te's log with witness lu down (down != nil) or up.
func (te *testEnv) openWith(t *testing.T, down *downTransport, timeout time.Duration) *Log {
	t.Helper()
	s, _, err := LoadOrCreateKey(te.dir, te.origin)
	if err != nil {
		t.Fatal(err)
	}
	local := map[string]http.Handler{}
	for h, w := range te.local {
		if down == nil || h != "lu.witness.invalid" {
			local[h] = w
		}
	}
	o := Options{Signer: s, Policy: te.policy, Local: local, PublishTimeout: timeout, WitnessTimeout: timeout}
	if down != nil {
		o.Transport = down
	}
	l, err := Open(context.Background(), filepath.Join(te.dir, "log"), o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestWitnessDown: a witness down for the whole publish timeout is one
// alert (one episode, with its count) however often it was retried; the
// command ends at the timeout it names, Close included; and appending the
// same entry again once the witness is back logs it once (issue 11.15).
func TestWitnessDown(t *testing.T) {
	ctx := context.Background()
	te := newTestEnv(t, "home", "lu")
	up := te.openWith(t, nil, 20*time.Second)
	if _, _, err := up.Append(ctx, testEntry(0)); err != nil {
		t.Fatal(err)
	}
	up.Close(ctx)

	down := &downTransport{}
	l := te.openWith(t, down, time.Second)
	var shutdownLate bool
	orig := l.shutdown
	l.shutdown = func(ctx context.Context) error {
		dl, ok := ctx.Deadline()
		shutdownLate = !ok || dl.After(time.Now())
		return orig(ctx)
	}
	e := testEntry(1)
	idx, _, err := l.Append(ctx, e)
	if !errors.Is(err, ErrNotWitnessed) {
		t.Fatalf("append with a witness down: %v", err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatalf("close after a missed publication: %v", err)
	}
	if shutdownLate {
		t.Fatal("Close waits for a publication the append already gave up on (the timeout is not true)")
	}
	if n := down.calls.Load(); n < 2 {
		t.Fatalf("the witness was tried %d times; want retries to deduplicate", n)
	}
	file := filepath.Join(te.dir, "log", AlertsFile)
	raw, _ := os.ReadFile(file)
	lines := bytes.Count(raw, []byte("\n"))
	as, err := ReadAlerts(file)
	if err != nil || len(as) != 1 || lines > 2 {
		t.Fatalf("%d tries: %d lines, alerts %+v %v", down.calls.Load(), lines, as, err)
	}
	// Every refused try is counted in the one episode; a try still in
	// flight when Close gave up may have reached the transport without
	// its refusal being recorded (seen under -race on a loaded machine).
	if a, n := as[0], int(down.calls.Load()); a.Kind != "unreachable" || a.Count < n-1 || a.Count > n || a.First.After(a.Time) {
		t.Fatalf("alert %+v after %d tries", a, down.calls.Load())
	}
	if g := GroupAlerts(append(as, as...)); len(g) != 1 || g[0].Episodes != 2 || g[0].Count != 2*as[0].Count {
		t.Fatalf("groups %+v", g)
	}

	// The witness is back: the same entry again is the same entry.
	l = te.openWith(t, nil, 20*time.Second)
	idx2, _, err := l.Append(ctx, e)
	if err != nil || idx2 != idx {
		t.Fatalf("retry of an unwitnessed entry: index %d (first %d), %v", idx2, idx, err)
	}
	wait, err := l.AppendAsync(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if idx3, _, err := wait(); err != nil || idx3 != idx {
		t.Fatalf("async retry: index %d, %v", idx3, err)
	}
	if _, _, err := l.Append(ctx, testEntry(2)); err != nil {
		t.Fatal(err)
	}
	l.Close(ctx)
	cp, _, err := NewReader(filepath.Join(te.dir, "log"), te.policy).Checkpoint(ctx)
	if err != nil || cp.Size != 3 {
		t.Fatalf("checkpoint after the retries: %+v %v; want 3 entries", cp, err)
	}
}
