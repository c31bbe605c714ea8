package cli

import (
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/approval"
	"github.com/digital-embassy/embassy/internal/vault"
)

// The decisions (auto-deny, pending checks, the log entries, signing and
// pushing to daemons) are the vault's (internal/vault/access.go); these
// commands parse flags and print.

func cmdAccess(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "access",
		Short: "Access requests awaiting the sending state's approval",
		Long: `Access the sending state did not start (support, host service or review,
a legal demand) waits for its prior approval: 'access request' records a
host's request in the transparency log as pending; 'access approve' and
'access deny' decide it. Reason codes listed under auto-deny in policy.yaml
are denied at once (exit 3). Only the home's decisions count.

Host operators may file requests at a site's daemon instead; the daemon
holds the privileged operation they ask for until it has the home's
decision signed with the home's access key ('access key' prints the key
to configure the daemon with: embassyd --access-key). 'access list --pull'
brings such requests into the log and delivers decisions not yet
delivered; approve and deny push theirs at once.`,
	}
	c.AddCommand(cmdAccessRequest(e), cmdAccessDecide(e, true), cmdAccessDecide(e, false), cmdAccessList(e), cmdAccessKey(e))
	return c
}

func cmdAccessRequest(e *env) *cobra.Command {
	var rq approval.Request
	request := &cobra.Command{
		Use:   "request --site S --reason CODE --who WHO --what WHAT [--access TYPE]",
		Short: "Record a host's access request (pending until decided)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			res, err := e.vaultOf(h).RequestAccess(e.ctx, rq)
			if err != nil {
				return err
			}
			if res.Auto {
				e.printf("Access request %d at %s denied at once: %s is under auto-deny in policy.yaml\n", res.Index, res.Site, res.Reason)
				e.warned = true
				return nil
			}
			e.printf("Access request %d at %s is pending: approve with 'embassy access approve %d --note ...' or deny it\n", res.Index, res.Site, res.Index)
			return nil
		},
	}
	f := request.Flags()
	f.StringVar(&rq.Site, "site", "", "site the access is for")
	f.StringVar(&rq.Reason, "reason", "", "reason code (see 'embassy disclose --help')")
	f.StringVar(&rq.Access, "access", "support", "access type")
	f.StringVar(&rq.Who, "who", "", "who asks: name, role and organisation")
	f.StringVar(&rq.What, "what", "", "what access is asked for")
	return request
}

func cmdAccessDecide(e *env, approve bool) *cobra.Command {
	var note string
	verb := map[bool]string{true: "approve", false: "deny"}[approve]
	c := &cobra.Command{
		Use:   verb + " INDEX --note TEXT",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " a pending access request (the sending state)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil || strings.TrimSpace(note) == "" {
				return usagef("give the request's log index ('embassy access list') and --note")
			}
			h, err := e.openHome()
			if err != nil {
				return err
			}
			res, err := e.vaultOf(h).DecideAccess(e.ctx, n, approve, note)
			if err != nil {
				return err
			}
			e.printf("Access request %d at %s %s: entry %d\n", n, res.Site, res.Status, res.Decision)
			if res.Pushed {
				e.printf("The signed decision reached %s's daemon\n", res.Site)
			}
			if res.PushError != "" {
				e.warned = true
			}
			return nil
		},
	}
	c.Flags().StringVar(&note, "note", "", "the decision's reference or conditions")
	return c
}

func cmdAccessList(e *env) *cobra.Command {
	var pull bool
	list := &cobra.Command{
		Use:   "list [--pull]",
		Short: "List access requests and their decisions (--pull: from the daemons first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			v := e.vaultOf(h)
			if pull {
				p, err := v.PullAccess(e.ctx)
				if err != nil {
					return err
				}
				e.warned = e.warned || len(p.Errors) > 0 || p.Invalid > 0 || autoDenied(p.New)
			}
			st, err := v.AccessRequests(e.ctx)
			if err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(append([]approval.State{}, st...))
			}
			for _, s := range st {
				e.printf("%s\n", accessLine(s))
			}
			if len(st) == 0 {
				e.printf("no access requests in the log\n")
			}
			return nil
		},
	}
	list.Flags().BoolVar(&pull, "pull", false, "first fetch the requests filed at daemon sites and deliver pending decisions")
	return list
}

func autoDenied(rs []vault.AccessResult) bool {
	for _, r := range rs {
		if r.Auto {
			return true
		}
	}
	return false
}

func accessLine(s approval.State) string {
	d := s.Status
	if s.Status != approval.Pending {
		d += " " + s.Decided.UTC().Format(time.DateTime)
		if s.Auto {
			d += " (auto-deny)"
		}
	}
	if s.FromDaemon() {
		d += "; at the daemon: " + s.Scope + " for " + s.Duration + " by " + termSafe(s.Requester)
	}
	return strconv.FormatUint(s.Index, 10) + "  " + s.Site + "  " + s.Reason + "  " + termSafe(s.Who) + ": " + termSafe(s.What) + "; " + d
}

func cmdAccessKey(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "key",
		Short: "Print the home's access-decision key, for embassyd --access-key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			_, vkey, err := e.vaultOf(h).AccessKey()
			if err != nil {
				return err
			}
			e.printf("%s\n", vkey)
			return nil
		},
	}
}
