package watch

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Anomaly kinds the detector reports.
const (
	AnomalyOffHoursUnwraps = "offhours-session-unwraps" // an unusual-hour host session followed by a burst of key uses
	AnomalyKeyUseBurst     = "key-use-burst"            // key uses far above the learned rate, with no unusual session before
	AnomalyReadSurge       = "read-surge"               // a dataset read far more than usual
	AnomalyProofLatency    = "proof-latency-shift"      // a site's proof latency departed from its baseline
	AnomalyWitnessDrift    = "witness-drift"            // a witness's cosigning delay drifted from its baseline
	AnomalyRestoreSite     = "unusual-restore-site"     // a dataset restored from a site that rarely or never serves it
)

// Alert is one anomaly, with the numbers behind it.
type Alert struct {
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"`
	Site     string    `json:"site,omitempty"`
	Dataset  string    `json:"dataset,omitempty"`
	Baseline float64   `json:"baseline"`
	Observed float64   `json:"observed"`
	Unit     string    `json:"unit"`
	Why      string    `json:"why"`
}

// Key names the stream an alert is about, for grouping and deduplication.
func (a Alert) Key() string { return a.Kind + "|" + a.Site + "|" + a.Dataset }

// Config tunes the detector. The zero value means the defaults below.
type Config struct {
	// Window is the sliding window over which event rates are compared
	// with the learned rate for that hour (default 30 minutes).
	Window time.Duration
	// RateZ is how many (over-dispersed Poisson) standard deviations above
	// the learned rate a window's count must be (default 6), and RateMin
	// the smallest count that can alert (default 10).
	RateZ   float64
	RateMin int
	// ShiftK and ShiftH are the CUSUM slack and threshold, in robust
	// standard deviations of log value (defaults 1 and 12).
	ShiftK, ShiftH float64
	// Unusual is the share of a site's sessions below which an hour of day
	// is unusual (default 0.02), and Chain how long after such a session a
	// key-use burst is tied to it (default 2 h).
	Unusual float64
	Chain   time.Duration
	// RareSite is the share of a dataset's restores below which a site is
	// unusual for it (default 0.03).
	RareSite float64
	// Warmup is how much history a stream needs before it can alert
	// (default 3 days).
	Warmup time.Duration
}

func (c Config) withDefaults() Config {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Window == 0 {
		c.Window = 30 * time.Minute
	}
	def(&c.RateZ, 6)
	if c.RateMin == 0 {
		c.RateMin = 10
	}
	def(&c.ShiftK, 1)
	def(&c.ShiftH, 12)
	def(&c.Unusual, 0.02)
	if c.Chain == 0 {
		c.Chain = 2 * time.Hour
	}
	def(&c.RareSite, 0.03)
	if c.Warmup == 0 {
		c.Warmup = 72 * time.Hour
	}
	return c
}

// Detector learns each stream's normal pattern and flags departures. It
// keeps learning: every observation updates the baselines, with anomalous
// values damped so that an attack is not learned as normal in one go, yet a
// lasting change (data honestly moved to a slower disk) becomes the new
// normal in days. Not safe for concurrent use.
type Detector struct {
	cfg      Config
	rates    map[string]*rateStream
	shifts   map[string]*shiftStream
	sessions map[string]*sessionStream
	restores map[string]*categorical
	last     time.Time
	// Observed counts events; Dropped counts events whose time went back
	// more than a day (a clock jump), which are ignored.
	Observed, Dropped uint64
}

// New returns a detector with the given configuration.
func New(cfg Config) *Detector {
	return &Detector{cfg: cfg.withDefaults(), rates: map[string]*rateStream{}, shifts: map[string]*shiftStream{},
		sessions: map[string]*sessionStream{}, restores: map[string]*categorical{}}
}

// Streams reports how many streams the detector is learning.
func (d *Detector) Streams() int {
	return len(d.rates) + len(d.shifts) + len(d.sessions) + len(d.restores)
}

// maxStreams bounds the detector's memory against a flood of invented site
// or dataset names; past it, events of new streams are dropped (counted).
const maxStreams = 100_000

