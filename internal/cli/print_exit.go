package cli

import (
	"time"

	"github.com/digital-embassy/embassy/internal/exit"
	"github.com/digital-embassy/embassy/internal/vault"
)

// printExit prints the result of an exit (or of its notice).
func (e *env) printExit(req vault.ExitRequest, rep *vault.ExitReport) error {
	if e.json {
		return e.emitJSON(rep)
	}
	switch {
	case req.Notice:
		e.printf("exit from %s began %s; the agreement allows until %s\n", rep.Site, rep.Started.Format(time.RFC3339), rep.Deadline.Format(time.RFC3339))
		return nil
	case req.KeepData:
		e.printf("left site %s: its data was kept in place (--keep-data)\n", rep.Site)
		return nil
	}
	e.printf("deleted %s at %s; certificate %s\n", plural(rep.Deleted, "object"), rep.Site, rep.Certificate)
	if rep.Signer == exit.SignerHome {
		e.printf("note: %s has no daemon, so the certificate is the home's own attestation that the listing was empty, not a host-signed certificate\n", rep.Site)
	}
	e.printf("site %s removed from the registry\n", rep.Site)
	return nil
}
