package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/metrics"
	"github.com/digital-embassy/embassy/internal/repo"
)

// metricsTextfileEnv names a folder where every one-shot command writes its
// metrics when it ends, for node_exporter's textfile collector
// (docs/METRICS.md, "Home commands").
const metricsTextfileEnv = "EMBASSY_METRICS_TEXTFILE_DIR"

// commandMetrics are what one command run measured.
type commandMetrics struct {
	reg      *metrics.Registry
	lastRun  *prometheus.GaugeVec
	duration *prometheus.GaugeVec
	exit     *prometheus.GaugeVec
	bytes    *prometheus.GaugeVec
	stored   *prometheus.GaugeVec
	snapSecs *prometheus.GaugeVec
	proof    *prometheus.GaugeVec
	file     string // distinguishes runs that must not overwrite each other (a dataset)
}

func newCommandMetrics() *commandMetrics {
	g := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	}
	m := &commandMetrics{reg: metrics.NewBareRegistry(),
		lastRun:  g("embassy_command_last_run_timestamp_seconds", "When the command last ended.", "command"),
		duration: g("embassy_command_duration_seconds", "Wall time of the command's last run.", "command"),
		exit:     g("embassy_command_exit_code", "Exit code of the command's last run (docs: 0 ok, 3 damage or partial, ...).", "command"),
		bytes:    g("embassy_snapshot_bytes", "Logical bytes of the files in the dataset's last snapshot taken by 'embassy snapshot'.", "dataset"),
		stored:   g("embassy_snapshot_stored_bytes", "Bytes the dataset's last snapshot wrote to each site (new blobs, compressed and sealed).", "dataset"),
		snapSecs: g("embassy_snapshot_duration_seconds", "Wall time of the dataset's last snapshot.", "dataset"),
		proof:    g("embassy_proof_latency_seconds", "Round trip of the last proof-of-storage challenge ('embassy verify --proof'), by site.", "site"),
	}
	m.reg.MustRegister(m.lastRun, m.duration, m.exit, m.bytes, m.stored, m.snapSecs, m.proof)
	return m
}

// MetricNames lists the metrics one-shot commands write (docs/METRICS.md is
// checked against it).
func MetricNames() []string { return newCommandMetrics().reg.Names() }

// cmdMetrics returns the run's metrics, created on first use.
func (e *env) cmdMetrics() *commandMetrics {
	if e.metrics == nil {
		e.metrics = newCommandMetrics()
	}
	return e.metrics
}

// observeSnapshot records a committed snapshot.
func (e *env) observeSnapshot(dataset string, st repo.SnapshotStats) {
	m := e.cmdMetrics()
	m.bytes.WithLabelValues(dataset).Set(float64(st.Bytes))
	m.stored.WithLabelValues(dataset).Set(float64(st.NewStored))
	m.snapSecs.WithLabelValues(dataset).Set(st.DurationSec)
	m.file = dataset
}

// observeProof records a proof's round trip at a site.
func (e *env) observeProof(site string, d time.Duration) {
	e.cmdMetrics().proof.WithLabelValues(site).Set(d.Seconds())
}

var unsafeFileChars = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[^A-Za-z0-9_.-]+`) })

// writeCommandMetrics writes the run's metrics to
// $EMBASSY_METRICS_TEXTFILE_DIR/embassy_<command>[_<dataset>].prom,
// atomically; a failure is a warning, never the command's.
func (e *env) writeCommandMetrics(cmd *cobra.Command, code int, start time.Time) {
	dir := os.Getenv(metricsTextfileEnv)
	if dir == "" || cmd == nil || cmd == cmd.Root() {
		return
	}
	name := strings.TrimSpace(strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()))
	m := e.cmdMetrics()
	m.lastRun.WithLabelValues(name).Set(float64(time.Now().UnixNano()) / 1e9)
	m.duration.WithLabelValues(name).Set(time.Since(start).Seconds())
	m.exit.WithLabelValues(name).Set(float64(code))
	file := "embassy_" + strings.ReplaceAll(name, " ", "_")
	if m.file != "" {
		file += "_" + unsafeFileChars().ReplaceAllString(m.file, "_")
	}
	if err := prometheus.WriteToTextfile(filepath.Join(dir, file+".prom"), m.reg); err != nil {
		e.warnf("%s: %v", metricsTextfileEnv, err)
	}
}
