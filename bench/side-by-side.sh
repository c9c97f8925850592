#!/usr/bin/env bash
# Side-by-side benchmark: the same fixture and the same players against nginx-rtmp and against `mplive serve`
# (default `live` policy and `mode=rtc`, over RTMP and HTTP-FLV), then a markdown table in docs/benchmarks.md
# between <!-- bench:begin --> and <!-- bench:end -->.
#
# The machine this was written for has 2 cores: the server runs on one (SERVER_CPU, default 1) and the bench on
# the other (BENCH_CPU, default 0). Everything listens on 127.0.0.1, every wait is bounded, and every process
# started here is stopped on exit.
#
# usage: bench/side-by-side.sh [--players N] [--seconds S] [--ramp-ms MS] [--processes K] [--no-docs]
# env:   PLAYERS, BENCH_SECONDS, RAMP_MS, PROCESSES, SERVER_CPU, BENCH_CPU, CARGO_TARGET_DIR,
#        MPLIVE_SERVER (another `mplive` binary to serve with, e.g. an older build for a before/after comparison;
#        the bench is always the one built here)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PLAYERS=${PLAYERS:-500}
BENCH_SECONDS=${BENCH_SECONDS:-30}
RAMP_MS=${RAMP_MS:-2000}
PROCESSES=${PROCESSES:-1}
SERVER_CPU=${SERVER_CPU:-1}
BENCH_CPU=${BENCH_CPU:-0}
WRITE_DOCS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --players) PLAYERS=$2; shift 2 ;;
    --seconds) BENCH_SECONDS=$2; shift 2 ;;
    --ramp-ms) RAMP_MS=$2; shift 2 ;;
    --processes) PROCESSES=$2; shift 2 ;;
    --no-docs) WRITE_DOCS=0; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
for v in PLAYERS BENCH_SECONDS RAMP_MS PROCESSES SERVER_CPU BENCH_CPU; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "$v must be a number, got ${!v}" >&2; exit 2; }
done

FIXTURE=bench/fixtures/hd-30s.flv
NGINX_MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so
DOC=docs/benchmarks.md

log() { echo "== $*" >&2; }
sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- tools -------------------------------------------------------------------------------------------------
missing=()
command -v nginx >/dev/null || missing+=(nginx)
[ -f "$NGINX_MODULE" ] || missing+=(libnginx-mod-rtmp)
command -v ffmpeg >/dev/null || missing+=(ffmpeg)
command -v jq >/dev/null || missing+=(jq)
command -v taskset >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  sudo_if_needed timeout 600 apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- fixture: 1 Mbps H.264 + AAC, 540x960, 25 fps, 1 s GOP (like live-pusher HD) --------------------------
bench/make-fixture.sh "$FIXTURE"

# --- mplive ------------------------------------------------------------------------------------------------
log "building mplive (release)"
timeout 3600 cargo build --release -p mplive-cli -p mplive-floor --quiet
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
MPLIVE=$TARGET_DIR/release/mplive
[ -x "$MPLIVE" ] || { echo "no $MPLIVE after the build" >&2; exit 1; }
SERVER_BIN=${MPLIVE_SERVER:-$MPLIVE}
[ -x "$SERVER_BIN" ] || { echo "MPLIVE_SERVER=$SERVER_BIN is not an executable" >&2; exit 2; }

