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
	AttackDuplicateBlob   Attack = "duplicate-blob"       // one blob listed at two locations
	AttackOversize        Attack = "oversized-object"     // an object larger than its kind allows
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
		a.Time = time.Now().UTC()
	}
	r.alertMu.Lock()
	for _, b := range r.alerts {
		if b.Site == a.Site && b.Attack == a.Attack && b.Object == a.Object {
			r.alertMu.Unlock()
			return // once per session
		}
	}
	r.alerts = append(r.alerts, a)
	r.alertMu.Unlock()
	r.log.WarnContext(ctx, "hostile or damaged site", "site", a.Site, "attack", string(a.Attack), "object", a.Object, "detail", a.Detail)
	if r.opts.OnAlert != nil {
		r.opts.OnAlert(a)
	}
}

// Alerts returns the alerts raised in this session.
func (r *Repo) Alerts() []Alert {
	r.alertMu.Lock()
	defer r.alertMu.Unlock()
	return append([]Alert(nil), r.alerts...)
}
