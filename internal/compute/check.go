package compute

import (
	"fmt"
	"slices"
	"sort"

	"github.com/digital-embassy/embassy/internal/agreement"
)

// Resource names in a check: "gpu:MODEL", "cpu" and "memory".
const (
	ResCPU    = "cpu"
	ResMemory = "memory"
)

func gpuRes(model string) string { return "gpu:" + model }

// Shortfall is capacity a reservation lacks.
type Shortfall struct {
	Reservation string `json:"reservation"`
	Resource    string `json:"resource"` // gpu:MODEL, cpu or memory
	Need        int    `json:"need"`
	Have        int    `json:"have"`
	// Deferred: a normal-priority reservation short in a declared crisis
	// because crisis reservations came first (reported, not a breach).
	Deferred bool `json:"deferred,omitempty"`
}

func (s Shortfall) String() string {
	unit := map[string]string{ResCPU: "CPU cores", ResMemory: "GiB of memory"}[s.Resource]
	if unit == "" {
		unit = s.Resource[len("gpu:"):] + " GPUs"
	}
	txt := fmt.Sprintf("reservation %s needs %d %s, %d available (short %d)", s.Reservation, s.Need, unit, max(s.Have, 0), s.Need-max(s.Have, 0))
	if s.Deferred {
		txt += "; deferred: crisis reservations come first"
	}
	return txt
}

// Preemption is a running workload that must yield to a crisis
// reservation.
type Preemption struct {
	Workload string `json:"workload"`
	Owner    string `json:"owner"`
	Priority string `json:"priority"`
	For      string `json:"for"` // the crisis reservation
}

// Input is one site's check.
type Input struct {
	Site         string
	Reservations []agreement.Reservation // the site's, from its agreement
	Capacity     Capacity                // Trust's
	Workloads    []Workload              // what the site runs
	Crisis       bool                    // a crisis is declared
}

// Result is one site's outcome.
type Result struct {
	Site        string       `json:"site"`
	Crisis      bool         `json:"crisis"`
	Shortfalls  []Shortfall  `json:"shortfalls,omitempty"`
	Preemptions []Preemption `json:"preemptions,omitempty"`
}

// Breach reports whether the site falls short of a reservation it owes
// now (deferred shortfalls are not breaches).
func (r Result) Breach() bool {
	return slices.ContainsFunc(r.Shortfalls, func(s Shortfall) bool { return !s.Deferred })
}

// needs is what a reservation asks, by resource.
func needs(r agreement.Reservation) map[string]int {
	m := map[string]int{}
	if r.GPUs > 0 {
		m[gpuRes(r.Accelerator)] = r.GPUs
	}
	if r.CPUCores > 0 {
		m[ResCPU] = r.CPUCores
	}
	if r.MemoryGiB > 0 {
		m[ResMemory] = r.MemoryGiB
	}
	return m
}

func uses(w Workload) map[string]int {
	m := map[string]int{}
	if w.GPUs > 0 {
		m[gpuRes(w.Accelerator)] = w.GPUs
	}
	if w.CPUCores > 0 {
		m[ResCPU] = w.CPUCores
	}
	if w.MemoryGiB > 0 {
		m[ResMemory] = w.MemoryGiB
	}
	return m
}

