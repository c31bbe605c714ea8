package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// noise is n incompressible bytes from seed.
func noise(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	r.Read(b)
	return b
}

// siteSizes returns every file under a folder site with its size.
func siteSizes(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			out[filepath.ToSlash(rel)] = fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func total(m map[string]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

type lsSnapRow struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
}

func snapshotIDs(t *testing.T, home, ds string) []string {
	t.Helper()
	var rows []lsSnapRow
	if err := json.Unmarshal([]byte(mustRun(t, home, "snapshots", ds, "--json")), &rows); err != nil {
		t.Fatalf("snapshots --json: %v", err)
	}
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	return ids
}

// TestLsCommand: ls lists a snapshot's top level, a subfolder, or the
// whole tree with types, modes and sizes as stored; a path that is not a
// folder in the snapshot is an error naming it.
func TestLsCommand(t *testing.T) {
	t.Parallel() // own temp home and sites, no fixed ports, no environment changes
	dir, home, _ := setup(t)
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "docs", "deep"), 0o755)
	os.MkdirAll(filepath.Join(src, "empty"), 0o700)
	os.WriteFile(filepath.Join(src, "top.csv"), []byte("id,owner\n1,a\n"), 0o644)
	os.WriteFile(filepath.Join(src, "docs", "scan.bin"), noise(70000, 1), 0o600)
	os.WriteFile(filepath.Join(src, "docs", "deep", "b.txt"), []byte("b"), 0o644)
	os.Symlink("top.csv", filepath.Join(src, "link"))
	mustRun(t, home, "snapshot", "reg", src, "--class", "C1-I1-A1")

	type row struct {
		Path string `json:"path"`
		Type string `json:"type"`
		Mode string `json:"mode"`
		Size int64  `json:"size"`
	}
	ls := func(args ...string) []row {
		t.Helper()
		var rows []row
		if err := json.Unmarshal([]byte(mustRun(t, home, append([]string{"ls", "--json"}, args...)...)), &rows); err != nil {
			t.Fatal(err)
		}
		return rows
	}
	paths := func(rows []row) string {
		var p []string
		for _, r := range rows {
			p = append(p, r.Path)
		}
		sort.Strings(p)
		return strings.Join(p, " ")
	}
	if got := paths(ls("reg")); got != "docs empty link top.csv" {
		t.Fatalf("top level: %s", got)
	}
	if got := paths(ls("reg@latest", "docs")); got != "docs/deep docs/scan.bin" {
		t.Fatalf("docs: %s", got)
	}
	all := ls("reg", "--recursive")
	if got := paths(all); got != "docs docs/deep docs/deep/b.txt docs/scan.bin empty link top.csv" {
		t.Fatalf("recursive: %s", got)
	}
	for _, r := range all {
		switch r.Path {
		case "docs/scan.bin":
			if r.Type != "file" || r.Size != 70000 || r.Mode != "-rw-------" {
				t.Errorf("scan.bin: %+v", r)
			}
		case "empty":
			if r.Type != "dir" || r.Mode != "-rwx------" { // the type is its own column
				t.Errorf("empty: %+v", r)
			}
		case "link":
			if r.Type != "symlink" {
				t.Errorf("link: %+v", r)
			}
		}
	}
	// The snapshot named by its id prefix lists the same tree.
	ids := snapshotIDs(t, home, "reg")
	if got := paths(ls("reg@"+ids[0][:8], "/docs/deep")); got != "docs/deep/b.txt" {
		t.Fatalf("by id: %s", got)
	}
	if got := ls("reg", "empty"); len(got) != 0 {
		t.Fatalf("empty folder lists %+v", got)
	}
	// Plain output: one line per entry, the size column right-aligned.
	mtime := `[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}`
	expectRun(t, home, ExitOK, []string{"ls", "reg", "docs"}, lines{
		rx(`dir      -rwxr-xr-x             0  ` + mtime + `  docs/deep`),
		rx(`file     -rw-------         70000  ` + mtime + `  docs/scan.bin`),
	}, nil)
	for _, bad := range []string{"top.csv", "nosuch", "docs/nosuch"} {
		expectRun(t, home, ExitError, []string{"ls", "reg", bad}, nil, lines{
			fmt.Sprintf("embassy: error: no directory %q in snapshot %s", bad, ids[0][:8]),
			"embassy: hint: list the snapshot's top with 'embassy ls reg' and give a directory it shows",
		})
	}
	expectRun(t, home, ExitError, []string{"ls", "nods"}, nil, lines{
		`embassy: error: dataset "nods" not found`,
		"embassy: hint: known datasets: reg",
	})
}

