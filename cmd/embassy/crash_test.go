package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The crash tests build the real binary and kill -9 it at random moments
// during snapshot and prune. After every kill, every snapshot that had been
// committed must still restore byte-exact, and the next run must work.

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "embassy-bin-")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "embassy")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type fixture struct {
	t    *testing.T
	dir  string
	home string
}

// with returns f reporting to t: subtests must fail and skip on their own t.
func (f *fixture) with(t *testing.T) *fixture {
	g := *f
	g.t = t
	return &g
}

func (f *fixture) cmd(args ...string) *exec.Cmd {
	c := exec.Command(bin, append([]string{"--home", f.home, "--progress", "never"}, args...)...)
	c.Env = append(os.Environ(), "EMBASSY_HOME=")
	return c
}

func (f *fixture) run(args ...string) string {
	f.t.Helper()
	var out, errb bytes.Buffer
	c := f.cmd(args...)
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		f.t.Fatalf("embassy %v: %v\n%s%s", args, err, out.String(), errb.String())
	}
	return out.String()
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, dir: t.TempDir()}
	f.home = filepath.Join(f.dir, "home")
	var recips []string
	for i := 0; i < 3; i++ {
		recips = append(recips, strings.TrimSpace(f.run("custodian", "keygen", "-o", filepath.Join(f.dir, fmt.Sprintf("c%d.key", i)))))
	}
	f.run("init", "--threshold", "2", "--custodian", recips[0], "--custodian", recips[1], "--custodian", recips[2])
	f.run("site", "add", "a", "--url", filepath.Join(f.dir, "site-a"), "--jurisdiction", "LU")
	f.run("site", "add", "b", "--url", filepath.Join(f.dir, "site-b"), "--jurisdiction", "CH")
	return f
}

// mutate changes the source tree deterministically for round i.
func mutate(t *testing.T, src string, rng *rand.Rand, i int) { mutateN(t, src, rng, i, 3<<20) }

// mutateN is mutate with files of up to maxSize bytes.
func mutateN(t *testing.T, src string, rng *rand.Rand, i, maxSize int) {
	os.MkdirAll(filepath.Join(src, fmt.Sprintf("d%d", i%4)), 0o755)
	for j := 0; j < 6; j++ {
		n := 50_000 + rng.IntN(maxSize)
		b := make([]byte, n)
		for k := range b {
			b[k] = byte(rng.Uint32())
		}
		p := filepath.Join(src, fmt.Sprintf("d%d", rng.IntN(4)), fmt.Sprintf("f%d-%d.bin", i, j))
		os.WriteFile(p, b, 0o644)
	}
	if i%3 == 2 { // delete something so prune has work
		ents, _ := os.ReadDir(filepath.Join(src, "d0"))
		for k, e := range ents {
			if k%2 == 0 {
				os.Remove(filepath.Join(src, "d0", e.Name()))
			}
		}
	}
}

func treeDigest(t *testing.T, dir string) string {
	h := sha256.New()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s|%v|", rel, d.Type())
		if d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			h.Write(b)
		}
		return nil
	})
	return fmt.Sprintf("%x", h.Sum(nil))
}

type snapInfo struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
}

// snapshots lists ds's snapshots; an unreadable listing fails the test.
func (f *fixture) snapshots(ds string) map[string]bool {
	f.t.Helper()
	r := f.try("--json", "snapshots", ds)
	notFound := lines{
		`{"error":"dataset \"` + ds + `\" not found","exit_code":1,"hint":"no datasets yet; create one with 'embassy snapshot NAME PATH'"}`,
	}
	if r.code == 1 && notFound.diff(r.stderr) == "" {
		// a first snapshot killed before it registered the dataset
		// leaves no dataset: none of its snapshots was committed
		return map[string]bool{}
	}
	if r.code != 0 {
		f.t.Fatalf("embassy --json snapshots %s: exit %d\n%s%s", ds, r.code, r.stdout, r.stderr)
	}
	out := r.stdout
	var listed []snapInfo
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		f.t.Fatalf("snapshots --json: %v\n%s", err, out)
	}
	present := map[string]bool{}
	for _, s := range listed {
		if s.ID == "" {
			f.t.Fatalf("snapshots --json lists a snapshot without an id:\n%s", out)
		}
		present[s.ID] = true
	}
	return present
}

// ledger is what the crash tests know was committed: snapshot id -> the
// digest of its source, in commit order.
type ledger struct {
	ds     string
	digest map[string]string
	order  []string
}

func newLedger(ds string) *ledger { return &ledger{ds: ds, digest: map[string]string{}} }

