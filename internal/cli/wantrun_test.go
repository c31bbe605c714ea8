package cli

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// wantRun fails the test unless r, the result of a command named what,
// exited with code and wrote exactly stdout and stderr (lines_test.go).
func wantRun(t *testing.T, what string, r result, code int, stdout, stderr lines) {
	t.Helper()
	if r.code != code || !stdout.match(r.stdout) || !stderr.match(r.stderr) {
		t.Fatalf("%s: exit %d (want %d)\nstdout: %s\n%swant:\n%sstderr: %s\n%swant:\n%s",
			what, r.code, code, stdout.diff(r.stdout), quoted(r.stdout), stdout, stderr.diff(r.stderr), quoted(r.stderr), stderr)
	}
}

// Anchored pieces of rx lines: an RFC 3339 time as JSON writes it, and a
// local time to the minute as tables show it.
const (
	rxTime   = `[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z`
	rxMinute = `[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}`
)

// recovered is what 'embassy recover' prints when it rebuilt the home
// (fingerprint fp, at vault state state) into dir from site with the
// custodian identity files ids, one dataset readable.
func recovered(dir, site, fp string, state int, ids ...string) lines {
	return lines{
		rx(`Recovered home h[0-9a-f]{20} into ` + regexp.QuoteMeta(dir) + ` from site ` + site + ` with 2 of 2 needed custodians \(` +
			regexp.QuoteMeta(strings.Join(ids, ", ")) + `\)\.`),
		fmt.Sprintf("fingerprint: %s (vault state %d)", fp, state),
		"Root key epoch 1; 1 dataset readable. Try 'embassy snapshots' or 'embassy restore DATASET --target DIR'.",
	}
}
