// What glass.mjs and glass-whip.mjs share: a picture shows its frame index N as 16 vertical bars, full height
// (bar k bright, luma ~235, when bit k of N is set, else dark, luma ~16: bench/glass.sh's fixture, or the canvas
// glass-whip.mjs publishes), and a WHEP player page that reads the index of every picture Chromium presents.
//
// drawBars, readBars and playWhep run in the page: Playwright serialises them (Function.toString), so each is
// self-contained; `installBars(page)` defines drawBars and readBars in the page's document and in every later one
// (goto), and playWhep, passed to page.evaluate, uses readBars.

// Draws index N on a 2D context as 16 bars. RGB white and black: the encoder's limited range makes them luma 235
// and 16.
export function drawBars(ctx, n, w, h) {
  for (let k = 0; k < 16; k++) {
    ctx.fillStyle = (n >> k) & 1 ? '#fff' : '#000';
    const x0 = Math.round((k * w) / 16);
    ctx.fillRect(x0, 0, Math.round(((k + 1) * w) / 16) - x0, h);
  }
}

// Reads the index from the middle row of a 2D context (the bar centres); null when a bar is neither dark nor bright
// (a picture blurred by the encoder, or a transition).
export function readBars(ctx, w, h) {
  const row = ctx.getImageData(0, Math.floor(h / 2), w, 1).data;
  let index = 0;
  for (let k = 0; k < 16; k++) {
    const luma = row[4 * Math.floor(((k + 0.5) * w) / 16)];
    if (luma > 60 && luma < 190) return null;
    if (luma >= 128) index += 2 ** k;
  }
  return index;
}

// Plays a WHEP URL (recvonly video) and, for every picture presented (requestVideoFrameCallback), reads its index
// and records it with the wallclock of its expected display (performance.timeOrigin + expectedDisplayTime).
// Stops after `pictures` readable pictures, or `afterFirstMs` after the first picture, or 20 s + `seconds`.
// `retryMs`: POST the offer again (every 200 ms, up to that long) while the answer is not 201 (the stream is not
// live yet). Returns {url, status, posts, firstFrameMs, frames: [[index, unixMs], ...], unreadable, width, height,
// errors}; firstFrameMs counts from the POST that was answered 201.
export async function playWhep({ url, seconds, pictures, afterFirstMs = null, retryMs = 0 }) {
  const errors = [];
  let video = document.getElementById('v');
  if (!video) {
    video = document.createElement('video');
    video.id = 'v';
    video.muted = true;
    video.playsInline = true;
    video.autoplay = true;
    document.body.appendChild(video);
  }
  const pc = new RTCPeerConnection();
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.ontrack = (e) => {
    if (!video.srcObject) video.srcObject = new MediaStream();
    video.srcObject.addTrack(e.track);
    video.play().catch(() => {});
  };
  await pc.setLocalDescription(await pc.createOffer());
  const giveUp = performance.now() + retryMs;
  let t0;
  let resp;
  let answer;
  let posts = 0;
  for (;;) {
    posts += 1;
    t0 = performance.now();
    resp = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/sdp' },
      body: pc.localDescription.sdp,
    });
    answer = await resp.text();
    if (resp.status === 201 || performance.now() >= giveUp) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const location = resp.headers.get('location');
  if (resp.status !== 201) {
    pc.close();
    return { url, status: resp.status, posts, body: answer, errors: [`POST answered ${resp.status}`] };
  }
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const frames = [];
  let unreadable = 0;
  let firstFrameMs = null;
  let firstAt = null;
  let width = null;
  let height = null;
  await new Promise((done) => {
    const end = performance.now() + 20000 + seconds * 1000;
    const onFrame = (_now, meta) => {
      try {
        onPicture(meta);
      } catch (e) {
        errors.push(`reading a picture: ${e}`);
        done();
        return;
      }
      const more = performance.now() < end && frames.length < pictures
        && (afterFirstMs === null || performance.now() < firstAt + afterFirstMs);
      if (more) video.requestVideoFrameCallback(onFrame);
      else done();
    };
    const onPicture = (meta) => {
      if (firstFrameMs === null) {
        firstAt = performance.now();
        firstFrameMs = Math.round(firstAt - t0);
      }
      const w = meta.width;
      const h = meta.height;
      width = w;
      height = h;
      if (canvas.width !== w) canvas.width = w;
      if (canvas.height !== h) canvas.height = h;
      ctx.drawImage(video, 0, 0, w, h);
      const index = readBars(ctx, w, h);
      if (index !== null) frames.push([index, performance.timeOrigin + meta.expectedDisplayTime]);
      else unreadable += 1;
    };
    video.requestVideoFrameCallback(onFrame);
    setTimeout(done, 20000 + seconds * 1000 + 1000);
  });
  if (firstFrameMs === null) errors.push('no picture presented');
  if (location) await fetch(new URL(location, url), { method: 'DELETE' });
  pc.close();
  return { url, status: resp.status, posts, firstFrameMs, frames, unreadable, width, height, errors };
}

export async function installBars(page) {
  const content = `window.drawBars = ${drawBars};\nwindow.readBars = ${readBars};`;
  await page.addInitScript({ content });
  await page.evaluate(content);
}
