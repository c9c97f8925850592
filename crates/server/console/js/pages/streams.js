// Streams: every live stream with its codecs, picture, rates, players and uptime (GET /v1/streams every 2 s),
// filtered by app and name.

import { api } from '../api.js';
import { streamView } from '../fields.js';
import { errorBox, every, fmt, h, labelled, replace, table } from '../ui.js';

export function mount(root) {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const appFilter = h('select', { name: 'app' }, h('option', { value: '' }, 'All apps'));
  const nameFilter = h('input', { type: 'search', name: 'name', placeholder: 'part of the name', '.value': params.get('q') || '' });
  const error = h('div');
  const list = h('div', { id: 'stream-list' });
  const count = h('p', { class: 'muted', 'aria-live': 'polite' });
  let streams = [];

  const render = () => {
    const apps = [...new Set(streams.map((s) => s.app))].sort();
    const chosen = appFilter.value;
    replace(appFilter, h('option', { value: '' }, 'All apps'),
      [...new Set([...apps, chosen].filter(Boolean))].map((a) => h('option', { value: a, '.selected': a === chosen }, a)));
    const q = nameFilter.value.trim().toLowerCase();
    const shown = streams.filter((s) => (!chosen || s.app === chosen) && (!q || s.stream.toLowerCase().includes(q)));
    count.textContent = `${shown.length} of ${streams.length} stream${streams.length === 1 ? '' : 's'}`;
    replace(list, table([
      {
        label: 'Stream',
        cell: (s) => h('a', { href: `#/streams/${encodeURIComponent(s.app)}/${encodeURIComponent(s.stream)}` },
          `${s.app}/${s.stream}`),
      },
      { label: 'State', cell: (s) => h('span', { class: `badge ${s.state}` }, s.state) },
      { label: 'Codecs', cell: (s) => [s.videoCodec, s.audioCodec].filter(Boolean).join(' + ') || '–' },
      { label: 'Resolution', cell: (s) => h('span', { class: 'res' }, fmt.res(s.width, s.height)) },
      { label: 'FPS', cell: (s) => h('span', { class: 'fps' }, fmt.fps(s.fps)) },
      { label: 'Bitrate', cell: (s) => fmt.kbps(s.videoBitrate + s.audioBitrate) },
      { label: 'Players', cell: (s) => String(s.clusterPlayers ?? s.players.total) },
      { label: 'Uptime', cell: (s) => fmt.duration(s.uptimeMs) },
    ], shown, streams.length ? 'No stream matches the filter.' : 'No live stream. Push one with the URL generator.',
    (s) => ({ 'data-stream': `${s.app}/${s.stream}` })));
  };
  appFilter.addEventListener('change', render);
  nameFilter.addEventListener('input', render);

  replace(root, h('h1', {}, 'Streams'),
    h('form', { class: 'filters', role: 'search', onsubmit: (e) => e.preventDefault() },
      labelled('App', appFilter), labelled('Name', nameFilter)),
    count, error, list);

  return every(2000, async () => {
    try {
      streams = (await api.streams()).streams.map(streamView);
      replace(error);
    } catch (err) {
      replace(error, errorBox(err));
    }
    render();
  });
}
