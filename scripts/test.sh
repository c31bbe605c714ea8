#!/usr/bin/env bash
# scripts/test.sh: every test of the project, on a fresh machine.
#
# 1. vet and the hermetic unit tests (go test ./..., no services needed);
# 2. the integration tiers against real services it starts itself:
#    versitygw and a SeaweedFS cluster (S3 sites), built once and cached by
#    version in ${EMBASSY_CACHE:-$HOME/.cache/embassy};
# 3. the CLI and crash tests, which build and run the real binary.
#
# EMBASSY_SKIP_INTEGRATION=1 runs only step 1 (and the CLI tests).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== go vet"
go vet ./...

started=0 started_db=0
cleanup() {
	if [[ $started == 1 ]]; then scripts/s3-servers.sh stop || true; fi
	if [[ $started_db == 1 ]]; then scripts/mariadb.sh stop || true; fi
}
trap cleanup EXIT

if [[ ${EMBASSY_SKIP_INTEGRATION:-0} != 1 ]]; then
	echo "== real S3 servers (versitygw, SeaweedFS)"
	scripts/s3-servers.sh install
	scripts/s3-servers.sh start
	started=1
	# shellcheck disable=SC1090
	set -a; . "$(scripts/s3-servers.sh env)"; set +a
	export EMBASSY_TEST_INTEGRATION=1
	# MariaDB for the transparency log on tessera's AWS driver (S3 + MySQL):
	# a private mariadbd on 127.0.0.1:23306, never the system service.
	echo "== private MariaDB (transparency log on S3 + MySQL)"
	if scripts/mariadb.sh install && scripts/mariadb.sh start; then
		started_db=1
		# shellcheck disable=SC1090
		set -a; . "$(scripts/mariadb.sh env)"; set +a
	else
		echo "scripts/test.sh: no MariaDB (apt-get install mariadb-server): the tlog AWS-driver test is skipped"
	fi
	# PostgreSQL for continuous protection: the tests start a throwaway
	# cluster of their own as user postgres on a private port.
	if [[ -x /usr/lib/postgresql/15/bin/initdb ]] && id postgres >/dev/null 2>&1; then
		export EMBASSY_TEST_PG=1
	else
		echo "scripts/test.sh: PostgreSQL 15 not installed: the pg_dump tests are skipped (apt-get install postgresql)"
	fi
fi

# Network-fault tests (namespaces, tbf, nftables) need root and nft.
if [[ ${EMBASSY_SKIP_INTEGRATION:-0} != 1 && $(id -u) == 0 ]] && command -v nft >/dev/null && command -v ip >/dev/null; then
	export EMBASSY_TEST_NETNS=1
fi

echo "== go test ./... (unit, conformance, CLI, crash, and integration when enabled)"
go test -count=1 -timeout 25m ./...
