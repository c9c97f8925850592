#!/usr/bin/env bash
# The kernel / user-space split of a server's CPU while it serves HTTP-FLV players: `perf record` samples the
# server for 10 s of steady state, and the share of its samples in the kernel is printed with the run's latency
# and CPU per MB. On a busy machine CPU ms/MB moves with the contention but this split hardly does, so it is how
# mplive's user-space overhead over `bench/floor` (the same writes, no server logic) was compared in one sitting:
# overhead = (1 + user/kernel of mplive) / (1 + user/kernel of the floor) - 1 (docs/benchmarks.md, "The write
# floor"). Everything listens on 127.0.0.1; the server and the bench are stopped on exit.
#
# usage: bench/cpu-split.sh mplive|floor live|rtc [PLAYERS]
# env:   CARGO_TARGET_DIR (where release `mplive` and `floor` are), MPLIVE_SERVER (another `mplive` binary to serve
#        with: an older build for a before/after pair), SERVER_CPU (default 1), BENCH_CPU (default 0),
#        PERF_OUT (keep the samples there, for `perf report -i PERF_OUT --no-children --sort sym`), PERF_ARGS
#        (more `perf record` options, e.g. `-g` for call graphs)
set -euo pipefail
cd "$(dirname "$0")/.."
KIND=${1:?usage: bench/cpu-split.sh mplive|floor live|rtc [PLAYERS]}
MODE=${2:?usage: bench/cpu-split.sh mplive|floor live|rtc [PLAYERS]}
PLAYERS=${3:-500}
case "$KIND" in mplive|floor) ;; *) echo "the first argument is mplive or floor, got $KIND" >&2; exit 2 ;; esac
case "$MODE" in live|rtc) ;; *) echo "the policy is live or rtc, got $MODE" >&2; exit 2 ;; esac
for tool in perf jq taskset; do
  command -v $tool >/dev/null || { echo "$tool is needed (apt-get install linux-perf jq util-linux)" >&2; exit 1; }
done
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
BENCH=$TARGET_DIR/release/mplive
SERVER=${MPLIVE_SERVER:-$BENCH}
FLOOR=$TARGET_DIR/release/floor
FIXTURE=bench/fixtures/hd-30s.flv
[ -x "$BENCH" ] || { echo "no $BENCH: cargo build --release -p mplive-cli -p mplive-floor" >&2; exit 1; }
bench/make-fixture.sh "$FIXTURE"

T=$(mktemp -d /tmp/mplive-split.XXXXXX)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"
ready() {
  for _ in $(seq 100); do [ -s "$T/ready.json" ] && return; sleep 0.1; done
  echo "the server did not start:" >&2; cat "$T/log" >&2; exit 1
}
if [ "$KIND" = floor ]; then
  [ -x "$FLOOR" ] || { echo "no $FLOOR: cargo build --release -p mplive-floor" >&2; exit 1; }
  taskset -c "${SERVER_CPU:-1}" "$FLOOR" --fixture "$FIXTURE" --policy "$MODE" --ready-file "$T/ready.json" \
    --seconds 60 >"$T/log" 2>&1 &
  PID=$!
  ready
  SOURCE=(--url rtmp://127.0.0.1:1/live/bench --no-publish)
else
  "$SERVER" app set live --push-auth off --data-dir "$T/d" --init >/dev/null 2>&1
  MPLIVE_MAX_CONNECTIONS_PER_ADDRESS=0 MPLIVE_LOG=warn taskset -c "${SERVER_CPU:-1}" "$SERVER" serve \
    --rtmp-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --data-dir "$T/d" --ready-file "$T/ready.json" >"$T/log" 2>&1 &
  PID=$!
  ready
  SOURCE=(--url "rtmp://$(jq -r .rtmp "$T/ready.json")/live/bench" --fixture "$FIXTURE")
fi
HTTP=$(jq -r .http "$T/ready.json")
( sleep 8; timeout 30 perf record ${PERF_ARGS:-} -F 2000 -p "$PID" -o "$T/perf.data" -- sleep 10 >/dev/null 2>&1 ) &
SAMPLER=$!
taskset -c "${BENCH_CPU:-0}" "$BENCH" bench "${SOURCE[@]}" --players "$PLAYERS" --seconds 20 --ramp-ms 2000 \
  --server-pid "$PID" --json --protocol flv --mode "$MODE" --http-url "http://$HTTP/live/bench.flv" >"$T/out.json"
wait "$SAMPLER"
[ -z "${PERF_OUT:-}" ] || cp "$T/perf.data" "$PERF_OUT"
KERNEL=$(perf report -i "$T/perf.data" --no-children --sort dso -g none 2>/dev/null \
  | awk '/kernel.kallsyms/ { gsub("%", "", $1); print $1 }')
[ -n "$KERNEL" ] || { echo "perf recorded nothing (perf_event_paranoid?)" >&2; exit 1; }
jq -c --arg kind "$KIND" --arg kernel "$KERNEL" '{server: $kind, mode, players: .players.playing_at_end,
  kernel_percent: ($kernel | tonumber), user_per_kernel: ((100 - ($kernel | tonumber)) / ($kernel | tonumber)),
  cpu_ms_per_mb: .server.cpu_ms_per_mb, p99_ms: .latency_ms.p99_ms}' "$T/out.json"
