package witness

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	f_log "github.com/transparency-dev/formats/log"
	f_note "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"
)

type fakeLog struct {
	signer note.Signer
	vkey   string
	tree   *testonly.Tree
}

func newFakeLog(t testing.TB) *fakeLog {
	skey, vkey, err := note.GenerateKey(rand.Reader, "example.invalid/log")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	return &fakeLog{signer: s, vkey: vkey, tree: testonly.New(rfc6962.DefaultHasher)}
}

func (l *fakeLog) fork() *fakeLog {
	c := &fakeLog{signer: l.signer, vkey: l.vkey, tree: testonly.New(rfc6962.DefaultHasher)}
	for i := uint64(0); i < l.tree.Size(); i++ {
		c.tree.Append(l.tree.LeafHash(i))
	}
	return c
}

func (l *fakeLog) add(n int, tag string) {
	for i := 0; i < n; i++ {
		l.tree.AppendData([]byte(fmt.Sprintf("%s-%d-%d", tag, l.tree.Size(), i)))
	}
}

func (l *fakeLog) checkpoint(t testing.TB, size uint64) []byte {
	cp := f_log.Checkpoint{Origin: l.signer.Name(), Size: size, Hash: l.tree.HashAt(size)}.Marshal()
	b, err := note.Sign(&note.Note{Text: string(cp)}, l.signer)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (l *fakeLog) request(t testing.TB, old, size uint64) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	if old > 0 && old < size {
		p, err := l.tree.ConsistencyProof(old, size)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range p {
			b.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
		}
	}
	b.WriteString("\n")
	b.Write(l.checkpoint(t, size))
	return b.Bytes()
}

func newTestWitness(t *testing.T, l *fakeLog, alg string) (*Witness, string, string) {
	dir := t.TempDir()
	s, vkey, err := LoadOrCreateKey(dir, "w-"+alg, alg)
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(Config{Dir: dir, Signer: s, Logs: []string{l.vkey}})
	if err != nil {
		t.Fatal(err)
	}
	return w, dir, vkey
}

