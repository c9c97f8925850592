// A test runtime for the mini-program `wx` object and Page(), where nothing behind the APIs is mocked:
//
// - wx.request does real HTTP (node's fetch) to the real mplive server on loopback;
// - wx.createLivePusherContext(id, THIS) drives the page's <live-pusher id=...>, backed by a real
//   `mplive push URL --json` child: start() spawns it with the URL the page bound, stop() kills it, and its JSON
//   status lines reach the page's bindstatechange handler as {detail: {code, message}} and its netStatus lines
//   bindnetstatus as {detail: {info}} (which is how the publisher's statechange(e)/netstatuschange(e) get them);
// - wx.createLivePlayerContext(id, THIS) is the same over `mplive play URL --json`;
// - wx.connectSocket is a SocketTask over a real WebSocket (node's, with --experimental-websocket on node 20).
//
// A page is mounted with the components its WXML would declare, e.g.
//   rt.mount(def, { pushers: [{ id: 'pusher', url: 'url', autopush: true,
//                               bind: { statechange: 'statechange', netstatus: 'netstatuschange' } }] })
// where `url: 'url'` means url="{{url}}". setData() re-renders: a bound url that changes on an autopush pusher
// starts it, as the component does.
//
// Device features without hardware here (camera switch, torch, BGM, preview, mic volume, fullscreen, mute,
// sendMessage) check their parameters, are recorded in rt.calls and succeed; pause/resume freeze and thaw the
// child process (SIGSTOP/SIGCONT), which stops its media while the connection stays, as live-pusher's pause.

import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

const later = (fn) => setTimeout(fn, 0)

function settle (params, name, ok, result) {
  const p = params || {}
  const r = ok ? { errMsg: `${name}:ok`, ...result } : result
  later(() => {
    if (ok) { if (p.success) p.success(r) } else if (p.fail) p.fail(r)
    if (p.complete) p.complete(r)
  })
}

export class WxRuntime {
  /**
   * @param {object} o
   * @param {string} o.bin the mplive binary
   * @param {string} [o.pushSource] what `mplive push` sends: an FLV file or 'testsrc' (default)
   * @param {string[]} [o.pushArgs] extra `mplive push` flags (e.g. ['--retries', '1'])
   * @param {string[]} [o.playArgs] extra `mplive play` flags
   */
  constructor ({ bin, pushSource = 'testsrc', pushArgs = [], playArgs = [] }) {
    this.bin = bin
    this.pushSource = pushSource
    this.pushArgs = pushArgs
    this.playArgs = playArgs
    this.pages = []
    this.children = new Set()
    this.calls = []
    this.toasts = []
    this.log = []
    this.pageDefs = []
    this.wx = this.makeWx()
  }

  /** Installs the globals a mini-program sees: wx, Page, getApp, getCurrentPages. */
  install (app = { globalData: {} }) {
    globalThis.wx = this.wx
    globalThis.Page = (def) => { this.pageDefs.push(def) }
    globalThis.getApp = () => app
    globalThis.getCurrentPages = () => [...this.pages]
    return this
  }

  /** Instantiates a page definition with the components its WXML declares, and runs onLoad(query). */
  mount (def, { pushers = [], players = [] } = {}, query = {}) {
    const page = {}
    for (const [k, v] of Object.entries(def)) if (k !== 'data') page[k] = v
    page.data = structuredClone(def.data || {})
    const rt = this
    page.__elements = new Map()
    for (const p of pushers) page.__elements.set(p.id, new PusherElement(rt, page, p))
    for (const p of players) page.__elements.set(p.id, new PlayerElement(rt, page, p))
    page.setData = function (patch, cb) {
      const changed = Object.keys(patch || {})
      Object.assign(this.data, patch)
      for (const el of this.__elements.values()) el.render(changed)
      if (typeof cb === 'function') later(cb)
    }
    this.pages.push(page)
    if (typeof page.onLoad === 'function') page.onLoad(query)
    if (typeof page.onShow === 'function') page.onShow()
    return page
  }

  /** Unloads a page (onUnload) and kills what its components run. */
  unmount (page) {
    if (typeof page.onUnload === 'function') page.onUnload()
    for (const el of page.__elements.values()) el.kill()
    this.pages = this.pages.filter((p) => p !== page)
  }

  /** Kills every child process still running. */
  async close () {
    for (const page of [...this.pages]) for (const el of page.__elements.values()) el.kill()
    await Promise.all([...this.children].map((c) => new Promise((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve()
      c.once('exit', resolve)
      c.kill('SIGKILL')
    })))
  }

  element (id, THIS, kind) {
    // Without THIS, wx looks in the current page (the last one opened), as selectComponent does.
    const page = THIS || this.pages[this.pages.length - 1]
    const el = page && page.__elements && page.__elements.get(id)
    if (!el || el.kind !== kind) {
      throw new Error(`create${kind === 'pusher' ? 'LivePusher' : 'LivePlayer'}Context: no <live-${kind} id="${id}"> on the page`)
    }
    return el
  }

