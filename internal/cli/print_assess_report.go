package cli

import (
	"bytes"
	"fmt"

	"github.com/digital-embassy/embassy/internal/assess"
	"github.com/digital-embassy/embassy/internal/atomicfile"
)

// printScorecards writes the scorecards: every card to htmlOut (when
// given), then JSON (one card when single) or text. A card that did not
// pass every check makes the command exit 3.
func (e *env) printScorecards(cards []*assess.Scorecard, htmlOut string, single bool) error {
	for _, sc := range cards {
		if sc.Passed < sc.Total {
			e.warned = true
		}
	}
	if htmlOut != "" {
		var b bytes.Buffer
		for _, sc := range cards {
			if err := sc.WriteHTML(&b); err != nil {
				return err
			}
		}
		if err := atomicfile.Write(htmlOut, b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	if e.json {
		if single {
			return e.emitJSON(cards[0])
		}
		return e.emitJSON(cards)
	}
	for i, sc := range cards {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		if !e.quiet {
			_ = sc.WriteText(e.stdout)
		}
	}
	return nil
}
