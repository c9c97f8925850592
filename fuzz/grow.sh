#!/usr/bin/env bash
# Grow and minimize one fuzz corpus: fuzz TARGET for SECONDS (default 120; 0 only minimizes) on nightly, then
# minimize: the named seeds stay (the corpus replays in crates/*/tests/corpus.rs assert on some of them), and a
# set-cover merge adds only the grown files that cover something more, each truncated to MAX_LEN bytes (default
# 16384). Nothing leaves the machine. Run from anywhere:
#   fuzz/grow.sh rtmp_chunk 180
set -euo pipefail
cd "$(dirname "$0")/.."
target=$1
seconds=${2:-120}
max_len=${MAX_LEN:-16384}
dir=fuzz/corpus/$target
mkdir -p "$dir"
cargo +nightly fuzz build "$target"
bin=$(cargo metadata --format-version 1 --no-deps | sed 's/.*"target_directory":"\([^"]*\)".*/\1/')
bin=$bin/x86_64-unknown-linux-gnu/release/$target
if [ "$seconds" -gt 0 ]; then
  cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -timeout=10 -print_final_stats=1
fi
minimized=$(mktemp -d)
git ls-files "$dir" | grep -Ev '/[0-9a-f]{40}$' | xargs -r cp -t "$minimized"
"$bin" -set_cover_merge=1 -max_len="$max_len" "$minimized" "$dir"
rm -rf "$dir"
mv "$minimized" "$dir"
chmod 755 "$dir"
echo "$dir: $(find "$dir" -type f | wc -l) files, $(cat "$dir"/* | wc -c) bytes"
