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
# EMBASSY_FUZZJOBS (default 2) targets run at once, each with one fuzz
# worker (-parallel 1): on a 2-core machine that halves the tier's wall
# time against one target at a time with two workers, and each target
# still runs its seeds and EMBASSY_FUZZTIME of new inputs.
JOBS=${EMBASSY_FUZZJOBS:-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# one_target PKG TARGET OUT: fuzz one target, its go test -json stream in
# OUT and its verdict in OUT.rc.
one_target() {
	local pkg=$1 t=$2 out=$3 corpus before after r=0
	corpus=$pkg/testdata/fuzz/$t
	before=$(ls "$corpus" 2>/dev/null | wc -l)
	if ! go test -json -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" -parallel 1 "$pkg" >"$out"; then
		# The fuzz engine can end a run with "context deadline exceeded"
		# when one slow input outlives -fuzztime, without a crasher. That
		# run is retried once; a crasher (a new file in the corpus) or a
		# second failure fails the tier.
		after=$(ls "$corpus" 2>/dev/null | wc -l)
		if [[ $after == "$before" ]] && grep -q 'context deadline exceeded' "$out"; then
			echo "fuzz: $pkg $t: engine deadline without a crasher; running it again" >&2
			go test -json -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" -parallel 1 "$pkg" >"$out" || r=1
		else
			r=1
		fi
	fi
	echo $r >"$out.rc"
}

n=0
declare -a outs=()
for pkg in "${pkgs[@]}"; do
	mapfile -t targets < <(grep -ho '^func Fuzz[A-Za-z0-9_]*(' "$pkg"/*_test.go | sed 's/^func //; s/($//' | sort -u)
	for t in "${targets[@]}"; do
		echo "fuzz: $pkg $t for $FUZZTIME" >&2
		n=$((n + 1))
		out=$work/$n.json
		outs+=("$out")
		one_target "$pkg" "$t" "$out" &
		while (($(jobs -rp | wc -l) >= JOBS)); do
			wait -n || true
		done
	done
done
wait
rc=0
for out in "${outs[@]}"; do
	cat "$out"
	[[ $(cat "$out.rc" 2>/dev/null) == 0 ]] || rc=1
done
exit $rc
