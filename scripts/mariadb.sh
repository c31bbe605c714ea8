#!/usr/bin/env bash
# mariadb.sh: a private MariaDB for the transparency log's tessera AWS driver
# (MySQL sequencing) in the integration tests.
#
#   scripts/mariadb.sh install   apt-get install mariadb-server if mariadbd is missing (root)
#   scripts/mariadb.sh start     initialise and start a private mariadbd on 127.0.0.1:23306
#   scripts/mariadb.sh stop      stop it by PID
#   scripts/mariadb.sh env       print the env file path
#
# Then:  . "$(scripts/mariadb.sh env)" && go test ./internal/tlog/ -run AWS
#
# The instance is private: its own datadir, socket and PID file under
# ${EMBASSY_MARIADB_DIR:-${EMBASSY_CACHE:-$HOME/.cache/embassy}/mariadb}, bound
# to 127.0.0.1 only, never the system service. It runs as the invoking user
# (root included: then with --user=root).
# User embassy (password embassy-test) owns database tessera.
set -euo pipefail

CACHE=${EMBASSY_CACHE:-$HOME/.cache/embassy}
RUN=${EMBASSY_MARIADB_DIR:-$CACHE/mariadb}
PORT=${EMBASSY_MARIADB_PORT:-23306}
USER_=embassy
PASS=embassy-test
DB=tessera

log() { echo "mariadb: $*" >&2; }
die() { log "error: $*"; exit 1; }

bin() { # name: find a MariaDB binary (Debian puts mariadbd in /usr/sbin)
	local b
	for b in "$(command -v "$1" 2>/dev/null)" "/usr/sbin/$1" "/usr/bin/$1"; do
		[[ -n $b && -x $b ]] && { echo "$b"; return; }
	done
	return 1
}

cmd_install() {
	bin mariadbd >/dev/null && return
	[[ $(id -u) == 0 ]] || die "mariadbd missing: run 'apt-get install mariadb-server' as root"
	log "installing mariadb-server from Debian"
	# policy-rc.d stops the package from starting the system service.
	local prc=/usr/sbin/policy-rc.d created=0
	if [[ ! -e $prc ]]; then printf '#!/bin/sh\nexit 101\n' >"$prc"; chmod +x "$prc"; created=1; fi
	apt-get -o DPkg::Lock::Timeout=600 update -qq
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq mariadb-server >/dev/null
	[[ $created == 1 ]] && rm -f "$prc"
	bin mariadbd >/dev/null || die "mariadbd still missing after install"
}

alive() { [[ -f $RUN/mariadbd.pid ]] && kill -0 "$(cat "$RUN/mariadbd.pid")" 2>/dev/null; }

client() { "$(bin mariadb)" --no-defaults --protocol=socket --socket="$RUN/mysqld.sock" -uroot "$@"; }

cmd_start() {
	local mariadbd install_db as=()
	mariadbd=$(bin mariadbd) || die "mariadbd missing: run '$0 install' first"
	install_db=$(bin mariadb-install-db) || die "mariadb-install-db missing"
	mkdir -p "$RUN"
	# As root, --user=root: the datadir is usually under /root (mode 0700),
	# which user mysql cannot reach, and this instance is private anyway.
	[[ $(id -u) == 0 ]] && as=(--user=root)
	if alive; then
		log "mariadbd already running"
	else
		if [[ ! -d $RUN/data/mysql ]]; then
			rm -rf "$RUN/data"
			"$install_db" --no-defaults --datadir="$RUN/data" "${as[@]}" \
				--auth-root-authentication-method=normal --skip-test-db >"$RUN/install.log" 2>&1 ||
				die "mariadb-install-db failed; see $RUN/install.log"
		fi
		setsid "$mariadbd" --no-defaults --datadir="$RUN/data" "${as[@]}" \
			--socket="$RUN/mysqld.sock" --pid-file="$RUN/mariadbd.pid" \
			--port="$PORT" --bind-address=127.0.0.1 --skip-name-resolve \
			--log-error="$RUN/mariadbd.log" --innodb-buffer-pool-size=64M \
			</dev/null >>"$RUN/mariadbd.log" 2>&1 &
		for _ in $(seq 1 150); do
			alive && client -e 'SELECT 1' >/dev/null 2>&1 && break
			sleep 0.2
		done
		client -e 'SELECT 1' >/dev/null 2>&1 || die "mariadbd did not start within 30s; see $RUN/mariadbd.log"
	fi
	client <<SQL
CREATE DATABASE IF NOT EXISTS $DB;
CREATE USER IF NOT EXISTS '$USER_'@'127.0.0.1' IDENTIFIED BY '$PASS';
GRANT ALL ON *.* TO '$USER_'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
	cat >"$RUN/mariadb.env" <<ENV
export EMBASSY_TEST_MYSQL_DSN='$USER_:$PASS@tcp(127.0.0.1:$PORT)/$DB'
ENV
	log "up on 127.0.0.1:$PORT (database $DB); env: . $RUN/mariadb.env"
}

cmd_stop() {
	local pid
	alive || { rm -f "$RUN/mariadb.env"; return 0; }
	pid=$(cat "$RUN/mariadbd.pid")
	kill -TERM "$pid"
	for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
	log "stopped mariadbd ($pid)"
	rm -f "$RUN/mariadb.env"
}

case ${1:-} in
install) cmd_install ;;
start) cmd_start ;;
stop) cmd_stop ;;
env) echo "$RUN/mariadb.env" ;;
*) die "usage: $0 install|start|stop|env" ;;
esac
