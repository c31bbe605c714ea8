package agreement

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"sync"

	"go.yaml.in/yaml/v3"
)

// Priority classes of a compute reservation (framework requirement 30).
const (
	PriorityNormal = "normal" // guaranteed capacity, no preemption
	PriorityCrisis = "crisis" // served first in a declared crisis
)

// Reservation is one sovereign compute reservation at a host site: the
// capacity the host guarantees the sending state there, and how it ranks
// in a declared crisis. Zero quantities reserve nothing of that resource.
type Reservation struct {
	Name        string `json:"name"`
	Site        string `json:"site"`                  // the home's site name
	Accelerator string `json:"accelerator,omitempty"` // accelerator model, e.g. H100; "" with gpus 0
	GPUs        int    `json:"gpus,omitempty"`
	CPUCores    int    `json:"cpu_cores,omitempty"`
	MemoryGiB   int    `json:"memory_gib,omitempty"`
	Priority    string `json:"priority"` // PriorityNormal or PriorityCrisis
	// Preempt is the right to preempt lower-priority workloads in a
	// declared crisis (crisis reservations; default compute.crisis-preemption).
	Preempt bool `json:"preempt"`
	// Attested: only GPUs whose attestation evidence verifies count
	// towards this reservation.
	Attested bool `json:"attested,omitempty"`
	Line     int  `json:"-"`

	presetPreempt bool // preempt stated by the document
}

var (
	reservationNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`) })
	acceleratorRE     = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`) })
)

// reservationFields are the fields of a reservation, in signing order.
var reservationFields = []string{"site", "accelerator", "gpus", "cpu-cores", "memory-gib", "priority", "preempt", "attested"}

// parseCompute reads the compute section: its terms and its reservations.
func parseCompute(a *Agreement, key, v *yaml.Node, bad badFunc) {
	if v.Kind != yaml.MappingNode {
		bad(key, "compute", "must be a mapping (crisis-preemption, reservations)")
		return
	}
	rest := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, n := v.Content[i], v.Content[i+1]
		if k.Value != "reservations" {
			rest.Content = append(rest.Content, k, n)
			continue
		}
		if a.lines["compute.reservations"] != 0 {
			bad(k, "compute.reservations", "stated twice")
			continue
		}
		a.lines["compute.reservations"] = k.Line
		if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
			bad(n, "compute.reservations", "must be a non-empty list of reservations (name, site, gpus, priority...)")
			continue
		}
		for _, rn := range n.Content {
			if r, ok := parseReservation(rn, bad); ok {
				if slices.ContainsFunc(a.Reservations, func(o Reservation) bool { return o.Name == r.Name }) {
					bad(rn, "compute.reservations", "reservation %s is stated twice", r.Name)
					continue
				}
				a.Reservations = append(a.Reservations, r)
			}
		}
	}
	flatten("compute", key, rest, a.Values, bad)
}

func parseReservation(n *yaml.Node, bad badFunc) (Reservation, bool) {
	const path = "compute.reservations"
	r := Reservation{Line: n.Line, Priority: PriorityNormal}
	if n.Kind != yaml.MappingNode {
		bad(n, path, "each reservation is a mapping: name, site, accelerator, gpus, cpu-cores, memory-gib, priority, preempt, attested")
		return r, false
	}
	ok := true
	seen := map[string]bool{}
	preemptSet := false
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, f := n.Content[j], n.Content[j+1]
		p := path + "." + k.Value
		if seen[k.Value] {
			bad(k, p, "stated twice")
			ok = false
			continue
		}
		seen[k.Value] = true
		if f.Kind != yaml.ScalarNode {
			bad(f, p, "must be a single value")
			ok = false
			continue
		}
		num := func(limit int) int {
			x, err := strconv.Atoi(f.Value)
			if err != nil || x < 0 || x > limit {
				bad(f, p, "%q is not a whole number between 0 and %d", f.Value, limit)
				ok = false
			}
			return x
		}
		flag := func() bool {
			if f.Value != "true" && f.Value != "false" {
				bad(f, p, "%q is not true or false", f.Value)
				ok = false
			}
			return f.Value == "true"
		}
		switch k.Value {
		case "name":
			r.Name = f.Value
			if !reservationNameRE().MatchString(f.Value) {
				bad(f, p, "%q is not a valid name: use 1-64 lower-case letters, digits, '.', '_' or '-'", f.Value)
				ok = false
			}
		case "site":
			r.Site = f.Value
			if !reservationNameRE().MatchString(f.Value) {
				bad(f, p, "%q is not a site name", f.Value)
				ok = false
			}
		case "accelerator":
			r.Accelerator = f.Value
			if !acceleratorRE().MatchString(f.Value) {
				bad(f, p, "%q is not an accelerator model such as H100", f.Value)
				ok = false
			}
		case "gpus":
			r.GPUs = num(4096)
		case "cpu-cores":
			r.CPUCores = num(1_000_000)
		case "memory-gib":
			r.MemoryGiB = num(1_000_000)
		case "priority":
			r.Priority = f.Value
			if f.Value != PriorityNormal && f.Value != PriorityCrisis {
				bad(f, p, "%q is not normal or crisis", f.Value)
				ok = false
			}
		case "preempt":
			r.Preempt, preemptSet = flag(), true
		case "attested":
			r.Attested = flag()
		default:
			bad(k, p, "unknown field: use name, site, accelerator, gpus, cpu-cores, memory-gib, priority, preempt, attested")
			ok = false
		}
	}
	if !ok {
		return r, false
	}
	switch {
	case r.Name == "" || r.Site == "":
		bad(n, path, "a reservation needs a name and a site")
		return r, false
	case r.GPUs == 0 && r.CPUCores == 0 && r.MemoryGiB == 0:
		bad(n, path+"."+r.Name, "reserves nothing: give gpus, cpu-cores or memory-gib")
		return r, false
	case r.GPUs > 0 && r.Accelerator == "":
		bad(n, path+"."+r.Name, "reserves %d GPUs of no model: give accelerator, e.g. H100", r.GPUs)
		return r, false
	case r.Priority != PriorityCrisis && preemptSet && r.Preempt:
		bad(n, path+"."+r.Name, "only a crisis-priority reservation may preempt")
		return r, false
	}
	if !preemptSet {
		r.Preempt = r.Priority == PriorityCrisis // refined by compute.crisis-preemption in ReservationsOf
	} else if r.Priority == PriorityCrisis {
		r.presetPreempt = true
	}
	return r, true
}

