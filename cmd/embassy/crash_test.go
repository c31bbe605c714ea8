package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
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
func mutate(t *testing.T, src string, rng *rand.Rand, i int) {
	os.MkdirAll(filepath.Join(src, fmt.Sprintf("d%d", i%4)), 0o755)
	for j := 0; j < 6; j++ {
		n := 50_000 + rng.IntN(3<<20)
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
	ID string `json:"id"`
}

func TestCrashDuringSnapshotAndPrune(t *testing.T) {
	trials := 30
	if testing.Short() {
		trials = 6
	}
	f := newFixture(t)
	src := filepath.Join(f.dir, "src")
	rng := rand.New(rand.NewPCG(42, 7))
	committed := map[string]string{} // snapshot id -> digest of the source at that time
	kills := 0
	for i := 0; i < trials; i++ {
		mutate(t, src, rng, i)
		digest := treeDigest(t, src)
		op := []string{"--json", "snapshot", "ds", src, "--class", "internal"}
		if i%3 == 2 {
			op = []string{"--json", "forget", "ds", "--keep-last", "2", "--prune"}
		}
		c := f.cmd(op...)
		var out bytes.Buffer
		c.Stdout = &out
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
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
			<-done
			killed = true
			kills++
		}
		if !killed && op[1] == "snapshot" {
			var s snapInfo
			if err := json.Unmarshal(out.Bytes(), &s); err != nil {
				t.Fatalf("round %d: snapshot output %q", i, out.String())
			}
			committed[s.ID] = digest
		}
		// Every committed snapshot that is still listed must restore exactly;
		// forget may have removed some on purpose.
		var listed []snapInfo
		json.Unmarshal([]byte(f.run("--json", "snapshots", "ds")), &listed)
		present := map[string]bool{}
		for _, s := range listed {
			present[s.ID] = true
		}
		for id, want := range committed {
			if !present[id] {
				if op[1] == "snapshot" && killed {
					// a killed snapshot never removes others
					t.Fatalf("round %d: committed snapshot %s vanished after a killed snapshot", i, id[:8])
				}
				delete(committed, id)
				continue
			}
			target := filepath.Join(f.dir, fmt.Sprintf("r%d-%s", i, id[:8]))
			f.run("restore", "ds@"+id, "--target", target)
			if got := treeDigest(t, target); got != want {
				t.Fatalf("round %d: snapshot %s restores differently after kill=%v of %v", i, id[:8], killed, op)
			}
			os.RemoveAll(target)
		}
	}
	f.run("verify", "--read-data")
	t.Logf("%d rounds, %d killed, %d committed snapshots checked at the end", trials, kills, len(committed))
}
