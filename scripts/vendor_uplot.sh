#!/usr/bin/env bash
# Refresh the dashboard's chart library from the npm registry (a build-time step; the
# running manager never touches the network). The tarball is checked against the
# registry's integrity hash pinned here, then its two files are copied into the package.
# Usage: bash scripts/vendor_uplot.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=1.6.32
INTEGRITY="sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw=="
DEST=src/selfheal/services/manager/dashboard/static
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
curl -fsSL "https://registry.npmjs.org/uplot/-/uplot-${VERSION}.tgz" -o "$tmp/uplot.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tmp/uplot.tgz" | base64 -w0)"
if [ "$got" != "$INTEGRITY" ]; then
  echo "uplot-${VERSION}.tgz does not match the pinned integrity hash" >&2
  exit 1
fi
tar -xzf "$tmp/uplot.tgz" -C "$tmp"
cp "$tmp/package/dist/uPlot.iife.min.js" "$DEST/uPlot.iife.min.js"
cp "$tmp/package/dist/uPlot.min.css" "$DEST/uPlot.min.css"
cp "$tmp/package/LICENSE" "$DEST/uPlot.LICENSE"
sha256sum "$DEST"/uPlot.* | sed "s#$DEST/##" > "$DEST/SHA256SUMS"
echo "uPlot ${VERSION} copied to $DEST"
