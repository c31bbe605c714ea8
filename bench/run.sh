#!/usr/bin/env bash
# Benchmark embassy against restic and kopia on a deterministic corpus.
#
#   bench/run.sh                  # 2 GiB corpus, 3 runs, all tools
#   bench/run.sh -quick           # 64 MiB corpus, 1 run (smoke test)
#   bench/run.sh -r 5 -only restic,kopia
#
# Flags:
#   -r N           runs per step (default 3; medians are reported)
#   -quick         64 MiB corpus and 1 run; results go to results/quick.*
#   -only LIST     comma list of tools: embassy, restic, kopia, kopia-zstd
#                  ("kopia" selects both kopia variants)
#   -size S        corpus size (default 2GiB)       -seed N   corpus seed (default 1)
#   -mutate P      share of files changed before the incremental (default 1%)
#   -dir D         scratch dir (default ${BENCH_DIR:-/tmp/embassy-bench})
#   -out NAME      results/NAME.{json,md} (default latest, or quick with -quick)
#   -keep          keep repositories and logs of the last run
#   -no-special    skip bench/special.sh (sparse file, 100,000 tiny files; vs restic)
#   -no-erasure    skip bench/sites erasure (2+1 over three embassyd daemons)
#   -bigvault HOME also time 'embassy snapshot' and 'restore' of a one-file folder
#                  against HOME, a home prepared with bench/bigvault (dataset
#                  "bench" grown to 10 million blobs); peak RSS is the figure
#
# Steps, each timed with /usr/bin/time (wall seconds, peak RSS), interleaved
# across tools in a rotating order:
#   backup    first snapshot into a fresh repository
#   incr      snapshot after changing 1% of the files in place
#   restore   full restore of the latest snapshot into an empty dir
#             (checked byte for byte with diff -r afterwards, not timed)
#   verify    integrity check reading all data
# and then, unless skipped: bench/special.sh (sparse and tiny rows, vs
# restic), bench/sites erasure (embassy only), the -bigvault home. Every row
# lands in results.tsv (wall s, peak RSS, user+sys CPU s) and the report
# prints each row of issue 17's table with its ratio and goal.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=3 QUICK=0 ONLY="" SIZE=2GiB SEED=1 MUTATE=1% KEEP=0 OUT=""
DIR=${BENCH_DIR:-/tmp/embassy-bench}
SIZE_SET=0 RUNS_SET=0 SPECIAL=1 ERASURE=1 BIGVAULT=""
while [[ $# -gt 0 ]]; do
  case $1 in
    -r|--runs) RUNS=$2; RUNS_SET=1; shift 2 ;;
    -quick|--quick) QUICK=1; shift ;;
    -only|--only) ONLY=$2; shift 2 ;;
    -size|--size) SIZE=$2; SIZE_SET=1; shift 2 ;;
    -seed|--seed) SEED=$2; shift 2 ;;
    -mutate|--mutate) MUTATE=$2; shift 2 ;;
    -dir|--dir) DIR=$2; shift 2 ;;
    -out|--out) OUT=$2; shift 2 ;;
    -keep|--keep) KEEP=1; shift ;;
    -special|--special) SPECIAL=1; shift ;;
    -no-special|--no-special) SPECIAL=0; shift ;;
    -no-erasure|--no-erasure) ERASURE=0; shift ;;
    -bigvault|--bigvault) BIGVAULT=$2; shift 2 ;;
    -h|--help) sed -n '2,38p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown flag $1 (see -h)" >&2; exit 2 ;;
  esac
done
if [[ $QUICK == 1 ]]; then
  [[ $SIZE_SET == 1 ]] || SIZE=64MiB
  [[ $RUNS_SET == 1 ]] || RUNS=1
  OUT=${OUT:-quick}
fi
OUT=${OUT:-latest}
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: -r wants a positive number" >&2; exit 2; }

