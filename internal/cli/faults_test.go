package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// Bad-input and fault tests of the CLI with real local sites: each asserts
// the documented exit code, an error or warning naming the problem, and for
// errors a hint line.

// writeSrc writes a source folder with n MiB of incompressible data.
func writeSrc(t *testing.T, dir string, n int) string {
	t.Helper()
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	for i := 0; i < n; i++ {
		b := make([]byte, 1<<20+i*1000)
		rand.Read(b)
		os.WriteFile(filepath.Join(src, "sub", "part"+string(rune('a'+i))+".bin"), b, 0o644)
	}
	os.WriteFile(filepath.Join(src, "register.csv"), bytes.Repeat([]byte("38501012231,Mari,Tamm,Tallinn\n"), 1000), 0o640)
	return src
}

func snapshotID(t *testing.T, home string, args ...string) string {
	t.Helper()
	var s struct{ ID string }
	out := mustRun(t, home, append(append([]string{"--json", "snapshot"}, args...), "--class", "internal")...)
	if err := json.Unmarshal([]byte(out), &s); err != nil || len(s.ID) != 64 {
		t.Fatalf("snapshot output %q: %v", out, err)
	}
	return s.ID
}

// siteFiles lists the object files of kind under a local site folder.
func siteFiles(t *testing.T, siteDir, kind string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(filepath.Join(siteDir, kind), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".") {
			out = append(out, p)
		}
		return nil
	})
	if len(out) == 0 {
		t.Fatalf("no %s objects under %s", kind, siteDir)
	}
	return out
}

func overwrite(t *testing.T, p string, b []byte) {
	t.Helper()
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func restoredSame(t *testing.T, src, target string) {
	t.Helper()
	if n, err := compareTrees(src, target); err != nil || n == 0 {
		t.Fatalf("restore differs from the source: %d files compared, %v", n, err)
	}
}

func TestCLIDamagedCopyAtOneSite(t *testing.T) {
	t.Parallel() // own temp home and sites, no fixed ports, no environment changes
	for _, tc := range []struct {
		name   string
		kind   string
		damage func(t *testing.T, victim, other string)
		warned bool // restore warns about the damaged copy (exit 3)
		// swapped: the other pack may be long enough to read the blob
		// from, which then does not authenticate
		swapped bool
	}{
		{"truncated pack", "data", func(t *testing.T, victim, _ string) {
			b, _ := os.ReadFile(victim)
			overwrite(t, victim, b[:len(b)/2])
		}, true, false},
		{"pack swapped with another pack of the dataset", "data", func(t *testing.T, victim, other string) {
			b, _ := os.ReadFile(other)
			overwrite(t, victim, b)
		}, true, true},
		{"index deleted", "index", func(t *testing.T, victim, _ string) {
			os.Remove(victim)
		}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // own temp home and sites
			dir, home, _ := setup(t)
			src := writeSrc(t, dir, 3)
			id := snapshotID(t, home, "ds", src)
			files := siteFiles(t, filepath.Join(dir, "site-lu"), tc.kind)
			victim, other := files[0], files[len(files)-1]
			for _, f := range files {
				if fi, _ := os.Stat(f); fi.Size() > 1<<20 {
					victim = f // a data pack, not the tree pack
				}
			}
			if victim == other {
				other = files[0]
			}
			before, _ := os.Stat(victim)
			tc.damage(t, victim, other)
			rel, _ := filepath.Rel(filepath.Join(dir, "site-lu"), victim)
			obj := filepath.ToSlash(rel)

			target := filepath.Join(dir, "restore")
			restored := lines{"restored snapshot " + id[:8] + " of ds to " + target + ": 4 files, 1 dirs, 0 symlinks, 3.0 MiB"}
			// verify names the object at lu and what is wrong with it
			damaged := "DAMAGED site=lu object=" + obj + ": missing"
			if tc.warned {
				after, _ := os.Stat(victim)
				q := regexp.QuoteMeta
				why := q("get "+obj+" [") + `[0-9]+\+[0-9]+` + q(fmt.Sprintf("] of %d bytes: range outside object", after.Size()))
				if tc.swapped {
					why = "(?:" + why + `|blob [0-9a-f]{8} in pack ` + q(filepath.Base(obj)[:8]) + `: ciphertext does not authenticate \(corrupt, swapped, or wrong key\))`
				}
				expectRun(t, home, ExitDamaged, []string{"restore", "ds@" + id[:12], "--target", target}, restored, lines{
					rx(q("embassy: warning: site lu holds a damaged or unreadable copy; another site's was used: read "+obj+": ") + why + q(" (run 'embassy verify')")),
				})
				damaged = fmt.Sprintf("DAMAGED site=lu object=%s: size %d, index says %d (truncated or replaced) (affects snapshots %s)", obj, after.Size(), before.Size(), id[:8])
			} else {
				// the dropped index is read from ch: a diagnostic, no warning, exit 0
				expectRun(t, home, ExitOK, []string{"restore", "ds@" + id[:12], "--target", target}, restored, lines{
					rx(`time=\S+ level=WARN msg="hostile or damaged site" site=lu attack=dropped-index object=` + regexp.QuoteMeta(obj) +
						` detail="an index snapshot ` + id[:8] + ` is bound to is missing here; it is read from another site"`),
				})
			}
			restoredSame(t, src, target)
			expectRun(t, home, ExitDamaged, []string{"verify"}, lines{
				rx(`verified structure of 1 dataset, 1 snapshot at lu, ch: [0-9]+ packs?`), // random data, chunked
				damaged,
			}, verifyFailed(1))
			expectRun(t, home, ExitOK, []string{"verify", "--read-data", "--site", "ch"}, lines{
				rx(`verified structure and all data of 1 dataset, 1 snapshot at ch: [0-9]+ packs?, [0-9]+ blobs?, 3\.0 MiB read`),
				"no damage found",
			}, nil)
		})
	}
}

