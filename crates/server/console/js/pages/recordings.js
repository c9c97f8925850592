// Recordings: the files the server wrote (GET /v1/recordings) with size and duration; each plays in the page or
// downloads through a signed link (POST /v1/recordings/url), since a <video> cannot send the admin token.

import { api } from '../api.js';
import { playFile } from '../player.js';
import { busy, errorBox, every, fmt, h, replace, table } from '../ui.js';

export function mount(root) {
  const error = h('div');
  const actionError = h('div');
  const list = h('div', { id: 'recording-list' });
  const viewer = h('div', { id: 'recording-player' });
  let current = null;

  const stopPlayer = () => {
    if (current) current.destroy();
    current = null;
    replace(viewer);
  };

  const play = async (r) => {
    stopPlayer();
    const { url } = await api.recordingUrl(r.path);
    const video = h('video', { id: 'recording-video', controls: true });
    const problem = h('div');
    replace(viewer,
      h('h2', {}, 'Playing ', h('code', {}, r.path)),
      video, problem,
      h('p', {}, h('button', { type: 'button', onclick: stopPlayer }, 'Close')));
    current = await playFile(video, r.format, url, (text) => replace(problem, errorBox(new Error(text))));
  };

  const download = async (r) => {
    const { url } = await api.recordingUrl(r.path);
    const a = h('a', { href: `${url}&download=1`, download: r.path.split('/').pop() });
    document.body.append(a);
    a.click();
    a.remove();
  };

  const action = (label, fn, r) => {
    const button = h('button', { type: 'button', 'data-action': label.toLowerCase(), 'data-path': r.path });
    button.textContent = label;
    button.addEventListener('click', () => busy(button, async () => {
      try {
        replace(actionError);
        await fn(r);
      } catch (err) {
        replace(actionError, errorBox(err));
      }
    }));
    return button;
  };

  replace(root, h('h1', {}, 'Recordings'),
    h('p', { class: 'note' }, 'Play or download a file: the page first asks the API for a signed link to it (valid for '
      + 'an hour), which the player or the browser\'s download then fetches without the admin token.'),
    error, actionError, viewer, list);
  const stopList = every(5000, async () => {
    try {
      const { recordings } = await api.recordings();
      replace(error);
      replace(list, table([
        { label: 'File', cell: (r) => h('code', {}, r.path) },
        { label: 'Format', cell: (r) => r.format.toUpperCase() },
        { label: 'Size', cell: (r) => fmt.bytes(r.size) },
        { label: 'Duration', cell: (r) => (r.duration === null || r.duration === undefined ? 'being written / unknown' : fmt.duration(r.duration * 1000)) },
        { label: 'Modified', cell: (r) => fmt.time(r.modified * 1000) },
        { label: 'Actions', cell: (r) => [action('Play', play, r), ' ', action('Download', download, r)] },
      ], recordings, 'No recording yet: start one from a stream\'s page, or turn on recording in an app\'s policy.'));
    } catch (err) {
      replace(error, errorBox(err));
    }
  });
  return () => {
    stopList();
    stopPlayer();
  };
}
