package broker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/digital-embassy/embassy/internal/tlog"
)

// Log entry kinds of the broker. A release is a key use at the workload's
// site and is cross-checked against the site's disclosures like one.
const (
	KindKeyRelease = tlog.KindKeyRelease
	KindKeyRefuse  = tlog.KindKeyRefuse
)

// Recorder appends an entry to the transparency log and returns once it is
// durable (cosigned). A release is answered only after its entry is.
type Recorder interface {
	Record(ctx context.Context, e tlog.Entry) error
}

// Gate is the vault's policy gate (internal/policy's key-release action):
// it may refuse a release the broker's own rules allow.
type Gate interface {
	AllowRelease(ctx context.Context, dataset, site string) error
}

// DurableLog is the part of *tlog.Log a TlogRecorder uses.
type DurableLog interface {
	AppendDurable(ctx context.Context, e tlog.Entry) (uint64, func(context.Context) ([]byte, error), error)
}

// TlogRecorder records to a transparency log. Record returns once the
// entry is durably sequenced; the witness quorum's cosignature of a
// checkpoint covering it is awaited in the background. While the last
// cosignature failed, releases are refused (refusals are still logged, and
// the first one cosigned again lifts the stop): a release the witnesses
// cannot see does not happen.
type TlogRecorder struct {
	l       DurableLog
	ctx     context.Context
	log     *slog.Logger
	mu      sync.Mutex
	last    error
	lastIdx uint64
	wg      sync.WaitGroup
}

// NewTlogRecorder returns a recorder over l; ctx bounds the background waits.
func NewTlogRecorder(ctx context.Context, l DurableLog, log *slog.Logger) *TlogRecorder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &TlogRecorder{l: l, ctx: ctx, log: log}
}

// Record implements Recorder.
func (r *TlogRecorder) Record(ctx context.Context, e tlog.Entry) error {
	r.mu.Lock()
	last := r.last
	r.mu.Unlock()
	if last != nil && e.Kind == KindKeyRelease {
		return fmt.Errorf("the witnesses did not cosign the last entry: %w", last)
	}
	idx, wait, err := r.l.AppendDurable(ctx, e)
	if err != nil {
		return err
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		_, err := wait(r.ctx)
		if err != nil {
			r.log.ErrorContext(r.ctx, "log entry not cosigned", "kind", e.Kind, "err", err)
		}
		r.mu.Lock()
		if idx >= r.lastIdx { // results may arrive out of order: the newest entry's counts
			r.last, r.lastIdx = err, idx
		}
		r.mu.Unlock()
	}()
	return nil
}

// Wait waits for every pending cosignature and returns the last error.
func (r *TlogRecorder) Wait() error {
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}
