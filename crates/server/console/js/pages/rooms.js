// Rooms: the live rooms of this node and their members (GET /v1/rooms every 2 s), and the session keys members'
// joins are signed with (POST and PUT /v1/apps/{app}/room-sessions).

import { api } from '../api.js';
import { busy, copyButton, errorBox, every, h, labelled, replace, table } from '../ui.js';

// A member's state as small badges: socket, speaking, microphone, stream.
function memberBadges(m) {
  const badges = [];
  if (!m.connected) badges.push(h('span', { class: 'badge grace' }, 'waiting to resume'));
  if (m.speaking) badges.push(h('span', { class: 'badge live' }, 'speaking'));
  if (m.microphoneMuted) badges.push(h('span', { class: 'badge' }, 'muted'));
  if (m.video) badges.push(h('span', { class: 'badge live' }, 'video on'));
  else if (m.live) badges.push(h('span', { class: 'badge live' }, 'audio only'));
  return h('div', { class: 'member', 'data-member': m.openId }, h('strong', {}, m.openId), ' ', ...badges);
}

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
  const live = h('section', { id: 'room-list' });
  replace(root, h('h1', {}, 'Rooms'), live, form);
  const stop = every(2000, async () => {
    let list;
    try {
      list = await api.rooms();
    } catch (err) {
      replace(live, h('h2', {}, 'Live rooms'), errorBox(err));
      return;
    }
    replace(live, h('h2', {}, list.node ? `Live rooms on node ${list.node}` : 'Live rooms'),
      list.node ? h('p', { class: 'muted' }, 'A room lives on one node: the other nodes list their own.') : null,
      table([
        { label: 'App', cell: (r) => r.app },
        { label: 'Group', cell: (r) => h('span', { 'data-room': `${r.app}/${r.group}` }, r.group) },
        { label: 'Type', cell: (r) => r.roomType },
        { label: 'Members', cell: (r) => h('div', {}, ...r.members.map(memberBadges)) },
      ], list.rooms, 'No live room.'));
  });

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
  return stop;
}
