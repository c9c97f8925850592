#!/usr/bin/env bash
# Grow and minimize one fuzz corpus: fuzz TARGET for SECONDS (default 120) on nightly, minimize with cmin, then put
# back the named seeds (the corpus replays in crates/*/tests/corpus.rs assert on them; cmin renames files to their
# SHA-1) and drop the SHA-1 copies of them. Nothing leaves the machine. Run from anywhere:
#   fuzz/grow.sh rtmp_chunk 180
set -euo pipefail
cd "$(dirname "$0")/.."
target=$1
seconds=${2:-120}
dir=fuzz/corpus/$target
mkdir -p "$dir"
cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -timeout=10 -print_final_stats=1
cargo +nightly fuzz cmin "$target"
git ls-files "$dir" | grep -Ev '/[0-9a-f]{40}$' | while read -r seed; do
  git checkout -- "$seed"
  rm -f "$dir/$(sha1sum <"$seed" | cut -c1-40)"
done
echo "$dir: $(find "$dir" -type f | wc -l) files, $(du -sh "$dir" | cut -f1)"
