package cli

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

// match reports whether got is exactly want, line for line, every line
// ended by a newline.
func (want lines) match(got string) bool { return want.diff(got) == "" }

// diff names the first difference between got and want, "" if none.
func (want lines) diff(got string) string {
	if got != "" && !strings.HasSuffix(got, "\n") {
		return "the output does not end with a newline"
	}
	var g []string
	if got != "" {
		g = strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	}
	for i, w := range want {
		if i >= len(g) {
			return fmt.Sprintf("line %d missing: want %s", i+1, lines{w})
		}
		ok := false
		switch w := w.(type) {
		case string:
			ok = g[i] == w
		case rx:
			ok = regexp.MustCompile("^(?:" + string(w) + ")$").MatchString(g[i])
		default:
			panic(fmt.Sprintf("lines: entry %d is a %T, not a string or rx", i, w))
		}
		if !ok {
			return fmt.Sprintf("line %d differs:\n\t%q\nwant\n%s", i+1, g[i], lines{w})
		}
	}
	if len(g) > len(want) {
		return fmt.Sprintf("line %d not wanted: %q", len(want)+1, g[len(want)])
	}
	return ""
}

// String shows want as the Go literal it was written as.
func (want lines) String() string {
	var b strings.Builder
	for _, w := range want {
		if r, ok := w.(rx); ok {
			fmt.Fprintf(&b, "\trx(%q),\n", string(r))
		} else {
			fmt.Fprintf(&b, "\t%q,\n", w)
		}
	}
	return b.String()
}

// quoted shows got as lines of Go string literals, ready to paste.
func quoted(got string) string {
	if got == "" {
		return "\t(no output)\n"
	}
	var b strings.Builder
	for _, l := range strings.SplitAfter(got, "\n") {
		if l == "" {
			continue
		}
		if !strings.HasSuffix(l, "\n") {
			fmt.Fprintf(&b, "\t%q, // no final newline\n", l)
			continue
		}
		fmt.Fprintf(&b, "\t%q,\n", strings.TrimSuffix(l, "\n"))
	}
	return b.String()
}

// masked is s with each old replaced by its new (pairs of literal
// strings), for the known random parts of an output such as temp paths.
func masked(s string, oldNew ...string) string {
	return strings.NewReplacer(oldNew...).Replace(s)
}

// maskedRx is s with each match of a regular expression replaced by its
// literal replacement (pairs), for random parts such as home ids.
func maskedRx(s string, reRepl ...string) string {
	for i := 0; i+1 < len(reRepl); i += 2 {
		s = regexp.MustCompile(reRepl[i]).ReplaceAllLiteralString(s, reRepl[i+1])
	}
	return s
}

// homeIDs masks every home id ("h" and 20 hex digits) as HOME.
func homeIDs(s string) string { return maskedRx(s, `\bh[0-9a-f]{20}\b`, "HOME") }

// text is the exact lines of a multi-line literal (its first newline, right
// after the opening quote, is dropped).
func text(s string) lines {
	var out lines
	for _, l := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(s, "\n"), "\n"), "\n") {
		out = append(out, l)
	}
	return out
}

// wantLines fails the test unless got (what names it) is exactly want.
func wantLines(t *testing.T, what, got string, want lines) {
	t.Helper()
	if !want.match(got) {
		t.Fatalf("%s: %s\ngot:\n%swant:\n%s", what, want.diff(got), quoted(got), want)
	}
}

// expectRun runs args in home and fails the test unless the exit code,
// stdout and stderr are exactly code, stdout and stderr.
func expectRun(t *testing.T, home string, code int, args []string, stdout, stderr lines) result {
	t.Helper()
	r := run(t, home, "", args...)
	if r.code != code || !stdout.match(r.stdout) || !stderr.match(r.stderr) {
		t.Fatalf("embassy %s: exit %d (want %d)\nstdout: %s\n%swant:\n%sstderr: %s\n%swant:\n%s",
			strings.Join(args, " "), r.code, code, stdout.diff(r.stdout), quoted(r.stdout), stdout, stderr.diff(r.stderr), quoted(r.stderr), stderr)
	}
	return r
}

// TestLines: the matcher takes exact lines, anchored expressions, and
// no output only for no lines.
func TestLines(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		got  string
		want lines
		ok   bool
	}{
		{"", nil, true},
		{"\n", nil, false},
		{"\n", lines{""}, true},
		{"a\nb\n", lines{"a", "b"}, true},
		{"a\nb", lines{"a", "b"}, false},
		{"a\nb\nc\n", lines{"a", "b"}, false},
		{"a\n", lines{"a", "b"}, false},
		{"xa\n", lines{"a"}, false},
		{"id 0f3a\n", lines{rx(`id [0-9a-f]+`)}, true},
		{"id 0f3a more\n", lines{rx(`id [0-9a-f]+`)}, false},
		{"a|b\n", lines{rx(`a|b`)}, false},
	} {
		if got := tc.want.match(tc.got); got != tc.ok {
			t.Errorf("lines%v.match(%q) = %v, want %v", []any(tc.want), tc.got, got, tc.ok)
		}
	}
}
