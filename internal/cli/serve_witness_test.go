package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/api"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/site/remote"
)

// TestServeWitness runs a host daemon with its witness ('embassy serve
// --witness-listen'), registers that witness with the home, and checks that
// the home's log entries are then cosigned by the host.
func TestServeWitness(t *testing.T) {
	dir, home, _ := setup(t)
	mustRun(t, home, "pki", "init")
	ids := filepath.Join(dir, "lu-ids")
	mustRun(t, home, "pki", "issue", "--role", "site", "--name", "lu", "--host", "127.0.0.1", "-o", ids)
	wdir := filepath.Join(dir, "lu-witness")
	keyOut := strings.Fields(mustRun(t, home, "witness", "key", "--dir", wdir, "--name", "lu-witness"))
	vkey := keyOut[len(keyOut)-1]
	pub, err := os.ReadFile(filepath.Join(home, "log", "log.pub"))
	if err != nil {
		t.Fatal(err)
	}
	// Both listeners bind 127.0.0.1:0 themselves; the addresses come from
	// the daemon's log (no port is freed and then reused).
	witnessAddr := startServe(t, dir, ids, "lu", "--witness-listen", "127.0.0.1:0", "--witness-dir", wdir, "--witness-log", strings.TrimSpace(string(pub))).witness
	mustRun(t, home, "witness", "add", "lu", vkey, "https://"+witnessAddr) // mutual TLS with the home's certificate
	mustRun(t, home, "disclose", "--site", "lu", "--reason", "HOST_INITIATED_SERVICE", "--who", "ops", "--what", "disk swap")
	var last string
	for _, line := range strings.Split(strings.TrimSpace(mustRun(t, home, "log")), "\n") {
		if strings.Contains(line, "disclosure") {
			last = strings.Fields(line)[0]
		}
	}
	rc := filepath.Join(dir, "r.proof")
	mustRun(t, home, "audit", "receipt", last, "-o", rc)
	b, _ := os.ReadFile(rc)
	if !strings.Contains(string(b), "— lu-witness ") {
		t.Fatalf("receipt is not cosigned by the host's witness:\n%s", b)
	}
	mustRun(t, home, "audit", "verify", rc)
}

// TestDaemonDisclosures: host personnel file a disclosure at the site's
// daemon with an operator certificate; the home pulls it and the operator's
// session into its log, and 'disclosures' matches them.
func TestDaemonDisclosures(t *testing.T) {
	dir, home, _ := setup(t)
	mustRun(t, home, "pki", "init")
	ids := filepath.Join(dir, "lu-ids")
	mustRun(t, home, "pki", "issue", "--role", "site", "--name", "lu-d", "--host", "127.0.0.1", "-o", ids)
	ops := filepath.Join(dir, "ops")
	mustRun(t, home, "pki", "issue", "--role", "operator", "--name", "ops", "-o", ops)
	addr := startServe(t, dir, ids, "lu-d").daemon
	mustRun(t, home, "site", "add", "lu-d", "--url", "embassy://"+addr, "--jurisdiction", "LU")
	op, err := remote.New(context.Background(), remote.Config{Host: addr, Files: pki.Files{CA: filepath.Join(ops, "ca.crt"), Cert: filepath.Join(ops, "ops.crt"), Key: filepath.Join(ops, "ops.key")}})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	if err := op.Disclose(context.Background(), api.Disclosure{Reason: "HOST_INITIATED_SERVICE", Access: "console", Who: "ops (LU)", What: "replaced a failed disk", At: time.Now().Add(-2 * time.Hour), Ticket: "LU-42"}); err != nil {
		t.Fatal(err)
	}
	if err := op.Disclose(context.Background(), api.Disclosure{Reason: "nope!", Who: "x", What: "y"}); err == nil {
		t.Fatal("daemon accepted a malformed disclosure")
	}
	out := mustRun(t, home, "--json", "site", "events")
	if !strings.Contains(out, `"disclosures": 1`) {
		t.Fatalf("site events: %s", out)
	}
	// Pulling again records nothing new.
	if out := mustRun(t, home, "--json", "site", "events"); !strings.Contains(out, `"disclosures": 0`) {
		t.Fatalf("second pull: %s", out)
	}
	r := run(t, home, "", "--json", "disclosures")
	if !strings.Contains(r.stdout, "replaced a failed disk") || !strings.Contains(r.stdout, `"site": "lu-d"`) {
		t.Fatalf("disclosures: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(mustRun(t, home, "log", "--kind", "session"), "lu-d") {
		t.Fatal("the operator's session is not in the log")
	}
}

// served are the addresses a daemon's listeners bound, read from its log.
type served struct{ daemon, witness string }

// addrWatcher is the daemon's stderr: it hands over the "addr" of the
// "embassy daemon" and "witness" log lines as they are written.
type addrWatcher struct {
	mu      sync.Mutex
	partial []byte
	log     strings.Builder
	daemon  chan string
	witness chan string
}

var addrAttr = regexp.MustCompile(` addr=(\S+)`)

func (w *addrWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.log.Write(p)
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		m := addrAttr.FindStringSubmatch(line)
		switch {
		case m == nil:
		case strings.Contains(line, `msg="embassy daemon"`):
			hand(w.daemon, m[1])
		case strings.Contains(line, " msg=witness "):
			hand(w.witness, m[1])
		}
	}
}

// hand passes the first address on and never blocks the daemon's log.
func hand(ch chan string, addr string) {
	select {
	case ch <- addr:
	default:
	}
}

func (w *addrWatcher) String() string { w.mu.Lock(); defer w.mu.Unlock(); return w.log.String() }

// startServe runs 'embassy serve' with the site certificate in ids (named
// name) on 127.0.0.1:0 until the test ends, and returns the addresses it
// bound once it serves (its witness's too, with --witness-listen).
func startServe(t *testing.T, dir, ids, name string, extra ...string) served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	args := append([]string{"--home", filepath.Join(dir, "host-side"), "--log-level", "info", "serve", "--listen", "127.0.0.1:0",
		"--store", filepath.Join(dir, name+"-store"), "--create",
		"--ca", filepath.Join(ids, "ca.crt"), "--cert", filepath.Join(ids, name+".crt"), "--key", filepath.Join(ids, name+".key")}, extra...)
	w := &addrWatcher{daemon: make(chan string, 1), witness: make(chan string, 1)}
	go func() {
		var out strings.Builder
		done <- Main(ctx, args, strings.NewReader(""), &out, w)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			t.Error("serve did not stop")
		}
	})
	var s served
	want := 1
	if slices.Contains(extra, "--witness-listen") {
		want = 2
	}
	deadline := time.After(60 * time.Second)
	for got := 0; got < want; got++ {
		select {
		case s.daemon = <-w.daemon:
		case s.witness = <-w.witness:
		case code := <-done:
			t.Fatalf("serve exited %d before serving:\n%s", code, w.String())
		case <-deadline:
			t.Fatalf("serve did not log its listening addresses within 60s:\n%s", w.String())
		}
	}
	return s
}
