// Recordings: the files the server wrote (GET /v1/recordings) with size and duration.

import { api } from '../api.js';
import { errorBox, every, fmt, h, replace, table } from '../ui.js';

export function mount(root) {
  const error = h('div');
  const list = h('div', { id: 'recording-list' });
  replace(root, h('h1', {}, 'Recordings'),
    h('p', { class: 'note' }, 'The API lists the files but does not serve them: there is no download endpoint under /v1 yet, '
      + 'so they cannot be played or downloaded from here. They are in the server\'s recordings directory, at the paths below.'),
    error, list);
  return every(5000, async () => {
    try {
      const { recordings } = await api.recordings();
      replace(error);
      replace(list, table([
        { label: 'File', cell: (r) => h('code', {}, r.path) },
        { label: 'Format', cell: (r) => r.format.toUpperCase() },
        { label: 'Size', cell: (r) => fmt.bytes(r.size) },
        { label: 'Duration', cell: (r) => (r.duration === null || r.duration === undefined ? 'being written / unknown' : fmt.duration(r.duration * 1000)) },
        { label: 'Modified', cell: (r) => fmt.time(r.modified * 1000) },
      ], recordings, 'No recording yet: start one from a stream\'s page, or turn on recording in an app\'s policy.'));
    } catch (err) {
      replace(error, errorBox(err));
    }
  });
}
