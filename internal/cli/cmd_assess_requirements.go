package cli

import (
	"github.com/digital-embassy/embassy/internal/assess"
	"github.com/digital-embassy/embassy/internal/home"
)

// runRequirements is 'embassy assess --requirements': every requirement of
// the framework with its status on this home and the evidence behind it.
// A violated requirement gives exit code 3.
func (e *env) runRequirements(h *home.Home) error {
	f, err := e.vaultOf(h).RequirementFacts(e.ctx, e.now())
	if err != nil {
		return err
	}
	fw := assess.Requirements(f)
	if fw.Violations() {
		e.warned = true
	}
	if e.json {
		return e.emitJSON(fw)
	}
	if e.quiet {
		return nil
	}
	return fw.WriteText(e.stdout)
}
