package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/class"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// agreementsDir is where a home keeps its installed, verified agreements.
func agreementsDir(h *home.Home) string { return filepath.Join(h.Dir, "agreements") }

// testNow is set by the package's tests (now_test.go) to read EMBASSY_NOW;
// production binaries have no way to move the policy clock, so a host or
// anyone who sets the environment cannot make an expired agreement valid.
var testNow func() string

var nowWarning sync.Once

// now is the time decisions are made at. In test builds EMBASSY_NOW
// (YYYY-MM-DD or RFC 3339) pins it, for reproducible tests.
func (e *env) now() time.Time {
	if testNow == nil {
		if os.Getenv("EMBASSY_NOW") != "" {
			nowWarning.Do(func() {
				fmt.Fprintln(e.stderr, "embassy: warning: EMBASSY_NOW is ignored: only test builds move the policy clock")
			})
		}
		return time.Now().UTC()
	}
	if v := testNow(); v != "" {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t.UTC()
		}
		if t, err := time.Parse(time.DateOnly, v); err == nil {
			return t.UTC()
		}
	}
	return time.Now().UTC()
}

// installedAgreement is one agreement file of the home, checked.
type installedAgreement struct {
	*agreement.Agreement
	Path       string
	Digest     string
	Loosenings []agreement.Loosening
}

// loadAgreements reads and checks every installed agreement. A file that
// no longer verifies (altered at home) is an error, not a silent skip.
func loadAgreements(h *home.Home, base *agreement.Baseline) ([]installedAgreement, error) {
	paths, _ := filepath.Glob(filepath.Join(agreementsDir(h), "*.yaml"))
	sort.Strings(paths)
	var out []installedAgreement
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		ia, err := checkAgreement(b, base)
		if err != nil {
			return nil, hint.Wrap(fmt.Errorf("installed agreement %s:\n%w", p, err), "restore the file from the signed original with 'embassy agreement add FILE --replace', or remove it")
		}
		ia.Path = p
		out = append(out, ia)
	}
	return out, nil
}

// checkAgreement parses a document and checks its signatures and the
// baseline. Expiry is not checked here (see agreement.StatusAt).
func checkAgreement(doc []byte, base *agreement.Baseline) (installedAgreement, error) {
	a, err := agreement.Parse(doc)
	if err != nil {
		return installedAgreement{}, err
	}
	var errs agreement.Errors
	if err := agreement.Verify(a); err != nil {
		errs = append(errs, err.(agreement.Errors)...)
	}
	lo, err := agreement.CheckBaseline(a, base)
	if err != nil {
		errs = append(errs, err.(agreement.Errors)...)
	}
	if len(errs) > 0 {
		return installedAgreement{}, errs
	}
	return installedAgreement{Agreement: a, Digest: agreement.Digest(a), Loosenings: lo}, nil
}

// loadSettings reads <home>/policy.yaml, or the baseline defaults. The
// home state and location default to embassy.yaml's.
func loadSettings(h *home.Home, base *agreement.Baseline) (policy.Settings, error) {
	s, err := readSettings(h, base)
	if s.HomeState == "" {
		s.HomeState = h.Config.HomeState
	}
	if s.HomeLocation == "" {
		s.HomeLocation = h.Config.HomeLocation
	}
	return s, err
}

