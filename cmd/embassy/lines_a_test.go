package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// dumpRun is temporary: it records r for writing the exact expectations.
func dumpRun(t *testing.T, what string, r runResult) {
	t.Helper()
	fh, err := os.OpenFile("/tmp/lines-a-dump/"+strings.ReplaceAll(t.Name(), "/", "_")+".txt", os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	fmt.Fprintf(fh, "=== %s exit %d\n--- stdout\n", what, r.code)
	for _, l := range strings.SplitAfter(r.stdout, "\n") {
		if l != "" {
			fmt.Fprintf(fh, "%q,\n", strings.TrimSuffix(l, "\n"))
		}
	}
	fmt.Fprintf(fh, "--- stderr\n")
	for _, l := range strings.SplitAfter(r.stderr, "\n") {
		if l != "" {
			fmt.Fprintf(fh, "%q,\n", strings.TrimSuffix(l, "\n"))
		}
	}
}

// wantErr fails the test unless err is an error whose message, masked as
// by masked with oldNew, is exactly want.
func wantErr(t *testing.T, what string, err error, want string, oldNew ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %q", what, want)
	}
	if got := masked(err.Error(), oldNew...); got != want {
		t.Fatalf("%s: error\n%q, want\n%q", what, got, want)
	}
}
