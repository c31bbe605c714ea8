package broker

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cedar-policy/cedar-go"
)

// Rule is one release rule of release.yaml: which datasets (by name or by
// class) may be released to which TEEs running which approved reference
// values, at which sites and jurisdictions, during which hours (UTC).
// Empty lists mean "any", except TEEs and refs, which are required.
type Rule struct {
	Name          string   `yaml:"name" json:"name"`
	Datasets      []string `yaml:"datasets,omitempty" json:"datasets,omitempty"`
	Classes       []string `yaml:"classes,omitempty" json:"classes,omitempty"`
	TEEs          []string `yaml:"tee" json:"tee"`
	Refs          []string `yaml:"refs" json:"refs"`
	Sites         []string `yaml:"sites,omitempty" json:"sites,omitempty"`
	Jurisdictions []string `yaml:"jurisdictions,omitempty" json:"jurisdictions,omitempty"`
	Workloads     []string `yaml:"workloads,omitempty" json:"workloads,omitempty"`
	Hours         string   `yaml:"hours,omitempty" json:"hours,omitempty"` // "6-22": from 06:00 to 22:00 UTC

	from, to int
}

func (r *Rule) validate() error {
	if !nameRE().MatchString(r.Name) {
		return fmt.Errorf("rule %q: name must be 1-64 lowercase letters, digits, '.', '_' or '-'", r.Name)
	}
	if len(r.Datasets) == 0 && len(r.Classes) == 0 {
		return fmt.Errorf("rule %s: name datasets or classes", r.Name)
	}
	if len(r.TEEs) == 0 || len(r.Refs) == 0 {
		return fmt.Errorf("rule %s: tee and refs are required (which TEEs, running which approved reference values)", r.Name)
	}
	for _, l := range [][]string{r.Datasets, r.Classes, r.TEEs, r.Refs, r.Sites, r.Jurisdictions, r.Workloads} {
		for _, v := range l {
			if v == "" || len(v) > 128 || !printable(v) || strings.ContainsAny(v, "\"\\") {
				return fmt.Errorf("rule %s: value %q is not valid", r.Name, v)
			}
		}
	}
	r.from, r.to = 0, 24
	if r.Hours != "" {
		a, b, ok := strings.Cut(r.Hours, "-")
		f, err1 := strconv.Atoi(a)
		t, err2 := strconv.Atoi(b)
		if !ok || err1 != nil || err2 != nil || f < 0 || t > 24 || f >= t {
			return fmt.Errorf("rule %s: hours %q: use FROM-TO in whole UTC hours, e.g. 6-22", r.Name, r.Hours)
		}
		r.from, r.to = f, t
	}
	return nil
}

// compiledPolicy is the cedar policy set generated from the rules and the
// revocations, with the reason of each forbid.
type compiledPolicy struct {
	ps      *cedar.PolicySet
	text    string
	reasons map[cedar.PolicyID]string
}