// verifyFailed is verify's stderr after n problems.
func verifyFailed(n int) lines {
	return lines{
		"embassy: error: " + plural(n, "problem") + " found",
		"embassy: hint: restore still works while another site holds an intact copy; 'embassy repair' rebuilds damaged or missing objects from it (a site that cannot be reached must be fixed first)",
	}
}

// siteGone is the warning of a command that could not open site name.
func siteGone(dir, name string) string {
	return "embassy: warning: site " + name + " is unavailable: " + siteGoneWhy(dir, name)
}

func siteGoneWhy(dir, name string) string {
	return "site directory " + filepath.Join(dir, "site-"+name) + " does not exist: create it or check the path"
}

// restoredLine is restore's report of snapshot id (the first 8 of it).
func restoredLine(id, ds, target, what string) string {
	return "restored snapshot " + id[:8] + " of " + ds + " to " + target + ": " + what
}

func TestCLIManifestCorruptAtEverySite(t *testing.T) {
	t.Parallel() // own temp home and sites, no fixed ports, no environment changes
	dir, home, _ := setup(t)
	src := writeSrc(t, dir, 1)
	bad := snapshotID(t, home, "ds", src)
	os.WriteFile(filepath.Join(src, "new.txt"), []byte("new"), 0o644)
	good := snapshotID(t, home, "ds", src)
	for _, s := range []string{"site-lu", "site-ch"} {
		for _, f := range siteFiles(t, filepath.Join(dir, s), "snapshots") {
			if filepath.Base(f) == bad {
				b, _ := os.ReadFile(f)
				b[len(b)/2] ^= 1
				overwrite(t, f, b)
			}
		}
	}
	// Each site's copy fails to authenticate; the error names both.
	why := func(site string) string {
		return "site " + site + ": snapshot " + bad[:8] + ": content does not match its name: ciphertext does not authenticate (corrupt, swapped, or wrong key)"
	}
	read := `read snapshots/[0-9a-f]{32}/` + bad + `: ` + regexp.QuoteMeta(why("lu"))
	expectRun(t, home, ExitDamaged, []string{"snapshots"}, lines{
		"ID        DATASET  TIME                 CLASS     FILES  SIZE     PATHS",
		rx(good[:8] + `  ds       [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}  C1-I2-A2  3      1\.0 MiB  ` + regexp.QuoteMeta(src)),
	}, lines{
		rx(`embassy: warning: snapshot ` + bad[:8] + ` of ds is damaged: ` + read),
		why("ch"),
	})
	expectRun(t, home, ExitDamaged, []string{"restore", "ds@" + bad[:10], "--target", filepath.Join(dir, "r1")}, nil, lines{
		rx(`embassy: error: snapshot ` + bad[:8] + ` of dataset ds is damaged at every site: ` + read),
		why("ch"),
		"embassy: hint: run 'embassy verify' for details; the dataset's other snapshots are listed by 'embassy snapshots ds'",
	})
	restoreTarget := filepath.Join(dir, "r2")
	expectRun(t, home, ExitOK, []string{"restore", "ds", "--target", restoreTarget}, lines{
		restoredLine(good, "ds", restoreTarget, "3 files, 1 dirs, 0 symlinks, 1.0 MiB"),
	}, nil)
	restoredSame(t, src, restoreTarget)
	expectRun(t, home, ExitDamaged, []string{"verify"}, lines{
		rx(`verified structure of 1 dataset, 1 snapshot at lu, ch: [0-9]+ packs?`),
		rx(`DAMAGED site=\* object=snapshots/[0-9a-f]{32}/` + bad + `: manifest does not authenticate at any site: ` + read),
		why("ch") + " (affects snapshots " + bad[:8] + ")",
	}, verifyFailed(1))
}

