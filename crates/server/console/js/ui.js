// Small DOM helpers shared by the pages: element building, formatting, the confirm dialog, the toast, copy.

/**
 * `h('a', {href: '#/', class: 'x', onclick: fn}, 'text', child)`: an element with attributes, listeners
 * (`on...`), properties (`.name`: `{'.value': 3}`) and children (strings, nodes, arrays; null is skipped).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k.startsWith('.')) el[k.slice(1)] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** A `role=alert` box with the error's text (ApiError says status and code). */
export function errorBox(err) {
  const text = typeof err?.describe === 'function' ? err.describe() : String(err?.message || err);
  return h('p', { class: 'error', role: 'alert' }, text);
}

/** `<label>` + control in a `.field` wrapper. */
export function labelled(label, control, hint) {
  if (!control.id) control.id = `f-${Math.random().toString(36).slice(2, 9)}`;
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hint && h('small', {}, hint));
}

export const fmt = {
  kbps: (v) => (v >= 1000 ? `${(v / 1000).toFixed(2)} Mbit/s` : `${Math.round(v)} kbit/s`),
  mbps: (v) => `${v.toFixed(2)} Mbit/s`,
  fps: (v) => (v ? v.toFixed(v >= 10 ? 0 : 1) : '0'),
  res: (w, hgt) => (w && hgt ? `${w}×${hgt}` : '–'),
  bytes(n) {
    if (n === null || n === undefined) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i += 1;
    }
    return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
  },
  duration(ms) {
    if (ms === null || ms === undefined) return '–';
    let s = Math.floor(ms / 1000);
    const d = Math.floor(s / 86400);
    s %= 86400;
    const hh = Math.floor(s / 3600);
    const mm = Math.floor((s % 3600) / 60);
    const ss = s % 60;
    const two = (x) => String(x).padStart(2, '0');
    return `${d ? `${d}d ` : ''}${hh ? `${hh}:${two(mm)}` : mm}:${two(ss)}`;
  },
  time: (ms) => (ms ? new Date(ms).toLocaleString() : '–'),
};

/**
 * Asks before doing something: resolves true when the operator confirms. `body` is text or a node (e.g. a form
 * whose values the caller reads after).
 */
export function confirmDialog(title, body, okLabel = 'OK') {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  replace(document.getElementById('confirm-body'), typeof body === 'string' ? h('p', {}, body) : body);
  document.getElementById('confirm-ok').textContent = okLabel;
  dialog.returnValue = '';
  document.getElementById('confirm-cancel').onclick = () => dialog.close('cancel');
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
  });
}

let toastTimer;

/** A short message at the bottom of the screen; `kind` is 'ok' or 'error'. */
export function toast(message, kind = 'ok') {
  const el = document.getElementById('toast');
  el.textContent = message;
  el.className = `show ${kind}`;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    el.className = '';
  }, kind === 'error' ? 8000 : 3000);
}

/** A button that copies `text()` (a string or a function giving one). */
export function copyButton(text, label = 'Copy') {
  return h('button', {
    type: 'button',
    class: 'quiet small',
    onclick: async () => {
      const value = typeof text === 'function' ? text() : text;
      try {
        await navigator.clipboard.writeText(value);
        toast('Copied');
      } catch {
        toast('Copy failed: select the text and copy it by hand', 'error');
      }
    },
  }, label);
}

/** Runs `fn` now and every `ms` until the returned stop function is called; one run at a time. */
export function every(ms, fn) {
  let stopped = false;
  let timer;
  const tick = async () => {
    try {
      await fn();
    } finally {
      if (!stopped) timer = setTimeout(tick, ms);
    }
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** A table whose rows turn into labelled cards at phone width (`data-label` on each cell). */
export function table(columns, rows, empty = 'Nothing here.', rowAttrs = () => ({})) {
  if (!rows.length) return h('p', { class: 'muted' }, empty);
  return h('table', { class: 'list' },
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.label)))),
    h('tbody', {}, rows.map((r) => h('tr', rowAttrs(r),
      columns.map((c) => h('td', { 'data-label': c.label }, c.cell(r)))))));
}

/** Disables `button` while `fn` runs. */
export async function busy(button, fn) {
  button.disabled = true;
  try {
    return await fn();
  } finally {
    button.disabled = false;
  }
}