func (l *ledger) add(id, digest string) {
	l.digest[id] = digest
	l.order = append(l.order, id)
}

// forgetAllBut drops all but the newest n from the ledger (a completed
// forget --keep-last n).
func (l *ledger) forgetAllBut(n int) {
	for len(l.order) > n {
		delete(l.digest, l.order[0])
		l.order = l.order[1:]
	}
}

// check asserts that every committed snapshot is listed and restores
// byte-exact, except the ones in mayGo (a killed forget may or may not
// have removed them: those found gone leave the ledger).
func (l *ledger) check(f *fixture, what string, mayGo map[string]bool) {
	f.t.Helper()
	present := f.snapshots(l.ds)
	var kept []string
	for _, id := range l.order {
		if !present[id] {
			if mayGo[id] {
				delete(l.digest, id)
				continue
			}
			f.t.Fatalf("%s: committed snapshot %s of %s vanished", what, id[:8], l.ds)
		}
		kept = append(kept, id)
		target := filepath.Join(f.dir, "restore-"+id[:8])
		if out, stderr, code := f.result("restore", l.ds+"@"+id, "--target", target); code != 0 {
			f.t.Fatalf("%s: committed snapshot %s of %s does not restore: exit %d\n%s%s", what, id[:8], l.ds, code, out, stderr)
		}
		if got := treeDigest(f.t, target); got != l.digest[id] {
			f.t.Fatalf("%s: snapshot %s of %s restores differently", what, id[:8], l.ds)
		}
		os.RemoveAll(target)
	}
	l.order = kept
}

// snapshot takes a snapshot of src and records it.
func (l *ledger) snapshot(f *fixture, src string) string {
	f.t.Helper()
	digest := treeDigest(f.t, src)
	var s snapInfo
	out := f.run("--json", "snapshot", l.ds, src, "--class", "internal")
	if err := json.Unmarshal([]byte(out), &s); err != nil || s.ID == "" {
		f.t.Fatalf("snapshot --json: %v\n%s", err, out)
	}
	l.add(s.ID, digest)
	return s.ID
}

// crashAt runs embassy with EMBASSY_CRASHPOINT=point and asserts that it
// was killed there: ended by SIGKILL after announcing the point.
func (f *fixture) crashAt(point string, args ...string) {
	f.t.Helper()
	c := f.cmd(args...)
	c.Env = append(c.Env, "EMBASSY_CRASHPOINT="+point)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		f.t.Fatalf("embassy %v with crashpoint %s was not killed (err %v): the point was never reached\n%s%s", args, point, err, out.String(), errb.String())
	}
	ws, _ := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		f.t.Fatalf("embassy %v with crashpoint %s: %v, want killed by SIGKILL at the point\n%s", args, point, err, errb.String())
	}
	name := point
	if !strings.Contains(name, "@") { // a crash point's name, not output
		name += "@1"
	}
	// the crash-point marker, a whole line among whatever the killed
	// command printed before it
	if !strings.Contains(errb.String(), "crashpoint: "+name+"\n") {
		f.t.Fatalf("embassy %v was killed, but not at crashpoint %s:\n%s", args, name, errb.String())
	}
}

