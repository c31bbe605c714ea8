package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// rx is a wanted output line given as a regular expression, anchored
// ^...$: only for the random parts of a line (ids, times, paths, sizes).
type rx string

// lines is a command's whole expected output, one entry a line: a string
// (the exact line) or an rx. No entries: no output at all.
type lines []any

// diff names the first difference between got and want, "" if none.
func (want lines) diff(got string) string {
	if got != "" && !strings.HasSuffix(got, "\n") {
		return fmt.Sprintf("no final newline in %q", got)
	}
	g := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if got == "" {
		g = nil
	}
	for i := range max(len(g), len(want)) {
		switch {
		case i >= len(g):
			return fmt.Sprintf("line %d missing: want %q", i+1, want[i])
		case i >= len(want):
			return fmt.Sprintf("line %d not wanted: %q", i+1, g[i])
		}
		w, ok := want[i].(rx)
		if ok && !regexp.MustCompile("^(?:"+string(w)+")$").MatchString(g[i]) || !ok && g[i] != want[i] {
			return fmt.Sprintf("line %d is %q, want %q", i+1, g[i], want[i])
		}
	}
	return ""
}

// wantLines fails the test unless got (what names it) is exactly want.
func wantLines(t *testing.T, what, got string, want lines) {
	t.Helper()
	if d := want.diff(got); d != "" {
		t.Fatalf("%s: %s; whole output:\n%q", what, d, strings.SplitAfter(got, "\n"))
	}
}

// wantRun fails the test unless r has exactly the exit code, stdout and stderr wanted.
func wantRun(t *testing.T, what string, r runResult, code int, stdout, stderr lines) {
	t.Helper()
	if d, e := stdout.diff(r.stdout), stderr.diff(r.stderr); r.code != code || d != "" || e != "" {
		t.Fatalf("%s: exit %d (want %d)\nstdout: %s\n%q\nstderr: %s\n%q", what, r.code, code, d, strings.SplitAfter(r.stdout, "\n"), e, strings.SplitAfter(r.stderr, "\n"))
	}
}

// masked is s with each old of the pairs oldNew (such as temp dirs)
// replaced by its new, then its times (to the minute or second, fractions
// dropped) and home ids by same-width placeholders: tables keep their columns.
func masked(s string, oldNew ...string) string {
	s = strings.NewReplacer(oldNew...).Replace(s)
	s = regexp.MustCompile(`\d{4}-\d\d-\d\d([ T])\d\d:\d\d:\d\d(\.\d+)?`).ReplaceAllString(s, "YYYY-MM-DD${1}hh:mm:ss")
	s = regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d\b`).ReplaceAllString(s, "YYYY-MM-DD hh:mm")
	return regexp.MustCompile(`\bh[0-9a-f]{20}\b`).ReplaceAllString(s, "hHHHHHHHHHHHHHHHHHHHH")
}

// masked is r with its output masked as by masked.
func (r runResult) masked(oldNew ...string) runResult {
	return runResult{r.code, masked(r.stdout, oldNew...), masked(r.stderr, oldNew...)}
}

// text is the exact lines of a multi-line literal or golden file (a first
// newline, right after the opening quote, and a final one are dropped).
func text(s string) lines {
	var out lines
	for _, l := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(s, "\n"), "\n"), "\n") {
		out = append(out, l)
	}
	return out
}

// threeSitesLogHead is the start of `embassy --json log` in a home of the
// hostile fixture (init, then sites a, b and lu), masked: the entries
// after it follow, each test its own.
const threeSitesLogHead = `
[
  {
    "index": 0,
    "v": 1,
    "kind": "init",
    "time": "YYYY-MM-DDThh:mm:ssZ",
    "actor": "home",
    "home": "hHHHHHHHHHHHHHHHHHHHH",
    "details": {
      "custodians": "3",
      "threshold": "2"
    }
  },
  {
    "index": 1,
    "v": 1,
    "kind": "site.add",
    "time": "YYYY-MM-DDThh:mm:ssZ",
    "actor": "home",
    "home": "hHHHHHHHHHHHHHHHHHHHH",
    "site": "a",
    "details": {
      "agreement": "",
      "copied_objects": "6",
      "jurisdiction": "LU",
      "operator": ""
    }
  },
  {
    "index": 2,
    "v": 1,
    "kind": "site.add",
    "time": "YYYY-MM-DDThh:mm:ssZ",
    "actor": "home",
    "home": "hHHHHHHHHHHHHHHHHHHHH",
    "site": "b",
    "details": {
      "agreement": "",
      "copied_objects": "6",
      "jurisdiction": "CH",
      "operator": ""
    }
  },
  {
    "index": 3,
    "v": 1,
    "kind": "site.add",
    "time": "YYYY-MM-DDThh:mm:ssZ",
    "actor": "home",
    "home": "hHHHHHHHHHHHHHHHHHHHH",
    "site": "lu",
    "details": {
      "agreement": "",
      "copied_objects": "6",
      "jurisdiction": "LU",
      "operator": ""
    }
  },
`
