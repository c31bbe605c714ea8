package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net"
	"os"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/broker"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/vault"
)

// cmdBroker is 'embassy broker': the key broker for attested workloads.
// The domain logic is in internal/broker; this file parses flags and prints.
func cmdBroker(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "broker",
		Short: "Release dataset keys to attested workloads (key broker)",
		Long: `broker runs the sending state's key broker: workloads at host sites present
TPM evidence bound to a broker nonce and to a key they generated, and receive
a dataset's keys wrapped to that key only if the evidence verifies, the
workload identity is pinned, nothing is revoked and a release rule of
<home>/broker/release.yaml allows it. See docs/BROKER.md.`,
	}
	c.AddCommand(cmdBrokerServe(e), cmdBrokerRefs(e), cmdBrokerWorkload(e), cmdBrokerRevoke(e))
	return c
}

func brokerDir(h *home.Home) string { return vault.BrokerDir(h) }

// brokerStore opens <home>/broker; reference values are trusted when
// signed with the root's signing key.
func (e *env) brokerStore(h *home.Home) (*broker.Store, ed25519.PrivateKey, error) {
	r, err := e.openRepo(h, false)
	if err != nil {
		return nil, nil, err
	}
	defer e.closeRepo(r)
	root, err := h.LoadRoot(r.CurrentEpoch().Epoch)
	if err != nil {
		return nil, nil, err
	}
	st, err := broker.NewStore(brokerDir(h), vault.BrokerPublishers(r))
	return st, root.Signer(), err
}

func cmdBrokerServe(e *env) *cobra.Command {
	var listen, addrFile string
	var hosts []string
	c := &cobra.Command{
		Use:   "serve [--listen ADDR] [--host NAME]",
		Short: "Serve the broker (native API and the KBS protocol) over TLS from the home PKI",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := e.openKeyed()
			if err != nil {
				return err
			}
			defer v.Close()
			h := v.Home
			return v.ServeBroker(e.ctx, vault.BrokerServe{Listen: listen, Hosts: hosts,
				BreakGlass: func(_ context.Context, site string) (policy.BreakGlass, error) { return e.breakGlassOpen(h, site) },
				Ready: func(addr net.Addr) error {
					if addrFile != "" {
						if err := os.WriteFile(addrFile, []byte(addr.String()), 0o644); err != nil {
							return err
						}
					}
					fmt.Fprintf(e.stdout, "broker: serving on https://%s (home %s)\n", addr, h.Config.Home)
					return nil
				}})
		},
	}
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:7450", "address to listen on")
	c.Flags().StringArrayVar(&hosts, "host", []string{"127.0.0.1", "localhost"}, "DNS name or IP address in the broker's certificate (repeatable)")
	c.Flags().StringVar(&addrFile, "addr-file", "", "write the address listened on to this file (for --listen 127.0.0.1:0)")
	return c
}

