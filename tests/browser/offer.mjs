// Prints the SDP offer headless Chromium makes for recvonly video and audio (what tests/browser/whep.mjs sends),
// to refresh crates/server/src/webrtc/testdata/chrome-offer-full.sdp.
//
// usage: node offer.mjs > ../../crates/server/src/webrtc/testdata/chrome-offer-full.sdp
import { chromium } from 'playwright-core';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
try {
  const page = await browser.newPage();
  const sdp = await page.evaluate(async () => {
    const pc = new RTCPeerConnection();
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    const offer = await pc.createOffer();
    pc.close();
    return offer.sdp;
  });
  process.stdout.write(sdp);
} finally {
  await browser.close();
}
