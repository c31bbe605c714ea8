package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/plan"
)

// The planner's entry points over a scenario file: what 'embassy plan'
// runs, so that the command only parses flags and prints. Exit codes: a
// malformed scenario is a usage error (2), no feasible placement damage
// (3, with the nearest relaxation as hint), differences left by check or
// apply damage (3).

// LoadScenario parses a scenario file ("-": r) (docs/SCENARIO.md).
func LoadScenario(path string, r io.Reader) (*plan.Scenario, error) {
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, hint.WithCode(hint.Wrap(err, "give the path of a scenario file (see examples/scenarios/)"), hint.CodeUsage)
		}
		defer f.Close()
		r = f
	}
	s, err := plan.Parse(r, path)
	var se *plan.ScenarioError
	if errors.As(err, &se) {
		return nil, hint.WithCode(hint.Wrap(err, "fix the scenario (docs/SCENARIO.md; 'embassy plan schema' prints the JSON Schema)"), hint.CodeUsage)
	}
	return s, err
}

// Infeasible gives a planner's infeasibility its exit code (3) and hint.
func Infeasible(err error) error {
	var ie *plan.InfeasibleError
	if errors.As(err, &ie) {
		return hint.WithCode(hint.Wrap(err, ie.Hint()), hint.CodeDamaged)
	}
	return err
}

// PlanReportRequest asks for a planner report of a scenario file.
type PlanReportRequest struct {
	Path       string
	Stdin      io.Reader
	Trials     int // 0: the scenario's
	NoFrontier bool
	HTML       string // also write the HTML report here
}

// PlanReport scores, places, simulates and reports a scenario; it needs no
// home. A report is returned even when no placement is feasible, with the
// infeasibility as error (exit 3).
func PlanReport(req PlanReportRequest) (*plan.Report, error) {
	if req.Trials < 0 || req.Trials > 100_000_000 {
		return nil, hint.WithCode(fmt.Errorf("--trials %d: use 1 to 100000000 (0: the scenario's)", req.Trials), hint.CodeUsage)
	}
	s, err := LoadScenario(req.Path, req.Stdin)
	if err != nil {
		return nil, err
	}
	r, berr := plan.Build(s, plan.ReportOptions{Trials: req.Trials, NoFrontier: req.NoFrontier})
	if r == nil {
		return nil, berr
	}
	if req.HTML != "" {
		if err := writeHTMLReport(r, req.HTML); err != nil {
			return nil, err
		}
	}
	return r, Infeasible(berr)
}

func writeHTMLReport(r *plan.Report, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return hint.Wrap(err, "choose a writable path for --html")
	}
	if err := r.WriteHTML(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// solveFile loads and solves a scenario file.
func solveFile(path string, r io.Reader) (*plan.Scenario, *plan.Placement, error) {
	s, err := LoadScenario(path, r)
	if err != nil {
		return nil, nil, err
	}
	pl, err := plan.Solve(s, plan.Score(s), plan.SolveOptions{})
	if err != nil {
		return nil, nil, Infeasible(err)
	}
	return s, pl, nil
}

// CheckPlan solves a scenario file and lists how the home departs from
// its placement; any difference is returned with an error (exit 3).
func (v *Vault) CheckPlan(ctx context.Context, path string, r io.Reader) ([]plan.Difference, error) {
	s, pl, err := solveFile(path, r)
	if err != nil {
		return nil, err
	}
	_, diffs, err := v.Planned(ctx, s, pl)
	if err != nil {
		return nil, err
	}
	if diffs == nil {
		diffs = []plan.Difference{}
	}
	if len(diffs) > 0 {
		return diffs, hint.WithCode(hint.Wrap(fmt.Errorf("the system departs from the plan in %s", nouns(len(diffs), "way")),
			"run 'embassy plan apply "+path+" --dry-run' to see what apply would change"), hint.CodeDamaged)
	}
	return diffs, nil
}

// ApplyPlanFile solves a scenario file and applies it (ApplyPlan);
// differences apply cannot fix are returned with an error (exit 3).
func (v *Vault) ApplyPlanFile(ctx context.Context, path string, r io.Reader, dry bool) (*PlanApplied, error) {
	s, pl, err := solveFile(path, r)
	if err != nil {
		return nil, err
	}
	res, err := v.ApplyPlan(ctx, s, pl, dry)
	if err != nil {
		return nil, err
	}
	if len(res.Left) > 0 {
		return res, hint.WithCode(hint.Wrap(fmt.Errorf("%s %s an operator", nouns(len(res.Left), "difference"), map[bool]string{true: "needs", false: "need"}[len(res.Left) == 1]),
			"remove or rename the conflicting sites ('embassy site remove', 'embassy exit'), or give the planned sites a url in the scenario"), hint.CodeDamaged)
	}
	return res, nil
}
