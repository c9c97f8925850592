#!/usr/bin/env python3
"""HLS benchmark: mplive's classic and low-latency HLS next to nginx-rtmp's HLS, on loopback.

Measures, and prints as a markdown table (the figures in docs/benchmarks.md come from this script):
  1. publish -> first playable segment: ffmpeg starts pushing; a client asks for the playlist at once (retrying
     while the stream is not live) and fetches the first segment (LL-HLS: its first part) it lists;
  2. glass-to-glass latency in hls.js (headless Chromium, tests/browser/hlsjs.mjs): page wall clock minus the
     program date time of the picture on screen, for LL-HLS and classic HLS;
  3. server CPU per HLS stream: S streams pushed, with and without one HLS viewer each (the difference / S);
  4. server CPU per HLS viewer: one stream, V polling viewers (playlist + every new segment), with and without.

The server runs pinned to SERVER_CPU (1), everything else to BENCH_CPU (0). Loopback only; every wait is bounded;
every process started here is stopped on exit.

usage: bench/hls.py [--streams S] [--viewers V] [--seconds T] [--no-nginx]
env:   MPLIVE (binary; default: cargo build --release), SERVER_CPU, BENCH_CPU
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, "bench/fixtures/hd-30s.flv")
SERVER_CPU = os.environ.get("SERVER_CPU", "1")
BENCH_CPU = os.environ.get("BENCH_CPU", "0")
TICKS = os.sysconf("SC_CLK_TCK")
PROCS = []
# Players start once the stream has filled a playlist window (6 x 2 s), so that where hls.js starts does not
# depend on how young the stream is.
WARM_UP = 14


def log(msg):
    print(f"== {msg}", file=sys.stderr, flush=True)


def spawn(cmd, cpu=BENCH_CPU, **kw):
    p = subprocess.Popen(["taskset", "-c", cpu] + cmd, stdin=subprocess.DEVNULL, **kw)
    PROCS.append(p)
    return p


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def stop_all():
    for p in PROCS:
        stop(p)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, limit=10):
    end = time.time() + limit
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {limit} s")


def cpu_seconds(pid):
    """User + system CPU of a process and its threads, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def get(port, path, timeout=15):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def push(rtmp_url, loop=True):
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re"]
    if loop:
        cmd += ["-stream_loop", "-1"]
    return spawn(cmd + ["-i", FIXTURE, "-c", "copy", "-f", "flv", rtmp_url])


def first_uri(text, low_latency):
    if low_latency:
        m = re.search(r'#EXT-X-PART:[^\n]*URI="([^"]+)"', text)
        return m.group(1) if m else None
    for line in text.splitlines():
        if line and not line.startswith("#"):
            return line
    return None


def time_to_first_segment(port, rtmp_url, playlist, base, low_latency, limit=20):
    """Seconds from the start of the push to the first segment (part) in hand."""
    t0 = time.monotonic()
    pusher = push(rtmp_url, loop=False)
    try:
        while time.monotonic() - t0 < limit:
            try:
                status, body = get(port, playlist)
            except OSError:
                status, body = 0, b""
            uri = first_uri(body.decode(errors="replace"), low_latency) if status == 200 else None
            if uri:
                status, data = get(port, base + uri.split("?")[0])
                if status == 200 and data:
                    return time.monotonic() - t0
            time.sleep(0.02)
        return None
    finally:
        stop(pusher)


class Viewer(threading.Thread):
    """Polls a classic playlist every second and fetches each new segment, like a player (bounded by `until`)."""

    def __init__(self, port, playlist, base, until):
        super().__init__(daemon=True)
        self.port, self.playlist, self.base, self.until = port, playlist, base, until
        self.seen, self.segments, self.errors = set(), 0, 0

    def run(self):
        while time.monotonic() < self.until:
            try:
                status, body = get(self.port, self.playlist)
                if status == 200:
                    for line in body.decode().splitlines():
                        if line and not line.startswith("#") and line not in self.seen:
                            self.seen.add(line)
                            s, _ = get(self.port, self.base + line)
                            self.segments += 1 if s == 200 else 0
                else:
                    self.errors += 1
            except OSError:
                self.errors += 1
            time.sleep(1.0)


def cpu_over(pid, seconds):
    before, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / (time.monotonic() - t0) * 100.0


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


class Mplive:
    def __init__(self, binary, tmp):
        self.tmp = os.path.join(tmp, "mplive")
        os.makedirs(self.tmp, exist_ok=True)
        self.rtmp, self.http = free_port(), free_port()
        conf = os.path.join(self.tmp, "mplive.toml")
        with open(conf, "w") as f:
            f.write(f'rtmp_addr = "127.0.0.1:{self.rtmp}"\nhttp_addr = "127.0.0.1:{self.http}"\n'
                    '[hls]\nidle_timeout_secs = 60\n')
        data = os.path.join(self.tmp, "data")
        subprocess.run([binary, "app", "set", "live", "--push-auth", "off", "--data-dir", data],
                       check=True, stdout=subprocess.DEVNULL, env=dict(os.environ, MPLIVE_LOG="warn"))
        self.cmd = [binary, "serve", "--config", conf, "--data-dir", data]
        self.proc = spawn(self.cmd, cpu=SERVER_CPU, stdout=subprocess.DEVNULL,
                          stderr=open(os.path.join(self.tmp, "serve.log"), "w"),
                          env=dict(os.environ, MPLIVE_LOG="warn"))
        wait_port(self.http)

    def playlist(self, stream, low_latency):
        return f"/live/{stream}/ll.m3u8" if low_latency else f"/live/{stream}.m3u8"

    def base(self, stream, low_latency):
        return f"/live/{stream}/" if low_latency else "/live/"


