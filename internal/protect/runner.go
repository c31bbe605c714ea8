package protect

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/repo"
)

// Alert is an RPO alert: a dataset's lag at a site went past its RPO
// (firing) or came back under it (resolved).
type Alert struct {
	Time    time.Time `json:"time"`
	State   string    `json:"state"` // firing, resolved
	Dataset string    `json:"dataset"`
	Site    string    `json:"site"`
	LagSec  float64   `json:"lag_seconds"` // -1: no snapshot at that site
	RPOSec  float64   `json:"rpo_seconds"`
	Detail  string    `json:"detail,omitempty"`
}

// Taken is a committed protection snapshot.
type Taken struct {
	Dataset string
	ID      repo.ID
	Time    time.Time
	Stats   repo.SnapshotStats
	Skipped int
}

// Taker captures a dataset's source and commits a snapshot of it. The
// vault's one snapshot path implements it (vault.Vault.Protect): the
// manifest is written only after the capture reports success.
type Taker func(ctx context.Context, ds Dataset) (*Taken, error)

// Runner protects the datasets of a Config.
type Runner struct {
	Repo    *repo.Repo
	Home    *home.Home
	Config  *Config
	Log     *slog.Logger
	Take    Taker        // takes one snapshot (required)
	OnAlert func(Alert)  // called for every alert transition
	OnTaken func(*Taken) // called after each committed snapshot
	Now     func() time.Time

	lagger *Lagger
	mu     sync.Mutex
	state  map[string]*dsState
}

type dsState struct {
	fingerprint string
	lastTry     time.Time
	ok, failed  int
	lastErr     string
	lastSuccess time.Time
	last        repo.SnapshotStats // of the last committed snapshot
	stored      int64              // new stored bytes of every committed snapshot
	lags        []SiteLag
	firing      map[string]bool
}

func (rn *Runner) init() {
	if rn.state == nil {
		rn.state = map[string]*dsState{}
		rn.lagger = NewLagger()
		if rn.Now == nil {
			rn.Now = time.Now
		}
		if rn.Log == nil {
			rn.Log = slog.New(slog.DiscardHandler)
		}
		for _, d := range rn.Config.Datasets {
			rn.state[d.Name] = &dsState{firing: map[string]bool{}}
		}
	}
}

// Cycle is one pass: snapshot every due dataset, then measure lags and
// raise alerts. force snapshots every dataset. It returns the errors of the
// snapshots that failed.
func (rn *Runner) Cycle(ctx context.Context, force bool) []error {
	rn.init()
	var errs []error
	for _, ds := range rn.Config.Datasets {
		if ctx.Err() != nil {
			return append(errs, ctx.Err())
		}
		st := rn.state[ds.Name]
		newest := rn.newest(st)
		fp := ""
		if ds.OnChange {
			fp = Fingerprint(ctx, ds.Source)
		}
		now := rn.Now()
		due := force || newest.IsZero() ||
			(ds.Every > 0 && now.Sub(newest) >= ds.Every) ||
			(ds.OnChange && (fp == "" || fp != st.fingerprint))
		if !due {
			continue
		}
		rn.mu.Lock()
		st.lastTry = now
		rn.mu.Unlock()
		t, err := rn.Take(ctx, ds)
		rn.mu.Lock()
		if err != nil {
			st.failed++
			st.lastErr = err.Error()
			errs = append(errs, err)
		} else {
			st.ok++
			st.lastErr = ""
			st.lastSuccess = t.Time
			st.last = t.Stats
			st.stored += t.Stats.NewStored
			st.fingerprint = fp
		}
		rn.mu.Unlock()
		if err == nil && rn.OnTaken != nil {
			rn.OnTaken(t)
		}
	}
	if ctx.Err() == nil { // an interrupted cycle measures nothing: no false alerts on shutdown
		rn.measure(ctx)
	}
	return errs
}

func (rn *Runner) newest(st *dsState) time.Time {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	var t time.Time
	for _, l := range st.lags {
		if l.Latest.After(t) {
			t = l.Latest
		}
	}
	if st.lastSuccess.After(t) {
		t = st.lastSuccess
	}
	return t
}

func (rn *Runner) measure(ctx context.Context) {
	for _, ds := range rn.Config.Datasets {
		now := rn.Now()
		lags, err := rn.lagger.Lags(ctx, rn.Repo, ds.Name, ds.RPO, now)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			rn.Log.WarnContext(ctx, "lag", "dataset", ds.Name, "err", err)
			continue
		}
		st := rn.state[ds.Name]
		rn.mu.Lock()
		st.lags = lags
		var alerts []Alert
		for _, l := range lags {
			if l.Exceeded != st.firing[l.Site] {
				st.firing[l.Site] = l.Exceeded
				a := Alert{Time: now.UTC(), State: "resolved", Dataset: ds.Name, Site: l.Site, LagSec: l.LagSec, RPOSec: l.RPOSec, Detail: l.Error}
				if l.Exceeded {
					a.State = "firing"
				}
				alerts = append(alerts, a)
			}
		}
		rn.mu.Unlock()
		for _, a := range alerts {
			if rn.OnAlert != nil {
				rn.OnAlert(a)
			}
		}
	}
}

// Lags returns the last measured lags of every dataset.
func (rn *Runner) Lags() []SiteLag {
	rn.init()
	rn.mu.Lock()
	defer rn.mu.Unlock()
	var out []SiteLag
	for _, ds := range rn.Config.Datasets {
		out = append(out, rn.state[ds.Name].lags...)
	}
	return out
}

// AlertsFile is the home's append-only log of RPO alerts (JSON lines).
const AlertsFile = "alerts.jsonl"
