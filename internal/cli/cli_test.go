package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, home string, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	full := append([]string{"--home", home, "--progress", "never"}, args...)
	code := Main(context.Background(), full, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

func mustRun(t *testing.T, home string, args ...string) string {
	t.Helper()
	r := run(t, home, "", args...)
	if r.code != 0 {
		t.Fatalf("embassy %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// setup creates three custodians, a home and two local sites.
func setup(t *testing.T) (dir, home string, idFiles []string) {
	t.Helper()
	dir = t.TempDir()
	home = filepath.Join(dir, "home")
	var recips []string
	for _, n := range []string{"a", "b", "c"} {
		f := filepath.Join(dir, n+".key")
		recips = append(recips, strings.TrimSpace(mustRun(t, home, "custodian", "keygen", "-o", f)))
		idFiles = append(idFiles, f)
	}
	args := []string{"init", "--threshold", "2"}
	for _, r := range recips {
		args = append(args, "--custodian", r)
	}
	mustRun(t, home, args...)
	mustRun(t, home, "site", "add", "lu", "--url", filepath.Join(dir, "site-lu"), "--jurisdiction", "LU")
	mustRun(t, home, "site", "add", "ch", "--url", filepath.Join(dir, "site-ch"), "--jurisdiction", "ch")
	return dir, home, idFiles
}

func TestCLIEndToEnd(t *testing.T) {
	t.Parallel() // own temp home and sites, no fixed ports, no environment changes
	dir, home, ids := setup(t)
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "docs", "empty"), 0o755)
	os.WriteFile(filepath.Join(src, "register.csv"), bytes.Repeat([]byte("38501012231,Mari,Tamm,Tallinn\n"), 20000), 0o644)
	os.WriteFile(filepath.Join(src, "docs", "scan.bin"), bytes.Repeat([]byte{1, 2, 3, 250}, 50000), 0o600)
	os.Symlink("register.csv", filepath.Join(src, "latest.csv"))

	out := mustRun(t, home, "--json", "snapshot", "registry", src, "--class", "restricted")
	var snap struct{ ID, Class string }
	if err := json.Unmarshal([]byte(out), &snap); err != nil || len(snap.ID) != 64 || snap.Class != "C2-I3-A3" {
		t.Fatalf("snapshot json %q: %v", out, err)
	}
	// Stream snapshot.
	r := run(t, home, "pg_dump output\n", "snapshot", "db", "-", "--stdin-filename", "land.sql", "--class", "C1-I2-A2")
	if r.code != 0 {
		t.Fatalf("stdin snapshot: %d %s", r.code, r.stderr)
	}
	list := mustRun(t, home, "--json", "snapshots")
	var rows []snapRow
	json.Unmarshal([]byte(list), &rows)
	if len(rows) != 2 {
		t.Fatalf("snapshots: %s", list)
	}
	mustRun(t, home, "verify", "--read-data")
	target := filepath.Join(dir, "restore")
	mustRun(t, home, "restore", "registry@"+snap.ID[:10], "--target", target)
	if n, err := compareTrees(src, target); err != nil || n != 2 {
		t.Fatalf("restore differs: %d %v", n, err)
	}
	// --path restores one file.
	t2 := filepath.Join(dir, "restore2")
	mustRun(t, home, "restore", "registry", "--target", t2, "--path", "docs/scan.bin")
	if _, err := os.Stat(filepath.Join(t2, "docs", "scan.bin")); err != nil {
		t.Fatal(err)
	}
	// Restoring over existing files is refused with a hint.
	r = run(t, home, "", "restore", "registry", "--target", target)
	if r.code == 0 || !strings.Contains(r.stderr, "hint:") {
		t.Fatalf("restore over existing: %d %s", r.code, r.stderr)
	}
	// Recover into a new home from one site and two custodians.
	home2 := filepath.Join(dir, "home2")
	mustRun(t, home2, "recover", "--site", filepath.Join(dir, "site-ch"), "--expect-home", homeFingerprint(t, home), "--identity", ids[0], "--identity", ids[2])
	t3 := filepath.Join(dir, "restore3")
	mustRun(t, home2, "restore", "db", "--target", t3)
	if b, _ := os.ReadFile(filepath.Join(t3, "land.sql")); string(b) != "pg_dump output\n" {
		t.Fatalf("stream restore: %q", b)
	}
	// Rotate, then old snapshots still restore.
	mustRun(t, home, "key", "rotate")
	t4 := filepath.Join(dir, "restore4")
	mustRun(t, home, "restore", "registry", "--target", t4)
	// Forget and prune.
	mustRun(t, home, "snapshot", "registry", src, "--class", "internal")
	mustRun(t, home, "forget", "registry", "--keep-last", "1", "--prune")
	mustRun(t, home, "verify", "--read-data")
	// Shred.
	mustRun(t, home, "key", "shred", "db", "--yes")
	r = run(t, home, "", "restore", "db", "--target", filepath.Join(dir, "x"))
	if r.code == 0 {
		t.Fatal("restore of a shredded dataset succeeded")
	}
}

func TestCLIBadInput(t *testing.T) {
	dir, home, ids := setup(t)
	for _, tc := range []struct {
		name string
		home string
		args []string
		code int
		want string
	}{
		{"unknown flag", home, []string{"snapshot", "--nope"}, ExitUsage, "unknown flag"},
		{"no home", filepath.Join(dir, "none"), []string{"snapshots"}, ExitError, "no home at"},
		{"bad class", home, []string{"snapshot", "x", dir, "--class", "C9"}, ExitUsage, "invalid classification"},
		{"bad dataset name", home, []string{"snapshot", "../x", dir}, ExitUsage, "invalid dataset name"},
		{"missing source", home, []string{"snapshot", "x", filepath.Join(dir, "nope")}, ExitUsage, "no such file"},
		{"unknown dataset", home, []string{"restore", "nope", "--target", dir}, ExitError, "not found"},
		{"threshold too high", filepath.Join(dir, "h2"), []string{"init", "--custodian", "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq", "--threshold", "2"}, ExitUsage, "threshold"},
		{"bad jurisdiction", home, []string{"site", "add", "x", "--url", dir, "--jurisdiction", "Luxembourg"}, ExitUsage, "jurisdiction"},
		{"recover one share", filepath.Join(dir, "h3"), []string{"recover", "--site", filepath.Join(dir, "site-lu"), "--identity", ids[0]}, ExitKey, "2 of 3"},
		{"recover duplicate", filepath.Join(dir, "h4"), []string{"recover", "--site", filepath.Join(dir, "site-lu"), "--identity", ids[0], "--identity", ids[0]}, ExitUsage, "twice"},
		{"shred without yes", home, []string{"key", "shred", "x"}, ExitUsage, "--yes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.home, "", tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", r.code, tc.code, r.stderr, tc.want)
			}
			if !strings.HasPrefix(r.stderr, "embassy: error: ") && !strings.Contains(r.stderr, "embassy: error: ") {
				t.Errorf("stderr not in house style: %q", r.stderr)
			}
		})
	}
}