// ReservationsOf returns a's reservations with their preemption rights
// resolved against compute.crisis-preemption (the agreement's or the
// baseline's): a crisis reservation that does not state preempt has the
// right when the term grants it.
func ReservationsOf(a *Agreement, base *Baseline) []Reservation {
	grant := Resolve(a, base)["compute.crisis-preemption"].Value.Bool()
	out := slices.Clone(a.Reservations)
	for i := range out {
		if out[i].Priority == PriorityCrisis && !out[i].presetPreempt {
			out[i].Preempt = grant
		}
	}
	return out
}

// reservationLines are a reservation's signing lines.
func reservationLines(r Reservation, add func(k, v string)) {
	p := "compute.reservations." + r.Name + "."
	vals := map[string]string{"site": r.Site, "accelerator": r.Accelerator, "gpus": strconv.Itoa(r.GPUs),
		"cpu-cores": strconv.Itoa(r.CPUCores), "memory-gib": strconv.Itoa(r.MemoryGiB), "priority": r.Priority,
		"preempt": strconv.FormatBool(r.Preempt), "attested": strconv.FormatBool(r.Attested)}
	if r.Priority == PriorityCrisis && !r.presetPreempt {
		vals["preempt"] = "default"
	}
	for _, f := range reservationFields {
		add(p+f, vals[f])
	}
}

func reservationSchema() map[string]any {
	n := func(limit int) map[string]any {
		return map[string]any{"type": "integer", "minimum": 0, "maximum": limit}
	}
	return map[string]any{"type": "array", "minItems": 1, "description": "sovereign compute reservations at host sites [operational rules]",
		"items": map[string]any{"type": "object", "additionalProperties": false, "required": []string{"name", "site"},
			"properties": map[string]any{
				"name":        map[string]any{"type": "string", "pattern": reservationNameRE().String()},
				"site":        map[string]any{"type": "string", "pattern": reservationNameRE().String(), "description": "the home's name of the host site"},
				"accelerator": map[string]any{"type": "string", "pattern": acceleratorRE().String(), "description": "accelerator model, e.g. H100"},
				"gpus":        n(4096),
				"cpu-cores":   n(1_000_000),
				"memory-gib":  n(1_000_000),
				"priority":    map[string]any{"enum": []string{PriorityNormal, PriorityCrisis}},
				"preempt":     map[string]any{"type": "boolean", "description": "crisis reservations: may preempt lower-priority workloads (default compute.crisis-preemption)"},
				"attested":    map[string]any{"type": "boolean", "description": "only GPUs with verified attestation evidence count"},
			}}}
}

// String is the reservation in one line.
func (r Reservation) String() string {
	s := fmt.Sprintf("%s at %s:", r.Name, r.Site)
	if r.GPUs > 0 {
		s += fmt.Sprintf(" %d× %s", r.GPUs, r.Accelerator)
	}
	if r.CPUCores > 0 {
		s += fmt.Sprintf(" %d cores", r.CPUCores)
	}
	if r.MemoryGiB > 0 {
		s += fmt.Sprintf(" %d GiB", r.MemoryGiB)
	}
	s += ", " + r.Priority
	if r.Preempt {
		s += ", may preempt"
	}
	return s
}
