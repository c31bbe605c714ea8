package cli

import (
	"github.com/digital-embassy/embassy/internal/vault"
	"github.com/digital-embassy/embassy/internal/watch/watchman"
)

func (e *env) watchEvents(path string) error {
	rep, err := vault.WatchEvents(path, e.stdin)
	if err != nil {
		return err
	}
	if rep.Bad > 0 {
		e.warnf("%d malformed event lines skipped (first: %s)", rep.Bad, rep.FirstBad)
	}
	return e.printAlerts(rep.Alerts)
}

// watchCycle runs one cycle over the home (vault.Watch) and returns the
// number of new alerts.
func (e *env) watchCycle(exp *watchman.Exporter) (int, error) {
	h, err := e.openHome()
	if err != nil {
		return 0, err
	}
	c, err := e.vaultOf(h).Watch(e.ctx)
	if err != nil {
		return 0, err
	}
	if c.NotifyErr != nil {
		e.warnf("notification failed: %v", c.NotifyErr)
	}
	exp.Update(c.Metrics)
	return len(c.Alerts), e.printAlerts(c.Alerts)
}
