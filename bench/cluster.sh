#!/usr/bin/env bash
# Cluster mode on one machine: the latency one edge hop adds, and the CPU a relay costs on the edge and on the
# origin. Starts a throwaway redis-server and PostgreSQL (scripts/redis.sh, scripts/postgres.sh) and three nodes
# a (origin), b and c (edges), runs `mplive bench`, prints the figures as markdown and stops everything it started.
# Loopback only; every wait is bounded.
#
# usage: bench/cluster.sh [--players N] [--seconds S] [--repeat K]
#   --players N   players of the edge-hop runs (default 50)
#   --seconds S   length of each measurement (default 15)
#   --repeat K    rtc origin/edge latency pairs and CPU rounds (default 2); one live pair is always run
# env:   MPLIVE (default target/release/mplive; build it first: cargo build --release -p mplive-cli),
#        SERVER_CPU (core the nodes are pinned to, default 1), BENCH_CPU (the bench's core, default 0)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

MPLIVE=${MPLIVE:-target/release/mplive}
PLAYERS=50
SECONDS_=15
REPEAT=2
SERVER_CPU=${SERVER_CPU:-1}
BENCH_CPU=${BENCH_CPU:-0}
while [ $# -gt 0 ]; do
  case "$1" in
    --players) PLAYERS=$2; shift 2 ;;
    --seconds) SECONDS_=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
for v in PLAYERS SECONDS_ REPEAT SERVER_CPU BENCH_CPU; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "$v must be a number, got ${!v}" >&2; exit 2; }
done
[ "$SECONDS_" -ge 5 ] && [ "$SECONDS_" -le 120 ] || { echo "--seconds must be 5-120" >&2; exit 2; }

FIXTURE=bench/fixtures/hd-30s.flv
[ -x "$MPLIVE" ] || { echo "no $MPLIVE: cargo build --release -p mplive-cli, or set MPLIVE" >&2; exit 1; }
MPLIVE=$(cd "$(dirname "$MPLIVE")" && pwd)/$(basename "$MPLIVE")
for t in jq taskset redis-server python3; do
  command -v "$t" >/dev/null || { echo "$t is needed" >&2; exit 1; }
done
bench/make-fixture.sh "$FIXTURE"

