// Plays an HLS URL with hls.js in headless Chromium (Playwright, /usr/bin/chromium) and prints one JSON line:
//   {"url", "lowLatency", "firstFrameMs", "startTime", "endTime", "advanced", "stalls", "errors",
//    "latencyMs": {"median", "p90", "samples"}, "hlsjsLatency",
//    "requests": {"playlists", "blockingReloads", "parts", "segments"}}
// `requests` counts what the page fetched: playlists (those with _HLS_msn are blocking reloads), LL-HLS parts
// (`ll/{msn}.{part}.m4s`) and whole segments.
// Latency is the page's wall clock minus the EXT-X-PROGRAM-DATE-TIME of the picture on screen (hls.js's
// playingDate): the server stamps each segment with the wall time it received its first frame, so on one machine
// this is ingest-to-screen (server, delivery and player buffer; not the encoder).
//
// usage: node hlsjs.mjs URL [--seconds N] [--low-latency]
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const args = process.argv.slice(2);
const url = args.find((a) => !a.startsWith('--'));
if (!url) {
  console.error('usage: node hlsjs.mjs URL [--seconds N] [--low-latency]');
  process.exit(2);
}
const at = args.indexOf('--seconds');
const seconds = at >= 0 ? Number(args[at + 1]) : 8;
const lowLatency = args.includes('--low-latency');
const require = createRequire(import.meta.url);
const hlsSource = readFileSync(require.resolve('hls.js/dist/hls.min.js'), 'utf8');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--mute-audio'],
});
let result;
const requested = [];
try {
  const page = await browser.newPage();
  page.on('request', (r) => requested.push(r.url()));
  page.on('console', (m) => {
    if (m.type() === 'error') console.error(`page: ${m.text()}`);
  });
  await page.setContent('<!doctype html><video id="v" muted playsinline></video>');
  await page.addScriptTag({ content: hlsSource });
  result = await page.evaluate(
    async ({ url, seconds, lowLatency }) => {
      const video = document.getElementById('v');
      if (!window.Hls.isSupported()) throw new Error('hls.js: MediaSource is not supported here');
      const hls = new window.Hls({ lowLatencyMode: lowLatency, enableWorker: true });
      const errors = [];
      let stalls = 0;
      hls.on(window.Hls.Events.ERROR, (_, d) => {
        if (d.details === 'bufferStalledError') stalls += 1;
        else errors.push(`${d.type}/${d.details}${d.fatal ? ' (fatal)' : ''}`);
      });
      const t0 = performance.now();
      hls.loadSource(url);
      hls.attachMedia(video);
      video.play().catch(() => {});
      // First frame: the video has a picture to show and time is moving.
      await new Promise((resolve, reject) => {
        const limit = setTimeout(() => reject(new Error(`no first frame within 20 s; errors: ${errors.join(', ')}`)), 20000);
        const check = () => {
          if (video.readyState >= 2 && video.currentTime > 0) {
            clearTimeout(limit);
            resolve();
          } else setTimeout(check, 20);
        };
        check();
      });
      const firstFrameMs = performance.now() - t0;
      const startTime = video.currentTime;
      const latencies = [];
      const end = performance.now() + seconds * 1000;
      while (performance.now() < end) {
        await new Promise((r) => setTimeout(r, 250));
        const date = hls.playingDate;
        if (date && !video.paused) latencies.push(Date.now() - date.getTime());
      }
      latencies.sort((a, b) => a - b);
      const q = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : null);
      const out = {
        url,
        lowLatency,
        firstFrameMs: Math.round(firstFrameMs),
        startTime,
        endTime: video.currentTime,
        advanced: video.currentTime - startTime,
        stalls,
        errors,
        latencyMs: { median: q(0.5), p90: q(0.9), samples: latencies.length },
        hlsjsLatency: hls.latency,
      };
      hls.destroy();
      return out;
    },
    { url, seconds, lowLatency },
  );
} finally {
  await browser.close();
}
const paths = requested.map((u) => new URL(u)).filter((u) => u.protocol.startsWith('http'));
result.requests = {
  playlists: paths.filter((u) => u.pathname.endsWith('.m3u8')).length,
  blockingReloads: paths.filter((u) => u.pathname.endsWith('.m3u8') && u.searchParams.has('_HLS_msn')).length,
  parts: paths.filter((u) => /\/ll\/\d+\.\d+\.m4s$/.test(u.pathname)).length,
  segments: paths.filter((u) => /\/ll\/\d+\.m4s$/.test(u.pathname) || u.pathname.endsWith('.ts')).length,
};
console.log(JSON.stringify(result));