// Observe feeds one event and returns the alerts it raises (usually none).
func (d *Detector) Observe(ev Event) []Alert {
	if !d.last.IsZero() && ev.Time.Before(d.last.Add(-24*time.Hour)) {
		d.Dropped++
		return nil
	}
	if ev.Time.After(d.last) {
		d.last = ev.Time
	}
	d.Observed++
	switch ev.Kind {
	case KindSession:
		s := d.sessions[ev.Site]
		if s == nil {
			if d.Streams() >= maxStreams {
				d.Dropped++
				return nil
			}
			s = &sessionStream{}
			d.sessions[ev.Site] = s
		}
		s.observe(ev, d.cfg)
	case KindKeyUse:
		r := d.rate(KindKeyUse+"|"+ev.Site, ev.Time)
		if r == nil {
			return nil
		}
		if a, ok := r.observe(ev.Time, d.cfg); ok {
			a.Site = ev.Site
			a.Kind = AnomalyKeyUseBurst
			a.Why = fmt.Sprintf("%v key uses at %s in %v, learned rate for this hour %.1f", a.Observed, ev.Site, d.cfg.Window, a.Baseline)
			if s := d.sessions[ev.Site]; s != nil && !s.unusualAt.IsZero() && ev.Time.Sub(s.unusualAt) <= d.cfg.Chain && ev.Time.After(s.unusualAt) {
				a.Kind = AnomalyOffHoursUnwraps
				a.Why = fmt.Sprintf("session by %q at %s %s (%s), then %s", s.unusualActor, s.unusualAt.UTC().Format("15:04"),
					ev.Site, s.unusualWhy, a.Why)
			}
			return []Alert{a}
		}
	case KindRead:
		r := d.rate(KindRead+"|"+ev.Dataset, ev.Time)
		if r == nil {
			return nil
		}
		if a, ok := r.observe(ev.Time, d.cfg); ok {
			a.Dataset, a.Kind = ev.Dataset, AnomalyReadSurge
			a.Why = fmt.Sprintf("dataset %q read %v times in %v, learned rate for this hour %.1f", ev.Dataset, a.Observed, d.cfg.Window, a.Baseline)
			return []Alert{a}
		}
	case KindProof, KindCosign:
		key := ev.Kind + "|" + ev.Site
		s := d.shifts[key]
		if s == nil {
			if d.Streams() >= maxStreams {
				d.Dropped++
				return nil
			}
			s = &shiftStream{start: ev.Time}
			d.shifts[key] = s
		}
		if a, ok := s.observe(ev.Time, ev.Value, d.cfg); ok {
			a.Site = ev.Site
			if ev.Kind == KindProof {
				a.Kind = AnomalyProofLatency
				a.Why = fmt.Sprintf("proofs of storage from %s now take %.0f ms, baseline %.0f ms (x%.2f): data moved to slower media or further away?",
					ev.Site, a.Observed, a.Baseline, a.Observed/a.Baseline)
			} else {
				a.Kind = AnomalyWitnessDrift
				a.Why = fmt.Sprintf("witness %s now cosigns in %.0f ms, baseline %.0f ms (x%.2f)", ev.Site, a.Observed, a.Baseline, a.Observed/a.Baseline)
			}
			return []Alert{a}
		}
	case KindRestore:
		c := d.restores[ev.Dataset]
		if c == nil {
			if d.Streams() >= maxStreams {
				d.Dropped++
				return nil
			}
			c = &categorical{counts: map[string]float64{}}
			d.restores[ev.Dataset] = c
		}
		if a, ok := c.observe(ev.Site, d.cfg); ok {
			a.Time, a.Site, a.Dataset, a.Kind = ev.Time, ev.Site, ev.Dataset, AnomalyRestoreSite
			a.Why = fmt.Sprintf("dataset %q restored from %s, which served %.1f%% of its past restores (%s)", ev.Dataset, ev.Site,
				100*a.Observed, c.top())
			return []Alert{a}
		}
	}
	return nil
}

func (d *Detector) rate(key string, t time.Time) *rateStream {
	r := d.rates[key]
	if r == nil {
		if d.Streams() >= maxStreams {
			d.Dropped++
			return nil
		}
		r = &rateStream{start: t}
		d.rates[key] = r
	}
	return r
}

// slot is the seasonal position of a time: hour of day, weekday or weekend.
func slot(t time.Time) int {
	t = t.UTC()
	s := t.Hour()
	if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
		s += 24
	}
	return s
}

// rateStream learns how many events a stream sees per hour, per seasonal
// slot, and compares the count in a sliding window with it.
type rateStream struct {
	start   time.Time
	hour    time.Time // the hour being counted
	count   float64
	lambda  [48]float64 // learned events per hour, per slot
	seen    [48]int     // hours learned per slot
	global  float64     // learned events per hour over all slots
	hours   int
	window  []time.Time // event times in the sliding window
	alerted bool
}

const rateAlpha = 0.2

