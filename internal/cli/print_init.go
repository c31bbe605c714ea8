package cli

import "github.com/digital-embassy/embassy/internal/vault"

// printCreated is the output of 'embassy init': the new home, its
// fingerprint for the custodians and their cards, and the next step.
// It returns err, the operation's, as is.
func (e *env) printCreated(c *vault.Created, err error) error {
	if err != nil {
		return err
	}
	if e.json {
		return e.emitJSON(map[string]any{"home": c.Home, "dir": c.Dir, "custodians": c.Custodians, "threshold": c.Threshold, "epoch": c.Epoch,
			"fingerprint": c.Fingerprint, "root_fingerprint": c.RootFingerprint, "custodian_cards": c.Cards})
	}
	e.printf("Created home %s in %s\n", c.Home, c.Dir)
	e.printf("Root key epoch 1 (%s) split %d-of-%d among the custodians.\n", c.RootFingerprint, c.Threshold, c.Custodians)
	e.printf("fingerprint: %s\n", c.Fingerprint)
	e.printf("Give each custodian this fingerprint with their identity: recover, drill and operate need it (--expect-home).\n")
	for _, p := range c.Cards {
		e.printf("  custodian card: %s\n", p)
	}
	e.printf("Next: add a storage site, e.g.\n  embassy site add lu-1 --url /path/to/site --jurisdiction LU\n")
	return nil
}
