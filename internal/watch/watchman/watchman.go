// Package watchman runs one watch cycle over a home: it replays the
// transparency log through the anomaly detector (the log is the detector's
// memory, so it keeps learning across runs without a state of its own to
// forge), adds the conditions other components already raise (replication
// lag past RPO, disclosure cross-check alerts, witness refusals), and hands
// what is new since the last cycle to the notifier and the log.
package watchman

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/watch"
	"github.com/digital-embassy/embassy/internal/watch/source"
)

// LogKind is the transparency-log entry kind of a watcher alert.
const LogKind = tlog.KindAlert

// Condition kinds (raised by other components, forwarded by the watcher).
const (
	CondLagPastRPO        = "lag-past-rpo"
	CondUndisclosedAccess = "undisclosed-access" // a privileged event no disclosure explains
	CondUnmatchedSession  = "unmatched-host-session"
	CondUndisclosedKeyUse = "undisclosed-key-use"
	CondAgreementExpiry   = "agreement-near-expiry"
	CondLateDisclosure    = "disclosure-overdue"
	CondUnexpectedReason  = "unexpected-reason"
	CondWitness           = "witness-refusal"
)

// State is what a home's watcher remembers between cycles:
// <home>/watch/state.json.
type State struct {
	LogSize    uint64    `json:"log_size"`    // entries already watched
	AlertLines int64     `json:"alert_lines"` // protect alerts already forwarded
	WitnessAt  time.Time `json:"witness_at"`  // witness alerts forwarded up to
	Disclosure []string  `json:"disclosures"` // disclosure alerts already forwarded (kind|index)
	Expiry     []string  `json:"expiry"`      // agreement expiries already warned of (id|date)
	Updated    time.Time `json:"updated"`
}

// Input is one cycle's view of the home.
type Input struct {
	Entries     []tlog.Indexed
	Disclosures []tlog.Alert
	// ProtectAlerts is <home>/alerts.jsonl; WitnessAlerts the log's
	// witness-refusal alerts.
	ProtectAlerts string
	WitnessAlerts []witnessAlert
	// Agreements maps each installed agreement to the end of its term;
	// ExpiryNotice is how long before it the watcher warns (default 60 days).
	Agreements   map[string]time.Time
	ExpiryNotice time.Duration
	Now          time.Time
	Config       watch.Config
}

type witnessAlert struct {
	Time    time.Time
	Kind    string
	Message string
}

// WitnessAlert adapts one witness alert.
func WitnessAlert(t time.Time, kind, msg string) witnessAlert {
	return witnessAlert{Time: t, Kind: kind, Message: msg}
}

