package main

import "testing"

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
