// Glass-to-glass latency WHIP -> WHEP in one headless Chromium: a publisher page draws its frame index N as 16
// vertical bars (bars.mjs) on a 640x360 canvas every 40 ms (25 fps), recording the wallclock of each draw, and
// publishes `canvas.captureStream(25)` over WHIP (video only, H.264 packetization-mode 1 preferred, as whip.mjs);
// once the WHIP session is connected, a player page plays the same stream over WHEP and reads the index of every
// picture it presents (bars.mjs's playWhep, as glass.mjs). The latency of a presented picture with index N is its
// expected display wallclock (requestVideoFrameCallback) minus the publisher's draw wallclock of N: both pages run
// in one browser process and use performance.timeOrigin + performance.now(). The first second of presented
// pictures is left out (the start). Prints one JSON line:
//   {"whipStatus", "whepStatus", "firstFrameMs", "pictures", "unreadable", "backwards",
//    "glass_to_glass_ms": {"p50", "p95", "max", "min"}, "errors", "publisher": {...}, "player": {...}}
// firstFrameMs: from the WHEP POST answered 201 to the first picture presented; "publisher": the WHIP sender's
// statistics (encoder, resolution, frames drawn, captured and encoded, quality limitation), "player": the
// resolution seen, the span of indexes presented after the first second (pictures / indexSpan: the frames that
// made it) and the WHEP POSTs made (404 until the stream is live). --request-frame: captureStream(0) and
// requestFrame() after each draw instead of captureStream(25) (which leaves a part of the draws uncaptured).
//
// usage: node glass-whip.mjs HTTP_BASE_URL APP/STREAM [--seconds N] [--request-frame]
//        (WHIP: {base}/{app}/{stream}/whip, WHEP: {base}/{app}/{stream}/whep; the app must take WHIP unsigned)
import { chromium } from 'playwright-core';
import { installBars, playWhep } from './bars.mjs';

