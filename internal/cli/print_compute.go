package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/digital-embassy/embassy/internal/vault"
)

func printCompute(e *env, rep *vault.ComputeReport) {
	if rep.Crisis {
		e.printf("crisis declared (%s): crisis-priority reservations first\n", rep.CrisisBy)
	}
	if len(rep.Sites) == 0 && len(rep.Placements) == 0 {
		e.printf("no installed agreement reserves compute (compute.reservations) and no workload is declared\n")
	}
	for _, s := range rep.Sites {
		state := "ok"
		if s.Breach() {
			state = "SHORT"
		}
		e.printf("%s (agreement %s): %s\n", s.Site, s.Agreement, state)
		for _, r := range s.Reservations {
			e.printf("  reservation %s\n", r)
		}
		if t := s.Trusted; t != nil {
			var gpus []string
			for m, n := range t.Capacity.GPUs {
				gpus = append(gpus, fmt.Sprintf("%d× %s (%d attested)", n, m, t.Capacity.AttestedGPUs[m]))
			}
			sort.Strings(gpus)
			e.printf("  trusted capacity: %s; %s; %d GiB\n", strings.Join(gpus, ", "), plural(t.Capacity.CPUCores, "CPU core"), t.Capacity.MemoryGiB)
			for _, o := range t.OverReport {
				e.printf("  OVER-REPORTED: %s\n", o)
			}
			for _, r := range t.Attested.Refusals {
				e.printf("  evidence refused: %s\n", r)
			}
		}
		for _, p := range s.Problems {
			e.printf("  cannot check: %s\n", p)
		}
		for _, sh := range s.Result.Shortfalls {
			e.printf("  shortfall: %s\n", sh)
		}
		for _, p := range s.Result.Preemptions {
			e.printf("  preempt %s (%s, %s) for %s\n", p.Workload, p.Owner, p.Priority, p.For)
		}
	}
	for _, p := range rep.Placements {
		if p.Allow {
			e.printf("workload %s at %s: allowed\n", p.Workload, p.Site)
			continue
		}
		e.printf("workload %s at %s: DENIED (%s): %s\n", p.Workload, p.Site, strings.Join(p.Rules, ","), strings.Join(p.Reasons, "; "))
	}
}
