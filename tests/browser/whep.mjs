// Plays a WHEP URL in headless Chromium (Playwright, /usr/bin/chromium) and prints one JSON line:
//   {"url", "status", "location", "firstFrameMs", "seconds", "framesDecoded", "decodedPerSecond",
//    "framesDropped", "freezeCount", "totalFreezesDurationMs", "framesPerSecond", "width", "height",
//    "jitterBufferDelayMs", "audioPacketsReceived", "audioPackets", "audioSamples", "audioSamplesPerSecond",
//    "audioConcealedSamples", "audioCodec", "transport", "deleteStatus", "errors", "samples"}
// The audio* deltas (packets, samples played out, concealed samples) are over the same window as the video's.
// `samples` are the cumulative framesDecoded every 500 ms, so a stall shows as a flat stretch. `transport` is the
// selected candidate pair's protocol ("udp" or "tcp") and the server candidate's type and TCP type.
// The page does what a WHEP player does: recvonly video and audio transceivers, POST the offer as
// application/sdp (from another origin: CORS preflight included), set the answer, play, and DELETE the session's
// Location at the end.
//
// `--video-only` offers no audio m-line (to measure what the audio costs the server).
//
// usage: node whep.mjs URL [--seconds N] [--video-only]
import { chromium } from 'playwright-core';

const args = process.argv.slice(2);
const url = args.find((a) => !a.startsWith('--'));
if (!url) {
  console.error('usage: node whep.mjs URL [--seconds N] [--video-only]');
  process.exit(2);
}
const at = args.indexOf('--seconds');
const seconds = at >= 0 ? Number(args[at + 1]) : 5;
const videoOnly = args.includes('--video-only');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // Loopback candidates are ignored by default; the test server is on 127.0.0.1.
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
    async ({ url, seconds, videoOnly }) => {
      const errors = [];
      const video = document.getElementById('v');
      const pc = new RTCPeerConnection();
      pc.addTransceiver('video', { direction: 'recvonly' });
      if (!videoOnly) pc.addTransceiver('audio', { direction: 'recvonly' });
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
      const stats = async () => {
        const out = { video: null, audio: null };
        (await pc.getStats()).forEach((s) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video') out.video = s;
          if (s.type === 'inbound-rtp' && s.kind === 'audio') out.audio = s;
        });
        return out;
      };
      // First frame: something decoded.
      const limit = performance.now() + 20000;
      let firstFrameMs = null;
      while (performance.now() < limit) {
        const { video: v } = await stats();
        if (v && v.framesDecoded > 0) {
          firstFrameMs = Math.round(performance.now() - t0);
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      if (firstFrameMs === null) {
        errors.push(`no frame decoded within 20 s (ICE ${pc.iceConnectionState}, connection ${pc.connectionState})`);
      }
      // The cached GOP is sent at once to reach the live edge, and the renderer skips most of those pictures:
      // measured from 1 s after the first picture on.
      await new Promise((r) => setTimeout(r, 1000));
      const start = await stats();
      const samples = [];
      const tStart = performance.now();
      while (performance.now() - tStart < seconds * 1000) {
        await new Promise((r) => setTimeout(r, 500));
        const { video: v } = await stats();
        samples.push(v ? v.framesDecoded : 0);
      }
      const elapsed = (performance.now() - tStart) / 1000;
      const end = await stats();
      const v0 = start.video || {};
      const v1 = end.video || {};
      const a0 = start.audio || {};
      const a1 = end.audio || {};
      const delta = (field) => (a1[field] || 0) - (a0[field] || 0);
      let audioCodec = null;
      if (a1.codecId) {
        (await pc.getStats()).forEach((s) => {
          if (s.id === a1.codecId) audioCodec = s.mimeType;
        });
      }
      let transport = null;
      const all = await pc.getStats();
      all.forEach((s) => {
        if (s.type !== 'transport' || !s.selectedCandidatePairId) return;
        const pair = all.get(s.selectedCandidatePairId);
        const remote = pair && all.get(pair.remoteCandidateId);
        if (remote) transport = { protocol: remote.protocol, type: remote.candidateType, tcpType: remote.tcpType ?? null };
      });
      const del = location ? await fetch(new URL(location, url), { method: 'DELETE' }) : null;
      pc.close();
      return {
        url,
        status: resp.status,
        location,
        firstFrameMs,
        seconds: elapsed,
        framesDecoded: (v1.framesDecoded || 0) - (v0.framesDecoded || 0),
        decodedPerSecond: ((v1.framesDecoded || 0) - (v0.framesDecoded || 0)) / elapsed,
        framesDropped: (v1.framesDropped || 0) - (v0.framesDropped || 0),
        freezeCount: (v1.freezeCount || 0) - (v0.freezeCount || 0),
        totalFreezesDurationMs: Math.round(((v1.totalFreezesDuration || 0) - (v0.totalFreezesDuration || 0)) * 1000),
        framesPerSecond: v1.framesPerSecond,
        width: v1.frameWidth,
        height: v1.frameHeight,
        jitterBufferDelayMs: v1.jitterBufferEmittedCount
          ? Math.round((v1.jitterBufferDelay / v1.jitterBufferEmittedCount) * 1000) : null,
        keyFramesDecoded: v1.keyFramesDecoded,
        pliCount: v1.pliCount,
        nackCount: v1.nackCount,
        packetsLost: v1.packetsLost,
        decoder: v1.decoderImplementation,
        audioPacketsReceived: end.audio ? end.audio.packetsReceived : null,
        audioPackets: delta('packetsReceived'),
        audioSamples: delta('totalSamplesReceived'),
        audioSamplesPerSecond: delta('totalSamplesReceived') / elapsed,
        audioConcealedSamples: delta('concealedSamples'),
        audioCodec,
        transport,
        deleteStatus: del ? del.status : null,
        errors,
        samples,
      };
    },
    { url, seconds, videoOnly },
  );
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
