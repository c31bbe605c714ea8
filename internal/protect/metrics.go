package protect

import (
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	descLag      = prometheus.NewDesc("embassy_replication_lag_seconds", "Time since the newest committed snapshot of the dataset held by the site (+Inf: none).", []string{"dataset", "site"}, nil)
	descExceeded = prometheus.NewDesc("embassy_rpo_exceeded", "1 when the dataset's lag at the site exceeds its RPO.", []string{"dataset", "site"}, nil)
	descRPO      = prometheus.NewDesc("embassy_rpo_seconds", "The dataset's recovery point objective.", []string{"dataset"}, nil)
	descTaken    = prometheus.NewDesc("embassy_protect_snapshots_total", "Protection snapshots attempted, by result.", []string{"dataset", "result"}, nil)
	descBytes    = prometheus.NewDesc("embassy_protect_snapshot_bytes", "Logical bytes of the files in the dataset's last committed snapshot.", []string{"dataset"}, nil)
	descStored   = prometheus.NewDesc("embassy_protect_stored_bytes_total", "Bytes written to each site for the dataset's snapshots (new blobs after deduplication, compression and sealing).", []string{"dataset"}, nil)
	descDuration = prometheus.NewDesc("embassy_protect_snapshot_duration_seconds", "Wall time of the dataset's last committed snapshot.", []string{"dataset"}, nil)
	descLast     = prometheus.NewDesc("embassy_protect_last_success_timestamp_seconds", "When the dataset's last protection snapshot was committed.", []string{"dataset"}, nil)
)

// Describe implements prometheus.Collector: 'embassy protect --metrics'
// registers the runner (docs/METRICS.md).
func (rn *Runner) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLag, descExceeded, descRPO, descTaken, descBytes, descStored, descDuration, descLast} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (rn *Runner) Collect(ch chan<- prometheus.Metric) {
	rn.init()
	rn.mu.Lock()
	defer rn.mu.Unlock()
	for _, d := range rn.Config.Datasets {
		n := d.Name
		ch <- prometheus.MustNewConstMetric(descRPO, prometheus.GaugeValue, d.RPO.Seconds(), n)
		st := rn.state[n]
		if st == nil {
			continue
		}
		for _, l := range st.lags {
			lag := l.LagSec
			if l.LagSec < 0 || l.Lag == time.Duration(math.MaxInt64) {
				lag = math.Inf(1)
			}
			ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, lag, n, l.Site)
			ch <- prometheus.MustNewConstMetric(descExceeded, prometheus.GaugeValue, b2f(l.Exceeded), n, l.Site)
		}
		ch <- prometheus.MustNewConstMetric(descTaken, prometheus.CounterValue, float64(st.ok), n, "ok")
		ch <- prometheus.MustNewConstMetric(descTaken, prometheus.CounterValue, float64(st.failed), n, "failed")
		ch <- prometheus.MustNewConstMetric(descStored, prometheus.CounterValue, float64(st.stored), n)
		if !st.lastSuccess.IsZero() {
			ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(st.last.Bytes), n)
			ch <- prometheus.MustNewConstMetric(descDuration, prometheus.GaugeValue, st.last.DurationSec, n)
			ch <- prometheus.MustNewConstMetric(descLast, prometheus.GaugeValue, float64(st.lastSuccess.UnixNano())/1e9, n)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
