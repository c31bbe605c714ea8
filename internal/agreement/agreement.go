// Package agreement parses, signs and checks digital-embassy agreements: the
// machine-readable terms a sending state and a host state agree on, along
// the five trust dimensions of the WEF/Bain framework. An agreement inherits
// the product's baseline and may only tighten it; loosening a term needs an
// override signed by the sending state. The format is specified in
// docs/AGREEMENT.md. The package is pure: no I/O, no context.
package agreement

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// Format is the value of the format field of a version 1 agreement.
const Format = "embassy-agreement/v1"

// Roles of the two parties.
const (
	Sending = "sending"
	Host    = "host"
)

// Party is one signatory state.
type Party struct {
	Role  string
	State string // ISO 3166-1 alpha-2
	Name  string
	Key   ed25519.PublicKey
	Line  int
}

// Override is the sending state's signed acceptance of a term looser than
// the baseline.
type Override struct {
	Term   string
	Reason string
	Sig    []byte
	Line   int
}

// Agreement is a parsed agreement document.
type Agreement struct {
	ID         string
	Title      string
	Parties    map[string]*Party // by role
	Values     map[string]Value  // terms the document states, by path
	Signatures map[string][]byte // by role
	Overrides  []Override
	// Reservations are the compute reservations at host sites
	// (compute.reservations), in document order.
	Reservations []Reservation
	lines        map[string]int // lines of structural fields
}

// Line returns the document line of a term or field path, or 0.
func (a *Agreement) Line(path string) int {
	if v, ok := a.Values[path]; ok {
		return v.Line
	}
	return a.lines[path]
}

// Sending returns the sending state's party.
func (a *Agreement) Sending() *Party { return a.Parties[Sending] }

// Host returns the host state's party.
func (a *Agreement) Host() *Party { return a.Parties[Host] }

// TermError is a problem with one term, at one line of the document.
type TermError struct {
	Line int
	Term string
	Msg  string
}

func (e *TermError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Term, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Term, e.Msg)
}

// Errors is a list of term errors, in document order.
type Errors []*TermError

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].Line < es[j].Line })
	return es
}

var idRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`) })

// ValidID checks an agreement id.
func ValidID(id string) error {
	if !idRE().MatchString(id) {
		return fmt.Errorf("%q is not a valid id: use 1-64 lower-case letters, digits, '.', '_' or '-'", id)
	}
	return nil
}

// Parse reads an agreement document. It checks the structure, every term's
// type and the document's internal consistency, and reports every problem
// with its line; it does not check signatures (Verify) or the baseline
// (CheckBaseline).
func Parse(doc []byte) (*Agreement, error) {
	root, err := parseRoot(doc)
	if err != nil {
		return nil, err
	}
	a := &Agreement{Parties: map[string]*Party{}, Values: map[string]Value{}, Signatures: map[string][]byte{}, lines: map[string]int{}}
	var errs Errors
	bad := func(n *yaml.Node, term, format string, args ...any) {
		errs = append(errs, &TermError{Line: n.Line, Term: term, Msg: fmt.Sprintf(format, args...)})
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if seen[k.Value] {
			bad(k, k.Value, "stated twice")
			continue
		}
		seen[k.Value] = true
		a.lines[k.Value] = k.Line
		switch k.Value {
		case "format":
			if v.Kind != yaml.ScalarNode || v.Value != Format {
				bad(v, "format", "must be %q", Format)
			}
		case "id":
			if v.Kind != yaml.ScalarNode {
				bad(v, "id", "must be text")
			} else if err := ValidID(v.Value); err != nil {
				bad(v, "id", "%v", err)
			}
			a.ID = v.Value
		case "title":
			a.Title = v.Value
		case "parties":
			parseParties(a, v, bad)
		case "signatures":
			parseSignatures(a, v, bad)
		case "overrides":
			parseOverrides(a, v, bad)
		case "compute":
			parseCompute(a, k, v, bad)
		default:
			flatten(k.Value, k, v, a.Values, bad)
		}
	}
	for _, f := range []string{"format", "id", "parties"} {
		if !seen[f] {
			errs = append(errs, &TermError{Term: f, Msg: "missing"})
		}
	}
	for _, t := range Terms {
		if _, ok := a.Values[t.Path]; t.Required && !ok {
			errs = append(errs, &TermError{Term: t.Path, Msg: "missing: " + t.Doc})
		}
	}
	if len(errs) == 0 {
		errs = append(errs, a.contradictions()...)
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return a, nil
}

func parseRoot(doc []byte) (*yaml.Node, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(doc, &n); err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	if n.Kind != yaml.DocumentNode || len(n.Content) != 1 || n.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("not an agreement: the document must be a YAML mapping")
	}
	return n.Content[0], nil
}

type badFunc func(n *yaml.Node, term, format string, args ...any)

// flatten turns nested mappings into dotted term paths.
func flatten(path string, key, v *yaml.Node, out map[string]Value, bad badFunc) {
	t, isTerm := TermFor(path)
	if !isTerm {
		if v.Kind != yaml.MappingNode || !hasPrefix(path) {
			bad(key, path, "unknown term (see docs/AGREEMENT.md for the terms)")
			return
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(v.Content); i += 2 {
			k := v.Content[i]
			if seen[k.Value] {
				bad(k, path+"."+k.Value, "stated twice")
				continue
			}
			seen[k.Value] = true
			flatten(path+"."+k.Value, k, v.Content[i+1], out, bad)
		}
		return
	}
	if t.Kind == List {
		if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
			bad(v, path, "must be a non-empty list of state codes, e.g. [LU]")
			return
		}
		var l []string
		for _, e := range v.Content {
			if err := ValidState(e.Value); e.Kind != yaml.ScalarNode || err != nil {
				bad(e, path, "%q is not an ISO 3166-1 alpha-2 code such as EE or LU", e.Value)
				return
			}
			if slices.Contains(l, e.Value) {
				bad(e, path, "%s is listed twice", e.Value)
				return
			}
			l = append(l, e.Value)
		}
		sort.Strings(l)
		out[path] = Value{Raw: strings.Join(l, ","), List: l, Line: v.Line}
		return
	}
	if v.Kind != yaml.ScalarNode {
		bad(v, path, "must be a single %s value", t.Kind)
		return
	}
	c, err := t.canon(v.Value)
	if err != nil {
		bad(v, path, "%v", err)
		return
	}
	out[path] = Value{Raw: c, Line: v.Line}
}

func hasPrefix(p string) bool {
	for _, t := range Terms {
		if strings.HasPrefix(t.Path, p+".") {
			return true
		}
	}
	return false
}

func parseParties(a *Agreement, v *yaml.Node, bad badFunc) {
	if v.Kind != yaml.MappingNode {
		bad(v, "parties", "must map sending and host to their details")
		return
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		role, pn := v.Content[i].Value, v.Content[i+1]
		path := "parties." + role
		if role != Sending && role != Host {
			bad(v.Content[i], path, "unknown role: use sending and host")
			continue
		}
		if a.Parties[role] != nil {
			bad(v.Content[i], path, "stated twice")
			continue
		}
		if pn.Kind != yaml.MappingNode {
			bad(pn, path, "must give state, name and key")
			continue
		}
		p := &Party{Role: role, Line: v.Content[i].Line}
		for j := 0; j+1 < len(pn.Content); j += 2 {
			k, f := pn.Content[j], pn.Content[j+1]
			switch k.Value {
			case "state":
				if err := ValidState(f.Value); err != nil {
					bad(f, path+".state", "%v", err)
				}
				p.State = f.Value
			case "name":
				p.Name = f.Value
			case "key":
				key, err := ParsePublicKey(f.Value)
				if err != nil {
					bad(f, path+".key", "%v", err)
				}
				p.Key = key
			default:
				bad(k, path+"."+k.Value, "unknown field: use state, name and key")
			}
		}
		for _, f := range []struct {
			name string
			ok   bool
		}{{"state", p.State != ""}, {"name", p.Name != ""}, {"key", p.Key != nil}} {
			if !f.ok {
				bad(pn, path+"."+f.name, "missing")
			}
		}
		a.Parties[role] = p
	}
	for _, r := range []string{Sending, Host} {
		if a.Parties[r] == nil {
			bad(v, "parties."+r, "missing")
		}
	}
}

func parseSignatures(a *Agreement, v *yaml.Node, bad badFunc) {
	if v.Kind != yaml.MappingNode {
		bad(v, "signatures", "must map sending and host to base64 signatures")
		return
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		role, s := v.Content[i].Value, v.Content[i+1]
		if role != Sending && role != Host {
			bad(v.Content[i], "signatures."+role, "unknown role: use sending and host")
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(s.Value)
		if err != nil || len(sig) != ed25519.SignatureSize {
			bad(s, "signatures."+role, "not a base64 Ed25519 signature")
			continue
		}
		a.Signatures[role] = sig
		a.lines["signatures."+role] = s.Line
	}
}

func parseOverrides(a *Agreement, v *yaml.Node, bad badFunc) {
	if v.Kind != yaml.SequenceNode {
		bad(v, "overrides", "must be a list")
		return
	}
	for _, on := range v.Content {
		if on.Kind != yaml.MappingNode {
			bad(on, "overrides", "each override gives term, reason and signature")
			continue
		}
		o := Override{Line: on.Line}
		for j := 0; j+1 < len(on.Content); j += 2 {
			k, f := on.Content[j], on.Content[j+1]
			switch k.Value {
			case "term":
				o.Term = f.Value
			case "reason":
				o.Reason = f.Value
			case "signature":
				sig, err := base64.StdEncoding.DecodeString(f.Value)
				if err != nil || len(sig) != ed25519.SignatureSize {
					bad(f, "overrides.signature", "not a base64 Ed25519 signature")
				}
				o.Sig = sig
			default:
				bad(k, "overrides."+k.Value, "unknown field: use term, reason and signature")
			}
		}
		if t, ok := TermFor(o.Term); !ok || t.Dir == Free {
			bad(on, "overrides.term", "%q is not a term with a baseline", o.Term)
		}
		if strings.TrimSpace(o.Reason) == "" {
			bad(on, "overrides.reason", "missing: say why the sending state accepts the looser term")
		}
		for _, p := range a.Overrides {
			if p.Term == o.Term {
				bad(on, "overrides.term", "%s is overridden twice", o.Term)
			}
		}
		a.Overrides = append(a.Overrides, o)
	}
}

// contradictions finds terms that cannot hold together.
func (a *Agreement) contradictions() Errors {
	var errs Errors
	add := func(term, format string, args ...any) {
		errs = append(errs, &TermError{Line: a.Line(term), Term: term, Msg: fmt.Sprintf(format, args...)})
	}
	s, h := a.Sending(), a.Host()
	if s.State == h.State {
		add("parties.host", "the host state is the sending state (%s)", s.State)
	}
	if s.Key.Equal(h.Key) {
		add("parties.host", "the host uses the sending state's key: each party signs with its own")
	}
	if r, ok := a.Values["residency.jurisdictions"]; ok && !slices.Contains(r.List, h.State) {
		add("residency.jurisdictions", "%v does not include the host state %s", r, h.State)
	}
	eff, exp := a.Values["term.effective"].Date(), a.Values["term.expires"].Date()
	if !exp.After(eff) {
		add("term.expires", "%s is not after term.effective %s", a.Values["term.expires"].Raw, a.Values["term.effective"].Raw)
	}
	if lr, ok := a.Values["term.last-review"]; ok && lr.Date().Before(eff) {
		add("term.last-review", "%s is before term.effective %s", lr.Raw, a.Values["term.effective"].Raw)
	}
	if a.Values["hub"].Raw == "private" {
		if p, ok := a.Values["legal.immunities.premises"]; ok && !p.Bool() {
			add("legal.immunities.premises", "a private hub needs inviolable premises")
		}
	}
	if a.Values["technical.keys-held-by"].Raw == "host" && a.Values["legal.immunities.data"].Raw == "true" {
		add("technical.keys-held-by", "data immunity means nothing if the host holds the keys")
	}
	return errs
}

// Status is where an agreement stands at a given time.
type Status struct {
	Active        bool      `json:"active"`
	Expired       bool      `json:"expired"`
	NotYet        bool      `json:"not_yet_effective"`
	Expires       time.Time `json:"expires"`
	ReviewDue     time.Time `json:"review_due"`
	ReviewOverdue bool      `json:"review_overdue"`
}

// StatusAt evaluates the agreement's term at now, with the baseline's
// review cadence when the agreement states none.
func (a *Agreement) StatusAt(now time.Time, base *Baseline) Status {
	eff := a.Values["term.effective"].Date()
	exp := a.Values["term.expires"].Date()
	st := Status{Expires: exp}
	st.NotYet = now.Before(eff)
	st.Expired = !now.Before(exp)
	st.Active = !st.NotYet && !st.Expired
	last := eff
	if lr, ok := a.Values["term.last-review"]; ok {
		last = lr.Date()
	}
	rv, ok := a.Values["term.review-every-months"]
	if !ok {
		rv = base.Values["term.review-every-months"]
	}
	months := rv.Int()
	if months > 0 {
		st.ReviewDue = last.AddDate(0, months, 0)
		st.ReviewOverdue = !now.Before(st.ReviewDue)
	}
	return st
}
