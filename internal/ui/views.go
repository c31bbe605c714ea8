package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/digital-embassy/embassy/internal/assess"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// AgreementSource is a Source that can score its agreements live
// (internal/assess: the five dimensions with their evidence).
type AgreementSource interface {
	Agreements(ctx context.Context) ([]*assess.Scorecard, error)
}

// ContinuitySource is a Source that keeps continuity records outside the
// log: the home's journal of drills and crisis sessions, and the signed
// reports they left.
type ContinuitySource interface {
	Continuity(ctx context.Context) (Continuity, error)
}

// Drill is one restore drill with its measured RTO and RPO.
type Drill struct {
	Time             time.Time `json:"time"`
	Plan             string    `json:"plan"`
	Pass             bool      `json:"pass"`
	RTOSeconds       float64   `json:"rto_seconds"`                  // -1: no probe succeeded
	RTOTargetSeconds float64   `json:"rto_target_seconds,omitempty"` // 0: unknown
	RPOSeconds       float64   `json:"rpo_seconds"`                  // worst achieved over the datasets; -1: unknown
	RPOTargetSeconds float64   `json:"rpo_target_seconds,omitempty"`
	Failures         int       `json:"failures"`
	Digest           string    `json:"sha256,omitempty"` // of the signed report
	Source           string    `json:"source"`           // log or journal
}

// CrisisEvent is one step of an 'embassy operate' session.
type CrisisEvent struct {
	Time    time.Time `json:"time"`
	Type    string    `json:"type"` // activation, deactivation
	Summary string    `json:"summary"`
	Digest  string    `json:"sha256,omitempty"`
}

// Report is a signed continuity document as the page shows it: what its
// signature establishes, and its body.
type Report struct {
	Kind        string          `json:"kind"`
	Digest      string          `json:"sha256"`
	SignatureOK bool            `json:"signature_ok"`
	EndorsedBy  string          `json:"endorsed_by,omitempty"` // the home whose root key endorsed the signer
	Epoch       uint32          `json:"epoch,omitempty"`
	HomeBound   bool            `json:"home_bound"` // the endorsing root key is the one the home id derives from
	Problem     string          `json:"problem,omitempty"`
	Body        json.RawMessage `json:"body,omitempty"`
}

// Continuity is the continuity view: drills, crisis sessions, and the
// last signed report.
type Continuity struct {
	Drills     []Drill       `json:"drills"`   // oldest first
	Sessions   []CrisisEvent `json:"sessions"` // oldest first
	LastReport *Report       `json:"last_report,omitempty"`
}

// BrokerEvent is one key release or refusal by the key broker.
type BrokerEvent struct {
	Index    uint64    `json:"index"`
	Time     time.Time `json:"time"`
	Released bool      `json:"released"`
	Dataset  string    `json:"dataset,omitempty"`
	Site     string    `json:"site,omitempty"`
	Reason   string    `json:"reason,omitempty"` // refusal code
	TEE      string    `json:"tee,omitempty"`
	Workload string    `json:"workload,omitempty"`
	Rule     string    `json:"rule,omitempty"`
	Detail   string    `json:"detail,omitempty"`
}

// BrokerDay counts one UTC day's releases and refusals.
type BrokerDay struct {
	Day      time.Time `json:"day"`
	Releases int       `json:"releases"`
	Refusals int       `json:"refusals"`
}

// BrokerActivity is the key broker view, derived from the log.
type BrokerActivity struct {
	Releases int            `json:"releases"`
	Refusals int            `json:"refusals"`
	ByReason map[string]int `json:"refusals_by_reason"`
	Days     []BrokerDay    `json:"days"`   // oldest first
	Events   []BrokerEvent  `json:"events"` // newest first, at most maxBrokerEvents
}

const maxBrokerEvents = 500

