package plan

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Prerequisites are the paper's technical and institutional prerequisites, in order.
var Prerequisites = []string{"energy", "water", "land", "hardware", "cybersecurity", "policy", "talent", "capital"}

type metric struct {
	prereq string
	unit   string
	get    func(s *Scenario, st *Site) (float64, bool)
}

func fp(p *float64) (float64, bool) {
	if p == nil {
		return 0, false
	}
	return *p, true
}

// metrics are the site facts a threshold can name.
var metrics = map[string]metric{
	"pue":               {"energy", "", func(_ *Scenario, st *Site) (float64, bool) { return fp(st.Energy.PUE) }},
	"available-mw":      {"energy", "MW", func(_ *Scenario, st *Site) (float64, bool) { return fp(st.Energy.AvailableMW) }},
	"price-per-mwh":     {"energy", "/MWh", func(_ *Scenario, st *Site) (float64, bool) { return fp(st.Energy.PricePerMWh) }},
	"renewable-share":   {"energy", "", func(_ *Scenario, st *Site) (float64, bool) { return fp(st.Energy.RenewableShare) }},
	"carbon-g-per-kwh":  {"energy", "g/kWh", func(_ *Scenario, st *Site) (float64, bool) { return fp(st.Energy.CarbonGPerKWh) }},
	"connect-months":    {"energy", "months", func(_ *Scenario, st *Site) (float64, bool) { return fp(st.Energy.ConnectMonths) }},
	"water-stress":      {"water", "", func(_ *Scenario, st *Site) (float64, bool) { return fp(st.Water.StressIndex) }},
	"wue":               {"water", "L/kWh", func(_ *Scenario, st *Site) (float64, bool) { return fp(st.Water.WUE) }},
	"available-ha":      {"land", "ha", func(_ *Scenario, st *Site) (float64, bool) { return fp(st.Land.AvailableHa) }},
	"permitting-months": {"land", "months", func(_ *Scenario, st *Site) (float64, bool) { return fp(st.Land.PermittingMonths) }},
	"distance-km": {"land", "km", func(s *Scenario, st *Site) (float64, bool) {
		d := DistanceKm(s.Home.Location, st.Location)
		return d, d >= 0
	}},
	"accelerator-supply": {"hardware", "", func(_ *Scenario, st *Site) (float64, bool) { return fp(st.Hardware.AcceleratorSupply) }},
	"export-control": {"hardware", "(0 none, 1 licence, 2 restricted)", func(_ *Scenario, st *Site) (float64, bool) {
		switch st.Hardware.ExportControl {
		case "none":
			return 0, true
		case "licence":
			return 1, true
		case "restricted":
			return 2, true
		}
		return 0, false
	}},
	"tier": {"cybersecurity", "", func(_ *Scenario, st *Site) (float64, bool) { return float64(st.Tier), true }},
	"incidents-5y": {"cybersecurity", "", func(_ *Scenario, st *Site) (float64, bool) {
		if st.Cybersecurity.Incidents5y == nil {
			return 0, false
		}
		return float64(*st.Cybersecurity.Incidents5y), true
	}},
	"certifications": {"cybersecurity", "", func(_ *Scenario, st *Site) (float64, bool) {
		return float64(len(st.Cybersecurity.Certifications)), st.Cybersecurity.Certifications != nil
	}},
	"policy-stability": {"policy", "", func(_ *Scenario, st *Site) (float64, bool) { return fp(st.Institutions.PolicyStability) }},
	"agreement": {"policy", "(1 signed, 0 none)", func(_ *Scenario, st *Site) (float64, bool) {
		if st.Agreement != "" {
			return 1, true
		}
		return 0, true
	}},
	"talent":    {"talent", "", func(_ *Scenario, st *Site) (float64, bool) { return fp(st.Institutions.Talent) }},
	"financing": {"capital", "", func(_ *Scenario, st *Site) (float64, bool) { return fp(st.Institutions.Financing) }},
}

// Metrics lists the metric names a threshold may use, sorted.
func Metrics() []string {
	var l []string
	for k := range metrics {
		l = append(l, k)
	}
	for _, p := range Prerequisites {
		l = append(l, "score:"+p)
	}
	sort.Strings(l)
	return l
}

func metricOf(name string) (metric, error) {
	if p, ok := strings.CutPrefix(name, "score:"); ok {
		if contains(Prerequisites, p) {
			return metric{prereq: p}, nil
		}
		return metric{}, fmt.Errorf("unknown prerequisite %q: use one of %s", p, strings.Join(Prerequisites, ", "))
	}
	if m, ok := metrics[name]; ok {
		return m, nil
	}
	return metric{}, fmt.Errorf("unknown metric %q: use one of %s", name, strings.Join(Metrics(), ", "))
}

