package repo

import (
	"context"
	"time"
)

// Attack names what a site was caught trying, in alerts.
type Attack string

// The attacks a hostile site can try that the home detects (docs/THREATS.md).
const (
	AttackMintedKey       Attack = "minted-key"           // a dataset key record the home did not sign
	AttackUnknownDataset  Attack = "unknown-dataset"      // a dataset the home's signed state does not list
	AttackForgedState     Attack = "forged-state"         // a state record that does not verify
	AttackStaleState      Attack = "stale-state"          // an older signed state than the home's (rollback or lag)
	AttackHiddenEpoch     Attack = "hidden-epoch"         // fewer key epochs than the home knows
	AttackUnlistedSnap    Attack = "unlisted-manifest"    // a manifest the signed state does not list
	AttackResurrectedSnap Attack = "resurrected-manifest" // a forgotten manifest put back
	AttackMissingSnap     Attack = "dropped-manifest"     // a manifest the signed state lists is missing
	AttackSubstitution    Attack = "substituted-blob"     // a blob whose plaintext does not hash to its ID
	AttackUnsignedIndex   Attack = "unsigned-supersede"   // an unsigned index that claims to supersede others
	AttackForgedIndex     Attack = "forged-index"         // an index no site returns authentic
	AttackDuplicateBlob   Attack = "duplicate-blob"       // one blob listed at two locations
	AttackOversize        Attack = "oversized-object"     // an object larger than its kind allows
	AttackDroppedIndex    Attack = "dropped-index"        // an index a signed manifest is bound to is missing
	AttackUnboundIndex    Attack = "unbound-index"        // an index a manifest is not bound to and the home did not write after it
)

// Alert is one detection of a hostile or damaged site.
type Alert struct {
	Time   time.Time `json:"time"`
	Site   string    `json:"site"`
	Attack Attack    `json:"attack"`
	Object string    `json:"object,omitempty"`
	Detail string    `json:"detail"`
}

// alert logs a (slog) warning naming the site and the attack, remembers the
// alert for Alerts, and calls Options.OnAlert.
func (r *Repo) alert(ctx context.Context, a Alert) {
	if a.Time.IsZero() {
		a.Time = r.now()
	}
	r.alertMu.Lock()
	seen := false
	for _, b := range r.alerts {
		if b.Site == a.Site && b.Attack == a.Attack && b.Object == a.Object {
			seen = true // logged once per session, counted every time
			break
		}
	}
	r.alerts = append(r.alerts, a)
	r.alertMu.Unlock()
	if seen {
		return
	}
	r.log.WarnContext(ctx, "hostile or damaged site", "site", a.Site, "attack", string(a.Attack), "object", a.Object, "detail", a.Detail)
	if r.opts.OnAlert != nil {
		r.opts.OnAlert(a)
	}
}

// Alerts returns the alerts raised in this session (each once).
func (r *Repo) Alerts() []Alert {
	return dedupAlerts(r.alertsSince(0))
}

func (r *Repo) alertsSince(n int) []Alert {
	r.alertMu.Lock()
	defer r.alertMu.Unlock()
	if n > len(r.alerts) {
		return nil
	}
	return append([]Alert(nil), r.alerts[n:]...)
}

func (r *Repo) alertCount() int {
	r.alertMu.Lock()
	defer r.alertMu.Unlock()
	return len(r.alerts)
}

func dedupAlerts(as []Alert) []Alert {
	type key struct {
		site   string
		attack Attack
		object string
	}
	seen := map[key]bool{}
	var out []Alert
	for _, a := range as {
		k := key{a.Site, a.Attack, a.Object}
		if !seen[k] {
			seen[k] = true
			out = append(out, a)
		}
	}
	return out
}
