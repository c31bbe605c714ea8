package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/drill"
	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/failover"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/repo"
)

// loadIdentities reads custodian identity files, each once.
func loadIdentities(files []string) ([]repo.IdentitySource, error) {
	var out []repo.IdentitySource
	seen := map[string]bool{}
	for _, f := range files {
		if seen[f] {
			continue
		}
		seen[f] = true
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, hint.WithCode(fmt.Errorf("identity: %w", err), hint.CodeUsage)
		}
		ids, err := keys.ParseIdentities(b)
		if err != nil {
			return nil, hint.WithCode(fmt.Errorf("identity %s: %w", f, err), hint.CodeKey)
		}
		out = append(out, repo.IdentitySource{Label: filepath.Base(f), Identities: ids})
	}
	if len(out) == 0 {
		return nil, usagef("no custodian identities: list them in the plan (custodians:) or give --identity FILE")
	}
	return out, nil
}

func loadPlan(path string, extra []string) (*failover.Plan, []repo.IdentitySource, error) {
	p, err := failover.LoadPlan(path)
	if err != nil {
		return nil, nil, hint.WithCode(err, hint.CodeUsage)
	}
	ids, err := loadIdentities(append(append([]string(nil), p.Custodians...), extra...))
	return p, ids, err
}

// writeDoc writes a signed document and returns its SHA-256.
func writeDoc(path string, d *evidence.Document) (string, error) {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return "", err
	}
	b = append(b, '\n')
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func cmdDrill(e *env) *cobra.Command {
	var identities []string
	var expectHome string
	var out, scratch string
	var keep bool
	c := &cobra.Command{
		Use:   "drill PLAN.yaml",
		Short: "Run a restore drill from the sites and k custodians alone, and sign the report",
		Long: `Run a restore drill on a machine that has nothing but access to the sites and
k custodian identities: rebuild the root key from the shares at the first
reachable site, restore the plan's critical datasets into a scratch folder,
start the registry lookup service on them, probe it over HTTP, and write a
report signed by a drill key (derived from the recovered root and endorsed by
the root signing key, or the plan's drill-key) with the measured RTO (start to
first successful probe) and achieved RPO (now minus snapshot time) against
the plan's targets, and every check that failed: missing shares, a site down,
a corrupted snapshot, a dataset past its RPO, a probe that did not answer.

  name: registry-drill
  home: fp1-9ec7-69ad-2dd5-60b3-d2c5-4597-4dac-e4bc   # 'embassy key status'; --expect-home overrides
  sites: [{name: lu-1, url: /mnt/embassy-lu}, {name: ch-1, url: s3://10.0.0.5:9000/embassy}]
  custodians: [alice.key, bob.key]
  rto: 60s
  datasets: [{name: population-register, rpo: 24h}]
  service:
    population: {dataset: population-register, path: population-register.csv}
    land: {dataset: population-register, path: land-register.csv}
  probes: [{register: population, key: "34606095281"}, {register: land, key: "19801:932:5479"}]

Exit code 3 when the drill fails, 4 when the key could not be rebuilt.
'embassy drill verify REPORT' checks a report's signature.`,
		Example: `  embassy drill plan.yaml --identity alice.key --identity bob.key --out drill.json
  embassy drill verify drill.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, ids, err := loadPlan(args[0], identities)
			if err != nil {
				return err
			}
			pinPlan(p, expectHome)
			doc, rep, err := drill.Run(e.ctx, p, ids, drill.Options{Scratch: scratch, Keep: keep, Log: e.log})
			if err != nil {
				if rep != nil && !e.json {
					for _, f := range rep.Failures {
						fmt.Fprintf(e.stderr, "embassy: drill: %s\n", f)
					}
				}
				return err
			}
			digest, err := writeDoc(out, doc)
			if err != nil {
				return err
			}
			ev := evidence.Event{Type: "drill", Home: rep.Home, Digest: digest,
				Summary: fmt.Sprintf("drill %s: pass=%t rto=%.1fs", rep.Plan, rep.Pass, rep.RTOMeasured),
				Fields:  map[string]any{"report": out, "pass": rep.Pass, "rto_seconds": rep.RTOMeasured, "failures": len(rep.Failures)}}
			if err := (evidence.Journal{Path: filepath.Join(filepath.Dir(out), eventsFile)}).Append(ev); err != nil {
				e.warnf("event journal: %v", err)
			}
			if !rep.Pass {
				e.warned = true
			}
			if e.json {
				return e.emitJSON(map[string]any{"report": out, "sha256": digest, "pass": rep.Pass, "rto_seconds": rep.RTOMeasured,
					"rto_target_seconds": rep.RTOTarget, "datasets": rep.Datasets, "failures": rep.Failures})
			}
			verdict := "PASS"
			if !rep.Pass {
				verdict = "FAIL"
			}
			e.printf("drill %s: %s\n", rep.Plan, verdict)
			e.printf("  RTO %.1fs (target %gs)\n", rep.RTOMeasured, rep.RTOTarget)
			for _, d := range rep.Datasets {
				e.printf("  %s: snapshot %s, RPO achieved %.0fs (target %gs)\n", d.Dataset, d.Snapshot[:12], d.AchievedSec, d.TargetSec)
			}
			for _, f := range rep.Failures {
				e.printf("  failed: %s\n", f)
			}
			e.printf("  signed report: %s (sha256 %s)\n", out, digest[:16])
			return nil
		},
	}
	c.Flags().StringArrayVar(&identities, "identity", nil, "a custodian's identity file (repeatable; added to the plan's custodians)")
	c.Flags().StringVarP(&out, "out", "o", "drill-report.json", "where to write the signed report")
	c.Flags().StringVar(&scratch, "scratch", "", "folder to restore into (default: a temporary folder, removed after)")
	c.Flags().BoolVar(&keep, "keep", false, "keep the temporary scratch folder")
	expectHomeFlag(c, &expectHome)
	c.AddCommand(cmdDrillVerify(e))
	return c
}

func cmdDrillVerify(e *env) *cobra.Command {
	var key, siteURL string
	c := &cobra.Command{
		Use:   "verify REPORT",
		Short: "Check the signature of a drill report (or an activation or deactivation report)",
		Long: `Check that REPORT is signed by the key it names and, when that key is
endorsed by a home's root signing key, that the endorsement verifies and (for
key epoch 1) that the root key is the one the home id is derived from.
--key pins the expected signing or root key (base64). Exit code 3 if the
signature does not verify.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return hint.WithCode(err, hint.CodeUsage)
			}
			d, err := evidence.Parse(b)
			if err != nil {
				return hint.WithCode(err, hint.CodeDamaged)
			}
			v, err := evidence.Verify(d, repo.HomeIDFor)
			if err != nil {
				return hint.WithCode(hint.Wrap(err, "the report was altered or is not an embassy report"), hint.CodeDamaged)
			}
			if err := e.checkReportEpoch(v, d, siteURL); err != nil {
				return err
			}
			if key != "" && key != v.Key && key != v.RootKey {
				return hint.WithCode(fmt.Errorf("report is signed by %s, not by %s", v.Key, key), hint.CodeDamaged)
			}
			var body map[string]any
			d.Decode(&body)
			if e.json {
				return e.emitJSON(map[string]any{"ok": true, "kind": v.Kind, "key": v.Key, "endorsed": v.Endorsed, "home": v.Home,
					"epoch": v.Epoch, "root_key": v.RootKey, "home_bound": v.HomeBound, "body": body})
			}
			e.printf("%s: signature ok (key %s)\n", v.Kind, v.Key)
			if v.Endorsed {
				bound := "check the root key against the home's key epochs"
				if v.HomeBound {
					bound = "the home id is derived from it"
				}
				e.printf("  endorsed by home %s epoch %d root key %s (%s)\n", v.Home, v.Epoch, v.RootKey, bound)
			}
			if pass, ok := body["pass"].(bool); ok {
				e.printf("  pass: %t, RTO %.1fs\n", pass, body["rto_measured_seconds"])
				if f, ok := body["failures"].([]any); ok {
					for _, x := range f {
						e.printf("  failed: %s\n", strings.TrimSpace(fmt.Sprint(x)))
					}
				}
			}
			return nil
		},
	}
	c.Flags().StringVar(&key, "key", "", "expected signing or root public key (base64)")
	c.Flags().StringVar(&siteURL, "site", "", "a site of the home, to check the endorsing key against its signed key epochs")
	return c
}
