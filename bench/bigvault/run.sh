#!/bin/bash
# bench/bigvault/run.sh: home memory as the vault grows (issue 17).
#
#   bench/bigvault/run.sh DIR N [RUNS]
#
# Makes a home in DIR (once) whose dataset 'bench' holds N synthetic blobs
# (bench/bigvault), then RUNS times (default 3): 'embassy snapshot' of a
# one-file folder and 'embassy restore' of it, printing wall time and peak
# RSS of each (/usr/bin/time). The first run after the home is made also
# builds the home's index cache (docs/FORMAT.md §9.1); set REBUILD=1 to
# delete it before every run and measure the build. EMBASSY selects the
# binary (default: built from this tree).
set -euo pipefail
dir=${1:?usage: run.sh DIR N [RUNS]} n=${2:?usage: run.sh DIR N [RUNS]} runs=${3:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${EMBASSY:-}" ]; then
  EMBASSY=$dir/bin/embassy
  (cd "$root" && go build -o "$EMBASSY" ./cmd/embassy && go build -o "$dir/bin/bigvault" ./bench/bigvault)
fi
export EMBASSY_HOME=$dir/home
if [ ! -d "$dir/home" ]; then
  args=()
  for i in 1 2 3; do args+=(--custodian "$("$EMBASSY" custodian keygen -o "$dir/c$i.key" | tail -1)"); done
  "$EMBASSY" init "${args[@]}" --threshold 2 >/dev/null
  "$EMBASSY" site add local --url "$dir/repo" --jurisdiction LU >/dev/null
  mkdir -p "$dir/src" && echo hello >"$dir/src/one.txt"
  "$EMBASSY" snapshot bench "$dir/src" --class C1-I1-A1 >/dev/null
  (cd "$root" && go run ./bench/bigvault -home "$dir/home" -dataset bench -n "$n")
fi
for i in $(seq "$runs"); do
  [ "${REBUILD:-}" = 1 ] && rm -f "$dir"/home/cache/index/*.idx
  date +%s%N >>"$dir/src/one.txt"
  /usr/bin/time -f "%e %M" -o "$dir/t.snap" "$EMBASSY" snapshot bench "$dir/src" --class C1-I1-A1 >/dev/null
  rm -rf "$dir/out"
  /usr/bin/time -f "%e %M" -o "$dir/t.rest" "$EMBASSY" restore bench@latest --target "$dir/out" >/dev/null
  got=$(find "$dir/out" -name one.txt | head -1)
  cmp "$dir/src/one.txt" "$got"
  read -r st sm <"$dir/t.snap"; read -r rt rm_ <"$dir/t.rest"
  echo "run $i: snapshot ${st} s ${sm} KB peak, restore ${rt} s ${rm_} KB peak, restored bytes equal"
done
