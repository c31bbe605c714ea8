package cli

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/failover"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/operate"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// Activation is the signed crisis-activation statement.
type Activation struct {
	Session    string            `json:"session"`
	Home       string            `json:"home"`
	Epoch      uint32            `json:"epoch"`
	Reason     string            `json:"reason"`
	Declared   time.Time         `json:"declared"`
	Threshold  int               `json:"threshold"`
	Custodians []string          `json:"custodians"` // recipients of the custodians whose shares rebuilt the root
	Sites      []string          `json:"sites"`
	Datasets   map[string]string `json:"datasets"` // dataset -> snapshot served
	Listen     string            `json:"listen"`
}

// Deactivation is the signed report of what was served.
type Deactivation struct {
	Session          string         `json:"session"`
	Home             string         `json:"home"`
	ActivationSHA256 string         `json:"activation_sha256"`
	Activated        time.Time      `json:"activated"`
	Deactivated      time.Time      `json:"deactivated"`
	By               string         `json:"deactivated_by"` // official name, or "signal"
	Served           operate.Served `json:"served"`
	AuditSHA256      string         `json:"audit_sha256"`
}

const sessionLabel = "embassy.v1 operate session"

func cmdOperate(e *env) *cobra.Command {
	var identities []string
	var expectHome string
	var dir, listen, reason string
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
answered, with the looked-up ID only as a keyed hash. Deactivation writes
DIR/deactivation.json, a signed report of what was served.`,
		Example: `  embassy operate plan.yaml --identity alice.key --identity bob.key --reason "home data centres down" --listen :8443
  curl -H "Authorization: Bearer $(cat official.token)" http://host:8443/v1/population/34606095281`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if reason == "" {
				return usagef("missing --reason TEXT: state why the crisis is declared")
			}
			p, ids, err := loadPlan(args[0], identities)
			if err != nil {
				return err
			}
			pinPlan(p, expectHome)
			if dir == "" {
				dir = "embassy-operate"
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			start := time.Now()
			env, err := failover.Rebuild(e.ctx, p, ids, filepath.Join(dir, "data"), e.log, time.Now)
			if env != nil {
				defer env.Close()
			}
			if err != nil {
				return err
			}
			for _, c := range env.Checks {
				if !c.OK {
					e.warnf("%s %s: %s", c.Check, c.Subject, c.Detail)
				}
			}
			svc, err := env.Service(p)
			if err != nil {
				return hint.Wrap(err, "the plan's registers must be restorable to operate")
			}
			defer svc.Close()
			root, home := env.Recovered.Root, env.Recovered.Home
			tc, err := ot.config(listen)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return hint.WithCode(fmt.Errorf("--listen %s: %w", listen, err), hint.CodeUsage)
			}
			sid := make([]byte, 8)
			rand.Read(sid)
			session := hex.EncodeToString(sid)
			act := Activation{Session: session, Home: home, Epoch: root.Epoch, Reason: reason, Declared: start.UTC(),
				Threshold: env.Recovered.Threshold, Datasets: map[string]string{}, Listen: ln.Addr().String()}
			for _, src := range ids {
				for _, u := range env.Recovered.Used {
					if u == src.Label && len(src.Identities) > 0 {
						act.Custodians = append(act.Custodians, keys.RecipientOf(src.Identities[0]))
					}
				}
			}
			for _, s := range env.Sites {
				if s.Backend != nil && s.Err() == nil {
					act.Sites = append(act.Sites, s.Name)
				}
			}
			for n, rs := range env.Restored {
				act.Datasets[n] = rs.Snapshot
			}
			signer := operate.DeriveSigner(root, sessionLabel)
			doc, err := evidence.Sign(evidence.KindActivation, act, signer, home, root.Epoch, root.Signer())
			if err != nil {
				return err
			}
			actSum, err := writeDoc(filepath.Join(dir, "activation.json"), doc)
			if err != nil {
				return err
			}
			journal := evidence.Journal{Path: filepath.Join(dir, eventsFile)}
			journal.Append(evidence.Event{Type: "activation", Home: home, Digest: actSum,
				Summary: fmt.Sprintf("crisis declared, session %s: %s", session, reason), Fields: map[string]any{"custodians": len(act.Custodians)}})
			auditPath := filepath.Join(dir, "audit.jsonl")
			srv := &operate.Server{Service: svc, AuditPath: auditPath, AuditKey: operate.DeriveKey(root, operate.AuditLabel),
				Session: session, Log: e.log,
				Verify: func(s string) (*operate.Token, error) {
					return operate.Verify(s, home, operate.CurrentEpochKey(env.Repo), time.Now())
				}}
			if ot.revoked != "" {
				srv.Revoked = &operate.Revoked{Path: ot.revoked, Home: home, SignKey: operate.CurrentEpochKey(env.Repo)}
				if err := srv.Revoked.Load(); err != nil {
					return hint.Wrap(fmt.Errorf("--revoked %s: %w", ot.revoked, err), "use the list 'embassy operate token revoke' wrote, signed under the vault's current epoch")
				}
			}
			hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, TLSConfig: tc}
			scheme := "http"
			if tc != nil {
				scheme = "https"
				go hs.ServeTLS(ln, "", "")
			} else {
				go hs.Serve(ln)
			}
			os.WriteFile(filepath.Join(dir, "addr"), []byte(ln.Addr().String()), 0o644)
			if e.json {
				e.emitJSON(map[string]any{"session": session, "listen": ln.Addr().String(), "activation": filepath.Join(dir, "activation.json"), "activation_sha256": actSum})
			} else {
				e.printf("crisis session %s active: serving %d datasets on %s://%s (restored in %.1fs)\n", session, len(env.Restored), scheme, ln.Addr(), time.Since(start).Seconds())
				e.printf("  activation signed: %s\n", filepath.Join(dir, "activation.json"))
			}
			by := "signal"
			select {
			case <-e.ctx.Done():
			case by = <-srv.Deactivated():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			hs.Shutdown(sctx)
			cancel()
			deact := Deactivation{Session: session, Home: home, ActivationSHA256: actSum, Activated: start.UTC(),
				Deactivated: time.Now().UTC(), By: by, Served: srv.Summary(), AuditSHA256: fileSHA256(auditPath)}
			ddoc, err := evidence.Sign(evidence.KindDeactivation, deact, signer, home, root.Epoch, root.Signer())
			if err != nil {
				return err
			}
			dsum, err := writeDoc(filepath.Join(dir, "deactivation.json"), ddoc)
			if err != nil {
				return err
			}
			journal.Append(evidence.Event{Type: "deactivation", Home: home, Digest: dsum,
				Summary: fmt.Sprintf("crisis session %s deactivated by %s", session, by), Fields: map[string]any{"audit_lines": deact.Served.AuditLines}})
			if e.json {
				return e.emitJSON(map[string]any{"session": session, "deactivated_by": by, "served": deact.Served, "report": filepath.Join(dir, "deactivation.json"), "sha256": dsum})
			}
			e.printf("crisis session %s deactivated by %s: %d audited requests; signed report %s\n", session, by, deact.Served.AuditLines, filepath.Join(dir, "deactivation.json"))
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
	c.AddCommand(cmdOperateToken(e))
	return c
}

