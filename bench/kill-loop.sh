#!/usr/bin/env bash
# The long form of the kill -9 test (crates/cli/tests/crash.rs): publish churn from 4 RTMP publishers, the server
# killed with SIGKILL KILLS times at random moments, then every event checked at a real webhook receiver.
#
#   bench/kill-loop.sh            50 kills, a random seed (printed)
#   KILLS=200 bench/kill-loop.sh  more
#   SEED=123 bench/kill-loop.sh   replay a run
set -euo pipefail
cd "$(dirname "$0")/.."
export MPLIVE_KILL_LOOP_KILLS="${KILLS:-50}"
if [ -n "${SEED:-}" ]; then export MPLIVE_KILL_LOOP_SEED="$SEED"; fi
exec cargo test -p mplive-cli --test crash -- --nocapture