// Gap is a threshold a site misses.
type Gap struct {
	Metric       string  `json:"metric"`
	Prerequisite string  `json:"prerequisite"`
	Mandatory    bool    `json:"mandatory"`
	Missing      bool    `json:"missing_fact,omitempty"` // the scenario does not give the fact
	Value        float64 `json:"value"`
	Limit        float64 `json:"limit"`
	Bound        string  `json:"bound"` // "min" or "max"
	By           float64 `json:"by"`    // how far beyond the limit
	Reason       string  `json:"reason,omitempty"`
}

func (g Gap) String() string {
	if g.Missing {
		return fmt.Sprintf("%s (%s): fact missing, the threshold %s %s cannot be checked", g.Metric, g.Prerequisite, g.Bound, fmtNum(g.Limit))
	}
	rel := "at least"
	if g.Bound == "max" {
		rel = "at most"
	}
	return fmt.Sprintf("%s (%s) is %s, needs %s %s: off by %s", g.Metric, g.Prerequisite, round(g.Value), rel, fmtNum(g.Limit), round(g.By))
}

func round(x float64) string { return fmtNum(math.Round(x*1000) / 1000) }

// SiteScore is a candidate's scores and gaps.
type SiteScore struct {
	Site     string             `json:"site"`
	Scores   map[string]float64 `json:"scores"` // per prerequisite, 0..1
	Unknown  []string           `json:"unknown,omitempty"`
	Total    float64            `json:"total"` // weighted mean, 0..1
	Approved bool               `json:"approved"`
	Gaps     []Gap              `json:"gaps,omitempty"`
	Risk     float64            `json:"risk"` // chance over the horizon that the site is lost or cut off
}

func clamp01(x float64) float64 { return math.Max(0, math.Min(1, x)) }

// prereqScores computes the 0..1 score of each prerequisite from the facts
// the scenario gives; prerequisites with no facts are listed as unknown and score 0.
func prereqScores(s *Scenario, st *Site) (map[string]float64, []string) {
	parts := map[string][]float64{}
	put := func(p string, x float64) { parts[p] = append(parts[p], clamp01(x)) }
	if v, ok := fp(st.Energy.PUE); ok {
		put("energy", (2-v)/1)
	}
	if v, ok := fp(st.Energy.RenewableShare); ok {
		put("energy", v)
	}
	if v, ok := fp(st.Energy.CarbonGPerKWh); ok {
		put("energy", 1-v/800)
	}
	if v, ok := fp(st.Energy.PricePerMWh); ok {
		put("energy", 1-v/300)
	}
	if v, ok := fp(st.Energy.ConnectMonths); ok {
		put("energy", 1-v/60)
	}
	if v, ok := fp(st.Energy.AvailableMW); ok && s.Needs.ComputeMW > 0 {
		put("energy", v/s.Needs.ComputeMW)
	}
	if v, ok := fp(st.Water.StressIndex); ok {
		put("water", 1-v/5)
	}
	if v, ok := fp(st.Water.WUE); ok {
		put("water", 1-v/2.5)
	}
	switch st.Water.Cooling {
	case "air", "free-air", "seawater", "liquid":
		put("water", 1)
	case "evaporative":
		put("water", 0.4)
	}
	if v, ok := fp(st.Land.AvailableHa); ok {
		put("land", v/10)
	}
	if v, ok := fp(st.Land.PermittingMonths); ok {
		put("land", 1-v/36)
	}
	if d := DistanceKm(s.Home.Location, st.Location); d >= 0 {
		put("land", d/1000)
	}
	if v, ok := fp(st.Hardware.AcceleratorSupply); ok {
		put("hardware", v)
	}
	if v, ok := metrics["export-control"].get(s, st); ok {
		put("hardware", 1-v/2)
	}
	put("cybersecurity", float64(st.Tier)/4)
	if st.Cybersecurity.Certifications != nil {
		put("cybersecurity", float64(len(st.Cybersecurity.Certifications))/3)
	}
	if st.Cybersecurity.Incidents5y != nil {
		put("cybersecurity", 1/(1+float64(*st.Cybersecurity.Incidents5y)))
	}
	if v, ok := fp(st.Institutions.PolicyStability); ok {
		put("policy", v)
	}
	if st.Agreement != "" {
		put("policy", 1)
	} else {
		put("policy", 0)
	}
	if v, ok := fp(st.Institutions.Talent); ok {
		put("talent", v)
	}
	if v, ok := fp(st.Institutions.Financing); ok {
		put("capital", v)
	}
	out := map[string]float64{}
	var unknown []string
	for _, p := range Prerequisites {
		l := parts[p]
		if len(l) == 0 {
			out[p] = 0
			unknown = append(unknown, p)
			continue
		}
		sum := 0.0
		for _, x := range l {
			sum += x
		}
		out[p] = math.Round(sum/float64(len(l))*1000) / 1000
	}
	return out, unknown
}

