package witness

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	f_note "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// serveReal runs the witness's handler on an ephemeral port with Serve (the
// server the witness command runs) and returns its base URL.
func serveReal(t *testing.T, w *Witness) string {
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, "127.0.0.1:0", w.Handler(), func(a net.Addr) { addr <- a }) }()
	var a net.Addr
	select {
	case a = <-addr:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + a.String()
}

// TestLatestEndpoint: GET /latest answers the newest checkpoint the witness
// cosigned, signed by the log and cosigned by the witness; the client
// refuses it under another witness's key or another log's origin.
func TestLatestEndpoint(t *testing.T) {
	for _, alg := range []string{Ed25519, MLDSA44} {
		t.Run(alg, func(t *testing.T) {
			l := newFakeLog(t)
			w, _, vkey := newTestWitness(t, l, alg)
			base := serveReal(t, w)
			logV, _ := note.NewVerifier(l.vkey)
			witV, err := f_note.NewVerifierForCosignatureV1(vkey)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if _, err := FetchLatest(ctx, nil, base, l.signer.Name(), logV, witV); !errors.Is(err, ErrNoCheckpoint) {
				t.Fatalf("before any checkpoint: %v, want ErrNoCheckpoint", err)
			}
			l.add(5, "a")
			if _, err := w.AddCheckpoint(mustParse(t, l.request(t, 0, 5))); err != nil {
				t.Fatal(err)
			}
			l.add(3, "b")
			if _, err := w.AddCheckpoint(mustParse(t, l.request(t, 5, 8))); err != nil {
				t.Fatal(err)
			}
			got, err := FetchLatest(ctx, nil, base, l.signer.Name(), logV, witV)
			if err != nil {
				t.Fatal(err)
			}
			if got.Checkpoint.Size != 8 || !bytes.Equal(got.Checkpoint.Hash, l.tree.HashAt(8)) {
				t.Fatalf("latest: size %d hash %x, want 8 %x", got.Checkpoint.Size, got.Checkpoint.Hash, l.tree.HashAt(8))
			}
			_, otherV, _ := LoadOrCreateKey(t.TempDir(), "w-"+alg, alg)
			ov, _ := f_note.NewVerifierForCosignatureV1(otherV)
			if _, err := FetchLatest(ctx, nil, base, l.signer.Name(), logV, ov); err == nil {
				t.Fatal("accepted under another witness key of the same name")
			}
			if _, err := FetchLatest(ctx, nil, base, "other.invalid/log", logV, witV); err == nil {
				t.Fatal("answered for an unknown log")
			}
		})
	}
}

// TestLatestRateLimited: reads are limited per source address.
func TestLatestRateLimited(t *testing.T) {
	l := newFakeLog(t)
	w, _, _ := newTestWitness(t, l, Ed25519)
	base := serveReal(t, w)
	codes := map[int]int{}
	for i := 0; i < ReadsPerSource+1; i++ {
		resp, err := http.Get(base + "/latest?origin=" + l.signer.Name())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	if codes[http.StatusNotFound] != ReadsPerSource || codes[http.StatusTooManyRequests] != 1 {
		t.Fatalf("codes %v, want %d x 404 then one 429", codes, ReadsPerSource)
	}
}

func mustParse(t *testing.T, b []byte) Request {
	r, err := ParseRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func FuzzParseLatest(f *testing.F) {
	l := newFakeLog(f)
	s, vkey, err := LoadOrCreateKey(f.TempDir(), "w", Ed25519)
	if err != nil {
		f.Fatal(err)
	}
	logV, _ := note.NewVerifier(l.vkey)
	witV, _ := f_note.NewVerifierForCosignatureV1(vkey)
	l.add(4, "a")
	cp := l.checkpoint(f, 4)
	text, _, _ := bytes.Cut(cp, []byte("\n\n"))
	cos, _ := note.Sign(&note.Note{Text: string(text) + "\n"}, s)
	f.Add(append(bytes.Clone(cp), cos[len(text)+2:]...))
	f.Add(cp)
	f.Add([]byte("example.invalid/log\n1\nAAAA\n\n— x AAAA\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseLatest(data, l.signer.Name(), logV, witV)
		if err == nil && got.Checkpoint.Origin != l.signer.Name() {
			t.Fatal("accepted another origin")
		}
	})
}

// BenchmarkLatest measures one GET /latest round trip over loopback with a
// fresh cosignature and the client's checks.
func BenchmarkLatest(b *testing.B) {
	for _, alg := range []string{Ed25519, MLDSA44} {
		b.Run(alg, func(b *testing.B) {
			l := newFakeLog(b)
			dir := b.TempDir()
			s, vkey, err := LoadOrCreateKey(dir, "w-"+alg, alg)
			if err != nil {
				b.Fatal(err)
			}
			w, err := New(Config{Dir: dir, Signer: s, Logs: []string{l.vkey}})
			if err != nil {
				b.Fatal(err)
			}
			w.reads = newFailureLimiter(1<<30, AlertWindow, 4096)
			l.add(5, "a")
			r, _ := ParseRequest(l.request(b, 0, 5))
			if _, err := w.AddCheckpoint(r); err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(w.Handler())
			defer srv.Close()
			logV, _ := note.NewVerifier(l.vkey)
			witV, _ := f_note.NewVerifierForCosignatureV1(vkey)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := FetchLatest(context.Background(), nil, srv.URL, l.signer.Name(), logV, witV); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