const args = process.argv.slice(2);
const positional = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--seconds');
if (positional.length !== 2) {
  console.error('usage: node glass-whip.mjs HTTP_BASE_URL APP/STREAM [--seconds N] [--request-frame]');
  process.exit(2);
}
const base = positional[0].replace(/\/+$/, '');
const path = positional[1].replace(/^\/+|\/+$/g, '');
const whipUrl = `${base}/${path}/whip`;
const whepUrl = `${base}/${path}/whep`;
const at = args.indexOf('--seconds');
const seconds = at >= 0 ? Number(args[at + 1]) : 10;
const requestFrame = args.includes('--request-frame');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--mute-audio',
    '--allow-loopback-in-peer-connection'],
});
const errors = [];
let result;
try {
  const newPage = async (name) => {
    const page = await browser.newPage();
    page.on('console', (m) => {
      // Not the favicon's 404, nor the WHEP POSTs answered 404 before the stream is live.
      if (m.type() !== 'error' || m.text().startsWith('Failed to load resource')) return;
      console.error(`${name}: ${m.text()}`);
    });
    await installBars(page);
    // A page of the server's origin: the POSTs are then same-origin.
    await page.goto(`${base}/healthz`);
    return page;
  };
  const publisher = await newPage('publisher');
  const player = await newPage('player');

  // Publisher: draw, capture, WHIP; returns once connected (the drawing goes on until stop()).
  const whip = await publisher.evaluate(async ({ url, requestFrame }) => {
    const errors = [];
    const clock = () => performance.timeOrigin + performance.now();
    const canvas = document.createElement('canvas');
    canvas.width = 640;
    canvas.height = 360;
    document.body.appendChild(canvas);
    const ctx = canvas.getContext('2d');
    const draws = [];
    let n = 0;
    const start = performance.now();
    let timer;
    let track = null;
    const tick = () => {
      drawBars(ctx, n, canvas.width, canvas.height);
      draws.push([n, clock()]);
      if (track) track.requestFrame();
      n += 1;
      // Every 40 ms from the start, not 40 ms after this draw (no drift).
      timer = setTimeout(tick, Math.max(0, start + n * 40 - performance.now()));
    };
    tick();
    // captureStream(25) captures a changed canvas at most every 40 ms, as it is painted: with draws every 40 ms
    // (timer jitter) a part of them is never captured. --request-frame: captureStream(0) and requestFrame() after
    // each draw, every draw captured at once.
    const stream = canvas.captureStream(requestFrame ? 0 : 25);
    if (requestFrame) [track] = stream.getVideoTracks();
    const pc = new RTCPeerConnection();
    const caps = RTCRtpSender.getCapabilities('video');
    const h264 = caps.codecs.some((c) => c.mimeType.toLowerCase() === 'video/h264'
      && (c.sdpFmtpLine || '').includes('packetization-mode=1'));
    const video = pc.addTransceiver(stream.getVideoTracks()[0], { direction: 'sendonly' });
    const rank = (c) => {
      if (c.mimeType.toLowerCase() !== 'video/h264') return 2;
      return (c.sdpFmtpLine || '').includes('packetization-mode=1') ? 0 : 1;
    };
    video.setCodecPreferences([...caps.codecs].sort((a, b) => rank(a) - rank(b)));
    // The bars change every frame: a generous bitrate, and the resolution kept (the bars are read in the middle row
    // of whatever size arrives, but a new size is a new sequence header).
    const params = video.sender.getParameters();
    params.degradationPreference = 'maintain-resolution';
    if (params.encodings && params.encodings[0]) params.encodings[0].maxBitrate = 2500000;
    await video.sender.setParameters(params).catch((e) => errors.push(`setParameters: ${e}`));
    await pc.setLocalDescription(await pc.createOffer());
    const t0 = performance.now();
    const resp = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/sdp' },
      body: pc.localDescription.sdp,
    });
    const answer = await resp.text();
    const location = resp.headers.get('location');
    window.glass = { pc, draws, location, url, stop: () => clearTimeout(timer), video };
    if (resp.status !== 201) {
      errors.push(`WHIP POST answered ${resp.status}: ${answer.slice(0, 200)}`);
      return { status: resp.status, h264, errors };
    }
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    const limit = performance.now() + 15000;
    while (pc.connectionState !== 'connected' && performance.now() < limit) {
      await new Promise((r) => setTimeout(r, 20));
    }
    let connectMs = null;
    if (pc.connectionState === 'connected') connectMs = Math.round(performance.now() - t0);
    else errors.push(`WHIP not connected within 15 s (connection ${pc.connectionState})`);
    return { status: resp.status, h264, connectMs, errors };
  }, { url: whipUrl, requestFrame });
  errors.push(...whip.errors);

  let play = { status: null, frames: [], unreadable: 0, errors: [] };
  if (whip.status === 201 && whip.connectMs !== null) {
    // The stream is live once the server has the first key frame: the WHEP POST is retried until 201 (10 s).
    play = await player.evaluate(playWhep, {
      url: whepUrl, seconds: seconds + 1, pictures: (seconds + 1) * 25 + 25, afterFirstMs: (seconds + 1) * 1000,
      retryMs: 10000,
    });
    errors.push(...play.errors);
  }

  const pub = await publisher.evaluate(async () => {
    const g = window.glass;
    g.stop();
    let out = {};
    let source = {};
    const codecs = {};
    (await g.pc.getStats()).forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video') out = s;
      if (s.type === 'media-source' && s.kind === 'video') source = s;
      if (s.type === 'codec') codecs[s.id] = s.mimeType;
    });
    let deleteStatus = null;
    if (g.location) deleteStatus = (await fetch(new URL(g.location, g.url), { method: 'DELETE' })).status;
    g.pc.close();
    return {
      draws: g.draws,
      stats: {
        codec: codecs[out.codecId] || null,
        encoder: out.encoderImplementation || null,
        width: out.frameWidth || null,
        height: out.frameHeight || null,
        framesPerSecond: out.framesPerSecond || null,
        framesDrawn: g.draws.length,
        framesCaptured: source.frames ?? null,
        framesEncoded: out.framesEncoded || 0,
        framesSent: out.framesSent || 0,
        bytesSent: out.bytesSent || 0,
        qualityLimitationReason: out.qualityLimitationReason || null,
        qualityLimitationResolutionChanges: out.qualityLimitationResolutionChanges || 0,
        targetBitrate: out.targetBitrate || null,
        deleteStatus,
      },
    };
  });

  const drawn = new Map(pub.draws);
  const frames = play.frames || [];
  // The first second of presented pictures is left out (the start: the first key frame and the ramp-up).
  const from = frames.length ? frames[0][1] + 1000 : 0;
  const kept = frames.filter(([, wall]) => wall >= from);
  // A misread index shows as a picture out of order, or as an index never drawn.
  const backwards = kept.filter(([n], i) => i > 0 && n <= kept[i - 1][0]).length;
  const undrawn = kept.filter(([n]) => !drawn.has(n)).length;
  if (undrawn) errors.push(`${undrawn} pictures read as an index never drawn`);
  const d = kept.filter(([n]) => drawn.has(n)).map(([n, wall]) => wall - drawn.get(n)).sort((a, b) => a - b);
  const pct = (q) => d[Math.min(d.length - 1, Math.floor(q * d.length))];
  const r = (x) => (x === undefined ? null : Math.round(x * 10) / 10);
  if (!d.length && !errors.length) errors.push('no picture measured');
  // Indexes presented after the first second, against the indexes drawn in the same span: the frames the path
  // (capture, encoder, server, player) dropped.
  const span = kept.length ? kept[kept.length - 1][0] - kept[0][0] + 1 : 0;
  result = {
    whipStatus: whip.status,
    whepStatus: play.status,
    firstFrameMs: play.firstFrameMs ?? null,
    pictures: d.length,
    unreadable: play.unreadable ?? 0,
    backwards,
    glass_to_glass_ms: { p50: r(pct(0.5)), p95: r(pct(0.95)), max: r(d[d.length - 1]), min: r(d[0]) },
    errors,
    publisher: { h264: whip.h264, connectMs: whip.connectMs ?? null, ...pub.stats },
    player: { width: play.width ?? null, height: play.height ?? null, indexSpan: span, whepPosts: play.posts ?? null },
  };
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
