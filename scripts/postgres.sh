#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests.
#
#   scripts/postgres.sh start DIR   create a cluster in DIR (must not hold one yet, or hold one of ours) and start
#                                   it on a free port of 127.0.0.1; prints one line, the URL
#                                   postgres://mplive@127.0.0.1:PORT/postgres (trust auth, superuser mplive)
#   scripts/postgres.sh stop DIR    stop it (DIR stays; remove it yourself; `start DIR` starts it again)
#   PG_PORT=N scripts/postgres.sh start DIR   the same on port N (to come back at the same address)
#
# Durability is traded for speed (fsync off): never point this at data you care about. As root, the server runs
# as the `postgres` user (initdb refuses root), so DIR is created owned by it.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$2

# The newest installed server binaries.
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "$0: no PostgreSQL server found under /usr/lib/postgresql/*/bin; install it (apt-get install postgresql)" >&2
  exit 1
fi

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# free_port: a TCP port of 127.0.0.1 that nothing listens on.
. "$(dirname "$0")/free-port.sh"

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
data=$dir/data
log=$dir/postgres.log

case "$cmd" in
start)
  if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
      echo "$0: running as root needs the 'postgres' user to run the server as" >&2
      exit 1
    fi
    chown postgres: "$dir"
  fi
  if ! as_owner test -w "$dir"; then
    echo "$0: the server's user cannot write $dir (a parent directory closed to it?); use a directory under /tmp" >&2
    exit 1
  fi
  if [ -f "$data/postmaster.pid" ] && as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    echo "$0: a server already runs in $data; stop it first: $0 stop $dir" >&2
    exit 1
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    as_owner "$bindir/initdb" -D "$data" -U mplive --auth=trust --no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 || {
      echo "$0: initdb failed; see $dir/initdb.log:" >&2
      tail -n 20 "$dir/initdb.log" >&2
      exit 1
    }
  fi
  # A port that is free now. Another program may take it before the server binds: then the start fails, so try
  # a few ports.
  for attempt in 1 2 3 4 5; do
    # PG_PORT pins the port, so a test can stop the server and start it again at the same address.
    port=${PG_PORT:-$(free_port)}
    opts="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off"
    opts="$opts -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=16MB -c max_connections=200"
    if as_owner "$bindir/pg_ctl" -D "$data" -l "$log" -o "$opts" -w -t 30 start >/dev/null 2>&1; then
      break
    fi
    if [ "$attempt" -eq 5 ]; then
      echo "$0: the server did not start; see $log:" >&2
      tail -n 20 "$log" >&2
      exit 1
    fi
  done
  # pg_ctl -w waits for the socket; check that TCP connections are accepted too, which is what the tests use.
  for _ in $(seq 1 100); do
    if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -U mplive -d postgres; then
      echo "postgres://mplive@127.0.0.1:$port/postgres"
      exit 0
    fi
    sleep 0.1
  done
  echo "$0: the server started but does not accept connections on 127.0.0.1:$port; see $log" >&2
  exit 1
  ;;
stop)
  if [ ! -f "$data/postmaster.pid" ]; then
    echo "$0: no server runs in $data" >&2
    exit 0
  fi
  as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null
  ;;
*)
  usage
  ;;
esac
