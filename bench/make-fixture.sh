#!/usr/bin/env bash
# Makes the benchmarks' fixture when it is missing: 30 s of 1 Mbps H.264 + AAC, 540x960, 25 fps, 1 s GOP (like
# live-pusher HD). Used by bench/side-by-side.sh and bench/cluster.sh.
#
# usage: bench/make-fixture.sh FILE
set -euo pipefail
fixture=${1:?usage: $0 FILE}
[ -s "$fixture" ] && exit 0
command -v ffmpeg >/dev/null || { echo "$0: no $fixture and no ffmpeg to make it (apt-get install ffmpeg)" >&2; exit 1; }
echo "== generating $fixture" >&2
mkdir -p "$(dirname "$fixture")"
timeout 300 ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i testsrc2=size=540x960:rate=25 -f lavfi -i sine=frequency=440:sample_rate=44100 -t 30 \
  -c:v libx264 -preset veryfast -tune zerolatency -b:v 1000k -maxrate 1000k -bufsize 1000k \
  -g 25 -keyint_min 25 -sc_threshold 0 -pix_fmt yuv420p -c:a aac -b:a 64k -ar 44100 \
  -f flv "$fixture.tmp"
mv "$fixture.tmp" "$fixture"
