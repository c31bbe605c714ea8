package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

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