  spawnChild (args, onLine) {
    const child = spawn(this.bin, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.children.add(child)
    child.once('exit', () => this.children.delete(child))
    createInterface({ input: child.stdout }).on('line', (line) => {
      let msg
      try { msg = JSON.parse(line) } catch { return }
      this.log.push(msg)
      onLine(msg)
    })
    let stderr = ''
    child.stderr.on('data', (d) => { stderr = (stderr + d).slice(-4000) })
    child.stderrText = () => stderr
    return child
  }

  makeWx () {
    const rt = this
    return {
      request (o) {
        const method = (o.method || 'GET').toUpperCase()
        let url = o.url
        let body
        const headers = { ...(o.header || {}) }
        if (method === 'GET' && o.data && typeof o.data === 'object') {
          const q = new URLSearchParams(o.data).toString()
          if (q) url += (url.includes('?') ? '&' : '?') + q
        } else if (o.data !== undefined) {
          body = typeof o.data === 'string' ? o.data : JSON.stringify(o.data)
          if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json'
        }
        const ctrl = new AbortController()
        const timer = setTimeout(() => ctrl.abort(), o.timeout || 60000)
        fetch(url, { method, headers, body, signal: ctrl.signal }).then(async (res) => {
          const text = await res.text()
          let data = text
          if ((o.dataType || 'json') === 'json') { try { data = JSON.parse(text) } catch {} }
          const header = Object.fromEntries(res.headers.entries())
          settle(o, 'request', true, { statusCode: res.status, data, header })
        }, (err) => {
          settle(o, 'request', false, { errMsg: `request:fail ${err.cause ? err.cause.code || err.cause.message : err.message}`, errno: 600001 })
        }).finally(() => clearTimeout(timer))
        return { abort: () => ctrl.abort() }
      },
      createLivePusherContext (id, THIS) {
        return rt.element(id, THIS, 'pusher').context()
      },
      createLivePlayerContext (id, THIS) {
        return rt.element(id, THIS, 'player').context()
      },
      connectSocket (o) {
        return new SocketTask(o)
      },
      showToast (o) { rt.toasts.push(o.title); settle(o, 'showToast', true, {}) },
      showModal (o) { rt.toasts.push(o.title || o.content); settle(o, 'showModal', true, { confirm: true, cancel: false }) },
      showLoading (o) { settle(o, 'showLoading', true, {}) },
      hideLoading (o) { settle(o, 'hideLoading', true, {}) }
    }
  }
}

/** What the live-pusher and live-player elements share: a child process fed from a bound URL. */
class MediaElement {
  constructor (rt, page, spec, kind, urlAttr) {
    this.rt = rt
    this.page = page
    this.spec = spec
    this.kind = kind
    this.id = spec.id
    this.urlKey = spec[urlAttr]
    this.child = null
    this.childUrl = ''
  }

  boundUrl () {
    return this.page.data[this.urlKey] || ''
  }

  dispatch (event, detail) {
    const handler = this.spec.bind && this.spec.bind[event]
    if (!handler) return
    const fn = this.page[handler]
    if (typeof fn !== 'function') throw new Error(`bind${event}="${handler}": the page has no such method`)
    fn.call(this.page, { type: event, detail, currentTarget: { id: this.id }, target: { id: this.id } })
  }

  /** (Re)starts the child on the bound URL; a child already running on that URL is left alone. */
  run () {
    const url = this.boundUrl()
    if (!url) return `${this.kind} url is empty: bind it (url="{{url}}") and set it first`
    if (this.child && this.childUrl === url && this.child.exitCode === null && this.child.signalCode === null) return null
    this.kill()
    this.childUrl = url
    const child = this.rt.spawnChild(this.args(url), (msg) => {
      if (this.child !== child) return
      if (msg.type === 'status') this.dispatch('statechange', { code: msg.code, message: msg.message })
      else if (msg.type === 'netStatus') {
        const { type, elapsedMs: _e, ...info } = msg
        this.dispatch('netstatus', { info })
      }
    })
    this.child = child
    return null
  }

  kill () {
    if (this.child) {
      const c = this.child
      this.child = null
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGCONT')
        c.kill('SIGKILL')
      }
    }
  }

  signal (sig) {
    if (this.child && this.child.exitCode === null) this.child.kill(sig)
  }

  record (name, params) {
    const { success, fail, complete, ...args } = params || {}
    this.rt.calls.push({ id: this.id, name, args })
  }

  device (name, required = []) {
    return (params) => {
      const p = params || {}
      const missing = required.filter((k) => p[k] === undefined)
      if (missing.length) return settle(p, name, false, { errMsg: `${name}:fail missing ${missing.join(', ')}` })
      this.record(name, p)
      settle(p, name, true, {})
    }
  }
}

