#!/usr/bin/env bash
# scripts/fuzz.sh: run every fuzz target of the module for a short time.
#
#   scripts/fuzz.sh [pkg...]     default: every package with a func Fuzz
#
# EMBASSY_FUZZTIME (default 6s) is the time per target. The go test -json
# stream goes to stdout (scripts/test.sh feeds it to testsummary); a
# target that finds a crasher fails and leaves it in the package's
# testdata/fuzz/ for go test to replay as a seed.
set -uo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${EMBASSY_FUZZTIME:-6s}

if [[ $# -gt 0 ]]; then
	pkgs=("$@")
else
	mapfile -t pkgs < <(grep -rl --include='*_test.go' '^func Fuzz[A-Z0-9_a-z]*(f \*testing.F)' internal cmd scripts 2>/dev/null |
		xargs -r -n1 dirname | sort -u | sed 's|^|./|')
fi
rc=0
for pkg in "${pkgs[@]}"; do
	mapfile -t targets < <(grep -ho '^func Fuzz[A-Za-z0-9_]*(' "$pkg"/*_test.go | sed 's/^func //; s/($//' | sort -u)
	for t in "${targets[@]}"; do
		echo "fuzz: $pkg $t for $FUZZTIME" >&2
		go test -json -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" "$pkg" || rc=1
	done
done
exit $rc