func TestCLIKeyProblems(t *testing.T) {
	t.Parallel() // own temp homes and sites, no fixed ports, no environment changes
	dir, home, ids := setup(t)
	src := writeSrc(t, dir, 1)
	snapshotID(t, home, "ds", src)
	_, otherHome, otherIDs := setup(t)
	keyFile := filepath.Join(home, "keys", "root-00000001.key")
	mine, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := os.ReadFile(filepath.Join(otherHome, "keys", "root-00000001.key"))
	if err != nil {
		t.Fatal(err)
	}
	var mineRF, theirRF rootFileJSON
	json.Unmarshal(mine, &mineRF)
	json.Unmarshal(theirs, &theirRF)
	const recoverHint = "rebuild a home from a site and the custodians in a new folder: 'embassy --home NEW-DIR recover --site URL --expect-home FINGERPRINT --identity KEY ...' (recover refuses an existing home), then use --home NEW-DIR"

	t.Run("root key of another home", func(t *testing.T) {
		overwrite(t, keyFile, theirs)
		expectRun(t, home, ExitKey, []string{"snapshots"}, nil, lines{
			"embassy: error: root key file " + keyFile + " belongs to home " + theirRF.Home + ", not " + mineRF.Home,
			"embassy: hint: restore the file from this home's backup, or " + recoverHint,
		})
	})
	t.Run("root key of another home relabelled", func(t *testing.T) {
		overwrite(t, keyFile, bytes.Replace(theirs, []byte(theirRF.Home), []byte(mineRF.Home), 1))
		expectRun(t, home, ExitKey, []string{"restore", "ds", "--target", filepath.Join(dir, "x")}, nil, lines{
			"embassy: error: home's root key does not match the sites' key epoch record",
			"embassy: hint: the key file in this home belongs to another vault; rebuild a home in a new folder: 'embassy --home NEW-DIR recover --site URL --expect-home FINGERPRINT --identity KEY ...' (recover refuses an existing home), then use --home NEW-DIR",
		})
	})
	t.Run("root key file missing", func(t *testing.T) {
		os.Remove(keyFile)
		expectRun(t, home, ExitKey, []string{"snapshot", "ds", src, "--class", "internal"}, nil, lines{
			"embassy: error: home has no root key for epoch 1: open " + keyFile + ": no such file or directory",
			"embassy: hint: restore " + keyFile + " from this home's backup, or " + recoverHint,
		})
	})
	t.Run("root key file garbled", func(t *testing.T) {
		overwrite(t, keyFile, mine[:len(mine)/2])
		expectRun(t, home, ExitKey, []string{"verify"}, nil, lines{
			"embassy: error: root key file " + keyFile + " is malformed",
			"embassy: hint: restore the file from this home's backup, or " + recoverHint,
		})
	})
	t.Run("recover with another home's custodian", func(t *testing.T) {
		expectRun(t, filepath.Join(dir, "h-recovered"), ExitKey,
			[]string{"recover", "--site", filepath.Join(dir, "site-lu"), "--identity", ids[0], "--identity", otherIDs[1]}, nil, lines{
				"embassy: error: identity " + otherIDs[1] + " is not a custodian of home " + mineRF.Home + " (key epoch 1): belongs to another home",
				"embassy: hint: check that the identity file belongs to one of this home's custodians; 'embassy custodian show' prints its recipient",
			})
		if _, err := os.Stat(filepath.Join(dir, "h-recovered", "embassy.yaml")); err == nil {
			t.Error("a failed recover left a home behind")
		}
	})
	overwrite(t, keyFile, mine)
	expectRun(t, home, ExitOK, []string{"verify"}, lines{
		rx(`verified structure of 1 dataset, 1 snapshot at lu, ch: [0-9]+ packs?`),
		"no damage found",
	}, nil)
}

