// The one module that talks to the server: it owns the admin token (sessionStorage: this tab only), sends it with
// every call and turns failures into ApiError with the API's {code, message}.

const KEY = 'mplive.adminToken';

/** An API failure: the HTTP status, the API's code (0 when the server did not answer) and its message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }

  /** One line for the operator. */
  describe() {
    if (this.status === 0) return `The server does not answer: ${this.message}`;
    return `${this.message} (HTTP ${this.status}, code ${this.code})`;
  }
}

export function token() {
  return sessionStorage.getItem(KEY);
}

export function setToken(value) {
  sessionStorage.setItem(KEY, value);
}

export function clearToken() {
  sessionStorage.removeItem(KEY);
}

const unauthorizedListeners = new Set();

/** Calls `fn(error)` whenever the server refuses the token (401); returns the unsubscriber. */
export function onUnauthorized(fn) {
  unauthorizedListeners.add(fn);
  return () => unauthorizedListeners.delete(fn);
}

/**
 * One call: `body` (when given) is sent as JSON; the answer is parsed JSON, or text when `text` is set.
 * Throws ApiError on a network failure or a non-2xx answer.
 */
export async function request(method, path, { body, text = false } = {}) {
  const headers = {};
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, 0, e.message || String(e));
  }
  const raw = await resp.text();
  if (!resp.ok) {
    let code = resp.status * 100;
    let message = raw || resp.statusText;
    try {
      const parsed = JSON.parse(raw);
      if (parsed && typeof parsed === 'object') {
        code = parsed.code ?? code;
        message = parsed.message ?? message;
      }
    } catch {
      // Not JSON (a proxy's page, say): the text is the message.
    }
    const err = new ApiError(resp.status, code, message);
    if (resp.status === 401) for (const fn of unauthorizedListeners) fn(err);
    throw err;
  }
  if (text) return raw;
  return raw ? JSON.parse(raw) : null;
}

const seg = encodeURIComponent;

export const api = {
  get: (path) => request('GET', path),
  post: (path, body = {}) => request('POST', path, { body }),
  put: (path, body) => request('PUT', path, { body }),
  patch: (path, body) => request('PATCH', path, { body }),
  del: (path) => request('DELETE', path),
  metrics: () => request('GET', '/metrics', { text: true }),

  streams: () => api.get('/v1/streams'),
  stream: (app, stream) => api.get(`/v1/streams/${seg(app)}/${seg(stream)}`),
  kick: (app, stream) => api.post(`/v1/streams/${seg(app)}/${seg(stream)}/kick`),
  forbid: (app, stream, body) => api.post(`/v1/streams/${seg(app)}/${seg(stream)}/forbid`, body),
  unforbid: (app, stream) => api.del(`/v1/streams/${seg(app)}/${seg(stream)}/forbid`),
  rooms: () => api.get('/v1/rooms'),
  history: (app, stream) => api.get(`/v1/streams/${seg(app)}/${seg(stream)}/history`),
  players: (app, stream) => api.get(`/v1/streams/${seg(app)}/${seg(stream)}/players`),
  forbids: (app) => api.get(`/v1/forbids?app=${encodeURIComponent(app)}`),
  record: (app, stream, formats) =>
    api.post(`/v1/streams/${seg(app)}/${seg(stream)}/record`, { formats }),
  stopRecord: (app, stream) => api.del(`/v1/streams/${seg(app)}/${seg(stream)}/record`),
  nodes: () => api.get('/v1/nodes'),
  apps: () => api.get('/v1/apps'),
  app: (app) => api.get(`/v1/apps/${seg(app)}`),
  createApp: (body) => api.post('/v1/apps', body),
  updateApp: (app, body) => api.patch(`/v1/apps/${seg(app)}`, body),
  deleteApp: (app) => api.del(`/v1/apps/${seg(app)}`),
  rotateKey: (app, key) => api.post(`/v1/apps/${seg(app)}/rotate-key`, { key }),
  urls: (app, stream, ttlSecs) => api.post(`/v1/apps/${seg(app)}/urls`, { stream, ttlSecs }),
  sdkToken: (app, body) => api.post(`/v1/apps/${seg(app)}/tokens`, body),
  webhooks: (params) => api.get(`/v1/webhooks?${new URLSearchParams(params)}`),
  interruptions: (params) => api.get(`/v1/interruptions?${new URLSearchParams(params)}`),
  recordings: () => api.get('/v1/recordings'),
  /** A signed link to one recording file (`{url, expires}`): what a <video> or a download can fetch. */
  recordingUrl: (path, ttlSecs) => api.post('/v1/recordings/url', ttlSecs ? { path, ttlSecs } : { path }),
  roomSession: (app, openId) => api.post(`/v1/apps/${seg(app)}/room-sessions`, { openId }),
  putRoomSession: (app, openId, sessionKey) =>
    api.put(`/v1/apps/${seg(app)}/room-sessions/${seg(openId)}`, { sessionKey }),
};
