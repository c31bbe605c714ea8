package tlog

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/witness"
	"golang.org/x/mod/sumdb/note"
)

type testEnv struct {
	dir       string
	origin    string
	logVKey   string
	policy    *Policy
	witnesses map[string]*witness.Witness // by host
	local     map[string]http.Handler
}

// newTestEnv creates a log key and witnesses served in-process: an Ed25519
// witness per name, plus an ML-DSA-44 witness for "home".
func newTestEnv(t testing.TB, names ...string) *testEnv {
	t.Helper()
	return loadTestEnv(t, lingeringDir(t), names...)
}

// lingeringDir is a temporary folder for a log whose background goroutines
// (tessera's integrator and publisher) may still finish a write after Close
// returns: its removal is retried until they have, instead of failing the
// test on "directory not empty" as t.TempDir does.
func lingeringDir(t testing.TB) string {
	dir, err := os.MkdirTemp("", "tlog-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; ; i++ {
			if err := os.RemoveAll(dir); err == nil || i == 100 {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	return dir
}

// loadTestEnv creates, or loads from dir, the keys of a test environment.
func loadTestEnv(t testing.TB, dir string, names ...string) *testEnv {
	t.Helper()
	origin := Origin("test-home")
	_, vkey, err := LoadOrCreateKey(dir, origin)
	if err != nil {
		t.Fatal(err)
	}
	te := &testEnv{dir: dir, origin: origin, logVKey: vkey, witnesses: map[string]*witness.Witness{}, local: map[string]http.Handler{}}
	var pol strings.Builder
	fmt.Fprintf(&pol, "log %s\n", vkey)
	var all []string
	add := func(name, alg string) {
		wdir := filepath.Join(dir, "w-"+name)
		s, wv, err := witness.LoadOrCreateKey(wdir, "witness-"+name, alg)
		if err != nil {
			t.Fatal(err)
		}
		w, err := witness.New(witness.Config{Dir: wdir, Signer: s, Logs: []string{vkey}})
		if err != nil {
			t.Fatal(err)
		}
		host := name + ".witness.invalid"
		te.witnesses[host] = w
		te.local[host] = w.Handler()
		fmt.Fprintf(&pol, "witness %s %s http://%s\n", name, wv, host)
		all = append(all, name)
	}
	for _, n := range names {
		add(n, witness.Ed25519)
		if n == "home" {
			add("home-pq", witness.MLDSA44)
		}
	}
	fmt.Fprintf(&pol, "group q all %s\nquorum q\n", strings.Join(all, " "))
	te.policy, err = ParsePolicy([]byte(pol.String()))
	if err != nil {
		t.Fatal(err)
	}
	return te
}

func (te *testEnv) open(t testing.TB) *Log {
	return te.openTimeout(t, 20*time.Second)
}

func (te *testEnv) openTimeout(t testing.TB, timeout time.Duration) *Log {
	t.Helper()
	s, _, err := LoadOrCreateKey(te.dir, te.origin)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(context.Background(), filepath.Join(te.dir, "log"), Options{Signer: s, Policy: te.policy, Local: te.local, PublishTimeout: timeout, WitnessTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func testEntry(i int) Entry {
	return Entry{V: Version, Kind: KindSnapshot, Time: time.Date(2026, 11, 1, 0, 0, i, 0, time.UTC), Actor: "home",
		Home: "test-home", Dataset: fmt.Sprintf("ds-%d", i), Site: "lu", Object: fmt.Sprintf("%064x", i)}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// signer returns the log's note signer.
func (te *testEnv) signer(t testing.TB) note.Signer {
	t.Helper()
	s, _, err := LoadOrCreateKey(te.dir, te.origin)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
