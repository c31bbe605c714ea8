package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/vault"
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
	var reps []vault.ProofReport
	if err := json.Unmarshal([]byte(out), &reps); err != nil || len(reps) != 1 || reps[0].Proved != reps[0].Objects || reps[0].Objects == 0 || reps[0].Chunks == 0 {
		t.Fatalf("honest site: %v %s", err, out)
	}
	// The proof's round trip is in the log, where the watcher learns each
	// site's proof latency from (issue 15).
	var ents []struct{ Details map[string]string }
	lg := mustRun(t, home, "--json", "log", "--kind", "verify")
	if err := json.Unmarshal([]byte(lg), &ents); err != nil || len(ents) == 0 || ents[len(ents)-1].Details["latency_ms"] == "" {
		t.Fatalf("verify entry without latency_ms (%v):\n%s", err, lg)
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
	// damaged runs the proof and checks it exits 3, its DAMAGED lines
	// (each matched whole by a pattern, in order) and the error and hint.
	// A line matching maybe may be there or not (a sampled challenge
	// picks its objects at random, so the host cannot predict them); it
	// is dropped before the match and not counted.
	var maybe *regexp.Regexp
	damaged := func(what string, want []string, args ...string) {
		t.Helper()
		r := run(t, home, "", append([]string{"verify", "--site", "lu-d", "--proof"}, args...)...)
		var got []string
		dropped := 0
		for _, l := range strings.Split(r.stdout, "\n") {
			if strings.HasPrefix(l, "DAMAGED ") {
				if maybe != nil && maybe.MatchString(l) {
					dropped++
					continue
				}
				got = append(got, l)
			}
		}
		ok := r.code == ExitDamaged && len(got) == len(want)
		for i := range min(len(got), len(want)) {
			ok = ok && regexp.MustCompile("^"+want[i]+"$").MatchString(got[i])
		}
		wantErr := fmt.Sprintf("embassy: error: %s\nembassy: hint: the site does not hold what it was given; "+
			"run 'embassy repair --site lu-d --read-data' to re-copy from another site, and ask the host (see 'embassy disclosures')\n", vault.ProblemsFound(len(want)+dropped))
		if !ok || r.stderr != wantErr {
			t.Fatalf("%s: exit %d, want %d; DAMAGED lines\n%s\nwant\n%s\n%s", what, r.code, ExitDamaged, strings.Join(got, "\n"), strings.Join(want, "\n"), r.stderr)
		}
	}
	rel, _ := filepath.Rel(store, victim)
	victimLine := "DAMAGED site=lu-d object=" + regexp.QuoteMeta(filepath.ToSlash(rel)) + ": "
	listingLine := `DAMAGED site=lu-d object=-: listing: the site lists [0-9]+ data objects, the home expects [0-9]+; the listing is stale, partial or padded`
	// Tampered: the last chunk is always revealed.
	bad := append([]byte(nil), orig...)
	bad[len(bad)-1] ^= 1
	put(victim, bad)
	damaged("tampered", []string{victimLine + `corrupt: chunk [0-9]+ does not hash to the object's name`})
	put(victim, orig)
	mustRun(t, home, "verify", "--site", "lu-d", "--proof")
	// Deleted.
	os.Remove(victim)
	damaged("deleted", []string{victimLine + "missing: the site does not hold it", listingLine})
	// Stale listing: with one object sampled per kind the deletion still
	// shows, whether or not the deleted pack is the one sampled.
	maybe = regexp.MustCompile("^" + victimLine + "missing: the site does not hold it$")
	for range 4 {
		damaged("stale listing", []string{listingLine}, "--sample", "1")
	}
	maybe = nil
	put(victim, orig)
	mustRun(t, home, "verify", "--site", "lu-d", "--proof")
	// An old object put back: the repository descriptor of another vault.
	cfg := filepath.Join(store, "config", "repo")
	origCfg, _ := os.ReadFile(cfg)
	put(cfg, []byte(strings.Replace(string(origCfg), "\"", "'", 1)))
	damaged("old config", []string{regexp.QuoteMeta("DAMAGED site=lu-d object=config/repo: mismatch: the site's copy differs from the home's (other content, version or repository)")})
	put(cfg, origCfg)
	// Not a daemon site: refused with a hint.
	r := run(t, home, "", "verify", "--site", "lu", "--proof")
	if want := "embassy: error: site lu is not an embassy daemon: proofs need one\n" +
		"embassy: hint: use 'embassy verify --read-data --site lu' to download and check its objects instead\n"; r.code != ExitUsage || r.stderr != want {
		t.Fatalf("fs site: exit %d, want %d\n%s\nwant:\n%s", r.code, ExitUsage, r.stderr, want)
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