log() { echo "== $*" >&2; }
TMP=$(mktemp -d /tmp/mplive-cluster-bench.XXXXXX)
chmod 755 "$TMP"  # postgres.sh runs the server as `postgres` when we are root
declare -A PID=() RTMP=() HTTP=()
REDIS_STARTED=0
PG_STARTED=0
BG=()
cleanup() {
  set +e
  for p in "${BG[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for n in "${!PID[@]}"; do kill -TERM "${PID[$n]}" 2>/dev/null; done
  for n in "${!PID[@]}"; do
    for _ in $(seq 50); do kill -0 "${PID[$n]}" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "${PID[$n]}" 2>/dev/null
    wait "${PID[$n]}" 2>/dev/null
  done
  [ "$PG_STARTED" = 1 ] && timeout 60 scripts/postgres.sh stop "$TMP/pg" >/dev/null 2>&1
  [ "$REDIS_STARTED" = 1 ] && timeout 30 scripts/redis.sh stop "$TMP/redis" >/dev/null 2>&1
  if [ -n "${KEEP_TMP:-}" ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CMDS=()
record() { local c=$*; c=${c//$TMP/\$TMP}; c=${c//$MPLIVE/\$MPLIVE}; CMDS+=("${c//$ROOT\//}"); }

# --- engines -------------------------------------------------------------------------------------------------
log "redis and PostgreSQL"
REDIS=$(timeout 60 scripts/redis.sh start "$TMP/redis"); REDIS_STARTED=1
PG=$(timeout 120 scripts/postgres.sh start "$TMP/pg"); PG_STARTED=1
record "scripts/redis.sh start $TMP/redis   # -> \$REDIS"
record "scripts/postgres.sh start $TMP/pg   # -> \$PG"
MPLIVE_DATABASE_URL=$PG timeout 60 "$MPLIVE" app set live --push-auth off --data-dir "$TMP/a" >/dev/null
record "MPLIVE_DATABASE_URL=\$PG $MPLIVE app set live --push-auth off --data-dir $TMP/a"

# --- nodes ---------------------------------------------------------------------------------------------------
start_node() { # id
  local n=$1
  mkdir -p "$TMP/$n"
  rm -f "$TMP/$n/ready.json"
  # Players and relays all come from 127.0.0.1: no per-address bound.
  MPLIVE_MAX_CONNECTIONS_PER_ADDRESS=0 MPLIVE_ADMIN_TOKEN=t MPLIVE_LOG=warn taskset -c "$SERVER_CPU" "$MPLIVE" serve --rtmp-addr 127.0.0.1:0 \
    --http-addr 127.0.0.1:0 --data-dir "$TMP/$n" --database-url "$PG" --redis-url "$REDIS" --node-id "$n" \
    --ready-file "$TMP/$n/ready.json" >"$TMP/$n/log" 2>&1 &
  PID[$n]=$!
  for _ in $(seq 150); do [ -s "$TMP/$n/ready.json" ] && break; sleep 0.1; done
  [ -s "$TMP/$n/ready.json" ] || { echo "node $n did not start:" >&2; cat "$TMP/$n/log" >&2; exit 1; }
  RTMP[$n]=$(jq -r .rtmp "$TMP/$n/ready.json")
  HTTP[$n]=$(jq -r .http "$TMP/$n/ready.json")
  record "MPLIVE_MAX_CONNECTIONS_PER_ADDRESS=0 MPLIVE_ADMIN_TOKEN=t MPLIVE_LOG=warn taskset -c $SERVER_CPU $MPLIVE serve --rtmp-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --data-dir $TMP/$n --database-url \$PG --redis-url \$REDIS --node-id $n --ready-file $TMP/$n/ready.json  # ${PID[$n]}: rtmp ${RTMP[$n]} http ${HTTP[$n]}"
}
for n in a b c; do start_node "$n"; done
log "nodes: a ${RTMP[a]}/${HTTP[a]}  b ${RTMP[b]}/${HTTP[b]}  c ${RTMP[c]}/${HTTP[c]}"
# Every node lists the others before the first run.
for _ in $(seq 100); do
  [ "$(curl -s -m 2 -H 'Authorization: Bearer t' "http://${HTTP[b]}/v1/nodes" | jq '.nodes | length' 2>/dev/null || echo 0)" = 3 ] && break
  sleep 0.1
done

# CPU ns of a process, all its threads (sum of /proc/PID/task/*/schedstat: ns, not clock ticks)
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'; }

bench() { # json-out args...: the bench pinned to BENCH_CPU
  local out=$1; shift
  local cmd=(taskset -c "$BENCH_CPU" "$MPLIVE" bench --fixture "$FIXTURE" --json "$@")
  record "${cmd[*]}"
  timeout $((SECONDS_ + 90)) "${cmd[@]}" >"$out"
}

# --- 1. edge hop latency (rtc, HTTP-FLV) ---------------------------------------------------------------------
declare -a HOP_ROWS=() PAIRS=()
hop_run() { # stream where mode
  local s=$1 where=$2 mode=$3 node=a
  [ "$where" = edge ] && node=b
  log "latency: $PLAYERS $mode players on $where ($s)"
  bench "$TMP/$s.json" --url "rtmp://${RTMP[a]}/live/$s" --players "$PLAYERS" --seconds "$SECONDS_" \
    --ramp-ms 1000 --protocol flv --mode "$mode" --http-url "http://${HTTP[$node]}/live/$s.flv" \
    --server-pid "${PID[$node]}"
  HOP_ROWS+=("$(jq -r --arg w "$where" --arg s "$s" '"| \($s) | \(.mode) | \($w) | \(.players.playing_at_end)/\(.players.requested) | \(.latency_ms.p50_ms*10|round/10) | \(.latency_ms.p95_ms*10|round/10) | \(.latency_ms.p99_ms*10|round/10) | \(.latency_ms.max_ms*10|round/10) | \(.first_keyframe_ms.p95_ms*10|round/10) | \(.delivered.mbps*10|round/10) | \(.players.failed) |"' "$TMP/$s.json")")
}
for i in $(seq "$REPEAT"); do
  hop_run "rtc${i}origin" origin rtc
  hop_run "rtc${i}edge" edge rtc
  PAIRS+=("rtc$i")
done
# The default policy once, for comparison.
hop_run live1origin origin live
hop_run live1edge edge live
PAIRS+=(live1)

# --- 2. CPU: origin alone, 1 and 2 edges, 1 direct player ----------------------------------------------------
# Each case: a publisher (the bench) on a, players as listed; CPU of every node over the same window of
# SECONDS_ s, starting 4 s after the publisher (relays started, GOP bursts sent).
declare -A CPU=()
LOADS=()
cpu_case() { # label bench-args...
  local label=$1; shift
  log "cpu: $label"
  record "taskset -c $BENCH_CPU $MPLIVE bench --fixture $FIXTURE --json --seconds $((SECONDS_ + 6)) --warmup-ms 1000 $*  # CPU of a, b, c: /proc/PID/task/*/schedstat over ${SECONDS_} s from 4 s after the start"
  bench "$TMP/$label.json" --seconds $((SECONDS_ + 6)) --warmup-ms 1000 "$@" &
  local bp=$!
  BG+=("$bp")
  sleep 4
  local n t0 t1
  declare -A c0=()
  t0=$(date +%s%N)
  for n in a b c; do c0[$n]=$(cpu_ns "${PID[$n]}"); done
  sleep "$SECONDS_"
  t1=$(date +%s%N)
  for n in a b c; do
    CPU[$label,$n]=$(awk -v c1="$(cpu_ns "${PID[$n]}")" -v c0="${c0[$n]}" -v t="$((t1 - t0))" \
      'BEGIN {printf "%.3f", (c1 - c0) / t * 100}')  # % of one core
  done
  wait "$bp" || echo "$label: the bench failed" >&2
  BG=()
  for n in a b c; do kill -0 "${PID[$n]}" 2>/dev/null || { echo "node $n died during $label:" >&2; tail -n 20 "$TMP/$n/log" >&2; exit 1; }; done
  LOADS+=("$label $(cut -d' ' -f1 /proc/loadavg)")
}
for r in $(seq "$REPEAT"); do
  cpu_case "idle$r" --url "rtmp://${RTMP[a]}/live/cpu0r$r" --publish-only
  cpu_case "direct1$r" --url "rtmp://${RTMP[a]}/live/cpu1r$r" --players 1 --protocol flv --mode rtc \
    --http-url "http://${HTTP[a]}/live/cpu1r$r.flv"
  cpu_case "edge1$r" --url "rtmp://${RTMP[a]}/live/cpu2r$r" --players 1 --protocol flv --mode rtc \
    --http-url "http://${HTTP[b]}/live/cpu2r$r.flv"
  # Two edges: the bench's player on b, a plain HTTP-FLV reader on c.
  (sleep 1.5; for _ in $(seq 20); do  # until the stream is published on a
     timeout $((SECONDS_ + 5)) curl -sf -o /dev/null "http://${HTTP[c]}/live/cpu3r$r.flv?mode=rtc"
     [ $? = 22 ] || break; sleep 0.2; done) &
  CURL=$!
  record "curl -sf -o /dev/null http://${HTTP[c]}/live/cpu3r$r.flv?mode=rtc  # second edge's player, during the next bench"
  cpu_case "edge2$r" --url "rtmp://${RTMP[a]}/live/cpu3r$r" --players 1 --protocol flv --mode rtc \
    --http-url "http://${HTTP[b]}/live/cpu3r$r.flv"
  wait "$CURL" 2>/dev/null || true
done
MBPS=$(jq '.delivered.mbps' "$TMP/edge11.json")

# --- report --------------------------------------------------------------------------------------------------
f() { awk -v x="$1" -v d="${2:-2}" 'BEGIN {printf "%.*f", d, x}'; }
echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), Linux $(uname -r)); nodes pinned to core $SERVER_CPU, bench to core $BENCH_CPU; $("$MPLIVE" --version)."
echo
echo "Edge hop, HTTP-FLV, $PLAYERS players, $SECONDS_ s each, publisher always on a; runs in this order:"
echo
echo "| run | policy | players on | playing | p50 ms | p95 ms | p99 ms | max ms | first keyframe p95 ms | Mbps | failed |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
printf '%s\n' "${HOP_ROWS[@]}"
echo
for p in "${PAIRS[@]}"; do
  jq -rn --slurpfile o "$TMP/${p}origin.json" --slurpfile e "$TMP/${p}edge.json" --arg p "$p" \
    '"- \($p): added by the hop (edge - origin): p50 \((($e[0].latency_ms.p50_ms - $o[0].latency_ms.p50_ms)*10|round)/10) ms, p99 \((($e[0].latency_ms.p99_ms - $o[0].latency_ms.p99_ms)*10|round)/10) ms"'
done
echo
echo "CPU, % of one core over $SECONDS_ s windows (stream $(f "$MBPS" 3) Mbps as one player receives it):"
echo
echo "| round | case | a (origin) | b | c |"
echo "|---|---|---:|---:|---:|"
for r in $(seq "$REPEAT"); do
  for l in idle direct1 edge1 edge2; do
    echo "| $r | $l | ${CPU[$l$r,a]} | ${CPU[$l$r,b]} | ${CPU[$l$r,c]} |"
  done
done
echo
sub() { awk -v x="$1" -v y="$2" 'BEGIN {print x - y}'; }
for r in $(seq "$REPEAT"); do
  edge=$(sub "${CPU[edge1$r,b]}" "${CPU[idle$r,b]}")
  edgec=$(sub "${CPU[edge2$r,c]}" "${CPU[idle$r,c]}")
  o1=$(sub "${CPU[edge1$r,a]}" "${CPU[idle$r,a]}")
  o2=$(sub "${CPU[edge2$r,a]}" "${CPU[idle$r,a]}")
  d1=$(sub "${CPU[direct1$r,a]}" "${CPU[idle$r,a]}")
  echo "- round $r: edge b (relay + 1 bench player) above idle $(f "$edge" 3) % of a core = $(f "$(awk -v x="$edge" -v m="$MBPS" 'BEGIN {print x / m}')" 3) % per Mbps ($(f "$(awk -v x="$edge" -v m="$MBPS" 'BEGIN {print x * 10 / (m / 8)}')" 1) ms CPU per MB relayed); edge c (relay + curl) $(f "$edgec" 3) % = $(f "$(awk -v x="$edgec" -v m="$MBPS" 'BEGIN {print x / m}')" 3) % per Mbps; origin a above publish-only: 1 direct player $(f "$d1" 3) %, 1 edge $(f "$o1" 3) %, 2 edges $(f "$o2" 3) % ($(f "$(awk -v x="$o2" 'BEGIN {print x / 2}')" 3) % per edge = $(f "$(awk -v x="$o2" -v m="$MBPS" 'BEGIN {print x / 2 / m}')" 3) % per edge per Mbps)"
done
echo
echo "1-minute load average after each CPU case (other processes on the machine show here): ${LOADS[*]}"
echo
echo "Commands:"
echo
echo '```sh'
printf '%s\n' "${CMDS[@]}"
echo '```'
