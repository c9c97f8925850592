#!/usr/bin/env bash
# Grow and minimize one fuzz corpus: fuzz TARGET for SECONDS (default 120; 0 only minimizes) under libFuzzer, then
# minimize: the named seeds stay (the corpus replays in crates/*/tests/corpus.rs assert on some of them), and a
# set-cover merge adds only the grown files that cover something more, each truncated to MAX_LEN bytes (default
# 16384). Nothing leaves the machine. Needs `cargo install cargo-fuzz`. Run from anywhere:
#   fuzz/grow.sh rtmp_chunk 180
set -euo pipefail
cd "$(dirname "$0")/.."
target=$1
seconds=${2:-120}
max_len=${MAX_LEN:-16384}
dir=fuzz/corpus/$target
mkdir -p "$dir"
# Nightly when rustup has it; else the stable toolchain with its nightly flags unlocked (RUSTC_BOOTSTRAP=1: the
# sanitizer runtimes ship with stable on x86_64 Linux). OpenH264, linked through the server crate, defines some
# const tables in both its encoder and decoder, which AddressSanitizer's ODR check would stop at.
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then fuzz=(cargo +nightly fuzz); else export RUSTC_BOOTSTRAP=1; fuzz=(cargo fuzz); fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0}
"${fuzz[@]}" build "$target"
bin=$(cargo metadata --format-version 1 --no-deps | sed 's/.*"target_directory":"\([^"]*\)".*/\1/')
bin=$bin/x86_64-unknown-linux-gnu/release/$target
if [ "$seconds" -gt 0 ]; then
  "${fuzz[@]}" run "$target" -- -max_total_time="$seconds" -timeout=10 -print_final_stats=1
fi
minimized=$(mktemp -d)
git ls-files "$dir" | grep -Ev '/[0-9a-f]{40}$' | xargs -r cp -t "$minimized"
"$bin" -set_cover_merge=1 -max_len="$max_len" "$minimized" "$dir"
rm -rf "$dir"
mv "$minimized" "$dir"
chmod 755 "$dir"
echo "$dir: $(find "$dir" -type f | wc -l) files, $(cat "$dir"/* | wc -c) bytes"
