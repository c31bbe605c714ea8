package vault

import (
	"context"
	"fmt"
	"strconv"

	"github.com/digital-embassy/embassy/internal/crashpoint"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// Unwrap purposes, recorded in a key.unwrap entry's "purpose" detail.
const (
	UnwrapUse   = "use"   // the key was unwrapped for the operation
	UnwrapCheck = "check" // unwrapped only to tell the home's own uncommitted record from a planted one
)

// UnwrapEntries are the key.unwrap entries of unwrapped dataset key
// records (framework requirement 12: a key-usage log for every unwrap).
// They name the dataset by id, the key by version and epoch, and the site
// the wrapped record came from; the home initiated them, so they need no
// access disclosure.
func UnwrapEntries(us []repo.Unwrap) []tlog.Entry {
	out := make([]tlog.Entry, 0, len(us))
	for _, u := range us {
		purpose := UnwrapUse
		if !u.Used {
			purpose = UnwrapCheck
		}
		out = append(out, tlog.Entry{Kind: tlog.KindKeyUnwrap, Dataset: u.Dataset, Site: u.Site,
			Object:  fmt.Sprintf("v%06d.e%08d", u.Version, u.Epoch),
			Details: map[string]string{tlog.DetailInitiator: "home", "purpose": purpose, "epoch": strconv.FormatUint(uint64(u.Epoch), 10)}})
	}
	return out
}

// recordUnwraps is the repository's OnUnwrap hook. The entries are
// stamped now and written to the pending journal (pending.go) before the
// keys are returned to the operation; they go into the log with the next
// append, the operation's own entries or a later command's, in one
// witnessed batch. Whoever runs an operation that opens keys leaves the
// trace. A home whose journal cannot be written (full, read-only) keeps
// them in memory and tries the log when the command ends (Flush).
func (v *Vault) recordUnwraps(ctx context.Context, us []repo.Unwrap) {
	v.log.InfoContext(ctx, "dataset keys unwrapped", "count", len(us))
	ents := UnwrapEntries(us)
	now := v.Now()
	rc := v.Recorder()
	run := rc.runID()
	for i := range ents {
		ents[i].Time = now
		ents[i].Details[DetailRun] = run
	}
	err := rc.journal(ents)
	if err == nil {
		crashpoint.Hit("vault.unwrap.journaled")
		return
	}
	v.log.DebugContext(ctx, "pending key.unwrap journal not written; unwraps kept in memory for Flush", "err", err)
	rc.pendMu.Lock()
	rc.pending = append(rc.pending, ents...)
	rc.pendMu.Unlock()
}

// Flush writes the key.unwrap entries that could not be journaled (a
// full or read-only home) to the log. Entry points call it when a command
// ends; with a writable home it has nothing to do (the journal waits for
// the next append). A log that cannot be written either is reported on
// stderr but does not change the command's outcome: reading must keep
// working when the home's disk is full; the note names how many unwraps
// went unrecorded.
func (v *Vault) Flush(ctx context.Context) {
	rc := v.Recorder()
	rc.pendMu.Lock()
	n := len(rc.pending)
	rc.pendMu.Unlock()
	if n == 0 {
		return
	}
	if err := rc.Append(ctx); err != nil {
		rc.pendMu.Lock()
		said := rc.noted == n
		rc.noted = n
		rc.pendMu.Unlock()
		if !said {
			v.notef("%d dataset key unwraps were not recorded in the transparency log: %v", n, err)
		}
	}
}

func (rc *Recorder) takePending() []tlog.Entry {
	rc.pendMu.Lock()
	defer rc.pendMu.Unlock()
	p := rc.pending
	rc.pending = nil
	return p
}

// putBack queues entries ahead of any queued later.
func (rc *Recorder) putBack(ents []tlog.Entry) {
	if len(ents) == 0 {
		return
	}
	rc.pendMu.Lock()
	defer rc.pendMu.Unlock()
	rc.pending = append(append([]tlog.Entry(nil), ents...), rc.pending...)
}