func cedarSet(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v) // validated: printable ASCII without quotes or backslashes
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// compilePolicy writes each rule as a cedar permit and each revocation
// list as a forbid; a request is released only if some permit matches and
// no forbid does.
func compilePolicy(st *State) (*compiledPolicy, error) {
	var b strings.Builder
	reasons := map[cedar.PolicyID]string{}
	for _, r := range st.Rules {
		var conds []string
		var what []string
		if len(r.Datasets) > 0 {
			what = append(what, cedarSet(r.Datasets)+".contains(context.dataset)")
		}
		if len(r.Classes) > 0 {
			what = append(what, cedarSet(r.Classes)+".contains(context.class)")
		}
		conds = append(conds, "("+strings.Join(what, " || ")+")",
			cedarSet(r.TEEs)+".contains(context.tee)",
			"context.refs.containsAny("+cedarSet(r.Refs)+")")
		if len(r.Sites) > 0 {
			conds = append(conds, cedarSet(r.Sites)+".contains(context.site)")
		}
		if len(r.Jurisdictions) > 0 {
			conds = append(conds, cedarSet(r.Jurisdictions)+".contains(context.jurisdiction)")
		}
		if len(r.Workloads) > 0 {
			conds = append(conds, cedarSet(r.Workloads)+".contains(context.workload)")
		}
		if r.from != 0 || r.to != 24 {
			conds = append(conds, fmt.Sprintf("context.hour >= %d && context.hour < %d", r.from, r.to))
		}
		fmt.Fprintf(&b, "@id(%q)\npermit (principal, action == Action::\"release\", resource)\nwhen { %s };\n\n",
			"rule:"+r.Name, strings.Join(conds, "\n  && "))
	}
	forbid := func(id, cond, reason string) {
		fmt.Fprintf(&b, "@id(%q)\nforbid (principal, action, resource)\nwhen { %s };\n\n", id, cond)
		reasons[cedar.PolicyID(id)] = reason
	}
	rv := st.Revoked
	if len(rv.Measurements) > 0 {
		forbid("revoked-measurement", "context.measurements.containsAny("+cedarSet(rv.Measurements)+")",
			"a measurement in the evidence is revoked")
	}
	if len(rv.Sites) > 0 {
		forbid("revoked-site", cedarSet(rv.Sites)+".contains(context.site)", "the workload's site is revoked")
	}
	if len(rv.Workloads) > 0 {
		forbid("revoked-workload", cedarSet(rv.Workloads)+".containsAny([context.workload, context.identity])",
			"the workload identity is revoked")
	}
	if len(rv.Datasets) > 0 {
		forbid("revoked-dataset", cedarSet(rv.Datasets)+".contains(context.dataset)", "the dataset is revoked")
	}
	text := b.String()
	list, err := cedar.NewPolicyListFromBytes(ReleaseFile, []byte(text))
	if err != nil {
		return nil, fmt.Errorf("release policy: %w", err)
	}
	ps := cedar.NewPolicySet()
	for _, p := range list {
		id := cedar.PolicyID(p.Annotations()["id"])
		if !ps.Add(id, p) {
			return nil, fmt.Errorf("release policy: two rules are named %s", strings.TrimPrefix(string(id), "rule:"))
		}
	}
	return &compiledPolicy{ps: ps, text: text, reasons: reasons}, nil
}

// request is one release decision's input.
type request struct {
	Dataset, Class string
	TEE            string
	Site           string
	Jurisdiction   string
	Workload       Workload
	Measurements   map[string]string
	Hour           int
}

// decision is a release decision with reasons a person can act on.
type decision struct {
	Allow   bool
	Rule    string   // the permitting rule
	Refs    []string // the approved reference sets the evidence matches
	Reasons []string
	Code    string // refusal code: revoked, policy, no-rule
}

