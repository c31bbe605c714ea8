package cli

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/approval"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/tlog"
)

func (e *env) accessRequests(h *home.Home) ([]approval.State, error) {
	r, _, err := e.readLog(h)
	if err != nil {
		return nil, err
	}
	_, ents, err := r.All(e.ctx)
	if err != nil {
		return nil, err
	}
	return approval.Status(ents), nil
}

func cmdAccess(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "access",
		Short: "Access requests awaiting the sending state's approval",
		Long: `Access the sending state did not start (support, host service or review,
a legal demand) waits for its prior approval: 'access request' records a
host's request in the transparency log as pending; 'access approve' and
'access deny' decide it. Reason codes listed under auto-deny in policy.yaml
are denied at once (exit 3). Only the home's decisions count.`,
	}
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
			if sc, _ := h.Site(rq.Site); sc == nil {
				return hint.WithCode(hint.Wrap(fmt.Errorf("no site named %q", rq.Site), "see 'embassy site list'"), hint.CodeUsage)
			}
			rq.Reason = strings.ToUpper(rq.Reason)
			ent, err := rq.Entry()
			if err != nil {
				return usagef("%v", err)
			}
			idx, _, err := e.recordIndex(h, ent)
			if err != nil {
				return err
			}
			settings, err := loadSettings(h, agreement.DefaultBaseline())
			if err != nil {
				return err
			}
			if slices.Contains(settings.AutoDeny, rq.Reason) {
				if _, _, err := e.recordIndex(h, approval.DecisionEntry(idx, rq.Site, false, true, "auto-deny in policy.yaml")); err != nil {
					return err
				}
				e.printf("Access request %d at %s denied at once: %s is under auto-deny in policy.yaml\n", idx, rq.Site, rq.Reason)
				e.warned = true
				return nil
			}
			e.printf("Access request %d at %s is pending: approve with 'embassy access approve %d --note ...' or deny it\n", idx, rq.Site, idx)
			return nil
		},
	}
	f := request.Flags()
	f.StringVar(&rq.Site, "site", "", "site the access is for")
	f.StringVar(&rq.Reason, "reason", "", "reason code (see 'embassy disclose --help')")
	f.StringVar(&rq.Access, "access", "support", "access type")
	f.StringVar(&rq.Who, "who", "", "who asks: name, role and organisation")
	f.StringVar(&rq.What, "what", "", "what access is asked for")
	decide := func(approve bool) *cobra.Command {
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
				st, err := e.accessRequests(h)
				if err != nil {
					return err
				}
				for _, s := range st {
					if s.Index != n {
						continue
					}
					if s.Status != approval.Pending {
						return hint.WithCode(fmt.Errorf("access request %d is %s already (entry %d)", n, s.Status, s.DecidedAt), hint.CodeUsage)
					}
					idx, _, err := e.recordIndex(h, approval.DecisionEntry(n, s.Site, approve, false, note))
					if err != nil {
						return err
					}
					e.printf("Access request %d at %s %s: entry %d\n", n, s.Site, map[bool]string{true: "approved", false: "denied"}[approve], idx)
					return nil
				}
				return hint.WithCode(hint.Wrap(fmt.Errorf("no access request at log index %d", n), "see 'embassy access list'"), hint.CodeUsage)
			},
		}
		c.Flags().StringVar(&note, "note", "", "the decision's reference or conditions")
		return c
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List access requests and their decisions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.openHome()
			if err != nil {
				return err
			}
			st, err := e.accessRequests(h)
			if err != nil {
				return err
			}
			if e.json {
				if st == nil {
					st = []approval.State{}
				}
				return e.emitJSON(st)
			}
			for _, s := range st {
				d := s.Status
				if s.Status != approval.Pending {
					d += " " + s.Decided.UTC().Format(time.DateTime)
					if s.Auto {
						d += " (auto-deny)"
					}
				}
				e.printf("%d  %s  %s  %s: %s; %s\n", s.Index, s.Site, s.Reason, s.Who, s.What, d)
			}
			if len(st) == 0 {
				e.printf("no access requests in the log\n")
			}
			return nil
		},
	}
	c.AddCommand(request, decide(true), decide(false), list)
	return c
}

// recordIndex appends one entry to the home's log and returns its index
// (break-glass, incident and access entries).
func (e *env) recordIndex(h *home.Home, ent tlog.Entry) (uint64, []byte, error) {
	return e.vaultOf(h).Recorder().AppendIndex(e.ctx, ent)
}