func keys(m map[string]int) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Check compares a site's reservations with its trusted capacity.
//
// Outside a crisis it is the guaranteed-capacity check: the reservations
// together must fit in the capacity (what the host's own workloads use is
// the host's to free on demand). In a crisis it is the live check: the
// capacity left by every running workload is given to crisis-priority
// reservations first; one with the right to preempt takes what it lacks
// from running workloads of lower priority (the host's best-effort ones
// first, then the sending state's normal ones; larger users of the short
// resource first), and those are named. Normal reservations then get what
// is left; their shortfalls are deferred, not breaches.
func Check(in Input) Result {
	res := Result{Site: in.Site, Crisis: in.Crisis}
	free := map[string]int{ResCPU: in.Capacity.CPUCores, ResMemory: in.Capacity.MemoryGiB}
	for m, n := range in.Capacity.GPUs {
		free[gpuRes(m)] = n
	}
	order := slices.Clone(in.Reservations)
	own := map[string]map[string]int{}
	if in.Crisis {
		sort.SliceStable(order, func(i, j int) bool {
			return order[i].Priority == agreement.PriorityCrisis && order[j].Priority != agreement.PriorityCrisis
		})
		for _, w := range in.Workloads {
			u := uses(w)
			for k, n := range u {
				free[k] -= n
			}
			if w.Owner == OwnerSending && w.Reservation != "" {
				if own[w.Reservation] == nil {
					own[w.Reservation] = map[string]int{}
				}
				for k, n := range u {
					own[w.Reservation][k] += n
				}
			}
		}
	}
	attFree := map[string]int{}
	for m, n := range in.Capacity.AttestedGPUs {
		attFree[m] = n
	}
	preempted := map[string]bool{}
	for _, r := range order {
		need := needs(r)
		for k := range need {
			need[k] = max(0, need[k]-own[r.Name][k])
		}
		// Attested-only reservations see only the attested GPUs.
		attestedRes := func(k string) bool { return r.Attested && r.GPUs > 0 && k == gpuRes(r.Accelerator) }
		avail := func(k string) int {
			if attestedRes(k) {
				return min(free[k], attFree[r.Accelerator])
			}
			return free[k]
		}
		short := func() []string {
			var s []string
			for _, k := range keys(need) {
				if avail(k) < need[k] {
					s = append(s, k)
				}
			}
			return s
		}
		crisisRes := in.Crisis && r.Priority == agreement.PriorityCrisis
		if s := short(); len(s) > 0 && crisisRes && r.Preempt {
			for _, w := range victims(in.Workloads, s, preempted) {
				if len(short()) == 0 {
					break
				}
				preempted[w.Name] = true
				for k, n := range uses(w) {
					free[k] += n
					if w.Owner == OwnerSending && own[w.Reservation] != nil {
						own[w.Reservation][k] -= n // it no longer holds its reservation's share
					}
				}
				res.Preemptions = append(res.Preemptions, Preemption{Workload: w.Name, Owner: w.Owner, Priority: w.Priority, For: r.Name})
			}
		}
		for _, k := range keys(need) {
			have := avail(k)
			if have < need[k] {
				res.Shortfalls = append(res.Shortfalls, Shortfall{Reservation: r.Name, Resource: k, Need: need[k], Have: have,
					Deferred: in.Crisis && !crisisRes})
				free[k] -= max(have, 0)
				if attestedRes(k) {
					attFree[r.Accelerator] -= max(have, 0)
				}
				continue
			}
			free[k] -= need[k]
			if attestedRes(k) {
				attFree[r.Accelerator] -= need[k]
			}
		}
	}
	return res
}

// victims are the running workloads below crisis priority that use one of
// the short resources, in preemption order: lowest priority first, then
// the largest use of the short resources, then by name.
func victims(ws []Workload, short []string, done map[string]bool) []Workload {
	var out []Workload
	for _, w := range ws {
		if done[w.Name] || rank(w.Priority) >= rank(PriorityCrisis) {
			continue
		}
		u := uses(w)
		if slices.ContainsFunc(short, func(k string) bool { return u[k] > 0 }) {
			out = append(out, w)
		}
	}
	weight := func(w Workload) int {
		u, n := uses(w), 0
		for _, k := range short {
			n += u[k]
		}
		return n
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if rank(a.Priority) != rank(b.Priority) {
			return rank(a.Priority) < rank(b.Priority)
		}
		if weight(a) != weight(b) {
			return weight(a) > weight(b)
		}
		return a.Name < b.Name
	})
	return out
}
