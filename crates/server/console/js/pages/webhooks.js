// Webhooks: the delivery log (GET /v1/webhooks, newest first), filtered by app (on the server) and by state.

import { api } from '../api.js';
import { field } from '../fields.js';
import { errorBox, every, fmt, h, labelled, replace, table } from '../ui.js';

export function mount(root) {
  const state = h('select', { name: 'state' },
    ['', 'pending', 'delivered', 'failed'].map((s) => h('option', { value: s }, s || 'every state')));
  const app = h('select', { name: 'app' }, h('option', { value: '' }, 'All apps'));
  const error = h('div');
  const list = h('div', { id: 'webhook-list' });
  let deliveries = [];
  let appIds = new Map();

  const render = () => {
    const shown = deliveries.filter((d) => !state.value || d.state === state.value);
    replace(list, table([
      { label: 'Time', cell: (d) => fmt.time(field(d, 'createdMs')) },
      { label: 'App', cell: (d) => appIds.get(field(d, 'appId')) || field(d, 'appId') },
      { label: 'Event', cell: (d) => d.event },
      { label: 'State', cell: (d) => h('span', { class: `badge ${d.state}` }, d.state) },
      { label: 'Attempts', cell: (d) => String(d.attempts) },
      { label: 'Last status', cell: (d) => String(field(d, 'lastStatus') ?? '–') },
      { label: 'Last error', cell: (d) => field(d, 'lastError') || '–' },
      { label: 'URL', cell: (d) => h('code', {}, d.url) },
      { label: 'Body', cell: (d) => h('details', {}, h('summary', {}, 'body'), h('pre', {}, d.body)) },
    ], shown, deliveries.length ? 'No delivery in this state.' : 'No webhook sent yet (apps without webhook URLs send none).'));
  };
  state.addEventListener('change', render);
  app.addEventListener('change', () => load());

  replace(root, h('h1', {}, 'Webhooks'),
    h('form', { class: 'filters', onsubmit: (e) => e.preventDefault() }, labelled('App', app), labelled('State', state)),
    error, list);

  const load = async () => {
    try {
      const [{ apps }, log] = await Promise.all([
        api.apps(), api.webhooks({ limit: 500, ...(app.value ? { app: app.value } : {}) }),
      ]);
      appIds = new Map(apps.map((a) => [a.id, a.name]));
      const chosen = app.value;
      replace(app, h('option', { value: '' }, 'All apps'),
        apps.map((a) => h('option', { value: a.name, '.selected': a.name === chosen }, a.name)));
      deliveries = log.deliveries;
      replace(error);
    } catch (err) {
      replace(error, errorBox(err));
    }
    render();
  };
  return every(5000, load);
}
