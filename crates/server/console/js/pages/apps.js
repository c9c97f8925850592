// Apps: list (GET /v1/apps), create (POST), edit the policy (PATCH), rotate a key (POST .../rotate-key) and
// delete (DELETE), each change confirmed where it cannot be undone.

import { api } from '../api.js';
import { field } from '../fields.js';
import { busy, confirmDialog, copyButton, errorBox, fmt, h, labelled, replace, toast } from '../ui.js';

/** What rotating each key breaks, said before it is done. */
const ROTATE = {
  push: 'Every push URL signed with the current push key stops working: publishers must get new URLs (running pushes are not dropped).',
  play: 'Every play URL signed with the current play key stops working (with play auth on): players must get new URLs.',
  callback: 'Webhook receivers must verify signatures with the new callback key from now on.',
  secret: 'SDK access tokens signed with the current secret are refused: the app\'s backend must sign with the new one.',
};

const LIMITS = [
  ['republishGraceMs', 'Republish grace (ms)', 'empty: the server default', 0, 3600000],
  ['maxStreams', 'Max streams', 'empty: no app limit', 1, 1000000],
  ['maxPlayers', 'Max players', 'empty: no app limit', 1, 10000000],
];
const SWITCHES = [
  ['pushAuth', 'Push needs a signed URL'],
  ['playAuth', 'Play needs a signed URL'],
  ['gopCache', 'GOP cache (first frame at once)'],
  ['lowLatency', 'Low-latency mode by default'],
];

export function mount(root) {
  const list = h('div', { id: 'app-list' });
  const error = h('div');
  const name = h('input', { name: 'name', required: true, pattern: '[A-Za-z0-9_\\-]{1,64}', autocomplete: 'off' });
  const pushAuth = h('input', { type: 'checkbox', name: 'pushAuth', checked: true });
  const playAuth = h('input', { type: 'checkbox', name: 'playAuth' });
  const create = h('form', { class: 'card', id: 'create-app' },
    h('h2', {}, 'New app'),
    h('div', { class: 'row' },
      labelled('Name', name, 'the RTMP application name: 1-64 of A-Z a-z 0-9 _ -'),
      h('label', { class: 'check' }, pushAuth, ' Push needs a signed URL'),
      h('label', { class: 'check' }, playAuth, ' Play needs a signed URL'),
      h('button', { type: 'submit' }, 'Create')));
  create.addEventListener('submit', async (e) => {
    e.preventDefault();
    await busy(create.querySelector('button'), async () => {
      try {
        const app = await api.createApp({ name: name.value.trim(), pushAuth: pushAuth.checked, playAuth: playAuth.checked });
        toast(`App ${app.name} created`);
        name.value = '';
        await load();
      } catch (err) {
        toast(err.describe(), 'error');
      }
    });
  });
  replace(root, h('h1', {}, 'Apps'), create, error, list);

  const load = async () => {
    try {
      const { apps } = await api.apps();
      replace(error);
      replace(list, apps.map((a) => appCard(a, load)));
    } catch (err) {
      replace(error, errorBox(err));
    }
  };
  load();
}