ALL_TOOLS=(embassy restic kopia kopia-zstd)
TOOLS=()
for t in "${ALL_TOOLS[@]}"; do
  if [[ -z $ONLY ]]; then TOOLS+=("$t"); continue; fi
  IFS=, read -ra sel <<<"$ONLY"
  for s in "${sel[@]}"; do
    if [[ $t == "$s" || ($s == kopia && $t == kopia-*) ]]; then TOOLS+=("$t"); break; fi
  done
done
[[ ${#TOOLS[@]} -gt 0 ]] || { echo "run.sh: -only $ONLY selects no tool (${ALL_TOOLS[*]})" >&2; exit 2; }
has() { [[ " ${TOOLS[*]} " == *" $1 "* ]]; }

log() { printf '%s run.sh: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

# ---------------------------------------------------------------- setup
if [[ ! -x /usr/bin/time ]]; then
  log "installing GNU time"
  apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }
fi

# EMBASSY_BIN=/path/to/embassy benchmarks that binary instead of building ./cmd/embassy.
need=()
for t in "${TOOLS[@]}"; do
  [[ $t == embassy && -n ${EMBASSY_BIN:-} ]] && continue
  need+=("${t%%-*}")
done
BIN=$(IFS=,; "$ROOT/bench/tools.sh" -only "${need[*]:-none}" | tail -1) || die "bench/tools.sh failed (does ./cmd/embassy build? -only restic,kopia skips it)"
RESTIC=$BIN/restic KOPIA=$BIN/kopia EMBASSY=${EMBASSY_BIN:-$BIN/embassy}

mkdir -p "$DIR/bin" "$DIR/corpus"
DIR=$(cd "$DIR" && pwd)
(cd "$ROOT" && go build -o "$DIR/bin/corpus" ./bench/corpus) || die "cannot build bench/corpus"
CORPUS=$DIR/bin/corpus

PRISTINE=$DIR/corpus/s$SEED-$SIZE
if [[ ! -f $PRISTINE.done ]]; then
  log "generating corpus $PRISTINE"
  rm -rf "$PRISTINE"
  summary=$(nice -n 10 "$CORPUS" -o "$PRISTINE" -size "$SIZE" -seed "$SEED" -q) || die "corpus generation failed"
  echo "$summary" | tee "$PRISTINE.done"
fi
read -r CORPUS_FILES CORPUS_BYTES < <(find "$PRISTINE" -type f -printf '%s\n' | awk '{n++; b+=$1} END {printf "%d %.0f\n", n, b}')
log "corpus: $CORPUS_FILES files, $CORPUS_BYTES bytes; tools: ${TOOLS[*]}; runs: $RUNS"

SRC=$DIR/src          # what every tool snapshots (same path in every run)
WORK=$DIR/work        # repositories, caches, configs, restore targets
RESULTS=$DIR/results.tsv
LOGS=$DIR/logs
rm -rf "$LOGS"; mkdir -p "$LOGS"
printf 'tool\tstep\trun\tseconds\tmaxrss_kb\tcpu_s\n' >"$RESULTS"

export RESTIC_PASSWORD=bench-password KOPIA_PASSWORD=bench-password
export KOPIA_CHECK_FOR_UPDATES=false KOPIA_PERSIST_CREDENTIALS_ON_CONNECT=false

# ---------------------------------------------------------------- tool adapters
# Each adapter: TOOL_init, TOOL_snapshot, TOOL_restore TARGET, TOOL_verify.
# They run with REPO, CACHE set for the current tool.

restic_env() { export RESTIC_REPOSITORY=$REPO RESTIC_CACHE_DIR=$CACHE; }
restic_init() { restic_env; "$RESTIC" init; }
restic_snapshot() { restic_env; "$RESTIC" backup --host bench "$SRC"; }
restic_restore() { restic_env; "$RESTIC" restore latest --host bench --target "$1"; }
restic_verify() { restic_env; "$RESTIC" check --read-data; }

kopia_env() {
  export KOPIA_CONFIG_PATH=$CACHE/repository.config KOPIA_LOG_DIR=$CACHE/logs
}
kopia_common_init() {
  kopia_env
  "$KOPIA" repository create filesystem --path="$REPO" --cache-directory="$CACHE/cache" --no-persist-credentials
}
kopia_init() { kopia_common_init; }
kopia_zstd_init() { kopia_common_init && "$KOPIA" policy set --global --compression=zstd-fastest; }
kopia_snapshot() { kopia_env; "$KOPIA" snapshot create --no-progress "$SRC"; }
kopia_restore() { kopia_env; "$KOPIA" snapshot restore --no-progress "$SRC" "$1"; }
kopia_verify() { kopia_env; "$KOPIA" snapshot verify --verify-files-percent=100; }
kopia_zstd_snapshot() { kopia_snapshot; }
kopia_zstd_restore() { kopia_restore "$@"; }
kopia_zstd_verify() { kopia_verify; }

embassy_env() { export EMBASSY_HOME=$CACHE/home; }
embassy_init() {
  embassy_env
  local args=() r i
  for i in 1 2 3; do
    r=$("$EMBASSY" custodian keygen -o "$CACHE/custodian-$i.key" | tail -1)
    args+=(--custodian "$r")
  done
  "$EMBASSY" init "${args[@]}" --threshold 2 &&
    "$EMBASSY" site add local --url "$REPO" --jurisdiction LU
}
embassy_snapshot() { embassy_env; "$EMBASSY" snapshot bench "$SRC" --class "$EMBASSY_CLASS"; }
embassy_restore() { embassy_env; "$EMBASSY" restore bench@latest --target "$1"; }
embassy_verify() { embassy_env; "$EMBASSY" verify --read-data; }

fn() { echo "${1//-/_}_$2"; }      # fn kopia-zstd init -> kopia_zstd_init
use() { export REPO=$WORK/$1/repo CACHE=$WORK/$1/state; }
export EMBASSY_CLASS=${EMBASSY_CLASS:-C1-I1-A1}  # classification label of dataset "bench"
export SRC RESTIC KOPIA EMBASSY
export -f restic_env kopia_env embassy_env
for t in "${ALL_TOOLS[@]}"; do for op in snapshot restore verify; do export -f "$(fn "$t" "$op")"; done; done

# measure TOOL STEP RUN CMD... : time CMD, append a row to $RESULTS.
measure() {
  local tool=$1 step=$2 run=$3; shift 3
  local base=$LOGS/$run.$step.$tool t0 t1 secs rss cpu
  sync
  t0=$EPOCHREALTIME
  # bash -c runs the exported adapter function; the peak RSS that time(1)
  # reports is the largest of the process tree (here: the tool itself).
  if ! /usr/bin/time -f '%e %M %U %S' -o "$base.time" bash -c '"$@"' bash "$@" >"$base.log" 2>&1; then
    tail -20 "$base.log" >&2
    die "$tool $step (run $run) failed, log: $base.log"
  fi
  t1=$EPOCHREALTIME
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
  rss=$(awk 'END {print $2}' "$base.time")
  cpu=$(awk 'END {printf "%.2f", $3 + $4}' "$base.time")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$step" "$run" "$secs" "$rss" "$cpu" >>"$RESULTS"
  log "  $step $tool: ${secs}s, ${cpu}s CPU, $((rss / 1024)) MiB peak"
}

# Restored tree root: restic recreates the absolute path under the target,
# kopia restores the contents; accept either (and TARGET/src).
check_restore() {
  local tool=$1 target=$2 root=$2
  if [[ -d $target$SRC ]]; then root=$target$SRC
  elif [[ -d $target/$(basename "$SRC") && $(ls -A "$target" | wc -l) == 1 ]]; then root=$target/$(basename "$SRC")
  fi
  if ! diff -r --no-dereference -q "$SRC" "$root" >"$LOGS/restore-diff.$tool" 2>&1; then
    head "$LOGS/restore-diff.$tool" >&2
    die "$tool restore differs from the source (see $LOGS/restore-diff.$tool)"
  fi
}

repo_bytes() { du -sb "$REPO" | cut -f1; }

# rotate RUN STEPNO: the tool order for this step of this run.
rotate() {
  local n=${#TOOLS[@]} off=$(( ($1 + $2) % ${#TOOLS[@]} )) i
  for ((i = 0; i < n; i++)); do echo "${TOOLS[$(( (off + i) % n ))]}"; done
}

version_of() {
  case $1 in
    restic) "$RESTIC" version | head -1 ;;
    kopia*) echo "kopia $("$KOPIA" --version 2>&1 | head -1 | cut -d' ' -f1)" ;;
    embassy) "$EMBASSY" version 2>/dev/null | head -1 || "$EMBASSY" --version 2>/dev/null | head -1 || echo unknown ;;
  esac
}
VERSIONS=$DIR/versions.tsv
: >"$VERSIONS"
for t in "${TOOLS[@]}"; do printf '%s\t%s\n' "$t" "$(version_of "$t" | tr '\t' ' ')" >>"$VERSIONS"; done

# ---------------------------------------------------------------- runs
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for ((run = 1; run <= RUNS; run++)); do
  log "run $run/$RUNS: preparing $SRC"
  rm -rf "$SRC" "$WORK"
  cp -a "$PRISTINE" "$SRC"
  for t in "${TOOLS[@]}"; do
    use "$t"; mkdir -p "$REPO" "$CACHE"
    "$(fn "$t" init)" >"$LOGS/$run.init.$t" 2>&1 || { tail "$LOGS/$run.init.$t" >&2; die "$t init failed"; }
  done

  while read -r t; do use "$t"; measure "$t" backup "$run" "$(fn "$t" snapshot)"
    printf '%s\trepo_backup\t%s\t%s\t0\t0\n' "$t" "$run" "$(repo_bytes)" >>"$RESULTS"
  done < <(rotate "$run" 0)

  "$CORPUS" -o "$SRC" -seed "$SEED" -mutate "$MUTATE" -q >"$LOGS/$run.mutate" || die "mutate failed"
  log "$(cat "$LOGS/$run.mutate")"

  while read -r t; do use "$t"; measure "$t" incr "$run" "$(fn "$t" snapshot)"
    printf '%s\trepo_incr\t%s\t%s\t0\t0\n' "$t" "$run" "$(repo_bytes)" >>"$RESULTS"
  done < <(rotate "$run" 1)

  # Each tool restores into its own folder, all removed after the step:
  # removing one tool's restore just before the next one's made ext4 spend
  # up to 30% of that restore's CPU skipping the recently deleted inodes
  # (recently_deleted() in ext4_create, perf).
  while read -r t; do
    use "$t"; target=$WORK/restore-$t
    rm -rf "$target"; mkdir -p "$target"
    measure "$t" restore "$run" "$(fn "$t" restore)" "$target"
    check_restore "$t" "$target"
  done < <(rotate "$run" 2)
  rm -rf "$WORK"/restore-*

  while read -r t; do use "$t"; measure "$t" verify "$run" "$(fn "$t" verify)"
  done < <(rotate "$run" 3)

  # kopia's restore goes through its content cache; also time it with the
  # content cache off (the faster kopia figure counts as "best peer").
  # Last in the run, so that the other kopia steps use the default cache.
  if has kopia; then
    use kopia; target=$WORK/restore
    (kopia_env && "$KOPIA" cache clear && "$KOPIA" cache set --content-cache-size-mb=0) >"$LOGS/$run.cacheoff.kopia" 2>&1 ||
      { tail "$LOGS/$run.cacheoff.kopia" >&2; die "kopia cache set failed"; }
    rm -rf "$target"; mkdir -p "$target"
    measure kopia restore_nocache "$run" kopia_restore "$target"
    check_restore kopia "$target"
    rm -rf "$target"
  fi
done
[[ $KEEP == 1 ]] || rm -rf "$WORK" "$SRC"

# ---------------------------------------------------------------- the other rows
# Sparse file and 100,000 tiny files, against restic (bench/special.sh);
# its rows join results.tsv as sparse_* and tiny_* steps, the restored
# allocation as *_alloc (bytes in the seconds column).
if [[ $SPECIAL == 1 ]] && has embassy && has restic; then
  sp=()
  [[ $QUICK == 1 ]] && sp=(-sparse 1 -tiny 10000)
  log "special rows (bench/special.sh ${sp[*]})"
  EMBASSY_BIN=$EMBASSY "$ROOT/bench/special.sh" -r "$RUNS" "${sp[@]}" -dir "$DIR/special" >"$LOGS/special.md" ||
    die "bench/special.sh failed (see $LOGS/special.md)"
  awk -F'\t' -v OFS='\t' 'NR > 1 { print $2, $1 "_" $3, $4, $5, $6, $8
    if ($3 == "restore") print $2, $1 "_alloc", $4, $7, 0, 0 }' "$DIR/special/special.tsv" >>"$RESULTS"