class PusherElement extends MediaElement {
  constructor (rt, page, spec) {
    super(rt, page, spec, 'pusher', 'url')
  }

  args (url) {
    return ['push', url, '--json', '--source', this.rt.pushSource, ...this.rt.pushArgs]
  }

  render (changed) {
    // autopush: pushing starts (or moves to the new URL) when the bound url changes.
    if (this.spec.autopush && changed.includes(this.urlKey) && this.boundUrl()) this.run()
  }

  context () {
    const start = (p) => { const err = this.run(); settle(p, 'start', !err, err ? { errMsg: `start:fail ${err}` } : {}) }
    const stop = (p) => { this.kill(); settle(p, 'stop', true, {}) }
    return {
      start,
      stop,
      pause: (p) => { this.signal('SIGSTOP'); settle(p, 'pause', true, {}) },
      resume: (p) => { this.signal('SIGCONT'); settle(p, 'resume', true, {}) },
      switchCamera: this.device('switchCamera'),
      snapshot: (p) => { this.record('snapshot', p); settle(p, 'snapshot', false, { errMsg: 'snapshot:fail the test runtime has no camera' }) },
      toggleTorch: this.device('toggleTorch'),
      playBGM: this.device('playBGM', ['url']),
      pauseBGM: this.device('pauseBGM'),
      resumeBGM: this.device('resumeBGM'),
      stopBGM: this.device('stopBGM'),
      setBGMVolume: this.device('setBGMVolume', ['volume']),
      setMICVolume: this.device('setMICVolume', ['volume']),
      startPreview: this.device('startPreview'),
      stopPreview: this.device('stopPreview'),
      sendMessage: this.device('sendMessage', ['msg'])
    }
  }
}

class PlayerElement extends MediaElement {
  constructor (rt, page, spec) {
    super(rt, page, spec, 'player', 'src')
  }

  args (url) {
    const mode = this.spec.mode === 'RTC' ? ['--mode', 'rtc'] : []
    return ['play', url, '--json', ...mode, ...this.rt.playArgs]
  }

  render (changed) {
    if (this.spec.autoplay && changed.includes(this.urlKey) && this.boundUrl()) this.run()
  }

  context () {
    return {
      play: (p) => { const err = this.run(); settle(p, 'play', !err, err ? { errMsg: `play:fail ${err}` } : {}) },
      stop: (p) => { this.kill(); settle(p, 'stop', true, {}) },
      pause: (p) => { this.signal('SIGSTOP'); settle(p, 'pause', true, {}) },
      resume: (p) => { this.signal('SIGCONT'); settle(p, 'resume', true, {}) },
      mute: this.device('mute'),
      requestFullScreen: this.device('requestFullScreen'),
      exitFullScreen: this.device('exitFullScreen'),
      snapshot: (p) => { this.record('snapshot', p); settle(p, 'snapshot', false, { errMsg: 'snapshot:fail the test runtime renders no picture' }) }
    }
  }
}

/** wx's SocketTask over node's WebSocket. */
class SocketTask {
  constructor (o) {
    this.handlers = { open: [], message: [], close: [], error: [] }
    if (typeof WebSocket !== 'function') {
      settle(o, 'connectSocket', false, { errMsg: 'connectSocket:fail no WebSocket in this node (run node --experimental-websocket)' })
      return
    }
    try {
      this.ws = new WebSocket(o.url, o.protocols)
    } catch (e) {
      settle(o, 'connectSocket', false, { errMsg: `connectSocket:fail ${e.message}` })
      return
    }
    settle(o, 'connectSocket', true, {})
    this.ws.addEventListener('open', () => this.fire('open', { header: {} }))
    this.ws.addEventListener('message', (e) => this.fire('message', { data: e.data }))
    this.ws.addEventListener('close', (e) => this.fire('close', { code: e.code, reason: e.reason }))
    this.ws.addEventListener('error', (e) => this.fire('error', { errMsg: `socket error: ${e.message || 'connection failed'}` }))
  }

  fire (name, arg) { for (const cb of this.handlers[name]) cb(arg) }
  onOpen (cb) { this.handlers.open.push(cb) }
  onMessage (cb) { this.handlers.message.push(cb) }
  onClose (cb) { this.handlers.close.push(cb) }
  onError (cb) { this.handlers.error.push(cb) }

  send (o) {
    try {
      this.ws.send(o.data)
      settle(o, 'sendSocketMessage', true, {})
    } catch (e) {
      settle(o, 'sendSocketMessage', false, { errMsg: `sendSocketMessage:fail ${e.message}` })
    }
  }

  close (o = {}) {
    try {
      if (this.ws) this.ws.close(o.code || 1000, o.reason)
      settle(o, 'closeSocket', true, {})
    } catch (e) {
      settle(o, 'closeSocket', false, { errMsg: `closeSocket:fail ${e.message}` })
    }
  }
}
