// The live preview: HTTP-FLV through mpegts.js, HLS and LL-HLS through hls.js, WebRTC through the browser's own
// RTCPeerConnection (WHEP, docs/webrtc.md), into one <video>.

import { Hls, loadMpegts } from './vendor.js';

/** What the preview can play: `url` is the key of the API's play URL it uses. */
export const KINDS = [
  { key: 'flv', url: 'flv', label: 'HTTP-FLV (mpegts.js)' },
  { key: 'hls', url: 'hls', label: 'HLS (hls.js)' },
  { key: 'llHls', url: 'llHls', label: 'LL-HLS (hls.js)' },
  { key: 'rtc', url: 'whep', label: 'WebRTC (WHEP)' },
];

/**
 * Plays `url` (a play URL of kind `kind`) in `video`; `onError(text)` reports fatal errors. Returns an object
 * with `destroy()`.
 */
export async function play(video, kind, url, onError) {
  video.muted = true;
  video.playsInline = true;
  const start = () => video.play().catch(() => {});
  if (kind === 'rtc') return whepPlayer(video, url, onError);
  if (kind === 'flv') {
    const player = await flvPlayer(video, { type: 'flv', isLive: true, url },
      { enableWorker: false, liveBufferLatencyChasing: true, lazyLoad: false }, onError);
    start();
    return player;
  }
  if (Hls.isSupported()) {
    const hls = new Hls({ lowLatencyMode: kind === 'llHls', liveDurationInfinity: true });
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (data.fatal) onError(`${data.type}: ${data.details}`);
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    start();
    return { destroy: () => hls.destroy() };
  }
  if (video.canPlayType('application/vnd.apple.mpegurl')) {
    // Safari plays HLS itself.
    video.src = url;
    start();
    return {
      destroy() {
        video.removeAttribute('src');
        video.load();
      },
    };
  }
  onError('this browser plays neither HLS nor Media Source Extensions');
  return { destroy() {} };
}

/**
 * A WHEP session playing `url` in `video`: recvonly video and audio, the offer POSTed, the answer set; `destroy()`
 * closes the peer connection and DELETEs the session's resource so the server ends it at once. Errors (the
 * server's refusal line, such as `b_frames: ...`, or a connection that fails) go to `onError`.
 */
async function whepPlayer(video, url, onError) {
  if (typeof RTCPeerConnection === 'undefined') {
    onError('this browser has no WebRTC');
    return { destroy() {} };
  }
  const pc = new RTCPeerConnection();
  let resource = null;
  let closed = false;
  const destroy = () => {
    if (closed) return;
    closed = true;
    video.srcObject = null;
    if (!resource) {
      pc.close();
      return;
    }
    // The DELETE first, the peer connection closed once it is answered: closed first, the browser's DTLS close
    // could end the session before the DELETE arrives, which would then find nothing (404). keepalive: the
    // DELETE still goes out when the page is being left.
    fetch(resource, { method: 'DELETE', keepalive: true }).catch(() => {}).finally(() => pc.close());
  };
  const media = new MediaStream();
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  pc.ontrack = (e) => {
    media.addTrack(e.track);
    if (video.srcObject !== media) video.srcObject = media;
    video.play().catch(() => {});
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === 'failed' && !closed) {
      onError('the WebRTC connection failed: UDP and TCP to the server\'s WebRTC port may be blocked (docs/webrtc.md)');
    }
  };
  try {
    await pc.setLocalDescription(await pc.createOffer());
    const resp = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/sdp' },
      body: pc.localDescription.sdp,
    });
    const answer = await resp.text();
    if (resp.status !== 201) {
      onError(answer.trim() || `the WHEP endpoint answered ${resp.status}`);
      destroy();
      return { destroy };
    }
    const location = resp.headers.get('location');
    resource = location ? new URL(location, url).href : null;
    if (closed) {
      // Stopped while the offer was on its way: end the session the server has just opened.
      closed = false;
      destroy();
      return { destroy };
    }
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  } catch (err) {
    onError(err.message);
  }
  return { destroy };
}

/**
 * An mpegts.js player of `media` attached to `video`, loading; errors go to `onError`. Returns an object with
 * `destroy()` (a no-op one when the browser has no Media Source Extensions).
 */
async function flvPlayer(video, media, config, onError) {
  const mpegts = await loadMpegts();
  mpegts.LoggingControl.enableAll = false;
  if (!mpegts.getFeatureList().mseLivePlayback) {
    onError('this browser has no Media Source Extensions: FLV cannot play here');
    return { destroy() {} };
  }
  const player = mpegts.createPlayer(media, config);
  player.on(mpegts.Events.ERROR, (type, detail, info) => {
    onError(`${type}: ${detail}${info?.msg ? ` (${info.msg})` : ''}`);
  });
  player.attachMediaElement(video);
  player.load();
  return {
    destroy() {
      player.pause();
      player.unload();
      player.detachMediaElement();
      player.destroy();
    },
  };
}

/**
 * Plays a recording file (a signed same-origin link) in `video`: MP4 by the browser itself, FLV through
 * mpegts.js (not live: seekable). Returns an object with `destroy()`.
 */
export async function playFile(video, format, url, onError) {
  video.controls = true;
  video.muted = true;
  video.playsInline = true;
  if (format === 'flv') {
    const player = await flvPlayer(video, { type: 'flv', isLive: false, url }, { enableWorker: false }, onError);
    video.play().catch(() => {});
    return player;
  }
  const onVideoError = () => onError(`the browser cannot play this file (media error ${video.error?.code ?? '?'})`);
  video.addEventListener('error', onVideoError);
  video.src = url;
  video.play().catch(() => {});
  return {
    destroy() {
      video.removeEventListener('error', onVideoError);
      video.pause();
      video.removeAttribute('src');
      video.load();
    },
  };
}

/** The play URL served by this page's origin (the API builds URLs with the server's public host). */
export function sameOrigin(url) {
  const u = new URL(url);
  return `${location.origin}${u.pathname}${u.search}`;
}