func cmdBrokerRefs(e *env) *cobra.Command {
	c := &cobra.Command{Use: "refs", Short: "Sign, stage, approve and list reference values"}
	var out string
	sign := &cobra.Command{
		Use:   "sign VALUES.json -o SIGNED.json",
		Short: "Sign reference values with the home's root signing key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			var rv broker.RefValues
			if err := strictUnmarshal(b, &rv); err != nil {
				return hint.WithCode(fmt.Errorf("%s: %w", args[0], err), hint.CodeUsage)
			}
			_, key, err := e.brokerStore(h)
			if err != nil {
				return err
			}
			s, err := broker.SignRefs(rv, key)
			if err != nil {
				return hint.WithCode(err, hint.CodeUsage)
			}
			enc, _ := json.MarshalIndent(s, "", "  ")
			if out == "" {
				_, err = e.stdout.Write(append(enc, '\n'))
				return err
			}
			return os.WriteFile(out, append(enc, '\n'), 0o644)
		},
	}
	sign.Flags().StringVarP(&out, "output", "o", "", "write the signed file here (default stdout)")
	add := &cobra.Command{
		Use:   "add SIGNED.json",
		Short: "Verify signed reference values and stage them for approval",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			st, _, err := e.brokerStore(h)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			r, err := st.AddRefs(b)
			if err != nil {
				return hint.WithCode(err, hint.CodeDamaged)
			}
			fmt.Fprintf(e.stdout, "staged reference values %s (%s, %d measurements); approve with 'embassy broker refs approve %s'\n", r.Name, r.TEE, len(r.Measurements), r.Name)
			return nil
		},
	}
	approve := &cobra.Command{
		Use:   "approve NAME",
		Short: "Approve staged reference values: workloads matching them may receive keys",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			st, _, err := e.brokerStore(h)
			if err != nil {
				return err
			}
			r, err := st.ApproveRefs(args[0])
			if err != nil {
				return hint.WithCode(err, hint.CodeUsage)
			}
			e.audit(h, tlog.Entry{Kind: tlog.KindPolicyChange, Object: "refs:" + r.Name, Reason: "refs-approve",
				Details: map[string]string{"tee": r.TEE, "measurements": broker.MeasurementsDigest(r.Measurements)}})
			fmt.Fprintf(e.stdout, "approved reference values %s\n", r.Name)
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List approved and pending reference values",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			st, _, err := e.brokerStore(h)
			if err != nil {
				return err
			}
			s, err := st.Load()
			if err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(map[string]any{"approved": s.Approved, "pending": s.Pending})
			}
			for _, set := range []struct {
				what string
				m    map[string]*broker.SignedRefs
			}{{"approved", s.Approved}, {"pending", s.Pending}} {
				for name, r := range set.m {
					fmt.Fprintf(e.stdout, "%-9s %-24s %-8s %d measurements, digest %s\n", set.what, name, r.TEE, len(r.Measurements), broker.MeasurementsDigest(r.Measurements))
				}
			}
			return nil
		},
	}
	c.AddCommand(sign, add, approve, list)
	return c
}

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func cmdBrokerWorkload(e *env) *cobra.Command {
	c := &cobra.Command{Use: "workload", Short: "Pin workload identities to sites"}
	var w broker.Workload
	add := &cobra.Command{
		Use:   "add NAME --identity FINGERPRINT --site SITE",
		Short: "Pin a workload identity (a TPM attestation key fingerprint) to a site",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			if sc, _ := h.Site(w.Site); sc == nil {
				return usagef("site %q is not in the registry: see 'embassy site list'", w.Site)
			}
			st, _, err := e.brokerStore(h)
			if err != nil {
				return err
			}
			w.Name = args[0]
			if err := st.AddWorkload(w); err != nil {
				return hint.WithCode(err, hint.CodeUsage)
			}
			e.audit(h, tlog.Entry{Kind: tlog.KindPolicyChange, Object: "workload:" + w.Name, Site: w.Site, Reason: "workload-add",
				Details: map[string]string{"identity": w.Identity}})
			fmt.Fprintf(e.stdout, "pinned workload %s at site %s\n", w.Name, w.Site)
			return nil
		},
	}
	add.Flags().StringVar(&w.Identity, "identity", "", "the workload's identity ('embassy workload identity' prints it)")
	add.Flags().StringVar(&w.Site, "site", "", "the site it runs at")
	c.AddCommand(add)
	return c
}

func cmdBrokerRevoke(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke measurement|site|workload|dataset VALUE",
		Short: "Stop every further release to a measurement, site, workload or of a dataset, at once",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			st, _, err := e.brokerStore(h)
			if err != nil {
				return err
			}
			if err := st.Revoke(args[0], args[1]); err != nil {
				return hint.WithCode(err, hint.CodeUsage)
			}
			e.audit(h, tlog.Entry{Kind: tlog.KindPolicyChange, Object: args[0] + ":" + args[1], Reason: "broker-revoke"})
			fmt.Fprintf(e.stdout, "revoked %s %s: no further releases\n", args[0], args[1])
			return nil
		},
	}
}
