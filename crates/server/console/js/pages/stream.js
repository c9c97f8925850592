// One stream: a live preview (FLV, HLS, LL-HLS or WebRTC, signed through POST /v1/apps/{app}/urls), its rates
// over time, publisher and players, the operator's actions (kick, forbid, unforbid, record), each confirmed and
// followed by a refetch, and its last interruptions (GET /v1/interruptions).

import { api, ApiError } from '../api.js';
import { TimeChart } from '../chart.js';
import { streamView } from '../fields.js';
import { KINDS, play, sameOrigin } from '../player.js';
import { busy, confirmDialog, errorBox, every, fmt, h, labelled, replace, table, toast } from '../ui.js';

export function mount(root, [app, stream]) {
  const name = `${app}/${stream}`;
  const status = h('div', { class: 'stream-status', 'aria-live': 'polite' });
  const stats = h('dl', { class: 'stats' });
  const people = h('div', { class: 'people' });
  const video = h('video', { id: 'preview', muted: true, playsinline: true, controls: true });
  const kind = h('select', { id: 'preview-kind', name: 'kind' },
    KINDS.map((k) => h('option', { value: k.key }, k.label)));
  const previewNote = h('p', { class: 'muted preview-note', 'aria-live': 'polite' });
  const charts = h('div', { class: 'charts' });
  const actions = h('div', { class: 'actions' });
  const interruptions = h('div', { class: 'interruptions' });

  replace(root,
    h('p', {}, h('a', { href: '#/streams' }, '← Streams')),
    h('h1', {}, name),
    status,
    h('div', { class: 'two' },
      h('section', { class: 'card' }, h('h2', {}, 'Preview'),
        h('div', { class: 'row' }, labelled('Protocol', kind)),
        h('div', { class: 'video' }, video), previewNote),
      h('section', { class: 'card' }, h('h2', {}, 'Now'), stats, people)),
    h('section', { class: 'card' }, h('h2', {}, 'Actions'), actions),
    charts,
    h('section', { class: 'card' }, h('h2', {}, 'Interruptions'), interruptions));

  const bitrate = new TimeChart(charts, 'Bitrate (kbit/s)', [{ label: 'videoBitrate' }, { label: 'audioBitrate' }]);
  const fps = new TimeChart(charts, 'Frame rate', [{ label: 'videoFPS' }]);
  // The charts start with the server's last minutes of the stream (GET .../history), then grow every 2 s.
  api.history(app, stream).then((h) => {
    for (const x of h.samples) {
      bitrate.push([x.videoBitrate, x.audioBitrate], x.atMs / 1000);
      fps.push([x.videoFPS], x.atMs / 1000);
    }
  }).catch(() => {});

  // --- preview
  let player = null;
  let playUrls = null;
  let previewRun = 0;
  const startPreview = async () => {
    const run = ++previewRun;
    player?.destroy();
    player = null;
    previewNote.textContent = '';
    try {
      // Signed when the app's play auth is on; plain otherwise. An hour is plenty for a preview.
      playUrls ??= (await api.urls(app, stream, 3600)).play;
      if (run !== previewRun) return;
      const url = sameOrigin(playUrls[KINDS.find((k) => k.key === kind.value).url]);
      const p = await play(video, kind.value, url, (text) => {
        previewNote.textContent = `Preview error: ${text}`;
      });
      if (run !== previewRun) p.destroy();
      else player = p;
    } catch (err) {
      previewNote.textContent = `Preview unavailable: ${err.describe ? err.describe() : err.message}`;
    }
  };
  kind.addEventListener('change', startPreview);

  // --- actions
  const act = async (button, title, body, okLabel, run, done) => {
    const form = typeof body === 'function' ? body() : body;
    if (!(await confirmDialog(title, form, okLabel))) return;
    await busy(button, async () => {
      try {
        const result = await run(form);
        toast(done(result));
      } catch (err) {
        toast(err.describe ? err.describe() : String(err), 'error');
      }
      await refresh();
    });
  };
  const button = (label, cls, onclick) => {
    const b = h('button', { type: 'button', class: cls, 'data-action': label.toLowerCase().replace(/\s+/g, '-') }, label);
    b.addEventListener('click', () => onclick(b));
    return b;
  };
  replace(actions,
    button('Kick', 'danger', (b) => act(b, `Kick ${name}?`,
      'The publisher is disconnected now. It may connect again at once (forbid keeps it out); players wait for it during the republish grace.',
      'Kick', () => api.kick(app, stream), () => 'Publisher kicked')),
    button('Forbid', 'danger', (b) => act(b, `Forbid ${name}?`, () => h('div', {},
      h('p', {}, 'The publisher is disconnected now and refused until the forbid ends.'),
      labelled('For (seconds)', h('input', { type: 'number', name: 'seconds', min: 1, value: 3600, required: true })),
      labelled('Reason (optional)', h('input', { type: 'text', name: 'reason', maxlength: 256 }))),
    'Forbid', (form) => {
      const seconds = Number(form.querySelector('[name=seconds]').value) || 3600;
      const reason = form.querySelector('[name=reason]').value.trim();
      return api.forbid(app, stream, reason ? { seconds, reason } : { seconds });
    }, (r) => `Forbidden until ${fmt.time(r.until * 1000)}${r.kicked ? '; publisher dropped' : ''}`)),
    button('Unforbid', 'quiet', (b) => act(b, `Lift the forbid of ${name}?`,
      'The stream may be published again at once.', 'Unforbid', () => api.unforbid(app, stream), () => 'Forbid lifted')),
    button('Start recording', 'quiet', (b) => act(b, `Record ${name}?`, () => h('fieldset', {},
      h('legend', {}, 'Formats'),
      h('label', {}, h('input', { type: 'checkbox', name: 'mp4', checked: true }), ' MP4'),
      h('label', {}, h('input', { type: 'checkbox', name: 'flv' }), ' FLV')),
    'Record', (form) => {
      const formats = ['mp4', 'flv'].filter((f) => form.querySelector(`[name=${f}]`).checked);
      return api.record(app, stream, formats.length ? formats : ['mp4']);
    }, () => 'Recording started')),
    button('Stop recording', 'quiet', (b) => act(b, `Stop recording ${name}?`,
      'Its files are closed and listed under Recordings.', 'Stop', () => api.stopRecord(app, stream),
      () => 'Recording stopped')));

  // --- interruptions: the pushes of this stream that ended, newest first; fetched whenever the stream's state
  // changes (live, grace, gone: an end is what adds one) and once more at the next poll (the record is stored a
  // moment after the push ends), not every 2 s.
  let shownFor = null;
  let recheck = false;
  const interruptionsFor = (state) => {
    if (state === shownFor && !recheck) return;
    recheck = state !== shownFor;
    shownFor = state;
    showInterruptions();
  };
  const showInterruptions = async () => {
    try {
      const list = await api.interruptions({ app, stream, limit: 20 });
      replace(interruptions, table([
        { label: 'Ended', cell: (r) => fmt.time(r.endedMs) },
        { label: 'Reason', cell: (r) => r.reason.replace('_', ' ') },
        { label: 'Code', cell: (r) => String(r.errcode) },
        { label: 'Lasted', cell: (r) => (r.durationMs === null ? '–' : fmt.duration(r.durationMs)) },
        { label: 'Publisher', cell: (r) => r.publisher || '–' },
        { label: 'Message', cell: (r) => r.message || '–' },
      ], list.interruptions, 'No push of this stream has ended yet.', (r) => ({ 'data-reason': r.reason })));
    } catch (err) {
      replace(interruptions, errorBox(err));
    }
  };

  // --- polling
  let live = false;
  // The forbid in force for this stream, if any (GET /v1/forbids), shown next to the state.
  let forbid = null;
  const forbidBadge = () => (forbid
    ? h('span', { class: 'badge forbidden', 'data-forbidden': 'true' },
      ` forbidden until ${fmt.time(forbid.until * 1000)}${forbid.reason ? ` (${forbid.reason})` : ''}`)
    : null);
  const refresh = async () => {
    try {
      const { forbids } = await api.forbids(app);
      forbid = forbids.find((f) => f.stream === stream) || null;
    } catch {
      forbid = null;
    }
    let s;
    try {
      // The list rather than GET /v1/streams/{app}/{stream}: a stream that ended is simply absent, not a 404
      // (which the browser would log as a failed request every 2 s).
      const found = (await api.streams()).streams.find((x) => x.app === app && x.stream === stream);
      if (!found) throw new ApiError(404, 40402, `stream ${name} is not live`);
      s = streamView(found);
    } catch (err) {
      if (err.status === 404) {
        if (live) {
          player?.destroy();
          player = null;
        }
        interruptionsFor('gone');
        live = false;
        replace(status, h('p', { class: 'badge gone', 'data-state': 'gone' }, 'Not live'), forbidBadge(),
          h('span', { class: 'muted' }, ' (the page shows it again when it comes back)'));
        replace(stats);
        replace(people);
      } else {
        replace(status, errorBox(err));
      }
      return;
    }
    replace(status, h('span', { class: `badge ${s.state}`, 'data-state': s.state }, s.state), forbidBadge());
    // The players connected to this node (RTMP, HTTP-FLV, WebRTC, relays); HLS viewers hold no connection: counted above.
    let playerTable;
    try {
      const list = await api.players(app, stream);
      playerTable = table([
        { label: 'Protocol', cell: (p) => p.protocol.toUpperCase() },
        { label: 'Address', cell: (p) => p.addr },
        { label: 'Since', cell: (p) => fmt.time(p.sinceMs) },
        { label: 'Sent', cell: (p) => fmt.bytes(p.bytes) },
        { label: 'Dropped frames', cell: (p) => String(p.droppedFrames) },
      ], list.players, 'No RTMP, HTTP-FLV or WebRTC player on this node.', (p) => ({ 'data-player': p.protocol }));
    } catch (err) {
      playerTable = errorBox(err);
    }
    replace(stats,
      stat('Video', [s.videoCodec || '–', fmt.res(s.width, s.height), `${fmt.fps(s.fps)} fps`, `GOP ${s.gop.toFixed(1)} s`].join(' · ')),
      stat('Audio', [s.audioCodec || '–', s.sampleRate ? `${s.sampleRate} Hz` : null, s.channels ? `${s.channels} ch` : null].filter(Boolean).join(' · ')),
      stat('Bitrate', `${fmt.kbps(s.videoBitrate)} video · ${fmt.kbps(s.audioBitrate)} audio`),
      stat('Uptime', fmt.duration(s.uptimeMs)),
      stat('Recording', h('span', { 'data-recording': s.recording.join(',') || 'off' },
        s.recording.length ? s.recording.map((f) => f.toUpperCase()).join(' + ') : 'off')),
      stat('Received', `${fmt.bytes(s.bytesIn)} · ${s.framesIn} frames`),
      stat('Sent', `${fmt.bytes(s.bytesOut)} · ${s.droppedFrames} frames dropped`));
    replace(people,
      h('h3', {}, 'Publisher'),
      s.publisher
        ? h('p', {}, `${s.publisher.protocol} from ${s.publisher.addr}, since ${fmt.time(s.publisher.startedAtMs)}`)
        : h('p', { class: 'muted' }, 'None (waiting for it to come back)'),
      h('h3', {}, 'Players'),
      h('p', {}, `${s.players.total} on this node: RTMP ${s.players.rtmp} · HTTP-FLV ${s.players.flv}`
        + `${s.players.hls !== undefined ? ` · HLS ${s.players.hls}` : ''}`
        + `${s.players.llHls !== undefined ? ` · LL-HLS ${s.players.llHls}` : ''}`
        + `${s.players.webrtc !== undefined ? ` · WebRTC ${s.players.webrtc}` : ''}`
        + `${s.players.relays ? ` · relays to other nodes ${s.players.relays}` : ''}`),
      s.clusterPlayers !== undefined && s.clusterPlayers !== null
        ? h('p', {}, `${s.clusterPlayers} in the cluster; origin ${s.origin ?? 'unknown'}; `
          + s.nodes.map((n) => `${n.node}: ${n.players}`).join(', '))
        : null,
      playerTable);
    bitrate.push([s.videoBitrate, s.audioBitrate]);
    fps.push([s.fps]);
    if (!live) {
      live = true;
      startPreview();
    }
    interruptionsFor(s.state);
  };
  const stop = every(2000, refresh);

  return () => {
    stop();
    previewRun += 1;
    player?.destroy();
    bitrate.destroy();
    fps.destroy();
  };
}

function stat(label, value) {
  return [h('dt', {}, label), h('dd', {}, value)];
}
