package plan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/digital-embassy/embassy/internal/class"
)

// MaxScenarioSize bounds a scenario file.
const MaxScenarioSize = 4 << 20

// Limits on the size of a scenario, so hostile input cannot make the
// optimiser or the simulation run for ever.
const (
	MaxSites   = 2000
	MaxClasses = 200
	MaxPaths   = 2000
	MaxEvents  = 1000
)

// Problem is one thing wrong with a scenario, at a line.
type Problem struct {
	Line int    `json:"line,omitempty"`
	Path string `json:"path,omitempty"`
	Msg  string `json:"message"`
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// ScenarioError lists every problem found in a scenario.
type ScenarioError struct {
	File     string
	Problems []Problem
}

func (e *ScenarioError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	name := e.File
	if name == "" {
		name = "scenario"
	}
	return name + ": " + strings.Join(parts, "\n  ")
}

// Parse decodes and validates a scenario. Unknown fields, wrong types,
// out-of-range numbers, dangling references and contradictory facts are
// all reported, each with its line and field path, in one *ScenarioError.
func Parse(r io.Reader, file string) (*Scenario, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxScenarioSize+1))
	if err != nil {
		return nil, err
	}
	fail := func(ps ...Problem) error { return &ScenarioError{File: file, Problems: ps} }
	if len(data) > MaxScenarioSize {
		return nil, fail(Problem{Msg: fmt.Sprintf("larger than %d bytes: not a scenario file", MaxScenarioSize)})
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fail(yamlProblems(err)...)
	}
	if len(doc.Content) == 0 {
		return nil, fail(Problem{Msg: "empty file: a scenario starts with 'format: " + Format + "'"})
	}
	if n := countNodes(&doc, 0); n > 500000 {
		return nil, fail(Problem{Msg: "too many YAML nodes (aliases?): not a scenario file"})
	}
	lines := map[string]int{}
	nodeLines(doc.Content[0], "", lines)
	var s Scenario
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil && !errors.Is(err, io.EOF) {
		ps := yamlProblems(err)
		for i := range ps {
			ps[i].Path = pathAtLine(lines, ps[i].Line)
		}
		return nil, fail(ps...)
	}
	var ps []Problem
	add := func(path, format string, a ...any) {
		ps = append(ps, Problem{Line: lineOf(lines, path), Path: path, Msg: fmt.Sprintf(format, a...)})
	}
	checkTags(reflect.ValueOf(s), "", lines, add)
	s.check(add)
	if len(ps) > 0 {
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
		return nil, fail(ps...)
	}
	s.defaults()
	return &s, nil
}

var lineRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`) })

func yamlProblems(err error) []Problem {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	ps := make([]Problem, 0, len(msgs))
	for _, m := range msgs {
		p := Problem{Msg: strings.TrimPrefix(m, "yaml: ")}
		if sm := lineRE().FindStringSubmatch(m); sm != nil {
			p.Line, _ = strconv.Atoi(sm[1])
			p.Msg = sm[2]
		}
		p.Msg = strings.ReplaceAll(p.Msg, "in type plan.", "in ")
		ps = append(ps, p)
	}
	return ps
}

func countNodes(n *yaml.Node, depth int) int {
	if depth > 100 {
		return 1 << 30
	}
	c := 1
	for _, k := range n.Content {
		c += countNodes(k, depth+1)
	}
	if n.Alias != nil {
		c += 1000
	}
	return c
}

// nodeLines records the line of every field path (sites[2].energy.pue).
func nodeLines(n *yaml.Node, prefix string, out map[string]int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if prefix != "" {
				p = prefix + "." + k.Value
			}
			out[p] = k.Line
			nodeLines(v, p, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", prefix, i)
			out[p] = c.Line
			nodeLines(c, p, out)
		}
	}
}

// lineOf returns the line of path or of its nearest present parent.
func lineOf(lines map[string]int, path string) int {
	for p := path; p != ""; {
		if l, ok := lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

func pathAtLine(lines map[string]int, line int) string {
	// the shortest path on the line: with flow style ({a: 1, b: 2}) several
	// fields share a line, and only their parent is certain
	best := ""
	for p, l := range lines {
		if l == line && (best == "" || len(p) < len(best) || len(p) == len(best) && p < best) {
			best = p
		}
	}
	return best
}

// tagOpts parses a schema tag: "required,min=0,enum=a|b".
func tagOpts(tag string) map[string]string {
	m := map[string]string{}
	for _, part := range strings.Split(tag, ",") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		m[k] = v
	}
	return m
}

func yamlName(f reflect.StructField) string {
	n, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return n
}

var (
	nameRE   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`) })
	ccRE     = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Z]{2}$`) })
	schemeRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(replica|[1-9][0-9]?\+[0-9][0-9]?)$`) })
)

// checkTags applies the schema tags (the same ones the JSON Schema is
// generated from) to the decoded value.
func checkTags(v reflect.Value, prefix string, lines map[string]int, add func(string, string, ...any)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := yamlName(f)
		if name == "" || name == "-" {
			continue
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		o := tagOpts(f.Tag.Get("schema"))
		fv := v.Field(i)
		_, present := lines[path]
		if _, req := o["required"]; req && !present {
			add(path, "missing (required)")
			continue
		}
		if fv.Kind() == reflect.Pointer {
			if fv.IsNil() {
				continue
			}
			fv = fv.Elem()
		}
		checkValue(fv, path, o, lines, add)
	}
}

