// Command testsummary reads the `go test -json` streams of the CI tiers and
// prints what ran: passed, failed and skipped tests per tier and package,
// every skipped test with its reason, and a per-package coverage table from
// a -coverprofile. It exits 1 when a test or package failed, and, with
// -strict (CI), when a test skipped because a service it needs was missing:
// a green CI then means every requested tier really ran.
//
//	go test -json ./... | testsummary -follow unit.json   (log while it runs)
//	testsummary [-strict tier,...] [-cover profile] tier=file.json ...
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	ImportPath string // build-output, build-fail
	Test       string
	Output     string
	Elapsed    float64
}

// counts of one package (or tier).
type counts struct {
	pass, fail, skip int
	pkgFail          bool
	noTests          bool
	elapsed          float64
}

type skip struct {
	tier, pkg, test, reason string
}

// result of reading one tier's stream.
type result struct {
	tier   string
	pkgs   map[string]*counts
	order  []string
	skips  []skip
	failed []string // "pkg Test" or "pkg (build/package)"
}

// serviceSkip matches the skip reasons of tests that need a service or
// privilege CI promises (S3 servers, MariaDB, PostgreSQL, namespaces).
// A skip for a missing feature of a server that is running (SeaweedFS
// without object lock) is a fact about that server, not a missing service.
var serviceSkip = regexp.MustCompile(`EMBASSY_TEST_|not installed|not set|need(s)? root|iproute2`)

func main() {
	strict := flag.String("strict", "", "comma-separated tiers in which a test skipped for a missing service fails the run (CI)")
	cover := flag.String("cover", "", "coverage profile (go test -coverprofile) to summarise per package")
	tee := flag.String("follow", "", "copy the go test -json stream on stdin to this file, printing a short log")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: testsummary [-strict tier,...] [-cover profile] tier=file.json ...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *tee != "" {
		if err := follow(os.Stdin, *tee, os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "error: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	var results []*result
	for _, arg := range flag.Args() {
		tier, file, ok := strings.Cut(arg, "=")
		if !ok {
			fmt.Fprintf(os.Stderr, "error: argument %q is not tier=file.json\nhint: for example unit=/tmp/unit.json\n", arg)
			os.Exit(2)
		}
		f, err := os.Open(file)
		if err != nil {
			fmt.Fprintf(os.Stderr, "error: tier %s: %v\nhint: did the tier run? its go test -json output is missing\n", tier, err)
			os.Exit(1)
		}
		r, err := read(tier, f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "error: tier %s: %v\n", tier, err)
			os.Exit(1)
		}
		results = append(results, r)
	}
	strictTiers := map[string]bool{}
	for _, t := range strings.Split(*strict, ",") {
		if t != "" {
			strictTiers[t] = true
		}
	}
	bad := report(os.Stdout, results, strictTiers)
	if *cover != "" {
		f, err := os.Open(*cover)
		if err != nil {
			fmt.Fprintf(os.Stderr, "error: coverage: %v\n", err)
			os.Exit(1)
		}
		cov, err := parseCover(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "error: coverage %s: %v\n", *cover, err)
			os.Exit(1)
		}
		printCover(os.Stdout, cov)
	}
	if bad != "" {
		fmt.Fprintf(os.Stdout, "\nFAIL: %s\n", bad)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stdout, "\nOK: every requested tier ran and passed")
}

