package cli

import (
	"fmt"
	"sync/atomic"

	"github.com/digital-embassy/embassy/internal/vault"
)

// quickstartBar is the progress bar of the quickstart's current step, if
// any.
type quickstartBar struct{ b *bar }

func (q *quickstartBar) done() {
	if q.b != nil {
		q.b.done()
	}
}

// quickstartSteps sets req's Step and VerifyProgress to print each step of
// 'embassy quickstart' as vault.Quickstart reaches it, with a progress bar
// for the snapshot, verify and restore steps; the bar is returned so the
// command can close it when the run stops early.
func (e *env) quickstartSteps(req *vault.QuickstartRequest) *quickstartBar {
	say := func(format string, a ...any) { e.printf(format+"\n", a...) }
	dir := req.Dir
	q := &quickstartBar{}
	var done, total atomic.Int64
	req.VerifyProgress = func(d, t int64) { done.Store(d); total.Store(t) }
	req.Step = func(step vault.QuickstartStep, r *vault.QuickstartResult) {
		switch step {
		case vault.QuickstartReused:
			say("Reusing the quickstart home in %s.", dir)
		case vault.QuickstartCustodians:
			say("1. Creating three custodians (hybrid post-quantum age identities, ML-KEM-768 + X25519)")
		case vault.QuickstartCustodianReady:
			c := r.Custodians[len(r.Custodians)-1]
			say("   %-6s %s", c.Name, c.File)
		case vault.QuickstartInit:
			say("2. Creating the home with a root key split 2-of-3 among them")
		case vault.QuickstartSites:
			say("3. Two storage sites standing for embassies abroad:")
		case vault.QuickstartSiteReady:
			s := r.Sites[len(r.Sites)-1]
			say("   %-5s %s (%s, %.0f km from Tallinn)  %s", s.Name, s.Jurisdiction, s.City, s.DistanceKm, s.Path)
		case vault.QuickstartSample:
			st := r.Sample
			say("4. Generated a synthetic national registry: %d population rows, %d scanned documents, %d files, %s", st.Rows, st.Documents, st.Files, humanBytes(st.Bytes))
		case vault.QuickstartSnapshotBegin:
			q.b = e.newBar("snapshot", func() (int64, int64) {
				return req.SnapshotProgress.Bytes.Load(), req.SnapshotProgress.TotalBytes.Load()
			})
		case vault.QuickstartSnapshotDone:
			q.done()
			res := r.Snapshot
			e.snapshotNotices(res, r.Repo)
			st := res.Stats
			say("5. Snapshot %s of dataset %s (class %s) written to both sites:", res.ID.Short(), vault.QuickstartDataset, vault.QuickstartClass)
			say("   %s of new data stored as %s after deduplication, compression and sealing, in %.1fs", humanBytes(st.NewRaw), humanBytes(st.NewStored), st.DurationSec)
		case vault.QuickstartVerifyBegin:
			q.b = e.newBar("verify", func() (int64, int64) { return done.Load(), total.Load() })
		case vault.QuickstartVerified:
			q.done()
			say("6. Verified every object at both sites: hashes, signatures and authenticated encryption all check out")
		case vault.QuickstartRestoreBegin:
			q.b = e.newBar("restore", func() (int64, int64) { return req.RestoreProgress.Bytes.Load(), req.RestoreProgress.TotalBytes.Load() })
		case vault.QuickstartRestored:
			q.done()
			e.noteDenied(r.Restore.Denied)
			e.reportSites(r.Repo)
			for _, n := range r.Restore.Stats.Notes {
				fmt.Fprintf(e.stderr, "embassy: note: %s\n", n)
			}
			say("7. Restored into %s and compared: %d files identical byte for byte, with modes and times", r.Target, r.Identical)
		case vault.QuickstartLogged:
			say("8. Every step is in the home's transparency log: %d entries, each checkpoint cosigned by the home's Ed25519 and ML-DSA-44 witnesses", r.LogEntries)
		}
	}
	return q
}