// TestCrashPoints kills the real binary with SIGKILL at named phases of
// every mutating operation (internal/crashpoint): snapshot, forget and
// prune, key rotate, key shred, site sync and repair. After every kill
// every committed snapshot is still listed and restores byte-exact, the
// operation run again completes, and the vault verifies.
func TestCrashPoints(t *testing.T) {
	t.Parallel() // waits on disks, daemons and links more than on CPU
	f := newFixture(t)
	src := filepath.Join(f.dir, "src")
	rng := rand.New(rand.NewPCG(7, 42))
	l := newLedger("ds")
	// Small files keep the many restores fast; the points, not the
	// volume, decide where the kill lands.
	mutateN(t, src, rng, 0, 400<<10)
	l.snapshot(f, src)
	round := 0
	next := func() { round++; mutateN(t, src, rng, round, 400<<10) }
	ok := true // later phases build on earlier ones: stop at the first failure

	ok = ok && t.Run("snapshot", func(t *testing.T) {
		f := f.with(t)
		// mid-upload (2nd object), before the index, before the manifest
		for _, p := range []string{"repo.put@2", "repo.index", "repo.snapshot"} {
			next()
			before := f.snapshots("ds")
			f.crashAt(p, "snapshot", "ds", src, "--class", "internal")
			if n := len(f.snapshots("ds")); n != len(before) {
				t.Fatalf("killed at %s before its manifest, the snapshot is listed (%d snapshots, had %d)", p, n, len(before))
			}
			l.check(f, "snapshot killed at "+p, nil)
			l.snapshot(f, src) // the next snapshot works (adopting orphans)
			l.check(f, "snapshot after a kill at "+p, nil)
		}
	})

	ok = ok && t.Run("forget and prune", func(t *testing.T) {
		f := f.with(t)
		for _, p := range []string{"repo.delete@1", "repo.delete@2", "repo.prune.delete", "repo.put@1"} {
			next()
			l.snapshot(f, src)
			next()
			l.snapshot(f, src)
			mayGo := map[string]bool{}
			for _, id := range l.order[:len(l.order)-2] {
				mayGo[id] = true
			}
			f.crashAt(p, "forget", "ds", "--keep-last", "2", "--prune")
			l.check(f, "forget --prune killed at "+p, mayGo)
			f.run("forget", "ds", "--keep-last", "2", "--prune")
			l.forgetAllBut(2)
			l.check(f, "forget --prune after a kill at "+p, nil)
			if n := len(f.snapshots("ds")); n != 2 {
				t.Fatalf("forget --keep-last 2 left %d snapshots", n)
			}
		}
		next()
		l.snapshot(f, src)
		f.run("forget", "ds", "--keep-last", "2")
		l.forgetAllBut(2)
		f.crashAt("repo.delete@1", "prune", "ds")
		l.check(f, "prune killed while deleting", nil)
		f.run("prune", "ds")
		l.check(f, "prune after a kill", nil)
	})

	ok = ok && t.Run("key rotate", func(t *testing.T) {
		f := f.with(t)
		for _, p := range []string{"repo.put@1", "repo.put@3", "repo.rotate.commit", "repo.rotate.retire"} {
			f.crashAt(p, "key", "rotate")
			l.check(f, "key rotate killed at "+p, nil)
			f.run("key", "rotate")
			l.check(f, "key rotate after a kill at "+p, nil)
			next()
			l.snapshot(f, src) // writes under the new epoch
		}
	})

	ok = ok && t.Run("key shred", func(t *testing.T) {
		f := f.with(t)
		for i, p := range []string{"repo.rotate.commit", "repo.shred.keys", "repo.delete@2"} {
			doomed := fmt.Sprintf("doomed%d", i)
			dsrc := filepath.Join(f.dir, doomed)
			writeFile(t, filepath.Join(dsrc, "secret.txt"), fmt.Sprintf("secret %d\n", i))
			f.run("snapshot", doomed, dsrc, "--class", "internal")
			f.crashAt(p, "key", "shred", doomed, "--yes")
			l.check(f, "key shred killed at "+p, nil)
			// Run again it completes, or, killed after the rotation that
			// dropped the dataset's keys, finds the dataset already gone.
			out, stderr, code := f.result("key", "shred", doomed, "--yes")
			gone := code == 1 && p != "repo.rotate.commit" && lines{
				`embassy: error: dataset "` + doomed + `" not found`,
				rx(`embassy: hint: known datasets: .*`), // whichever of the others are left
			}.diff(stderr) == ""
			if code != 0 && code != 3 && !gone {
				t.Fatalf("key shred %s after a kill at %s: exit %d\n%s%s", doomed, p, code, out, stderr)
			}
			if r := f.try("--json", "snapshots", doomed); r.code == 0 {
				wantLines(t, fmt.Sprintf("snapshots of %s after shred (killed at %s, run again)", doomed, p), r.stdout, lines{"[]"})
			}
			if _, _, code := f.result("restore", doomed+"@latest", "--target", filepath.Join(f.dir, "r-"+doomed)); code == 0 {
				t.Fatalf("the shredded dataset %s still restores (killed at %s)", doomed, p)
			}
			l.check(f, "key shred after a kill at "+p, nil)
		}
	})

	ok = ok && t.Run("site sync", func(t *testing.T) {
		f := f.with(t)
		for i, p := range []string{"repo.copy@1", "repo.copy@5"} {
			name := fmt.Sprintf("new%d", i)
			f.run("site", "add", name, "--url", filepath.Join(f.dir, "site-"+name), "--jurisdiction", "FR", "--no-copy")
			f.crashAt(p, "site", "sync")
			l.check(f, "site sync killed at "+p, nil)
			f.run("site", "sync")
			lagFree(f)
		}
	})

	ok = ok && t.Run("repair", func(t *testing.T) {
		f := f.with(t)
		for _, p := range []string{"repo.repair.deleted", "repo.repair.deleted"} {
			damage(t, filepath.Join(f.dir, "site-a"))
			if _, _, code := f.result("verify", "--read-data"); code == 0 {
				t.Fatal("verify --read-data found nothing after a pack was damaged")
			}
			f.crashAt(p, "repair", "--read-data")
			l.check(f, "repair killed at "+p, nil)
			f.run("repair", "--read-data")
			f.run("verify", "--read-data")
		}
	})
	if ok {
		f.run("verify", "--read-data")
		l.check(f, "the end", nil)
	}
}

