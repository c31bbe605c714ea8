package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/locate"
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
				return e.printLocationCheck(vault.VerifyLocationFile(verify, caFile))
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
			return e.printLocated(v.Locate(e.ctx, req))
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
