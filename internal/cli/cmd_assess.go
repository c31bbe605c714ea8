package cli

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/assess"
	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/site"
)

func cmdAssess(e *env) *cobra.Command {
	var htmlOut string
	var requirements bool
	c := &cobra.Command{
		Use:   "assess [AGREEMENT]",
		Short: "Score agreements along the five trust dimensions against live evidence",
		Long: `Produce a scorecard for an agreement (an installed id or a file; default:
every installed agreement) along the five trust dimensions of the WEF/Bain
framework. Each line is checked against the signed terms or against the
running system:

  * no key material at the host: every object at the agreement's sites is
    scanned (4 KiB each) for anything that is not ciphertext, a wrapped key
    or signed public metadata;
  * residency and critical data in two jurisdictions: from the placement map
    (which sites hold which datasets), re-checked by the policy engine;
  * disclosures and incident notification: from the transparency log, or
    "no evidence yet".

A failing check gives exit code 3. --html writes a printable report.

With --requirements, list instead each of the framework's 35 requirements
(docs/FRAMEWORK.md) with its status on this home (met, partial, not
configured, violated, not implemented) and the live evidence behind it: log
entries, site scans, policy decisions, configuration. A violated
requirement gives exit code 3.`,
		Example: `  embassy assess
  embassy assess ee-lu --html ee-lu-scorecard.html
  embassy --json assess examples/agreements/noncompliant.signed.yaml
  embassy assess --requirements`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			if requirements {
				if len(args) > 0 {
					return usagef("--requirements assesses the whole home: give no agreement")
				}
				return e.runRequirements(h)
			}
			base := agreement.DefaultBaseline()
			settings, err := loadSettings(h, base)
			if err != nil {
				return err
			}
			ias, err := loadAgreements(h, base)
			if err != nil {
				return err
			}
			ags := map[string]*agreement.Agreement{}
			for _, ia := range ias {
				ags[ia.ID] = ia.Agreement
			}
			var targets []*agreement.Agreement
			if len(args) == 1 {
				a, err := e.readAgreementArg(args[0])
				if err != nil {
					return err
				}
				ags[a.ID] = a // score this text, installed or not
				targets = append(targets, a)
			} else {
				for _, ia := range ias {
					targets = append(targets, ia.Agreement)
				}
			}
			if len(targets) == 0 {
				return hint.WithCode(hint.Wrap(fmt.Errorf("no agreement to assess"), "install one with 'embassy agreement add FILE' or pass a file"), hint.CodeUsage)
			}
			var list []*agreement.Agreement
			for _, a := range ags {
				list = append(list, a)
			}
			eng, err := policy.New(settings, base, list)
			if err != nil {
				return err
			}
			var sites []policy.Site
			for _, sc := range h.Config.Sites {
				sites = append(sites, policySite(settings, sc))
			}
			scan, holdings := e.gatherEvidence(h)
			now := e.now()
			evidence := e.assessEvidence(h)
			var cards []*assess.Scorecard
			for _, a := range targets {
				sc := assess.Assess(assess.Input{Agreement: a, Baseline: base, Engine: eng, Now: now, Sites: sites, Holdings: holdings, Scan: scan, Evidence: evidence})
				cards = append(cards, sc)
				if sc.Passed < sc.Total {
					e.warned = true
				}
			}
			if htmlOut != "" {
				var b bytes.Buffer
				for _, sc := range cards {
					if err := sc.WriteHTML(&b); err != nil {
						return err
					}
				}
				if err := atomicfile.Write(htmlOut, b.Bytes(), 0o644); err != nil {
					return err
				}
			}
			if e.json {
				if len(args) == 1 {
					return e.emitJSON(cards[0])
				}
				return e.emitJSON(cards)
			}
			for i, sc := range cards {
				if i > 0 {
					fmt.Fprintln(e.stdout)
				}
				if !e.quiet {
					_ = sc.WriteText(e.stdout)
				}
			}
			return nil
		},
	}
	c.Flags().StringVar(&htmlOut, "html", "", "also write a printable HTML report to this file")
	c.Flags().BoolVar(&requirements, "requirements", false, "list the framework's 35 requirements with their status on this home and the evidence")
	return c
}

// gatherEvidence scans every reachable site and builds the placement map
// (which sites hold which datasets, with each dataset's latest class).
// Unreachable sites are reported and left out of the scan.
func (e *env) gatherEvidence(h *home.Home) (map[string][]string, []assess.Holding) {
	scan := map[string][]string{}
	at := map[string][]string{} // dsid -> sites
	for _, sc := range h.Config.Sites {
		s := e.openSite(sc)
		if err := s.Err(); err != nil {
			e.warnf("site %s is unavailable: %v", sc.Name, err)
			continue
		}
		found, err := assess.ScanSite(e.ctx, s.Backend)
		if err != nil {
			e.warnf("site %s: scan failed: %v", sc.Name, err)
		} else {
			scan[sc.Name] = append([]string{}, found...)
		}
		seen := map[string]bool{}
		_ = s.Backend.List(e.ctx, site.KindSnapshot, func(i site.Info) error {
			ds, _, _ := strings.Cut(i.Handle.Name, "/")
			if !seen[ds] {
				seen[ds] = true
				at[ds] = append(at[ds], sc.Name)
			}
			return nil
		})
		s.Backend.Close()
	}
	var out []assess.Holding
	names := map[string]policy.Dataset{}
	if r, err := e.openRepo(h, true); err == nil {
		if dss, err := r.Datasets(e.ctx); err == nil {
			for name, dk := range dss {
				ds := policy.Dataset{Name: name}
				if d, err := r.OpenDataset(e.ctx, dk); err == nil {
					if snaps, _, err := d.Snapshots(e.ctx); err == nil {
						latest := ""
						var lt int64
						for _, s := range snaps {
							if s.Time.UnixNano() >= lt {
								lt, latest = s.Time.UnixNano(), s.Class
							}
						}
						ds.Class = latest
					}
				}
				names[dk.ID] = ds
			}
		}
		e.closeRepo(r)
	} else {
		e.warnf("dataset names and classes unavailable (%v); datasets are shown by id", err)
	}
	for id, sites := range at {
		ds, ok := names[id]
		if !ok {
			ds = policy.Dataset{Name: id}
		}
		sort.Strings(sites)
		out = append(out, assess.Holding{Dataset: ds, Sites: sites})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dataset.Name < out[j].Dataset.Name })
	return scan, out
}
