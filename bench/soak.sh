#!/usr/bin/env bash
# Soak and churn benchmark (not in CI): `mplive bench soak` against a fresh `mplive serve` for --minutes, then
# `mplive bench churn` for --cycles connect / play / disconnect cycles against a fresh server; both reports (tables
# and JSON) go to $OUT (default bench/soak-results/). Everything listens on 127.0.0.1, every wait is bounded, and
# every process started here is stopped on exit.
#
# usage: bench/soak.sh [--minutes M] [--players N] [--cycles C] [--concurrency K] [--sample-secs S] [--no-churn]
#                      [--no-soak]
# env:   CARGO_TARGET_DIR, OUT, GRACE_MS (republish grace of the soak's app, default 15000), SERVER_CPU, BENCH_CPU
#        (taskset cores; unset: no pinning)
# long form: bench/soak.sh --minutes 60 --cycles 100000
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

MINUTES=60
PLAYERS=200
CYCLES=100000
CONCURRENCY=16
SAMPLE_SECS=60
RUN_SOAK=1
RUN_CHURN=1
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) MINUTES=$2; shift 2 ;;
    --players) PLAYERS=$2; shift 2 ;;
    --cycles) CYCLES=$2; shift 2 ;;
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --sample-secs) SAMPLE_SECS=$2; shift 2 ;;
    --no-churn) RUN_CHURN=0; shift ;;
    --no-soak) RUN_SOAK=0; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
GRACE_MS=${GRACE_MS:-15000}
for v in MINUTES PLAYERS CYCLES CONCURRENCY SAMPLE_SECS GRACE_MS; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "$v must be a number, got ${!v}" >&2; exit 2; }
done
OUT=${OUT:-$ROOT/bench/soak-results}
FIXTURE=bench/fixtures/hd-30s.flv

log() { echo "== $*" >&2; }
command -v jq >/dev/null || { echo "jq is needed (apt-get install jq)" >&2; exit 1; }
pin() { # core: a taskset prefix when the core is set
  if [ -n "${1:-}" ] && command -v taskset >/dev/null; then echo "taskset -c $1"; fi
}

bench/make-fixture.sh "$FIXTURE"
log "building mplive (release)"
timeout 3600 cargo build --release -p mplive-cli --quiet
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
MPLIVE=$TARGET_DIR/release/mplive
[ -x "$MPLIVE" ] || { echo "no $MPLIVE after the build" >&2; exit 1; }

TMP=$(mktemp -d /tmp/mplive-soak.XXXXXX)
SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
cleanup() { stop_server; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# 200 players, their churn and the server's own sockets.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need_fds=$((PLAYERS * 2 + CONCURRENCY * 4 + 512))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need_fds" ]; then
  echo "open file limit $(ulimit -n) is below the $need_fds this run needs" >&2
  exit 1
fi

# shellcheck source=../scripts/free-port.sh
. scripts/free-port.sh

# A known admin token: the tool calls the API (kicks, forbids, /metrics) with it.
export MPLIVE_ADMIN_TOKEN="soak-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
HOOK_PORT=$(free_port)
DATA=$TMP/data
mkdir -p "$OUT"

# Settings for the load: no per-address bound on connections, every stream segmented from its publish (HLS and LL-HLS viewers find a segment at once),
# no per-address bound on HLS viewers (all 100 HLS viewers, and the churn's new ones waiting out their expiry,
# come from 127.0.0.1 with distinct User-Agents), webhook attempts that time out fast.
cat >"$TMP/mplive.toml" <<EOF
# Every player comes from 127.0.0.1.
max_connections_per_address = 0

[hls]
always = true
low_latency = true
max_viewers_per_address = 0

[webhooks]
queue = 100000
timeout_secs = 5

[hub]
republish_grace_ms = $GRACE_MS
EOF

"$MPLIVE" app set live --push-auth off --republish-grace-ms "$GRACE_MS" \
  --callback-url "http://127.0.0.1:$HOOK_PORT/hooks" --data-dir "$DATA" --init >/dev/null
# The churn's app: no callbacks (100 000 cycles would be 200 000 webhooks to a receiver that is not running).
"$MPLIVE" app create churn --push-auth off --data-dir "$DATA" >/dev/null

start_server() {
  rm -f "$TMP/ready.json"
  # shellcheck disable=SC2046
  MPLIVE_LOG=warn $(pin "${SERVER_CPU:-}") "$MPLIVE" serve --config "$TMP/mplive.toml" --rtmp-addr 127.0.0.1:0 \
    --http-addr 127.0.0.1:0 --data-dir "$DATA" --ready-file "$TMP/ready.json" >>"$TMP/mplive.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do [ -s "$TMP/ready.json" ] && break; sleep 0.1; done
  [ -s "$TMP/ready.json" ] || { echo "mplive serve did not start:" >&2; cat "$TMP/mplive.log" >&2; exit 1; }
  RTMP_ADDR=$(jq -r .rtmp "$TMP/ready.json")
  HTTP_ADDR=$(jq -r .http "$TMP/ready.json")
}

status=0
BENCH=$(pin "${BENCH_CPU:-}")
if [ "$RUN_SOAK" = 1 ]; then
  start_server
  log "soak: $MINUTES min, $PLAYERS players (server pid $SERVER_PID)"
  # shellcheck disable=SC2086
  cmd=($BENCH "$MPLIVE" bench soak --url "rtmp://$RTMP_ADDR/live/soak" --stream-b soak-b
    --http-url "http://$HTTP_ADDR/" --server-pid "$SERVER_PID" --fixture "$FIXTURE" --minutes "$MINUTES"
    --players "$PLAYERS" --sample-secs "$SAMPLE_SECS" --webhook-listen "127.0.0.1:$HOOK_PORT")
  echo "${cmd[*]}" | sed "s|$TMP|\$TMP|g; s|$ROOT/||g" >"$OUT/soak.command"
  # JSON on stdout, the progress lines and the table on stderr.
  timeout $((MINUTES * 60 + 600)) "${cmd[@]}" --json >"$OUT/soak.json" 2> >(tee "$OUT/soak.txt" >&2) || status=1
  grep -E "ERROR|panicked" "$TMP/mplive.log" | head -20 >"$OUT/soak.server-errors" || true
  stop_server
fi
if [ "$RUN_CHURN" = 1 ]; then
  start_server
  log "churn: $CYCLES cycles, $CONCURRENCY at once (server pid $SERVER_PID)"
  # shellcheck disable=SC2086
  cmd=($BENCH "$MPLIVE" bench churn --url "rtmp://$RTMP_ADDR/churn/c1" --http-url "http://$HTTP_ADDR/"
    --server-pid "$SERVER_PID" --fixture "$FIXTURE" --cycles "$CYCLES" --concurrency "$CONCURRENCY")
  echo "${cmd[*]}" | sed "s|$TMP|\$TMP|g; s|$ROOT/||g" >"$OUT/churn.command"
  timeout $((CYCLES / 10 + 900)) "${cmd[@]}" --json >"$OUT/churn.json" 2> >(tee "$OUT/churn.txt" >&2) || status=1
  grep -E "ERROR|panicked" "$TMP/mplive.log" | head -20 >"$OUT/churn.server-errors" || true
  stop_server
fi
cp "$TMP/mplive.toml" "$OUT/mplive.toml"
log "reports in $OUT (soak.json, churn.json, *.command, mplive.toml)"
exit $status
