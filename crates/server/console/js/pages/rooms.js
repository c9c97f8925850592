// Rooms: the session keys members' joins are signed with (POST and PUT /v1/apps/{app}/room-sessions). The API
// has no list of live rooms, so none is shown.

import { api } from '../api.js';
import { busy, copyButton, errorBox, h, labelled, replace } from '../ui.js';

export async function mount(root) {
  const app = h('select', { name: 'app' });
  const openId = h('input', { name: 'openId', required: true, pattern: '[A-Za-z0-9_.\\-]{1,128}', autocomplete: 'off' });
  const key = h('input', { name: 'sessionKey', autocomplete: 'off', spellcheck: 'false' });
  const out = h('div', { id: 'room-result', 'aria-live': 'polite' });
  const create = h('button', { type: 'submit', id: 'room-create' }, 'Create a fresh key');
  const put = h('button', { type: 'button', class: 'quiet' }, 'Register this key');
  const form = h('form', { class: 'card' },
    h('h2', {}, 'Room session key'),
    h('p', { class: 'muted' }, 'A member\'s room joins are signed with its session key (docs/rooms-protocol.md). '
      + 'A new key replaces the member\'s previous one.'),
    h('div', { class: 'row' }, labelled('App', app), labelled('openId', openId, 'A-Z a-z 0-9 _ . -, 1-128'), create),
    h('div', { class: 'row' }, labelled('Key chosen by your backend (optional)', key, '1-256 printable ASCII, no spaces'), put),
    out);
  replace(root, h('h1', {}, 'Rooms'), form,
    h('p', { class: 'note' }, 'The API has no list of live rooms or their members yet; this page only manages session keys.'));

  try {
    const { apps } = await api.apps();
    replace(app, apps.map((a) => h('option', { value: a.name }, a.name)));
  } catch (err) {
    replace(out, errorBox(err));
  }
  const show = (s) => replace(out, h('div', { class: 'url' },
    h('p', {}, `openId ${s.openId}:`), h('code', {}, s.sessionKey), copyButton(s.sessionKey)));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    await busy(create, async () => {
      try {
        show(await api.roomSession(app.value, openId.value.trim()));
      } catch (err) {
        replace(out, errorBox(err));
      }
    });
  });
  put.addEventListener('click', async () => {
    if (!form.reportValidity()) return;
    await busy(put, async () => {
      try {
        const s = await api.putRoomSession(app.value, openId.value.trim(), key.value);
        show({ openId: s?.openId ?? openId.value.trim(), sessionKey: s?.sessionKey ?? key.value });
      } catch (err) {
        replace(out, errorBox(err));
      }
    });
  });
}
