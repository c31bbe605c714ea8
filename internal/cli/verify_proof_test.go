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

// TestVerifyProofHintRepairs follows the hint of a proof that found damage:
// the repair it names must fix exactly what the proof found, for a
// tampered pack, a deleted pack and an old repository descriptor.
func TestVerifyProofHintRepairs(t *testing.T) {
	t.Parallel() // own temp home and sites, no fixed ports, no environment changes
	dir, home, _ := setup(t)
	mustRun(t, home, "pki", "init")
	store := filepath.Join(dir, "daemon-store")
	addr := startDaemon(t, home, store)
	mustRun(t, home, "site", "add", "lu-d", "--url", "embassy://"+addr, "--jurisdiction", "LU")
	src := exitSource(t, dir)
	mustRun(t, home, "snapshot", "registry", src, "--class", "internal")
	packs, _ := filepath.Glob(filepath.Join(store, "data", "*", "*", "*"))
	if len(packs) == 0 {
		t.Fatal("no packs at the daemon")
	}
	victim := packs[0]
	orig, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(store, "config", "repo")
	origCfg, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	put := func(p string, b []byte) {
		t.Helper()
		os.Chmod(p, 0o644)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		damage func()
		want   func() bool
	}{
		{"tampered pack", func() {
			bad := append([]byte(nil), orig...)
			bad[len(bad)-1] ^= 1
			put(victim, bad)
		}, func() bool { b, _ := os.ReadFile(victim); return string(b) == string(orig) }},
		{"deleted pack", func() { os.Remove(victim) }, func() bool { b, _ := os.ReadFile(victim); return string(b) == string(orig) }},
		{"old descriptor", func() { put(cfg, []byte(strings.Replace(string(origCfg), "\"", "'", 1))) },
			func() bool { b, _ := os.ReadFile(cfg); return string(b) == string(origCfg) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.damage()
			r := run(t, home, "", "verify", "--site", "lu-d", "--proof")
			if r.code != ExitDamaged {
				t.Fatalf("proof: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			_, after, ok := strings.Cut(r.stderr, "run 'embassy ")
			cmdline, _, ok2 := strings.Cut(after, "'")
			if !ok || !ok2 {
				t.Fatalf("no command in the hint:\n%s", r.stderr)
			}
			args := strings.Fields(cmdline)
			if args[0] != "repair" {
				t.Fatalf("hint does not name repair: %q", cmdline)
			}
			mustRun(t, home, args...)
			if !tc.want() {
				t.Fatalf("%q did not restore the damaged object", cmdline)
			}
			mustRun(t, home, "verify", "--site", "lu-d", "--proof")
		})
	}
}
