// Command watch measures the watcher's anomaly detector: precision, recall
// and time to detect per anomaly kind on the shipped traces and on fresh
// traces from the same generator with other seeds; events per second
// through the detector; and memory per monitored site.
//
//	go run ./bench/watch [-seeds 10] [-json]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	"github.com/digital-embassy/embassy/internal/watch"
	"github.com/digital-embassy/embassy/internal/watch/trace"
)

type result struct {
	Shipped      []trace.Score `json:"shipped"`
	Fresh        poolScore     `json:"fresh"`
	EventsPerSec []float64     `json:"events_per_second_runs"`
	MedianEPS    float64       `json:"events_per_second_median"`
	BytesPerSite float64       `json:"heap_bytes_per_site"`
}

type poolScore struct {
	Seeds     int                  `json:"seeds"`
	Precision float64              `json:"precision"`
	Recall    float64              `json:"recall"`
	Kinds     map[string]*kindPool `json:"kinds"`
}

type kindPool struct {
	Injected, Detected, Alerts, False int
	TTD                               []time.Duration `json:"-"`
	MedianTTD                         string          `json:"median_time_to_detect"`
}

func main() {
	seeds := flag.Int("seeds", 10, "fresh traces to generate (seeds 1000...)")
	asJSON := flag.Bool("json", false, "print JSON")
	data := flag.String("testdata", "internal/watch/testdata", "folder of the shipped traces")
	flag.Parse()
	var res result

	for _, seed := range []string{"1", "2"} {
		tr, err := trace.Read(filepath.Join(*data, "trace-seed"+seed+".jsonl.gz"), filepath.Join(*data, "trace-seed"+seed+".labels.json"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench/watch:", err, "(run from the repository root)")
			os.Exit(1)
		}
		res.Shipped = append(res.Shipped, trace.Evaluate(trace.Run(watch.New(watch.Config{}), tr), tr.Labels))
	}

	res.Fresh = poolScore{Seeds: *seeds, Kinds: map[string]*kindPool{}}
	var tp, fp, det, inj int
	var big *trace.Trace
	for s := 0; s < *seeds; s++ {
		tr := trace.Generate(trace.Options{Seed: uint64(1000 + s)})
		if big == nil {
			big = tr
		}
		alerts := trace.Run(watch.New(watch.Config{}), tr)
		sc := trace.Evaluate(alerts, tr.Labels)
		for _, k := range sc.Kinds {
			p := res.Fresh.Kinds[k.Kind]
			if p == nil {
				p = &kindPool{}
				res.Fresh.Kinds[k.Kind] = p
			}
			p.Injected += k.Injected
			p.Detected += k.Detected
			p.Alerts += k.Alerts
			p.False += k.FalseAlarm
			if k.Detected > 0 {
				p.TTD = append(p.TTD, k.MedianTTD)
			}
			tp += k.Alerts - k.FalseAlarm
			fp += k.FalseAlarm
			det += k.Detected
			inj += k.Injected
		}
	}
	res.Fresh.Precision = float64(tp) / float64(max(1, tp+fp))
	res.Fresh.Recall = float64(det) / float64(max(1, inj))
	for _, p := range res.Fresh.Kinds {
		sort.Slice(p.TTD, func(i, j int) bool { return p.TTD[i] < p.TTD[j] })
		if len(p.TTD) > 0 {
			p.MedianTTD = p.TTD[len(p.TTD)/2].Round(time.Second).String()
		}
	}

	// Throughput: the same trace, five times, detector only.
	for r := 0; r < 5; r++ {
		d := watch.New(watch.Config{})
		start := time.Now()
		for _, e := range big.Events {
			d.Observe(e)
		}
		res.EventsPerSec = append(res.EventsPerSec, float64(len(big.Events))/time.Since(start).Seconds())
	}
	eps := append([]float64(nil), res.EventsPerSec...)
	sort.Float64s(eps)
	res.MedianEPS = eps[len(eps)/2]

	// Memory per site: a detector learning 1,000 sites, each with its
	// proof, cosign, session and key-use streams, and a dataset each.
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	d := watch.New(watch.Config{})
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	const sites = 1000
	for i := 0; i < 200; i++ {
		t := t0.Add(time.Duration(i) * 5 * time.Minute)
		for s := 0; s < sites; s++ {
			name := fmt.Sprintf("site-%04d", s)
			d.Observe(watch.Event{Time: t, Kind: watch.KindProof, Site: name, Value: 40})
			d.Observe(watch.Event{Time: t, Kind: watch.KindCosign, Site: name, Value: 20})
			d.Observe(watch.Event{Time: t, Kind: watch.KindKeyUse, Site: name})
			d.Observe(watch.Event{Time: t, Kind: watch.KindRead, Dataset: name})
			if i%50 == 0 {
				d.Observe(watch.Event{Time: t, Kind: watch.KindSession, Site: name, Actor: "ops"})
				d.Observe(watch.Event{Time: t, Kind: watch.KindRestore, Site: name, Dataset: name})
			}
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	res.BytesPerSite = float64(m1.HeapAlloc-m0.HeapAlloc) / sites
	runtime.KeepAlive(d)

	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
		return
	}
	for i, sc := range res.Shipped {
		fmt.Printf("shipped trace seed %d: precision %.3f recall %.3f\n", i+1, sc.Precision, sc.Recall)
		for _, k := range sc.Kinds {
			fmt.Printf("  %-26s injected %2d detected %2d alerts %2d false %d  ttd %v\n", k.Kind, k.Injected, k.Detected, k.Alerts, k.FalseAlarm, k.MedianTTD.Round(time.Second))
		}
	}
	fmt.Printf("fresh traces (%d seeds): precision %.3f recall %.3f\n", res.Fresh.Seeds, res.Fresh.Precision, res.Fresh.Recall)
	var kinds []string
	for k := range res.Fresh.Kinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		p := res.Fresh.Kinds[k]
		prec := 1.0
		if p.Alerts > 0 {
			prec = float64(p.Alerts-p.False) / float64(p.Alerts)
		}
		rec := 1.0
		if p.Injected > 0 {
			rec = float64(p.Detected) / float64(p.Injected)
		}
		fmt.Printf("  %-26s precision %.3f recall %.3f median ttd %s\n", k, prec, rec, p.MedianTTD)
	}
	fmt.Printf("detector throughput: %.0f events/s (median of 5 runs over %d events; goal 100,000)\n", res.MedianEPS, len(big.Events))
	fmt.Printf("memory per monitored site: %.1f KiB\n", res.BytesPerSite/1024)
}