function appCard(app, reload) {
  const inputs = {};
  const switches = SWITCHES.map(([key, label]) => {
    inputs[key] = h('input', { type: 'checkbox', name: key, '.checked': Boolean(field(app, key)) });
    return h('label', { class: 'check' }, inputs[key], ` ${label}`);
  });
  const limits = LIMITS.map(([key, label, hint, min, max]) => {
    const v = field(app, key);
    inputs[key] = h('input', { type: 'number', name: key, min, max, '.value': v ?? '' });
    return labelled(label, inputs[key], hint);
  });
  const record = app.record || [];
  inputs.mp4 = h('input', { type: 'checkbox', name: 'record-mp4', '.checked': record.includes('mp4') });
  inputs.flv = h('input', { type: 'checkbox', name: 'record-flv', '.checked': record.includes('flv') });
  inputs.callbackUrls = h('textarea', { name: 'callbackUrls', rows: 2, '.value': (field(app, 'callbackUrls') || []).join('\n') });

  const form = h('form', { class: 'policy' },
    h('fieldset', {}, h('legend', {}, 'Access and playback'), switches),
    h('fieldset', {}, h('legend', {}, 'Limits'), h('div', { class: 'row' }, limits)),
    h('fieldset', {}, h('legend', {}, 'Record every stream as'),
      h('label', { class: 'check' }, inputs.mp4, ' MP4'), h('label', { class: 'check' }, inputs.flv, ' FLV')),
    labelled('Webhook URLs (one a line, at most 8)', inputs.callbackUrls),
    h('button', { type: 'submit' }, 'Save policy'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const patch = {};
    for (const [key] of SWITCHES) patch[key] = inputs[key].checked;
    for (const [key] of LIMITS) {
      const v = inputs[key].value.trim();
      patch[key] = v === '' ? null : Number(v);
    }
    patch.record = ['mp4', 'flv'].filter((f) => inputs[f].checked);
    patch.callbackUrls = inputs.callbackUrls.value.split('\n').map((s) => s.trim()).filter(Boolean);
    await busy(form.querySelector('button[type=submit]'), async () => {
      try {
        await api.updateApp(app.name, patch);
        toast(`Policy of ${app.name} saved`);
        await reload();
      } catch (err) {
        toast(err.describe(), 'error');
      }
    });
  });

  const keyKind = h('select', { name: 'key' }, Object.keys(ROTATE).map((k) => h('option', { value: k }, k)));
  const rotate = h('button', { type: 'button', class: 'danger' }, 'Rotate key…');
  rotate.addEventListener('click', async () => {
    const k = keyKind.value;
    if (!(await confirmDialog(`Rotate the ${k} key of ${app.name}?`, ROTATE[k], 'Rotate'))) return;
    await busy(rotate, async () => {
      try {
        await api.rotateKey(app.name, k);
        toast(`The ${k} key of ${app.name} was rotated`);
        await reload();
      } catch (err) {
        toast(err.describe(), 'error');
      }
    });
  });
  const del = h('button', { type: 'button', class: 'danger' }, 'Delete app…');
  del.addEventListener('click', async () => {
    if (!(await confirmDialog(`Delete ${app.name}?`,
      'Its keys, channels and policy are deleted; new pushes and plays under it are refused (unknown_app).', 'Delete'))) return;
    await busy(del, async () => {
      try {
        await api.deleteApp(app.name);
        toast(`App ${app.name} deleted`);
        await reload();
      } catch (err) {
        toast(err.describe(), 'error');
      }
    });
  });

  const keys = [['pushKey', 'push'], ['playKey', 'play'], ['callbackKey', 'callback'], ['secret', 'secret']];
  return h('section', { class: 'card app', 'data-app': app.name },
    h('h2', {}, app.name, ' ', h('small', { class: 'muted' }, app.id)),
    h('p', { class: 'muted' }, `push auth ${field(app, 'pushAuth') ? 'on' : 'off'} · play auth ${field(app, 'playAuth') ? 'on' : 'off'} · updated ${fmt.time(field(app, 'updatedMs'))}`),
    h('details', {}, h('summary', {}, 'Policy'), form),
    h('details', {}, h('summary', {}, 'Keys'),
      h('dl', { class: 'keys' }, keys.map(([f, label]) => [
        h('dt', {}, label),
        h('dd', {}, h('code', {}, field(app, f) ?? ''), ' ', copyButton(field(app, f) ?? '')),
      ])),
      h('div', { class: 'row' }, labelled('Key', keyKind), rotate)),
    h('div', { class: 'actions' },
      h('a', { class: 'button quiet', href: `#/urls?app=${encodeURIComponent(app.name)}` }, 'URLs…'), del));
}
