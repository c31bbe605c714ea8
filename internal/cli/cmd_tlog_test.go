package cli

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/witness"
)

func TestCLITransparencyLog(t *testing.T) {
	t.Parallel() // own temp home and sites, no fixed ports, no environment changes
	dir, home, _ := setup(t)
	mustRun(t, home, "disclose", "--site", "lu", "--reason", "HOST_INITIATED_SERVICE", "--access", "physical",
		"--who", "tech 4411", "--what", "rack B3 PSU", "--at", "2h", "--ticket", "CHG-1")

	// A host witness on loopback joins the quorum.
	pub, err := os.ReadFile(filepath.Join(home, "log", "log.pub"))
	if err != nil {
		t.Fatal(err)
	}
	wdir := filepath.Join(dir, "witness-lu")
	s, vkey, err := witness.LoadOrCreateKey(wdir, "lu-witness", witness.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	w, err := witness.New(witness.Config{Dir: wdir, Signer: s, Logs: []string{strings.TrimSpace(string(pub))}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := make(chan net.Addr, 1)
	go witness.Serve(ctx, "127.0.0.1:0", w.Handler(), func(a net.Addr) { addr <- a })
	mustRun(t, home, "witness", "add", "lu", vkey, "http://"+(<-addr).String())
	mustRun(t, home, "disclose", "--site", "ch", "--reason", "REASON_NOT_EXPECTED", "--who", "x", "--what", "y", "--at", "30h")

	var rows []struct {
		Index uint64
		Kind  string
	}
	if err := json.Unmarshal([]byte(mustRun(t, home, "--json", "log")), &rows); err != nil || len(rows) != 6 || rows[0].Kind != "init" || rows[4].Kind != "witness.change" {
		t.Fatalf("log: %+v %v", rows, err)
	}
	r := run(t, home, "", "--json", "disclosures")
	if r.code != ExitDamaged || !strings.Contains(r.stdout, "late-disclosure") || !strings.Contains(r.stdout, "unexpected-reason") {
		t.Fatalf("disclosures: %d %s", r.code, r.stdout)
	}
	rc := filepath.Join(dir, "r.proof")
	mustRun(t, home, "audit", "receipt", "5", "-o", rc)
	mustRun(t, home, "audit", "verify", rc)
	b, _ := os.ReadFile(rc)
	if !strings.Contains(string(b), "— lu-witness ") {
		t.Fatalf("receipt is not cosigned by the host witness:\n%s", b)
	}
	bundle := filepath.Join(dir, "b.json")
	mustRun(t, home, "audit", "export", "--from", "2020-01-01", "-o", bundle)
	// Offline, with the policy only.
	mustRun(t, filepath.Join(dir, "nohome"), "audit", "verify", "--policy", filepath.Join(home, "log", "policy"), bundle)
	os.WriteFile(rc, []byte(strings.Replace(string(b), "index 5", "index 4", 1)), 0o644)
	if r := run(t, home, "", "audit", "verify", rc); r.code != ExitDamaged {
		t.Fatalf("tampered receipt: %d %s", r.code, r.stderr)
	}
	mustRun(t, home, "audit", "check")

	// The host witness goes away: nothing more is published, the command fails.
	cancel()
	if r := run(t, home, "", "disclose", "--site", "lu", "--reason", "HOST_INITIATED_REVIEW", "--who", "a", "--what", "b"); r.code == 0 || !strings.Contains(r.stderr, "witness") {
		t.Fatalf("disclose without the quorum: %d %s", r.code, r.stderr)
	}
}
