package cli

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/locate"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdSiteLocate(e *env) *cobra.Command {
	var from, out, verify, caFile string
	var witnessAt []string
	var samples int
	c := &cobra.Command{
		Use:   "locate NAME --from LAT,LON [--witness-at W=LAT,LON]... | --verify FILE",
		Short: "Location evidence: signed site facts, round-trip bounds from home and witnesses, a speed-of-light check",
		Long: `Produce evidence of where a daemon site is. The daemon signs its facts
(declared position, place, jurisdiction, time, the home's nonce) with the
key of its site certificate; the home times each signed answer, and every
host witness of the log policy whose position is given measures TLS round
trips to the site and signs them. A round trip bounds the answering key's
distance from above: a site declared further away than light could travel
in that time is contradicted (exit 3); a slow site proves nothing. The
bundle is rechecked, signed with the root key, written to --out and
recorded in the log. --verify FILE checks a bundle offline (docs/formats/location.md).`,
		Example: `  embassy site locate lu --from 59.437,24.754 --witness-at lu-witness=49.61,6.13
  embassy site locate --verify location-lu.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if verify != "" {
				return e.verifyLocation(verify, caFile)
			}
			if len(args) != 1 || from == "" {
				return usagef("give the site NAME and --from LAT,LON (where the home measures from), or --verify FILE")
			}
			req := vault.LocateRequest{Site: args[0], Samples: samples, Out: out, WitnessAt: map[string]locate.Point{}}
			var err error
			if req.HomeAt, err = locate.ParsePoint(from); err != nil {
				return usagef("--from: %v", err)
			}
			for _, w := range witnessAt {
				name, pos, ok := strings.Cut(w, "=")
				p, err := locate.ParsePoint(pos)
				if !ok || err != nil {
					return usagef("--witness-at %q: want NAME=LAT,LON", w)
				}
				req.WitnessAt[name] = p
			}
			v, err := e.openKeyed()
			if err != nil {
				return err
			}
			defer v.Close()
			res, lerr := v.Locate(e.ctx, req)
			if res == nil {
				return lerr
			}
			if e.json {
				if err := e.emitJSON(map[string]any{"file": res.Path, "sha256": res.SHA256, "bundle": res.Bundle}); err != nil {
					return err
				}
			} else {
				printLocation(e, res.Bundle)
				e.printf("evidence: %s (sha256 %s), recorded in the log\n", res.Path, res.SHA256)
			}
			return lerr
		},
	}
	f := c.Flags()
	f.StringVar(&from, "from", "", "the home's position, LAT,LON (decimal degrees)")
	f.StringArrayVar(&witnessAt, "witness-at", nil, "a host witness's position, NAME=LAT,LON (repeatable; witnesses without one are not asked)")
	f.IntVar(&samples, "samples", 5, fmt.Sprintf("round trips per measuring point (at most %d)", locate.MaxSamples))
	f.StringVarP(&out, "out", "o", "", "write the signed evidence here (default <home>/evidence/location-SITE-TIME.json)")
	f.StringVar(&verify, "verify", "", "verify a location evidence file offline instead")
	f.StringVar(&caFile, "ca", "", "with --verify: the home CA certificate to check the site's chain against (default: the one in the bundle)")
	return c
}

func (e *env) verifyLocation(file, caFile string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return hint.WithCode(err, hint.CodeUsage)
	}
	var ca *x509Certificate
	if caFile != "" {
		if ca, err = pki.LoadCert(caFile); err != nil {
			return hint.WithCode(err, hint.CodeUsage)
		}
	}
	ver, b, c, err := vault.VerifyLocation(raw, ca)
	if err != nil {
		return hint.WithCode(hint.Wrap(fmt.Errorf("%s: %w", file, err), "the evidence was altered or is not location evidence of this home"), hint.CodeDamaged)
	}
	result := "no-position"
	if c.Verdict != nil {
		result = c.Verdict.Result
	}
	if e.json {
		return e.emitJSON(map[string]any{"ok": true, "home": ver.Home, "epoch": ver.Epoch, "home_bound": ver.HomeBound, "site": b.Site, "result": result, "bundle": b})
	}
	e.printf("%s: signatures ok (home %s, epoch %d, home-bound %t)\n", file, ver.Home, ver.Epoch, ver.HomeBound)
	printLocation(e, b)
	return nil
}

func printLocation(e *env, b *locate.Bundle) {
	e.printf("site %s of home %s at %s\n", b.Site, b.Home, b.Created.Format(time.RFC3339))
	if b.Declared != nil {
		e.printf("  declared position %s\n", b.Declared)
	}
	if b.Verdict != nil {
		for _, d := range b.Verdict.Discs {
			e.printf("  %-8s %-20s min RTT %-10v at most %6.0f km (fibre %6.0f km); declared %6.0f km away: %s\n",
				d.Kind, d.Name, d.MinRTT.Round(time.Microsecond), d.ProofKm, d.FibreKm, d.DeclaredKm, d.State)
		}
		e.printf("  verdict: %s\n", b.Verdict.Result)
		for _, r := range b.Verdict.Reasons {
			e.printf("    %s\n", r)
		}
	}
	for _, p := range b.Problems {
		e.printf("  note: %s\n", p)
	}
}
