// A small rolling time-series chart over uPlot: the page pushes a sample every poll, the chart keeps the last
// `keepSecs` seconds and follows its container's width.

import { uPlot } from './vendor.js';

const COLORS = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#0891b2'];

export class TimeChart {
  /** `series`: [{label, unit?}]; `el` receives the chart. */
  constructor(el, title, series, { keepSecs = 300, height = 160 } = {}) {
    this.keepSecs = keepSecs;
    this.data = [[], ...series.map(() => [])];
    const wrap = el.appendChild(document.createElement('figure'));
    wrap.className = 'chart';
    const caption = wrap.appendChild(document.createElement('figcaption'));
    caption.textContent = title;
    const box = wrap.appendChild(document.createElement('div'));
    this.plot = new uPlot({
      width: Math.max(200, box.clientWidth || el.clientWidth || 300),
      height,
      legend: { show: true, live: false },
      cursor: { show: true, drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [{}, { size: 56 }],
      series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 2 }))],
    }, this.data, box);
    this.observer = new ResizeObserver(() => {
      const w = box.clientWidth;
      if (w > 0) this.plot.setSize({ width: w, height });
    });
    this.observer.observe(box);
  }

  /** Adds one sample: `values` in the order of the series (null for a gap). */
  push(values, at = Date.now() / 1000) {
    this.data[0].push(at);
    values.forEach((v, i) => this.data[i + 1].push(v));
    while (this.data[0].length && this.data[0][0] < at - this.keepSecs) {
      for (const col of this.data) col.shift();
    }
    this.plot.setData(this.data);
  }

  destroy() {
    this.observer.disconnect();
    this.plot.destroy();
  }
}
