package cli

import (
	"fmt"
	"os"
	"time"

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
				e.printf("crisis session %s active: serving %d datasets on %s://%s (restored in %.1fs)\n  activation signed: %s\n", s.Session, s.Datasets, s.Scheme, s.Addr, s.Elapsed.Seconds(), s.Activation)
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

func cmdOperateToken(e *env) *cobra.Command {
	c := &cobra.Command{Use: "token", Short: "Issue tokens for officials, before a crisis"}
	var official, out, role string
	var ttl time.Duration
	issue := &cobra.Command{
		Use:   "issue --official NAME --ttl 720h [-o FILE]",
		Short: "Issue an official's lookup token, signed by the home's root signing key",
		Long: `Issue a token that lets an official look records up from the embassy during
a crisis. It is signed by the home's current root signing key, whose public
half is recorded (signed) in the vault at every site, so the operate server
can check it with nothing but the sites. Keep tokens like passwords.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if official == "" {
				return usagef("missing --official NAME")
			}
			if ttl <= 0 || ttl > vault.OperateMaxTTL {
				return usagef("--ttl must be positive and at most %v, e.g. 720h", vault.OperateMaxTTL)
			}
			v, err := e.openKeyed()
			if err != nil {
				return err
			}
			defer v.Close()
			tok, t, err := v.IssueOperateToken(e.ctx, official, role, ttl)
			if err != nil {
				return err
			}
			if out != "" {
				if err := os.WriteFile(out, []byte(tok+"\n"), 0o600); err != nil {
					return err
				}
			}
			if e.json {
				return e.emitJSON(map[string]any{"token": tok, "id": t.ID, "official": official, "expires": t.Expires, "file": out})
			}
			if out == "" {
				fmt.Fprintln(e.stdout, tok)
			} else {
				e.printf("token %s for %s written to %s, valid until %s\n", t.ID, official, out, t.Expires.Format(time.RFC3339))
			}
			return nil
		},
	}
	issue.Flags().StringVar(&official, "official", "", "name of the official")
	issue.Flags().DurationVar(&ttl, "ttl", 720*time.Hour, "validity (at most 720h)")
	issue.Flags().StringVar(&role, "role", vault.OperateRoleLookup, "lookup (registry lookups) or deactivate (may only end the crisis service)")
	issue.Flags().StringVarP(&out, "output", "o", "", "write the token to FILE (mode 0600) instead of stdout")
	c.AddCommand(issue, cmdOperateTokenRevoke(e))
	return c
}

func cmdOperateSign(e *env) *cobra.Command {
	var siteURL, expectHome, session, out, passFile string
	var identities []string
	c := &cobra.Command{
		Use:   "sign --site URL --expect-home FP --session ID --identity FILE -o quorum.json",
		Short: "Sign, as a custodian, the end of a crisis session (k signatures deactivate it)",
		Long: `Sign the statement {home fingerprint, session id, now} with your root share,
opened from a site of the home with your identity. Signatures are added to
the quorum file -o (created if missing), so k custodians can sign it in turn;
POST it to the crisis service's /deactivate with no Authorization header:

  curl --data-binary @quorum.json https://host:8443/deactivate

The server checks each signature against the Feldman commitments in the
vault's signed key-epoch record; statements older than 15 minutes are refused.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if siteURL == "" || session == "" || out == "" || len(identities) == 0 {
				return usagef("give --site URL, --session ID (activation.json), --identity FILE and -o FILE")
			}
			ids, err := vault.LoadIdentities(identities, e.passphrase(passFile))
			if err != nil {
				return err
			}
			sigs, err := vault.SignDeactivation(e.ctx, siteURL, expectHome, session, ids, e.now())
			if err != nil {
				return err
			}
			n, err := vault.AddQuorumSignatures(out, sigs)
			if err != nil {
				return err
			}
			e.printf("%d signatures for session %s in %s\n", n, session, out)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&siteURL, "site", "", "a site of the home, to open your share from")
	f.StringVar(&session, "session", "", "the crisis session id (in activation.json)")
	f.StringArrayVar(&identities, "identity", nil, "your custodian identity file")
	f.StringVarP(&out, "output", "o", "", "the quorum file to add the signature to")
	expectHomeFlag(c, &expectHome)
	passFlag(c, &passFile)
	return c
}
