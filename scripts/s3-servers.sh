#!/usr/bin/env bash
# s3-servers.sh: real S3-compatible servers for the site integration tests.
#
#   scripts/s3-servers.sh install   build versitygw and SeaweedFS once, cached by version
#   scripts/s3-servers.sh start     start both on 127.0.0.1 and write an env file
#   scripts/s3-servers.sh stop      stop them by PID
#   scripts/s3-servers.sh check     fail unless every started server is alive and answers
#   scripts/s3-servers.sh env       print the env file path
#
# EMBASSY_S3_SERVERS="versitygw seaweedfs" (the default) selects what start runs.
#
# Then:  . "$(scripts/s3-servers.sh env)" && go test ./internal/site/s3/
#
# Binaries live in ${EMBASSY_CACHE:-$HOME/.cache/embassy}/bin, runtime state
# (data, logs, PIDs, env) in ${EMBASSY_S3_DIR:-$EMBASSY_CACHE/s3}. Every
# listener is bound to 127.0.0.1; SeaweedFS telemetry is off.
set -euo pipefail

CACHE=${EMBASSY_CACHE:-$HOME/.cache/embassy}
BIN=$CACHE/bin
RUN=${EMBASSY_S3_DIR:-$CACHE/s3}
VGW_V=v1.8.0
WEED_V=v0.0.0-20261109003541-7506e5f91cd6
VGW=$BIN/versitygw-$VGW_V
WEED=$BIN/weed-$WEED_V

KEY=embassy-test
SECRET=embassy-test-secret
BUCKET=embassy-test
REGION=us-east-1
VGW_PORT=18733
# SeaweedFS gRPC ports are HTTP port + 10000.
S3_PORT=18433 MASTER_PORT=19433 VOL_PORT=19440 VOL2_PORT=19441 FILER_PORT=18988

EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

log() { echo "s3-servers: $*" >&2; }
die() { log "error: $*"; exit 1; }

install_versitygw() {
	[[ -x $VGW ]] && return
	log "building versitygw $VGW_V (about 1.5 CPU-minutes)"
	local tmp; tmp=$(mktemp -d "$BIN/.vgw-XXXXXX")
	GOBIN=$tmp go install -trimpath "github.com/versity/versitygw/cmd/versitygw@$VGW_V"
	mv "$tmp/versitygw" "$VGW"; rmdir "$tmp"
}

install_weed() {
	[[ -x $WEED ]] && return
	log "building SeaweedFS $WEED_V (5-10 CPU-minutes, 2.7 GB RSS)"
	go mod download "github.com/seaweedfs/seaweedfs@$WEED_V"
	# Plain 'go install' refuses the module's replace directive: build in place.
	# Keep these flags stable: changing them invalidates the shared build cache.
	(cd "$(go env GOMODCACHE)/github.com/seaweedfs/seaweedfs@$WEED_V" &&
		go build -trimpath -ldflags "-s -w" -o "$WEED.tmp" ./weed)
	mv "$WEED.tmp" "$WEED"
}

cmd_install() {
	mkdir -p "$BIN"
	# One builder at a time: the machine and the cache are shared.
	exec 9>"$BIN/.install.lock"
	flock 9
	install_versitygw
	install_weed
	log "installed: $VGW $WEED"
}

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_http() { # name url pidfile
	local i
	for i in $(seq 1 150); do
		curl -s -o /dev/null --max-time 1 "$2" && return
		alive "$3" || die "$1 exited; see $RUN/$1.log"
		sleep 0.2
	done
	die "$1 did not answer at $2 within 30s; see $RUN/$1.log"
}

# create_bucket port lock: CreateBucket signed with SigV4 by curl.
create_bucket() {
	local hdr=() code
	[[ $2 == lock ]] && hdr=(-H "x-amz-bucket-object-lock-enabled: true")
	code=$(curl -s -o "$RUN/create-bucket.out" -w '%{http_code}' -X PUT "${hdr[@]}" \
		-H "x-amz-content-sha256: $EMPTY_SHA256" \
		--aws-sigv4 "aws:amz:$REGION:s3" --user "$KEY:$SECRET" \
		"http://127.0.0.1:$1/$BUCKET")
	case $code in
	200 | 409) ;; # 409: BucketAlreadyOwnedByYou
	*) die "create bucket on :$1 gave HTTP $code: $(cat "$RUN/create-bucket.out")" ;;
	esac
}

start_versitygw() {
	if alive "$RUN/versitygw.pid"; then
		log "versitygw already running"
		create_bucket "$VGW_PORT" lock
		return
	fi
	rm -rf "$RUN/vgw"; mkdir -p "$RUN/vgw/data" "$RUN/vgw/vers" "$RUN/vgw/iam"
	ROOT_ACCESS_KEY=$KEY ROOT_SECRET_KEY=$SECRET \
		setsid "$VGW" --port "127.0.0.1:$VGW_PORT" --iam-dir "$RUN/vgw/iam" --health /health --quiet \
		posix --versioning-dir "$RUN/vgw/vers" "$RUN/vgw/data" \
		</dev/null >"$RUN/versitygw.log" 2>&1 &
	echo $! >"$RUN/versitygw.pid"
	wait_http versitygw "http://127.0.0.1:$VGW_PORT/health" "$RUN/versitygw.pid"
	create_bucket "$VGW_PORT" lock
	log "versitygw up on 127.0.0.1:$VGW_PORT (bucket $BUCKET, object lock on)"
}

