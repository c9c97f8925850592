// Overview: live streams, players by protocol, ingest and egress, the cluster's nodes; charts of the last
// minutes, from GET /metrics and GET /v1/nodes polled every 2 s.

import { api } from '../api.js';
import { TimeChart } from '../chart.js';
import { field } from '../fields.js';
import { byLabel, parseMetrics, sum } from '../metrics.js';
import { errorBox, every, fmt, h, replace, table } from '../ui.js';

export function mount(root) {
  const tiles = h('div', { class: 'tiles' });
  const error = h('div');
  const charts = h('div', { class: 'charts' });
  const nodes = h('section', {});
  replace(root, h('h1', {}, 'Overview'), error, tiles, charts, nodes);

  const traffic = new TimeChart(charts, 'Ingest and egress (Mbit/s)', [{ label: 'in' }, { label: 'out' }]);
  const players = new TimeChart(charts, 'Players and streams', [
    { label: 'players' }, { label: 'streams' },
  ]);
  let last = null;

  const stop = every(2000, async () => {
    let samples;
    let cluster;
    try {
      [samples, cluster] = await Promise.all([api.metrics().then(parseMetrics), api.nodes()]);
      replace(error);
    } catch (err) {
      replace(error, errorBox(err));
      return;
    }
    const now = Date.now() / 1000;
    const bytesIn = sum(samples, 'mplive_bytes_in_total') ?? 0;
    const bytesOut = sum(samples, 'mplive_bytes_out_total') ?? 0;
    let inMbps = null;
    let outMbps = null;
    if (last && now > last.at) {
      inMbps = ((bytesIn - last.bytesIn) * 8) / 1e6 / (now - last.at);
      outMbps = ((bytesOut - last.bytesOut) * 8) / 1e6 / (now - last.at);
    }
    // CPU: the process's CPU seconds over the wall seconds since the last poll (100 % = one core).
    const cpuSeconds = sum(samples, 'process_cpu_seconds_total');
    let cpu = null;
    if (last && cpuSeconds !== null && cpuSeconds !== undefined && last.cpuSeconds !== null && now > last.at) {
      cpu = ((cpuSeconds - last.cpuSeconds) * 100) / (now - last.at);
    }
    const memory = sum(samples, 'process_resident_memory_bytes');
    last = { at: now, bytesIn, bytesOut, cpuSeconds: cpuSeconds ?? null };
    const perProtocol = byLabel(samples, 'mplive_players', 'protocol');
    // `other` counts the server's own readers (HLS segmenter, recorder), not viewers.
    const totalPlayers = Object.entries(perProtocol).filter(([p]) => p !== 'other').reduce((a, [, n]) => a + n, 0);
    const streams = sum(samples, 'mplive_streams') ?? 0;

    replace(tiles,
      tile('Live streams', streams, 'streams', `${sum(samples, 'mplive_publishers') ?? 0} publishing`),
      tile('Players', totalPlayers, 'players',
        Object.entries(perProtocol).filter(([p]) => p !== 'other').map(([p, n]) => `${p.toUpperCase()} ${n}`).join(' · ') || 'none'),
      tile('Ingest', inMbps === null ? '…' : fmt.mbps(inMbps), 'ingest', `${fmt.bytes(bytesIn)} since start`),
      tile('Egress', outMbps === null ? '…' : fmt.mbps(outMbps), 'egress', `${fmt.bytes(bytesOut)} since start`),
      tile('CPU', cpu === null ? '…' : `${cpu.toFixed(1)} %`, 'cpu', '100 % = one core, this process'),
      tile('Memory', memory === null || memory === undefined ? 'n/a' : fmt.bytes(memory), 'memory',
        `resident; ${sum(samples, 'process_open_fds') ?? '?'} open descriptors`),
      tile('Webhooks waiting', sum(samples, 'mplive_webhook_queue') ?? 0, 'webhooks', 'queued in memory, not yet stored'),
      tile('Refusals', sum(samples, 'mplive_refusals_total') ?? 0, 'refusals', 'publish and play, since start'));
    if (inMbps !== null) traffic.push([inMbps, outMbps], now);
    players.push([totalPlayers, streams], now);

    if (!cluster.cluster) {
      replace(nodes, h('h2', {}, 'Nodes'), h('p', { class: 'muted' }, 'Single node (no cluster: started without --redis-url).'));
    } else {
      replace(nodes, h('h2', {}, `Nodes (${cluster.nodes.length})`), table([
        { label: 'Node', cell: (n) => (n.id === field(cluster, 'thisNode') ? `${n.id} (this)` : n.id) },
        { label: 'RTMP', cell: (n) => n.rtmp },
        { label: 'HTTP', cell: (n) => n.http },
        { label: 'Version', cell: (n) => n.version },
        { label: 'Up since', cell: (n) => fmt.time(field(n, 'startedAtMs')) },
        { label: 'Streams', cell: (n) => n.load?.streams ?? '–' },
        { label: 'Players', cell: (n) => n.load?.players ?? '–' },
        { label: 'Egress', cell: (n) => fmt.mbps(field(n.load || {}, 'egressMbps') ?? 0) },
        { label: 'CPU', cell: (n) => `${(field(n.load || {}, 'cpuPercent') ?? 0).toFixed(1)} %` },
      ], cluster.nodes));
    }
  });

  return () => {
    stop();
    traffic.destroy();
    players.destroy();
  };
}

function tile(label, value, id, note) {
  return h('div', { class: 'tile', 'data-tile': id },
    h('div', { class: 'tile-label' }, label),
    h('div', { class: 'tile-value' }, String(value)),
    note && h('div', { class: 'tile-note' }, note));
}
