package cli

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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
	// the late disclosure with no expected reason raises two alerts (exit 3)
	r := run(t, home, "", "--json", "disclosures")
	type alert struct {
		Kind    string
		Index   uint64
		Site    string
		Message string
	}
	var rep struct{ Alerts []alert }
	wantAlerts := []alert{
		{"late-disclosure", 5, "ch", "access at AT disclosed after 30h0m0s, allowed 24h0m0s"},
		{"unexpected-reason", 5, "ch", "x accessed y with no expected reason"},
	}
	err = json.Unmarshal([]byte(r.stdout), &rep)
	for i, a := range rep.Alerts { // the access time is the CLI's clock less 30 h
		rep.Alerts[i].Message = regexp.MustCompile(`^access at [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z `).ReplaceAllLiteralString(a.Message, "access at AT ")
	}
	if err != nil || r.code != ExitDamaged || !slices.Equal(rep.Alerts, wantAlerts) {
		t.Fatalf("disclosures: exit %d, want %d; alerts %+v, want %+v (%v)\n%s", r.code, ExitDamaged, rep.Alerts, wantAlerts, err, r.stdout)
	}
	rc := filepath.Join(dir, "r.proof")
	mustRun(t, home, "audit", "receipt", "5", "-o", rc)
	mustRun(t, home, "audit", "verify", rc)
	b, _ := os.ReadFile(rc)
	cosigned := slices.ContainsFunc(strings.Split(string(b), "\n"), func(l string) bool { return strings.HasPrefix(l, "— lu-witness ") })
	if !cosigned {
		t.Fatalf("receipt is not cosigned by the host witness:\n%s", b)
	}
	bundle := filepath.Join(dir, "b.json")
	mustRun(t, home, "audit", "export", "--from", "2020-01-01", "-o", bundle)
	// Offline, with the policy only.
	mustRun(t, filepath.Join(dir, "nohome"), "audit", "verify", "--policy", filepath.Join(home, "log", "policy"), bundle)
	os.WriteFile(rc, []byte(strings.Replace(string(b), "index 5", "index 4", 1)), 0o644)
	r = run(t, home, "", "audit", "verify", rc)
	wantTampered := regexp.MustCompile(`^embassy: error: ` + regexp.QuoteMeta(rc) + ` does not verify: entry is not included in the checkpoint: entry 4: ` +
		`calculated root [0-9a-f]{64} does not match the checkpoint's root [0-9a-f]{64}\n` +
		`embassy: hint: the file, the log or a witness was tampered with, or the trust anchor is wrong; get the policy from the sending state out of band\n$`)
	if r.code != ExitDamaged || !wantTampered.MatchString(r.stderr) {
		t.Fatalf("tampered receipt: exit %d, want %d and %s\n%s", r.code, ExitDamaged, wantTampered, r.stderr)
	}
	mustRun(t, home, "audit", "check")

	// The host witness goes away: nothing more is published, the command
	// fails once the home's witness-wait (30s unless set) has passed: 1s
	// here, so that the test does not sit out the default.
	cancel()
	cfg, err := os.OpenFile(filepath.Join(home, "embassy.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.WriteString("witness-wait: 1s\n"); err != nil || cfg.Close() != nil {
		t.Fatalf("setting witness-wait: %v", err)
	}
	r = run(t, home, "", "disclose", "--site", "lu", "--reason", "HOST_INITIATED_REVIEW", "--who", "a", "--what", "b")
	wantNoQuorum := regexp.MustCompile(`^embassy: error: transparency log: no witnessed checkpoint covers the entry within 1s; ` +
		`last witness refusal: unreachable http://127\.0\.0\.1:[0-9]+/add-checkpoint \(0 dial tcp 127\.0\.0\.1:[0-9]+: connect: connection refused\)\n` +
		`embassy: hint: check that the witnesses in ` + regexp.QuoteMeta(filepath.Join(home, "log", "policy")) + ` are reachable; see 'embassy audit check'\n$`)
	if r.code != ExitError || !wantNoQuorum.MatchString(r.stderr) {
		t.Fatalf("disclose without the quorum: exit %d, want %d and %s\n%s", r.code, ExitError, wantNoQuorum, r.stderr)
	}
}
