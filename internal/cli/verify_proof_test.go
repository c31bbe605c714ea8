package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVerifyProofDaemon(t *testing.T) {
	dir, home, _ := setup(t)
	mustRun(t, home, "pki", "init")
	store := filepath.Join(dir, "daemon-store")
	addr := startDaemon(t, home, store)
	mustRun(t, home, "site", "add", "lu-d", "--url", "embassy://"+addr, "--jurisdiction", "LU")
	src := exitSource(t, dir)
	mustRun(t, home, "snapshot", "registry", src, "--class", "internal")
	os.WriteFile(filepath.Join(src, "more.csv"), []byte(strings.Repeat("x,y\n", 3000)), 0o644)
	mustRun(t, home, "snapshot", "registry", src, "--class", "internal")

	out := mustRun(t, home, "--json", "verify", "--site", "lu-d", "--proof")
	var reps []proofReport
	if err := json.Unmarshal([]byte(out), &reps); err != nil || len(reps) != 1 || reps[0].Proved != reps[0].Objects || reps[0].Objects == 0 || reps[0].Chunks == 0 {
		t.Fatalf("honest site: %v %s", err, out)
	}
	// The proof's round trip is in the log, where the watcher learns each
	// site's proof latency from (issue 15).
	if lg := mustRun(t, home, "--json", "log", "--kind", "verify"); !strings.Contains(lg, `"latency_ms": "`) {
		t.Fatalf("verify entry without latency_ms:\n%s", lg)
	}
	packs, _ := filepath.Glob(filepath.Join(store, "data", "*", "*", "*"))
	if len(packs) < 2 {
		t.Fatalf("packs at daemon: %v", packs)
	}
	victim := packs[0]
	orig, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	put := func(p string, b []byte) {
		os.Chmod(p, 0o644)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	damaged := func(what string, args ...string) string {
		t.Helper()
		r := run(t, home, "", append([]string{"verify", "--site", "lu-d", "--proof"}, args...)...)
		if r.code != ExitDamaged || !strings.Contains(r.stdout, "DAMAGED site=lu-d") {
			t.Fatalf("%s: exit %d\n%s\n%s", what, r.code, r.stdout, r.stderr)
		}
		return r.stdout
	}
	// Tampered: the last chunk is always revealed.
	bad := append([]byte(nil), orig...)
	bad[len(bad)-1] ^= 1
	put(victim, bad)
	if o := damaged("tampered"); !strings.Contains(o, filepath.Base(victim)) {
		t.Fatalf("tampered: object not named:\n%s", o)
	}
	put(victim, orig)
	mustRun(t, home, "verify", "--site", "lu-d", "--proof")
	// Deleted.
	os.Remove(victim)
	if o := damaged("deleted"); !strings.Contains(o, "missing") || !strings.Contains(o, "listing") {
		t.Fatalf("deleted:\n%s", o)
	}
	// Stale listing: with one object sampled per kind the deletion still shows.
	if o := damaged("stale listing", "--sample", "1"); !strings.Contains(o, "listing") {
		t.Fatalf("stale listing:\n%s", o)
	}
	put(victim, orig)
	mustRun(t, home, "verify", "--site", "lu-d", "--proof")
	// An old object put back: the repository descriptor of another vault.
	cfg := filepath.Join(store, "config", "repo")
	origCfg, _ := os.ReadFile(cfg)
	put(cfg, []byte(strings.Replace(string(origCfg), "\"", "'", 1)))
	if o := damaged("old config"); !strings.Contains(o, "config/repo") || !strings.Contains(o, "mismatch") {
		t.Fatalf("old config:\n%s", o)
	}
	put(cfg, origCfg)
	// Not a daemon site: refused with a hint.
	r := run(t, home, "", "verify", "--site", "lu", "--proof")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "hint:") {
		t.Fatalf("fs site: %d %s", r.code, r.stderr)
	}
}