func checkValue(fv reflect.Value, path string, o map[string]string, lines map[string]int, add func(string, string, ...any)) {
	switch fv.Kind() {
	case reflect.Struct:
		checkTags(fv, path, lines, add)
	case reflect.Slice:
		if mi, ok := o["minItems"]; ok {
			if n, _ := strconv.Atoi(mi); fv.Len() < n {
				add(path, "needs at least %d item(s)", n)
			}
		}
		for j := 0; j < fv.Len(); j++ {
			ip := fmt.Sprintf("%s[%d]", path, j)
			ev := fv.Index(j)
			if ev.Kind() == reflect.Struct {
				checkTags(ev, ip, lines, add)
			} else if it, ok := o["items"]; ok {
				checkValue(ev, ip, map[string]string{it: ""}, lines, add)
			}
		}
	case reflect.String:
		s := fv.String()
		if s == "" {
			if _, req := o["required"]; req {
				add(path, "is empty")
			}
			return
		}
		if c, ok := o["const"]; ok && s != c {
			add(path, "%q is not %q: this planner reads %s scenarios", s, c, c)
		}
		if e, ok := o["enum"]; ok && !contains(strings.Split(e, "|"), s) {
			add(path, "%q is not one of %s", s, strings.ReplaceAll(e, "|", ", "))
		}
		if p, ok := o["pattern"]; ok && !regexp.MustCompile(p).MatchString(s) {
			add(path, "%q does not match %s", s, p)
		}
		if _, ok := o["cc"]; ok && !ccRE().MatchString(s) {
			add(path, "%q is not an ISO 3166-1 alpha-2 code such as EE or LU", s)
		}
		if _, ok := o["name"]; ok && !nameRE().MatchString(s) {
			add(path, "%q: use 1-63 letters, digits, '-' or '_'", s)
		}
		if _, ok := o["latlon"]; ok {
			if _, _, err := parseLatLon(s); err != nil {
				add(path, "%v", err)
			}
		}
		if _, ok := o["label"]; ok {
			if _, err := class.Parse(s); err != nil {
				add(path, "%v", err)
			}
		}
		if _, ok := o["scheme"]; ok {
			if _, _, err := ParseScheme(s); err != nil {
				add(path, "%v", err)
			}
		}
		if _, ok := o["metric"]; ok {
			if _, err := metricOf(s); err != nil {
				add(path, "%v", err)
			}
		}
	case reflect.Float64, reflect.Int, reflect.Uint64:
		var x float64
		switch fv.Kind() {
		case reflect.Float64:
			x = fv.Float()
		case reflect.Int:
			x = float64(fv.Int())
		default:
			x = float64(fv.Uint())
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			add(path, "is not a finite number")
			return
		}
		if m, ok := o["min"]; ok {
			if lo, _ := strconv.ParseFloat(m, 64); x < lo {
				add(path, "%s is below the minimum %s", fmtNum(x), m)
			}
		}
		if m, ok := o["max"]; ok {
			if hi, _ := strconv.ParseFloat(m, 64); x > hi {
				add(path, "%s is above the maximum %s", fmtNum(x), m)
			}
		}
	}
}

func fmtNum(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func parseLatLon(s string) (lat, lon float64, err error) {
	a, b, ok := strings.Cut(s, ",")
	if !ok {
		return 0, 0, fmt.Errorf("%q: use \"LAT,LON\" in degrees such as \"49.61,6.13\"", s)
	}
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
	lon, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if err1 != nil || err2 != nil || !(lat >= -90 && lat <= 90) || !(lon >= -180 && lon <= 180) {
		return 0, 0, fmt.Errorf("%q: use \"LAT,LON\" in degrees such as \"49.61,6.13\"", s)
	}
	return lat, lon, nil
}

// DistanceKm is the great-circle distance between two "lat,lon" points.
func DistanceKm(a, b string) float64 {
	la1, lo1, err1 := parseLatLon(a)
	la2, lo2, err2 := parseLatLon(b)
	if err1 != nil || err2 != nil {
		return -1
	}
	const r = 6371.0
	rad := math.Pi / 180
	dla, dlo := (la2-la1)*rad, (lo2-lo1)*rad
	h := math.Sin(dla/2)*math.Sin(dla/2) + math.Cos(la1*rad)*math.Cos(la2*rad)*math.Sin(dlo/2)*math.Sin(dlo/2)
	return 2 * r * math.Asin(math.Sqrt(math.Min(1, h)))
}

// ParseScheme parses "replica" (k=1, any number of copies) or "K+M".
func ParseScheme(s string) (k, m int, err error) {
	if s == "replica" {
		return 1, -1, nil
	}
	if !schemeRE().MatchString(s) {
		return 0, 0, fmt.Errorf("scheme %q: use \"replica\" or an erasure code \"K+M\" such as \"4+2\"", s)
	}
	a, b, _ := strings.Cut(s, "+")
	k, _ = strconv.Atoi(a)
	m, _ = strconv.Atoi(b)
	if m < 1 || k+m > 32 {
		return 0, 0, fmt.Errorf("scheme %q: an erasure code needs M >= 1 and K+M <= 32", s)
	}
	return k, m, nil
}
