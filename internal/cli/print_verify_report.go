package cli

import (
	"fmt"
	"strings"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/vault"
)

// printVerify writes verify's report: JSON, or the summary line, the
// objects withheld by policy and one DAMAGED line per problem.
func (e *env) printVerify(rep *repo.VerifyReport, readData bool) error {
	if e.json {
		if rep.Damage == nil {
			rep.Damage = []repo.Damage{}
		}
		return e.emitJSON(rep)
	}
	mode := "structure"
	if readData {
		mode = "structure and all data"
	}
	e.printf("verified %s of %s, %s at %s: %s", mode, plural(rep.Datasets, "dataset"), plural(rep.Snapshots, "snapshot"), strings.Join(rep.Sites, ", "), plural(int(rep.Packs), "pack"))
	if readData {
		e.printf(", %s, %s read", plural(int(rep.Blobs), "blob"), humanBytes(rep.Bytes))
	}
	e.printf("\n")
	for _, w := range rep.Withheld {
		e.printf("withheld by policy: site %s does not hold dataset %s (%s); not damage\n", w.Site, w.Dataset, plural(w.Objects, "object"))
	}
	for _, d := range rep.Damage {
		fmt.Fprintf(e.stdout, "DAMAGED site=%s object=%s: %s", d.Site, d.Object, d.Problem)
		if len(d.Snapshots) > 0 {
			short := make([]string, len(d.Snapshots))
			for i, s := range d.Snapshots {
				short[i] = s[:8]
			}
			fmt.Fprintf(e.stdout, " (affects snapshots %s)", strings.Join(short, ", "))
		}
		fmt.Fprintln(e.stdout)
	}
	return nil
}

// verifyResult is verify's exit: damage is exit 3 with a hint, else
// "no damage found".
func (e *env) verifyResult(rep *repo.VerifyReport) error {
	if len(rep.Damage) > 0 {
		return hint.WithCode(hint.Wrap(vault.ProblemsFound(len(rep.Damage)),
			"restore still works while another site holds an intact copy; 'embassy repair' rebuilds damaged or missing objects from it (a site that cannot be reached must be fixed first)"), hint.CodeDamaged)
	}
	e.printf("no damage found\n")
	return nil
}
