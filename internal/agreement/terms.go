package agreement

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/class"
)

// Kind is the type of a term's value.
type Kind int

// The kinds of term values.
const (
	String  Kind = iota + 1 // free text
	Bool                    // true or false
	Int                     // a non-negative integer
	Enum                    // one of Term.Enum
	Date                    // YYYY-MM-DD
	Class                   // a classification label, e.g. C2-I3-A3
	List                    // a list of ISO 3166-1 alpha-2 codes
	Percent                 // a decimal percentage 0-100 with at most three decimals, e.g. 99.95
)

func (k Kind) String() string {
	return [...]string{"", "string", "bool", "int", "enum", "date", "class", "list", "percent"}[k]
}

// Dir says which way a term may move from the baseline.
type Dir int

// Directions.
const (
	Free   Dir = iota // any value; not compared with the baseline
	Lower             // a smaller number is stricter
	Higher            // a larger number is stricter
	True              // true is stricter than false
	Order             // earlier in Term.Enum is stricter
	Below             // a label no higher than the baseline's in every level is stricter
)

func (d Dir) String() string {
	return [...]string{"free", "lower is stricter", "higher is stricter", "true is stricter", "earlier is stricter", "lower label is stricter"}[d]
}

// Term is one negotiable term of an agreement.
type Term struct {
	Path      string
	Dimension string // one of Dimensions
	Kind      Kind
	Dir       Dir
	Enum      []string
	Required  bool // must be present in an agreement (not inherited)
	Doc       string
}

// Dimensions are the five trust dimensions of the WEF/Bain framework.
var Dimensions = []string{"political commitment", "legal basis", "data management", "technical safeguards", "operational rules"}