type rootFileJSON struct {
	Home string `json:"home"`
}

func TestCLISiteFolderDeleted(t *testing.T) {
	t.Parallel() // own temp home and sites, no fixed ports, no environment changes
	dir, home, _ := setup(t)
	src := writeSrc(t, dir, 1)
	id := snapshotID(t, home, "ds", src)
	os.RemoveAll(filepath.Join(dir, "site-ch"))
	target := filepath.Join(dir, "restore")
	gone := lines{siteGone(dir, "ch")}
	expectRun(t, home, ExitDamaged, []string{"restore", "ds@" + id, "--target", target}, lines{
		restoredLine(id, "ds", target, "2 files, 1 dirs, 0 symlinks, 1.0 MiB"),
	}, gone)
	restoredSame(t, src, target)
	expectRun(t, home, ExitDamaged, []string{"verify"}, lines{
		rx(`verified structure of 1 dataset, 1 snapshot at lu, ch: [0-9]+ packs?`),
		"DAMAGED site=ch object=-: site unreachable: " + siteGoneWhy(dir, "ch"),
	}, append(gone, verifyFailed(1)...))
	// New snapshots still go to the other site.
	os.WriteFile(filepath.Join(src, "more.txt"), []byte("more"), 0o644)
	r := expectRun(t, home, ExitDamaged, []string{"snapshot", "ds", src, "--class", "internal"}, lines{
		rx(`snapshot ([0-9a-f]{8}) of ds saved`),
		"  3 files, 1 dirs, 1.0 MiB read (2 unchanged files reused)",
		rx(`  2 new blobs, [0-9]+ B new data stored as [0-9]+ B, in [0-9.]+m?s`),
		"  written to lu",
	}, gone)
	second := strings.Fields(r.stdout)[1]
	target2 := filepath.Join(dir, "restore2")
	expectRun(t, home, ExitDamaged, []string{"restore", "ds", "--target", target2}, lines{
		restoredLine(second, "ds", target2, "3 files, 1 dirs, 0 symlinks, 1.0 MiB"),
	}, gone)
	restoredSame(t, src, target2)
}

func TestCLICorruptConfig(t *testing.T) {
	t.Parallel() // own temp home and sites, no fixed ports, no environment changes
	_, home, _ := setup(t)
	cfg := filepath.Join(home, "embassy.yaml")
	orig, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, yaml, problem string
	}{
		{"wrong type", strings.Replace(string(orig), "pack-size-mib: 8", "pack-size-mib: eight", 1), "pack-size-mib: line 4: cannot unmarshal !!str `eight` into int"},
		{"unknown field", string(orig) + "retention: forever\n", "retention: line 12: field retention not found in type home.Config"},
		{"bad site", strings.Replace(string(orig), "jurisdiction: LU", "jurisdiction: Luxembourg", 1), `sites[0].jurisdiction: invalid jurisdiction "Luxembourg": use an ISO 3166-1 alpha-2 code such as LU, EE or CH`},
		{"bad nested type", strings.Replace(string(orig), "jurisdiction: CH", "jurisdiction: [CH]", 1), "sites[1].jurisdiction[0]: line 11: cannot unmarshal !!seq into string"},
		{"truncated", string(orig[:len(orig)*2/3]) + "\"", "yaml: line 8: could not find expected ':'"},
		{"binary", "\x00\xff\xfe", "yaml: control characters are not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			overwrite(t, cfg, []byte(tc.yaml))
			expectRun(t, home, ExitError, []string{"snapshots"}, nil, lines{
				"embassy: error: " + cfg + ": " + tc.problem,
				"embassy: hint: fix the configuration file",
			})
		})
	}
	overwrite(t, cfg, orig)
	expectRun(t, home, ExitOK, []string{"snapshots"}, lines{"No snapshots yet. Take one with 'embassy snapshot DATASET PATH'."}, nil)
}