# --- housekeeping --------------------------------------------------------------------------------------------
TMP=$(mktemp -d /tmp/mplive-side-by-side.XXXXXX)
SERVER_PID=""
NGINX_MASTER=""
cleanup() {
  stop_server
  rm -rf "$TMP"
}
stop_server() {
  if [ -n "$NGINX_MASTER" ]; then
    kill -QUIT "$NGINX_MASTER" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$NGINX_MASTER" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$NGINX_MASTER" 2>/dev/null || true
    NGINX_MASTER=""
  fi
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Enough descriptors for every player on both sides.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need_fds=$((PLAYERS + 256))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need_fds" ]; then
  echo "open file limit $(ulimit -n) is below the $need_fds that $PLAYERS players need" >&2
  exit 1
fi

# shellcheck source=../scripts/free-port.sh
. scripts/free-port.sh

wait_port() { # port: wait up to 10 s for a listener
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$1 after 10 s" >&2
  return 1
}

COMMANDS=()
RESULTS=()
record() { # the command as documented: temp dir as $TMP, binary relative to the repository
  local c=$*
  c=${c//$TMP/\$TMP}
  COMMANDS+=("${c//$ROOT\//}")
}
run_bench() { # label url server_pid extra-args...: runs the bench pinned to BENCH_CPU, JSON into $TMP/label.json
  local label=$1 url=$2 pid=$3
  shift 3
  local cmd=(taskset -c "$BENCH_CPU" "$MPLIVE" bench --url "$url" --fixture "$FIXTURE" --players "$PLAYERS"
    --seconds "$BENCH_SECONDS" --ramp-ms "$RAMP_MS" --processes "$PROCESSES" --server-pid "$pid" --json "$@")
  log "$label: ${cmd[*]}"
  record "${cmd[*]}"
  if timeout $((BENCH_SECONDS + 120)) "${cmd[@]}" >"$TMP/$label.json"; then
    RESULTS+=("$label")
    jq -c '{players: .players.playing_at_end, failed: .players.failed, mbps: .delivered.mbps,
            cpu_ms_per_mb: .server.cpu_ms_per_mb, latency_p50: .latency_ms.p50_ms}' "$TMP/$label.json" >&2
  else
    echo "$label: the bench failed" >&2
  fi
}

# --- nginx-rtmp ----------------------------------------------------------------------------------------------
log "nginx-rtmp"
NGINX_PORT=$(free_port)
mkdir -p "$TMP/nginx/logs"
cat >"$TMP/nginx/nginx.conf" <<EOF
load_module $NGINX_MODULE;
worker_processes 1;
worker_rlimit_nofile $((PLAYERS * 2 + 1024));
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections $((PLAYERS + 256)); }
rtmp {
    server {
        listen 127.0.0.1:$NGINX_PORT;
        application live { live on; }
    }
}
EOF
record "taskset -c $SERVER_CPU nginx -p $TMP/nginx -e $TMP/nginx/error.log -c $TMP/nginx/nginx.conf  # conf below"
taskset -c "$SERVER_CPU" nginx -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" \
  >"$TMP/nginx/out.log" 2>&1 &
NGINX_MASTER=$!
wait_port "$NGINX_PORT"
NGINX_WORKER=""
for _ in $(seq 50); do
  NGINX_WORKER=$(pgrep -P "$NGINX_MASTER" | head -n1 || true)
  [ -n "$NGINX_WORKER" ] && break
  sleep 0.1
done
[ -n "$NGINX_WORKER" ] || { echo "no nginx worker process" >&2; exit 1; }
run_bench nginx-live-rtmp "rtmp://127.0.0.1:$NGINX_PORT/live/bench" "$NGINX_WORKER"
stop_server

# --- mplive --------------------------------------------------------------------------------------------------
start_mplive() {
  rm -f "$TMP/ready.json"
  # Every player comes from 127.0.0.1: no per-address bound (an environment variable, which an older
  # MPLIVE_SERVER without the setting ignores).
  MPLIVE_MAX_CONNECTIONS_PER_ADDRESS=0 MPLIVE_LOG=warn taskset -c "$SERVER_CPU" "$SERVER_BIN" serve --rtmp-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 \
    --data-dir "$TMP/mplive-data" --ready-file "$TMP/ready.json" >"$TMP/mplive.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do [ -s "$TMP/ready.json" ] && break; sleep 0.1; done
  [ -s "$TMP/ready.json" ] || { echo "mplive serve did not start:" >&2; cat "$TMP/mplive.log" >&2; exit 1; }
  RTMP_ADDR=$(jq -r .rtmp "$TMP/ready.json")
  HTTP_ADDR=$(jq -r .http "$TMP/ready.json")
}
# nginx-rtmp checks nothing; open mplive's app `live` too, so both do the same work per publish.
"$SERVER_BIN" app set live --push-auth off --data-dir "$TMP/mplive-data" --init >/dev/null
record "$SERVER_BIN app set live --push-auth off --data-dir $TMP/mplive-data --init"
record "MPLIVE_MAX_CONNECTIONS_PER_ADDRESS=0 MPLIVE_LOG=warn taskset -c $SERVER_CPU $SERVER_BIN serve --rtmp-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --data-dir $TMP/mplive-data --ready-file $TMP/ready.json  # restarted for each row"
for protocol in rtmp flv; do
  for mode in live rtc; do
    log "mplive $mode $protocol"
    start_mplive
    run_bench "mplive-$mode-$protocol" "rtmp://$RTMP_ADDR/live/bench" "$SERVER_PID" \
      --protocol "$protocol" --mode "$mode" --http-url "http://$HTTP_ADDR/live/bench.flv"
    stop_server
  done
