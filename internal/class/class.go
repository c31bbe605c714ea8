// Package class parses and compares classification labels. A label gives
// confidentiality, integrity and availability levels from 0 (none) to 3
// (high), as in Estonia's ISKE, written C2-I3-A3. Four names are shorthands:
// public (C0-I1-A1), internal (C1-I2-A2), restricted (C2-I3-A3) and
// secret (C3-I3-A3). The package is pure.
package class

import (
	"fmt"
	"strings"
)

// Label is a classification.
type Label struct {
	C, I, A int
}

var names = map[string]Label{
	"public":     {0, 1, 1},
	"internal":   {1, 2, 2},
	"restricted": {2, 3, 3},
	"secret":     {3, 3, 3},
}

// Parse reads "C2-I3-A3" (any order, case-insensitive) or a shorthand name.
func Parse(s string) (Label, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if l, ok := names[t]; ok {
		return l, nil
	}
	parts := strings.Split(t, "-")
	l := Label{-1, -1, -1}
	if len(parts) == 3 {
		for _, p := range parts {
			if len(p) != 2 || p[1] < '0' || p[1] > '3' {
				return Label{}, errBad(s)
			}
			v := int(p[1] - '0')
			switch p[0] {
			case 'c':
				if l.C >= 0 {
					return Label{}, errBad(s)
				}
				l.C = v
			case 'i':
				if l.I >= 0 {
					return Label{}, errBad(s)
				}
				l.I = v
			case 'a':
				if l.A >= 0 {
					return Label{}, errBad(s)
				}
				l.A = v
			default:
				return Label{}, errBad(s)
			}
		}
		if l.C >= 0 && l.I >= 0 && l.A >= 0 {
			return l, nil
		}
	}
	return Label{}, errBad(s)
}

func errBad(s string) error {
	return fmt.Errorf("invalid classification %q: use C<0-3>-I<0-3>-A<0-3> (confidentiality, integrity, availability; e.g. C2-I3-A3) or one of public, internal, restricted, secret", s)
}

// String returns the canonical form, e.g. "C2-I3-A3".
func (l Label) String() string { return fmt.Sprintf("C%d-I%d-A%d", l.C, l.I, l.A) }

// AtLeast reports whether l is at least as strict as o in every dimension.
func (l Label) AtLeast(o Label) bool { return l.C >= o.C && l.I >= o.I && l.A >= o.A }
