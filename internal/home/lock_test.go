package home

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
)

// A holder file left by a process killed with kill -9 names no one: it is
// removed, and the lock itself (flock) was released by the kernel.
func TestStaleHolderIgnored(t *testing.T) {
	h := &Home{Dir: t.TempDir()}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("no 'true' to get a dead pid: %v", err)
	}
	dead := cmd.Process.Pid
	dir := filepath.Join(h.Dir, "locks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "dataset-x."+strconv.Itoa(dead)+".1.holder")
	if err := os.WriteFile(stale, []byte("prune\n2026-11-25T10:00:00Z\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if hs := h.Holders("dataset-x"); len(hs) != 0 {
		t.Fatalf("holders %+v: a dead process holds nothing", hs)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale holder file kept: %v", err)
	}
	unlock, err := h.Acquire(LockRequest{Name: "dataset-x", Op: "prune", Exclusive: true, Since: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	hs := h.Holders("dataset-x")
	if len(hs) != 1 || hs[0].Op != "prune" || hs[0].PID != os.Getpid() || hs[0].Since != "2026-11-25T10:00:00Z" {
		t.Errorf("holders while held: %+v", hs)
	}
	// the same process asking again through another descriptor is refused, named
	_, err = h.Acquire(LockRequest{Name: "dataset-x", What: "dataset x", Op: "restore"})
	if hint.CodeOf(err) != hint.CodeLocked || !strings.Contains(err.Error(), "restore cannot start: dataset x is locked by prune (pid "+strconv.Itoa(os.Getpid())+", since 2026-11-25T10:00:00Z)") {
		t.Errorf("second lock: %v", err)
	}
	unlock()
	if hs := h.Holders("dataset-x"); len(hs) != 0 {
		t.Errorf("holders after unlock: %+v", hs)
	}
}
