// URL generator: the signed push URL and every play URL of a stream (POST /v1/apps/{app}/urls), each with a copy
// button and a QR code, and an SDK access token (POST /v1/apps/{app}/tokens).

import { api } from '../api.js';
import { field } from '../fields.js';
import { qrCanvas } from '../qr.js';
import { busy, copyButton, errorBox, fmt, h, labelled, replace } from '../ui.js';

const TTLS = [
  [3600, '1 hour'], [86400, '24 hours'], [7 * 86400, '7 days'], [30 * 86400, '30 days'],
];
const PLAY = [['rtmp', 'Play: RTMP'], ['flv', 'Play: HTTP-FLV'], ['hls', 'Play: HLS'], ['llHls', 'Play: LL-HLS']];

export async function mount(root) {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const app = h('select', { name: 'app', required: true });
  const stream = h('input', { name: 'stream', required: true, pattern: '[A-Za-z0-9_.\\-]{1,128}', '.value': params.get('stream') || 'demo' });
  const ttl = h('select', { name: 'ttl' }, TTLS.map(([s, label]) => h('option', { value: s, '.selected': s === 86400 }, label)));
  const out = h('div', { id: 'url-results' });
  const form = h('form', { class: 'card', id: 'url-form' },
    h('div', { class: 'row' }, labelled('App', app), labelled('Stream', stream), labelled('Valid for', ttl),
      h('button', { type: 'submit' }, 'Sign URLs')));

  const channel = h('input', { name: 'channel', required: true, maxlength: 128, '.value': 'demo' });
  const account = h('input', { name: 'account', required: true, maxlength: 128, '.value': 'alice' });
  const role = h('select', { name: 'role' }, ['publisher', 'viewer', 'member'].map((r) => h('option', { value: r }, r)));
  const tokenTtl = h('select', { name: 'tokenTtl' }, TTLS.map(([s, label]) => h('option', { value: s }, label)));
  const tokenOut = h('div', { id: 'token-result' });
  const tokenForm = h('form', { class: 'card', id: 'token-form' },
    h('h2', {}, 'SDK access token'),
    h('p', { class: 'muted' }, 'An HS256 token signed with the app\'s secret, for the mini-program SDK (docs/api.md).'),
    h('div', { class: 'row' }, labelled('Channel', channel), labelled('Account', account), labelled('Role', role),
      labelled('Valid for', tokenTtl), h('button', { type: 'submit' }, 'Mint token')),
    tokenOut);

  replace(root, h('h1', {}, 'URL generator'), form, out, tokenForm);

  try {
    const { apps } = await api.apps();
    const wanted = params.get('app');
    replace(app, apps.map((a) => h('option', { value: a.name, '.selected': a.name === wanted }, a.name)));
  } catch (err) {
    replace(out, errorBox(err));
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    await busy(form.querySelector('button'), async () => {
      try {
        const set = await api.urls(app.value, stream.value.trim(), Number(ttl.value));
        const expires = fmt.time(field(set, 'expiresAt') * 1000);
        replace(out, h('section', { class: 'card' },
          h('h2', {}, `${app.value}/${stream.value.trim()}`),
          h('p', { class: 'muted' }, `Valid for connecting until ${expires}.`),
          h('div', { class: 'urls' },
            urlRow('push', 'Push (OBS, ffmpeg, live-pusher)', set.push),
            PLAY.map(([key, label]) => urlRow(key, label, set.play[key])))));
      } catch (err) {
        replace(out, errorBox(err));
      }
    });
  });

  tokenForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    await busy(tokenForm.querySelector('button'), async () => {
      try {
        const t = await api.sdkToken(app.value, {
          channel: channel.value.trim(), account: account.value.trim(), role: role.value, ttlSecs: Number(tokenTtl.value),
        });
        replace(tokenOut, h('div', { class: 'url' },
          h('code', { class: 'token' }, t.token), copyButton(t.token),
          h('p', { class: 'muted' }, `For app ${app.value}, expires ${fmt.time(field(t, 'expiresAt') * 1000)}.`)));
      } catch (err) {
        replace(tokenOut, errorBox(err));
      }
    });
  });
}

function urlRow(key, label, url) {
  return h('div', { class: 'url', 'data-url': key },
    h('div', { class: 'url-text' },
      h('h3', {}, label),
      h('code', {}, url), ' ', copyButton(url)),
    qrCanvas(url));
}
