#!/bin/sh
# Refreshes the console's vendored files from npm: installs the exact versions pinned in package.json (through
# package-lock.json) into a temporary directory, copies the built files listed below next to this script and
# rewrites MANIFEST (file, package@version, sha256). To update a library: change its pin in package.json, run
# `npm install --package-lock-only` here, then this script; the server's test `vendor_files_match_manifest`
# checks the result. Nothing here runs when the server is built.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$here/package.json" "$here/package-lock.json" "$tmp/"
(cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null)
# destination  package  path in the package
files='
hls.min.mjs              hls.js            dist/hls.min.mjs
hls.js.LICENSE           hls.js            LICENSE
mpegts.js                mpegts.js         dist/mpegts.js
mpegts.js.LICENSE        mpegts.js         LICENSE
mpegts.js.LICENSE.txt    mpegts.js         dist/mpegts.js.LICENSE.txt
uPlot.esm.js             uplot             dist/uPlot.esm.js
uPlot.min.css            uplot             dist/uPlot.min.css
uplot.LICENSE            uplot             LICENSE
qrcode.mjs               qrcode-generator  dist/qrcode.mjs
'
manifest="$here/MANIFEST"
{
  echo "# file  package@version  sha256  (written by update.sh; checked by the server's tests)"
  echo "$files" | while read -r dest pkg src; do
    [ -n "$dest" ] || continue
    version=$(node -p "require('$tmp/node_modules/$pkg/package.json').version")
    cp "$tmp/node_modules/$pkg/$src" "$here/$dest"
    echo "$dest $pkg@$version $(sha256sum "$here/$dest" | cut -d' ' -f1)"
  done
  # qrcode-generator ships no licence file: its MIT notice is in the source header, written out here.
  echo "qrcode-generator.LICENSE qrcode-generator@$(node -p "require('$tmp/node_modules/qrcode-generator/package.json').version") $(sha256sum "$here/qrcode-generator.LICENSE" | cut -d' ' -f1)"
} > "$manifest.tmp"
mv "$manifest.tmp" "$manifest"
cat "$manifest"
