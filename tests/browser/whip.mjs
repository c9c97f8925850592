// Publishes Chromium's fake camera and microphone to a WHIP URL from headless Chromium (Playwright,
// /usr/bin/chromium) and prints one JSON line:
//   {"url", "h264", "h264Codecs", "status", "body", "location", "connectMs", "seconds", "videoCodec",
//    "encoder", "framesEncoded", "framesSent", "width", "height", "videoBytes", "pliCount", "nackCount",
//    "audioCodec", "audioPackets", "connectionState", "deleteStatus", "errors"}
// `h264` says whether `RTCRtpSender.getCapabilities('video')` lists H.264 with packetization-mode 1 (headless
// Chromium without an H.264 encoder would not); the page prefers it with setCodecPreferences, as a WHIP page
// for mplive must. It does what a WHIP client does: sendonly video and audio transceivers, POST the offer as
// application/sdp (with `Authorization: Bearer TOKEN` when given), set the answer, send for N seconds, and DELETE
// the session's Location (unless --keep: then the page just closes, and the server finds the browser gone).
//
// `--fake-video FILE.y4m` and `--fake-audio FILE.wav` replace the fake camera and microphone with files (looped),
// e.g. a flash and a beep at the same instants to measure A/V sync in what the server makes of them.
//
// usage: node whip.mjs URL [--seconds N] [--token TOKEN] [--keep] [--video-only] [--fake-video F] [--fake-audio F]
import { chromium } from 'playwright-core';

const args = process.argv.slice(2);
const valued = ['--seconds', '--token', '--fake-video', '--fake-audio'];
const url = args.find((a, i) => !a.startsWith('--') && !valued.includes(args[i - 1]));
if (!url) {
  console.error('usage: node whip.mjs URL [--seconds N] [--token TOKEN] [--keep] [--video-only]');
  process.exit(2);
}
const opt = (name) => (args.indexOf(name) >= 0 ? args[args.indexOf(name) + 1] : null);
const seconds = Number(opt('--seconds') || 6);
const token = opt('--token');
const keep = args.includes('--keep');
const videoOnly = args.includes('--video-only');
const files = [];
if (opt('--fake-video')) files.push(`--use-file-for-fake-video-capture=${opt('--fake-video')}`);
if (opt('--fake-audio')) files.push(`--use-file-for-fake-audio-capture=${opt('--fake-audio')}`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // A fake camera (a moving test pattern) and microphone (a beep), granted without a prompt; loopback candidates
  // are ignored by default and the test server is on 127.0.0.1.
  args: ['--no-sandbox', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
    '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required', ...files],
});
let result;
try {
  const page = await browser.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') console.error(`page: ${m.text()}`);
  });
  // getUserMedia needs a secure context: a page from 127.0.0.1 is one (and the POST is then same-origin).
  await page.goto(new URL('/healthz', url).href);
  result = await page.evaluate(
    async ({ url, seconds, token, keep, videoOnly }) => {
      const errors = [];
      const caps = RTCRtpSender.getCapabilities('video');
      const h264Codecs = caps.codecs.filter((c) => c.mimeType.toLowerCase() === 'video/h264');
      const h264 = h264Codecs.some((c) => (c.sdpFmtpLine || '').includes('packetization-mode=1'));
      const media = await navigator.mediaDevices.getUserMedia({
        video: { width: 640, height: 360, frameRate: 25 },
        audio: !videoOnly,
      });
      const pc = new RTCPeerConnection();
      const video = pc.addTransceiver(media.getVideoTracks()[0], { direction: 'sendonly' });
      if (!videoOnly) pc.addTransceiver(media.getAudioTracks()[0], { direction: 'sendonly' });
      // H.264 with packetization-mode 1 first: mplive takes H.264 only.
      const rank = (c) => {
        if (c.mimeType.toLowerCase() !== 'video/h264') return 2;
        return (c.sdpFmtpLine || '').includes('packetization-mode=1') ? 0 : 1;
      };
      video.setCodecPreferences([...caps.codecs].sort((a, b) => rank(a) - rank(b)));
      // Chromium otherwise starts at a lower resolution while its bandwidth estimate ramps up, and scales down
      // under CPU load: each change is a new SPS, a new sequence header, and a new file for an MP4 recorder.
      const params = video.sender.getParameters();
      params.degradationPreference = 'maintain-resolution';
      await video.sender.setParameters(params).catch((e) => errors.push(`setParameters: ${e}`));
      await pc.setLocalDescription(await pc.createOffer());
      const t0 = performance.now();
      const headers = { 'content-type': 'application/sdp' };
      if (token) headers.authorization = `Bearer ${token}`;
      const resp = await fetch(url, { method: 'POST', headers, body: pc.localDescription.sdp });
      const answer = await resp.text();
      const location = resp.headers.get('location');
      if (resp.status !== 201) {
        pc.close();
        return { url, h264, h264Codecs, status: resp.status, body: answer, errors: [`POST answered ${resp.status}`] };
      }
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
      const limit = performance.now() + 15000;
      while (pc.connectionState !== 'connected' && performance.now() < limit) {
        await new Promise((r) => setTimeout(r, 20));
      }
      let connectMs = null;
      if (pc.connectionState === 'connected') connectMs = Math.round(performance.now() - t0);
      else errors.push(`not connected within 15 s (ICE ${pc.iceConnectionState}, connection ${pc.connectionState})`);
      const tStart = performance.now();
      await new Promise((r) => setTimeout(r, seconds * 1000));
      const elapsed = (performance.now() - tStart) / 1000;
      const out = { video: null, audio: null, codecs: {} };
      (await pc.getStats()).forEach((s) => {
        if (s.type === 'outbound-rtp' && s.kind === 'video') out.video = s;
        if (s.type === 'outbound-rtp' && s.kind === 'audio') out.audio = s;
        if (s.type === 'codec') out.codecs[s.id] = s.mimeType;
      });
      const v = out.video || {};
      const a = out.audio || {};
      const connectionState = pc.connectionState;
      let deleteStatus = null;
      if (!keep && location) deleteStatus = (await fetch(new URL(location, url), { method: 'DELETE' })).status;
      pc.close();
      return {
        url,
        h264,
        h264Codecs,
        status: resp.status,
        location,
        connectMs,
        seconds: elapsed,
        videoCodec: out.codecs[v.codecId] || null,
        encoder: v.encoderImplementation || null,
        framesEncoded: v.framesEncoded || 0,
        framesSent: v.framesSent || 0,
        width: v.frameWidth || null,
        height: v.frameHeight || null,
        videoBytes: v.bytesSent || 0,
        pliCount: v.pliCount || 0,
        nackCount: v.nackCount || 0,
        audioCodec: out.codecs[a.codecId] || null,
        audioPackets: a.packetsSent || 0,
        connectionState,
        deleteStatus,
        errors,
      };
    },
    { url, seconds, token, keep, videoOnly },
  );
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
