// Small helpers shared by the publisher, player and room classes: wx-style callbacks, errors and HTTP.
// Everything goes through the global `wx` object (the mini-program runtime, or the test runtime in test/).

/** An error as wx APIs hand it to `fail`: {errMsg: "name:fail why", errCode}. */
export function wxError (name, why, errCode = -1) {
  return { errMsg: `${name}:fail ${why}`, errCode }
}

/** Calls `success` or `fail`, then `complete`, of a wx-style params object; a throwing callback is the page's. */
export function settle (params, ok, result) {
  const p = params || {}
  if (ok) { if (typeof p.success === 'function') p.success(result) } else if (typeof p.fail === 'function') p.fail(result)
  if (typeof p.complete === 'function') p.complete(result)
}

/** The `wx` global, or a clear error when the code runs outside a mini-program and no test runtime installed one. */
export function getWx () {
  // A bare `wx` is how mini-program code sees it (some base libraries have no globalThis); tests set the global.
  // eslint-disable-next-line no-undef
  const w = typeof wx !== 'undefined' ? wx : undefined
  if (!w) throw new Error('mplive-miniprogram: no global `wx` (run inside a mini-program, or install a test runtime)')
  return w
}

/** Joins the server address and a path: `https://live.example.com/` + `/sdk/v1/...`. */
export function endpoint (server, path) {
  return server.replace(/\/+$/, '') + path
}

/**
 * POSTs JSON with wx.request; resolves with the parsed body on 2xx, rejects with {errMsg, errCode} otherwise.
 * A server error body is mplive's {code, message}: both are kept so the page sees why.
 */
export function postJson (name, url, data) {
  return new Promise((resolve, reject) => {
    getWx().request({
      url,
      method: 'POST',
      data,
      header: { 'content-type': 'application/json' },
      dataType: 'json',
      success (res) {
        const body = typeof res.data === 'string' ? tryParse(res.data) : res.data
        if (res.statusCode >= 200 && res.statusCode < 300 && body && typeof body === 'object') {
          resolve(body)
        } else if (body && typeof body === 'object' && body.message) {
          reject(wxError(name, `${body.message} (HTTP ${res.statusCode}, code ${body.code})`, body.code ?? res.statusCode))
        } else {
          reject(wxError(name, `HTTP ${res.statusCode} from ${url}`, res.statusCode))
        }
      },
      fail (err) {
        reject(wxError(name, `request to ${url} failed: ${(err && err.errMsg) || err}`, (err && err.errno) || -1))
      }
    })
  })
}

function tryParse (text) {
  try { return JSON.parse(text) } catch { return undefined }
}

/** A minimal event registry: on(name, cb), off(name, cb?), emit(name, arg). A throwing listener is logged, not fatal. */
export class Emitter {
  constructor (names) {
    this.names = new Set(names)
    this.listeners = new Map()
  }

  on (name, cb) {
    // An unknown name is kept (a page written for a newer SDK must not break) but said once: it never fires.
    if (!this.names.has(name) && !this.listeners.has(name)) {
      console.warn(`mplive-miniprogram: no event ${JSON.stringify(name)}; the events are ${[...this.names].join(', ')}`)
    }
    if (typeof cb !== 'function') throw new TypeError(`on(${JSON.stringify(name)}, cb): cb must be a function`)
    if (!this.listeners.has(name)) this.listeners.set(name, [])
    this.listeners.get(name).push(cb)
  }

  off (name, cb) {
    if (!this.listeners.has(name)) return
    if (!cb) this.listeners.delete(name)
    else this.listeners.set(name, this.listeners.get(name).filter((f) => f !== cb))
  }

  has (name) {
    return (this.listeners.get(name) || []).length > 0
  }

  emit (name, arg) {
    for (const cb of [...(this.listeners.get(name) || [])]) {
      try { cb(arg) } catch (e) { console.error(`mplive-miniprogram: a ${name} listener threw`, e) }
    }
  }

  clear () {
    this.listeners.clear()
  }
}

/**
 * Sets `owner.timer` for the owner's machine's next deadline (`pollTimeout`), firing `handleTimeout` and then
 * `owner.drain()`; clears any earlier timer. Nothing is armed once the owner is destroyed.
 */
export function armTimer (owner) {
  clearTimeout(owner.timer)
  owner.timer = null
  const due = owner.machine && owner.machine.pollTimeout()
  if (due === undefined || owner.destroyed) return
  owner.timer = setTimeout(() => {
    owner.timer = null
    if (owner.destroyed) return
    owner.machine.handleTimeout(owner.now())
    owner.drain()
  }, Math.max(0, due - owner.now()))
}

/**
 * Adds each of `names` to `Class` as a method delegating to `this.context[name](params)` with the page's
 * {success, fail, complete}; before createInstance succeeded, or after destroy, it fails with the reason.
 */
export function delegateContextMethods (Class, names, what) {
  for (const name of names) {
    Class.prototype[name] = function (params) {
      const p = params || {}
      if (this.destroyed) return settle(p, false, wxError(name, `the ${what} was destroyed`, -2))
      if (!this.context) return settle(p, false, wxError(name, 'createInstance has not succeeded yet', -1))
      return this.context[name](p)
    }
  }
}
