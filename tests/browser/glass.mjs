// Glass-to-glass latency of WHEP playback in headless Chromium: plays a WHEP URL whose video shows its own frame
// index as 16 vertical bars (bar k bright when bit k of the index is set; bench/glass.sh makes such a fixture) and,
// for every picture Chromium presents (requestVideoFrameCallback), reads the bars from a canvas and records the
// index with the wallclock of its expected display. Prints one JSON line:
//   {"url", "status", "posts", "firstFrameMs", "frames": [[index, unixMs], ...], "unreadable", "width", "height",
//    "errors"}
// The publisher's send time of frame i is known to whoever published it (bench/glass.sh: `mplive bench`'s
// publisher.first_frame_unix_ms + i x 40 ms). The bars and the player are bars.mjs's (glass-whip.mjs uses them too).
//
// usage: node glass.mjs URL [--seconds N]
import { chromium } from 'playwright-core';
import { installBars, playWhep } from './bars.mjs';

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
  await installBars(page);
  result = await page.evaluate(playWhep, { url, seconds, pictures: seconds * 25 });
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
