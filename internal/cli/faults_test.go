package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Bad-input and fault tests of the CLI with real local sites: each asserts
// the documented exit code, an error or warning naming the problem, and for
// errors a hint line.

// expect runs args and checks the exit code and that stderr (and stdout)
// contain each of want.
func expect(t *testing.T, home string, code int, args []string, want ...string) result {
	t.Helper()
	r := run(t, home, "", args...)
	if r.code != code {
		t.Fatalf("embassy %v: exit %d, want %d\nstdout: %s\nstderr: %s", args, r.code, code, r.stdout, r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stdout+r.stderr, w) {
			t.Errorf("embassy %v: output lacks %q\nstdout: %s\nstderr: %s", args, w, r.stdout, r.stderr)
		}
	}
	if code != ExitOK && code != ExitDamaged || strings.Contains(r.stderr, "embassy: error: ") {
		if !strings.Contains(r.stderr, "embassy: error: ") || !strings.Contains(r.stderr, "embassy: hint: ") {
			t.Errorf("embassy %v: error without an error and hint line:\n%s", args, r.stderr)
		}
	}
	return r
}

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
		name    string
		kind    string
		damage  func(t *testing.T, victim, other string)
		problem string // what verify says about the object at lu
		warned  bool   // restore warns about the damaged copy (exit 3)
		users   bool   // verify names the affected snapshot
	}{
		{"truncated pack", "data", func(t *testing.T, victim, _ string) {
			b, _ := os.ReadFile(victim)
			overwrite(t, victim, b[:len(b)/2])
		}, "truncated or replaced", true, true},
		{"pack swapped with another pack of the dataset", "data", func(t *testing.T, victim, other string) {
			b, _ := os.ReadFile(other)
			overwrite(t, victim, b)
		}, "truncated or replaced", true, true},
		{"index deleted", "index", func(t *testing.T, victim, _ string) {
			os.Remove(victim)
		}, "missing", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
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
			tc.damage(t, victim, other)
			rel, _ := filepath.Rel(filepath.Join(dir, "site-lu"), victim)

			want := []string{}
			code := ExitOK
			if tc.warned {
				code = ExitDamaged
				want = append(want, "embassy: warning: site lu holds a damaged or unreadable copy", rel)
			}
			target := filepath.Join(dir, "restore")
			expect(t, home, code, []string{"restore", "ds@" + id[:12], "--target", target}, want...)
			restoredSame(t, src, target)
			want = []string{"DAMAGED site=lu object=" + filepath.ToSlash(rel) + ": ", tc.problem}
			if tc.users {
				want = append(want, "(affects snapshots "+id[:8]+")")
			}
			expect(t, home, ExitDamaged, []string{"verify"}, want...)
			expect(t, home, ExitOK, []string{"verify", "--read-data", "--site", "ch"}, "no damage found")
		})
	}
}

func TestCLIManifestCorruptAtEverySite(t *testing.T) {
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
	r := expect(t, home, ExitDamaged, []string{"snapshots"}, "embassy: warning: snapshot "+bad[:8]+" of ds is damaged", "does not match its name")
	if !strings.Contains(r.stdout, good[:8]) || strings.Contains(r.stdout, bad[:8]) {
		t.Errorf("snapshots should list %s and not %s:\n%s", good[:8], bad[:8], r.stdout)
	}
	expect(t, home, ExitDamaged, []string{"restore", "ds@" + bad[:10], "--target", filepath.Join(dir, "r1")},
		"snapshot "+bad[:8]+" of dataset ds is damaged at every site")
	restoreTarget := filepath.Join(dir, "r2")
	expect(t, home, ExitOK, []string{"restore", "ds", "--target", restoreTarget})
	restoredSame(t, src, restoreTarget)
	expect(t, home, ExitDamaged, []string{"verify"}, "DAMAGED site=* object=snapshots/", bad[:8])
}

func TestCLIKeyProblems(t *testing.T) {
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

	t.Run("root key of another home", func(t *testing.T) {
		overwrite(t, keyFile, theirs)
		expect(t, home, ExitKey, []string{"snapshots"}, "belongs to home "+theirRF.Home)
	})
	t.Run("root key of another home relabelled", func(t *testing.T) {
		overwrite(t, keyFile, bytes.Replace(theirs, []byte(theirRF.Home), []byte(mineRF.Home), 1))
		expect(t, home, ExitKey, []string{"restore", "ds", "--target", filepath.Join(dir, "x")}, "does not match", "recover")
	})
	t.Run("root key file missing", func(t *testing.T) {
		os.Remove(keyFile)
		expect(t, home, ExitKey, []string{"snapshot", "ds", src, "--class", "internal"}, "no root key for epoch 1", "--home NEW-DIR recover", "recover refuses an existing home")
	})
	t.Run("root key file garbled", func(t *testing.T) {
		overwrite(t, keyFile, mine[:len(mine)/2])
		expect(t, home, ExitKey, []string{"verify"}, "malformed")
	})
	t.Run("recover with another home's custodian", func(t *testing.T) {
		expect(t, filepath.Join(dir, "h-recovered"), ExitKey,
			[]string{"recover", "--site", filepath.Join(dir, "site-lu"), "--identity", ids[0], "--identity", otherIDs[1]},
			"is not a custodian of home "+mineRF.Home)
		if _, err := os.Stat(filepath.Join(dir, "h-recovered", "embassy.yaml")); err == nil {
			t.Error("a failed recover left a home behind")
		}
	})
	overwrite(t, keyFile, mine)
	expect(t, home, ExitOK, []string{"verify"})
}