func readSettings(h *home.Home, base *agreement.Baseline) (policy.Settings, error) {
	f, err := os.Open(filepath.Join(h.Dir, policy.SettingsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return policy.DefaultSettings(base), nil
	}
	if err != nil {
		return policy.Settings{}, err
	}
	defer f.Close()
	s, err := policy.ParseSettings(f, base)
	if err != nil {
		return s, hint.Wrap(fmt.Errorf("%s: %w", f.Name(), err), "fix the policy settings (see docs/POLICY.md)")
	}
	return s, nil
}

// loadPolicy builds the decision engine of a home.
func (e *env) loadPolicy(h *home.Home) (*policy.Engine, error) {
	base := agreement.DefaultBaseline()
	s, err := loadSettings(h, base)
	if err != nil {
		return nil, err
	}
	ias, err := loadAgreements(h, base)
	if err != nil {
		return nil, err
	}
	ags := make([]*agreement.Agreement, len(ias))
	for i := range ias {
		ags[i] = ias[i].Agreement
	}
	return policy.New(s, base, ags)
}

// policySite describes a configured site for the engine.
func policySite(s policy.Settings, sc home.SiteConfig) policy.Site {
	return policy.Site{Name: sc.Name, Jurisdiction: sc.Jurisdiction, Tier: sc.Tier, Agreement: sc.Agreement,
		DistanceKm: policy.DistanceKm(s.HomeLocation, sc.Location)}
}

// checkPolicy asks the home's policy engine for one decision, logs a
// denial (recordEvent) and raises its alerts as warnings. The engine is
// built once per command. Callers decide what a denial means: skip the
// site for that dataset, or refuse the command with denyError(d).
func (e *env) checkPolicy(h *home.Home, req policy.Request) (policy.Decision, error) {
	ps := e.policyState()
	if ps.engine == nil {
		eng, err := e.loadPolicy(h)
		if err != nil {
			return policy.Decision{}, err
		}
		ps.engine = eng
	}
	if req.Now.IsZero() {
		req.Now = e.now()
	}
	d := ps.engine.Decide(req)
	e.warnHomeAloneFor(h, ps, req)
	for _, a := range d.Alerts {
		if !ps.alerted[a] {
			ps.alerted[a] = true
			e.warnf("policy alert: %s", a)
		}
	}
	if !d.Allow {
		e.recordEvent(h, policy.DenialEvent(req, d))
	}
	return d, nil
}

// policyStates holds each command run's engine (built once) and the alerts
// already shown; env is not extended so that this file stays self-contained.
var policyStates sync.Map // *env -> *policyState

type policyState struct {
	engine    *policy.Engine
	alerted   map[string]bool
	logWarned bool
}

// warnHomeAloneFor warns, once per command, when a dataset of the highest
// integrity level (I3) is written while the log policy's quorum can be met
// by the home's own witnesses alone: its history could then be rewritten
// by the home unnoticed (tlog.Policy.RequireExternal).
func (e *env) warnHomeAloneFor(h *home.Home, ps *policyState, req policy.Request) {
	if ps.logWarned || req.Action != policy.Write {
		return
	}
	l, err := class.Parse(req.Dataset.Class)
	if err != nil || l.I < 3 {
		return
	}
	ps.logWarned = true
	hl, err := e.setupLog(h)
	if err != nil {
		return
	}
	if err := hl.policy.RequireExternal(); err != nil {
		fmt.Fprintf(e.stderr, "embassy: warning: dataset %s is of integrity level I%d, which needs a log witness outside the home: %v\n", req.Dataset.Name, l.I, err)
	}
}

func (e *env) policyState() *policyState {
	v, _ := policyStates.LoadOrStore(e, &policyState{alerted: map[string]bool{}})
	return v.(*policyState)
}

// policySiteFor is checkPolicy's Site for a configured site.
func (e *env) policySiteFor(h *home.Home, sc home.SiteConfig) policy.Site {
	s := policy.DefaultSettings(agreement.DefaultBaseline())
	if ps := e.policyState(); ps.engine != nil {
		s = ps.engine.Settings()
	} else if ls, err := loadSettings(h, agreement.DefaultBaseline()); err == nil {
		s = ls
	}
	return policySite(s, sc)
}

// denyError turns a denial into an operator error (exit code 1).
func denyError(what string, d policy.Decision) error {
	return hint.Wrap(fmt.Errorf("policy denies %s: %s", what, strings.Join(d.Reasons, "; ")),
		"see 'embassy policy explain DATASET' for every site's decision")
}

// recordEvent is where denials and policy or agreement changes go. It logs
// them; the transparency log is wired here.
func (e *env) recordEvent(h *home.Home, ev policy.Event) {
	if e.log != nil {
		e.log.InfoContext(e.ctx, "policy event", "kind", ev.Kind, "action", string(ev.Action), "dataset", ev.Dataset,
			"site", ev.Site, "agreement", ev.Agreement, "rules", strings.Join(ev.Rules, ","))
	}
	kind := tlog.KindPolicyChange
	if strings.HasPrefix(ev.Kind, "agreement-") {
		kind = tlog.KindAgreementChange
	}
	details := map[string]string{"event": ev.Kind}
	if ev.Action != "" {
		details["action"] = string(ev.Action)
	}
	if ev.Class != "" {
		details["class"] = ev.Class
	}
	if ev.Agreement != "" {
		details["agreement"] = ev.Agreement
	}
	if ev.Digest != "" {
		details["digest"] = ev.Digest
	}
	if len(ev.Rules) > 0 {
		details["rules"] = strings.Join(ev.Rules, ",")
	}
	if len(ev.Reasons) > 0 {
		details["reasons"] = strings.Join(ev.Reasons, "; ")
	}
	e.audit(h, tlog.Entry{Kind: kind, Site: ev.Site, Details: details})
}
