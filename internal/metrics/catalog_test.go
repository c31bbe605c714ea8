package metrics_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/digital-embassy/embassy/internal/broker"
	"github.com/digital-embassy/embassy/internal/cli"
	"github.com/digital-embassy/embassy/internal/metrics"
	"github.com/digital-embassy/embassy/internal/operate"
	"github.com/digital-embassy/embassy/internal/protect"
	"github.com/digital-embassy/embassy/internal/server"
	"github.com/digital-embassy/embassy/internal/ui"
	"github.com/digital-embassy/embassy/internal/watch/watchman"
	"github.com/digital-embassy/embassy/internal/witness"
)

// components are the metric names each server declares.
func components() map[string][]string {
	return map[string][]string{
		"embassyd":  server.MetricNames(),
		"witness":   witness.MetricNames(),
		"broker":    broker.MetricNames(),
		"dashboard": ui.MetricNames(),
		"protect":   metrics.Names(&protect.Runner{}),
		"watch":     metrics.Names(watchman.NewExporter()),
		"commands":  cli.MetricNames(),
		"operate":   operate.MetricNames(),
	}
}

// exposed is every series name a scrape can hold: histograms add _bucket,
// _sum and _count.
func exposed() map[string]string {
	out := map[string]string{}
	for c, names := range components() {
		for _, n := range names {
			for _, s := range []string{"", "_bucket", "_sum", "_count"} {
				out[n+s] = c
			}
		}
	}
	return out
}

var root = filepath.Join("..", "..")

// TestRulesUseOnlyExistingMetrics: every metric an alert rule in
// deploy/prometheus/embassy-rules.yml selects is one a component declares,
// so a renamed metric cannot silence an alert.
func TestRulesUseOnlyExistingMetrics(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "deploy", "prometheus", "embassy-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	p := parser.NewParser(parser.Options{})
	rgs, errs := rulefmt.Parse(b, false, model.UTF8Validation, p, nil)
	if len(errs) > 0 {
		t.Fatalf("Prometheus refuses the rules: %v", errs)
	}
	have := exposed()
	used := 0
	for _, g := range rgs.Groups {
		for _, r := range g.Rules {
			expr, err := p.ParseExpr(r.Expr)
			if err != nil {
				t.Fatalf("%s: %v", r.Alert, err)
			}
			for _, path := range parser.ExtractSelectors(expr) {
				for _, m := range path {
					if m.Name != model.MetricNameLabel {
						continue
					}
					used++
					if _, ok := have[m.Value]; !ok {
						t.Errorf("rule %s selects %s, which no component declares", r.Alert, m.Value)
					}
				}
			}
		}
	}
	if used == 0 {
		t.Fatal("no metric selectors found in the rules")
	}
}

// TestEveryMetricDocumented: docs/METRICS.md documents every embassy_
// metric every component declares, and documents none that does not exist.
func TestEveryMetricDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "docs", "METRICS.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `embassy_") {
			continue
		}
		first, _, _ := strings.Cut(line[1:], "|")
		for _, m := range regexp.MustCompile("`(embassy_[a-z0-9_]+)`").FindAllStringSubmatch(first, -1) {
			doc[m[1]] = true
		}
	}
	declared := map[string]bool{}
	for c, names := range components() {
		for _, n := range names {
			if !strings.HasPrefix(n, "embassy_") {
				continue
			}
			declared[n] = true
			if !doc[n] {
				t.Errorf("%s declares %s, which docs/METRICS.md does not document", c, n)
			}
		}
	}
	for n := range doc {
		if !declared[n] {
			t.Errorf("docs/METRICS.md documents %s, which no component declares", n)
		}
	}
	if !slices.ContainsFunc(components()["embassyd"], func(n string) bool { return strings.HasPrefix(n, "go_") }) {
		t.Error("embassyd does not export the Go runtime metrics")
	}
}
