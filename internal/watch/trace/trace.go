// Package trace generates realistic event traces of a digital embassy —
// weeks of normal operation at a few host sites — with labelled injected
// anomalies of every kind the watcher detects, and scores a detector's
// alerts against the labels (precision, recall, time to detect).
package trace

import (
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/digital-embassy/embassy/internal/watch"
)

// Label is one injected anomaly.
type Label struct {
	Kind    string    `json:"kind"`
	Site    string    `json:"site,omitempty"`
	Dataset string    `json:"dataset,omitempty"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
}

// Trace is a generated stream of events (sorted by time) and its labels.
type Trace struct {
	Seed   uint64        `json:"seed"`
	Events []watch.Event `json:"-"`
	Labels []Label       `json:"labels"`
}

// Options shape a trace.
type Options struct {
	Seed  uint64
	Start time.Time // default 2026-01-05 (a Monday)
	Weeks int       // default 4
	// PerKind is how many anomalies of each kind are injected (default 4).
	PerKind int
}

type siteModel struct {
	name            string
	proofMS, cosign float64
	operators       []string
}

var (
	sites = []siteModel{
		{"lu-1", 35, 22, []string{"ops-lu-anna", "ops-lu-marc", "ops-lu-paul"}},
		{"ch-1", 55, 30, []string{"ops-ch-lea", "ops-ch-noah", "ops-ch-mia"}},
		{"fi-1", 80, 41, []string{"ops-fi-aino", "ops-fi-eero", "ops-fi-ville"}},
	}
	datasets = []struct{ name, primary, secondary string }{
		{"population-register", "lu-1", "ch-1"},
		{"land-register", "ch-1", "lu-1"},
		{"documents", "lu-1", "ch-1"},
		{"model-weights", "fi-1", "lu-1"},
	}
)

func business(t time.Time) bool {
	wd := t.Weekday()
	return wd != time.Saturday && wd != time.Sunday && t.Hour() >= 8 && t.Hour() < 18
}

// diurnal is a smooth load factor, highest mid-afternoon on weekdays.
func diurnal(t time.Time) float64 {
	h := float64(t.Hour()) + float64(t.Minute())/60
	f := 1 + 0.2*math.Max(0, math.Sin((h-6)/12*math.Pi))
	if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
		f = 1 + (f-1)/3
	}
	return f
}

type gen struct {
	r      *rand.Rand
	events []watch.Event
}

func (g *gen) add(e watch.Event) { g.events = append(g.events, e) }

// poissonTimes adds events of a Poisson process whose rate per hour is
// rate(t), by thinning over [from, to).
func (g *gen) poissonTimes(from, to time.Time, maxRate float64, rate func(time.Time) float64, emit func(time.Time)) {
	t := from
	for {
		dt := g.r.ExpFloat64() / maxRate // hours
		t = t.Add(time.Duration(dt * float64(time.Hour)))
		if !t.Before(to) {
			return
		}
		if g.r.Float64() < rate(t)/maxRate {
			emit(t)
		}
	}
}

func (g *gen) lognorm(sigma float64) float64 { return math.Exp(g.r.NormFloat64() * sigma) }

// Generate makes a trace.
func Generate(o Options) *Trace {
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	}
	if o.Weeks == 0 {
		o.Weeks = 4
	}
	if o.PerKind == 0 {
		o.PerKind = 4
	}
	g := &gen{r: rand.New(rand.NewPCG(o.Seed, 0x5eed))}
	end := o.Start.Add(time.Duration(o.Weeks) * 7 * 24 * time.Hour)
	tr := &Trace{Seed: o.Seed}

	// Anomalies are placed first (after a week of warm-up, never two on the
	// same stream at once), so that normal generation can bend around them.
	pl := &planner{g: g, from: o.Start.Add(8 * 24 * time.Hour), to: end.Add(-24 * time.Hour)}
	shift := map[string][]Label{} // proof and cosign multipliers
	for _, kind := range []string{watch.AnomalyOffHoursUnwraps, watch.AnomalyProofLatency, watch.AnomalyReadSurge,
		watch.AnomalyRestoreSite, watch.AnomalyWitnessDrift} {
		for i := 0; i < o.PerKind; i++ {
			l := pl.place(kind)
			tr.Labels = append(tr.Labels, l)
			if kind == watch.AnomalyProofLatency || kind == watch.AnomalyWitnessDrift {
				shift[kind+"|"+l.Site] = append(shift[kind+"|"+l.Site], l)
			}
		}
	}
	factor := func(kind, site string, t time.Time, peak float64) float64 {
		for _, l := range shift[kind+"|"+site] {
			if t.Before(l.Start) || !t.Before(l.End) {
				continue
			}
			if kind == watch.AnomalyProofLatency {
				return peak
			}
			// Drift: ramp up over the first half, stay up, then recover.
			ramp := l.End.Sub(l.Start) / 2
			x := float64(t.Sub(l.Start)) / float64(ramp)
			return 1 + (peak-1)*math.Min(1, x)
		}
		return 1
	}
	peaks := map[string]float64{}
	for _, l := range tr.Labels {
		peaks[l.Kind+"|"+l.Site+"|"+l.Start.String()] = 1.8 + 0.7*g.r.Float64()
	}
	peakOf := func(kind, site string, t time.Time) float64 {
		for _, l := range shift[kind+"|"+site] {
			if !t.Before(l.Start) && t.Before(l.End) {
				return peaks[l.Kind+"|"+l.Site+"|"+l.Start.String()]
			}
		}
		return 1
	}

	for _, s := range sites {
		// Proofs of storage every 15 minutes, with a little jitter.
		for t := o.Start; t.Before(end); t = t.Add(15 * time.Minute) {
			at := t.Add(time.Duration(g.r.IntN(60)) * time.Second)
			v := s.proofMS * diurnal(at) * g.lognorm(0.12) * factor(watch.AnomalyProofLatency, s.name, at, peakOf(watch.AnomalyProofLatency, s.name, at))
			g.add(watch.Event{Time: at, Kind: watch.KindProof, Site: s.name, Value: math.Round(v*10) / 10})
		}
		// Witness cosignatures for every checkpoint, about every 5 minutes.
		for t := o.Start; t.Before(end); t = t.Add(5 * time.Minute) {
			at := t.Add(time.Duration(g.r.IntN(20)) * time.Second)
			v := s.cosign * g.lognorm(0.15) * factor(watch.AnomalyWitnessDrift, s.name, at, peakOf(watch.AnomalyWitnessDrift, s.name, at))
			g.add(watch.Event{Time: at, Kind: watch.KindCosign, Site: s.name, Value: math.Round(v*10) / 10})
		}
		// Host operator sessions: office hours on weekdays, a few at
		// weekends, and a rare on-call night session (normal, disclosed).
		for day := o.Start; day.Before(end); day = day.Add(24 * time.Hour) {
			n := 0
			if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
				if g.r.Float64() < 0.3 {
					n = 1
				}
			} else {
				n = 1 + g.r.IntN(3)
			}
			for i := 0; i < n; i++ {
				at := day.Add(8*time.Hour + time.Duration(g.r.IntN(10*3600))*time.Second)
				g.add(watch.Event{Time: at, Kind: watch.KindSession, Site: s.name, Actor: s.operators[g.r.IntN(len(s.operators))]})
			}
			if g.r.Float64() < 0.04 {
				at := day.Add(time.Duration(g.r.IntN(6*3600)) * time.Second)
				g.add(watch.Event{Time: at, Kind: watch.KindSession, Site: s.name, Actor: s.operators[0]})
			}
		}
		// Key uses: workloads and protect cycles, busier in office hours.
		g.poissonTimes(o.Start, end, 6, func(t time.Time) float64 {
			if business(t) {
				return 5
			}
			return 1.2
		}, func(t time.Time) {
			g.add(watch.Event{Time: t, Kind: watch.KindKeyUse, Site: s.name, Dataset: datasets[g.r.IntN(len(datasets))].name})
		})
	}
	for _, d := range datasets {
		g.poissonTimes(o.Start, end, 4, func(t time.Time) float64 {
			if business(t) {
				return 3
			}
			return 0.6
		}, func(t time.Time) {
			g.add(watch.Event{Time: t, Kind: watch.KindRead, Dataset: d.name})
		})
		// Restores (drills, workload fetches): a few a day, mostly from the
		// primary site.
		g.poissonTimes(o.Start, end, 0.3, func(time.Time) float64 { return 0.25 }, func(t time.Time) {
			site := d.primary
			if g.r.Float64() < 0.12 {
				site = d.secondary
			}
			g.add(watch.Event{Time: t, Kind: watch.KindRestore, Site: site, Dataset: d.name})
		})
	}

	// The injected events.
	for _, l := range tr.Labels {
		switch l.Kind {
		case watch.AnomalyOffHoursUnwraps:
			actor := "ops-" + l.Site + "-night"
			if g.r.IntN(2) == 0 {
				actor = siteByName(l.Site).operators[1]
			}
			g.add(watch.Event{Time: l.Start, Kind: watch.KindSession, Site: l.Site, Actor: actor})
			burst := l.Start.Add(time.Duration(5+g.r.IntN(25)) * time.Minute)
			n := 15 + g.r.IntN(26)
			for i := 0; i < n; i++ {
				at := burst.Add(time.Duration(g.r.IntN(20*60)) * time.Second)
				g.add(watch.Event{Time: at, Kind: watch.KindKeyUse, Site: l.Site, Dataset: datasets[g.r.IntN(len(datasets))].name})
			}
		case watch.AnomalyReadSurge:
			mult := 8 + 12*g.r.Float64()
			g.poissonTimes(l.Start, l.End, 3*mult, func(time.Time) float64 { return 3 * mult }, func(t time.Time) {
				g.add(watch.Event{Time: t, Kind: watch.KindRead, Dataset: l.Dataset})
			})
		case watch.AnomalyRestoreSite:
			g.add(watch.Event{Time: l.Start, Kind: watch.KindRestore, Site: l.Site, Dataset: l.Dataset})
		}
	}
	sort.SliceStable(g.events, func(i, j int) bool { return g.events[i].Time.Before(g.events[j].Time) })
	tr.Events = g.events
	sort.Slice(tr.Labels, func(i, j int) bool { return tr.Labels[i].Start.Before(tr.Labels[j].Start) })
	return tr
}

func siteByName(n string) siteModel {
	for _, s := range sites {
		if s.name == n {
			return s
		}
	}
	return sites[0]
}

// planner places anomalies at random times, one at a time per stream, with
// gaps so that detectors can settle between them.
type planner struct {
	g        *gen
	from, to time.Time
	busy     map[string][]Label
}

func (p *planner) free(key string, s, e time.Time) bool {
	for _, l := range p.busy[key] {
		if s.Before(l.End.Add(48*time.Hour)) && e.After(l.Start.Add(-48*time.Hour)) {
			return false
		}
	}
	return true
}

func (p *planner) place(kind string) Label {
	if p.busy == nil {
		p.busy = map[string][]Label{}
	}
	span := p.to.Sub(p.from)
	for try := 0; ; try++ {
		start := p.from.Add(time.Duration(p.g.r.Int64N(int64(span))))
		l := Label{Kind: kind, Start: start.Truncate(time.Minute)}
		switch kind {
		case watch.AnomalyOffHoursUnwraps:
			day := start.Truncate(24 * time.Hour)
			l.Start = day.Add(time.Hour + time.Duration(p.g.r.IntN(4*3600))*time.Second)
			l.End = l.Start.Add(60 * time.Minute)
			l.Site = sites[p.g.r.IntN(len(sites))].name
		case watch.AnomalyProofLatency:
			l.End = l.Start.Add(time.Duration(12+p.g.r.IntN(36)) * time.Hour)
			l.Site = sites[p.g.r.IntN(len(sites))].name
		case watch.AnomalyWitnessDrift:
			l.End = l.Start.Add(time.Duration(12+p.g.r.IntN(12)) * time.Hour)
			l.Site = sites[p.g.r.IntN(len(sites))].name
		case watch.AnomalyReadSurge:
			l.End = l.Start.Add(time.Duration(60+p.g.r.IntN(120)) * time.Minute)
			l.Dataset = datasets[p.g.r.IntN(len(datasets))].name
		case watch.AnomalyRestoreSite:
			d := datasets[p.g.r.IntN(len(datasets))]
			var others []string
			for _, s := range sites {
				if s.name != d.primary && s.name != d.secondary {
					others = append(others, s.name)
				}
			}
			l.Dataset, l.Site = d.name, others[p.g.r.IntN(len(others))]
			l.End = l.Start.Add(time.Minute)
		}
		key := kind + "|" + l.Site + "|" + l.Dataset
		if kind == watch.AnomalyOffHoursUnwraps {
			key = "keyuse|" + l.Site
		}
		if p.free(key, l.Start, l.End) || try > 200 {
			p.busy[key] = append(p.busy[key], l)
			return l
		}
	}
}
