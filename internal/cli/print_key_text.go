package cli

import (
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/vault"
)

// The output of 'embassy key status', 'key rotate' and 'key shred': JSON
// or text. Each returns err, the operation's, as is.

func printKeyStatus(e *env, ks *vault.KeyStatus, err error) error {
	if err != nil || e.json {
		return e.emitIfJSON(ks, err)
	}
	e.printf("home %s, root key epoch %d (%s) since %s\n", ks.Home, ks.Epoch, ks.Fingerprint, ks.Created.Format("2006-01-02 15:04"))
	e.printf("fingerprint: %s\n", ks.HomeFingerprint)
	e.printf("custodians: %d of %d needed to recover\n", ks.Threshold, len(ks.Custodians))
	for _, c := range ks.Custodians {
		rec := c.Recipient
		if len(rec) > 24 {
			rec = rec[:16] + "..." + rec[len(rec)-6:]
		}
		e.printf("  %d  %s\n", c.Index, rec)
	}
	for _, d := range ks.Datasets {
		e.printf("dataset %s: key version %d (%s readable)\n", d.Name, d.Current, plural(d.Versions, "version"))
	}
	return nil
}

func printKeyRotated(e *env, rep *repo.RotateReport, ep *repo.Epoch, err error) error {
	if err != nil || e.json {
		return e.emitIfJSON(rep, err)
	}
	e.printf("rotated root key: epoch %d -> %d (%s), %d-of-%d custodians; %s moved to new key versions; %s retired\n",
		rep.OldEpoch, rep.NewEpoch, ep.Fingerprint, ep.Threshold, len(ep.Custodians), plural(rep.Datasets, "dataset"), plural(rep.Retired, "old key object"))
	return nil
}

func printKeyShredded(e *env, rep *repo.ShredReport, err error) error {
	if err != nil || e.json {
		return e.emitIfJSON(rep, err)
	}
	e.printf("shredded dataset %s (%s): %s and %s deleted; root key moved to epoch %d\n",
		rep.Dataset, rep.DatasetID, plural(rep.KeysDeleted, "wrapped key object"), plural(rep.Objects, "data object"), rep.NewEpoch)
	return nil
}

// emitIfJSON returns err if there is one, else emits v as JSON.
func (e *env) emitIfJSON(v any, err error) error {
	if err != nil {
		return err
	}
	return e.emitJSON(v)
}
