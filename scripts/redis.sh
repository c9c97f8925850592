#!/usr/bin/env bash
# A throwaway Redis server for tests.
#
#   scripts/redis.sh start DIR   start redis-server daemonized on a free port of 127.0.0.1, with its pidfile, log
#                                and working directory in DIR; prints one line, the URL redis://127.0.0.1:PORT
#   scripts/redis.sh stop DIR    stop it (DIR stays; remove it yourself)
#
# Nothing is persisted (no RDB snapshots, no AOF): a restart starts empty, which is what the tests want. No
# password and bound to 127.0.0.1 only: never expose it.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$2

server=$(command -v redis-server || true)
cli=$(command -v redis-cli || true)
if [ -z "$server" ] || [ -z "$cli" ]; then
  echo "$0: redis-server and redis-cli are needed; install them (apt-get install redis-server)" >&2
  exit 1
fi

# free_port: a TCP port of 127.0.0.1 that nothing listens on.
. "$(dirname "$0")/free-port.sh"

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
pidfile=$dir/redis.pid
log=$dir/redis.log
portfile=$dir/port

# Whether the server whose pid is in the pidfile still runs.
running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case "$cmd" in
start)
  if running; then
    echo "$0: a server already runs from $dir (pid $(cat "$pidfile")); stop it first: $0 stop $dir" >&2
    exit 1
  fi
  rm -f "$pidfile"
  # A port that is free now. Another program may take it before the server binds: then the server exits, so try
  # a few ports.
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    : >"$log"
    "$server" --daemonize yes --bind 127.0.0.1 --port "$port" --dir "$dir" --pidfile "$pidfile" \
      --logfile "$log" --save '' --appendonly no --protected-mode yes >/dev/null
    # daemonize returns at once; wait for an answer, or for the server to give up (a taken port).
    for _ in $(seq 1 100); do
      if [ "$("$cli" -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = "PONG" ]; then
        echo "$port" >"$portfile"
        echo "redis://127.0.0.1:$port"
        exit 0
      fi
      if [ -f "$pidfile" ] && ! running; then break; fi
      if [ ! -f "$pidfile" ] && grep -q 'Could not create server TCP listening socket' "$log" 2>/dev/null; then break; fi
      sleep 0.1
    done
    # Not answering after 10 s or exited: stop what may be left before the next attempt.
    if running; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
    rm -f "$pidfile"
  done
  echo "$0: the server did not start; see $log:" >&2
  tail -n 20 "$log" >&2
  exit 1
  ;;
stop)
  if ! running; then
    echo "$0: no server runs from $dir" >&2
    exit 0
  fi
  pid=$(cat "$pidfile")
  # SHUTDOWN NOSAVE through the client is the clean way; a signal if the server does not answer.
  if [ -f "$portfile" ]; then
    "$cli" -h 127.0.0.1 -p "$(cat "$portfile")" shutdown nosave >/dev/null 2>&1 || true
  fi
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; exit 0; }
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; exit 0; }
    sleep 0.1
  done
  echo "$0: the server (pid $pid) did not stop; kill -9 $pid" >&2
  exit 1
  ;;
*)
  usage
  ;;
esac
