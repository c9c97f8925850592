#!/bin/bash
# The server's CPU while one Chromium WHEP viewer plays an RTMP push (H.264 + AAC) with its audio (the stream's
# AAC transcoded to Opus, docs/webrtc.md) or video only (--video-only offer): the difference is what the audio
# costs. Run from the repository root after `cargo build --release -p mplive-cli` and the Chromium test (which
# makes the fixture and needs tests/browser/node_modules). docs/benchmarks.md, "AAC <-> Opus transcode per stream".
#
# usage: bench/whep-audio-cost.sh audio|video-only SECONDS
set -u
BIN=${BIN:-target/release/mplive}
ROOT=$PWD
BIN=$(realpath $BIN)
D=$(mktemp -d)
cat > $D/mplive.toml <<T
rtmp_addr = "127.0.0.1:0"
http_addr = "127.0.0.1:0"
catalog_refresh_ms = 200
T
export MPLIVE_DATA_DIR=$D/data MPLIVE_CONFIG=$D/mplive.toml MPLIVE_ADMIN_TOKEN=measure-token
unset MPLIVE_DATABASE_URL
$BIN app set live --push-auth off --init >/dev/null
$BIN serve --ready-file $D/ready.json 2>$D/server.log >/dev/null &
SPID=$!
while [ ! -f $D/ready.json ]; do sleep 0.1; done
sleep 0.3
RTMP=$(python3 -c "import json;v=json.load(open('$D/ready.json'));print(v.get('rtmp') or v)")
HTTP=$(python3 -c "import json;v=json.load(open('$D/ready.json'));print(v.get('http') or v)")
ffmpeg -v error -re -stream_loop -1 -i "${FIXTURE:-$ROOT/target/tmp/fixtures/av-10s.flv}" -c copy -f flv rtmp://$RTMP/live/m &
FPID=$!
sleep 3
cd "$ROOT/tests/browser"
EXTRA=""; [ "$1" = video-only ] && EXTRA=--video-only
node whep.mjs http://$HTTP/live/m/whep --seconds $2 $EXTRA > $D/report.json &
NPID=$!
sleep 4  # connected and past the GOP burst
T0=$(awk '{print $14+$15}' /proc/$SPID/stat); W0=$(date +%s.%N)
sleep $(( $2 - 2 ))
T1=$(awk '{print $14+$15}' /proc/$SPID/stat); W1=$(date +%s.%N)
wait $NPID
python3 -c "
import json
hz=100; cpu=($T1-$T0)/hz; wall=$W1-$W0
r=json.load(open('$D/report.json'))
print('$1', 'server CPU %.1f ms/s' % (1000*cpu/wall), 'decoded/s', round(r.get('decodedPerSecond',0),1), 'audio samples/s', round(r.get('audioSamplesPerSecond',0)), 'concealed', r.get('audioConcealedSamples'))
"
kill $FPID; kill $SPID; wait 2>/dev/null