func (r *rateStream) expected(t time.Time) float64 {
	s := slot(t)
	// A slot with little history borrows from the global rate; the hour
	// before counts too, so that a shift starting a few minutes early (an
	// office opening at 07:50) is not an anomaly.
	prev := slot(t.Add(-time.Hour))
	l := math.Max(r.lambdaOf(s), r.lambdaOf(prev))
	return math.Max(l, 0.5)
}

func (r *rateStream) lambdaOf(s int) float64 {
	if r.seen[s] >= 2 {
		return r.lambda[s]
	}
	return math.Max(r.global, r.lambda[s])
}

// closeHours folds the counted hours into the learned rates, up to t.
func (r *rateStream) closeHours(t time.Time) {
	h := t.Truncate(time.Hour)
	if r.hour.IsZero() {
		r.hour = h
		return
	}
	for n := 0; r.hour.Before(h); n++ {
		if n > 24*14 { // a clock jump: skip the gap rather than loop on it
			r.hour, r.count = h, 0
			return
		}
		s := slot(r.hour)
		c := r.count
		// Damp what an anomaly would teach: at most mean + 4 sd.
		if r.seen[s] >= 2 {
			lim := r.lambda[s] + 4*math.Sqrt(r.lambda[s]+1)
			c = math.Min(c, lim)
		}
		if r.seen[s] == 0 {
			r.lambda[s] = c
		} else {
			r.lambda[s] += rateAlpha * (c - r.lambda[s])
		}
		r.seen[s]++
		r.hours++
		r.global += (c - r.global) / math.Min(float64(r.hours), 168)
		r.hour, r.count = r.hour.Add(time.Hour), 0
	}
}

