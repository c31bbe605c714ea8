package retention

import (
	"testing"
	"time"
)

func TestPolicyString(t *testing.T) {
	for _, c := range []struct {
		p    Policy
		want string
	}{
		{Policy{}, "keep all"},
		{Policy{Last: 3}, "keep 3 last"},
		{Policy{Last: 1, Hourly: 2, Daily: 7, Weekly: 4, Monthly: 12, Yearly: 10, Within: 36 * time.Hour},
			"keep 1 last, 2 hourly, 7 daily, 4 weekly, 12 monthly, 10 yearly, within 36h0m0s"},
		{Policy{Within: time.Minute}, "keep within 1m0s"},
	} {
		if got := c.p.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.p, got, c.want)
		}
		if c.p.Empty() != (c.p == Policy{}) {
			t.Errorf("%+v: Empty %v", c.p, c.p.Empty())
		}
	}
}
