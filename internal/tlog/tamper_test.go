package tlog

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/tessera/api/layout"
)

// filledLog appends n entries and returns the closed log's env.
func filledLog(t testing.TB, n int) *testEnv {
	t.Helper()
	te := newTestEnv(t, "home", "lu")
	l := te.open(t)
	ctx := context.Background()
	var waits []func() (uint64, []byte, error)
	for i := 0; i < n; i++ {
		w, err := l.AppendAsync(ctx, testEntry(i))
		if err != nil {
			t.Fatal(err)
		}
		waits = append(waits, w)
	}
	for _, w := range waits {
		if _, _, err := w(); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return te
}

func tilesPath(te *testEnv, p string) string { return filepath.Join(te.dir, "log", TilesDir, p) }

func TestTamperDetected(t *testing.T) {
	ctx := context.Background()
	te := filledLog(t, 300)
	r := NewReader(filepath.Join(te.dir, "log"), te.policy)
	rc, err := r.Receipt(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := r.Export(ctx, time.Time{}, time.Time{}, te.signer(t))
	if err != nil {
		t.Fatal(err)
	}
	backup := func(p string) func() {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return func() { os.WriteFile(p, b, 0o644) }
	}
	edit := func(p string, f func([]byte) []byte) func() {
		restore := backup(p)
		b, _ := os.ReadFile(p)
		if err := os.WriteFile(p, f(b), 0o644); err != nil {
			t.Fatal(err)
		}
		return restore
	}
	flip := func(off int) func([]byte) []byte {
		return func(b []byte) []byte { b[off] ^= 1; return b }
	}
	for _, tc := range []struct {
		name string
		do   func() func()
	}{
		{"edited entry", func() func() { return edit(tilesPath(te, layout.EntriesPath(0, 0)), flip(40)) }},
		{"truncated entry bundle", func() func() {
			return edit(tilesPath(te, layout.EntriesPath(1, 44)), func(b []byte) []byte { return b[:len(b)/2] })
		}},
		{"edited hash tile", func() func() { return edit(tilesPath(te, layout.TilePath(0, 0, 0)), flip(100)) }},
		{"truncated hash tile", func() func() {
			return edit(tilesPath(te, layout.TilePath(0, 0, 0)), func(b []byte) []byte { return b[:4000] })
		}},
		{"edited checkpoint root", func() func() {
			return edit(tilesPath(te, layout.CheckpointPath), func(b []byte) []byte {
				lines := strings.SplitN(string(b), "\n", 4)
				lines[2] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
				return []byte(strings.Join(lines, "\n"))
			})
		}},
		{"cosignature removed", func() func() {
			return edit(tilesPath(te, layout.CheckpointPath), func(b []byte) []byte {
				i := bytes.LastIndex(b[:len(b)-1], []byte("\n"))
				return b[:i+1]
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			restore := tc.do()
			defer restore()
			if _, err := r.Check(ctx); err == nil {
				t.Fatal("Check accepted a tampered log")
			}
		})
	}
	if _, err := r.Check(ctx); err != nil {
		t.Fatalf("restored log: %v", err)
	}

	// Receipts and bundles.
	otherPolicy := newTestEnv(t, "home", "lu").policy
	for _, tc := range []struct {
		name string
		in   []byte
		pol  *Policy
		want error
	}{
		{"wrong policy", rc, otherPolicy, ErrLogSignature},
		{"edited entry", bytes.Replace(rc, []byte("extra eyJ"), []byte("extra eyK"), 1), te.policy, nil},
		{"edited proof", editLine(rc, 3), te.policy, ErrInclusion},
		{"edited root", editCheckpointRoot(rc), te.policy, ErrLogSignature},
		{"missing cosignature", dropLastLine(rc), te.policy, ErrQuorum},
		{"truncated", rc[:len(rc)/2], te.policy, nil},
	} {
		t.Run("receipt "+tc.name, func(t *testing.T) {
			_, _, err := VerifyReceipt(tc.in, tc.pol)
			if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"edited leaf", bytes.Replace(bundle, []byte(`"leaf": "eyJ2Ijox`), []byte(`"leaf": "eyJ2Ijoy`), 1)},
		{"dropped entry", dropBundleEntry(t, bundle, 5)},
		{"missing cosignature", bytes.Replace(bundle, []byte("\\n— witness-lu"), []byte("\\n— witness-xx"), 1)},
	} {
		t.Run("bundle "+tc.name, func(t *testing.T) {
			if bytes.Equal(tc.in, bundle) {
				t.Fatal("test did not change the bundle")
			}
			if _, _, err := VerifyBundle(tc.in, te.policy); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func editLine(b []byte, n int) []byte {
	lines := bytes.Split(bytes.Clone(b), []byte("\n"))
	lines[n][5] ^= 1
	return bytes.Join(lines, []byte("\n"))
}

func editCheckpointRoot(rc []byte) []byte {
	parts := bytes.SplitN(bytes.Clone(rc), []byte("\n\n"), 2)
	lines := bytes.Split(parts[1], []byte("\n"))
	lines[2] = []byte("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	return append(append(parts[0], "\n\n"...), bytes.Join(lines, []byte("\n"))...)
}

func dropLastLine(b []byte) []byte {
	i := bytes.LastIndex(b[:len(b)-1], []byte("\n"))
	return bytes.Clone(b[:i+1])
}

func dropBundleEntry(t *testing.T, data []byte, i int) []byte {
	var b Bundle
	if err := jsonUnmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	b.Entries = append(b.Entries[:i], b.Entries[i+1:]...)
	out, _ := b.Marshal()
	return out
}
