package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

// cmdUpdate is 'embassy update': the sending state's signed approval of
// updates to embassy infrastructure (framework requirement 16). The logic
// is in internal/vault/update.go; this file parses flags and prints.
func cmdUpdate(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "update",
		Short: "Approve, list, revoke and check updates of daemons, firmware and images",
		Long: `update keeps the sending state's control over updates at host sites. An
approval, signed with the home's root signing key and logged, names an
artifact by the SHA-256 of its file (a daemon build) and/or by the attestation
measurements it produces (firmware, image: TPM PCRs, SEV-SNP or TDX launch
measurement), with the digest of its SBOM and a validity. 'update check' asks
each daemon site which build it runs: an unapproved, revoked or expired one is
an alert (logged, exit 3). The key broker refuses keys of classes with the
attested-release key policy unless an approval in force covers the attested
measurements (refusal code "update"). See docs/formats/update-approval.md.`,
	}
	c.AddCommand(cmdUpdateApprove(e), cmdUpdateList(e), cmdUpdateRevoke(e), cmdUpdateCheck(e))
	return c
}

// parseUntil accepts RFC 3339, a date (2027-01-31, 00:00 UTC) or a
// duration from now (720h, 30d).
func parseUntil(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.UTC); err == nil {
		return t, nil
	}
	d := strings.TrimPrefix(s, "+")
	if n, ok := strings.CutSuffix(d, "d"); ok {
		d = n + "h"
		if x, err := time.ParseDuration(d); err == nil {
			return now.Add(24 * x), nil
		}
	} else if x, err := time.ParseDuration(d); err == nil {
		return now.Add(x), nil
	}
	return time.Time{}, usagef("--until %q: use RFC 3339 (2027-01-31T00:00:00Z), a date (2027-01-31) or a duration from now (30d, 720h)", s)
}

// parseMeasurements reads NAME:HEX (or NAME=HEX) flags.
func parseMeasurements(ms []string) (map[string]string, error) {
	if len(ms) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, m := range ms {
		i := strings.LastIndexAny(m, ":=")
		if i <= 0 || i == len(m)-1 {
			return nil, usagef("--measurement %q: use NAME:HEX, e.g. pcr.sha256.0:3d45... or snp.measurement:ab12...", m)
		}
		name, val := m[:i], strings.ToLower(m[i+1:])
		if _, dup := out[name]; dup {
			return nil, usagef("--measurement %s is given twice", name)
		}
		out[name] = val
	}
	return out, nil
}

func cmdUpdateApprove(e *env) *cobra.Command {
	var rq vault.UpdateApproval
	var until string
	var ms []string
	c := &cobra.Command{
		Use:   "approve --artifact NAME (--binary PATH | --digest SHA256 | --measurement NAME:HEX...) [--sbom FILE] --until WHEN",
		Short: "Sign and log the approval of an update (a daemon build, a firmware or image)",
		Example: `  embassy sbom --binary /usr/local/bin/embassyd -o embassyd.cdx.json
  embassy update approve --artifact embassyd --binary /usr/local/bin/embassyd --sbom embassyd.cdx.json --until 90d
  embassy update approve --artifact lu-gpu-firmware --measurement pcr.sha256.0:3d45... --until 2027-06-30`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if rq.Artifact == "" || until == "" {
				return usagef("--artifact and --until are required")
			}
			if rq.Binary == "" && rq.Digest == "" && rq.SBOM == "" && len(ms) == 0 {
				return usagef("name what is approved: --binary PATH, --digest SHA256, --sbom FILE or --measurement NAME:HEX")
			}
			var err error
			if rq.Until, err = parseUntil(until, e.now()); err != nil {
				return err
			}
			if rq.Measurements, err = parseMeasurements(ms); err != nil {
				return err
			}
			v, err := e.openKeyed()
			if err != nil {
				return err
			}
			s, err := v.ApproveUpdate(e.ctx, rq)
			if err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(s)
			}
			what := []string{}
			if s.Digest != "" {
				what = append(what, "sha256 "+s.Digest)
			}
			if len(s.Measurements) > 0 {
				what = append(what, fmt.Sprintf("%d measurements", len(s.Measurements)))
			}
			if s.SBOM != "" {
				what = append(what, "sbom "+s.SBOM)
			}
			e.printf("approved update %s: %s (%s), until %s\n", s.ID, s.Artifact, strings.Join(what, ", "), s.NotAfter.Format(time.RFC3339))
			return nil
		},
	}
	c.Flags().StringVar(&rq.Artifact, "artifact", "", "what is updated: embassyd, or a firmware or image name")
	c.Flags().StringVar(&rq.Binary, "binary", "", "the artifact's file: its SHA-256 is approved")
	c.Flags().StringVar(&rq.Digest, "digest", "", "the SHA-256 (hex) of the artifact's file, instead of --binary")
	c.Flags().StringVar(&rq.SBOM, "sbom", "", "the artifact's SBOM ('embassy sbom'): its digest is recorded")
	c.Flags().StringArrayVar(&ms, "measurement", nil, "NAME:HEX: an attested measurement the update produces (pcr.sha256.N, snp.measurement, tdx.mrtd...; repeatable)")
	c.Flags().StringVar(&until, "until", "", "end of the approval: RFC 3339, a date, or a duration from now (90d)")
	c.Flags().StringVar(&rq.Note, "note", "", "why, or which release (kept in the signed approval)")
	return c
}

