#!/usr/bin/env bash
# Benchmark embassy against restic on the two shapes the main corpus lacks
# (issue 17): one sparse file, and many tiny files.
#
#   bench/special.sh                 # 3 runs of both rows
#   bench/special.sh -r 1 -only sparse
#
# Flags:
#   -r N          runs (default 3; medians are printed)
#   -only ROWS    sparse, tiny (default both)
#   -sparse SIZE  apparent size of the sparse file in GiB (default 5); it holds
#                 40 one-MiB runs of incompressible data spread evenly (40 MiB)
#   -tiny N       number of tiny files (default 100000), 1-200 bytes each,
#                 in folders of 1000
#   -dir D        scratch dir (default ${BENCH_DIR:-/tmp/embassy-bench}/special)
#
# Rows, each timed with /usr/bin/time (wall seconds, peak RSS), tools in a
# rotating order: snapshot into a fresh repository, and full restore into an
# empty folder. For the sparse row the restored file's allocated bytes
# (st_blocks, du) are reported too: holes kept means about 40 MiB.
# Work folders stay until the row ends. Results: $DIR/special.tsv and a
# Markdown table on stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=3 ONLY="sparse,tiny" SPARSE_GIB=5 TINY=100000
DIR=${BENCH_DIR:-/tmp/embassy-bench}/special
while [[ $# -gt 0 ]]; do
  case $1 in
    -r|--runs) RUNS=$2; shift 2 ;;
    -only|--only) ONLY=$2; shift 2 ;;
    -sparse|--sparse) SPARSE_GIB=$2; shift 2 ;;
    -tiny|--tiny) TINY=$2; shift 2 ;;
    -dir|--dir) DIR=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "special.sh: unknown flag $1 (see -h)" >&2; exit 2 ;;
  esac
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "special.sh: -r wants a positive number" >&2; exit 2; }
log() { printf '%s special.sh: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }
row() { [[ ",$ONLY," == *",$1,"* ]]; }

[[ -x /usr/bin/time ]] || die "needs GNU time (apt-get install time)"
want=restic,embassy; [[ -n ${EMBASSY_BIN:-} ]] && want=restic
BIN=$("$ROOT/bench/tools.sh" -only "$want" | tail -1) || die "bench/tools.sh failed"
RESTIC=$BIN/restic EMBASSY=${EMBASSY_BIN:-$BIN/embassy}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
export RESTIC_PASSWORD=bench-password
TSV=$DIR/special.tsv
printf 'row\ttool\tstep\trun\tseconds\tmaxrss_kb\tallocated_bytes\tcpu_s\n' >"$TSV"

make_sparse() { # DIR: one file of SPARSE_GIB GiB with 40 MiB of data
  mkdir -p "$1"
  local f=$1/disk.img size=$((SPARSE_GIB << 30)) i
  truncate -s "$size" "$f"
  for ((i = 0; i < 40; i++)); do
    head -c $((1 << 20)) /dev/urandom | dd of="$f" bs=1M seek=$((i * (size >> 20) / 40)) conv=notrunc status=none
  done
}
make_tiny() { # DIR: TINY files of 1-200 bytes, 1000 per folder
  mkdir -p "$1"
  (cd "$1" && awk -v n="$TINY" 'BEGIN { srand(1); for (i = 0; i < n; i++) {
      d = sprintf("d%03d", int(i / 1000)); if (i % 1000 == 0) system("mkdir -p " d)
      f = sprintf("%s/f%06d", d, i); s = ""; len = 1 + int(rand() * 200)
      for (j = 0; j < len; j++) s = s sprintf("%c", 97 + int(rand() * 26))
      printf "%s", s > f; close(f) } }')
}

embassy_init() {
  export EMBASSY_HOME=$1/home
  local args=() i
  for i in 1 2 3; do args+=(--custodian "$("$EMBASSY" custodian keygen -o "$1/c$i.key" | tail -1)"); done
  "$EMBASSY" init "${args[@]}" --threshold 2 >/dev/null && "$EMBASSY" site add local --url "$1/repo" --jurisdiction LU >/dev/null
}
restic_init() { export RESTIC_REPOSITORY=$1/repo RESTIC_CACHE_DIR=$1/cache; "$RESTIC" init >/dev/null; }
embassy_snapshot() { EMBASSY_HOME=$1/home "$EMBASSY" snapshot bench "$2" --class C1-I1-A1; }
restic_snapshot() { RESTIC_REPOSITORY=$1/repo RESTIC_CACHE_DIR=$1/cache "$RESTIC" backup --host bench "$2"; }
embassy_restore() { EMBASSY_HOME=$1/home "$EMBASSY" restore bench@latest --target "$3"; }
# --sparse: restic's best for holes (its default writes them out as zeros)
restic_restore() { RESTIC_REPOSITORY=$1/repo RESTIC_CACHE_DIR=$1/cache "$RESTIC" restore latest --host bench --sparse --target "$3"; }
export EMBASSY RESTIC RESTIC_PASSWORD
export -f embassy_snapshot restic_snapshot embassy_restore restic_restore