start_weed() {
	alive "$RUN/weed.pid" && { log "seaweedfs already running"; return; }
	rm -rf "$RUN/weed"; mkdir -p "$RUN/weed/server" "$RUN/weed/vol2"
	cat >"$RUN/weed/s3.json" <<JSON
{"identities":[{"name":"embassy","credentials":[{"accessKey":"$KEY","secretKey":"$SECRET"}],
 "actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
	setsid "$WEED" server -dir="$RUN/weed/server" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
		-master.telemetry=false -master.port=$MASTER_PORT -master.volumeSizeLimitMB=64 \
		-volume.port=$VOL_PORT -volume.max=0 \
		-filer -filer.port=$FILER_PORT -filer.localSocket="$RUN/weed/filer.sock" \
		-s3 -s3.port=$S3_PORT -s3.port.iceberg=0 -s3.port.lance=0 -s3.config="$RUN/weed/s3.json" \
		-s3.localSocket="$RUN/weed/s3.sock" \
		</dev/null >"$RUN/weed.log" 2>&1 &
	echo $! >"$RUN/weed.pid"
	wait_http weed "http://127.0.0.1:$MASTER_PORT/cluster/status" "$RUN/weed.pid"
	# A second volume server, so the cluster has more than one data node.
	setsid "$WEED" volume -dir="$RUN/weed/vol2" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
		-port=$VOL2_PORT -max=0 -master="127.0.0.1:$MASTER_PORT" \
		</dev/null >"$RUN/weed-volume2.log" 2>&1 &
	echo $! >"$RUN/weed-volume2.pid"
	wait_http weed-volume2 "http://127.0.0.1:$VOL2_PORT/status" "$RUN/weed-volume2.pid"
	wait_http weed "http://127.0.0.1:$S3_PORT/" "$RUN/weed.pid"
	log "seaweedfs up: S3 on 127.0.0.1:$S3_PORT, master :$MASTER_PORT, volumes :$VOL_PORT :$VOL2_PORT"
}

# write_env lists only the servers that are up; cmd_start then fails if a
# wanted server is not (one that died between its readiness check and now).
write_env() {
	cat >"$RUN/s3.env" <<ENV
export AWS_ACCESS_KEY_ID=$KEY
export AWS_SECRET_ACCESS_KEY=$SECRET
ENV
	alive "$RUN/versitygw.pid" &&
		echo "export EMBASSY_TEST_S3_URL='s3://127.0.0.1:$VGW_PORT/$BUCKET?tls=false'" >>"$RUN/s3.env"
	alive "$RUN/weed.pid" &&
		echo "export EMBASSY_TEST_S3_SEAWEED_URL='s3://127.0.0.1:$S3_PORT/$BUCKET?tls=false'" >>"$RUN/s3.env"
	log "env written: . $RUN/s3.env"
}

SERVERS=${EMBASSY_S3_SERVERS:-versitygw seaweedfs}

want() { [[ " $SERVERS " == *" $1 "* ]]; }

cmd_start() {
	want versitygw && { [[ -x $VGW ]] || die "$VGW missing: run '$0 install' first"; }
	want seaweedfs && { [[ -x $WEED ]] || die "$WEED missing: run '$0 install' first"; }
	mkdir -p "$RUN"
	want versitygw && start_versitygw
	want seaweedfs && start_weed
	write_env
	cmd_check
}

# cmd_check: every wanted server is still running and answering. Tests
# whose server vanished would skip or fail for the wrong reason.
cmd_check() {
	local bad=0
	if want versitygw; then
		alive "$RUN/versitygw.pid" && curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$VGW_PORT/health" ||
			{ log "error: versitygw is not running or not answering; see $RUN/versitygw.log"; bad=1; }
	fi
	if want seaweedfs; then
		local n
		for n in weed weed-volume2; do
			alive "$RUN/$n.pid" || { log "error: $n is not running; see $RUN/$n.log"; bad=1; }
		done
		curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$S3_PORT/" ||
			{ log "error: seaweedfs S3 does not answer on :$S3_PORT; see $RUN/weed.log"; bad=1; }
	fi
	[[ $bad == 0 ]] || die "S3 servers down (hint: '$0 stop && $0 start')"
}

stop_one() { # name
	local f=$RUN/$1.pid pid i
	[[ -f $f ]] || return 0
	pid=$(cat "$f")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
		log "stopped $1 ($pid)"
	fi
	rm -f "$f"
}

cmd_stop() {
	stop_one weed-volume2
	stop_one weed
	stop_one versitygw
	rm -f "$RUN/s3.env"
}

case ${1:-} in
install) cmd_install ;;
start) cmd_start ;;
check) cmd_check ;;
stop) cmd_stop ;;
env) echo "$RUN/s3.env" ;;
*) die "usage: $0 install|start|check|stop|env" ;;
esac