fi

# Restore through an erasure group 2+1 of three embassyd daemons on
# loopback, all members up and one data member stopped (bench/sites).
if [[ $ERASURE == 1 ]] && has embassy; then
  log "erasure rows (bench/sites erasure, $RUNS run(s))"
  (cd "$ROOT" && go run ./bench/sites -corpus "$PRISTINE" -runs "$RUNS" -dir "$DIR/sites" erasure) >"$LOGS/erasure.log" 2>&1 ||
    { tail "$LOGS/erasure.log" >&2; die "bench/sites erasure failed (see $LOGS/erasure.log)"; }
  rm -rf "$DIR/sites"
  # The seconds are the field before the first "s" (the line ends
  # with the load average, so counting from the end is wrong).
  awk -v OFS='\t' 'function secs(  i) { for (i = 1; i < NF; i++) if ($(i+1) == "s") return $i; return "?" }
    /^  run [0-9]+ restore, all members up/ { print "embassy", "erasure_healthy", $2, secs(), 0, 0 }
    /^  run [0-9]+ restore, member .* stopped/ { print "embassy", "erasure_degraded", $2, secs(), 0, 0 }' "$LOGS/erasure.log" >>"$RESULTS"
  grep -q erasure_healthy "$RESULTS" || die "no erasure figures in $LOGS/erasure.log"