// TestPruneCommand: after forget, a dry run reports what prune would free
// and deletes nothing; prune then deletes the packs only the forgotten
// snapshot used at every site, the remaining snapshot restores byte for
// byte and verify finds no damage.
func TestPruneCommand(t *testing.T) {
	t.Parallel() // own temp home and sites, no fixed ports, no environment changes
	dir, home, _ := setup(t)
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	keep := noise(300<<10, 2)
	os.WriteFile(filepath.Join(src, "keep.bin"), keep, 0o644)
	os.WriteFile(filepath.Join(src, "old.bin"), noise(2<<20, 3), 0o644)
	mustRun(t, home, "snapshot", "reg", src, "--class", "C1-I1-A1")
	os.Remove(filepath.Join(src, "old.bin"))
	os.WriteFile(filepath.Join(src, "new.bin"), noise(200<<10, 4), 0o644)
	mustRun(t, home, "snapshot", "reg", src)
	ids := snapshotIDs(t, home, "reg")
	if len(ids) != 2 {
		t.Fatalf("%d snapshots", len(ids))
	}
	mustRun(t, home, "forget", "reg", "--keep-last", "1")
	lu, ch := filepath.Join(dir, "site-lu"), filepath.Join(dir, "site-ch")
	beforeLU, beforeCH := siteSizes(t, lu), siteSizes(t, ch)

	var dry []struct {
		Snapshots    int   `json:"snapshots"`
		UnusedBlobs  int   `json:"unused_blobs"`
		PacksDeleted int   `json:"packs_deleted"`
		BytesFreed   int64 `json:"bytes_freed"`
		DryRun       bool  `json:"dry_run"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, home, "prune", "reg", "--dry-run", "--json")), &dry); err != nil {
		t.Fatal(err)
	}
	if len(dry) != 1 || !dry[0].DryRun || dry[0].Snapshots != 1 || dry[0].UnusedBlobs == 0 || dry[0].BytesFreed < 2<<20 {
		t.Fatalf("dry run: %+v", dry)
	}
	if got := siteSizes(t, lu); total(got) != total(beforeLU) || len(got) != len(beforeLU) {
		t.Fatalf("dry run changed site lu: %d -> %d bytes", total(beforeLU), total(got))
	}
	expectRun(t, home, ExitOK, []string{"prune", "reg"}, lines{
		// 2 to 4 unused: the forgotten snapshots' folder trees are shared
		// with the kept one or not, depending on whether the source
		// folders' times moved between the snapshots (a clean clone's CI
		// run counted 2, 3 and 4 on different days).
		rx(`reg: 1 snapshots, 3 blobs used, [2-4] unused; packs: 2 kept, 1 deleted, 1 repacked, 0 orphans removed; 2\.3 MiB freed`),
	}, nil)
	for name, s := range map[string]struct {
		dir    string
		before map[string]int64
	}{"lu": {lu, beforeLU}, "ch": {ch, beforeCH}} {
		after := siteSizes(t, s.dir)
		if freed := total(s.before) - total(after); freed < 2<<20 {
			t.Errorf("site %s: prune freed %d bytes, the forgotten 2 MiB file is still held", name, freed)
		}
	}
	target := filepath.Join(dir, "out")
	mustRun(t, home, "restore", "reg", "--target", target)
	if b, _ := os.ReadFile(filepath.Join(target, "keep.bin")); !bytes.Equal(b, keep) {
		t.Fatal("the kept snapshot's file changed after prune")
	}
	if _, err := os.Stat(filepath.Join(target, "old.bin")); err == nil {
		t.Fatal("restored the forgotten file")
	}
	expectRun(t, home, ExitOK, []string{"verify", "--read-data"}, lines{
		"verified structure and all data of 1 dataset, 1 snapshot at lu, ch: 6 packs, 6 blobs, 1001.4 KiB read",
		"no damage found",
	}, nil)
	// A second prune has nothing left to free.
	var again []struct {
		PacksDeleted int   `json:"packs_deleted"`
		BytesFreed   int64 `json:"bytes_freed"`
	}
	json.Unmarshal([]byte(mustRun(t, home, "prune", "--json")), &again)
	if len(again) != 1 || again[0].PacksDeleted != 0 || again[0].BytesFreed != 0 {
		t.Fatalf("second prune: %+v", again)
	}
}

// TestSiteCheckCommand: a registered folder site, named or given by URL,
// passes every check of the storage contract, and the checks leave the
// site as they found it; a site that cannot be opened is an error with a
// hint.
func TestSiteCheckCommand(t *testing.T) {
	t.Parallel() // own temp home and sites, no fixed ports, no environment changes
	dir, home, _ := setup(t)
	lu := filepath.Join(dir, "site-lu")
	before := siteSizes(t, lu)
	var res struct {
		Site   string `json:"site"`
		Failed int    `json:"failed"`
		Checks []struct {
			Name string `json:"name"`
			OK   bool   `json:"ok"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, home, "site", "check", "lu", "--json", "--large-mib", "2")), &res); err != nil {
		t.Fatal(err)
	}
	if res.Failed != 0 || len(res.Checks) < 8 {
		t.Fatalf("site check lu: %+v", res)
	}
	names := map[string]bool{}
	for _, c := range res.Checks {
		if !c.OK {
			t.Errorf("check %s failed", c.Name)
		}
		names[c.Name] = true
	}
	if len(names) != len(res.Checks) {
		t.Fatalf("check names repeat: %+v", res.Checks)
	}
	if after := siteSizes(t, lu); len(after) != len(before) || total(after) != total(before) {
		t.Fatalf("site check left objects behind: %d files before, %d after", len(before), len(after))
	}
	fresh := filepath.Join(dir, "candidate")
	os.Mkdir(fresh, 0o700)
	took := ` +[0-9.]+(s|ms|µs|ns)`
	expectRun(t, home, ExitOK, []string{"site", "check", fresh, "--large-mib", "1"}, lines{
		rx(`ok   put and get back` + took),
		rx(`ok   create-only put refuses an existing object` + took),
		rx(`ok   concurrent create-only puts: exactly one wins` + took),
		rx(`ok   ranged get` + took),
		rx(`ok   stat reports the size` + took),
		rx(`ok   list shows written objects` + took),
		rx(`ok   missing objects are reported as missing` + took),
		rx(`ok   large object \(1 MiB\) streams intact` + took),
		rx(`ok   delete removes` + took),
		fmt.Sprintf("file://%s passed all %d checks", fresh, len(res.Checks)),
	}, nil)
	expectRun(t, home, ExitError, []string{"site", "check", "tape://robot/1"}, nil, lines{
		`embassy: error: open tape://robot/1: unsupported site url "tape://robot/1": scheme "tape" unknown; use a directory path, file:///path, s3://host/bucket, embassy://host:port or erasure:K+M?members=a,b,c`,
		"embassy: hint: check the URL, the credentials and that the storage is reachable; a bucket or folder that does not exist yet is created by 'embassy site add', or by 'embassy site check --create'",
	})
}

