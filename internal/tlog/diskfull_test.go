package tlog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDiskFull puts the POSIX log on a 1 MiB tmpfs and appends until the
// disk is full: the failing append names the lack of space, and every
// entry acknowledged before is still there and verifies, both in a copy of
// the full disk and after the tmpfs is remounted bigger and the log reopened.
// Needs root (mount); skipped otherwise.
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a tmpfs")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	te := newTestEnv(t, "home", "lu") // keys and witnesses stay on the normal disk
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	dir := filepath.Join(mnt, "log")
	open := func() *Log {
		s, _, err := LoadOrCreateKey(te.dir, te.origin)
		if err != nil {
			t.Fatal(err)
		}
		l, err := Open(context.Background(), dir, Options{Signer: s, Policy: te.policy, Local: te.local,
			PublishTimeout: 10 * time.Second, WitnessTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	ctx := context.Background()
	l := open()
	acked := map[uint64]string{}
	var full error
	var mu sync.Mutex
	for round := 0; full == nil && round < 1000; round++ {
		var wg sync.WaitGroup
		for g := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e := testEntry(g)
				e.Dataset = fmt.Sprintf("r%d-g%d", round, g)
				idx, _, err := l.Append(ctx, e)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if full == nil {
						full = err
					}
					return
				}
				acked[idx] = e.Dataset
			}()
		}
		wg.Wait()
	}
	if full == nil {
		t.Fatal("1 MiB never filled up")
	}
	if !errors.Is(full, ErrStorageFull) || !strings.Contains(full.Error(), "no space left on device") {
		t.Fatalf("the failing append does not say the disk is full: %v", full)
	}
	t.Logf("%d entries acknowledged, then: %v", len(acked), full)
	l.Close(ctx)

	verify := func(logDir string) uint64 {
		t.Helper()
		r := NewReader(logDir, te.policy)
		if _, err := r.Check(ctx); err != nil {
			t.Fatal(err)
		}
		cp, ents, err := r.All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for idx, ds := range acked {
			if idx >= cp.Size || ents[idx].Dataset != ds {
				t.Fatalf("acknowledged entry %d (%s) is missing", idx, ds)
			}
		}
		if _, _, err := VerifyReceipt(must(r.Receipt(ctx, cp.Size-1)), te.policy); err != nil {
			t.Fatal(err)
		}
		return cp.Size
	}
	// A copy of the full disk, as an operator would take it.
	cp := filepath.Join(t.TempDir(), "log")
	if out, err := exec.Command("cp", "-a", dir, cp).CombinedOutput(); err != nil {
		t.Fatalf("copy: %v %s", err, out)
	}
	verify(cp)

	// Give the disk room: the log reopens and carries on.
	if out, err := exec.Command("mount", "-o", "remount,size=16m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v %s", err, out)
	}
	l = open()
	idx, _, err := l.Append(ctx, testEntry(9999))
	if err != nil {
		t.Fatalf("append after remounting bigger: %v", err)
	}
	acked[idx] = testEntry(9999).Dataset
	l.Close(ctx)
	if size := verify(dir); size != idx+1 {
		t.Fatalf("size %d after one more append at %d", size, idx)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
