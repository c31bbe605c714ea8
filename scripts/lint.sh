#!/usr/bin/env bash
# Lint the module with golangci-lint (.golangci.yml: layering, errcheck,
# sloglint, forbidigo). The linter is installed from the Go module proxy
# with 'go install', once per version, under ${EMBASSY_CACHE}.
#
#   scripts/lint.sh              lint everything
#   scripts/lint.sh ./internal/vault/...
set -euo pipefail

version=${GOLANGCI_LINT_VERSION:-v2.15.0}
cache=${EMBASSY_CACHE:-$HOME/.cache/embassy}
bin="$cache/golangci-lint/$version"
root=$(cd "$(dirname "$0")/.." && pwd)

if [[ ! -x "$bin/golangci-lint" ]]; then
	echo "lint: installing golangci-lint $version into $bin" >&2
	mkdir -p "$bin"
	GOBIN="$bin" GOFLAGS=-mod=mod go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$version"
fi

cd "$root"
if [[ $# -eq 0 ]]; then
	set -- ./...
fi
exec "$bin/golangci-lint" run --config "$root/.golangci.yml" "$@"
