package agreement

import (
	"crypto/ed25519"
	_ "embed"
	"fmt"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

//go:embed baseline.yaml
var baselineYAML []byte

// BaselineFormat is the value of the format field of a baseline.
const BaselineFormat = "embassy-baseline/v1"

// Baseline is the set of default terms every agreement inherits.
type Baseline struct {
	Version string
	Values  map[string]Value
}

// BaselineText returns the shipped baseline document.
func BaselineText() []byte { return slices.Clone(baselineYAML) }

// DefaultBaseline returns the shipped baseline, parsed once; callers must
// not modify it. It panics if the embedded file is invalid, which the tests
// rule out.
func DefaultBaseline() *Baseline { return defaultBaseline() }

var defaultBaseline = sync.OnceValue(func() *Baseline {
	b, err := ParseBaseline(baselineYAML)
	if err != nil {
		panic(err)
	}
	return b
})

// ParseBaseline reads a baseline document: every term that has a
// direction must be given, required agreement terms must not be.
func ParseBaseline(doc []byte) (*Baseline, error) {
	root, err := parseRoot(doc)
	if err != nil {
		return nil, err
	}
	b := &Baseline{Values: map[string]Value{}}
	var errs Errors
	bad := func(n *yaml.Node, term, format string, args ...any) {
		errs = append(errs, &TermError{Line: n.Line, Term: term, Msg: fmt.Sprintf(format, args...)})
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "format":
			if v.Value != BaselineFormat {
				bad(v, "format", "must be %q", BaselineFormat)
			}
		case "version":
			b.Version = v.Value
		default:
			flatten(k.Value, k, v, b.Values, bad)
		}
	}
	for _, t := range Terms {
		_, ok := b.Values[t.Path]
		switch {
		case t.Required && ok:
			errs = append(errs, &TermError{Line: b.Values[t.Path].Line, Term: t.Path, Msg: "is agreement-specific and cannot have a baseline"})
		case !t.Required && t.Path != "term.last-review" && !ok:
			errs = append(errs, &TermError{Term: t.Path, Msg: "missing from the baseline"})
		}
	}
	if b.Version == "" {
		errs = append(errs, &TermError{Term: "version", Msg: "missing"})
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return b, nil
}

// Source says where a resolved term's value comes from.
type Source string

// Sources of resolved values.
const (
	FromBaseline  Source = "baseline"
	FromAgreement Source = "agreement"
	FromOverride  Source = "override" // looser than the baseline, accepted by a signed override
)

// Resolved is a term's effective value.
type Resolved struct {
	Term     Term
	Value    Value
	Baseline Value
	Source   Source
}

// Resolve returns the effective value of every term: the agreement's where
// it states one, otherwise the baseline's. It does not check tightening;
// see CheckBaseline.
func Resolve(a *Agreement, base *Baseline) map[string]Resolved {
	out := map[string]Resolved{}
	for _, t := range Terms {
		r := Resolved{Term: t, Baseline: base.Values[t.Path], Source: FromBaseline}
		r.Value = r.Baseline
		if v, ok := a.Values[t.Path]; ok {
			r.Value, r.Source = v, FromAgreement
			if !t.stricter(v, r.Baseline) {
				r.Source = FromOverride
			}
		}
		if r.Value.Raw != "" || r.Value.List != nil {
			out[t.Path] = r
		}
	}
	return out
}

// Loosening is a term an agreement states more loosely than the baseline.
type Loosening struct {
	Term     string `json:"term"`
	Value    string `json:"value"`
	Baseline string `json:"baseline"`
	Reason   string `json:"reason"` // the override's reason
	Line     int    `json:"line"`
}

// CheckBaseline checks that a only tightens base. A looser term is accepted
// only with an override whose signature by the sending state verifies; the
// accepted loosenings are returned (record them in the transparency log).
// Errors name the line, the term, the baseline value and what to do.
func CheckBaseline(a *Agreement, base *Baseline) ([]Loosening, error) {
	var errs Errors
	var out []Loosening
	overridden := map[string]bool{}
	for _, t := range Terms {
		v, ok := a.Values[t.Path]
		if !ok || t.Dir == Free {
			continue
		}
		bv := base.Values[t.Path]
		o := a.override(t.Path)
		if t.stricter(v, bv) {
			continue
		}
		if o == nil {
			errs = append(errs, &TermError{Line: v.Line, Term: t.Path, Msg: fmt.Sprintf(
				"%s loosens the baseline %s (%s%s): tighten it, or have the sending state sign an override with 'embassy agreement sign --override %s --reason TEXT'",
				v, bv, t.Dir, enumHint(t), t.Path)})
			continue
		}
		if !ed25519.Verify(a.Sending().Key, OverrideBytes(a, *o), o.Sig) {
			errs = append(errs, &TermError{Line: o.Line, Term: "overrides." + t.Path, Msg: "the override's signature does not verify with the sending state's key (altered, or signed for another text)"})
			continue
		}
		overridden[t.Path] = true
		out = append(out, Loosening{Term: t.Path, Value: v.String(), Baseline: bv.String(), Reason: o.Reason, Line: v.Line})
	}
	for _, o := range a.Overrides {
		if !overridden[o.Term] && !slices.ContainsFunc(errs, func(e *TermError) bool { return strings.HasSuffix(e.Term, o.Term) }) {
			errs = append(errs, &TermError{Line: o.Line, Term: "overrides." + o.Term, Msg: "overrides a term that does not loosen the baseline: remove it"})
		}
	}
	return out, errs.err()
}

func enumHint(t Term) string {
	if t.Dir == Order {
		return ": " + strings.Join(t.Enum, " < ")
	}
	return ""
}

func (a *Agreement) override(term string) *Override {
	for i := range a.Overrides {
		if a.Overrides[i].Term == term {
			return &a.Overrides[i]
		}
	}
	return nil
}
