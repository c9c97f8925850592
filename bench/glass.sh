#!/usr/bin/env bash
# Glass-to-glass latency RTMP -> WHEP -> Chromium on loopback: `mplive bench --publish-only` publishes a fixture
# whose pictures show their frame index as 16 bars (made here with ffmpeg's geq), headless Chromium
# (tests/browser/glass.mjs) plays the stream over WHEP and reads the index of every picture it presents; the
# latency of a picture is its expected display time minus its send time (the bench's
# publisher.first_frame_unix_ms + index x 40 ms). It covers RTMP ingest, the server, WebRTC, Chromium's jitter
# buffer, decode and the hand-over to the compositor (not the screen itself).
#
# --whip: WHIP -> WHEP instead (tests/browser/glass-whip.mjs): in one headless Chromium, a page draws the same bars
# on a 640x360 canvas every 40 ms and publishes it over WHIP (each draw captured: --request-frame), another page
# plays it over WHEP; the latency of a picture is its expected display time minus the wallclock of its draw. It
# covers the canvas capture, Chromium's encoder, WHIP ingest, the server, WHEP and the player's side as above. No
# fixture, no `mplive bench`.
#
# --b-frames: RTMP -> WHEP as the default, from a fixture with B-frames (x264 -bf 2, no zerolatency) that the server
# re-encodes without them for WebRTC (docs/webrtc.md, "B-frames"): the default's path plus the re-encoder. The send
# time of the picture showing N is still first_frame_unix_ms + N x 40 ms, though the bench sends in decode order.
#
# usage: bench/glass.sh [SECONDS]          (run from anywhere; needs the release build and tests/browser/node_modules)
#        bench/glass.sh --whip [SECONDS]
#        bench/glass.sh --b-frames [SECONDS]
# env:   MPLIVE (the binary; default $CARGO_TARGET_DIR/release/mplive or target/release/mplive)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WHIP=""
BFRAMES=""
if [ "${1:-}" = --whip ]; then WHIP=1; shift; fi
if [ "${1:-}" = --b-frames ]; then BFRAMES=1; shift; fi
SECONDS_PLAYED=${1:-10}
MPLIVE=${MPLIVE:-${CARGO_TARGET_DIR:-$ROOT/target}/release/mplive}
[ -x "$MPLIVE" ] || { echo "no $MPLIVE: cargo build --release -p mplive-cli first" >&2; exit 1; }
FIXTURE=bench/fixtures/glass-40s.flv
X264_TUNE=(-tune zerolatency)
if [ -n "$BFRAMES" ]; then FIXTURE=bench/fixtures/glass-bf-40s.flv; X264_TUNE=(-bf 2); fi
if [ -z "$WHIP" ] && [ ! -s "$FIXTURE" ]; then
  mkdir -p bench/fixtures
  # Frame N: bar k (of 16, full height) at luma 235 when bit k of N is set, else 16. No B-frames (-tune
  # zerolatency), or two (--b-frames).
  timeout 300 ffmpeg -hide_banner -loglevel error -y -f lavfi -i color=c=black:s=640x360:r=25 \
    -f lavfi -i sine=frequency=440:sample_rate=44100 -t 40 \
    -vf "geq=lum='if(mod(floor(N/pow(2\,floor(X*16/W)))\,2)\,235\,16)':cb=128:cr=128" \
    -c:v libx264 -preset veryfast "${X264_TUNE[@]}" -b:v 500k -g 25 -keyint_min 25 -sc_threshold 0 \
    -pix_fmt yuv420p -c:a aac -b:a 64k -f flv "$FIXTURE.tmp"
  mv "$FIXTURE.tmp" "$FIXTURE"
fi
TMP=$(mktemp -d /tmp/mplive-glass.XXXXXX)
SERVER_PID=""
trap '[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT
"$MPLIVE" app set live --push-auth off --data-dir "$TMP/data" --init >/dev/null
MPLIVE_LOG=warn "$MPLIVE" serve --rtmp-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --data-dir "$TMP/data" \
  --ready-file "$TMP/ready.json" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do [ -s "$TMP/ready.json" ] && break; sleep 0.1; done
RTMP=$(jq -r .rtmp "$TMP/ready.json")
HTTP=$(jq -r .http "$TMP/ready.json")
if [ -n "$WHIP" ]; then
  # The app `live` takes WHIP unsigned (push auth off). glass-whip.mjs prints the result (one JSON line).
  (cd tests/browser && timeout $((SECONDS_PLAYED + 60)) node glass-whip.mjs "http://$HTTP" live/glass \
    --seconds "$SECONDS_PLAYED" --request-frame)
  exit
fi
"$MPLIVE" bench --url "rtmp://$RTMP/live/glass" --fixture "$FIXTURE" --publish-only --warmup-ms 0 \
  --seconds $((SECONDS_PLAYED + 8)) --json >"$TMP/publisher.json" &
BENCH=$!
sleep 2.5 # published, a GOP cached
(cd tests/browser && timeout $((SECONDS_PLAYED + 60)) node glass.mjs "http://$HTTP/live/glass/whep" \
  --seconds "$SECONDS_PLAYED") >"$TMP/page.json"
wait "$BENCH"
python3 - "$TMP/publisher.json" "$TMP/page.json" <<'PY'
import json, sys
pub = json.load(open(sys.argv[1]))["publisher"]
page = json.load(open(sys.argv[2]))
t0 = pub["first_frame_unix_ms"]
# The first second is the cached GOP, presented at once to reach the live edge: left out.
frames = page["frames"][25:]
d = sorted(wall - (t0 + 40 * n) for n, wall in frames)
# A misread index would show as a picture out of order.
backwards = sum(1 for (a, _), (b, _) in zip(frames, frames[1:]) if b <= a)
pct = lambda q: d[min(len(d) - 1, int(q * len(d)))]
print(json.dumps({"pictures": len(d), "unreadable": page["unreadable"], "backwards": backwards, "first_frame_ms": page["firstFrameMs"],
                  "glass_to_glass_ms": {"p50": round(pct(0.5), 1), "p95": round(pct(0.95), 1),
                                        "max": round(d[-1], 1), "min": round(d[0], 1)},
                  "errors": page["errors"]}))
PY
