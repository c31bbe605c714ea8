package cli

import (
	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdOperate(e *env) *cobra.Command {
	var identities []string
	var expectHome string
	var dir, listen, reason, passFile string
	var ot operateTLS
	c := &cobra.Command{
		Use:   "operate PLAN.yaml --identity FILE... --reason TEXT [--listen ADDR] [--dir DIR]",
		Short: "Declare a crisis and serve the registries from the embassy, read-only",
		Long: `Declare a crisis and operate from the embassy: rebuild the root key from the
plan's sites with k custodian identities, restore the plan's datasets, sign a
crisis activation and serve the registries read-only over HTTP:

  GET  /v1/population/{personal-id}   GET /v1/land/{cadastral-id}   GET /healthz
  POST /deactivate                    (or SIGTERM/SIGINT)

The quorum is proven by the shares: activation needs at least k custodians'
identities to decrypt their shares and rebuild the root, and the activation
is signed by a session key derived from that root and endorsed by the root
signing key, so anyone holding the vault's signed key epochs can check it.

Officials authenticate with tokens the home issued before the crisis
('embassy operate token issue'), checked against the signing keys recorded
in the vault. Every request is audited in DIR/audit.jsonl before it is
answered, with the looked-up ID only as a keyed hash.

No lookup token ends the session: POST /deactivate needs a token of the
separate deactivate role, or (with no Authorization header) a custodian
quorum: a JSON body {"signatures": [...]} with k custodians' signatures over
{home fingerprint, session id, time}, made with 'embassy operate sign'.
A refused deactivation is audited and journalled (and, with the home on this
machine, written to its log). Deactivation writes DIR/deactivation.json, a
signed report of what was served.`,
		Example: `  embassy operate plan.yaml --identity alice.key --identity bob.key --reason "home data centres down" --listen :8443
  curl -H "Authorization: Bearer $(cat official.token)" http://host:8443/v1/population/34606095281`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if reason == "" {
				return usagef("missing --reason TEXT: state why the crisis is declared")
			}
			p, ids, err := vault.LoadPlan(args[0], expectHome, identities, e.passphrase(passFile))
			if err != nil {
				return err
			}
			tc, err := ot.config(listen)
			if err != nil {
				return err
			}
			req := vault.OperateRequest{Plan: p, Identities: ids, Dir: firstNonEmpty(dir, "embassy-operate"), Listen: listen, Reason: reason, TLS: tc, Revoked: ot.revoked, CRL: ot.rev}
			res, err := e.continuity().Operate(e.ctx, req, func(s vault.OperateSession) {
				if e.json {
					_ = e.emitJSON(map[string]any{"session": s.Session, "listen": s.Addr, "activation": s.Activation, "activation_sha256": s.ActivationSHA256})
					return
				}
				e.printf("crisis session %s active: serving %s on %s://%s (restored in %.1fs)\n  activation signed: %s\n", s.Session, plural(s.Datasets, "dataset"), s.Scheme, s.Addr, s.Elapsed.Seconds(), s.Activation)
			})
			if err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(map[string]any{"session": res.Session, "deactivated_by": res.By, "served": res.Served, "report": res.Report, "sha256": res.SHA256})
			}
			e.printf("crisis session %s deactivated by %s: %d audited requests; signed report %s\n", res.Session, res.By, res.Served.AuditLines, res.Report)
			return nil
		},
	}
	f := c.Flags()
	f.StringArrayVar(&identities, "identity", nil, "a custodian's identity file (repeat for k custodians; added to the plan's)")
	f.StringVar(&dir, "dir", "", "folder for restored data, audit log and signed reports (default ./embassy-operate)")
	f.StringVar(&listen, "listen", "127.0.0.1:8443", "address to serve on")
	f.StringVar(&reason, "reason", "", "why the crisis is declared (recorded in the signed activation)")
	ot.flags(f)
	expectHomeFlag(c, &expectHome)
	passFlag(c, &passFile)
	c.AddCommand(cmdOperateToken(e), cmdOperateSign(e))
	return c
}
