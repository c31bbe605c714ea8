package cli

import (
	"strings"

	"github.com/digital-embassy/embassy/internal/vault"
)

// printRecover reports the rebuilt home: JSON, or who recovered it from
// where, its fingerprint and how many datasets it can read.
func (e *env) printRecover(res *vault.RecoverResult, req vault.RecoverRequest) error {
	rec := res.Recovered
	if e.json {
		return e.emitJSON(map[string]any{"home": rec.Home, "dir": req.Dir, "epoch": rec.Root.Epoch, "custodians_used": rec.Used, "threshold": rec.Threshold, "datasets": res.Datasets, "site": req.SiteName, "fingerprint": rec.Fingerprint, "state": rec.StateSeq})
	}
	e.printf("Recovered home %s into %s from site %s with %d of %d needed custodians (%s).\n",
		rec.Home, req.Dir, req.SiteName, len(rec.Used), rec.Threshold, strings.Join(rec.Used, ", "))
	e.printf("fingerprint: %s (vault state %d)\n", rec.Fingerprint, rec.StateSeq)
	e.printf("Root key epoch %d; %s readable. Try 'embassy snapshots' or 'embassy restore DATASET --target DIR'.\n", rec.Root.Epoch, plural(res.Datasets, "dataset"))
	return nil
}