class Nginx:
    MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

    def __init__(self, tmp):
        self.tmp = os.path.join(tmp, "nginx")
        os.makedirs(os.path.join(self.tmp, "hls"), exist_ok=True)
        # nginx's workers run as an unprivileged user when started as root: they must reach and write the folder.
        for d in (tmp, self.tmp, os.path.join(self.tmp, "hls")):
            os.chmod(d, 0o777)
        self.rtmp, self.http = free_port(), free_port()
        with open(os.path.join(self.tmp, "nginx.conf"), "w") as f:
            f.write(f"""load_module {self.MODULE};
worker_processes 1;
daemon off;
pid {self.tmp}/nginx.pid;
error_log {self.tmp}/error.log warn;
events {{ worker_connections 4096; }}
rtmp {{ server {{ listen 127.0.0.1:{self.rtmp};
  application live {{ live on; hls on; hls_path {self.tmp}/hls; hls_fragment 2s; hls_playlist_length 12s; }} }} }}
http {{ access_log off; server {{ listen 127.0.0.1:{self.http};
  location /live/ {{ alias {self.tmp}/hls/; add_header Cache-Control no-cache; add_header Access-Control-Allow-Origin *; }} }} }}
""")
        self.master = spawn(["nginx", "-p", self.tmp, "-e", f"{self.tmp}/error.log", "-c",
                             f"{self.tmp}/nginx.conf"], cpu=SERVER_CPU, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
        wait_port(self.http)
        self.worker = None
        for _ in range(50):
            out = subprocess.run(["pgrep", "-P", str(self.master.pid)], capture_output=True, text=True).stdout
            if out.strip():
                self.worker = int(out.split()[0])
                break
            time.sleep(0.1)

    def playlist(self, stream, _low_latency):
        return f"/live/{stream}.m3u8"

    def base(self, stream, _low_latency):
        return "/live/"


def measure_server(name, server, pid, args, variants):
    rows = {}
    # 1. publish -> first playable segment
    for ll in variants:
        times = []
        for i in range(args.trials):
            stream = f"first{'ll' if ll else ''}{i}"
            times.append(time_to_first_segment(server.http, f"rtmp://127.0.0.1:{server.rtmp}/live/{stream}",
                                               server.playlist(stream, ll), server.base(stream, ll), ll))
        rows[f"first_{'ll' if ll else 'classic'}"] = median(times)
        log(f"{name} {'LL-HLS' if ll else 'HLS'} publish -> first segment: {times}")
    # 3. CPU per stream: S pushes, idle, then with one viewer each
    pushers = [push(f"rtmp://127.0.0.1:{server.rtmp}/live/cpu{i}") for i in range(args.streams)]
    time.sleep(3)
    base = cpu_over(pid, args.seconds)
    until = time.monotonic() + args.seconds + 6
    viewers = [Viewer(server.http, server.playlist(f"cpu{i}", False), server.base(f"cpu{i}", False), until)
               for i in range(args.streams)]
    for v in viewers:
        v.start()
    time.sleep(5)
    with_hls = cpu_over(pid, args.seconds)
    for v in viewers:
        v.join(15)
    for p in pushers:
        stop(p)
    rows["cpu_base"] = base
    rows["cpu_per_stream"] = (with_hls - base) / args.streams
    log(f"{name} CPU: {args.streams} streams {base:.1f}% -> with HLS {with_hls:.1f}% "
        f"({sum(v.segments for v in viewers)} segments fetched)")
    # 4. CPU per viewer: one stream, V viewers
    pusher = push(f"rtmp://127.0.0.1:{server.rtmp}/live/view")
    time.sleep(3)
    warm = Viewer(server.http, server.playlist("view", False), server.base("view", False), time.monotonic() + 4)
    warm.run()
    one = cpu_over(pid, args.seconds)
    until = time.monotonic() + args.seconds + 6
    viewers = [Viewer(server.http, server.playlist("view", False), server.base("view", False), until)
               for _ in range(args.viewers)]
    for v in viewers:
        v.start()
    time.sleep(5)
    many = cpu_over(pid, args.seconds)
    for v in viewers:
        v.join(15)
    stop(pusher)
    rows["cpu_per_viewer"] = (many - one) / args.viewers
    fetched = sum(v.segments for v in viewers)
    errors = sum(v.errors for v in viewers)
    log(f"{name} CPU: 1 stream {one:.1f}% -> {args.viewers} viewers {many:.1f}% ({fetched} segments, {errors} errors)")
    return rows


def hlsjs(url, low_latency, seconds):
    cmd = ["node", "hlsjs.mjs", url, "--seconds", str(seconds)] + (["--low-latency"] if low_latency else [])
    out = subprocess.run(["taskset", "-c", BENCH_CPU] + cmd, cwd=os.path.join(ROOT, "tests/browser"),
                         capture_output=True, text=True, timeout=seconds + 90)
    if out.returncode != 0:
        log(f"hls.js failed: {out.stderr.strip()}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def fmt(v, unit, digits=2):
    return "n/a" if v is None else f"{v:.{digits}f} {unit}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--streams", type=int, default=10)
    ap.add_argument("--viewers", type=int, default=100)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--no-nginx", action="store_true")
    args = ap.parse_args()
    if not (1 <= args.streams <= 100 and 1 <= args.viewers <= 1000 and 5 <= args.seconds <= 120):
        raise SystemExit("--streams 1..100, --viewers 1..1000, --seconds 5..120")
    if not os.path.exists(FIXTURE):
        raise SystemExit(f"{FIXTURE} is missing: bench/side-by-side.sh generates it")
    binary = os.environ.get("MPLIVE")
    if not binary:
        log("building mplive (release)")
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "mplive-cli"], cwd=ROOT, check=True)
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        binary = os.path.join(target, "release/mplive")
    tmp = tempfile.mkdtemp(prefix="mplive-hls-bench.")
    try:
        server = Mplive(binary, tmp)
        rows = measure_server("mplive", server, server.proc.pid, args, [True, False])
        # 2. glass-to-glass in hls.js
        pusher = push(f"rtmp://127.0.0.1:{server.rtmp}/live/g2g")
        time.sleep(2)
        # Both variants run from here on (a variant is muxed once its playlist is asked for), so each has a full
        # window when its player starts.
        for ll in (True, False):
            get(server.http, server.playlist("g2g", ll))
        time.sleep(WARM_UP)
        for ll in (True, False):
            url = f"http://127.0.0.1:{server.http}{server.playlist('g2g', ll)}"
            report = hlsjs(url, ll, args.seconds)
            log(f"hls.js {url}: {report}")
            key = "ll" if ll else "classic"
            rows[f"g2g_{key}"] = report and report["latencyMs"]["median"] / 1000
            rows[f"start_{key}"] = report and report["firstFrameMs"] / 1000
            rows[f"edge_{key}"] = report and report["hlsjsLatency"]
        stop(pusher)
        stop(server.proc)
        nginx = None
        if not args.no_nginx and shutil.which("nginx") and os.path.exists(Nginx.MODULE):
            n = Nginx(tmp)
            nginx = measure_server("nginx-rtmp", n, n.worker, args, [False])
            pusher = push(f"rtmp://127.0.0.1:{n.rtmp}/live/g2g")
            time.sleep(WARM_UP)
            report = hlsjs(f"http://127.0.0.1:{n.http}/live/g2g.m3u8", False, args.seconds)
            log(f"hls.js nginx: {report}")
            # nginx-rtmp writes no EXT-X-PROGRAM-DATE-TIME: only hls.js's own distance to the edge is comparable.
            nginx["start_classic"] = report and report["firstFrameMs"] / 1000
            nginx["edge_classic"] = report and report["hlsjsLatency"]
            stop(pusher)
            stop(n.master)
        ng = nginx or {}
        print(f"| figure | mplive LL-HLS | mplive HLS | nginx-rtmp HLS |")
        print(f"|---|---|---|---|")
        print(f"| publish -> first playable segment (median of {args.trials}) | {fmt(rows['first_ll'], 's')} "
              f"| {fmt(rows['first_classic'], 's')} | {fmt(ng.get('first_classic'), 's')} |")
        print(f"| hls.js glass-to-glass latency (median) | {fmt(rows['g2g_ll'], 's')} | {fmt(rows['g2g_classic'], 's')} "
              f"| {fmt(ng.get('g2g_classic'), 's')} |")
        print(f"| hls.js distance behind the playlist's live edge (hls.latency) | {fmt(rows['edge_ll'], 's')} "
              f"| {fmt(rows['edge_classic'], 's')} | {fmt(ng.get('edge_classic'), 's')} |")
        print(f"| hls.js first frame after load | {fmt(rows['start_ll'], 's')} | {fmt(rows['start_classic'], 's')} "
              f"| {fmt(ng.get('start_classic'), 's')} |")
        print(f"| server CPU per HLS stream (1 classic viewer each, {args.streams} streams) | | "
              f"{fmt(rows['cpu_per_stream'], '% of a core', 3)} | {fmt(ng.get('cpu_per_stream'), '% of a core', 3)} |")
        print(f"| server CPU per HLS viewer ({args.viewers} viewers, classic) | | "
              f"{fmt(rows['cpu_per_viewer'], '% of a core', 3)} | {fmt(ng.get('cpu_per_viewer'), '% of a core', 3)} |")
    finally:
        stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