// TestCLIFullDisk puts one site on a tiny tmpfs: a snapshot larger than it
// fails there with a clear no-space warning, is committed at the other
// sites, and everything restores once the full site is removed.
func TestCLIFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	t.Parallel() // own temp home, sites and tmpfs, no fixed ports, no environment changes
	dir, home, _ := setup(t)
	small := filepath.Join(dir, "site-small")
	os.MkdirAll(small, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", small).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(small, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", small, err)
		}
	})
	mustRun(t, home, "site", "add", "small", "--url", small, "--jurisdiction", "EE")
	src := writeSrc(t, dir, 8)
	// The pack that does not fit: a diagnostic from the site, then the warning.
	obj := `data/[0-9a-f]{32}/[0-9a-f]{2}/[0-9a-f]{64}`
	noSpace := `write: write ` + regexp.QuoteMeta(small) + `/data/[0-9a-f]{32}/[0-9a-f]{2}/\.tmp-[0-9]+: no space left on device \(site disk full: free space on the disk holding ` + regexp.QuoteMeta(small) + `\)`
	r := run(t, home, "", "--json", "snapshot", "ds", src, "--class", "internal")
	if r.code != ExitDamaged {
		t.Fatalf("snapshot onto a full site: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	// Packs are written concurrently: one diagnostic for each that did
	// not fit (one or more), then one warning.
	var diag lines
	for _, l := range strings.SplitAfter(r.stderr, "\n") {
		if strings.HasPrefix(l, "time=") {
			diag = append(diag, rx(`time=\S+ level=WARN msg="site write failed" site=small object=`+obj+` err="put `+obj+`: `+noSpace+`"`))
		}
	}
	if len(diag) == 0 {
		t.Fatalf("snapshot onto a full site: no diagnostic of the failed write:\n%s", r.stderr)
	}
	wantLines(t, "snapshot onto a full site: stderr", r.stderr, append(diag,
		rx(`embassy: warning: site small failed and was skipped: write `+obj+`: put `+obj+`: `+noSpace),
	))
	var s struct {
		ID    string
		Sites []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || len(s.ID) != 64 || strings.Join(s.Sites, ",") != "lu,ch" {
		t.Fatalf("snapshot output %q: %v", r.stdout, err)
	}
	// The other sites hold the whole committed snapshot.
	verified := lines{
		rx(`verified structure and all data of 1 dataset, 1 snapshot at lu, ch: [0-9]+ packs?, [0-9]+ blobs?, 16\.1 MiB read`), // random data, chunked
		"no damage found",
	}
	expectRun(t, home, ExitOK, []string{"verify", "--read-data", "--site", "lu", "--site", "ch"}, verified, nil)
	target := filepath.Join(dir, "restore")
	restored := func(target string) lines {
		return lines{restoredLine(s.ID, "ds", target, "9 files, 1 dirs, 0 symlinks, 8.1 MiB")}
	}
	expectRun(t, home, ExitOK, []string{"restore", "ds@" + s.ID, "--target", target}, restored(target), nil)
	restoredSame(t, src, target)
	// Verify of the full site names it; nothing half-written is visible.
	// Which of the concurrent pack writes fitted before the disk was full
	// varies: each data pack that did not is missing.
	r = run(t, home, "", "verify", "--site", "small")
	missing := strings.Count(r.stdout, "DAMAGED site=small object=data/")
	want := lines{rx(`verified structure of 1 dataset, 1 snapshot at small: [0-9]+ packs?`)}
	for range missing {
		want = append(want, rx(`DAMAGED site=small object=`+obj+`: missing \(affects snapshots `+s.ID[:8]+`\)`))
	}
	want = append(want,
		rx(`DAMAGED site=small object=index/[0-9a-f]{32}/[0-9a-f]{64}: missing`),
		rx(`DAMAGED site=small object=snapshots/[0-9a-f]{32}/`+s.ID+`: missing \(affects snapshots `+s.ID[:8]+`\)`))
	if r.code != ExitDamaged || missing == 0 {
		t.Fatalf("verify of the full site: exit %d, %d data packs missing\n%s%s", r.code, missing, r.stdout, r.stderr)
	}
	wantLines(t, "verify of the full site", r.stdout, want)
	wantLines(t, "verify of the full site: stderr", r.stderr, verifyFailed(missing+2))
	// Remove the full site: everything committed verifies and restores.
	mustRun(t, home, "site", "remove", "small")
	expectRun(t, home, ExitOK, []string{"verify", "--read-data"}, verified, nil)
	target2 := filepath.Join(dir, "restore2")
	expectRun(t, home, ExitOK, []string{"restore", "ds", "--target", target2}, restored(target2), nil)
	restoredSame(t, src, target2)
}
