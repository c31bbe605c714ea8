package vault

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/repo"
)

// The lock holder runs in a separate process: the test binary re-executed
// with EMBASSY_TEST_HOLD=op:homedir. It takes the dataset lock for op,
// prints "held" and keeps it until its stdin closes.
func TestMain(m *testing.M) {
	if v := os.Getenv("EMBASSY_TEST_HOLD"); v != "" {
		op, dir, _ := strings.Cut(v, ":")
		vt := New(&home.Home{Dir: dir}, Options{})
		unlock, err := vt.LockDataset(context.Background(), Op(op), testDataset)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("held")
		_, _ = io.Copy(io.Discard, os.Stdin)
		unlock()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var testDataset = &repo.DatasetKeys{Name: "population", ID: "d0123456789abcdef"}

// hold starts a process holding the dataset lock for op; closing the
// returned writer releases it.
func hold(t *testing.T, dir string, op Op) (release func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "EMBASSY_TEST_HOLD="+string(op)+":"+dir)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "held" {
		_ = in.Close()
		_ = cmd.Wait()
		t.Fatalf("holder of %s: %q", op, line)
	}
	return func() {
		_ = in.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("holder of %s: %v", op, err)
		}
	}
}

// TestLockMatrix runs every pair of operations: a real process holds the
// first, this one asks for the second. They may run together exactly when
// neither is exclusive; a refusal is the locked exit code and names the
// operation and process holding the lock.
func TestLockMatrix(t *testing.T) {
	dir := t.TempDir()
	v := New(&home.Home{Dir: dir}, Options{})
	ctx := context.Background()
	for _, held := range Ops {
		release := hold(t, dir, held)
		for _, want := range Ops {
			unlock, err := v.LockDataset(ctx, want, testDataset)
			conflict := Exclusive[held] || Exclusive[want]
			switch {
			case conflict && err == nil:
				unlock()
				t.Errorf("%s ran while another process held %s", want, held)
			case !conflict && err != nil:
				t.Errorf("%s refused while another process held %s: %v", want, held, err)
			case err != nil:
				if hint.CodeOf(err) != hint.CodeLocked {
					t.Errorf("%s vs %s: code %v, want locked", want, held, hint.CodeOf(err))
				}
				wantMsg := fmt.Sprintf("%s cannot start: dataset population is locked by %s (pid ", want, held)
				if !strings.HasPrefix(err.Error(), wantMsg) {
					t.Errorf("%s vs %s: %q, want it to start %q", want, held, err, wantMsg)
				}
				if h := hint.Of(err); !strings.Contains(h, "--retry-lock") {
					t.Errorf("%s vs %s: hint %q does not offer --retry-lock", want, held, h)
				}
			default:
				unlock()
			}
		}
		release()
	}
}

// TestRetryLockWaits: with RetryLock, an operation refused at first takes
// the lock once the holder lets go. The holder is released only after the
// waiter has been refused once (seen through the attempt hook), so the
// wait is real and no sleep orders the two.
func TestRetryLockWaits(t *testing.T) {
	dir := t.TempDir()
	release := hold(t, dir, OpPrune)
	v := New(&home.Home{Dir: dir}, Options{RetryLock: time.Minute})
	first := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		unlock, err := v.Home.Acquire(home.LockRequest{Name: "dataset-" + testDataset.ID, Op: string(OpRestore),
			Wait: time.Minute, Refused: func() { close(first) }})
		if err == nil {
			unlock()
		}
		done <- err
	}()
	<-first
	release()
	if err := <-done; err != nil {
		t.Fatalf("restore after prune finished: %v", err)
	}
	// without waiting, a held lock is refused at once
	release = hold(t, dir, OpPrune)
	defer release()
	_, err := New(&home.Home{Dir: dir}, Options{}).LockDataset(context.Background(), OpRestore, testDataset)
	if err == nil || hint.CodeOf(err) != hint.CodeLocked {
		t.Fatalf("restore during prune: %v", err)
	}
}
