// The live preview: HTTP-FLV through mpegts.js, HLS and LL-HLS through hls.js, into one <video>.

import { Hls, loadMpegts } from './vendor.js';

/** What the preview can play, by the key of the API's play URLs. */
export const KINDS = [
  { key: 'flv', label: 'HTTP-FLV (mpegts.js)' },
  { key: 'hls', label: 'HLS (hls.js)' },
  { key: 'llHls', label: 'LL-HLS (hls.js)' },
];

/**
 * Plays `url` (a play URL of kind `kind`) in `video`; `onError(text)` reports fatal errors. Returns an object
 * with `destroy()`.
 */
export async function play(video, kind, url, onError) {
  video.muted = true;
  video.playsInline = true;
  const start = () => video.play().catch(() => {});
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