// Terms is the schema: every term an agreement may state, in document order.
var Terms = []Term{
	{Path: "political.instrument", Dimension: "political commitment", Kind: Enum, Dir: Order, Enum: []string{"treaty", "executive-agreement", "mou"}, Doc: "legal instrument: a ratified treaty, an executive (government-to-government) agreement, or a memorandum of understanding"},
	{Path: "political.ratified", Dimension: "political commitment", Kind: Bool, Dir: True, Doc: "ratified by both parliaments"},
	{Path: "hub", Dimension: "political commitment", Kind: Enum, Dir: Order, Enum: []string{"private", "extended", "virtual"}, Doc: "hub type as in the Saudi draft Global AI Hub Law: private (dedicated premises), extended (a dedicated part of a host operator's facility), virtual (a host cloud)"},
	{Path: "legal.basis", Dimension: "legal basis", Kind: String, Required: true, Doc: "the instrument and articles that give the embassy its status"},
	{Path: "legal.governing-law", Dimension: "legal basis", Kind: Enum, Dir: Order, Enum: []string{"sending", "host"}, Doc: "whose law governs the hosted data"},
	{Path: "legal.immunities.premises", Dimension: "legal basis", Kind: Bool, Dir: True, Doc: "premises inviolable: no entry without the sending state's prior approval"},
	{Path: "legal.immunities.data", Dimension: "legal basis", Kind: Bool, Dir: True, Doc: "data and information systems immune from search, requisition, attachment and execution"},
	{Path: "legal.immunities.staff", Dimension: "legal basis", Kind: Bool, Dir: True, Doc: "personal immunity for the sending state's staff"},
	{Path: "legal.immunities.communications", Dimension: "legal basis", Kind: Bool, Dir: True, Doc: "communications inviolable"},
	{Path: "legal.immunities.technology-stack", Dimension: "legal basis", Kind: Bool, Dir: True, Doc: "hardware, firmware and software of the embassy immune from inspection, seizure and compelled modification"},
	{Path: "legal.dispute-mechanism", Dimension: "legal basis", Kind: Enum, Dir: Order, Enum: []string{"diplomatic", "arbitration", "host-courts"}, Doc: "how disputes under the agreement are settled: diplomatic consultation between the parties, international arbitration, or the host state's courts"},
	{Path: "legal.emergency-access", Dimension: "legal basis", Kind: Enum, Dir: Order, Enum: []string{"none", "physical-only", "full"}, Doc: "host emergency intervention (fire, flood): none, physical access without plaintext, or full"},
	{Path: "data.max-class", Dimension: "data management", Kind: Class, Dir: Below, Doc: "highest classification the host may hold"},
	{Path: "data.personal-data", Dimension: "data management", Kind: Enum, Dir: Order, Enum: []string{"forbidden", "pseudonymised", "allowed"}, Doc: "minimisation: whether datasets tagged as personal data may be hosted"},
	{Path: "residency.jurisdictions", Dimension: "data management", Kind: List, Required: true, Doc: "jurisdictions where data under this agreement may reside; must include the host state"},
	{Path: "residency.recovery-distance-km", Dimension: "data management", Kind: Int, Dir: Higher, Doc: "minimum distance between home and a recovery site"},
	{Path: "residency.critical-min-jurisdictions", Dimension: "data management", Kind: Int, Dir: Higher, Doc: "critical data (availability level 3) must be held in at least this many jurisdictions"},
	{Path: "technical.keys-held-by", Dimension: "technical safeguards", Kind: Enum, Dir: Order, Enum: []string{"sending", "shared", "host"}, Doc: "who holds the keys that decrypt hosted data"},
	{Path: "technical.encryption-in-transit", Dimension: "technical safeguards", Kind: Bool, Dir: True, Doc: "mutually authenticated encryption on every link"},
	{Path: "technical.confidential-computing-from", Dimension: "technical safeguards", Kind: Enum, Dir: Order, Enum: []string{"C0", "C1", "C2", "C3", "never"}, Doc: "confidentiality level from which computing on hosted data requires an attested confidential-computing environment"},
	{Path: "technical.location-secret", Dimension: "technical safeguards", Kind: Bool, Dir: True, Doc: "the exact server location is kept secret"},
	{Path: "operations.disclosure-delay-hours", Dimension: "operational rules", Kind: Int, Dir: Lower, Doc: "every access by host or operator personnel is disclosed to the sending state within this many hours"},
	{Path: "operations.incident-notification-hours", Dimension: "operational rules", Kind: Int, Dir: Lower, Doc: "incidents are notified to the sending state within this many hours"},
	{Path: "operations.support-access", Dimension: "operational rules", Kind: Enum, Dir: Order, Enum: []string{"none", "prior-approval", "notify"}, Doc: "operator support access: never, only with the sending state's prior approval, or with notification"},
	{Path: "operations.restore-drill-every-days", Dimension: "operational rules", Kind: Int, Dir: Lower, Doc: "a restore drill of the datasets hosted under the agreement runs at least this often ('embassy protect' schedules it)"},
	{Path: "operations.audit-rights", Dimension: "operational rules", Kind: Bool, Dir: True, Doc: "the sending state (or its auditor) may audit the site"},
	{Path: "sla.availability-percent", Dimension: "operational rules", Kind: Percent, Dir: Higher, Doc: "each host site is reachable from home at least this share of every calendar month (the monthly SLA report)"},
	{Path: "sla.rpo-minutes", Dimension: "operational rules", Kind: Int, Dir: Lower, Doc: "recovery point objective: no dataset hosted under the agreement goes longer than this without a new snapshot"},
	{Path: "sla.rto-minutes", Dimension: "operational rules", Kind: Int, Dir: Lower, Doc: "recovery time objective: a restore drill from a host site brings the service back within this many minutes"},
	{Path: "compute.crisis-preemption", Dimension: "operational rules", Kind: Bool, Dir: True, Doc: "in a declared crisis, the sending state's crisis-priority compute reservations preempt lower-priority workloads at the host (compute.reservations)"},
	{Path: "exit.export-days", Dimension: "operational rules", Kind: Int, Dir: Lower, Doc: "on exit, all hosted data is exported within this many days"},
	{Path: "exit.deletion-certificate", Dimension: "operational rules", Kind: Bool, Dir: True, Doc: "on exit, the host delivers a verifiable deletion certificate"},
	{Path: "term.effective", Dimension: "political commitment", Kind: Date, Required: true, Doc: "date the agreement takes effect"},
	{Path: "term.expires", Dimension: "political commitment", Kind: Date, Required: true, Doc: "date the agreement ends unless renewed; new writes are refused after it"},
	{Path: "term.renewal", Dimension: "political commitment", Kind: Enum, Enum: []string{"manual", "automatic"}, Doc: "how the term is renewed"},
	{Path: "term.review-every-months", Dimension: "political commitment", Kind: Int, Dir: Lower, Doc: "the hosted-dataset inventory is reviewed at least this often"},
	{Path: "term.last-review", Dimension: "political commitment", Kind: Date, Doc: "date of the last review (default: term.effective)"},
}

