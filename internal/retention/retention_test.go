package retention

import (
	"testing"
	"time"
)

func TestApply(t *testing.T) {
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var items []Item
	for i := 0; i < 40; i++ { // one snapshot every 12 hours for 20 days
		items = append(items, Item{ID: string(rune('a' + i%26)), Time: base.Add(-time.Duration(i) * 12 * time.Hour)})
	}
	for _, tc := range []struct {
		name string
		p    Policy
		want int
	}{
		{"empty keeps all", Policy{}, 40},
		{"last 3", Policy{Last: 3}, 3},
		{"daily 7", Policy{Daily: 7}, 7},
		{"last 2 + daily 3 overlap", Policy{Last: 2, Daily: 3}, 4},
		{"weekly 2", Policy{Weekly: 2}, 2},
		{"within 3d", Policy{Within: 72 * time.Hour}, 7},
		{"more than available", Policy{Last: 100}, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := Apply(items, tc.p, base)
			kept := 0
			for _, d := range ds {
				if d.Keep {
					kept++
				}
			}
			if kept != tc.want {
				t.Errorf("kept %d, want %d", kept, tc.want)
			}
			if !ds[0].Keep {
				t.Errorf("newest snapshot not kept")
			}
		})
	}
}

func TestParseWithin(t *testing.T) {
	for in, want := range map[string]time.Duration{"36h": 36 * time.Hour, "7d": 7 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "1y": 365 * 24 * time.Hour, "6m": 180 * 24 * time.Hour} {
		got, err := ParseWithin(in)
		if err != nil || got != want {
			t.Errorf("ParseWithin(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"x", "3q", "-1d"} {
		if _, err := ParseWithin(bad); err == nil {
			t.Errorf("ParseWithin(%q) succeeded", bad)
		}
	}
}