// sqliteShell returns the sqlite3 shell (Debian's sqlite3): the test makes
// and checks real databases with it. Missing in CI is a failure.
func sqliteShell(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("sqlite3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("sqlite3 not found: apt-get install sqlite3")
		}
		t.Skip("sqlite3 not found (apt-get install sqlite3); CI=true makes this fatal")
	}
	return p
}

// TestProtectSQLiteRestore: protect --once of a live SQLite database (WAL
// mode, held open by a writer whose last transactions are only in the WAL)
// then restore: the restored database opens, has every committed row and
// passes PRAGMA integrity_check; a later protect after more writes restores
// the later rows.
func TestProtectSQLiteRestore(t *testing.T) {
	bin := sqliteShell(t)
	t.Parallel() // own temp home and sites, no fixed ports, no environment changes
	dir, home, _ := setup(t)
	db := filepath.Join(dir, "land.db")
	cmd := exec.Command(bin, "-bail", db)
	in, _ := cmd.StdinPipe()
	outPipe, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); _ = cmd.Wait() })
	done := make(chan string)
	go func() {
		buf := make([]byte, 1024)
		var acc string
		for {
			n, err := outPipe.Read(buf)
			acc += string(buf[:n])
			// substring: waits on the stream for the marker line the test's workload prints
			for strings.Contains(acc, "batch-done\n") {
				_, acc, _ = strings.Cut(acc, "batch-done\n")
				done <- "ok"
			}
			if err != nil {
				close(done)
				return
			}
		}
	}()
	exec1 := func(sql string) {
		t.Helper()
		io.WriteString(in, sql+"\nselect 'batch-done';\n")
		select {
		case _, ok := <-done:
			if !ok {
				t.Fatal("sqlite3 writer exited")
			}
		case <-time.After(30 * time.Second):
			t.Fatal("sqlite3 writer did not answer within 30s")
		}
	}
	exec1("pragma journal_mode=wal; pragma wal_autocheckpoint=0; create table land(id integer primary key, owner text, area real);")
	exec1("with recursive g(i) as (select 1 union all select i+1 from g where i < 3000) insert into land select i, 'owner ' || i, i * 1.5 from g;")
	exec1("update land set owner = 'O''Brien' where id = 42;")
	query := func(p, sql string) string {
		t.Helper()
		out, err := exec.Command(bin, "-readonly", p, sql).CombinedOutput()
		if err != nil {
			t.Fatalf("sqlite3 %s: %v %s", p, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	const digest = "select count(*) || ' ' || sum(area) || ' ' || group_concat(owner, '') from (select * from land order by id);"
	want := query(db, digest)

	os.WriteFile(filepath.Join(home, "protect.yaml"), fmt.Appendf(nil,
		"datasets:\n  - name: land-db\n    source: {type: sqlite, path: %s}\n    rpo: 1h\n    class: C1-I1-A1\n", db), 0o644)
	mustRun(t, home, "protect", "--once")
	restored := func() string {
		t.Helper()
		target := t.TempDir()
		mustRun(t, home, "restore", "land-db", "--target", target)
		var found string
		filepath.WalkDir(target, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Name() == "land.db" {
				found = p
			}
			return nil
		})
		if found == "" {
			t.Fatalf("the restore has no land.db: %v", siteSizes(t, target))
		}
		if got := query(found, "pragma integrity_check;"); got != "ok" {
			t.Fatalf("integrity_check of the restored database: %s", got)
		}
		return found
	}
	if got := query(restored(), digest); got != want {
		t.Fatalf("restored rows differ:\n got %.80s\nwant %.80s", got, want)
	}
	exec1("delete from land where id > 2990; insert into land values (5000, 'late', 1);")
	want2 := query(db, digest)
	mustRun(t, home, "protect", "--once")
	if got := query(restored(), digest); got != want2 || got == want {
		t.Fatalf("second protect: restored %.60s, want %.60s", got, want2)
	}
	if ids := snapshotIDs(t, home, "land-db"); len(ids) != 2 {
		t.Fatalf("%d snapshots, want 2", len(ids))
	}
}

// TestRestoreGateAfterResidencyChange: the restore gate asks the policy
// for each site; tightening the residency rules after the data is stored
// blocks new writes to the site outside them but never a recovery: with
// the allowed site's copy gone, the snapshot both sites held restores
// from the other site and the restore is in the log.
func TestRestoreGateAfterResidencyChange(t *testing.T) {
	t.Parallel() // own temp home and sites, no fixed ports, no environment changes
	dir, home, _ := setup(t)
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	want := noise(150<<10, 9)
	os.WriteFile(filepath.Join(src, "register.bin"), want, 0o644)
	mustRun(t, home, "snapshot", "reg", src, "--class", "C2-I1-A1")
	first := snapshotIDs(t, home, "reg")[0]
	// C2 may now live only in LU: ch is outside.
	os.WriteFile(filepath.Join(home, "policy.yaml"), []byte("classes:\n  - class: C2-I0-A0\n    jurisdictions: [LU]\n"), 0o644)
	r := expectRun(t, home, ExitOK, []string{"snapshot", "reg", src}, lines{
		rx(`snapshot [0-9a-f]{8} of reg saved`),
		"  1 files, 0 dirs, 150.0 KiB read (1 unchanged files reused)",
		rx(`  0 new blobs, 0 B new data stored as 0 B, in [0-9.]+m?s`),
		"  written to lu",
	}, lines{
		"embassy: note: site ch denied by policy for write of reg (residency-class): C2-I1-A1 data may be held only in LU; site ch is in CH: choose a site there, or widen the class rule in policy.yaml",
	})
	second := strings.Fields(r.stdout)[1]
	if err := os.RemoveAll(filepath.Join(dir, "site-lu")); err != nil { // the allowed site lost everything
		t.Fatal(err)
	}
	target := filepath.Join(dir, "out")
	// No denial: the gate lets a recovery read ch. (ch lacks the second
	// snapshot because the policy kept it out, yet the repo flags a dropped
	// manifest there: a false alarm, left to the repo's owner.)
	expectRun(t, home, ExitDamaged, []string{"restore", "reg@" + first, "--target", target}, lines{
		restoredLine(first, "reg", target, "1 files, 0 dirs, 0 symlinks, 150.0 KiB"),
	}, lines{
		siteGone(dir, "lu"),
		rx(`time=\S+ level=WARN msg="hostile or damaged site" site=ch attack=dropped-manifest object=snapshots/[0-9a-f]{32}/` + second + `[0-9a-f]{56} detail="no site returns a manifest the home's signed state lists"`),
	})
	if b, _ := os.ReadFile(filepath.Join(target, "register.bin")); !bytes.Equal(b, want) {
		t.Fatal("the restore from ch after the residency change differs from the source")
	}
	expectRun(t, home, ExitOK, []string{"log", "--kind", "restore"}, lines{
		"INDEX  TIME                 KIND     ACTOR  SITE  DATASET                           OBJECT            REASON",
		rx(`9      [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}  restore  home   -     [0-9a-f]{32}  ` + first[:16] + `  -`),
		"1 of 10 entries; checkpoint 10 cosigned by the witness quorum",
	}, nil)
}
