package cli

import (
	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/failover"
)

const expectHomeUsage = "the home fingerprint ('embassy key status'); a site presenting another vault is refused"

// expectHomeFlag registers --expect-home on c.
func expectHomeFlag(c *cobra.Command, v *string) {
	c.Flags().StringVar(v, "expect-home", "", expectHomeUsage)
}

// pinPlan makes --expect-home override the plan's home: field.
func pinPlan(p *failover.Plan, expect string) *failover.Plan {
	if expect != "" {
		p.Home = expect
	}
	return p
}
