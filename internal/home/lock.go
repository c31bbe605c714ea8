package home

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/digital-embassy/embassy/internal/hint"
)

// LockRequest asks for one advisory lock of the home.
type LockRequest struct {
	Name      string        // file name under locks/, e.g. "dataset-<id>"
	What      string        // what it protects, for messages: "dataset population"
	Op        string        // the operation taking it: "restore", "prune", ...
	Exclusive bool          // exclusive (prune, forget, rotate, shred) or shared (readers, snapshots)
	Wait      time.Duration // how long to retry while another process holds it (0: fail at once)
	Since     time.Time     // when the operation started, written for other processes' messages
	Refused   func()        // called once, the first time the lock is refused while waiting (tests)
}

// Lock takes an advisory lock named name in the home: shared for
// operations that may run together, exclusive for those that may not. It
// is Acquire without an operation name or retry.
func (h *Home) Lock(name string, exclusive bool) (unlock func(), err error) {
	return h.Acquire(LockRequest{Name: name, What: name, Exclusive: exclusive})
}

// Acquire takes the lock of req. The kernel drops it when the process
// dies (flock), so a kill -9 never leaves a stale lock. While it is held,
// a holder file next to it names the operation and process, so that a
// process refused the lock can say who holds it.
func (h *Home) Acquire(req LockRequest) (unlock func(), err error) {
	dir := filepath.Join(h.Dir, "locks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, lockEnvError(dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, req.Name+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, lockEnvError(dir, err)
	}
	how := unix.LOCK_SH
	if req.Exclusive {
		how = unix.LOCK_EX
	}
	var deadline <-chan time.Time
	if req.Wait > 0 {
		t := time.NewTimer(req.Wait)
		defer t.Stop()
		deadline = t.C
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, lockEnvError(dir, err)
		}
		if deadline == nil {
			f.Close()
			return nil, lockedError(dir, req)
		}
		if req.Refused != nil {
			req.Refused()
			req.Refused = nil
		}
		select {
		case <-deadline:
			f.Close()
			return nil, lockedError(dir, req)
		case <-tick.C:
		}
	}
	holder := ""
	if req.Op != "" {
		if hf, err := os.CreateTemp(dir, req.Name+"."+strconv.Itoa(os.Getpid())+".*.holder"); err == nil {
			since := ""
			if !req.Since.IsZero() {
				since = req.Since.UTC().Format(time.RFC3339)
			}
			_, _ = fmt.Fprintf(hf, "%s\n%s\n", req.Op, since)
			_ = hf.Close()
			holder = hf.Name()
		}
	}
	return func() {
		if holder != "" {
			_ = os.Remove(holder)
		}
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		_ = f.Close()
	}, nil
}

func lockEnvError(dir string, err error) error {
	return hint.Wrap(fmt.Errorf("locks folder %s: %w", dir, err),
		"the home must be writable by this user: check its permissions, its free space and that it is not mounted read-only")
}

// Holder is a live process holding a lock.
type Holder struct {
	Op    string
	PID   int
	Since string
}

// Holders lists the live holders of lock name (stale holder files of dead
// processes are removed).
func (h *Home) Holders(name string) []Holder {
	dir := filepath.Join(h.Dir, "locks")
	paths, _ := filepath.Glob(filepath.Join(dir, name+".*.holder"))
	sort.Strings(paths)
	var out []Holder
	for _, p := range paths {
		rest := strings.TrimPrefix(filepath.Base(p), name+".")
		pidText, _, _ := strings.Cut(rest, ".")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 {
			continue
		}
		if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
			_ = os.Remove(p) // the process died (kill -9) without removing it
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		op, since, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		out = append(out, Holder{Op: op, PID: pid, Since: strings.TrimSpace(since)})
	}
	return out
}

func lockedError(dir string, req LockRequest) error {
	h := &Home{Dir: filepath.Dir(dir)}
	var by []string
	for _, x := range h.Holders(req.Name) {
		s := fmt.Sprintf("%s (pid %d", x.Op, x.PID)
		if x.Since != "" {
			s += ", since " + x.Since
		}
		by = append(by, s+")")
	}
	who := "another embassy process"
	if len(by) > 0 {
		who = strings.Join(by, ", ")
	}
	what := req.What
	if what == "" {
		what = req.Name
	}
	msg := fmt.Sprintf("%s is locked by %s", what, who)
	if req.Op != "" {
		msg = fmt.Sprintf("%s cannot start: %s", req.Op, msg)
	}
	advice := "wait for it to finish and run again, or pass --retry-lock DURATION (e.g. --retry-lock 10m) to wait for it"
	if req.Wait > 0 {
		advice = fmt.Sprintf("still locked after waiting %s; wait longer with a larger --retry-lock, or check the process named above", req.Wait)
	}
	return hint.WithCode(hint.Wrap(errors.New(msg), advice), hint.CodeLocked)
}
