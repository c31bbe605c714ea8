#!/usr/bin/env bash
# scripts/fuzz.sh: run every fuzz target of the module for a short time.
#
#   scripts/fuzz.sh [pkg...]     default: every package with a func Fuzz
#
# EMBASSY_FUZZTIME (default 5s) is the time per target. The go test -json
# stream goes to stdout (scripts/test.sh feeds it to testsummary); a
# target that finds a crasher fails and leaves it in the package's
# testdata/fuzz/ for go test to replay as a seed.
set -uo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${EMBASSY_FUZZTIME:-5s}

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
		corpus=$pkg/testdata/fuzz/$t
		before=$(ls "$corpus" 2>/dev/null | wc -l)
		out=$(mktemp)
		if ! go test -json -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" "$pkg" >"$out"; then
			# The fuzz engine can end a run with "context deadline exceeded"
			# when one slow input outlives -fuzztime, without a crasher. That
			# run is retried once; a crasher (a new file in the corpus) or a
			# second failure fails the tier.
			after=$(ls "$corpus" 2>/dev/null | wc -l)
			if [[ $after == "$before" ]] && grep -q 'context deadline exceeded' "$out"; then
				echo "fuzz: $pkg $t: engine deadline without a crasher; running it again" >&2
				go test -json -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" "$pkg" >"$out" || rc=1
			else
				rc=1
			fi
		fi
		cat "$out"
		rm -f "$out"
	done
done
exit $rc
