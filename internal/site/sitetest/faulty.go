package sitetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/digital-embassy/embassy/internal/site"
)

// Op selects backend operations; values combine with |.
type Op uint8

const (
	OpPut Op = 1 << iota
	OpGet
	OpStat
	OpList
	OpDelete
	OpAll = OpPut | OpGet | OpStat | OpList | OpDelete
)

// ErrInjected is the default error of a Fault. It is not permanent, so
// retrying decorators retry it.
var ErrInjected = errors.New("sitetest: injected fault")

// Fault describes errors that Faulty injects.
type Fault struct {
	Ops   Op                     // operations affected; zero means OpAll
	Match func(site.Handle) bool // handles affected; nil means all (List has the zero Handle of its kind)
	Nth   int                    // fail only the Nth matching call (1-based)
	Every int                    // fail every Every-th matching call; with Nth also 0, fail all
	Err   error                  // the error; nil means ErrInjected
	After bool                   // run the call first, then fail: a lost reply
}

type fault struct {
	Fault
	seen int
}

// Faulty wraps a Backend and injects errors, corruption and loss, for tests
// of code built on sites. Its methods are safe for concurrent use.
type Faulty struct {
	site.Backend
	mu      sync.Mutex
	faults  []*fault
	corrupt func(site.Handle) bool
	drop    func(site.Handle) bool
	calls   map[Op]int
}

// NewFaulty returns a Faulty around b that injects nothing until told to.
func NewFaulty(b site.Backend) *Faulty { return &Faulty{Backend: b, calls: map[Op]int{}} }

// Unwrap returns the wrapped backend.
func (f *Faulty) Unwrap() site.Backend { return f.Backend }

// Inject adds a fault, counting its Nth from now.
func (f *Faulty) Inject(fl Fault) {
	if fl.Ops == 0 {
		fl.Ops = OpAll
	}
	if fl.Err == nil {
		fl.Err = ErrInjected
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &fault{Fault: fl})
}

// Corrupt makes every Get of a matching handle return its data with the
// first byte of the range flipped (nil stops corrupting).
func (f *Faulty) Corrupt(match func(site.Handle) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.corrupt = match
}

// Drop makes matching objects vanish: Put reports success but stores
// nothing, Get, Stat and Delete report ErrNotFound, List skips them
// (nil stops dropping). The wrapped backend keeps what it already had.
func (f *Faulty) Drop(match func(site.Handle) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drop = match
}

// Clear removes all faults, corruption and drops; call counts stay.
func (f *Faulty) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults, f.corrupt, f.drop = nil, nil, nil
}

// Calls returns how many calls of the ops in op have been made.
func (f *Faulty) Calls(op Op) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for o, c := range f.calls {
		if o&op != 0 {
			n += c
		}
	}
	return n
}

// check counts a call and returns the errors to inject before and after it.
func (f *Faulty) check(op Op, h site.Handle) (before, after error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	for _, fl := range f.faults {
		if fl.Ops&op == 0 || fl.Match != nil && !fl.Match(h) {
			continue
		}
		fl.seen++
		if fl.Nth != 0 && fl.seen != fl.Nth || fl.Every != 0 && fl.seen%fl.Every != 0 {
			continue
		}
		err := fmt.Errorf("%v %v: %w", opName(op), h, fl.Err)
		if fl.After {
			after = err
		} else if before == nil {
			before = err
		}
	}
	return before, after
}

func (f *Faulty) dropped(h site.Handle) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.drop != nil && f.drop(h)
}

func (f *Faulty) corrupted(h site.Handle) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.corrupt != nil && f.corrupt(h)
}

func opName(op Op) string {
	switch op {
	case OpPut:
		return "put"
	case OpGet:
		return "get"
	case OpStat:
		return "stat"
	case OpList:
		return "list"
	case OpDelete:
		return "delete"
	}
	return fmt.Sprintf("op(%d)", op)
}

func (f *Faulty) Put(ctx context.Context, h site.Handle, p site.Payload, opts site.PutOptions) error {
	before, after := f.check(OpPut, h)
	if before != nil {
		return before
	}
	if f.dropped(h) {
		return after
	}
	if err := f.Backend.Put(ctx, h, p, opts); err != nil {
		return err
	}
	return after
}

func (f *Faulty) Get(ctx context.Context, h site.Handle, off, n int64, fn func(io.Reader) error) error {
	before, after := f.check(OpGet, h)
	if before != nil {
		return before
	}
	if f.dropped(h) {
		return fmt.Errorf("get %v: %w", h, site.ErrNotFound)
	}
	if f.corrupted(h) {
		inner := fn
		fn = func(r io.Reader) error { return inner(&flipReader{r: r}) }
	}
	if err := f.Backend.Get(ctx, h, off, n, fn); err != nil {
		return err
	}
	return after
}

func (f *Faulty) Stat(ctx context.Context, h site.Handle) (site.Info, error) {
	before, after := f.check(OpStat, h)
	if before != nil {
		return site.Info{}, before
	}
	if f.dropped(h) {
		return site.Info{}, fmt.Errorf("stat %v: %w", h, site.ErrNotFound)
	}
	fi, err := f.Backend.Stat(ctx, h)
	if err != nil {
		return fi, err
	}
	return fi, after
}

func (f *Faulty) List(ctx context.Context, k site.Kind, fn func(site.Info) error) error {
	before, after := f.check(OpList, site.Handle{Kind: k})
	if before != nil {
		return before
	}
	err := f.Backend.List(ctx, k, func(fi site.Info) error {
		if f.dropped(fi.Handle) {
			return nil
		}
		return fn(fi)
	})
	if err != nil {
		return err
	}
	return after
}

func (f *Faulty) Delete(ctx context.Context, h site.Handle) error {
	before, after := f.check(OpDelete, h)
	if before != nil {
		return before
	}
	if f.dropped(h) {
		return fmt.Errorf("delete %v: %w", h, site.ErrNotFound)
	}
	if err := f.Backend.Delete(ctx, h); err != nil {
		return err
	}
	return after
}

// flipReader flips the lowest bit of the first byte it returns.
type flipReader struct {
	r    io.Reader
	done bool
}

func (f *flipReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if n > 0 && !f.done {
		p[0] ^= 1
		f.done = true
	}
	return n, err
}

var _ site.Backend = (*Faulty)(nil)