// decide evaluates the state's policy for rq.
func (st *State) decide(rq request) decision {
	var refs, pendingMatch []string
	var diffs []string
	for _, name := range sortedKeys(st.Approved) {
		r := st.Approved[name]
		if r.TEE != rq.TEE {
			continue
		}
		if ok, diff := r.Match(rq.Measurements); ok {
			refs = append(refs, name)
		} else {
			diffs = append(diffs, diff)
		}
	}
	for _, name := range sortedKeys(st.Pending) {
		if ok, _ := st.Pending[name].Match(rq.Measurements); ok && st.Pending[name].TEE == rq.TEE {
			pendingMatch = append(pendingMatch, name)
		}
	}
	ms := make([]cedar.Value, 0, 2*len(rq.Measurements))
	for k, v := range rq.Measurements {
		ms = append(ms, cedar.String(k+"="+v), cedar.String(v))
	}
	rs := make([]cedar.Value, len(refs))
	for i, r := range refs {
		rs[i] = cedar.String(r)
	}
	req := cedar.Request{
		Principal: cedar.NewEntityUID("Workload", cedar.String(rq.Workload.Identity)),
		Action:    cedar.NewEntityUID("Action", "release"),
		Resource:  cedar.NewEntityUID("Dataset", cedar.String(rq.Dataset)),
		Context: cedar.NewRecord(cedar.RecordMap{
			"dataset":      cedar.String(rq.Dataset),
			"class":        cedar.String(rq.Class),
			"tee":          cedar.String(rq.TEE),
			"site":         cedar.String(rq.Site),
			"jurisdiction": cedar.String(rq.Jurisdiction),
			"workload":     cedar.String(rq.Workload.Name),
			"identity":     cedar.String(rq.Workload.Identity),
			"hour":         cedar.Long(rq.Hour),
			"refs":         cedar.NewSet(rs...),
			"measurements": cedar.NewSet(ms...),
		}),
	}
	dec, diag := cedar.Authorize(st.policy.ps, cedar.EntityMap{}, req)
	d := decision{Allow: dec == cedar.Allow, Refs: refs}
	for _, e := range diag.Errors {
		d.Reasons = append(d.Reasons, "policy error: "+e.String())
	}
	var forbids []string
	for _, r := range diag.Reasons {
		id := string(r.PolicyID)
		if strings.HasPrefix(id, "rule:") {
			if d.Rule == "" {
				d.Rule = strings.TrimPrefix(id, "rule:")
			}
			continue
		}
		forbids = append(forbids, id)
	}
	if d.Allow && len(diag.Errors) == 0 {
		return d
	}
	d.Allow = false
	if len(forbids) > 0 {
		slices.Sort(forbids)
		d.Code = "revoked"
		for _, id := range forbids {
			d.Reasons = append(d.Reasons, st.policy.reasons[cedar.PolicyID(id)]+revokedDetail(id, st.Revoked, rq))
		}
		return d
	}
	// No permit matched: explain each rule that covers the dataset.
	covering := 0
	for _, r := range st.Rules {
		if !slices.Contains(r.Datasets, rq.Dataset) && !(rq.Class != "" && slices.Contains(r.Classes, rq.Class)) {
			continue
		}
		covering++
		var why []string
		if !slices.Contains(r.TEEs, rq.TEE) {
			why = append(why, fmt.Sprintf("TEE %s is not one of %s", rq.TEE, strings.Join(r.TEEs, ", ")))
		}
		matched := false
		for _, ref := range r.Refs {
			if slices.Contains(refs, ref) {
				matched = true
			}
		}
		if !matched {
			w := fmt.Sprintf("the measurements match none of the approved reference values %s", strings.Join(r.Refs, ", "))
			for _, p := range pendingMatch {
				if slices.Contains(r.Refs, p) {
					w += fmt.Sprintf("; they match %s, which is not approved yet: 'embassy broker refs approve %s'", p, p)
				}
			}
			if len(diffs) > 0 {
				w += " (" + strings.Join(diffs, "; ") + "): an unapproved firmware or image; publish and approve its reference values, or restore the approved one"
			}
			why = append(why, w)
		}
		if len(r.Sites) > 0 && !slices.Contains(r.Sites, rq.Site) {
			why = append(why, fmt.Sprintf("site %s is not one of %s", rq.Site, strings.Join(r.Sites, ", ")))
		}
		if len(r.Jurisdictions) > 0 && !slices.Contains(r.Jurisdictions, rq.Jurisdiction) {
			why = append(why, fmt.Sprintf("jurisdiction %q is not one of %s", rq.Jurisdiction, strings.Join(r.Jurisdictions, ", ")))
		}
		if len(r.Workloads) > 0 && !slices.Contains(r.Workloads, rq.Workload.Name) {
			why = append(why, fmt.Sprintf("workload %s is not one of %s", rq.Workload.Name, strings.Join(r.Workloads, ", ")))
		}
		if rq.Hour < r.from || rq.Hour >= r.to {
			why = append(why, fmt.Sprintf("releases are allowed only %02d:00-%02d:00 UTC", r.from, r.to))
		}
		d.Reasons = append(d.Reasons, fmt.Sprintf("rule %s: %s", r.Name, strings.Join(why, "; ")))
	}
	if covering == 0 {
		d.Code = "no-rule"
		cl := ""
		if rq.Class != "" {
			cl = " (class " + rq.Class + ")"
		}
		d.Reasons = append(d.Reasons, fmt.Sprintf("no release rule covers dataset %s%s: add one to %s", rq.Dataset, cl, ReleaseFile))
		return d
	}
	d.Code = "policy"
	return d
}

func revokedDetail(id string, rv Revoked, rq request) string {
	switch id {
	case "revoked-measurement":
		for _, m := range rv.Measurements {
			for k, v := range rq.Measurements {
				if m == v || m == k+"="+v {
					return ": " + k + "=" + short(v)
				}
			}
		}
	case "revoked-site":
		return ": " + rq.Site
	case "revoked-workload":
		return ": " + rq.Workload.Name
	case "revoked-dataset":
		return ": " + rq.Dataset
	}
	return ""
}
