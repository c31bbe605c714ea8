#!/usr/bin/env bash
# scripts/test.sh: every test of the project, on a fresh machine, in tiers.
#
#   lint   scripts/lint.sh, when it exists
#   vet    go vet ./...
#   unit   go test ./...: unit, conformance, CLI, crash and, unless
#          EMBASSY_SKIP_INTEGRATION=1, the integration tests against real
#          services it starts itself: versitygw and a SeaweedFS cluster (S3
#          sites, built once and cached by version in
#          ${EMBASSY_CACHE:-$HOME/.cache/embassy}), a private MariaDB, a
#          throwaway PostgreSQL cluster (any version Debian ships) and
#          network namespaces (root, nft, ip); with a coverage profile
#   race   go test -race -short over the packages with concurrent code
#   fuzz   every fuzz target for EMBASSY_FUZZTIME (default 5s) each
#
# The run ends with a summary (scripts/testsummary): passed, failed and
# skipped per tier and package, every skip with its reason, and coverage
# per package. With CI=true a tier whose service is missing fails the run,
# and so does a test that skipped for want of one.
#
# EMBASSY_TIERS="lint vet unit race fuzz" (the default) selects tiers;
# EMBASSY_SKIP_INTEGRATION=1 runs the unit tier without services.
set -euo pipefail
cd "$(dirname "$0")/.."