done

# --- the write floor: the same writes to as many sockets, no server logic (bench/floor) -----------------------
FLOOR=$TARGET_DIR/release/floor
for mode in live rtc; do
  log "floor $mode flv"
  rm -f "$TMP/floor.json"
  record "taskset -c $SERVER_CPU $FLOOR --fixture $FIXTURE --policy $mode --ready-file $TMP/floor.json --send-times $TMP/floor-sends.txt --seconds $((BENCH_SECONDS + 120))"
  taskset -c "$SERVER_CPU" "$FLOOR" --fixture "$FIXTURE" --policy "$mode" --ready-file "$TMP/floor.json" \
    --send-times "$TMP/floor-sends.txt" --seconds $((BENCH_SECONDS + 120)) >"$TMP/floor.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do [ -s "$TMP/floor.json" ] && break; sleep 0.1; done
  [ -s "$TMP/floor.json" ] || { echo "the floor did not start:" >&2; cat "$TMP/floor.log" >&2; exit 1; }
  # The floor plays the fixture itself: the bench only plays, and takes the send times from the floor's file.
  run_bench "floor-$mode-flv" "rtmp://127.0.0.1:1/live/bench" "$SERVER_PID" --no-publish --send-times "$TMP/floor-sends.txt" \
    --protocol flv --mode "$mode" --http-url "http://$(jq -r .http "$TMP/floor.json")/live/bench.flv"
  stop_server
done

# --- report --------------------------------------------------------------------------------------------------
NGINX_CPU_MB=null
[ -f "$TMP/nginx-live-rtmp.json" ] && NGINX_CPU_MB=$(jq '.server.cpu_ms_per_mb // null' "$TMP/nginx-live-rtmp.json")

row() { # server label
  local server=$1 label=$2 file=$TMP/$2.json
  if [ ! -s "$file" ]; then
    echo "| $server | ${label#*-} | run failed | | | | | | | | | |"
    return
  fi
  jq -r --arg server "$server" --argjson base "$NGINX_CPU_MB" '
    def f(d): if . == null then "n/a"
      else ((. * pow(10; d)) | round | tostring) as $s
        | (if ($s | length) <= d then ([range(0; d + 1 - ($s | length))] | map("0") | join("")) + $s else $s end) as $p
        | if d == 0 then $p else $p[0:($p | length) - d] + "." + $p[($p | length) - d:] end
      end;
    [ $server, .mode, .protocol, (.players.requested | tostring),
      (.server.cpu_ms_per_mb | f(3)),
      (if $base == null or .server.cpu_ms_per_mb == null or $base == 0 then "n/a"
       else ((.server.cpu_ms_per_mb / $base) | f(2)) + "x" end),
      ((.latency_ms.p50_ms | f(1)) + " / " + (.latency_ms.p95_ms | f(1)) + " / " + (.latency_ms.p99_ms | f(1))),
      (.first_keyframe_ms.p95_ms | f(1)),
      (if .start_behind_live_ms == null then "n/a" else ((.start_behind_live_ms.p50_ms | f(0)) + " / " + (.start_behind_live_ms.max_ms | f(0))) end),
      (.server.rss_per_player_kib | f(1)),
      (.delivered.mbps | f(1)),
      ((.players.failed | tostring) + (if .players.first_error then " (" + (.players.first_error | gsub("\\|"; "/")) + ")" else "" end)),
      ((.bench.cpu_percent_of_one_core | f(0)) + "%" + (if .bench.saturated then " saturated" else "" end))
    ] | "| " + join(" | ") + " |"' "$file"
}

