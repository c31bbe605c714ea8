package main

import (
	"bytes"
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

	"github.com/digital-embassy/embassy/internal/home"
)

// exitCode runs c to completion and returns its exit code.
func exitCode(t *testing.T, c *exec.Cmd) int {
	t.Helper()
	err := c.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatal(err)
	return -1
}

// writeRandom writes n files of size bytes of incompressible data under dir.
func writeRandom(t *testing.T, dir string, n, size int, seed uint64) {
	t.Helper()
	rng := rand.NewChaCha8([32]byte{byte(seed)})
	for i := 0; i < n; i++ {
		b := make([]byte, size)
		rng.Read(b)
		p := filepath.Join(dir, fmt.Sprintf("d%d", i%3), fmt.Sprintf("f%03d.bin", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestInterruptSnapshot sends SIGINT (Ctrl-C) to a snapshot in progress:
// it exits 130 with a message, and a re-run completes and restores exactly.
func TestInterruptSnapshot(t *testing.T) {
	f := newFixture(t)
	h, err := home.Open(f.home)
	if err != nil {
		t.Fatal(err)
	}
	h.Config.PackSizeMiB = 1 // uploads start at once
	if err := h.Save(); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(f.dir, "src")
	writeRandom(t, src, 48, 1<<20, 1)
	want := treeDigest(t, src)

	c := f.cmd("snapshot", "ds", src, "--class", "internal")
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the first pack is at a site: the snapshot is under way.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var packs int
		filepath.WalkDir(filepath.Join(f.dir, "site-a", "data"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".") {
				packs++
			}
			return nil
		})
		if packs > 0 {
			break
		}
		if time.Now().After(deadline) {
			c.Process.Kill()
			t.Fatal("no pack appeared within a minute")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := c.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(t, c); code != 130 {
		t.Fatalf("interrupted snapshot: exit %d, want 130\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	wantRun(t, "interrupted snapshot", runResult{130, stdout.String(), stderr.String()}, 130, nil,
		lines{"embassy: interrupted; everything committed before the interruption is intact"})
	if out := f.run("--json", "snapshots", "ds"); strings.TrimSpace(out) != "[]" {
		t.Errorf("an interrupted snapshot was committed: %s", out)
	}
	// The re-run completes, and the snapshot restores byte-exact.
	f.run("snapshot", "ds", src, "--class", "internal")
	target := filepath.Join(f.dir, "restore")
	f.run("restore", "ds", "--target", target)
	if got := treeDigest(t, target); got != want {
		t.Fatal("snapshot taken after an interruption restores differently")
	}
	f.run("verify", "--read-data")
}

// TestUnreadableSourceFile snapshots a folder with a file the process may
// not read: the snapshot completes without it, warns, and exits 3. Root
// reads everything, so as root the binary runs as nobody.
func TestUnreadableSourceFile(t *testing.T) {
	f := newFixture(t)
	src := filepath.Join(f.dir, "src")
	writeRandom(t, src, 3, 100_000, 2)
	secret := filepath.Join(src, "d1", "secret.bin")
	os.WriteFile(secret, []byte("not for you"), 0o000)
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		const nobody = 65534
		cred = &syscall.Credential{Uid: nobody, Gid: nobody}
		for _, d := range []string{filepath.Dir(f.dir), filepath.Dir(bin)} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		err := filepath.WalkDir(f.dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, nobody, nobody)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	runAs := func(args ...string) (int, string, string) {
		c := f.cmd(args...)
		c.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		var stdout, stderr bytes.Buffer
		c.Stdout, c.Stderr = &stdout, &stderr
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		return exitCode(t, c), stdout.String(), stderr.String()
	}
	code, stdout, stderr := runAs("snapshot", "ds", src, "--class", "internal")
	wantRun(t, "snapshot with an unreadable file", runResult{code, stdout, stderr}.masked(f.dir, "DIR"), 3, lines{
		rx(`snapshot [0-9a-f]{8} of ds saved`),
		rx(`  3 files, 3 dirs, \d+\.\d KiB read \(0 unchanged files reused\)`),
		rx(`  7 new blobs, \d+\.\d KiB new data stored as \d+\.\d KiB, in \d+\.\ds`),
		"  written to a, b",
	}, lines{"embassy: warning: not in snapshot: DIR/src/d1/secret.bin: open DIR/src/d1/secret.bin: permission denied"})
	// Everything else restores; the unreadable file is absent, not empty.
	target := filepath.Join(f.dir, "restore")
	if code, _, stderr := runAs("restore", "ds", "--target", target); code != 0 {
		t.Fatalf("restore: exit %d: %s", code, stderr)
	}
	if _, err := os.Lstat(filepath.Join(target, "d1", "secret.bin")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("unreadable file in the restore: %v", err)
	}
	os.Remove(secret)
	if treeDigest(t, src) != treeDigest(t, target) {
		t.Error("restore differs from the readable sources")
	}
}
