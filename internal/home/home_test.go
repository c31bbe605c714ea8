package home

import (
	"math"
	"strings"
	"testing"
)

func TestDistanceKm(t *testing.T) {
	// Tallinn to Luxembourg is about 1,610 km as the crow flies.
	d := DistanceKm("59.437,24.754", "49.611,6.130")
	if math.Abs(d-1614) > 30 {
		t.Errorf("Tallinn-Luxembourg = %.0f km", d)
	}
	if DistanceKm("", "1,1") != -1 || DistanceKm("x", "1,1") != -1 {
		t.Error("missing or malformed locations must give -1")
	}
}

func TestParseValidate(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"compression: fast\n", "compression"},
		{"sites:\n  - name: a\n    url: /x\n    jurisdiction: Lux\n", "sites[0].jurisdiction"},
		{"sites:\n  - name: a\n    url: /x\n    jurisdiction: LU\n    location: 99,1\n", "sites[0].location"},
		{"home-location: nowhere\n", "home-location"},
		{"unknown-key: 1\n", "unknown-key"},
	} {
		_, err := Parse(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want error naming %s", tc.in, err, tc.want)
		}
	}
	c, err := Parse(strings.NewReader("home: h1\nhome-state: EE\nhome-location: 59.4,24.7\nsites:\n  - name: lu-1\n    url: /x\n    jurisdiction: LU\n    tier: 4\n"))
	if err != nil || c.HomeState != "EE" || c.Sites[0].Tier != 4 {
		t.Fatalf("valid config: %+v %v", c, err)
	}
}