// Cycle computes the alerts that are new since st, and the next state.
func Cycle(in Input, st State) ([]watch.Alert, State, error) {
	d := watch.New(in.Config)
	var fresh []watch.Alert
	next := st
	for _, x := range in.Entries {
		if x.Kind == LogKind {
			continue // the watcher's own alerts teach it nothing
		}
		for _, ev := range source.FromEntry(x.Entry) {
			as := d.Observe(ev)
			if x.Index >= st.LogSize {
				fresh = append(fresh, as...)
			}
		}
		if x.Index+1 > next.LogSize {
			next.LogSize = x.Index + 1
		}
	}
	byIndex := map[uint64]string{}
	for _, x := range in.Entries {
		byIndex[x.Index] = x.Kind
	}
	seen := map[string]bool{}
	for _, k := range st.Disclosure {
		seen[k] = true
	}
	for _, a := range in.Disclosures {
		key := a.Kind + "|" + strconv.FormatUint(a.Index, 10)
		if seen[key] {
			continue
		}
		kind := disclosureKind(a, byIndex)
		fresh = append(fresh, watch.Alert{Time: a.Time, Kind: kind, Site: watch.Clean(a.Site), Why: watch.Clean(a.Message), Unit: "log entry", Observed: float64(a.Index)})
		next.Disclosure = append(next.Disclosure, key)
	}
	if len(next.Disclosure) > 10000 {
		next.Disclosure = next.Disclosure[len(next.Disclosure)-10000:]
	}
	if in.ProtectAlerts != "" {
		n, as, err := protectAlerts(in.ProtectAlerts, st.AlertLines)
		if err != nil {
			return nil, st, err
		}
		fresh = append(fresh, as...)
		next.AlertLines = n
	}
	notice := in.ExpiryNotice
	if notice == 0 {
		notice = 60 * 24 * time.Hour
	}
	warned := map[string]bool{}
	for _, k := range st.Expiry {
		warned[k] = true
	}
	for _, id := range sortedIDs(in.Agreements) {
		end := in.Agreements[id]
		left := end.Sub(in.Now)
		key := id + "|" + end.UTC().Format("2006-01-02")
		if end.IsZero() || left > notice || warned[key] {
			continue
		}
		why := fmt.Sprintf("agreement %s ends on %s, in %d days", watch.Clean(id), end.UTC().Format("2006-01-02"), int(left.Hours()/24))
		if left <= 0 {
			why = fmt.Sprintf("agreement %s ended on %s: writes to its sites are refused", watch.Clean(id), end.UTC().Format("2006-01-02"))
		}
		fresh = append(fresh, watch.Alert{Time: in.Now, Kind: CondAgreementExpiry, Why: why, Baseline: notice.Hours() / 24, Observed: math.Round(left.Hours() / 24), Unit: "days left"})
		next.Expiry = append(next.Expiry, key)
	}
	for _, w := range in.WitnessAlerts {
		if !w.Time.After(st.WitnessAt) {
			continue
		}
		fresh = append(fresh, watch.Alert{Time: w.Time, Kind: CondWitness, Why: watch.Clean(w.Kind + ": " + w.Message), Unit: "refusal"})
		if w.Time.After(next.WitnessAt) {
			next.WitnessAt = w.Time
		}
	}
	return fresh, next, nil
}

// protectAlerts forwards the firing RPO alerts past line skip.
func protectAlerts(path string, skip int64) (int64, []watch.Alert, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return skip, nil, nil
	}
	if err != nil {
		return skip, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 256<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var n int64
	var out []watch.Alert
	for sc.Scan() {
		n++
		if n <= skip {
			continue
		}
		var a struct {
			Time    time.Time `json:"time"`
			State   string    `json:"state"`
			Dataset string    `json:"dataset"`
			Site    string    `json:"site"`
			Lag     float64   `json:"lag_seconds"`
			RPO     float64   `json:"rpo_seconds"`
		}
		if json.Unmarshal(sc.Bytes(), &a) != nil || a.State != "firing" {
			continue
		}
		why := fmt.Sprintf("dataset %q at %s is %.0f s behind, its RPO is %.0f s", watch.Clean(a.Dataset), watch.Clean(a.Site), a.Lag, a.RPO)
		if a.Lag < 0 {
			why = fmt.Sprintf("dataset %q has no snapshot at %s", watch.Clean(a.Dataset), watch.Clean(a.Site))
		}
		out = append(out, watch.Alert{Time: a.Time, Kind: CondLagPastRPO, Site: watch.Clean(a.Site), Dataset: watch.Clean(a.Dataset),
			Baseline: a.RPO, Observed: a.Lag, Unit: "seconds", Why: why})
	}
	return n, out, sc.Err()
}

// Entry is the log entry recording an alert.
func Entry(a watch.Alert, now time.Time) tlog.Entry {
	return tlog.Entry{V: tlog.Version, Kind: LogKind, Time: now.UTC(), Actor: "watch", Site: a.Site, Dataset: a.Dataset, Reason: a.Kind,
		Details: map[string]string{"why": watch.CleanN(a.Why, 1000), // 1000 bytes, not one event field's 128 "baseline": strconv.FormatFloat(a.Baseline, 'g', 6, 64),
			"observed": strconv.FormatFloat(a.Observed, 'g', 6, 64), "unit": a.Unit, "at": a.Time.UTC().Format(time.RFC3339Nano)}}
}

// LoadState reads the watcher's state; a missing file is the zero state.
func LoadState(path string) (State, error) {
	var st State
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w (delete it to start watching afresh)", path, err)
	}
	return st, nil
}

// SaveState writes the state atomically.
func SaveState(path string, st State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o600)
}

func sortedIDs(m map[string]time.Time) []string {
	var ids []string
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
