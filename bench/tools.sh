#!/usr/bin/env bash
# Installs the benchmark peers (restic, kopia) and builds embassy into
# ${EMBASSY_CACHE:-$HOME/.cache/embassy}/bin. Peers are keyed by version and
# only built when missing. Prints the bin dir on the last line of stdout.
#
#   bench/tools.sh            # restic + kopia + embassy
#   bench/tools.sh -only embassy
set -euo pipefail

RESTIC_VERSION=${RESTIC_VERSION:-v0.19.1}
KOPIA_VERSION=${KOPIA_VERSION:-v0.23.1}
CACHE=${EMBASSY_CACHE:-$HOME/.cache/embassy}
BIN=$CACHE/bin
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ONLY=""
while [[ $# -gt 0 ]]; do
  case $1 in
    -only|--only) ONLY=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "tools.sh: unknown flag $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$BIN"
log() { echo "tools.sh: $*" >&2; }
# place SRC DST: install a freshly linked binary as a copy. The Go linker
# writes its output through a memory map, and until the kernel drops those
# page-cache pages, every run of the binary maps them in large folios:
# 11-16 MB more resident file pages (peak RSS) than the same bytes written
# by cp, downloaded, or read back from disk (bench/README.md, round five).
# A binary built minutes before the benchmark would be measured with them,
# one built yesterday without.
place() { cp "$1" "$2.copy" && mv "$2.copy" "$2" && rm -f "$1"; }
want() { [[ -z $ONLY || ",$ONLY," == *",$1,"* ]]; }

install_restic() {
  local out=$BIN/restic-$RESTIC_VERSION
  if [[ -x $out ]]; then log "restic $RESTIC_VERSION cached"; else
    log "installing restic $RESTIC_VERSION (go install)"
    local tmp; tmp=$(mktemp -d)
    # Outside the repo so our go.mod does not interfere.
    (cd "$tmp" && GOFLAGS=-buildvcs=false GOBIN="$tmp" \
      go install "github.com/restic/restic/cmd/restic@$RESTIC_VERSION")
    place "$tmp/restic" "$out"; rm -rf "$tmp"
  fi
  ln -sf "restic-$RESTIC_VERSION" "$BIN/restic"
}

install_kopia() {
  local out=$BIN/kopia-$KOPIA_VERSION
  if [[ -x $out ]]; then log "kopia $KOPIA_VERSION cached"; else
    log "building kopia $KOPIA_VERSION (go mod download + go build)"
    local tmp dir; tmp=$(mktemp -d)
    # kopia's go.mod has replace directives, so `go install pkg@v` refuses;
    # download the module and build inside its (read-only) module folder.
    dir=$(cd "$tmp" && GOFLAGS=-mod=mod go mod download -json "github.com/kopia/kopia@$KOPIA_VERSION" \
      | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [[ -n $dir && -d $dir ]] || { log "kopia module dir not found"; exit 1; }
    (cd "$dir" && GOFLAGS="-mod=mod -buildvcs=false" GOWORK=off \
      go build -trimpath -o "$tmp/kopia" \
      -ldflags "-X github.com/kopia/kopia/repo.BuildVersion=${KOPIA_VERSION#v}" .)
    place "$tmp/kopia" "$out"; rm -rf "$tmp"
  fi
  ln -sf "kopia-$KOPIA_VERSION" "$BIN/kopia"
}

build_embassy() {
  log "building embassy from $ROOT"
  if (cd "$ROOT" && go build -o "$BIN/embassy.new" ./cmd/embassy); then
    place "$BIN/embassy.new" "$BIN/embassy"
  else
    rm -f "$BIN/embassy.new"; log "embassy does not build (yet)"; return 1
  fi
}

rc=0
want restic && install_restic
want kopia && install_kopia
if want embassy; then build_embassy || rc=1; fi
echo "$BIN"
exit $rc
