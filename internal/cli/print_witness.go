package cli

import (
	"fmt"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/tlog"
)

func warnHomeAlone(e *env, p *tlog.Policy) {
	if err := p.RequireExternal(); err != nil { // a warning, not a partial failure (exit code unchanged)
		fmt.Fprintf(e.stderr, "embassy: warning: %v; %s: the home could rewrite this history unnoticed\n", err, hint.Of(err))
	}
}
