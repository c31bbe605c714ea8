// Package source turns what a home already records — its transparency log's
// entries and the alert files of its components — into the watcher's
// events.
package source

import (
	"strconv"

	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/watch"
)

// DetailLatency is the entry detail carrying a round trip in milliseconds
// (proofs of storage on verify entries, cosigning delay on witness entries).
const DetailLatency = "latency_ms"

// FromEntry maps one log entry to the events it stands for; entries the
// watcher does not learn from map to none.
func FromEntry(e tlog.Entry) []watch.Event {
	base := watch.Event{Time: e.Time, Site: watch.Clean(e.Site), Dataset: watch.Clean(e.Dataset), Actor: watch.Clean(e.Actor)}
	one := func(kind string) []watch.Event {
		ev := base
		ev.Kind = kind
		return []watch.Event{ev}
	}
	switch e.Kind {
	case tlog.KindSession, tlog.KindDaemonLogin:
		if e.Details[tlog.DetailInitiator] == "host" || e.Kind == tlog.KindDaemonLogin {
			return one(watch.KindSession)
		}
	case tlog.KindKeyUnwrap, tlog.KindKeyUse:
		// The home's own unwraps (one per command that opens keys) are not
		// key use at a host: they would teach the detector the operator's
		// habits instead of the host's.
		if !e.Privileged() {
			return nil
		}
		return one(watch.KindKeyUse)
	case tlog.KindRestore:
		r := one(watch.KindRestore)
		r[0].Kind = watch.KindRestore
		rd := base
		rd.Kind = watch.KindRead
		return append(r, rd)
	case tlog.KindVerify:
		if v, err := strconv.ParseFloat(e.Details[DetailLatency], 64); err == nil && e.Details["proof"] == "true" && v >= 0 && v < 1e9 {
			ev := base
			ev.Kind, ev.Value = watch.KindProof, v
			return []watch.Event{ev}
		}
		if e.Details["read_data"] == "true" {
			return one(watch.KindRead)
		}
	case tlog.KindWitnessChange:
		if v, err := strconv.ParseFloat(e.Details[DetailLatency], 64); err == nil && v >= 0 && v < 1e9 {
			ev := base
			ev.Kind, ev.Value = watch.KindCosign, v
			return []watch.Event{ev}
		}
	}
	return nil
}
