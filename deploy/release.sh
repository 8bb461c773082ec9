#!/usr/bin/env bash
# Reproducible release build of tradeplane: a static binary (no cgo), paths
# trimmed, no build id, version and commit stamped. The same commit and Go
# version give the same bytes on any machine and in any checkout folder.
#
#   deploy/release.sh                  # dist/tradeplane-<version>-<os>-<arch> + .sha256
#   GOOS=linux GOARCH=arm64 deploy/release.sh
#   VERSION=v1.2.3 COMMIT=abc deploy/release.sh   # outside a git checkout (the Containerfile)
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
COMMIT="${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
GOOS="${GOOS:-$(go env GOOS)}"
GOARCH="${GOARCH:-$(go env GOARCH)}"
OUT="${OUT:-dist/tradeplane-${VERSION}-${GOOS}-${GOARCH}}"

mkdir -p "$(dirname "$OUT")"
CGO_ENABLED=0 GOOS="$GOOS" GOARCH="$GOARCH" go build \
  -trimpath -buildvcs=false \
  -ldflags "-s -w -buildid= -X main.Version=${VERSION} -X main.Commit=${COMMIT}" \
  -o "$OUT" ./cmd/tradeplane
( cd "$(dirname "$OUT")" && sha256sum "$(basename "$OUT")" > "$(basename "$OUT").sha256" )
echo "$OUT"
cat "$OUT.sha256"