{
  echo "<!-- bench:begin -->"
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), Linux $(uname -r)); server pinned to core $SERVER_CPU, bench to core $BENCH_CPU."
  echo "$("$SERVER_BIN" --version) (server$([ "$SERVER_BIN" = "$MPLIVE" ] || echo " $SERVER_BIN")), $(nginx -v 2>&1 | sed 's/^nginx version: //') with libnginx-mod-rtmp."
  echo "Fixture \`$FIXTURE\`: 1 Mbps H.264 540x960 25 fps, 1 s GOP + 64 kbps AAC, published in real time by the bench;"
  echo "$PLAYERS players started over $RAMP_MS ms, measured for $BENCH_SECONDS s from the first player's start."
  echo
  echo "| server | policy | protocol | players | server CPU ms/MB | vs nginx-rtmp | latency p50 / p95 / p99 ms | first keyframe p95 ms | start behind live p50 / max ms | RSS/player KiB | Mbps | failed | bench CPU |"
  echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"
  row nginx-rtmp nginx-live-rtmp
  echo "| nginx-rtmp | live | flv | n/a | n/a (no HTTP-FLV) | | | | | | | | |"
  for protocol in rtmp flv; do
    for mode in live rtc; do
      row mplive "mplive-$mode-$protocol"
    done
  done
  for mode in live rtc; do
    row "floor" "floor-$mode-flv"
  done
  echo
  echo "CPU ms/MB: server CPU time (utime + stime of the server process) over the window per MB delivered to all"
  echo "players. Latency: publisher send to player receive, matched by payload content; frames of the GOP-cache burst"
  echo "(sent before a player's play request) are excluded. RSS/player: (RSS at the end - RSS with only the"
  echo "publisher) / players. nginx-rtmp has no GOP cache, so its first keyframe waits for the next one."
  echo "floor: \`bench/floor\`, mplive's writes (one shared FLV tag per frame; \`live\`: one writev per player per 80 ms"
  echo "window, \`rtc\`: one per frame) to as many loopback sockets, with no server logic and no ingest; it plays the"
  echo "fixture itself and its latency is from the instant a frame is due there (\`--send-times\`): what the write"
  echo "pattern alone costs, without mplive's ingest hop. mplive's user-space overhead is its CPU/MB over the floor's."
  echo
  echo "Commands (\`bench/side-by-side.sh --players $PLAYERS --seconds $BENCH_SECONDS --ramp-ms $RAMP_MS --processes $PROCESSES\`):"
  echo
  echo '```sh no-run'
  printf '%s\n' "${COMMANDS[@]}"
  echo '```'
  echo
  echo "nginx.conf:"
  echo
  echo '```nginx'
  sed "s|$TMP|\$TMP|g" "$TMP/nginx/nginx.conf"
  echo '```'
  echo "<!-- bench:end -->"
} >"$TMP/section.md"

cat "$TMP/section.md"
if [ "$WRITE_DOCS" = 1 ]; then
  if [ ! -f "$DOC" ]; then
    printf '# Benchmarks\n\nWritten by `bench/side-by-side.sh`; everything between the markers is replaced on each run.\n\n' >"$DOC"
  fi
  if grep -q '<!-- bench:begin -->' "$DOC" && grep -q '<!-- bench:end -->' "$DOC"; then
    awk -v section="$TMP/section.md" '
      /<!-- bench:begin -->/ { while ((getline line < section) > 0) print line; skip = 1; next }
      /<!-- bench:end -->/ { skip = 0; next }
      !skip { print }' "$DOC" >"$TMP/doc.md"
    cat "$TMP/doc.md" >"$DOC"
  else
    cat "$TMP/section.md" >>"$DOC"
  fi
  log "wrote $DOC"
fi
[ ${#RESULTS[@]} -eq 7 ] || { echo "some runs failed: only ${RESULTS[*]:-none} succeeded" >&2; exit 1; }