// Broker derives the key broker view from log entries, keeping only what
// visible lets p see.
func Broker(ents []tlog.Indexed, p Principal) BrokerActivity {
	out := BrokerActivity{ByReason: map[string]int{}, Days: []BrokerDay{}, Events: []BrokerEvent{}}
	days := map[int64]*BrokerDay{}
	for _, x := range ents {
		if x.Kind != tlog.KindKeyRelease && x.Kind != tlog.KindKeyRefuse || !visible(p, x.Site) {
			continue
		}
		ev := BrokerEvent{Index: x.Index, Time: x.Time, Released: x.Kind == tlog.KindKeyRelease, Dataset: x.Dataset, Site: x.Site,
			TEE: x.Details["tee"], Workload: x.Details["workload"], Rule: x.Details["rule"]}
		d := x.Time.UTC().Truncate(24 * time.Hour)
		day := days[d.Unix()]
		if day == nil {
			day = &BrokerDay{Day: d}
			days[d.Unix()] = day
		}
		if ev.Released {
			out.Releases++
			day.Releases++
		} else {
			ev.Reason, ev.Detail = x.Reason, x.Details["detail"]
			out.Refusals++
			day.Refusals++
			out.ByReason[x.Reason]++
		}
		out.Events = append(out.Events, ev)
	}
	slices.Reverse(out.Events)
	if len(out.Events) > maxBrokerEvents {
		out.Events = out.Events[:maxBrokerEvents]
	}
	for _, d := range days {
		out.Days = append(out.Days, *d)
	}
	sort.Slice(out.Days, func(i, j int) bool { return out.Days[i].Day.Before(out.Days[j].Day) })
	return out
}

// drillsFromLog reads drill entries (tlog.KindDrill) from the log.
func drillsFromLog(ents []tlog.Indexed) []Drill {
	var out []Drill
	num := func(m map[string]string, k string, def float64) float64 {
		if v, err := strconv.ParseFloat(m[k], 64); err == nil {
			return v
		}
		return def
	}
	for _, x := range ents {
		if x.Kind != tlog.KindDrill {
			continue
		}
		plan := x.Object
		if plan == "" {
			plan = x.Dataset
		}
		fails, _ := strconv.Atoi(x.Details["failures"])
		out = append(out, Drill{Time: x.Time, Plan: plan, Pass: x.Details["pass"] == "true" || x.Details["result"] == "pass",
			RTOSeconds: num(x.Details, "rto_seconds", -1), RTOTargetSeconds: num(x.Details, "rto_target_seconds", 0),
			RPOSeconds: num(x.Details, "rpo_seconds", -1), RPOTargetSeconds: num(x.Details, "rpo_target_seconds", 0),
			Failures: fails, Digest: x.Details["sha256"], Source: "log"})
	}
	return out
}

// mergeDrills joins the log's drills and the journal's, once each: a drill
// in both (the same signed report) is shown from the log, with what the
// journal adds.
func mergeDrills(fromLog, fromJournal []Drill) []Drill {
	byDigest := map[string]int{}
	out := slices.Clone(fromLog)
	for i, d := range out {
		if d.Digest != "" {
			byDigest[d.Digest] = i
		}
	}
	for _, d := range fromJournal {
		if i, ok := byDigest[d.Digest]; ok && d.Digest != "" {
			l := &out[i]
			if l.RPOSeconds < 0 {
				l.RPOSeconds, l.RPOTargetSeconds = d.RPOSeconds, d.RPOTargetSeconds
			}
			if l.RTOTargetSeconds == 0 {
				l.RTOTargetSeconds = d.RTOTargetSeconds
			}
			continue
		}
		out = append(out, d)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

func (s *Server) agreements(w http.ResponseWriter, r *http.Request, p Principal) error {
	as, ok := s.cfg.Source.(AgreementSource)
	if !ok {
		return httpError{http.StatusNotFound, "this dashboard has no agreements to score"}
	}
	cards, err := as.Agreements(r.Context())
	if err != nil {
		return err
	}
	out := []*assess.Scorecard{}
	for _, c := range cards {
		// A host operator sees the agreements that cover their site: the
		// agreement is shared by both states, nothing else is.
		if p.Role == RoleOperator && !slices.Contains(c.Sites, p.Site) {
			continue
		}
		out = append(out, c)
	}
	return writeJSON(w, out)
}

func (s *Server) continuity(w http.ResponseWriter, r *http.Request, p Principal) error {
	if p.Role == RoleOperator {
		return forbidden("continuity records are the sending state's: host operators see their site's health and disclosures")
	}
	ents, err := s.cfg.Source.Log(r.Context())
	if err != nil {
		return err
	}
	var c Continuity
	if cs, ok := s.cfg.Source.(ContinuitySource); ok {
		if c, err = cs.Continuity(r.Context()); err != nil {
			return err
		}
	}
	c.Drills = mergeDrills(drillsFromLog(ents), c.Drills)
	if c.Drills == nil {
		c.Drills = []Drill{}
	}
	if c.Sessions == nil {
		c.Sessions = []CrisisEvent{}
	}
	return writeJSON(w, c)
}

func (s *Server) broker(w http.ResponseWriter, r *http.Request, p Principal) error {
	ents, err := s.cfg.Source.Log(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, Broker(ents, p))
}
