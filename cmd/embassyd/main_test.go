package main

import (
	"slices"
	"testing"
)

func TestRoleOf(t *testing.T) {
	for _, tc := range []struct {
		args []string
		role string
		rest []string
	}{
		{nil, "site", nil},
		{[]string{"--listen", ":7443"}, "site", []string{"--listen", ":7443"}},
		{[]string{"--role", "broker", "--home", "h"}, "broker", []string{"--home", "h"}},
		{[]string{"-role=broker"}, "broker", []string{}},
		{[]string{"--role=site", "--store", "s"}, "site", []string{"--store", "s"}},
		{[]string{"--role", "witness"}, "witness", []string{}},
	} {
		role, rest := roleOf(tc.args)
		if role != tc.role || !slices.Equal(rest, tc.rest) {
			t.Errorf("roleOf(%q) = %q %q, want %q %q", tc.args, role, rest, tc.role, tc.rest)
		}
	}
}