type rootFileJSON struct {
	Home string `json:"home"`
}

func TestCLISiteFolderDeleted(t *testing.T) {
	dir, home, _ := setup(t)
	src := writeSrc(t, dir, 1)
	id := snapshotID(t, home, "ds", src)
	os.RemoveAll(filepath.Join(dir, "site-ch"))
	target := filepath.Join(dir, "restore")
	expect(t, home, ExitDamaged, []string{"restore", "ds@" + id, "--target", target}, "embassy: warning: site ch is unavailable", "site-ch")
	restoredSame(t, src, target)
	expect(t, home, ExitDamaged, []string{"verify"}, "DAMAGED site=ch object=-: site unreachable")
	// New snapshots still go to the other site.
	os.WriteFile(filepath.Join(src, "more.txt"), []byte("more"), 0o644)
	r := expect(t, home, ExitDamaged, []string{"snapshot", "ds", src, "--class", "internal"}, "site ch is unavailable", "written to lu")
	if strings.Contains(r.stdout, "written to lu, ch") {
		t.Errorf("snapshot claims the deleted site: %s", r.stdout)
	}
	target2 := filepath.Join(dir, "restore2")
	expect(t, home, ExitDamaged, []string{"restore", "ds", "--target", target2})
	restoredSame(t, src, target2)
}

func TestCLICorruptConfig(t *testing.T) {
	_, home, _ := setup(t)
	cfg := filepath.Join(home, "embassy.yaml")
	orig, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, yaml, field string
	}{
		{"wrong type", strings.Replace(string(orig), "pack-size-mib: 8", "pack-size-mib: eight", 1), "pack-size-mib"},
		{"unknown field", string(orig) + "retention: forever\n", "field retention not found"},
		{"bad site", strings.Replace(string(orig), "jurisdiction: LU", "jurisdiction: Luxembourg", 1), "sites[0].jurisdiction"},
		{"bad nested type", strings.Replace(string(orig), "jurisdiction: CH", "jurisdiction: [CH]", 1), "sites[1].jurisdiction"},
		{"truncated", string(orig[:len(orig)*2/3]) + "\"", "embassy.yaml"},
		{"binary", "\x00\xff\xfe", "embassy.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			overwrite(t, cfg, []byte(tc.yaml))
			expect(t, home, ExitError, []string{"snapshots"}, cfg, tc.field, "fix the configuration file")
		})
	}
	overwrite(t, cfg, orig)
	mustRun(t, home, "snapshots")
}

// TestCLIFullDisk puts one site on a tiny tmpfs: a snapshot larger than it
// fails there with a clear no-space warning, is committed at the other
// sites, and everything restores once the full site is removed.
func TestCLIFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
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
	r := run(t, home, "", "--json", "snapshot", "ds", src, "--class", "internal")
	if r.code != ExitDamaged || !strings.Contains(r.stderr, "site small failed and was skipped") || !strings.Contains(r.stderr, "no space left on device") {
		t.Fatalf("snapshot onto a full site: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	t.Logf("snapshot onto a full site:\n%s", r.stderr)
	var s struct {
		ID    string
		Sites []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || len(s.ID) != 64 || strings.Join(s.Sites, ",") != "lu,ch" {
		t.Fatalf("snapshot output %q: %v", r.stdout, err)
	}
	// The other sites hold the whole committed snapshot.
	expect(t, home, ExitOK, []string{"verify", "--read-data", "--site", "lu", "--site", "ch"})
	target := filepath.Join(dir, "restore")
	expect(t, home, ExitOK, []string{"restore", "ds@" + s.ID, "--target", target})
	restoredSame(t, src, target)
	// Verify of the full site names it; nothing half-written is visible.
	expect(t, home, ExitDamaged, []string{"verify", "--site", "small"}, "DAMAGED site=small", "missing")
	// Remove the full site: everything committed verifies and restores.
	mustRun(t, home, "site", "remove", "small")
	expect(t, home, ExitOK, []string{"verify", "--read-data"})
	target2 := filepath.Join(dir, "restore2")
	expect(t, home, ExitOK, []string{"restore", "ds", "--target", target2})
	restoredSame(t, src, target2)
}