measure() { # ROW TOOL STEP RUN ALLOC_PATH CMD...
  local r=$1 tool=$2 step=$3 run=$4 alloc=$5; shift 5
  local base=$DIR/logs/$r.$tool.$step.$run t0 t1 secs rss cpu bytes=0
  mkdir -p "$DIR/logs"; sync
  t0=$EPOCHREALTIME
  /usr/bin/time -f '%e %M %U %S' -o "$base.time" bash -c '"$@"' bash "$@" >"$base.log" 2>&1 || { tail "$base.log" >&2; die "$tool $r $step failed"; }
  t1=$EPOCHREALTIME
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
  rss=$(awk 'END {print $2}' "$base.time")
  cpu=$(awk 'END {printf "%.2f", $3 + $4}' "$base.time")
  [[ -n $alloc ]] && bytes=$(du -s --block-size=1 "$alloc" | cut -f1)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$tool" "$step" "$run" "$secs" "$rss" "$bytes" "$cpu" >>"$TSV"
  log "  $r $step $tool: ${secs}s, $((rss / 1024)) MiB peak${alloc:+, $((bytes >> 20)) MiB allocated}"
}

# same_tree ROW SRC COPY: tiny files by checksum; the sparse file by size
# and the checksums of its 40 data runs (reading 2 x 5 GiB of holes would
# take longer than the row; the allocated bytes show the rest is holes).
same_tree() {
  if [[ $1 == tiny ]]; then
    cmp -s <(cd "$2" && find . -type f -exec md5sum {} + | sort) <(cd "$3" && find . -type f -exec md5sum {} + | sort)
    return
  fi
  local a=$2/disk.img b=$3/disk.img size i
  size=$(stat -c %s "$a"); [[ $(stat -c %s "$b") == "$size" ]] || return 1
  for ((i = 0; i < 40; i++)); do
    cmp -s <(dd if="$a" bs=1M skip=$((i * (size >> 20) / 40)) count=1 status=none) \
           <(dd if="$b" bs=1M skip=$((i * (size >> 20) / 40)) count=1 status=none) || return 1
  done
}

# restored root: restic recreates the absolute path under the target
restored() { if [[ -d $2$1 ]]; then echo "$2$1"; else echo "$2"; fi; }

for r in sparse tiny; do
  row "$r" || continue
  SRC=$DIR/src-$r
  if [[ ! -f $SRC.done ]]; then
    log "making $r source in $SRC"; rm -rf "$SRC"; "make_$r" "$SRC"; touch "$SRC.done"
  fi
  for ((run = 1; run <= RUNS; run++)); do
    tools=(embassy restic); ((run % 2)) || tools=(restic embassy)
    for t in "${tools[@]}"; do
      W=$DIR/work-$r-$t-$run; rm -rf "$W"; mkdir -p "$W"
      "${t}_init" "$W" || die "$t init failed"
      measure "$r" "$t" snapshot "$run" "" "${t}_snapshot" "$W" "$SRC"
      T=$W/restore; mkdir -p "$T"
      measure "$r" "$t" restore "$run" "$T" "${t}_restore" "$W" "$SRC" "$T"
      same_tree "$r" "$SRC" "$(restored "$SRC" "$T")" || die "$t $r restore differs from the source"
    done
  done
  # Removed after the row, not after each tool: on ext4 without a journal
  # every create skips the inodes freed in the last 60-360 s, so removing
  # one tool's 100,000 restored files made the next tool's restore pay
  # 5-20 s of system time for it (bench/README.md, round six).
  rm -rf "$DIR"/work-"$r"-*
done

# Medians, and ratios restic/embassy (above 1: embassy faster or smaller).
echo "| row | step | embassy s | restic s | speed-up | embassy peak MiB | restic peak MiB | embassy allocated MiB | restic allocated MiB |"
echo "|---|---|---|---|---|---|---|---|---|"
awk -F'\t' 'NR > 1 { k = $1 "\t" $3 "\t" $2; s[k] = s[k] " " $5; m[k] = m[k] " " $6; a[k] = a[k] " " $7 }
function med(list,   v, n, i, j, t) { n = split(list, v, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }; return v[int((n + 1) / 2)] }
END {
  for (k in s) { split(k, p, "\t"); if (p[3] != "embassy") continue
    o = p[1] "\t" p[2] "\trestic"; es = med(s[k]); rs = med(s[o])
    printf "| %s | %s | %.2f | %.2f | %.2fx | %d | %d | %s | %s |\n", p[1], p[2], es, rs, (es > 0 ? rs / es : 0), med(m[k]) / 1024, med(m[o]) / 1024,
      (p[2] == "restore" ? sprintf("%.0f", med(a[k]) / 1048576) : "-"), (p[2] == "restore" ? sprintf("%.0f", med(a[o]) / 1048576) : "-") } }' "$TSV" | sort
log "raw results: $TSV"