fi

# A vault of 10 million blobs: snapshot and restore a one-file folder.
if [[ -n $BIGVAULT ]] && has embassy; then
  [[ -d $BIGVAULT ]] || die "-bigvault $BIGVAULT: no such home (prepare it with bench/bigvault)"
  small=$DIR/bigvault-src
  rm -rf "$small"; mkdir -p "$small"; head -c 100000 /dev/urandom >"$small/one.bin"
  export EMBASSY_HOME=$BIGVAULT
  for ((run = 1; run <= RUNS; run++)); do
    measure embassy bigvault_snapshot "$run" \
      bash -c '"$0" snapshot bench "$1" --class "$EMBASSY_CLASS" -q' "$EMBASSY" "$small"
    rm -rf "$DIR/bigvault-restore"
    measure embassy bigvault_restore "$run" \
      bash -c '"$0" restore bench@latest --target "$1" -q' "$EMBASSY" "$DIR/bigvault-restore"
    cmp -s "$small/one.bin" "$(find "$DIR/bigvault-restore" -name one.bin | head -1)" || die "bigvault restore differs"
  done
  rm -rf "$small" "$DIR/bigvault-restore"
fi

# ---------------------------------------------------------------- report
mkdir -p "$ROOT/bench/results"
(cd "$ROOT" && go run ./bench/report \
  -results "$RESULTS" -versions "$VERSIONS" \
  -corpus "seed=$SEED size=$SIZE files=$CORPUS_FILES bytes=$CORPUS_BYTES mutate=$MUTATE" \
  -load "$LOAD_START" -load-end "$(cut -d' ' -f1-3 /proc/loadavg)" -runs "$RUNS" \
  -json "bench/results/$OUT.json" -md "bench/results/$OUT.md")
log "wrote bench/results/$OUT.json and bench/results/$OUT.md (raw: $RESULTS)"
