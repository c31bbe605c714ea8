#!/bin/sh
# Continuity bench (issue 6). Measures:
#  A. RTO from "home gone" to the first lookup answered, for a synthetic
#     registry of about 1 GiB (ROWS rows; 9.5M rows ~ 1.03 GiB), via
#     'embassy drill' (measured RTO) and 'embassy operate' + curl (wall time).
#  B. the RPO achieved under continuous writes to PostgreSQL with
#     'embassy protect' (throwaway cluster on a private port; needs root).
# Usage: bench/continuity/run.sh [A] [B]     env: ROWS, SECONDS_B, WORK
set -eu
ROWS=${ROWS:-9500000}; SECONDS_B=${SECONDS_B:-60}; PORT=${PORT:-25434}
WORK=${WORK:-$(mktemp -d /tmp/embassy-cont-XXXX)}; chmod 755 "$WORK"
PARTS=${*:-A B}
cd "$(dirname "$0")/../.."
go build -o "$WORK/embassy" ./cmd/embassy
E="$WORK/embassy"; now() { date +%s.%N; }
setup_home() { # $1 home
  for n in a b c; do [ -f "$WORK/$n.key" ] || "$E" custodian keygen -o "$WORK/$n.key" >"$WORK/$n.pub"; done
  "$E" --home "$1" init --threshold 2 --custodian "$(cat $WORK/a.pub)" --custodian "$(cat $WORK/b.pub)" --custodian "$(cat $WORK/c.pub)" >/dev/null
  "$E" --home "$1" site add lu --url "$WORK/site-lu-$2" --jurisdiction LU >/dev/null
  "$E" --home "$1" site add ch --url "$WORK/site-ch-$2" --jurisdiction CH >/dev/null
}
for P in $PARTS; do case $P in
A)
  H=$WORK/homeA; setup_home "$H" A
  mkdir -p "$WORK/reg"
  cat >"$WORK/gen_test.go" <<GEN
package sample
import "testing"
func TestBenchGen(t *testing.T) { if _, err := Generate("$WORK/reg", Options{Rows: $ROWS, Documents: 1, DocSize: 4096}); err != nil { t.Fatal(err) } }
GEN
  cp "$WORK/gen_test.go" internal/sample/zz_bench_gen_test.go
  go test ./internal/sample -run TestBenchGen -count=1 >/dev/null; rm internal/sample/zz_bench_gen_test.go
  echo "registry: $(du -sb "$WORK/reg" | cut -f1) bytes"
  t0=$(now); "$E" --home "$H" --progress never snapshot population-register "$WORK/reg" >/dev/null; t1=$(now)
  echo "snapshot to 2 sites: $(echo "$t1 - $t0" | bc) s"
  "$E" --home "$H" operate token issue --official bench -o "$WORK/tok" >/dev/null
  P1=$(sed -n 2p "$WORK/reg/population-register.csv" | cut -d, -f1); L1=$(sed -n 2p "$WORK/reg/land-register.csv" | cut -d, -f1)
  FP=$("$E" --home "$H" key status | sed -n 's/^fingerprint: //p')
  cat >"$WORK/plan.yaml" <<PLAN
name: bench
home: $FP
sites: [{name: lu, url: $WORK/site-lu-A}, {name: ch, url: $WORK/site-ch-A}]
custodians: [a.key, c.key]
rto: 60s
datasets: [{name: population-register, rpo: 24h}]
service:
  population: {dataset: population-register, path: population-register.csv}
  land: {dataset: population-register, path: land-register.csv}
probes: [{register: population, key: "$P1"}, {register: land, key: "$L1"}]
PLAN
  rm -rf "$H"   # home gone
  "$E" drill "$WORK/plan.yaml" --out "$WORK/drill.json" --scratch "$WORK/drill-scratch" --json | grep -E '"(pass|rto_seconds)"'
  rm -rf "$WORK/drill-scratch"
  t0=$(now)
  "$E" operate "$WORK/plan.yaml" --reason bench --listen 127.0.0.1:0 --dir "$WORK/op" >"$WORK/op.log" 2>&1 & OP=$!
  until [ -s "$WORK/op/addr" ]; do sleep 0.05; done
  until curl -sf -H "Authorization: Bearer $(cat $WORK/tok)" "http://$(cat $WORK/op/addr)/v1/population/$P1" >/dev/null; do sleep 0.05; done
  t1=$(now); echo "operate: home gone -> first lookup answered: $(echo "$t1 - $t0" | bc) s"
  kill -TERM $OP; wait $OP || true
  ;;
B)
  PGBIN=/usr/lib/postgresql/15/bin; D=$WORK/pg; mkdir -p $D; chown postgres:postgres $D
  su postgres -s /bin/sh -c "$PGBIN/initdb -D $D/data -A trust -U postgres --no-sync -E UTF8" >/dev/null
  su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $D/data -l $D/pg.log -w -o \"-c listen_addresses=127.0.0.1 -p $PORT -k $D -c fsync=off\" start" >/dev/null
  trap 'su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $D/data -m fast -w stop" >/dev/null' EXIT
  Q="psql -q -h 127.0.0.1 -p $PORT -U postgres"
  $Q -c "create table ev(id bigserial primary key, at timestamptz not null default clock_timestamp(), payload text)"
  $Q -c "insert into ev(payload) select repeat(md5(g::text), 8) from generate_series(1,200000) g" # ~60 MB base
  H=$WORK/homeB; setup_home "$H" B
  cat >"$H/protect.yaml" <<CFG
poll: 2s
datasets:
  - name: pg
    source: {type: postgres, database: postgres, host: 127.0.0.1, port: $PORT, user: postgres, format: plain}
    every: 10s
    on-change: true
    rpo: 30s
CFG
  (while :; do $Q -c "insert into ev(payload) select repeat(md5(random()::text), 8) from generate_series(1,50)"; sleep 0.1; done) & W=$!
  "$E" --home "$H" protect --metrics 127.0.0.1:0 >"$WORK/protect.log" 2>&1 & PR=$!
  maxlag=0; i=0
  while [ $i -lt "$SECONDS_B" ]; do sleep 1; i=$((i+1)); done
  kill $W; T=$(date +%s.%N); kill -INT $PR; wait $PR || true
  "$E" --home "$H" status --json >"$WORK/status.json" || true
  "$E" --home "$H" --progress never restore pg --target "$WORK/pgr" >/dev/null
  last=$(awk '/^COPY public.ev/{f=1;next} /^\\\./{f=0} f{print $2" "$3}' "$WORK/pgr/postgres.sql" | sort | tail -1)
  lastS=$(date -d "$last" +%s.%N)
  echo "pg: $(grep -c snapshot "$WORK/protect.log") snapshots in ${SECONDS_B}s; RPO achieved at crash (writes lost window): $(echo "$T - $lastS" | bc) s (target 30s)"
  ;;
esac; done
echo "work dir: $WORK"