// read parses one tier's go test -json stream. Lines that are not JSON
// (build errors printed by go test itself) count as a failure of the tier.
func read(tier string, r io.Reader) (*result, error) {
	res := &result{tier: tier, pkgs: map[string]*counts{}}
	out := map[string][]string{} // pkg/test -> output lines
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	pkg := func(name string) *counts {
		c := res.pkgs[name]
		if c == nil {
			c = &counts{}
			res.pkgs[name] = c
			res.order = append(res.order, name)
		}
		return c
	}
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		if line[0] != '{' {
			return nil, fmt.Errorf("not a go test -json stream: line %.80q", line)
		}
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("bad go test -json line %.80q: %w", line, err)
		}
		if e.Action == "build-fail" {
			res.failed = append(res.failed, e.ImportPath+" (build failed)")
			continue
		}
		if e.Package == "" {
			continue
		}
		c := pkg(e.Package)
		key := e.Package + " " + e.Test
		switch e.Action {
		case "output":
			out[key] = append(out[key], e.Output)
			if e.Test == "" && strings.Contains(e.Output, "[no test files]") {
				c.noTests = true
			}
		case "pass":
			if e.Test != "" {
				c.pass++
			} else {
				c.elapsed = e.Elapsed
			}
		case "fail":
			if e.Test != "" {
				c.fail++
				res.failed = append(res.failed, key)
			} else {
				c.pkgFail = true
				c.elapsed = e.Elapsed
				if c.fail == 0 {
					res.failed = append(res.failed, e.Package+" (package: build error, panic or timeout)")
				}
			}
		case "skip":
			if e.Test != "" {
				c.skip++
				res.skips = append(res.skips, skip{tier, e.Package, e.Test, skipReason(out[key])})
			} else if !c.noTests && c.pass+c.fail+c.skip == 0 {
				c.noTests = true
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

// skipReason picks the message a test gave t.Skip: the last output line
// before "--- SKIP" that is not test2json framing.
func skipReason(lines []string) string {
	reason := ""
	for _, l := range lines {
		s := strings.TrimSpace(l)
		switch {
		case s == "", strings.HasPrefix(s, "=== "), strings.HasPrefix(s, "--- "):
			continue
		}
		// "file_test.go:34: message" -> "message"
		if i := strings.Index(s, ".go:"); i > 0 {
			if j := strings.Index(s[i+4:], ": "); j >= 0 {
				s = s[i+4+j+2:]
			}
		}
		reason = s
	}
	if reason == "" {
		return "(no reason given)"
	}
	return reason
}

// report prints the tables and returns why the run failed ("" if it did not).
func report(w io.Writer, results []*result, strict map[string]bool) string {
	var why []string
	fmt.Fprintf(w, "\n== test summary\n%-10s %7s %7s %7s %9s\n", "tier", "passed", "failed", "skipped", "packages")
	total := counts{}
	for _, r := range results {
		t := counts{}
		n := 0
		for _, c := range r.pkgs {
			t.pass += c.pass
			t.fail += c.fail
			t.skip += c.skip
			if !c.noTests {
				n++
			}
		}
		total.pass += t.pass
		total.fail += t.fail
		total.skip += t.skip
		fmt.Fprintf(w, "%-10s %7d %7d %7d %9d\n", r.tier, t.pass, t.fail, t.skip, n)
		if n == 0 {
			why = append(why, fmt.Sprintf("tier %s ran no tests", r.tier))
		}
	}
	fmt.Fprintf(w, "%-10s %7d %7d %7d\n", "total", total.pass, total.fail, total.skip)

	for _, r := range results {
		fmt.Fprintf(w, "\n-- tier %s, per package (tests counted with subtests)\n", r.tier)
		names := append([]string(nil), r.order...)
		sort.Strings(names)
		for _, name := range names {
			c := r.pkgs[name]
			if c.noTests && c.pass+c.fail+c.skip == 0 {
				continue
			}
			status := "ok"
			switch {
			case c.pkgFail || c.fail > 0:
				status = "FAIL"
			case c.pass == 0 && c.skip > 0:
				status = "SKIPPED" // every test skipped: plain go test would say ok
			}
			fmt.Fprintf(w, "%-8s %-55s %5d passed %3d failed %3d skipped %7.1fs\n", status, name, c.pass, c.fail, c.skip, c.elapsed)
		}
		for _, f := range r.failed {
			why = append(why, fmt.Sprintf("tier %s: %s failed", r.tier, f))
		}
	}

	var all []skip
	for _, r := range results {
		all = append(all, r.skips...)
	}
	if len(all) > 0 {
		fmt.Fprintf(w, "\n-- skipped tests (%d)\n", len(all))
		for _, s := range all {
			mark := "  "
			if serviceSkip.MatchString(s.reason) {
				mark = "! "
				if strict[s.tier] {
					why = append(why, fmt.Sprintf("tier %s: %s %s skipped for a missing service: %s", s.tier, s.pkg, s.test, s.reason))
				}
			}
			fmt.Fprintf(w, "%s%-6s %s %s: %s\n", mark, s.tier, short(s.pkg), s.test, s.reason)
		}
		fmt.Fprintln(w, "(! = needs a service or privilege; in a -strict tier (CI) such a skip fails the run)")
	}
	if len(why) > 5 {
		n := len(why)
		why = append(why[:5], fmt.Sprintf("and %d more", n-5))
	}
	return strings.Join(why, "; ")
}

func short(pkg string) string {
	if i := strings.Index(pkg, "/embassy/"); i >= 0 {
		return pkg[i+len("/embassy/"):]
	}
	return pkg
}

// block is one coverage block of a profile: file:start,end.
type coverage struct {
	stmts, covered map[string]int // package -> statements
}

// parseCover reads a -coverprofile. With -coverpkg every test binary
// reports every package's blocks, so one block appears many times: it is
// covered if any binary covered it.
func parseCover(r io.Reader) (*coverage, error) {
	type blk struct {
		stmts int
		hit   bool
	}
	blocks := map[string]*blk{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	first := true
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "mode:") {
			first = false
			continue
		}
		if first {
			return nil, errors.New("not a coverage profile: no mode line")
		}
		if line == "" {
			continue
		}
		// name.go:l.c,l.c stmts count
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("bad profile line %q", line)
		}
		var n, cnt int
		if _, err := fmt.Sscan(f[1], &n); err != nil {
			return nil, fmt.Errorf("bad profile line %q", line)
		}
		if _, err := fmt.Sscan(f[2], &cnt); err != nil {
			return nil, fmt.Errorf("bad profile line %q", line)
		}
		b := blocks[f[0]]
		if b == nil {
			b = &blk{stmts: n}
			blocks[f[0]] = b
		}
		b.hit = b.hit || cnt > 0
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	c := &coverage{stmts: map[string]int{}, covered: map[string]int{}}
	for k, b := range blocks {
		file, _, _ := strings.Cut(k, ":")
		pkg := file
		if i := strings.LastIndex(file, "/"); i >= 0 {
			pkg = file[:i]
		}
		c.stmts[pkg] += b.stmts
		if b.hit {
			c.covered[pkg] += b.stmts
		}
	}
	return c, nil
}

// domainTarget is the coverage every domain package should reach (issue
// 12.12); below it a package is flagged in the table, not failed.
const domainTarget = 80.0

// domainPackages are the packages that hold the vault's logic: formats,
// cryptography, decisions and the services built on them (not the CLI,
// the dashboard, test helpers or generators).
var domainPackages = map[string]bool{
	"internal/agreement": true, "internal/archiver": true, "internal/assess": true, "internal/attest": true,
	"internal/broker": true, "internal/chunker": true, "internal/class": true, "internal/codec": true,
	"internal/daemon": true, "internal/drill": true, "internal/evidence": true, "internal/exit": true,
	"internal/failover": true, "internal/keys": true, "internal/operate": true, "internal/pki": true,
	"internal/plan": true, "internal/policy": true, "internal/proof": true, "internal/protect": true,
	"internal/registry": true, "internal/repo": true, "internal/restorer": true, "internal/retention": true,
	"internal/seal": true, "internal/server": true, "internal/tlog": true, "internal/vault": true,
	"internal/watch": true, "internal/witness": true,
}

// printCover prints the per-package table, lowest coverage first, with
// the domain packages under domainTarget flagged "<" and listed at the end.
func printCover(w io.Writer, c *coverage) {
	var names []string
	for p := range c.stmts {
		names = append(names, p)
	}
	sort.Slice(names, func(i, j int) bool {
		pi, pj := pct(c.covered[names[i]], c.stmts[names[i]]), pct(c.covered[names[j]], c.stmts[names[j]])
		if pi != pj {
			return pi < pj
		}
		return names[i] < names[j]
	})
	fmt.Fprintf(w, "\n-- coverage per package, lowest first (statements covered by any test of the unit tier; reported, not gated;\n"+
		"   < marks a domain package below %.0f%%)\n", domainTarget)
	var s, cv int
	var low []string
	for _, p := range names {
		s += c.stmts[p]
		cv += c.covered[p]
		v := pct(c.covered[p], c.stmts[p])
		mark := " "
		if domainPackages[short(p)] && v < domainTarget {
			mark = "<"
			low = append(low, fmt.Sprintf("%s %.1f%%", short(p), v))
		}
		fmt.Fprintf(w, "%s %6.1f%%  %6d stmts  %s\n", mark, v, c.stmts[p], short(p))
	}
	fmt.Fprintf(w, "  %6.1f%%  %6d stmts  total\n", pct(cv, s), s)
	if len(low) > 0 {
		fmt.Fprintf(w, "%d domain packages below %.0f%%: %s\n", len(low), domainTarget, strings.Join(low, ", "))
	} else {
		fmt.Fprintf(w, "every domain package reaches %.0f%%\n", domainTarget)
	}
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

// follow copies a go test -json stream from r to file and prints a short
// log to w: each package's result line, and the whole output of every
// failed test (or package) when it fails.
func follow(r io.Reader, file string, w io.Writer) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := map[string][]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			// go's own messages (downloads, fuzz.sh progress): log only;
			// a failure among them also fails go test's exit status.
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		if _, err := f.Write(append(line, '\n')); err != nil {
			return err
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "build-output":
			fmt.Fprint(w, e.Output)
		case "output":
			if e.Test == "" {
				// package-level lines: "ok pkg 1.2s", "FAIL", panics
				s := strings.TrimSpace(e.Output)
				if s != "PASS" && !strings.HasPrefix(s, "=== ") && !strings.HasPrefix(s, "coverage:") && s != "" {
					fmt.Fprint(w, e.Output)
				}
				continue
			}
			buf[key] = append(buf[key], e.Output)
		case "fail":
			if e.Test != "" {
				fmt.Fprintf(w, "--- FAIL: %s %s\n%s", short(e.Package), e.Test, strings.Join(buf[key], ""))
			}
			delete(buf, key)
		case "pass", "skip":
			delete(buf, key)
		}
	}
	return sc.Err()
}
