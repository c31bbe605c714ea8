// Package retention decides which snapshots a forget keeps, with the rules
// operators know from restic: keep the last N, and the newest snapshot of
// each of the last N hours, days, weeks, months and years, plus everything
// within a duration. It is pure: no I/O.
package retention

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Policy lists the keep rules. A zero Policy keeps everything.
type Policy struct {
	Last, Hourly, Daily, Weekly, Monthly, Yearly int
	Within                                       time.Duration
}

// Empty reports whether the policy has no rule.
func (p Policy) Empty() bool { return p == Policy{} }

func (p Policy) String() string {
	var parts []string
	add := func(n int, what string) {
		if n != 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(p.Last, "last")
	add(p.Hourly, "hourly")
	add(p.Daily, "daily")
	add(p.Weekly, "weekly")
	add(p.Monthly, "monthly")
	add(p.Yearly, "yearly")
	if p.Within > 0 {
		parts = append(parts, "within "+p.Within.String())
	}
	if len(parts) == 0 {
		return "keep all"
	}
	return "keep " + strings.Join(parts, ", ")
}

// Item is one snapshot as the policy sees it.
type Item struct {
	ID   string
	Time time.Time
}

// Decision is the outcome for one item.
type Decision struct {
	Item
	Keep    bool
	Reasons []string
}

// Apply decides for every item; now anchors Within. Items may be in any
// order; decisions come newest first.
func Apply(items []Item, p Policy, now time.Time) []Decision {
	ds := make([]Decision, len(items))
	for i, it := range items {
		ds[i] = Decision{Item: it}
	}
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].Time.After(ds[j].Time) })
	if p.Empty() {
		for i := range ds {
			ds[i].Keep = true
			ds[i].Reasons = []string{"no policy"}
		}
		return ds
	}
	type bucket struct {
		n    int
		name string
		key  func(time.Time) string
	}
	buckets := []bucket{
		{p.Last, "last", func(t time.Time) string { return t.Format(time.RFC3339Nano) }},
		{p.Hourly, "hourly", func(t time.Time) string { return t.Format("2006-01-02T15") }},
		{p.Daily, "daily", func(t time.Time) string { return t.Format("2006-01-02") }},
		{p.Weekly, "weekly", func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-W%02d", y, w) }},
		{p.Monthly, "monthly", func(t time.Time) string { return t.Format("2006-01") }},
		{p.Yearly, "yearly", func(t time.Time) string { return t.Format("2006") }},
	}
	for _, b := range buckets {
		if b.n == 0 {
			continue
		}
		seen := map[string]bool{}
		left := b.n
		for i := range ds {
			if left == 0 {
				break
			}
			k := b.key(ds[i].Time.UTC())
			if b.name == "last" {
				k = fmt.Sprint(i)
			}
			if seen[k] {
				continue
			}
			seen[k] = true
			ds[i].Keep = true
			ds[i].Reasons = append(ds[i].Reasons, b.name)
			if left > 0 {
				left--
			}
		}
	}
	if p.Within > 0 {
		for i := range ds {
			if now.Sub(ds[i].Time) <= p.Within {
				ds[i].Keep = true
				ds[i].Reasons = append(ds[i].Reasons, "within "+p.Within.String())
			}
		}
	}
	return ds
}

// ParseWithin parses durations like 90m, 36h, 7d, 2w, 6m (months as 30d) and 1y.
func ParseWithin(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if d, err := time.ParseDuration(s); err == nil && !strings.HasSuffix(s, "m") {
		if d < 0 {
			return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
		}
		return d, nil
	}
	var n int64
	var unit string
	if _, err := fmt.Sscanf(s, "%d%s", &n, &unit); err != nil || n < 0 {
		return 0, fmt.Errorf("invalid duration %q: use forms like 36h, 7d, 2w, 6m or 1y", s)
	}
	day := 24 * time.Hour
	var u time.Duration
	switch unit {
	case "h":
		u = time.Hour
	case "d":
		u = day
	case "w":
		u = 7 * day
	case "m":
		u = 30 * day
	case "y":
		u = 365 * day
	default:
		return 0, fmt.Errorf("invalid duration %q: unit %q is not one of h, d, w, m, y", s, unit)
	}
	if n > int64(math.MaxInt64/u) {
		return 0, fmt.Errorf("invalid duration %q: too long", s)
	}
	return time.Duration(n) * u, nil
}
