package cli

import (
	"bytes"
	"context"
	"fmt"
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
	expectRun(t, home, ExitOK, []string{"disclose", "--site", "lu", "--reason", "HOST_INITIATED_SERVICE", "--who", "ops", "--what", "disk swap"},
		lines{"Logged disclosure 4: HOST_INITIATED_SERVICE at lu (0s after the access)"}, nil)
	at := rxMinute + `:[0-9]{2}`
	expectRun(t, home, ExitOK, []string{"log"}, lines{
		"INDEX  TIME                 KIND            ACTOR  SITE  DATASET  OBJECT     REASON",
		rx(`0      ` + at + `  init            home   -     -        -          -`),
		rx(`1      ` + at + `  site.add        home   lu    -        -          -`),
		rx(`2      ` + at + `  site.add        home   ch    -        -          -`),
		rx(`3      ` + at + `  witness.change  home   -     -        lu         -`),
		rx(`4      ` + at + `  disclosure      ops    lu    -        disk swap  HOST_INITIATED_SERVICE`),
		"5 of 5 entries; checkpoint 5 cosigned by the witness quorum",
	}, nil)
	rc := filepath.Join(dir, "r.proof")
	mustRun(t, home, "audit", "receipt", "4", "-o", rc)
	b, _ := os.ReadFile(rc)
	if !slices.ContainsFunc(strings.Split(string(b), "\n"), func(l string) bool { return strings.HasPrefix(l, "— lu-witness ") }) {
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
	pulled := func(n int) lines {
		return lines{
			"[",
			"  {",
			`    "site": "lu-d",`,
			fmt.Sprintf(`    "sessions": %d,`, n),
			fmt.Sprintf(`    "disclosures": %d`, n),
			"  }",
			"]",
		}
	}
	expectRun(t, home, ExitOK, []string{"--json", "site", "events"}, pulled(1), nil)
	// Pulling again records nothing new.
	expectRun(t, home, ExitOK, []string{"--json", "site", "events"}, pulled(0), nil)
	homeID := `h[0-9a-f]{20}`
	expectRun(t, home, ExitOK, []string{"--json", "disclosures"}, lines{
		"{",
		`  "disclosures": [`,
		"    {",
		`      "index": 5,`,
		`      "site": "lu-d",`,
		`      "reason": "HOST_INITIATED_SERVICE",`,
		`      "access": "console",`,
		`      "who": "ops (LU)",`,
		`      "what": "replaced a failed disk",`,
		`      "ticket": "LU-42",`,
		rx(`      "at": "` + rxTime + `",`),
		rx(`      "logged": "` + rxTime + `",`),
		rx(`      "delay_ns": 7200[0-9]{9},`),
		`      "allowed_ns": 86400000000000,`,
		`      "late": false,`,
		rx(`      "delay": "2h0m[0-9]+s"`),
		"    }",
		"  ],",
		`  "alerts": [],`,
		`  "pending": [`,
		"    {",
		`      "index": 4,`,
		`      "v": 1,`,
		`      "kind": "session",`,
		rx(`      "time": "` + rxTime + `",`),
		rx(`      "actor": "spiffe://` + homeID + `/role/operator/ops",`),
		rx(`      "home": "` + homeID + `",`),
		`      "site": "lu-d",`,
		`      "details": {`,
		rx(`        "at": "` + rxTime + `",`),
		`        "detail": "X25519MLKEM768",`,
		`        "event": "login",`,
		`        "initiator": "host",`,
		`        "role": "operator"`,
		"      }",
		"    }",
		"  ],",
		rx(`  "delay_p50_ns": 7200[0-9]{9},`),
		rx(`  "delay_p99_ns": 7200[0-9]{9},`),
		rx(`  "delay_max_ns": 7200[0-9]{9}`),
		"}",
	}, nil)
	expectRun(t, home, ExitOK, []string{"log", "--kind", "session"}, lines{
		"INDEX  TIME                 KIND     ACTOR                                             SITE  DATASET  OBJECT  REASON",
		rx(`4      ` + rxMinute + `:[0-9]{2}  session  spiffe://` + homeID + `/role/operator/ops  lu-d  -        -       -`),
		"1 of 6 entries; checkpoint 6 cosigned by the witness quorum",
	}, nil)
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
		// substring: picks the daemon's and the witness's listening lines out of its log
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