func post(t *testing.T, srv *httptest.Server, body []byte) (int, string, string) {
	resp, err := http.Post(srv.URL+"/add-checkpoint", "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b.String()
}

func alertKinds(t *testing.T, dir string) []string {
	as, err := ReadAlerts(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		out = append(out, a.Kind)
	}
	return out
}

func TestWitnessProtocol(t *testing.T) {
	for _, alg := range []string{Ed25519, MLDSA44} {
		t.Run(alg, func(t *testing.T) {
			l := newFakeLog(t)
			w, dir, vkey := newTestWitness(t, l, alg)
			srv := httptest.NewServer(w.Handler())
			defer srv.Close()
			l.add(5, "a")
			code, _, body := post(t, srv, l.request(t, 0, 5))
			if code != 200 {
				t.Fatalf("first checkpoint: %d %s", code, body)
			}
			v, err := f_note.NewVerifierForCosignatureV1(vkey)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := note.Open(append(l.checkpoint(t, 5), body...), note.VerifierList(v)); err != nil {
				t.Fatalf("cosignature does not verify: %v", err)
			}
			// Stale old size: 409 with the witness's size.
			l.add(3, "a")
			code, ct, body := post(t, srv, l.request(t, 0, 8))
			if code != 409 || ct != "text/x.tlog.size" || body != "5\n" {
				t.Fatalf("stale: %d %q %q", code, ct, body)
			}
			if code, _, body := post(t, srv, l.request(t, 5, 8)); code != 200 {
				t.Fatalf("consistent update: %d %s", code, body)
			}
			// Same checkpoint again: cosigned again, no state change.
			if code, _, _ := post(t, srv, l.request(t, 8, 8)); code != 200 {
				t.Fatalf("repeat: %d", code)
			}
			// Rollback: a checkpoint older than the cosigned one.
			if code, _, body := post(t, srv, l.request(t, 5, 5)); code != 409 || body != "8\n" {
				t.Fatalf("rollback: %d %q", code, body)
			}
			// Fork at the same size.
			f := l.fork()
			f.tree = testonly.New(rfc6962.DefaultHasher)
			f.add(8, "b")
			if code, _, _ := post(t, srv, f.request(t, 8, 8)); code != 409 {
				t.Fatalf("fork at same size: %d", code)
			}
			// Fork that grows: bad consistency proof.
			f.add(2, "b")
			if code, _, _ := post(t, srv, f.request(t, 8, 10)); code != 422 {
				t.Fatalf("fork with proof: %d", code)
			}
			// Wrong log key: 403; unknown origin: 404; bad requests: 400.
			other := newFakeLog(t)
			other.add(10, "c")
			if code, _, _ := post(t, srv, other.request(t, 8, 10)); code != 403 {
				t.Fatalf("wrong key: %d", code)
			}
			if code, _, _ := post(t, srv, []byte("old 8\n\nunknown.invalid/log\n1\nAAAA\n\n— x AAAA\n")); code != 404 {
				t.Fatalf("unknown origin: %d", code)
			}
			if code, _, _ := post(t, srv, l.request(t, 9, 8)); code != 400 {
				t.Fatalf("old > size: %d", code)
			}
			if code, _, _ := post(t, srv, []byte("garbage")); code != 400 {
				t.Fatalf("garbage: %d", code)
			}
			got := strings.Join(alertKinds(t, dir), ",")
			if want := "rollback,fork,fork,bad-signature,unknown-log"; got != want {
				t.Fatalf("alerts %s, want %s", got, want)
			}
			// The state survives a restart.
			s, _, _ := LoadOrCreateKey(dir, "w-"+alg, alg)
			w2, _ := New(Config{Dir: dir, Signer: s, Logs: []string{l.vkey}})
			if st, _ := w2.Latest(l.signer.Name()); st.Size != 8 || !bytes.Equal(st.Hash, l.tree.HashAt(8)) {
				t.Fatalf("state after restart: %d", st.Size)
			}
		})
	}
}

// TestSplitView shows two witnesses two different trees: each cosigns the
// one it saw, so no checkpoint carries both cosignatures, and as soon as
// either is shown the other tree it refuses and raises an alert.
func TestSplitView(t *testing.T) {
	l := newFakeLog(t)
	wa, dirA, _ := newTestWitness(t, l, Ed25519)
	wb, dirB, _ := newTestWitness(t, l, Ed25519)
	a, b := httptest.NewServer(wa.Handler()), httptest.NewServer(wb.Handler())
	defer a.Close()
	defer b.Close()
	l.add(4, "x")
	if c, _, _ := post(t, a, l.request(t, 0, 4)); c != 200 {
		t.Fatal(c)
	}
	if c, _, _ := post(t, b, l.request(t, 0, 4)); c != 200 {
		t.Fatal(c)
	}
	view1, view2 := l.fork(), l.fork()
	view1.add(3, "one")
	view2.add(3, "two")
	if c, _, _ := post(t, a, view1.request(t, 4, 7)); c != 200 {
		t.Fatal(c)
	}
	if c, _, _ := post(t, b, view2.request(t, 4, 7)); c != 200 {
		t.Fatal(c)
	}
	// The log now tries to get each witness to cosign the other view.
	if c, _, _ := post(t, a, view2.request(t, 7, 7)); c != 409 {
		t.Fatalf("A accepted view 2: %d", c)
	}
	view1.add(1, "one")
	if c, _, _ := post(t, b, view1.request(t, 7, 8)); c != 422 {
		t.Fatalf("B accepted an extension of view 1: %d", c)
	}
	if k := alertKinds(t, dirA); len(k) != 1 || k[0] != "fork" {
		t.Fatalf("A alerts %v", k)
	}
	if k := alertKinds(t, dirB); len(k) != 1 || k[0] != "fork" {
		t.Fatalf("B alerts %v", k)
	}
}
