// Command plan benchmarks the sovereignty planner: placement of N classes
// over M candidate sites (gophersat), and T Monte-Carlo trials.
//
//	go run ./bench/plan [-sites 200] [-classes 20] [-trials 100000] [-runs 5]
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/plan"
)

func main() {
	sites := flag.Int("sites", 200, "candidate sites")
	classes := flag.Int("classes", 20, "data classes")
	trials := flag.Int("trials", 100000, "simulation trials")
	runs := flag.Int("runs", 5, "runs (the median is reported)")
	limit := flag.Duration("time-limit", 60*time.Second, "solver time limit")
	flag.Parse()
	s, err := plan.Parse(strings.NewReader(scenario(*sites, *classes)), "bench")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	scores := plan.Score(s)
	var solveT, simT []time.Duration
	var pl *plan.Placement
	for r := 0; r < *runs; r++ {
		start := time.Now()
		pl, err = plan.Solve(s, scores, plan.SolveOptions{TimeLimit: *limit})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		solveT = append(solveT, time.Since(start))
		start = time.Now()
		plan.Simulate(s, pl, *trials, 1)
		simT = append(simT, time.Since(start))
	}
	fmt.Printf("placement: %d sites x %d classes: median %v (%s; %d variables; optimal=%v; cost %.0f, %d sites used)\n",
		*sites, *classes, median(solveT).Round(time.Millisecond), pl.Method, pl.Variables, pl.Optimal, pl.Cost, len(pl.Sites))
	fmt.Printf("simulation: %d trials, %d events: median %v\n", *trials, len(s.Events), median(simT).Round(time.Millisecond))
}

func median(d []time.Duration) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2]
}

// scenario generates a deterministic scenario of n sites in 25 jurisdictions
// and 8 regions, reached over 30 paths, with k classes of mixed sizes.
func scenario(n, k int) string {
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	b.WriteString("format: embassy-scenario/v1\nname: bench\nstate: EE\nhome: {location: \"59.43,24.75\"}\nclasses:\n")
	for i := 0; i < k; i++ {
		label := []string{"C2-I3-A3", "C1-I2-A1", "C3-I3-A2", "C0-I1-A1"}[i%4]
		schemes := []string{`[replica]`, `[replica, "4+2"]`, `[replica, "2+1", "8+3"]`}[i%3]
		fmt.Fprintf(&b, "  - {name: c%d, label: %s, volume-tb: %d, rto-hours: 500, schemes: %s}\n", i, label, 1+rng.IntN(200), schemes)
	}
	b.WriteString("thresholds:\n  - {metric: pue, max: 1.4}\n  - {metric: distance-km, min: 150}\npaths:\n")
	for p := 0; p < 30; p++ {
		fmt.Fprintf(&b, "  - {name: p%d, kind: %s, capacity-gbps: %d, cut-probability: %.3f}\n", p, []string{"fibre", "subsea", "satellite"}[p%3], 10+rng.IntN(400), rng.Float64()*0.1)
	}
	b.WriteString("sites:\n")
	for i := 0; i < n; i++ {
		// 30 jurisdictions, each in one of 8 regions; a quarter single-homed
		ji := rng.IntN(30)
		j := fmt.Sprintf("%c%c", 'A'+rune(ji%26), 'A'+rune(ji/26))
		lat, lon := 35+rng.Float64()*20, -10+rng.Float64()*30
		p1, p2 := rng.IntN(30), rng.IntN(30)
		paths := fmt.Sprintf("[p%d, p%d]", p1, p2)
		if p1 == p2 || i%4 == 0 {
			paths = fmt.Sprintf("[p%d]", p1)
		}
		fmt.Fprintf(&b, "  - {name: s%d, jurisdiction: %s, region: r%d, location: \"%.2f,%.2f\", tier: %d, agreement: a%d, capacity-tb: %d, cost: {fixed-per-year: %d, per-tb-year: %d}, energy: {pue: %.2f}, paths: %s}\n",
			i, j, ji%8, lat, lon, 2+rng.IntN(3), i, 200+rng.IntN(3000), 50000+rng.IntN(500000), 20+rng.IntN(200), 1.05+rng.Float64()*0.4, paths)
	}
	b.WriteString("events:\n")
	for e := 0; e < 8; e++ {
		fmt.Fprintf(&b, "  - {name: blackout r%d, kind: blackout, probability: 0.01, regions: [r%d]}\n", e, e)
	}
	for e := 0; e < 10; e++ {
		fmt.Fprintf(&b, "  - {name: cut %d, kind: cable-cut, probability: 0.05, paths: [p%d, p%d]}\n", e, e, e+10)
	}
	b.WriteString("  - {name: hostile AB, kind: hostile-host, probability: 0.01, jurisdictions: [BA]}\n  - {name: sanctions, kind: sanctions, probability: 0.02, jurisdictions: [CA, DA, EA]}\n")
	return b.String()
}
