package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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
	expectRun(t, home, ExitError, []string{"restore", "registry", "--target", target}, nil, lines{
		"embassy: error: restore: " + filepath.Join(target, "docs", "scan.bin") + " already exists",
		"embassy: hint: restore into an empty directory, or pass --overwrite",
	})
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

// quickstartOut is the output of quickstart's first run into a home and,
// with again, of a second run into the same home: it reuses the home and
// its custodians, the registry is already stored (only a few KiB of trees
// are new) and the log holds the first run's entries too.
func quickstartOut(again bool) lines {
	out := lines{
		"1. Creating three custodians (hybrid post-quantum age identities, ML-KEM-768 + X25519)",
		"   alice  $QS/quickstart/custodians/alice.key",
		"   bob    $QS/quickstart/custodians/bob.key",
		"   carol  $QS/quickstart/custodians/carol.key",
		"2. Creating the home with a root key split 2-of-3 among them",
	}
	stored, entries := rx(`   1\.7 MiB of new data stored as 1\.4 MiB after deduplication, compression and sealing, in [0-9.]+m?s`), "8"
	if again {
		out = lines{"Reusing the quickstart home in $QS."}
		stored, entries = rx(`   [0-9.]+ KiB of new data stored as [0-9.]+ KiB after deduplication, compression and sealing, in [0-9.]+m?s`), "14"
	}
	return append(out,
		"3. Two storage sites standing for embassies abroad:",
		"   lu-1  LU (Luxembourg, 1614 km from Tallinn)  $QS/quickstart/sites/lu-1",
		"   ch-1  CH (Geneva, 1918 km from Tallinn)  $QS/quickstart/sites/ch-1",
		"4. Generated a synthetic national registry: 5000 population rows, 5 scanned documents, 8 files, 1.7 MiB",
		rx(`5\. Snapshot [0-9a-f]{8} of dataset population-register \(class C2-I3-A3\) written to both sites:`),
		stored,
		"6. Verified every object at both sites: hashes, signatures and authenticated encryption all check out",
		rx(`7\. Restored into \$QS/quickstart/restore-[0-9]{8}-[0-9]{6}\.[0-9]{3} and compared: 8 files identical byte for byte, with modes and times`),
		"8. Every step is in the home's transparency log: "+entries+" entries, each checkpoint cosigned by the home's Ed25519 and ML-DSA-44 witnesses",
		"",
		rx(`Done in [0-9.]+m?s\. Where everything lives:`),
		"   home (config, root key)    $QS",
		"   custodian identities       $QS/quickstart/custodians",
		"   sites                      $QS/quickstart/sites",
		"   sample registry            $QS/quickstart/registry",
		"",
		"Try next:",
		"   embassy --home $QS snapshots",
		"   embassy --home $QS ls population-register -r | head",
		"   embassy --home $QS verify --read-data --json",
		rx(`   embassy --home /tmp/recovered recover --site \$QS/quickstart/sites/ch-1 --expect-home fp1(-[0-9a-f]{4}){8} --identity \$QS/quickstart/custodians/alice\.key --identity \$QS/quickstart/custodians/carol\.key`),
		"   embassy --home $QS log",
		"   embassy --home $QS key rotate",
		"",
		"The demo is self-contained: remove it with  rm -rf $QS",
		rx(`Your real home goes elsewhere \(.+ by default\): start it with 'embassy init'\.`),
	)
}

func TestQuickstartTwice(t *testing.T) {
	t.Parallel() // own temp home and sites, no fixed ports, no environment changes
	if testing.Short() {
		t.Skip("quickstart generates a registry")
	}
	home := filepath.Join(t.TempDir(), "qs")
	var fps [][]string // the fingerprint each run's suggested recover pins
	for i := 0; i < 2; i++ {
		r := run(t, home, "", "quickstart", "--rows", "5000", "--documents", "5")
		if r.code != ExitOK {
			t.Fatalf("quickstart run %d: exit %d\n%s%s", i+1, r.code, r.stdout, r.stderr)
		}
		wantLines(t, fmt.Sprintf("quickstart run %d", i+1), masked(r.stdout, home, "$QS"), quickstartOut(i > 0))
		fps = append(fps, regexp.MustCompile(`--expect-home (fp1\S+)`).FindStringSubmatch(r.stdout))
		wantLines(t, fmt.Sprintf("quickstart run %d stderr", i+1), r.stderr, lines{
			// TODO(cmd_quickstart.go): the demo warns about its own missing outside witness
			"embassy: warning: dataset population-register is of integrity level I3, which needs a log witness outside the home: the log policy's quorum can be met by the home's own witnesses alone: it names no witness outside the home; add a host site's witness with 'embassy witness add NAME VKEY URL'",
		})
	}
	// it is this home's own fingerprint
	ks := run(t, home, "", "key", "status")
	for i, fp := range fps {
		if fp == nil || !strings.Contains(ks.stdout, "fingerprint: "+fp[1]+"\n") { // substring: one line of key status's report
			t.Errorf("quickstart run %d suggests --expect-home %v; key status says:\n%s", i+1, fp, ks.stdout)
		}
	}
}

func TestCLISiteSyncAfterOutage(t *testing.T) {
	t.Parallel() // own temp home and sites, no fixed ports, no environment changes
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
	t.Parallel() // own temp home and sites, no fixed ports, no environment changes
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
	expectRun(t, home, ExitOK, []string{"repair", "--read-data"}, lines{
		rx(`repaired    site=ch (data|index)/[0-9a-f]{32}/[0-9a-f/]{64,67} from lu`),
		rx(`repaired    site=ch (data|index)/[0-9a-f]{32}/[0-9a-f/]{64,67} from lu`),
		"2 problems found, 2 repaired, 0 remaining",
	}, nil)
	mustRun(t, home, "verify", "--read-data")
}

func TestCLIErasureGroup(t *testing.T) {
	t.Parallel() // own temp home and sites, no fixed ports, no environment changes
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
