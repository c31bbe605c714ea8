package cli

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/vault"
)

// The command line reaches the home only through internal/vault: one
// vault per opened home per command, with its one policy gate and one
// recorder. The methods below are the CLI's bindings to it (flags and
// output stay here; decisions, locks and log entries live in the vault).

// fixedNow parses EMBASSY_NOW (YYYY-MM-DD or RFC 3339), the one place the
// clock override is read; it pins the clock for reproducible reports and
// tests.
func fixedNow(v string) (func() time.Time, error) {
	if v == "" {
		return time.Now, nil
	}
	for _, layout := range []string{time.RFC3339, time.DateOnly} {
		if t, err := time.Parse(layout, v); err == nil {
			return func() time.Time { return t.UTC() }, nil
		}
	}
	return nil, usagef("EMBASSY_NOW=%q: use RFC 3339 (2026-11-25T10:00:00Z) or a date (2026-11-25)", v)
}

// now is the time decisions are made at (the vault's clock).
func (e *env) now() time.Time {
	if e.clock == nil {
		return time.Now().UTC()
	}
	return e.clock().UTC()
}

func (e *env) homePath() (string, error) {
	if e.homeDir != "" {
		return e.homeDir, nil
	}
	return home.DefaultDir()
}

func (e *env) openHome() (*home.Home, error) {
	dir, err := e.homePath()
	if err != nil {
		return nil, err
	}
	return home.Open(dir)
}

// vaultOf is the command's vault over h (one per home per command).
func (e *env) vaultOf(h *home.Home) *vault.Vault {
	if e.vaults == nil {
		e.vaults = map[*home.Home]*vault.Vault{}
	}
	if v, ok := e.vaults[h]; ok {
		return v
	}
	o := e.vaultOptions()
	o.WitnessTransport = vault.WitnessTransport(h) // host witnesses over mutual TLS (vault/witnessops.go)
	v := vault.New(h, o)
	e.vaults[h] = v
	return v
}

// vaultOptions are the command's options for any vault it opens.
func (e *env) vaultOptions() vault.Options {
	return vault.Options{Logger: e.log, Clock: e.clock, RetryLock: e.retryLock,
		Warn: func(msg string) { e.warnf("%s", msg) },
		Note: func(msg string) { fmt.Fprintf(e.stderr, "embassy: warning: %s\n", msg) }}
}

// openVaultRW opens the home and its vault with the root key.
func (e *env) openKeyed() (*vault.Vault, error) {
	h, err := e.openHome()
	if err != nil {
		return nil, err
	}
	v := e.vaultOf(h)
	if _, err := v.OpenRepo(e.ctx, true); err != nil {
		return nil, err
	}
	return v, nil
}

// openRepo opens the home's vault. With keys, the root key is loaded too.
func (e *env) openRepo(h *home.Home, keys bool) (*repo.Repo, error) {
	return e.vaultOf(h).OpenRepo(e.ctx, keys)
}

// reportSites warns, in site name order, about the sites that failed or
// returned damaged copies during the operation. A site that could not be
// opened was already named unavailable when the repository was opened.
func (e *env) reportSites(r *repo.Repo) {
	opened := map[string]bool{}
	for _, s := range r.Sites() {
		opened[s.Name] = s.Backend != nil
	}
	failed := r.SiteErrors()
	for _, name := range slices.Sorted(maps.Keys(failed)) {
		if vault.IsDenied(failed[name]) || !opened[name] {
			continue // reported as denied by the command, or as unavailable
		}
		e.warnf("site %s failed and was skipped: %v", name, failed[name])
	}
	damaged := r.ReadErrors()
	for _, name := range slices.Sorted(maps.Keys(damaged)) {
		e.warnf("site %s holds a damaged or unreadable copy; another site's was used: %v (run 'embassy verify')", name, damaged[name])
	}
}

func (e *env) closeRepo(r *repo.Repo) {
	for _, s := range r.Sites() {
		if s.Backend != nil {
			_ = s.Backend.Close()
		}
	}
}

// openVault opens the home and its vault (with the root key if keys).
func (e *env) openVault(keys bool) (*home.Home, *repo.Repo, error) {
	h, err := e.openHome()
	if err != nil {
		return nil, nil, err
	}
	r, err := e.openRepo(h, keys)
	if err != nil {
		return nil, nil, err
	}
	return h, r, nil
}

// noteDenied prints the sites the policy kept out of an operation: denied,
// not failed (no exit code 3).
func (e *env) noteDenied(ds []vault.Decision) {
	for _, d := range ds {
		if !e.quiet {
			fmt.Fprintf(e.stderr, "embassy: note: site %s denied by policy for %s of %s (%s): %s\n", d.Site, d.Action, d.Dataset,
				strings.Join(d.Rules, ","), strings.Join(d.Reasons, "; "))
		}
	}
}

// Policy bindings.

type installedAgreement = vault.Agreement

func agreementsDir(h *home.Home) string { return vault.AgreementsDir(h) }

func checkAgreement(doc []byte, base *agreement.Baseline) (installedAgreement, error) {
	return vault.CheckAgreement(doc, base)
}

func loadSettings(h *home.Home, base *agreement.Baseline) (policy.Settings, error) {
	return vault.LoadSettings(h, base)
}

func policySite(s policy.Settings, sc home.SiteConfig) policy.Site {
	return policy.Site{Name: sc.Name, Jurisdiction: sc.Jurisdiction, Tier: sc.Tier, Agreement: sc.Agreement,
		DistanceKm: policy.DistanceKm(s.HomeLocation, sc.Location)}
}

// checkPolicy asks the vault's gate for one decision.
func (e *env) checkPolicy(h *home.Home, req policy.Request) (policy.Decision, error) {
	g, err := e.vaultOf(h).Gate()
	if err != nil {
		return policy.Decision{}, err
	}
	return g.Raw(e.ctx, req), nil
}

func (e *env) policySiteFor(h *home.Home, sc home.SiteConfig) policy.Site {
	if g, err := e.vaultOf(h).Gate(); err == nil {
		return g.Site(sc)
	}
	s, _ := loadSettings(h, agreement.DefaultBaseline())
	return policySite(s, sc)
}

func denyError(what string, d policy.Decision) error {
	return vault.DenyError(what, vault.Decision{Allow: d.Allow, Rules: d.Rules, Reasons: d.Reasons})
}

func denySite(s *repo.Site, d policy.Decision) {
	vault.DenySite(s, vault.Decision{Site: s.Name, Rules: d.Rules, Reasons: d.Reasons})
}

func (e *env) recordEvent(h *home.Home, ev policy.Event) { e.vaultOf(h).RecordEvent(e.ctx, ev) }

// Log bindings.

func (e *env) audit(h *home.Home, ent tlog.Entry) { e.vaultOf(h).Recorder().Audit(e.ctx, ent) }
