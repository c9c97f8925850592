// The console's shell: sign-in, hash routing to one page module at a time, and the navigation.
//
// A page module exports `mount(root, params)`, which fills `root` and returns a function that stops the page
// (timers, players, charts) when the route changes.

import { api, clearToken, onUnauthorized, setToken, token } from './api.js';
import { errorBox, replace } from './ui.js';

const routes = [
  [/^\/$/, 'overview'],
  [/^\/streams$/, 'streams'],
  [/^\/streams\/([^/]+)\/([^/]+)$/, 'stream'],
  [/^\/apps$/, 'apps'],
  [/^\/urls$/, 'urls'],
  [/^\/webhooks$/, 'webhooks'],
  [/^\/recordings$/, 'recordings'],
  [/^\/rooms$/, 'rooms'],
];

const els = {
  signIn: document.getElementById('sign-in'),
  form: document.getElementById('sign-in-form'),
  input: document.getElementById('token'),
  error: document.getElementById('sign-in-error'),
  page: document.getElementById('page'),
  nav: document.getElementById('nav'),
  signOut: document.getElementById('sign-out'),
  main: document.getElementById('main'),
};

let stopPage = null;
let generation = 0;

/** `#token=...` signs in and leaves the address bar at once (it would stay in history and screenshots). */
function tokenFromFragment() {
  const m = /^#token=([^&]+)/.exec(location.hash);
  if (!m) return;
  setToken(decodeURIComponent(m[1]));
  history.replaceState(null, '', `${location.pathname}${location.search}#/`);
}

function showSignIn(message) {
  stopCurrent();
  replace(els.page);
  els.nav.hidden = true;
  els.signOut.hidden = true;
  els.signIn.hidden = false;
  els.error.hidden = !message;
  els.error.textContent = message || '';
  els.input.value = '';
  els.input.focus();
}

function stopCurrent() {
  generation += 1;
  if (stopPage) {
    try {
      stopPage();
    } catch (e) {
      console.warn('stopping the page:', e);
    }
  }
  stopPage = null;
}

/** Checks the token with one cheap call; shows the pages, or the sign-in form with the server's reason. */
async function signIn() {
  if (!token()) {
    showSignIn('');
    return;
  }
  try {
    await api.nodes();
  } catch (err) {
    if (err.status === 401) return; // onUnauthorized showed the form with the reason
    showSignIn('');
    els.error.hidden = false;
    els.error.textContent = `Could not check the token: ${err.describe()}`;
    return;
  }
  els.signIn.hidden = true;
  els.nav.hidden = false;
  els.signOut.hidden = false;
  route();
}

async function route() {
  if (els.nav.hidden) return;
  const path = location.hash.replace(/^#/, '').split('?')[0] || '/';
  const found = routes.map(([re, name]) => [re.exec(path), name]).find(([m]) => m);
  for (const a of els.nav.querySelectorAll('a')) {
    const target = a.getAttribute('href').slice(1);
    const current = target === '/' ? path === '/' : path.startsWith(target);
    if (current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  stopCurrent();
  const mine = generation;
  const root = document.createElement('div');
  replace(els.page, root);
  if (!found) {
    replace(root, errorBox(`No page at ${path}`));
    return;
  }
  const [match, name] = found;
  try {
    const module = await import(`./pages/${name}.js`);
    if (mine !== generation) return;
    const params = match.slice(1).map(decodeURIComponent);
    stopPage = (await module.mount(root, params)) || null;
    if (mine !== generation && stopPage) {
      stopPage();
      stopPage = null;
    }
  } catch (err) {
    if (mine === generation) replace(root, errorBox(err));
  }
}

onUnauthorized((err) => {
  clearToken();
  showSignIn(`The admin token was refused: ${err.message}`);
});

els.form.addEventListener('submit', (e) => {
  e.preventDefault();
  const value = els.input.value.trim();
  if (!value) return;
  setToken(value);
  els.input.value = '';
  signIn();
});

els.signOut.addEventListener('click', () => {
  clearToken();
  showSignIn('Signed out.');
});

window.addEventListener('hashchange', () => {
  if (location.hash.startsWith('#token=')) {
    tokenFromFragment();
    signIn();
    return;
  }
  route();
  els.main.focus({ preventScroll: true });
});

tokenFromFragment();
signIn();
