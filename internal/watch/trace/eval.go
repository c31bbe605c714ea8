package trace

import (
	"sort"
	"time"

	"github.com/digital-embassy/embassy/internal/watch"
)

// KindScore is how a detector did on one anomaly kind.
type KindScore struct {
	Kind       string        `json:"kind"`
	Injected   int           `json:"injected"`
	Detected   int           `json:"detected"`
	Alerts     int           `json:"alerts"`
	FalseAlarm int           `json:"false_alarms"`
	Precision  float64       `json:"precision"`
	Recall     float64       `json:"recall"`
	MedianTTD  time.Duration `json:"median_time_to_detect"`
}

// Score is a detector's result on a trace.
type Score struct {
	Kinds     []KindScore `json:"kinds"`
	Precision float64     `json:"precision"`
	Recall    float64     `json:"recall"`
	// Unlabelled lists alerts that match no injected anomaly.
	Unlabelled []watch.Alert `json:"unlabelled,omitempty"`
}

// grace is how long after an anomaly ends an alert about it still counts.
const grace = 2 * time.Hour

// Evaluate matches alerts with labels: an alert is a true positive when its
// kind and stream match a label and it falls in the label's interval (plus
// a grace period); a label is detected when at least one alert matches it.
func Evaluate(alerts []watch.Alert, labels []Label) Score {
	by := map[string]*KindScore{}
	get := func(k string) *KindScore {
		if by[k] == nil {
			by[k] = &KindScore{Kind: k}
		}
		return by[k]
	}
	ttd := map[string][]time.Duration{}
	hit := make([]bool, len(labels))
	var sc Score
	for _, a := range alerts {
		ks := get(a.Kind)
		ks.Alerts++
		matched := false
		for i, l := range labels {
			if l.Kind != a.Kind || l.Site != "" && l.Site != a.Site || l.Dataset != "" && l.Dataset != a.Dataset {
				continue
			}
			if a.Time.Before(l.Start) || a.Time.After(l.End.Add(grace)) {
				continue
			}
			matched = true
			if !hit[i] {
				hit[i] = true
				ttd[l.Kind] = append(ttd[l.Kind], a.Time.Sub(l.Start))
			}
		}
		if !matched {
			ks.FalseAlarm++
			sc.Unlabelled = append(sc.Unlabelled, a)
		}
	}
	tp, fp, det, inj := 0, 0, 0, 0
	for i, l := range labels {
		ks := get(l.Kind)
		ks.Injected++
		if hit[i] {
			ks.Detected++
		}
	}
	for _, ks := range by {
		if ks.Alerts > 0 {
			ks.Precision = float64(ks.Alerts-ks.FalseAlarm) / float64(ks.Alerts)
		} else if ks.Injected == 0 {
			ks.Precision = 1
		}
		if ks.Injected > 0 {
			ks.Recall = float64(ks.Detected) / float64(ks.Injected)
		} else {
			ks.Recall = 1
		}
		d := ttd[ks.Kind]
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		if len(d) > 0 {
			ks.MedianTTD = d[len(d)/2]
		}
		tp += ks.Alerts - ks.FalseAlarm
		fp += ks.FalseAlarm
		det += ks.Detected
		inj += ks.Injected
		sc.Kinds = append(sc.Kinds, *ks)
	}
	sort.Slice(sc.Kinds, func(i, j int) bool { return sc.Kinds[i].Kind < sc.Kinds[j].Kind })
	if tp+fp > 0 {
		sc.Precision = float64(tp) / float64(tp+fp)
	}
	if inj > 0 {
		sc.Recall = float64(det) / float64(inj)
	}
	return sc
}

// Run feeds a trace through a detector and returns its alerts.
func Run(d *watch.Detector, tr *Trace) []watch.Alert {
	var out []watch.Alert
	for _, e := range tr.Events {
		out = append(out, d.Observe(e)...)
	}
	return out
}