func TestCLIMissingSite(t *testing.T) {
	dir, home, _ := setup(t)
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a"), []byte("hello"), 0o644)
	mustRun(t, home, "snapshot", "ds", src, "--class", "internal")
	// Remove one site's folder entirely: the other still works, exit 3.
	os.RemoveAll(filepath.Join(dir, "site-ch"))
	r := run(t, home, "", "restore", "ds", "--target", filepath.Join(dir, "r"))
	if r.code != 0 && r.code != ExitDamaged {
		t.Fatalf("restore with a site gone: %d %s", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "r", "a")); string(b) != "hello" {
		t.Fatalf("restore content %q", b)
	}
	r = run(t, home, "", "verify")
	if r.code != ExitDamaged || !strings.Contains(r.stdout+r.stderr, "ch") {
		t.Fatalf("verify with a site gone: %d %s %s", r.code, r.stdout, r.stderr)
	}
}

func TestQuickstartTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("quickstart generates a registry")
	}
	home := filepath.Join(t.TempDir(), "qs")
	for i := 0; i < 2; i++ {
		r := run(t, home, "", "quickstart", "--rows", "5000", "--documents", "5")
		if r.code != 0 || !strings.Contains(r.stdout, "identical") {
			t.Fatalf("quickstart run %d: %d\n%s\n%s", i+1, r.code, r.stdout, r.stderr)
		}
	}
}

