package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/plan"
	"github.com/digital-embassy/embassy/internal/vault"
)

// cmdPlan is the sovereignty strategy planner (internal/plan; docs/SCENARIO.md).
func cmdPlan(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "plan",
		Short: "Plan a sovereignty strategy: score host sites, place data classes, simulate failures",
		Long: `A scenario file (docs/SCENARIO.md) states the sending state's needs, its
domestic capacity, candidate host sites with their facts and the paths to
them. 'plan report' scores every site per prerequisite, finds the cheapest
placement meeting residency, diversity, RPO/RTO and capacity, traces the
cost-resilience frontier and simulates correlated failures. 'plan apply'
makes the running system's sites and class rules match the placement, which
the policy gate then enforces; 'plan check' lists every difference.

Exit codes: 0 ok; 2 the scenario is malformed (every problem is listed with
its line); 3 no feasible placement (the message names the constraint and the
nearest feasible relaxation), or 'plan check' found differences, or 'plan
apply' left differences it cannot fix.`,
	}
	c.AddCommand(cmdPlanReport(e), cmdPlanCheck(e), cmdPlanApply(e), cmdPlanSchema(e))
	return c
}

// loadScenario parses a scenario file; a malformed one exits 2.
func loadScenario(path string, stdin io.Reader) (*plan.Scenario, error) {
	var r io.Reader = stdin
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

func infeasible(err error) error {
	var ie *plan.InfeasibleError
	if errors.As(err, &ie) {
		return hint.WithCode(hint.Wrap(err, ie.Hint()), hint.CodeDamaged)
	}
	return err
}

func cmdPlanReport(e *env) *cobra.Command {
	var htmlOut string
	var trials int
	var noFrontier bool
	c := &cobra.Command{
		Use:   "report SCENARIO",
		Short: "Score, place, simulate and report (text, --json or --html FILE)",
		Example: `  embassy plan report examples/scenarios/baltic.yaml
  embassy plan report examples/scenarios/pacific.yaml --html pacific.html
  embassy plan report examples/scenarios/gulf.yaml --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadScenario(args[0], e.stdin)
			if err != nil {
				return err
			}
			if trials < 0 || trials > 100_000_000 {
				return usagef("--trials %d: use 1 to 100000000 (0: the scenario's)", trials)
			}
			r, berr := plan.Build(s, plan.ReportOptions{Trials: trials, NoFrontier: noFrontier})
			if r == nil {
				return berr
			}
			if htmlOut != "" {
				if err := writeHTMLReport(r, htmlOut); err != nil {
					return err
				}
			}
			switch {
			case e.json:
				if err := e.emitJSON(r); err != nil {
					return err
				}
			case !e.quiet:
				r.WriteText(e.stdout)
				if htmlOut != "" {
					fmt.Fprintf(e.stdout, "\nWrote %s\n", htmlOut)
				}
			}
			return infeasible(berr)
		},
	}
	c.Flags().StringVar(&htmlOut, "html", "", "also write a printable HTML report with charts to FILE")
	c.Flags().IntVar(&trials, "trials", 0, "simulation trials (default: the scenario's, or 100000)")
	c.Flags().BoolVar(&noFrontier, "no-frontier", false, "skip the cost-resilience frontier (faster)")
	return c
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

// solved solves a scenario for the home's vault.
func (e *env) solved(path string) (*plan.Scenario, *plan.Placement, *vault.Vault, error) {
	s, err := loadScenario(path, e.stdin)
	if err != nil {
		return nil, nil, nil, err
	}
	h, err := e.openHome()
	if err != nil {
		return nil, nil, nil, err
	}
	pl, err := plan.Solve(s, plan.Score(s), plan.SolveOptions{})
	if err != nil {
		return nil, nil, nil, infeasible(err)
	}
	return s, pl, e.vaultOf(h), nil
}

// planned solves a scenario and compares the placement with the home.
func (e *env) planned(path string) (*plan.Scenario, []plan.Difference, error) {
	s, pl, v, err := e.solved(path)
	if err != nil {
		return nil, nil, err
	}
	_, diffs, err := v.Planned(e.ctx, s, pl)
	return s, diffs, err
}

func printDiffs(e *env, diffs []plan.Difference) {
	for _, d := range diffs {
		e.printf("  %s\n", d)
	}
}

func cmdPlanCheck(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "check SCENARIO",
		Short: "Compare the running system with the plan (exit 3 if it departs)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, diffs, err := e.planned(args[0])
			if err != nil {
				return err
			}
			if e.json {
				if diffs == nil {
					diffs = []plan.Difference{}
				}
				if err := e.emitJSON(map[string]any{"differences": diffs, "conforms": len(diffs) == 0}); err != nil {
					return err
				}
			} else if len(diffs) == 0 {
				e.printf("The system matches the plan.\n")
			} else {
				e.printf("%d difference(s) from the plan:\n", len(diffs))
				printDiffs(e, diffs)
			}
			if len(diffs) > 0 {
				return hint.WithCode(hint.Wrap(fmt.Errorf("the system departs from the plan in %d way(s)", len(diffs)),
					"run 'embassy plan apply "+args[0]+" --dry-run' to see what apply would change"), hint.CodeDamaged)
			}
			return nil
		},
	}
}

func cmdPlanApply(e *env) *cobra.Command {
	var dryRun bool
	c := &cobra.Command{
		Use:   "apply SCENARIO",
		Short: "Make the system's sites and class rules match the plan (idempotent)",
		Long: `Adds the planned sites (as 'embassy site add' does, copying the vault),
updates their facts, writes the class rules and the recovery distance to
policy.yaml. It never removes a site or changes a site's URL: those
differences are listed and the command exits 3. Running it twice changes
nothing the second time.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, pl, v, err := e.solved(args[0])
			if err != nil {
				return err
			}
			res, err := v.ApplyPlan(e.ctx, s, pl, dryRun)
			if err != nil {
				return err
			}
			done, left := res.Done, res.Left
			if e.json {
				if err := e.emitJSON(map[string]any{"dry_run": dryRun, "actions": done, "left": left}); err != nil {
					return err
				}
			} else {
				verb := "Applied"
				if dryRun {
					verb = "Would apply"
				}
				if len(done) == 0 {
					e.printf("Nothing to do.\n")
				} else {
					e.printf("%s %d change(s):\n", verb, len(done))
					printDiffs(e, done)
				}
				if len(left) > 0 {
					e.printf("Left %d difference(s) apply does not fix:\n", len(left))
					printDiffs(e, left)
				}
			}
			if len(left) > 0 {
				return hint.WithCode(hint.Wrap(fmt.Errorf("%d difference(s) need an operator", len(left)),
					"remove or rename the conflicting sites ('embassy site remove', 'embassy exit'), or give the planned sites a url in the scenario"), hint.CodeDamaged)
			}
			return nil
		},
	}
	c.Flags().BoolVarP(&dryRun, "dry-run", "n", false, "print the actions without changing anything")
	return c
}

func cmdPlanSchema(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of scenario files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := e.stdout.Write(plan.JSONSchema())
			return err
		},
	}
}
