package vault

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/drill"
	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/failover"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// EventsFile is the evidence journal (JSON lines) kept next to a home's
// state, a drill's report or an operate session's folder.
const EventsFile = "events.jsonl"

// Continuity runs the operations that rebuild a home's services from its
// sites and k custodians alone: drills and crisis operation. Home is the
// vault of a home on this machine, or nil on a machine that has nothing
// but the plan, the sites and the custodians (the usual failover). With a
// home, its policy gate decides and its log records; without one, the
// plan's policy.yaml (or the baseline defaults) decides and the decisions
// go to the events journal and the report.
type Continuity struct {
	Home *Vault
	Opts Options

	engine *policy.Engine
}

// NewContinuity returns the continuity service over v (nil: no home here).
func NewContinuity(v *Vault, o Options) *Continuity {
	if v != nil {
		o = Options{Logger: v.log, Clock: v.clock, Warn: v.warn, Note: v.note}
	}
	c := &Continuity{Home: v, Opts: o}
	if c.Opts.Clock == nil {
		c.Opts.Clock = time.Now //nolint:forbidigo // the default clock: entry points pass Options.Clock
	}
	if c.Opts.Logger == nil {
		c.Opts.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Gate is the rebuild's policy gate for plan p: one policy.Restore
// decision per site before a dataset is restored from it, asked exactly as
// 'embassy restore' asks it. When this machine's home is the one rebuilt,
// its gate decides (sites it knows by name get their tier, agreement and
// distance) and records each denial in its log; otherwise the plan's
// policy.yaml (or the baseline defaults) decides.
func (c *Continuity) Gate(p *failover.Plan) (failover.Gate, error) {
	var homeGate *Gate
	if c.Home != nil {
		g, err := c.Home.Gate()
		if err != nil {
			return nil, err
		}
		homeGate = g
	}
	if err := c.planEngine(p); err != nil {
		return nil, err
	}
	return func(ctx context.Context, homeID string, s *repo.Site, d *repo.Dataset, class string) *failover.Denial {
		ds := policy.Dataset{Name: d.Keys.Name, Class: restoreClass(ctx, d, class), ID: d.Keys.ID}
		ps := policy.Site{Name: s.Name, Jurisdiction: s.Jurisdiction, DistanceKm: -1}
		if homeGate != nil && c.Home.Home.Config.Home == homeID {
			// This machine's home is the one rebuilt: its gate decides
			// (and logs), with its registry's view of the site.
			if sc, _ := c.Home.Home.Site(s.Name); sc != nil {
				ps = homeGate.Site(*sc)
			}
			dec := homeGate.Decide(ctx, policy.Request{Action: policy.Restore, Dataset: ds, Site: ps})
			if dec.Allow {
				return nil
			}
			return &failover.Denial{Rules: dec.Rules, Reason: strings.Join(dec.Reasons, "; ")}
		}
		req := policy.Request{Action: policy.Restore, Dataset: ds, Site: ps, Now: c.Opts.Clock().UTC()}
		dec := c.engine.Decide(req)
		if dec.Allow {
			return nil
		}
		ev := policy.DenialEvent(req, dec)
		c.Opts.Logger.InfoContext(ctx, "policy event", "kind", ev.Kind, "action", string(ev.Action), "dataset", ev.Dataset,
			"site", ev.Site, "rules", strings.Join(ev.Rules, ","))
		return &failover.Denial{Rules: dec.Rules, Reason: strings.Join(dec.Reasons, "; ")}
	}, nil
}

// planEngine builds the engine for a rebuild of a home that is not on
// this machine: the plan's policy.yaml, or the baseline defaults.
func (c *Continuity) planEngine(p *failover.Plan) error {
	if c.engine != nil {
		return nil
	}
	base := agreement.DefaultBaseline()
	s := policy.DefaultSettings(base)
	if p.Policy != "" {
		f, err := os.Open(p.Policy)
		if err != nil {
			return hint.WithCode(fmt.Errorf("plan policy: %w", err), hint.CodeUsage)
		}
		s, err = policy.ParseSettings(f, base)
		f.Close()
		if err != nil {
			return hint.WithCode(hint.Wrap(fmt.Errorf("plan policy %s: %w", p.Policy, err), "fix the policy settings (see docs/POLICY.md)"), hint.CodeUsage)
		}
	}
	eng, err := policy.New(s, base, nil)
	if err != nil {
		return err
	}
	c.engine = eng
	return nil
}

// restoreClass is the class a restore is decided under: the dataset's
// (as Vault.Restore resolves it), else its newest snapshot's.
func restoreClass(ctx context.Context, d *repo.Dataset, snapClass string) string {
	if l := DatasetClass(ctx, d); l != "" {
		return l
	}
	return snapClass
}

// DrillRequest is one restore drill to run.
type DrillRequest struct {
	Plan       *failover.Plan
	Identities []repo.IdentitySource
	Scratch    string
	Keep       bool
	Out        string // where the signed report is written
}

// DrillResult is a finished drill: its signed report.
type DrillResult struct {
	Report *drill.Report
	Doc    *evidence.Document
	Digest string // SHA-256 of the written report
}

// Drill runs the plan's drill (drill.Run: recover the key, restore with
// the policy gate asked per site and the plan's log checked for
// freshness, serve, probe), writes the signed report to req.Out, appends
// the events journal next to it and, with a home, records the drill in
// its log. A drill that could not produce a report returns its partial
// report with the error.
func (c *Continuity) Drill(ctx context.Context, req DrillRequest) (*DrillResult, error) {
	gate, err := c.Gate(req.Plan)
	if err != nil {
		return nil, err
	}
	onUnwrap, flush := c.unwraps("drill")
	doc, rep, err := drill.Run(ctx, req.Plan, req.Identities, drill.Options{Scratch: req.Scratch, Keep: req.Keep, Log: c.Opts.Logger,
		Now: c.Opts.Clock, Gate: gate, OnUnwrap: onUnwrap})
	if rep != nil {
		flush(ctx, rep.Home)
	}
	if err != nil {
		return &DrillResult{Report: rep}, err
	}
	digest, err := WriteDoc(req.Out, doc)
	if err != nil {
		return nil, err
	}
	ev := evidence.Event{Type: "drill", Home: rep.Home, Digest: digest,
		Summary: fmt.Sprintf("drill %s: pass=%t rto=%.1fs", rep.Plan, rep.Pass, rep.RTOMeasured),
		Fields:  map[string]any{"report": req.Out, "pass": rep.Pass, "rto_seconds": rep.RTOMeasured, "failures": len(rep.Failures), "denied": deniedChecks(rep.Checks)}}
	if err := (evidence.Journal{Path: filepath.Join(filepath.Dir(req.Out), EventsFile)}).Append(ev); err != nil {
		c.warnf("event journal: %v", err)
	}
	if c.Home != nil && c.Home.Home.Config.Home == rep.Home {
		keepDrillReport(c.Home, req.Out, digest)
		c.Home.Recorder().Audit(ctx, tlog.DrillEntry(tlog.DrillFacts{Plan: rep.Plan, Pass: rep.Pass, Failures: len(rep.Failures), RTO: rep.RTOMeasured, Report: digest}))
	}
	return &DrillResult{Report: rep, Doc: doc, Digest: digest}, nil
}

func deniedChecks(cs []failover.Check) []string {
	var out []string
	for _, c := range cs {
		if c.Check == "policy" && !c.OK {
			out = append(out, c.Subject+" ("+strings.Join(c.Rules, ",")+")")
		}
	}
	return out
}

func (c *Continuity) warnf(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if c.Opts.Warn != nil {
		c.Opts.Warn(msg)
		return
	}
	c.Opts.Logger.Warn(msg)
}

// WriteDoc writes a signed document (indented JSON) and returns the
// SHA-256 of what was written.
func WriteDoc(path string, d *evidence.Document) (string, error) {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return "", err
	}
	b = append(b, '\n')
	if err := atomicfile.Write(path, b, 0o644); err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// keepDrillReport keeps a copy of a drill report written outside the
// home under EvidenceDir/drills, where 'audit export' finds the report of
// every drill the log records.
func keepDrillReport(v *Vault, out, digest string) {
	dir := filepath.Join(EvidenceDir(v.Home), "drills")
	if abs, err := filepath.Abs(out); err == nil && filepath.Dir(abs) == dir {
		return
	}
	b, err := os.ReadFile(out)
	if err == nil {
		err = os.MkdirAll(dir, 0o700)
	}
	if err == nil {
		err = atomicfile.Write(filepath.Join(dir, digest+".json"), b, 0o600)
	}
	if err != nil {
		v.Warnf("drill report not kept in the home for audit bundles: %v", err)
	}
}

// unwraps collects the key.unwrap entries of a rebuild (by: drill or
// operate); flush records them in the home's log when the rebuilt home
// is this machine's (known only once the key is recovered), so every
// unwrap of the home's keys is in its key-use log.
func (c *Continuity) unwraps(by string) (func(context.Context, []repo.Unwrap), func(context.Context, string)) {
	var ents []tlog.Entry
	collect := func(_ context.Context, us []repo.Unwrap) {
		now := c.Opts.Clock().UTC()
		for _, e := range UnwrapEntries(us) {
			e.Time = now
			e.Details["by"] = by
			ents = append(ents, e)
		}
	}
	flush := func(ctx context.Context, homeID string) {
		if c.Home != nil && homeID == c.Home.Home.Config.Home && len(ents) > 0 {
			c.Home.Recorder().Audit(ctx, ents...)
		}
		ents = nil
	}
	return collect, flush
}