func TestCLISiteSyncAfterOutage(t *testing.T) {
	dir, home, _ := setup(t)
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a"), bytes.Repeat([]byte("x"), 100000), 0o644)
	// Site ch is down (its folder is replaced by a file) during a snapshot.
	ch := filepath.Join(dir, "site-ch")
	os.Rename(ch, ch+".away")
	os.WriteFile(ch, nil, 0o644)
	r := run(t, home, "", "snapshot", "ds", src, "--class", "internal")
	if r.code != ExitDamaged {
		t.Fatalf("snapshot with a site down: exit %d, %s", r.code, r.stderr)
	}
	os.Remove(ch)
	os.Rename(ch+".away", ch)
	var rep struct {
		Lag []struct {
			Site    string
			Objects int64
		}
	}
	json.Unmarshal([]byte(mustRun(t, home, "--json", "site", "sync", "--dry-run")), &rep)
	lagging := map[string]int64{}
	for _, l := range rep.Lag {
		lagging[l.Site] = l.Objects
	}
	if lagging["ch"] == 0 || lagging["lu"] != 0 {
		t.Fatalf("lag after the outage: %+v", rep)
	}
	mustRun(t, home, "site", "sync")
	mustRun(t, home, "verify", "--read-data")
}

func TestCLIRepair(t *testing.T) {
	dir, home, _ := setup(t)
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a"), bytes.Repeat([]byte("registry row\n"), 200000), 0o644)
	mustRun(t, home, "snapshot", "ds", src, "--class", "internal")
	// Damage site ch: delete one pack, flip a byte in another object.
	var packs []string
	filepath.WalkDir(filepath.Join(dir, "site-ch", "data"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			packs = append(packs, p)
		}
		return nil
	})
	if len(packs) == 0 {
		t.Fatal("no packs")
	}
	os.Remove(packs[0])
	idx, _ := filepath.Glob(filepath.Join(dir, "site-ch", "index", "*", "*"))
	os.Chmod(idx[0], 0o600)
	b, _ := os.ReadFile(idx[0])
	b[len(b)/2] ^= 1
	os.WriteFile(idx[0], b, 0o600)
	if r := run(t, home, "", "verify", "--read-data"); r.code != ExitDamaged {
		t.Fatalf("verify before repair: %d", r.code)
	}
	out := mustRun(t, home, "repair", "--read-data")
	if !strings.Contains(out, "repaired") {
		t.Fatalf("repair output: %s", out)
	}
	mustRun(t, home, "verify", "--read-data")
}

func TestCLIErasureGroup(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	rec := strings.TrimSpace(mustRun(t, home, "custodian", "keygen", "-o", filepath.Join(dir, "a.key")))
	mustRun(t, home, "init", "--custodian", rec, "--threshold", "1")
	for _, m := range []struct{ name, cc string }{{"lu", "LU"}, {"ch", "CH"}, {"fi", "FI"}} {
		mustRun(t, home, "site", "add", m.name, "--member", "--url", filepath.Join(dir, "m-"+m.name), "--jurisdiction", m.cc)
	}
	mustRun(t, home, "site", "add", "rs", "--url", "erasure:2+1?members=lu,ch,fi")
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	big := make([]byte, 5<<20)
	for i := range big {
		big[i] = byte(i * 7 % 251)
	}
	os.WriteFile(filepath.Join(src, "weights.bin"), big, 0o644)
	mustRun(t, home, "snapshot", "model", src, "--class", "internal")
	mustRun(t, home, "verify", "--read-data")
	// Lose one member entirely: restore still works from the other two.
	os.RemoveAll(filepath.Join(dir, "m-ch"))
	os.WriteFile(filepath.Join(dir, "m-ch"), nil, 0o644)
	target := filepath.Join(dir, "restore")
	r := run(t, home, "", "restore", "model", "--target", target)
	if r.code != 0 && r.code != ExitDamaged {
		t.Fatalf("restore with a member lost: %d %s", r.code, r.stderr)
	}
	if n, err := compareTrees(src, target); err != nil || n != 1 {
		t.Fatalf("restore differs: %v", err)
	}
}
