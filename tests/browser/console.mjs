// Drives the operator's console (/console/) in headless Chromium (Playwright, /usr/bin/chromium) against a real
// mplive server that has a live stream, and prints one JSON line:
//   {"listMs", "resolution", "fps", "advanced": {"hls", "rtc", "flv"}, "rtcFrames", "kicked", "interruption", "app", "pushUrl", "qrText",
//    "screenshots": [...], "errors": [...]}
// It throws (exit 1) when a step fails; `errors` holds every console error and page error not expected by the step
// (the wrong-token step expects the browser's log line of the 401).
//
// usage: node console.mjs --base http://127.0.0.1:8080 --token TOKEN --stream live/cam --out DIR

import { chromium } from 'playwright-core';
import jsQR from 'jsqr';

const args = process.argv.slice(2);
const arg = (name) => {
  const at = args.indexOf(`--${name}`);
  if (at < 0 || !args[at + 1]) {
    console.error('usage: node console.mjs --base URL --token TOKEN --stream APP/STREAM --out DIR');
    process.exit(2);
  }
  return args[at + 1];
};
const base = arg('base').replace(/\/$/, '');
const token = arg('token');
const [app, stream] = arg('stream').split('/');
const out = arg('out');

const WIDTHS = { phone: { width: 390, height: 844 }, desktop: { width: 1440, height: 900 } };
const report = { advanced: {}, screenshots: [], errors: [] };
let step = 'start';
const log = (text) => console.error(`[${((performance.now()) / 1000).toFixed(1)} s] ${text}`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // Loopback WebRTC candidates are ignored by default; the test server is on 127.0.0.1.
  args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--mute-audio',
    '--allow-loopback-in-peer-connection'],
});

function watch(page) {
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    if (step === 'wrong-token' && /status of 401/.test(text)) return;
    report.errors.push(`${step}: console: ${text}`);
  });
  page.on('pageerror', (e) => report.errors.push(`${step}: pageerror: ${e.message}`));
}

async function shoot(page, name, { top = true } = {}) {
  for (const size of Object.values(WIDTHS)) {
    await page.setViewportSize(size);
    if (top) await page.evaluate(() => window.scrollTo(0, 0));
    await page.waitForTimeout(150); // charts follow their container's width
    const path = `${out}/${name}-${size.width}.png`;
    await page.screenshot({ path });
    report.screenshots.push(path);
  }
  await page.setViewportSize(WIDTHS.desktop);
}

/** How far the preview's currentTime moves within `within` ms after it starts moving (the first frame). */
async function previewAdvance(page, kind, within) {
  await page.selectOption('#preview-kind', kind);
  return page.evaluate(async ({ within }) => {
    const video = document.getElementById('preview');
    const t0 = performance.now();
    // Wait for the new source's first frame (the old one's time is reset when the source changes).
    await new Promise((r) => setTimeout(r, 300));
    while (!(video.readyState >= 2 && video.currentTime > 0) && performance.now() - t0 < within) {
      await new Promise((r) => setTimeout(r, 50));
    }
    // Then 3.2 s of playing, timed from the first frame: a slow start on a loaded machine (HLS waits for a
    // segment) does not eat into it, while a player that stalls still fails.
    const start = video.currentTime;
    const t1 = performance.now();
    while (video.currentTime - start < 3.2 && performance.now() - t1 < 6000) {
      await new Promise((r) => setTimeout(r, 100));
    }
    return { advanced: video.currentTime - start, seconds: (performance.now() - t0) / 1000 };
  }, { within });
}

