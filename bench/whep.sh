#!/usr/bin/env bash
# WebRTC (WHEP) figures: `mplive bench --protocol whep` (str0m WHEP players in the bench process) against
# `mplive serve`, next to RTMP `mode=rtc` players of the same fixture on the same server build, and an offer flood.
# Prints a markdown table and the commands (docs/benchmarks.md, "WebRTC (WHEP)").
#
# The server runs on SERVER_CPU (default 1), the bench on BENCH_CPU (default 0). A fresh server per row; every
# wait is bounded; every process started here is stopped on exit.
#
# usage: bench/whep.sh [--players "50 200"] [--seconds S] [--flood N]
# env:   MPLIVE (the binary; default $CARGO_TARGET_DIR/release/mplive or target/release/mplive), SERVER_CPU,
#        BENCH_CPU, FLOOD_MAX_SESSIONS (the flood server's webrtc.max_sessions, default 200)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PLAYER_COUNTS="50 200"
SECONDS_PER_ROW=15
FLOOD=500
SERVER_CPU=${SERVER_CPU:-1}
BENCH_CPU=${BENCH_CPU:-0}
FLOOD_MAX_SESSIONS=${FLOOD_MAX_SESSIONS:-200}
while [ $# -gt 0 ]; do
  case "$1" in
    --players) PLAYER_COUNTS=$2; shift 2 ;;
    --seconds) SECONDS_PER_ROW=$2; shift 2 ;;
    --flood) FLOOD=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
MPLIVE=${MPLIVE:-${CARGO_TARGET_DIR:-$ROOT/target}/release/mplive}
[ -x "$MPLIVE" ] || { echo "no $MPLIVE: cargo build --release -p mplive-cli first" >&2; exit 1; }
command -v jq >/dev/null || { echo "jq is needed" >&2; exit 1; }
FIXTURE=bench/fixtures/hd-30s.flv
bench/make-fixture.sh "$FIXTURE"

TMP=$(mktemp -d /tmp/mplive-whep.XXXXXX)
SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
trap 'stop_server; rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM
log() { echo "== $*" >&2; }

"$MPLIVE" app set live --push-auth off --data-dir "$TMP/data" --init >/dev/null
start_server() { # max_sessions
  rm -f "$TMP/ready.json"
  printf '[webrtc]\nmax_sessions = %s\n' "$1" >"$TMP/mplive.toml"
  MPLIVE_MAX_CONNECTIONS_PER_ADDRESS=0 MPLIVE_LOG=warn taskset -c "$SERVER_CPU" "$MPLIVE" serve \
    --config "$TMP/mplive.toml" --rtmp-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --data-dir "$TMP/data" \
    --ready-file "$TMP/ready.json" >"$TMP/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do [ -s "$TMP/ready.json" ] && break; sleep 0.1; done
  [ -s "$TMP/ready.json" ] || { echo "mplive serve did not start:" >&2; cat "$TMP/server.log" >&2; exit 1; }
  RTMP_ADDR=$(jq -r .rtmp "$TMP/ready.json")
  HTTP_PORT=$(jq -r .http "$TMP/ready.json" | sed 's/.*://')
}

row() { # label json: one markdown row
  jq -r --arg l "$1" '"| \($l) | \(.players.playing_at_end)/\(.players.requested) | \(.players.failed) | \(.delivered.mbps*10|round/10) | \(.server.cpu_ms_per_mb*100|round/100) | \(.server.cpu_percent_of_one_core|round)% | \(.server.rss_per_player_kib|round) | \(.first_keyframe_ms.p50_ms) | \(.latency_ms.p50_ms) / \(.latency_ms.p95_ms) / \(.latency_ms.p99_ms) | \(.video_gap_max_ms.p99_ms) | \(.bench.cpu_percent_of_one_core|round)%\(if .bench.saturated then " (saturated)" else "" end) |"' "$2"
}

ROWS=()
COMMANDS=()
bench() { # label players protocol-args...
  local label=$1 players=$2
  shift 2
  start_server 1000
  local cmd=(taskset -c "$BENCH_CPU" "$MPLIVE" bench --url "rtmp://$RTMP_ADDR/live/bench" --fixture "$FIXTURE"
    --players "$players" --seconds "$SECONDS_PER_ROW" --ramp-ms 2000 --http-port "$HTTP_PORT"
    --server-pid "$SERVER_PID" --json "$@")
  log "$label: ${cmd[*]}"
  COMMANDS+=("${cmd[*]//$TMP/\$TMP}")
  if timeout $((SECONDS_PER_ROW + 60)) "${cmd[@]}" >"$TMP/$label.json"; then
    ROWS+=("$(row "$label" "$TMP/$label.json")")
  else
    echo "$label: the bench failed" >&2
  fi
  stop_server
}

for n in $PLAYER_COUNTS; do
  bench "whep-$n" "$n" --protocol whep
  bench "rtmp-rtc-$n" "$n" --protocol rtmp --mode rtc
done

# The flood: one WHEP viewer with FLOOD offers from 2 s into its window, and an RTMP rtc viewer of the same
# stream in a bench of its own over the same seconds.
start_server "$FLOOD_MAX_SESSIONS"
flood=(taskset -c "$BENCH_CPU" "$MPLIVE" bench --url "rtmp://$RTMP_ADDR/live/bench" --fixture "$FIXTURE"
  --players 1 --seconds 10 --protocol whep --http-port "$HTTP_PORT" --offer-flood "$FLOOD" --offer-flood-at-ms 2000
  --server-pid "$SERVER_PID" --json)
viewer=(taskset -c "$BENCH_CPU" "$MPLIVE" bench --url "rtmp://$RTMP_ADDR/live/bench" --no-publish --players 1
  --seconds 10 --mode rtc --json)
log "flood: ${flood[*]}"
COMMANDS+=("printf '[webrtc]\\nmax_sessions = $FLOOD_MAX_SESSIONS\\n' > \$TMP/mplive.toml  # the flood server's --config")
COMMANDS+=("${flood[*]}" "sleep 3.5; ${viewer[*]}  # at the same time")
timeout 90 "${flood[@]}" >"$TMP/flood.json" &
FLOOD_PID=$!
sleep 3.5 # the publisher's warm-up
timeout 60 "${viewer[@]}" >"$TMP/viewer.json" || echo "the RTMP viewer failed" >&2
wait "$FLOOD_PID" || echo "the flood bench failed" >&2
stop_server

echo
echo "| row | playing | failed | Mbps | server CPU ms/MB | server CPU (one core) | RSS/player KiB | first keyframe p50 ms | latency p50 / p95 / p99 ms | longest video gap p99 ms | bench CPU |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for r in "${ROWS[@]}"; do echo "$r"; done
echo
jq -c '{flood: .offer_flood, whep_viewer: {playing: .players.playing_at_end, failed: .players.failed,
  gap_max_ms: .video_gap_max_ms.max_ms, latency_p99_ms: .latency_ms.p99_ms}}' "$TMP/flood.json" || true
jq -c '{rtmp_rtc_viewer: {playing: .players.playing_at_end, failed: .players.failed,
  gap_max_ms: .video_gap_max_ms.max_ms}}' "$TMP/viewer.json" || true
echo
for c in "${COMMANDS[@]}"; do echo "    ${c//$ROOT\//}"; done