func fileSHA256(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil))
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
			if ttl <= 0 || ttl > operate.MaxTTL {
				return usagef("--ttl must be positive and at most %v, e.g. 720h", operate.MaxTTL)
			}
			h, r, err := e.openVault(true)
			if err != nil {
				return err
			}
			defer e.closeRepo(r)
			tok, t, err := operate.IssueRole(r.Root(), r.Home(), official, role, ttl, time.Now())
			if err != nil {
				return err
			}
			if out != "" {
				if err := os.WriteFile(out, []byte(tok+"\n"), 0o600); err != nil {
					return err
				}
			}
			evidence.Journal{Path: filepath.Join(h.Dir, eventsFile)}.Append(evidence.Event{Type: "token", Home: r.Home(),
				Summary: fmt.Sprintf("operate token %s issued to %s until %s", t.ID, official, t.Expires.Format(time.RFC3339))})
			e.audit(h, tlog.Entry{Kind: tlog.KindKeyUse, Object: t.ID, Details: map[string]string{"initiator": "home", "use": "operate-token", "official": official, "role": t.RoleOf(), "expires": t.Expires.Format(time.RFC3339)}})
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
	issue.Flags().StringVar(&role, "role", operate.RoleLookup, "lookup (registry lookups) or deactivate (may only end the crisis service)")
	issue.Flags().StringVarP(&out, "output", "o", "", "write the token to FILE (mode 0600) instead of stdout")
	c.AddCommand(issue, cmdOperateTokenRevoke(e))
	return c
}