// weight returns the weight of prerequisite p (default 1).
func (w Weights) weight(p string) float64 {
	var v *float64
	switch p {
	case "energy":
		v = w.Energy
	case "water":
		v = w.Water
	case "land":
		v = w.Land
	case "hardware":
		v = w.Hardware
	case "cybersecurity":
		v = w.Cybersecurity
	case "policy":
		v = w.Policy
	case "talent":
		v = w.Talent
	case "capital":
		v = w.Capital
	}
	if v == nil {
		return 1
	}
	return *v
}

// Score scores every candidate site against the weights and thresholds.
func Score(s *Scenario) []SiteScore {
	out := make([]SiteScore, len(s.Sites))
	for i := range s.Sites {
		st := &s.Sites[i]
		sc, unknown := prereqScores(s, st)
		tot, wsum := 0.0, 0.0
		for _, p := range Prerequisites {
			w := s.Weights.weight(p)
			tot += w * sc[p]
			wsum += w
		}
		if wsum > 0 {
			tot /= wsum
		}
		r := SiteScore{Site: st.Name, Scores: sc, Unknown: unknown, Total: math.Round(tot*1000) / 1000, Approved: true, Risk: siteRisk(s, st)}
		for _, t := range s.Thresholds {
			g, ok := checkThreshold(s, st, sc, t)
			if ok {
				continue
			}
			r.Gaps = append(r.Gaps, g)
			if g.Mandatory {
				r.Approved = false
			}
		}
		out[i] = r
	}
	return out
}

func checkThreshold(s *Scenario, st *Site, sc map[string]float64, t Threshold) (Gap, bool) {
	m, _ := metricOf(t.Metric)
	g := Gap{Metric: t.Metric, Prerequisite: m.prereq, Mandatory: t.Mandatory == nil || *t.Mandatory, Reason: t.Reason}
	var v float64
	var known bool
	if p, ok := strings.CutPrefix(t.Metric, "score:"); ok {
		v, known = sc[p], true
	} else {
		v, known = m.get(s, st)
	}
	g.Value = v
	if t.Min != nil {
		g.Bound, g.Limit = "min", *t.Min
		if !known {
			g.Missing = true
			return g, false
		}
		if v < *t.Min {
			g.By = *t.Min - v
			return g, false
		}
	}
	if t.Max != nil {
		g.Bound, g.Limit = "max", *t.Max
		if !known {
			g.Missing = true
			return g, false
		}
		if v > *t.Max {
			g.By = v - *t.Max
			return g, false
		}
	}
	return g, true
}

// siteRisk is the chance over the horizon that the site is destroyed, seized
// or cut off, counting the correlated events that reach it (an upper bound:
// the union bound of its causes).
func siteRisk(s *Scenario, st *Site) float64 {
	survive := 1 - st.Failure()
	for _, e := range s.Events {
		if eventHitsSite(s, &e, st) {
			survive *= 1 - e.Probability
		}
	}
	// a site every one of whose paths can be cut
	cut := 1.0
	for _, pn := range st.Paths {
		if p := s.path(pn); p != nil {
			cut *= p.CutProbability
		}
	}
	survive *= 1 - cut
	return math.Round((1-survive)*1e6) / 1e6
}

func (s *Scenario) path(name string) *Path {
	for i := range s.Paths {
		if s.Paths[i].Name == name {
			return &s.Paths[i]
		}
	}
	return nil
}

// eventHitsSite reports whether e makes st unusable: it names the site, its
// region or jurisdiction, or cuts every path to it.
func eventHitsSite(s *Scenario, e *Event, st *Site) bool {
	if contains(e.Sites, st.Name) || st.Region != "" && contains(e.Regions, st.Region) || contains(e.Jurisdictions, st.Jurisdiction) {
		return true
	}
	if len(e.Paths) == 0 {
		return false
	}
	for _, p := range st.Paths {
		if !contains(e.Paths, p) {
			return false
		}
	}
	return true
}