func (r *rateStream) observe(t time.Time, cfg Config) (Alert, bool) {
	r.closeHours(t)
	if !t.Before(r.hour) {
		r.count++
	}
	// Slide the window.
	cut := t.Add(-cfg.Window)
	i := sort.Search(len(r.window), func(i int) bool { return r.window[i].After(cut) })
	r.window = append(r.window[:0], r.window[i:]...)
	if len(r.window) < 4096 {
		r.window = append(r.window, t)
	}
	n := float64(len(r.window))
	lam := r.expected(t) * cfg.Window.Hours()
	sd := math.Sqrt(lam + 0.09*lam*lam) // over-dispersed Poisson
	z := (n - lam) / sd
	if t.Sub(r.start) < cfg.Warmup {
		return Alert{}, false
	}
	if r.alerted {
		if z < cfg.RateZ/2 {
			r.alerted = false
		}
		return Alert{}, false
	}
	if n >= float64(cfg.RateMin) && z >= cfg.RateZ {
		r.alerted = true
		return Alert{Time: t, Baseline: round1(lam), Observed: n, Unit: "events per " + cfg.Window.String()}, true
	}
	return Alert{}, false
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// shiftStream learns a value's seasonal level (in log space, so that a
// doubling is the same step for every site) and detects a lasting departure
// with a one-sided CUSUM.
type shiftStream struct {
	start   time.Time
	mu      [24]float64
	seen    [24]int
	global  float64
	scale   float64 // robust scale of residuals (EW mean absolute deviation x 1.25)
	n       int
	cusum   float64
	since   []float64 // values since the CUSUM last left zero: the observed figure
	alerted bool
	calm    int
}

func (s *shiftStream) level(h int) float64 {
	if s.seen[h] >= 3 {
		return s.mu[h]
	}
	return s.global
}

func (s *shiftStream) observe(t time.Time, v float64, cfg Config) (Alert, bool) {
	x := math.Log(math.Max(v, 1e-3))
	h := t.UTC().Hour()
	s.n++
	if s.n == 1 {
		s.global, s.scale = x, 0.1
	}
	base := s.level(h)
	r := x - base
	sigma := math.Max(s.scale, 0.02)
	z := r / sigma
	// Learn: ordinary values at the normal rate, outliers at a trickle.
	a := 0.05
	if math.Abs(z) > 3 {
		a = 0.002
	}
	if s.seen[h] == 0 {
		s.mu[h] = s.global
	}
	s.mu[h] += a * (x - s.mu[h])
	s.seen[h]++
	s.global += a * (x - s.global)
	if math.Abs(z) <= 3 {
		s.scale += 0.02 * (1.25*math.Abs(r) - s.scale)
	}
	warm := t.Sub(s.start) >= cfg.Warmup && s.n >= 50
	// One step adds at most a third of the threshold, so that a single
	// outlier (a network hiccup) never alerts: a shift must last.
	s.cusum = math.Max(0, s.cusum+math.Min(z-cfg.ShiftK, cfg.ShiftH/3))
	if s.cusum == 0 {
		s.since = s.since[:0]
	} else if len(s.since) < 64 {
		s.since = append(s.since, v)
	}
	if !warm {
		s.cusum = 0
		return Alert{}, false
	}
	if s.alerted {
		if z < 1 {
			s.calm++
		} else {
			s.calm = 0
		}
		if s.calm >= 12 {
			s.alerted, s.cusum = false, 0
		}
		return Alert{}, false
	}
	if s.cusum >= cfg.ShiftH {
		s.alerted, s.calm = true, 0
		return Alert{Time: t, Baseline: math.Round(math.Exp(base)), Observed: math.Round(median(s.since)), Unit: "ms"}, true
	}
	return Alert{}, false
}

func median(v []float64) float64 {
	c := append([]float64(nil), v...)
	sort.Float64s(c)
	if len(c) == 0 {
		return 0
	}
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

// sessionStream learns at which hours of day a site's host operators work
// and who they are; an unusual session is remembered for the key-use burst
// that may follow it.
type sessionStream struct {
	hist         [24]float64
	total        float64
	actors       map[string]float64
	unusualAt    time.Time
	unusualActor string
	unusualWhy   string
}

func (s *sessionStream) observe(ev Event, cfg Config) {
	h := ev.Time.UTC().Hour()
	if s.actors == nil {
		s.actors = map[string]float64{}
	}
	if s.total >= 8 {
		share := s.hist[h] / s.total
		known := s.actors[ev.Actor] > 0
		switch {
		case share < cfg.Unusual && !known:
			s.unusualAt, s.unusualActor, s.unusualWhy = ev.Time, ev.Actor, fmt.Sprintf("an hour with %.1f%% of past sessions, by an operator never seen before", 100*share)
		case share < cfg.Unusual:
			s.unusualAt, s.unusualActor, s.unusualWhy = ev.Time, ev.Actor, fmt.Sprintf("an hour with %.1f%% of past sessions", 100*share)
		case !known:
			s.unusualAt, s.unusualActor, s.unusualWhy = ev.Time, ev.Actor, "an operator never seen before"
		}
	}
	// Decay slowly so that a new shift pattern is learned in weeks.
	const decay = 0.999
	for i := range s.hist {
		s.hist[i] *= decay
	}
	s.total = s.total*decay + 1
	s.hist[h]++
	if len(s.actors) < 1000 || s.actors[ev.Actor] > 0 {
		s.actors[ev.Actor]++
	}
}

// categorical learns which sites a dataset is restored from.
type categorical struct {
	counts map[string]float64
	flags  map[string]int
	total  float64
}

func (c *categorical) observe(site string, cfg Config) (Alert, bool) {
	share := 0.0
	if c.total > 0 {
		share = c.counts[site] / c.total
	}
	// A site is unusual for a dataset when it has (almost) never served it
	// over a history long enough that an ordinary secondary site would have
	// shown up.
	alert := c.total >= 30 && share < cfg.RareSite && c.counts[site] < 0.5
	const decay = 0.995
	for k := range c.counts {
		c.counts[k] *= decay
	}
	c.total = c.total*decay + 1
	for k := range c.flags {
		if c.counts[k] >= 1 {
			delete(c.flags, k)
		}
	}
	// An unusual restore is learned at a tenth of its weight: a few of them
	// do not make the site normal, a lasting new practice does.
	w := 1.0
	if alert {
		w = 0.1
		if c.flags == nil {
			c.flags = map[string]int{}
		}
		c.flags[site]++
		// The same site flagged again and again over a short history is a
		// practice, not an intruder: learn it at full weight.
		if c.flags[site] >= 3 {
			w = 1
		}
	}
	if len(c.counts) < 1000 || c.counts[site] > 0 {
		c.counts[site] += w
	}
	if alert {
		return Alert{Baseline: cfg.RareSite, Observed: math.Round(share*1000) / 1000, Unit: "share of restores"}, true
	}
	return Alert{}, false
}

func (c *categorical) top() string {
	type kv struct {
		k string
		v float64
	}
	var all []kv
	for k, v := range c.counts {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || all[i].v == all[j].v && all[i].k < all[j].k })
	out := ""
	for i, e := range all {
		if i == 3 {
			break
		}
		if out != "" {
			out += ", "
		}
		out += fmt.Sprintf("%s %.0f%%", e.k, 100*e.v/c.total)
	}
	return "usually " + out
}