try {
  const context = await browser.newContext({ viewport: WIDTHS.desktop });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  const page = await context.newPage();
  watch(page);

  step = 'root redirect';
  log(step);
  await page.goto(`${base}/`);
  if (!page.url().endsWith('/console/')) throw new Error(`/ led to ${page.url()}, not /console/`);
  await page.waitForSelector('#sign-in:not([hidden])');
  await shoot(page, 'sign-in');

  step = 'wrong-token';
  log(step);
  await page.fill('#token', 'not-the-token');
  await page.click('#sign-in-form button[type=submit]');
  await page.waitForSelector('#sign-in-error:not([hidden])');
  const wrong = await page.textContent('#sign-in-error');
  if (!/refused/.test(wrong) || !/admin token is wrong/.test(wrong)) throw new Error(`wrong token message: ${wrong}`);
  report.wrongTokenMessage = wrong;
  await page.waitForTimeout(200);

  step = 'sign-in';
  log(step);
  await page.fill('#token', token);
  await page.click('#sign-in-form button[type=submit]');
  await page.waitForSelector('#nav:not([hidden])');
  await page.waitForSelector('[data-tile=streams]');

  step = 'token in the fragment';
  log(step);
  const tab = await context.newPage();
  watch(tab);
  await tab.goto(`${base}/console/#token=${encodeURIComponent(token)}`);
  await tab.waitForSelector('#nav:not([hidden])');
  if (tab.url().includes(token)) throw new Error(`the token stayed in the address bar: ${tab.url()}`);
  await tab.close();

  step = 'overview';
  log(step);
  await page.waitForFunction(() => document.querySelector('[data-tile=streams] .tile-value')?.textContent === '1');
  await page.waitForFunction(() => !document.querySelector('[data-tile=ingest] .tile-value')?.textContent.includes('…'));
  await page.waitForTimeout(2100); // a second point on the charts
  await shoot(page, 'overview');

  step = 'streams';
  log(step);
  const t0 = Date.now();
  await page.goto(`${base}/console/#/streams`);
  const row = `tr[data-stream="${app}/${stream}"]`;
  await page.waitForSelector(row, { timeout: 2000 });
  report.listMs = Date.now() - t0;
  report.resolution = await page.textContent(`${row} .res`);
  report.fps = await page.textContent(`${row} .fps`);
  await page.fill('input[name=name]', 'no-such-stream');
  await page.waitForSelector(row, { state: 'detached', timeout: 1000 });
  await page.fill('input[name=name]', stream);
  await page.waitForSelector(row, { timeout: 1000 });
  await shoot(page, 'streams');

  step = 'stream page';
  log(step);
  await page.click(`${row} a`);
  await page.waitForSelector('[data-state=live]');
  // WebRTC between the two: switching from it to FLV DELETEs its WHEP session (the Rust side reads the log).
  for (const kind of ['hls', 'rtc', 'flv']) {
    step = `preview ${kind}`;
    log(step);
    // HLS has no first frame before its first segment, which the server starts making at the first request: on a
    // loaded machine that took over 8 s once (the fresh-clone run of 2026-12-03 18:30 UTC).
    const r = await previewAdvance(page, kind, kind === 'hls' ? 20000 : 8000);
    report.advanced[kind] = r.advanced;
    if (r.advanced < 3) {
      report.previewNote = await page.textContent('.preview-note');
      throw new Error(`${kind} preview: currentTime moved ${r.advanced} s in ${r.seconds} s`);
    }
    if (kind === 'rtc') {
      // Pictures decoded, not only a clock running, and the session listed among the stream's players.
      report.rtcFrames = await page.evaluate(() => document.getElementById('preview').getVideoPlaybackQuality().totalVideoFrames);
      if (!(report.rtcFrames > 0)) throw new Error(`rtc preview: ${report.rtcFrames} frames decoded`);
      await page.waitForSelector('tr[data-player=webrtc]', { state: 'attached', timeout: 5000 });
    }
  }
  // The preview is an HTTP-FLV player of this node: the players table lists it.
  try {
    await page.waitForSelector('tr[data-player=flv]', { state: 'attached', timeout: 5000 });
  } catch (e) {
    report.peopleText = await page.textContent('.people');
    throw e;
  }
  await page.waitForTimeout(2100);
  await shoot(page, 'stream');

  step = 'record';
  log(step);
  // Start and stop a recording from the page (MP4, the dialog's default); the Rust side reads the file.
  await page.click('[data-action=start-recording]');
  await page.waitForSelector('dialog#confirm[open]');
  await page.click('#confirm-ok');
  await page.waitForSelector('dialog#confirm', { state: 'hidden' });
  await page.waitForSelector('[data-recording=mp4]', { timeout: 3000 });
  await page.waitForTimeout(3500);
  await page.click('[data-action=stop-recording]');
  await page.waitForSelector('dialog#confirm[open]');
  await page.click('#confirm-ok');
  await page.waitForSelector('dialog#confirm', { state: 'hidden' });
  await page.waitForSelector('[data-recording=off]', { timeout: 3000 });
  report.recorded = true;

  step = 'kick';
  log(step);
  await page.click('[data-action=kick]');
  await page.waitForSelector('dialog#confirm[open]');
  await page.click('#confirm-ok');
  const kickedAt = Date.now();
  await page.waitForFunction(() => {
    const s = document.querySelector('[data-state]')?.dataset.state;
    return s && s !== 'live';
  }, null, { timeout: 3000 });
  report.kicked = { state: await page.getAttribute('[data-state]', 'data-state'), ms: Date.now() - kickedAt };
  // The kick's interruption record appears in the page's list once the stream is gone.
  await page.waitForSelector('.interruptions [data-reason=kicked]', { timeout: 5000 });
  report.interruption = await page.getAttribute('.interruptions [data-reason]', 'data-reason');

  step = 'forbid';
  log(step);
  // Forbid for an hour from the page; the Rust side checks that the next push is refused.
  await page.click('[data-action=forbid]');
  await page.waitForSelector('dialog#confirm[open]');
  await page.fill('dialog#confirm input[name=reason]', 'console test');
  await page.click('#confirm-ok');
  await page.waitForSelector('dialog#confirm', { state: 'hidden' });
  await page.waitForSelector('[data-forbidden=true]', { timeout: 3000 });
  report.forbidden = true;

  step = 'apps';
  log(step);
  await page.goto(`${base}/console/#/apps`);
  await page.waitForSelector('[data-app=live]');
  report.app = 'web1';
  await page.fill('#create-app input[name=name]', report.app);
  await page.click('#create-app button[type=submit]');
  await page.waitForSelector(`[data-app=${report.app}]`);
  await page.click(`[data-app=${report.app}] details summary`);
  await page.locator(`[data-app=${report.app}]`).scrollIntoViewIfNeeded();
  await shoot(page, 'apps', { top: false });

  step = 'urls';
  log(step);
  await page.goto(`${base}/console/#/urls?app=${report.app}`);
  await page.waitForSelector(`#url-form select[name=app] option[value=${report.app}]`, { state: 'attached' });
  await page.selectOption('#url-form select[name=app]', report.app);
  await page.fill('#url-form input[name=stream]', 'gen1');
  await page.click('#url-form button[type=submit]');
  await page.waitForSelector('[data-url=push] canvas.qr');
  report.pushUrl = await page.textContent('[data-url=push] code');
  report.playUrls = await page.$$eval('[data-url] code', (els) => els.map((e) => e.textContent));
  const image = await page.$eval('[data-url=push] canvas.qr', (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height);
    return { width: d.width, height: d.height, data: Array.from(d.data) };
  });
  const qr = jsQR(Uint8ClampedArray.from(image.data), image.width, image.height);
  report.qrText = qr ? qr.data : null;
  if (report.qrText !== report.pushUrl) throw new Error(`QR code reads ${report.qrText}, the push URL is ${report.pushUrl}`);
  await page.click('#token-form button[type=submit]');
  await page.waitForSelector('#token-result code.token');
  await shoot(page, 'urls');

  for (const name of ['webhooks', 'recordings']) {
    step = name;
    log(step);
    await page.goto(`${base}/console/#/${name}`);
    await page.waitForSelector(`#${name.slice(0, -1)}-list > *`);
    if (name === 'webhooks') {
      // The app's webhook receiver refuses connections: its deliveries show their failed attempts and error.
      await page.waitForFunction(() => [...document.querySelectorAll('#webhook-list tr')]
        .some((tr) => tr.textContent.includes('push_start')
          && Number(tr.querySelector('td[data-label=Attempts]')?.textContent) >= 1
          && !['', '–'].includes(tr.querySelector('td[data-label="Last error"]')?.textContent.trim() ?? '')), null,
      { timeout: 12000 });
      report.webhookRows = await page.$$eval('#webhook-list tr', (rows) => rows.map((r) => r.textContent));
    }
    if (name === 'recordings') {
      // The MP4 recorded above plays in the page through a signed link, and downloads as a file.
      const mp4 = '#recording-list button[data-action=play][data-path$=".mp4"]';
      await page.waitForSelector(mp4);
      await page.click(mp4);
      await page.waitForSelector('#recording-video');
      const played = await page.evaluate(async () => {
        const video = document.getElementById('recording-video');
        const t0 = performance.now();
        while (!(video.readyState >= 2 && video.currentTime > 0) && performance.now() - t0 < 8000) {
          await new Promise((r) => setTimeout(r, 50));
        }
        const start = video.currentTime;
        while (video.currentTime - start < 1.5 && performance.now() - t0 < 10000) {
          await new Promise((r) => setTimeout(r, 100));
        }
        return { advanced: video.currentTime - start, error: video.error ? video.error.code : null };
      });
      report.recordingPlay = played;
      if (played.advanced < 1.5) throw new Error(`recording: currentTime moved ${played.advanced} s (error ${played.error})`);
      const [download] = await Promise.all([
        page.waitForEvent('download', { timeout: 8000 }),
        page.click('#recording-list button[data-action=download][data-path$=".mp4"]'),
      ]);
      report.recordingDownload = download.suggestedFilename();
      if (!report.recordingDownload.endsWith('.mp4')) throw new Error(`download named ${report.recordingDownload}`);
    }
    await shoot(page, name);
  }

  step = 'rooms';
  log(step);
  await page.goto(`${base}/console/#/rooms`);
  await page.waitForSelector('#room-list h2');
  await page.waitForSelector('select[name=app] option[value=live]', { state: 'attached' });
  await page.fill('input[name=openId]', 'o1');
  await page.click('#room-create');
  await page.waitForSelector('#room-result code');
  await shoot(page, 'rooms');
  step = 'done';
} catch (e) {
  report.failed = `${step}: ${e.message}`;
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
if (report.failed) {
  console.error(report.failed);
  process.exit(1);
}