// TermFor returns the term at path.
func TermFor(path string) (Term, bool) {
	for _, t := range Terms {
		if t.Path == path {
			return t, true
		}
	}
	return Term{}, false
}

// Value is a term's value, with the document line it came from (0: baseline
// default or not from a document).
type Value struct {
	Raw  string   // canonical text: "24", "true", "C2-I3-A3", "2026-01-31"
	List []string // for List terms
	Line int
}

// Float returns the value as a number (0 if not one).
func (v Value) Float() float64 { f, _ := strconv.ParseFloat(v.Raw, 64); return f }

// Int returns the value as an integer (0 if not one).
func (v Value) Int() int { n, _ := strconv.Atoi(v.Raw); return n }

// Bool returns the value as a boolean.
func (v Value) Bool() bool { return v.Raw == "true" }

// Date returns the value as a date (zero if not one).
func (v Value) Date() time.Time { d, _ := time.Parse(time.DateOnly, v.Raw); return d }

// Label returns the value as a classification label.
func (v Value) Label() class.Label { l, _ := class.Parse(v.Raw); return l }

func (v Value) String() string {
	if v.List != nil {
		return "[" + strings.Join(v.List, ", ") + "]"
	}
	return v.Raw
}

// canon checks a scalar's text against the term and returns its canonical form.
func (t Term) canon(s string) (string, error) {
	switch t.Kind {
	case String:
		if strings.TrimSpace(s) == "" {
			return "", fmt.Errorf("empty text")
		}
		return s, nil
	case Bool:
		switch s {
		case "true", "false":
			return s, nil
		}
		return "", fmt.Errorf("%q is not true or false", s)
	case Int:
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 1_000_000 {
			return "", fmt.Errorf("%q is not a whole number between 0 and 1000000", s)
		}
		return strconv.Itoa(n), nil
	case Enum:
		if slices.Contains(t.Enum, s) {
			return s, nil
		}
		return "", fmt.Errorf("%q is not one of %s", s, strings.Join(t.Enum, ", "))
	case Date:
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return "", fmt.Errorf("%q is not a date YYYY-MM-DD", s)
		}
		return d.Format(time.DateOnly), nil
	case Percent:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 0 || f > 100 || math.Round(f*1000) != f*1000 || strings.ContainsAny(s, "eE") {
			return "", fmt.Errorf("%q is not a percentage between 0 and 100 with at most three decimals, e.g. 99.9", s)
		}
		return strconv.FormatFloat(f, 'f', -1, 64), nil
	case Class:
		l, err := class.Parse(s)
		if err != nil {
			return "", err
		}
		return l.String(), nil
	}
	return "", fmt.Errorf("%q: unexpected value", s)
}

// ValidState checks an ISO 3166-1 alpha-2 code.
func ValidState(cc string) error {
	if len(cc) != 2 || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z' {
		return fmt.Errorf("%q is not an ISO 3166-1 alpha-2 code such as EE or LU", cc)
	}
	return nil
}

// stricter reports whether a is at least as strict as base for term t.
func (t Term) stricter(a, base Value) bool {
	switch t.Dir {
	case Lower:
		return a.Int() <= base.Int()
	case Higher:
		if t.Kind == Percent {
			return a.Float() >= base.Float()
		}
		return a.Int() >= base.Int()
	case True:
		return a.Bool() || !base.Bool()
	case Order:
		return slices.Index(t.Enum, a.Raw) <= slices.Index(t.Enum, base.Raw)
	case Below:
		return base.Label().AtLeast(a.Label())
	}
	return true
}