// lagFree asserts that every site holds every object.
func lagFree(f *fixture) {
	f.t.Helper()
	var sync struct {
		Lag []struct {
			Site    string `json:"site"`
			Objects int64  `json:"objects"`
		} `json:"lag"`
	}
	out := f.run("--json", "site", "sync", "--dry-run")
	if err := json.Unmarshal([]byte(out), &sync); err != nil {
		f.t.Fatalf("site sync --dry-run --json: %v\n%s", err, out)
	}
	for _, s := range sync.Lag {
		if s.Objects != 0 {
			f.t.Fatalf("site %s still misses %d objects after site sync", s.Site, s.Objects)
		}
	}
}

// damage flips a byte in the largest file under dir (a pack).
func damage(t *testing.T, dir string) {
	t.Helper()
	var big string
	var size int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil && fi.Size() > size {
				big, size = p, fi.Size()
			}
		}
		return nil
	})
	if big == "" {
		t.Fatalf("no file to damage under %s", dir)
	}
	os.Chmod(big, 0o644)
	b, err := os.ReadFile(big)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(big, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCrashDuringSnapshotAndPrune kills snapshot and forget --prune at
// random moments as well; every committed snapshot must survive (the
// ones a forget was asked to remove may go), listings must parse, and at
// least one round must have been killed.
func TestCrashDuringSnapshotAndPrune(t *testing.T) {
	t.Parallel() // waits on disks, daemons and links more than on CPU
	trials := 30
	if testing.Short() {
		trials = 6
	}
	f := newFixture(t)
	src := filepath.Join(f.dir, "src")
	rng := rand.New(rand.NewPCG(42, 7))
	l := newLedger("ds")
	kills := 0
	for i := 0; i < trials; i++ {
		mutate(t, src, rng, i)
		digest := treeDigest(t, src)
		op := []string{"--json", "snapshot", "ds", src, "--class", "internal"}
		mayGo := map[string]bool{}
		if i%3 == 2 {
			op = []string{"--json", "forget", "ds", "--keep-last", "2", "--prune"}
			if len(l.order) > 2 {
				for _, id := range l.order[:len(l.order)-2] {
					mayGo[id] = true
				}
			}
		}
		c := f.cmd(op...)
		var out bytes.Buffer
		c.Stdout = &out
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		// A kill at 0-600 ms: early ones land in the upload, late ones
		// may miss a fast operation (then it must have succeeded).
		delay := time.Duration(rng.IntN(600)) * time.Millisecond
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		killed := false
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("round %d %v failed without a kill: %v", i, op, err)
			}
		case <-time.After(delay):
			c.Process.Signal(syscall.SIGKILL)
			err := <-done
			// It may have finished just before the signal.
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				ws, _ := ee.Sys().(syscall.WaitStatus)
				if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
					t.Fatalf("round %d %v: %v, want killed or success", i, op, err)
				}
				killed = true
				kills++
			} else if err != nil {
				t.Fatalf("round %d %v: %v", i, op, err)
			}
		}
		if !killed {
			if op[1] == "snapshot" {
				var s snapInfo
				if err := json.Unmarshal(out.Bytes(), &s); err != nil || s.ID == "" {
					t.Fatalf("round %d: snapshot output %q: %v", i, out.String(), err)
				}
				l.add(s.ID, digest)
			} else {
				l.forgetAllBut(2)
			}
			mayGo = nil
		} else if op[1] == "snapshot" {
			// Killed after its manifest was written, the snapshot is
			// committed though it printed nothing: it is this round's.
			for id := range f.snapshots("ds") {
				if _, known := l.digest[id]; !known {
					l.add(id, digest)
				}
			}
		}
		l.check(f, fmt.Sprintf("round %d (%s, killed=%v)", i, op[1], killed), mayGo)
	}
	if kills == 0 {
		t.Fatalf("none of %d rounds was killed: the random kills tested nothing", trials)
	}
	f.run("verify", "--read-data")
	t.Logf("%d rounds, %d killed, %d committed snapshots checked at the end", trials, kills, len(l.order))
}