CI=${CI:-false}
TIERS=${EMBASSY_TIERS:-lint vet unit race fuzz}
OUT=${EMBASSY_TEST_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/embassy-test-XXXXXX")}
mkdir -p "$OUT"
want() { [[ " $TIERS " == *" $1 "* ]]; }
log() { echo "scripts/test.sh: $*" >&2; }
# missing service: fatal in CI, a loud warning elsewhere.
missing() {
	if [[ $CI == true ]]; then
		log "error: $*"
		log "hint: CI=true requires every tier's service; install it (.ci/run does) or unset CI to skip"
		exit 1
	fi
	log "warning: $* (its tests will be skipped; CI=true makes this fatal)"
}
t0=$SECONDS
timing=()
tier_done() { timing+=("$(printf '%-6s %4ds' "$1" $((SECONDS - $2)))"); }

go build -o "$OUT/testsummary" ./scripts/testsummary

if want lint && [[ -x scripts/lint.sh ]]; then
	echo "== lint (scripts/lint.sh)"
	s=$SECONDS
	scripts/lint.sh
	tier_done lint $s
fi

if want vet; then
	echo "== go vet"
	s=$SECONDS
	go vet ./...
	tier_done vet $s
fi

started=0 started_db=0
cleanup() {
	if [[ $started == 1 ]]; then scripts/s3-servers.sh stop || true; fi
	if [[ $started_db == 1 ]]; then scripts/mariadb.sh stop || true; fi
}
trap cleanup EXIT

integration=0
if want unit && [[ ${EMBASSY_SKIP_INTEGRATION:-0} != 1 ]]; then
	integration=1
	s=$SECONDS
	echo "== real S3 servers (versitygw, SeaweedFS)"
	if scripts/s3-servers.sh install && scripts/s3-servers.sh start; then
		started=1
		# shellcheck disable=SC1090
		set -a; . "$(scripts/s3-servers.sh env)"; set +a
	else
		missing "the S3 servers did not start"
	fi
	# MariaDB for the transparency log on tessera's AWS driver (S3 + MySQL):
	# a private mariadbd on 127.0.0.1:23306, never the system service.
	echo "== private MariaDB (transparency log on S3 + MySQL)"
	if scripts/mariadb.sh install && scripts/mariadb.sh start; then
		started_db=1
		# shellcheck disable=SC1090
		set -a; . "$(scripts/mariadb.sh env)"; set +a
	else
		missing "no MariaDB (apt-get install mariadb-server)"
	fi
	# PostgreSQL for continuous protection: the tests start a throwaway
	# cluster of their own as user postgres on a private port, from the
	# newest PostgreSQL Debian installed.
	pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
	if [[ -n $pgbin && -x $pgbin/initdb ]] && id postgres >/dev/null 2>&1 && command -v psql >/dev/null; then
		export EMBASSY_TEST_PG=1 EMBASSY_TEST_PG_BIN=$pgbin
		echo "== PostgreSQL from $pgbin"
	else
		missing "PostgreSQL not installed (apt-get install postgresql)"
	fi
	# Network-fault tests (namespaces, tbf, nftables) need root, nft and ip.
	if [[ $(id -u) == 0 ]] && command -v nft >/dev/null && command -v ip >/dev/null && command -v tc >/dev/null; then
		export EMBASSY_TEST_NETNS=1
	else
		missing "network namespace tests need root, nft, ip and tc (apt-get install nftables iproute2)"
	fi
	tier_done svc $s
fi

# s3_alive: every started S3 server still answers (a server that died after
# its readiness check would otherwise turn its tests into skips or noise).
s3_alive() {
	[[ $started == 1 ]] || return 0
	scripts/s3-servers.sh check || { log "error: an S3 server died ($1)"; return 1; }
}

rc=0
tiers=()
cover=()
if want unit; then
	echo "== unit tier: go test ./... (unit, conformance, CLI, crash$([[ $integration == 1 ]] && echo ", integration"))"
	s3_alive "before the unit tier" || exit 1
	s=$SECONDS
	# -coverpkg: a package is covered by every test that runs its code,
	# also the CLI and crash tests of other packages.
	go test -json -count=1 -timeout 25m -coverprofile="$OUT/cover.out" -coverpkg=./internal/... ./... 2>&1 |
		"$OUT/testsummary" -follow "$OUT/unit.json" || rc=1
	tier_done unit $s
	s3_alive "during the unit tier" || rc=1
	tiers+=("unit=$OUT/unit.json")
	[[ -s $OUT/cover.out ]] && cover=(-cover "$OUT/cover.out")
fi

if want race; then
	# The packages with goroutines that share state: the repo writer, the
	# archiver, erasure fan-out, the transparency log, the witness, the
	# daemon's server and continuous protection. -short keeps it fast.
	race_pkgs=(./internal/repo/... ./internal/archiver/... ./internal/site/erasure/... ./internal/site/retry/...
		./internal/tlog/... ./internal/witness/... ./internal/server/... ./internal/protect/...)
	echo "== race tier: go test -race -short ${race_pkgs[*]}"
	s=$SECONDS
	# Hermetic: the services' tests ran in the unit tier.
	# The generic conformance suites are slow under -race (200 s for
	# erasure alone) and ran in the unit tier: their concurrent cases run
	# here, the rest is skipped.
	(
		r=0
		export -n EMBASSY_TEST_S3_URL EMBASSY_TEST_S3_SEAWEED_URL EMBASSY_TEST_MYSQL_DSN EMBASSY_TEST_PG EMBASSY_TEST_NETNS
		unset EMBASSY_TEST_S3_URL EMBASSY_TEST_S3_SEAWEED_URL EMBASSY_TEST_MYSQL_DSN EMBASSY_TEST_PG EMBASSY_TEST_NETNS
		go test -json -race -short -count=1 -timeout 15m -skip '^TestConformance(Flaky)?$' "${race_pkgs[@]}" || r=1
		go test -json -race -short -count=1 -timeout 15m -run '^TestConformance$/(IfAbsentConcurrent|Canceled|Overwrite)$' ./internal/site/retry/ || r=1
		go test -json -race -short -count=1 -timeout 15m -run '^TestConformance$/.*/(IfAbsentConcurrent|Canceled|Overwrite)$' ./internal/site/erasure/ || r=1
		exit $r
	) 2>&1 | "$OUT/testsummary" -follow "$OUT/race.json" || rc=1
	tier_done race $s
	tiers+=("race=$OUT/race.json")
fi

if want fuzz; then
	echo "== fuzz tier: every fuzz target for ${EMBASSY_FUZZTIME:-5s}"
	s=$SECONDS
	scripts/fuzz.sh 2>&1 | "$OUT/testsummary" -follow "$OUT/fuzz.json" || rc=1
	tier_done fuzz $s
	tiers+=("fuzz=$OUT/fuzz.json")
fi

# In CI a test of the unit tier that skipped for want of a service fails.
strict=()
[[ $CI == true && $integration == 1 ]] && strict=(-strict unit)
if [[ ${#tiers[@]} -gt 0 ]]; then
	"$OUT/testsummary" "${strict[@]}" "${cover[@]}" "${tiers[@]}" || rc=1
fi
echo
echo "-- wall time per tier"
printf '%s\n' "${timing[@]}"
echo "total  $((SECONDS - t0))s   (go test -json streams and coverage in $OUT)"
exit $rc
