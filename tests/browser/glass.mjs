// Glass-to-glass latency of WHEP playback in headless Chromium: plays a WHEP URL whose video shows its own frame
// index as 16 vertical bars (bar k bright when bit k of the index is set; bench/glass.sh makes such a fixture) and,
// for every picture Chromium presents (requestVideoFrameCallback), reads the bars from a canvas and records the
// index with the wallclock of its expected display. Prints one JSON line:
//   {"url", "status", "firstFrameMs", "frames": [[index, unixMs], ...], "unreadable", "errors"}
// The publisher's send time of frame i is known to whoever published it (bench/glass.sh: `mplive bench`'s
// publisher.first_frame_unix_ms + i x 40 ms).
//
// usage: node glass.mjs URL [--seconds N]
import { chromium } from 'playwright-core';

const args = process.argv.slice(2);
const url = args.find((a) => !a.startsWith('--'));
if (!url) {
  console.error('usage: node glass.mjs URL [--seconds N]');
  process.exit(2);
}
const at = args.indexOf('--seconds');
const seconds = at >= 0 ? Number(args[at + 1]) : 10;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--mute-audio',
    '--allow-loopback-in-peer-connection'],
});
let result;
try {
  const page = await browser.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') console.error(`page: ${m.text()}`);
  });
  await page.setContent('<!doctype html><video id="v" muted playsinline autoplay></video>');
  result = await page.evaluate(
    async ({ url, seconds }) => {
      const errors = [];
      const video = document.getElementById('v');
      const pc = new RTCPeerConnection();
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.ontrack = (e) => {
        if (!video.srcObject) video.srcObject = new MediaStream();
        video.srcObject.addTrack(e.track);
        video.play().catch(() => {});
      };
      await pc.setLocalDescription(await pc.createOffer());
      const t0 = performance.now();
      const resp = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/sdp' },
        body: pc.localDescription.sdp,
      });
      const answer = await resp.text();
      const location = resp.headers.get('location');
      if (resp.status !== 201) {
        return { url, status: resp.status, body: answer, errors: [`POST answered ${resp.status}`] };
      }
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
      const canvas = document.createElement('canvas');
      const ctx = canvas.getContext('2d', { willReadFrequently: true });
      const frames = [];
      let unreadable = 0;
      let firstFrameMs = null;
      await new Promise((done) => {
        const end = performance.now() + 20000 + seconds * 1000;
        const onFrame = (now, meta) => {
          if (firstFrameMs === null) firstFrameMs = Math.round(performance.now() - t0);
          const w = meta.width;
          const h = meta.height;
          if (canvas.width !== w) canvas.width = w;
          if (canvas.height !== h) canvas.height = h;
          ctx.drawImage(video, 0, 0, w, h);
          const row = ctx.getImageData(0, Math.floor(h / 2), w, 1).data;
          let index = 0;
          let clear = true;
          for (let k = 0; k < 16; k++) {
            const luma = row[4 * Math.floor(((k + 0.5) * w) / 16)];
            if (luma > 60 && luma < 190) clear = false;
            if (luma >= 128) index += 2 ** k;
          }
          if (clear) frames.push([index, performance.timeOrigin + meta.expectedDisplayTime]);
          else unreadable += 1;
          if (performance.now() < end && frames.length < seconds * 25) video.requestVideoFrameCallback(onFrame);
          else done();
        };
        video.requestVideoFrameCallback(onFrame);
        setTimeout(done, 20000 + seconds * 1000 + 1000);
      });
      if (firstFrameMs === null) errors.push('no picture presented');
      if (location) await fetch(new URL(location, url), { method: 'DELETE' });
      pc.close();
      return { url, status: resp.status, firstFrameMs, frames, unreadable, errors };
    },
    { url, seconds },
  );
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
