package tlog

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/witness"
)

// TestWitnessRefusal: a witness whose state disagrees with the log (it was
// shown another tree) refuses; no checkpoint is published, Append fails,
// and the refusal is raised on both sides.
func TestWitnessRefusal(t *testing.T) {
	ctx := context.Background()
	te := newTestEnv(t, "home", "lu")
	l := te.openTimeout(t, 2*time.Second)
	if _, _, err := l.Append(ctx, testEntry(0)); err != nil {
		t.Fatal(err)
	}
	// Show witness lu a different tree of size 1.
	wl := te.witnesses["lu.witness.invalid"]
	st, err := wl.Latest(te.origin)
	if err != nil || st.Size != 1 {
		t.Fatalf("lu state %d %v", st.Size, err)
	}
	st.Hash[0] ^= 1
	b, _ := json.Marshal(st)
	wdir := filepath.Join(te.dir, "w-lu")
	matches, _ := filepath.Glob(filepath.Join(wdir, "state", "*.json"))
	if len(matches) != 1 {
		t.Fatal(matches)
	}
	os.WriteFile(matches[0], b, 0o600)

	_, _, err = l.Append(ctx, testEntry(1))
	if !errors.Is(err, ErrNotWitnessed) {
		t.Fatalf("append with a refusing witness: %v", err)
	}
	l.Close(ctx)
	if as, _ := witness.ReadAlerts(wdir); len(as) == 0 || as[0].Kind != "fork" {
		t.Fatalf("witness alerts %+v", as)
	}
	if as, _ := ReadAlerts(filepath.Join(te.dir, "log", AlertsFile)); len(as) == 0 || as[0].Kind != "bad-proof" {
		t.Fatalf("log alerts %+v", as)
	}
	cp, _, err := NewReader(filepath.Join(te.dir, "log"), te.policy).Checkpoint(ctx)
	if err != nil || cp.Size != 1 {
		t.Fatalf("published checkpoint moved past the refusal: %v %v", cp, err)
	}
}

// TestCrashHelper is the child of TestCrashDuringAppend: it appends until
// killed, printing "ack INDEX DATASET" after each acknowledged entry.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv("EMBASSY_TLOG_CRASH_DIR")
	if dir == "" {
		t.Skip("helper process")
	}
	te := loadTestEnv(t, dir, "home", "lu")
	l := te.open(t)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				e := testEntry(i)
				e.Dataset = fmt.Sprintf("%s-g%d-%d", os.Getenv("EMBASSY_TLOG_CRASH_ROUND"), g, i)
				idx, _, err := l.Append(context.Background(), e)
				if err != nil {
					fmt.Println("error", err)
					return
				}
				mu.Lock()
				fmt.Printf("ack %d %s\n", idx, e.Dataset)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestCrashDuringAppend kills -9 a process in the middle of appends, twice,
// and checks that every acknowledged entry is in the log, at its index,
// after the log is reopened.
func TestCrashDuringAppend(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	dir := t.TempDir()
	te := loadTestEnv(t, dir, "home", "lu")
	acked := map[uint64]string{}
	for round := 0; round < 2; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.v")
		cmd.Env = append(os.Environ(), "EMBASSY_TLOG_CRASH_DIR="+dir, fmt.Sprintf("EMBASSY_TLOG_CRASH_ROUND=r%d", round))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		n := 0
		for sc.Scan() && n < 400 {
			f := strings.Fields(sc.Text())
			if len(f) == 3 && f[0] == "ack" {
				var idx uint64
				fmt.Sscan(f[1], &idx)
				acked[idx] = f[2]
				n++
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		for sc.Scan() { // acks printed before the kill landed
			if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "ack" {
				var idx uint64
				fmt.Sscan(f[1], &idx)
				acked[idx] = f[2]
			}
		}
		cmd.Wait()
		if n < 400 {
			t.Fatalf("round %d: child stopped after %d acks", round, n)
		}
	}
	// Reopen (recovery publishes whatever was integrated), then check.
	ctx := context.Background()
	l := te.open(t)
	if _, _, err := l.Append(ctx, testEntry(0)); err != nil {
		t.Fatal(err)
	}
	l.Close(ctx)
	r := NewReader(filepath.Join(dir, "log"), te.policy)
	if _, err := r.Check(ctx); err != nil {
		t.Fatal(err)
	}
	cp, ents, err := r.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for idx, ds := range acked {
		if idx >= cp.Size || ents[idx].Dataset != ds {
			t.Fatalf("acknowledged entry %d (%s) is missing after the crash", idx, ds)
		}
	}
	t.Logf("%d acknowledged entries survived two kill -9; log size %d", len(acked), cp.Size)
}
