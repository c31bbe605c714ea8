package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
)

var file = filepath.Join("..", "..", "..", "deploy", "prometheus", "embassy-rules.yml")

func load(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	rgs, errs := rulefmt.Parse(b, false, model.UTF8Validation, parser.NewParser(parser.Options{}), nil)
	if len(errs) > 0 {
		t.Fatalf("Prometheus refuses %s: %v", file, errs)
	}
	return rgs
}

// Each rule: series that produce its condition (the alert must fire for
// exactly the named series) and series that must not.
var cases = map[string]struct{ step, at, load, fire string }{
	"EmbassyLagPastRPO": {
		load: `embassy_replication_lag_seconds{dataset="population",site="lu-1"} 7200+0x60
embassy_replication_lag_seconds{dataset="population",site="ch-1"} 60+0x60
embassy_rpo_seconds{dataset="population"} 900+0x60`,
		fire: `{dataset="population",site="lu-1"}`,
	},
	"EmbassyProofFailure": {
		load: `embassy_proof_failures_total{site="lu-1"} 0+0x30 1+0x30
embassy_proof_failures_total{site="ch-1"} 2+0x60`,
		fire: `{site="lu-1"}`,
	},
	"EmbassyProofStale": {
		step: "1h", at: "50h",
		load: `embassy_proof_last_success_timestamp_seconds{site="lu-1"} 0+0x60
embassy_proof_last_success_timestamp_seconds{site="ch-1"} 0+3600x60`,
		fire: `{site="lu-1"}`,
	},
	"EmbassyWitnessSilent": {
		load: `embassy_witness_refusals_total{kind="unreachable"} 0+0x30 3+0x30
embassy_witness_refusals_total{kind="bad-request"} 0+0x30 5+0x30`,
		fire: `{kind="unreachable"}`,
	},
	"EmbassyWitnessRefused": {
		load: `embassy_witness_refusals_total{kind="conflict"} 0+0x30 1+0x30
embassy_witness_refusals_total{kind="unreachable"} 0+0x30 9+0x30`,
		fire: `{kind="conflict"}`,
	},
	"EmbassyDisclosureOverdue": {
		load: `embassy_disclosure_alerts{kind="disclosure-overdue",site="lu-1"} 1+0x60
embassy_disclosure_alerts{kind="unmatched-host-session",site="ch-1"} 1+0x60`,
		fire: `{kind="disclosure-overdue",site="lu-1"}`,
	},
	"EmbassyUnmatchedHostSession": {
		load: `embassy_disclosure_alerts{kind="unmatched-host-session",site="ch-1"} 2+0x60
embassy_disclosure_alerts{kind="unmatched-host-session",site="lu-1"} 0+0x60`,
		fire: `{kind="unmatched-host-session",site="ch-1"}`,
	},
	"EmbassyKeyUseWithoutDisclosure": {
		load: `embassy_disclosure_alerts{kind="undisclosed-key-use",site="fi-1"} 1+0x60
embassy_disclosure_alerts{kind="unmatched-host-session",site="fi-1"} 1+0x60`,
		fire: `{kind="undisclosed-key-use",site="fi-1"}`,
	},
	"EmbassyAgreementNearExpiry": {
		load: `embassy_agreement_expiry_timestamp_seconds{agreement="ee-lu"} 2592000+0x60
embassy_agreement_expiry_timestamp_seconds{agreement="ee-ch"} 31536000+0x60`,
		fire: `{agreement="ee-lu"}`,
	},
	"EmbassyDrillOverdue": {
		step: "1d", at: "91d",
		load: `embassy_drill_last_pass_timestamp_seconds{dataset="population"} 0+0x100
embassy_drill_last_pass_timestamp_seconds{dataset="land"} 7776000+0x100`,
		fire: `{dataset="population"}`,
	},
	"EmbassyAnomaly": {
		at: "40m", // the 15m window must hold the change at 30m
		load: `embassy_watch_alerts_total{kind="proof-latency-shift"} 0+0x30 1+0x30
embassy_watch_alerts_total{kind="lag-past-rpo"} 0+0x30 4+0x30`,
		fire: `{kind="proof-latency-shift"}`,
	},
	"EmbassyWitnessSawFork": {
		load: `embassy_witness_checkpoints_refused_total{instance="w1",reason="fork"} 0+0x30 1+0x30
embassy_witness_checkpoints_refused_total{instance="w1",reason="conflict"} 0+0x30 50+0x30
embassy_witness_checkpoints_refused_total{instance="w2",reason="bad-proof"} 3+0x60`,
		fire: `{instance="w1",reason="fork"}`,
	},
	"EmbassyBrokerRefusalBurst": {
		at: "40m", // the 15m window must hold the change at 30m
		load: `embassy_broker_refusals_total{reason="policy",evidence="tpm"} 0+0x30 6+0x30
embassy_broker_refusals_total{reason="evidence",evidence="tdx"} 0+0x30 2+0x30
embassy_broker_refusals_total{reason="no-rule",evidence="tpm"} 0+0x30 40+0x30`,
		fire: `{reason="policy"}`,
	},
	"EmbassyCommandFailing": {
		load: `embassy_command_exit_code{command="snapshot"} 3+0x60
embassy_command_exit_code{command="verify"} 0+0x60`,
		fire: `{command="snapshot"}`,
	},
	"EmbassyWatcherDown": {
		at: "60m",
		load: `embassy_watch_last_cycle_timestamp_seconds{instance="home"} 600+0x60
embassy_watch_last_cycle_timestamp_seconds{instance="other"} 0+60x60`,
		fire: `{instance="home"}`,
	},
}

func TestRulesParseAndFire(t *testing.T) {
	rgs := load(t)
	seen := map[string]bool{}
	for _, g := range rgs.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			seen[r.Alert] = true
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("%s: needs a severity label and a summary annotation", r.Alert)
			}
			c, ok := cases[r.Alert]
			if !ok {
				t.Errorf("%s has no test case: add one that produces its condition", r.Alert)
				continue
			}
			when, step := c.at, c.step
			if when == "" {
				when = "45m" // the loads change at 30m
			}
			if step == "" {
				step = "1m"
			}
			// Exactly the named series fires: group by its labels, so the
			// check is about which series, not their values.
			var names []string
			for _, kv := range strings.Split(strings.Trim(c.fire, "{}"), ",") {
				k, _, _ := strings.Cut(kv, "=")
				names = append(names, k)
			}
			expr := "group by (" + strings.Join(names, ",") + ") (" + r.Expr + ")"
			script := "load " + step + "\n  " + strings.ReplaceAll(c.load, "\n", "\n  ") + "\n\neval instant at " + when + " " + expr + "\n  " + c.fire + " 1\n"
			t.Run(r.Alert, func(t *testing.T) {
				promqltest.RunTest(t, script, promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery))
			})
		}
	}
	for name := range cases {
		if !seen[name] {
			t.Errorf("case %s names no rule in %s", name, file)
		}
	}
}