// updatesVault opens the vault (its epochs sign the approvals) without keys.
func (e *env) updatesVault() (*vault.Vault, error) {
	h, _, err := e.openVault(false)
	if err != nil {
		return nil, err
	}
	return e.vaultOf(h), nil
}

func cmdUpdateList(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List update approvals with their state (in force, expired, revoked)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := e.updatesVault()
			if err != nil {
				return err
			}
			rows, err := v.UpdateStates()
			if err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(rows)
			}
			for _, r := range rows {
				what := r.Digest
				if what == "" {
					what = fmt.Sprintf("%d measurements", len(r.Measurements))
				} else if len(r.Measurements) > 0 {
					what += fmt.Sprintf(" + %d measurements", len(r.Measurements))
				}
				e.printf("%s  %-9s %-16s until %s  %s\n", r.ID, r.State, r.Artifact, r.NotAfter.Format(time.DateOnly), what)
			}
			return nil
		},
	}
}

func cmdUpdateRevoke(e *env) *cobra.Command {
	var reason string
	c := &cobra.Command{
		Use:   "revoke ID [--reason TEXT]",
		Short: "Withdraw an update approval at once (logged); releases it covered stop",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := e.updatesVault()
			if err != nil {
				return err
			}
			if err := v.RevokeUpdate(e.ctx, args[0], reason); err != nil {
				return err
			}
			e.printf("revoked update approval %s\n", args[0])
			return nil
		},
	}
	c.Flags().StringVar(&reason, "reason", "", "why (logged)")
	return c
}

func cmdUpdateCheck(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "check [SITE...]",
		Short: "Compare the build each daemon site runs with the approved updates (exit 3 on an unapproved one)",
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := e.updatesVault()
			if err != nil {
				return err
			}
			res, err := v.CheckUpdates(e.ctx, args...)
			if err != nil {
				return err
			}
			for _, r := range res {
				switch {
				case r.Status == vault.UpdateCheckError:
					// already warned by the vault
					e.warned = true
				case r.Unapproved():
					e.warnf("site %s runs %s %s build: %s", r.Site, article(r.Status), r.Artifact, r.Detail)
				}
			}
			if e.json {
				if err := e.emitJSON(res); err != nil {
					return err
				}
			} else {
				for _, r := range res {
					e.printf("%-12s %-10s %s %s\n", r.Site, r.Status, r.Digest, r.Main)
				}
				if len(res) == 0 {
					e.printf("no daemon sites\n")
				}
			}
			return vault.UpdateCheckErr(res)
		},
	}
}
