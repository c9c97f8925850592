// The vendored libraries, each loaded by its pinned version (the server caches them for a year; a test checks
// that these versions are the manifest's).

export { default as Hls } from '../vendor/hls.min.mjs?v=1.7.4';
export { default as uPlot } from '../vendor/uPlot.esm.js?v=1.6.32';
export { default as qrcode } from '../vendor/qrcode.mjs?v=2.0.4';

let mpegtsLoading;

/** mpegts.js is a UMD file (it sets `window.mpegts`): loaded once, as a classic script, when first needed. */
export function loadMpegts() {
  mpegtsLoading ??= new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = new URL('../vendor/mpegts.js?v=1.8.2', import.meta.url).href;
    script.onload = () => resolve(window.mpegts);
    script.onerror = () => reject(new Error('mpegts.js did not load'));
    document.head.append(script);
  });
  return mpegtsLoading;
}
