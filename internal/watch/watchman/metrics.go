package watchman

import (
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/watch"
)

// Snapshot is what one cycle measured, exported as Prometheus metrics by
// Exporter (docs/METRICS.md lists them) so that the alert rules in
// deploy/prometheus/embassy-rules.yml can fire without the watcher's own
// notifications.
type Snapshot struct {
	Time             time.Time
	Events           int
	Fresh            map[string]int        // new alerts this cycle, by kind
	DisclosureAlerts map[[2]string]int     // (kind, site) -> open alerts
	ProofFailures    map[string]int        // site -> proofs that found damage, ever
	ProofLastOK      map[string]time.Time  // site -> last proof without damage
	WitnessRefusals  map[string]int        // kind -> refusals seen
	AgreementExpiry  map[string]time.Time  // agreement -> end of term
	DrillLastPass    map[string]time.Time  // dataset (or plan) -> last passing drill
	Lag              map[[2]string]float64 // (dataset, site) -> seconds, from the last RPO alert line
}

// Measure derives a snapshot from a cycle's input and its fresh alerts.
func Measure(in Input, fresh []watch.Alert, now time.Time) Snapshot {
	s := Snapshot{Time: now, Fresh: map[string]int{}, DisclosureAlerts: map[[2]string]int{}, ProofFailures: map[string]int{},
		ProofLastOK: map[string]time.Time{}, WitnessRefusals: map[string]int{}, AgreementExpiry: map[string]time.Time{},
		DrillLastPass: map[string]time.Time{}, Lag: map[[2]string]float64{}}
	for _, a := range fresh {
		s.Fresh[a.Kind]++
	}
	byIndex := map[uint64]string{}
	for _, x := range in.Entries {
		s.Events++
		byIndex[x.Index] = x.Kind
		switch x.Kind {
		case tlog.KindVerify:
			if x.Details["proof"] != "true" {
				continue
			}
			if n, _ := strconv.Atoi(x.Details["damage"]); n > 0 {
				s.ProofFailures[x.Site]++
			} else if x.Time.After(s.ProofLastOK[x.Site]) {
				s.ProofLastOK[x.Site] = x.Time
			}
		case tlog.KindDrill:
			if r := x.Details["result"]; r == "pass" || x.Details["pass"] == "true" {
				key := x.Dataset
				if key == "" {
					key = x.Object
				}
				if x.Time.After(s.DrillLastPass[key]) {
					s.DrillLastPass[key] = x.Time
				}
			}
		}
	}
	for _, a := range in.Disclosures {
		s.DisclosureAlerts[[2]string{disclosureKind(a, byIndex), a.Site}]++
	}
	for _, w := range in.WitnessAlerts {
		s.WitnessRefusals[w.Kind]++
	}
	for id, t := range in.Agreements {
		s.AgreementExpiry[id] = t
	}
	return s
}

// disclosureKind names a disclosure cross-check alert by what it is about.
func disclosureKind(a tlog.Alert, byIndex map[uint64]string) string {
	switch a.Kind {
	case "late-disclosure":
		return CondLateDisclosure
	case "unexpected-reason":
		return CondUnexpectedReason
	}
	switch byIndex[a.Index] {
	case tlog.KindKeyUnwrap, tlog.KindKeyUse:
		return CondUndisclosedKeyUse
	case tlog.KindSession, tlog.KindDaemonLogin:
		return CondUnmatchedSession
	}
	return CondUndisclosedAccess
}

// Exporter serves the latest snapshot, and counts across cycles.
type Exporter struct {
	mu     sync.Mutex
	last   Snapshot
	cycles float64
	alerts map[string]float64
}

// NewExporter returns an exporter with no cycle yet.
func NewExporter() *Exporter { return &Exporter{alerts: map[string]float64{}} }

// Update records a cycle.
func (x *Exporter) Update(s Snapshot) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.last = s
	x.cycles++
	for k, n := range s.Fresh {
		x.alerts[k] += float64(n)
	}
}

var (
	descCycles     = prometheus.NewDesc("embassy_watch_cycles_total", "Watch cycles completed.", nil, nil)
	descLastCycle  = prometheus.NewDesc("embassy_watch_last_cycle_timestamp_seconds", "When the last watch cycle ended.", nil, nil)
	descEvents     = prometheus.NewDesc("embassy_watch_log_entries", "Transparency-log entries the last cycle replayed.", nil, nil)
	descAlerts     = prometheus.NewDesc("embassy_watch_alerts_total", "New alerts raised by the watcher, by kind (anomalies and forwarded conditions).", []string{"kind"}, nil)
	descDisclosure = prometheus.NewDesc("embassy_disclosure_alerts", "Open disclosure cross-check alerts, by kind and site.", []string{"kind", "site"}, nil)
	descProofFail  = prometheus.NewDesc("embassy_proof_failures_total", "Proofs of storage that found damage, by site.", []string{"site"}, nil)
	descProofOK    = prometheus.NewDesc("embassy_proof_last_success_timestamp_seconds", "Last proof of storage that found no damage, by site.", []string{"site"}, nil)
	descWitness    = prometheus.NewDesc("embassy_witness_refusals_total", "Witness refusals and failures seen by the log, by kind.", []string{"kind"}, nil)
	descAgreement  = prometheus.NewDesc("embassy_agreement_expiry_timestamp_seconds", "End of each installed agreement's term.", []string{"agreement"}, nil)
	descDrill      = prometheus.NewDesc("embassy_drill_last_pass_timestamp_seconds", "Last passing restore drill recorded in the log, by dataset.", []string{"dataset"}, nil)
)

// Describe implements prometheus.Collector.
func (x *Exporter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCycles, descLastCycle, descEvents, descAlerts, descDisclosure, descProofFail, descProofOK, descWitness, descAgreement, descDrill} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (x *Exporter) Collect(ch chan<- prometheus.Metric) {
	x.mu.Lock()
	defer x.mu.Unlock()
	s := x.last
	ch <- prometheus.MustNewConstMetric(descCycles, prometheus.CounterValue, x.cycles)
	if x.cycles == 0 {
		return
	}
	ch <- prometheus.MustNewConstMetric(descLastCycle, prometheus.GaugeValue, unix(s.Time))
	ch <- prometheus.MustNewConstMetric(descEvents, prometheus.GaugeValue, float64(s.Events))
	for _, k := range sortedKeys(x.alerts) {
		ch <- prometheus.MustNewConstMetric(descAlerts, prometheus.CounterValue, x.alerts[k], k)
	}
	for k, n := range s.DisclosureAlerts {
		ch <- prometheus.MustNewConstMetric(descDisclosure, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
	for site, n := range s.ProofFailures {
		ch <- prometheus.MustNewConstMetric(descProofFail, prometheus.CounterValue, float64(n), site)
	}
	for site, t := range s.ProofLastOK {
		ch <- prometheus.MustNewConstMetric(descProofOK, prometheus.GaugeValue, unix(t), site)
	}
	for k, n := range s.WitnessRefusals {
		ch <- prometheus.MustNewConstMetric(descWitness, prometheus.CounterValue, float64(n), k)
	}
	for id, t := range s.AgreementExpiry {
		ch <- prometheus.MustNewConstMetric(descAgreement, prometheus.GaugeValue, unix(t), id)
	}
	for ds, t := range s.DrillLastPass {
		ch <- prometheus.MustNewConstMetric(descDrill, prometheus.GaugeValue, unix(t), ds)
	}
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func sortedKeys(m map[string]float64) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}
