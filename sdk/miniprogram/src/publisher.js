// VhallPublisher for mplive: the Vhall mini-program publisher SDK's API (seed 000), unchanged, over an mplive
// server. createInstance gets a push URL from POST {server}/sdk/v1/publisher/instance; the page binds it to
// <live-pusher url="{{url}}">; the component's events come back through statechange(e) & co; on -1307 or
// 3001-3005 the reconnect policy (src/machines/managed.js) asks /sdk/v1/publisher/refresh every 5 s for a fresh
// URL and hands it to the page as reconnectReady({url}), whose handler sets it and calls start().
//
// This file is the thin driver: it owns the timer, wx.request and the LivePusherContext; every decision is the
// pure machine's.

import { ManagedMachine } from './machines/managed.js'
import { Emitter, armTimer, delegateContextMethods, endpoint, getWx, postJson, wxError } from './util.js'

/** LivePusherContext methods the seed exposes, delegated as they are (with {success, fail, complete}). */
export const PUSHER_METHODS = Object.freeze([
  'start', 'stop', 'pause', 'resume', 'switchCamera', 'snapshot', 'toggleTorch', 'playBGM', 'pauseBGM',
  'resumeBGM', 'stopBGM', 'setBGMVolume', 'setMICVolume', 'startPreview', 'stopPreview', 'sendMessage'
])

/** The seed's events, plus mplive's additions (`statechange`, `netstatus`, `error`, the bgm events) for pages that want them. */
export const PUBLISHER_EVENTS = Object.freeze([
  'connected', 'reconnecting', 'reconnectReady', 'reconnected', 'reconnectFail',
  'statechange', 'netstatus', 'error', 'bgmstart', 'bgmprogress', 'bgmcomplete'
])

const EVENT_NAMES = {
  connected: 'connected',
  reconnecting: 'reconnecting',
  reconnect_ready: 'reconnectReady',
  reconnected: 'reconnected',
  reconnect_fail: 'reconnectFail'
}

/** Checks createInstance's options; returns the request body for the SDK endpoints, or throws a wx error. */
export function instanceRequest (opt) {
  const o = opt || {}
  const missing = []
  if (typeof o.server !== 'string' || !/^https?:\/\//.test(o.server)) {
    missing.push('server (the mplive address, e.g. "https://live.example.com")')
  }
  for (const k of ['appId', 'accountId', 'token', 'pusherId']) {
    if (o[k] === undefined || o[k] === null || o[k] === '') missing.push(k)
  }
  const channelId = o.channelId ?? o.roomId
  if (channelId === undefined || channelId === null || channelId === '') missing.push('channelId (or roomId)')
  if (missing.length) throw wxError('createInstance', `missing or invalid option: ${missing.join(', ')}`, 40001)
  return {
    appId: String(o.appId),
    channelId: String(channelId),
    accountId: String(o.accountId),
    token: String(o.token),
    // The seed's 0/1 (and booleans) mean audio-only.
    singleAudio: o.singleAudio === 1 || o.singleAudio === '1' || o.singleAudio === true,
    profile: o.profile ? String(o.profile) : 'RTC'
  }
}

export default class VhallPublisher {
  constructor () {
    this.events = new Emitter(PUBLISHER_EVENTS)
    this.machine = null
    this.context = null
    this.url = ''
    this.instance = null
    this.netStatus = null
    this.timer = null
    this.destroyed = false
  }

  /**
   * Gets a push URL for the channel and gets ready to follow the pusher's status codes.
   * success({url, stream, expiresAt, playUrls}); fail({errMsg, errCode}).
   */
  createInstance (opt, success, fail) {
    let body
    try {
      body = instanceRequest(opt)
    } catch (e) {
      if (typeof fail === 'function') fail(e)
      return
    }
    this.opt = opt
    this.body = body
    postJson('createInstance', endpoint(opt.server, '/sdk/v1/publisher/instance'), body).then((res) => {
      if (this.destroyed) return
      this.instance = res
      this.url = res.url
      this.context = getWx().createLivePusherContext(opt.pusherId, opt.THIS)
      this.machine = new ManagedMachine({ interval_ms: opt.reconnectIntervalMs || 5000 })
      this.feed({ type: 'start' })
      if (typeof success === 'function') {
        success({ url: res.url, stream: res.stream, expiresAt: res.expiresAt, playUrls: res.playUrls })
      }
    }, (err) => {
      if (typeof fail === 'function') fail(err)
    })
  }

  /** Listens to an event: connected, reconnecting, reconnectReady({url}), reconnected, reconnectFail(err). */
  on (event, cb) {
    this.events.on(event, cb)
  }

  /** Stops listening (all listeners of the event without cb). */
  off (event, cb) {
    this.events.off(event, cb)
  }

  /** Stops the pusher and the reconnect cycle; the instance is finished. */
  destroy () {
    if (this.destroyed) return
    if (this.machine) this.feed({ type: 'destroy' })
    this.destroyed = true
    clearTimeout(this.timer)
    this.timer = null
    this.events.clear()
  }

  // ---- the <live-pusher> component's events, wired by the page ----

  /** bindstatechange: e.detail = {code, message}. */
  statechange (e) {
    const detail = (e && e.detail) || {}
    const code = Number(detail.code)
    this.events.emit('statechange', detail)
    if (this.machine && !this.destroyed && Number.isFinite(code)) this.feed({ type: 'status', code })
  }

  /** bindnetstatus: e.detail = {info}. */
  netstatuschange (e) {
    this.netStatus = (e && e.detail && e.detail.info) || null
    this.events.emit('netstatus', this.netStatus)
  }

  /** binderror: e.detail = {errMsg, errCode}. */
  pusherror (e) {
    this.events.emit('error', (e && e.detail) || {})
  }

  bgmstart (e) { this.events.emit('bgmstart', (e && e.detail) || {}) }
  bgmprogress (e) { this.events.emit('bgmprogress', (e && e.detail) || {}) }
  bgmcomplete (e) { this.events.emit('bgmcomplete', (e && e.detail) || {}) }

  // ---- the driver ----

  now () {
    return Date.now()
  }

  feed (input) {
    this.machine.handle(input, this.now())
    this.drain()
  }

  drain () {
    for (let o = this.machine.pollOutput(); o; o = this.machine.pollOutput()) {
      if (o.event) this.emitEvent(o.event)
      else this.act(o.action)
    }
    this.arm()
  }

  emitEvent (ev) {
    const name = EVENT_NAMES[ev.type]
    if (ev.type === 'reconnect_ready') {
      this.url = ev.url
      this.events.emit(name, { url: ev.url })
    } else if (ev.type === 'reconnect_fail') {
      this.events.emit(name, ev.err)
    } else {
      this.events.emit(name)
    }
  }

  act (action) {
    switch (action.type) {
      case 'fetch_url':
        postJson('refresh', endpoint(this.opt.server, '/sdk/v1/publisher/refresh'), this.body).then((res) => {
          if (this.destroyed) return
          this.instance = res
          this.feed({ type: 'url_fetched', url: res.url })
        }, (err) => {
          if (this.destroyed) return
          // The machine carries the error as is: the page's reconnectFail handler gets {errMsg, errCode}.
          this.feed({ type: 'url_failed', err })
        })
        break
      case 'restart':
        // The URL is a <live-pusher> attribute that only the page can set: its reconnectReady handler sets it and
        // calls start(), as in the seed. Nothing to do here.
        break
      case 'stop':
        if (this.context) this.context.stop({})
        break
    }
  }

  /** One timer for the machine's next deadline. */
  arm () { armTimer(this) }
}

// The LivePusherContext methods: each delegates to wx.createLivePusherContext(pusherId, THIS) with the page's
// {success, fail, complete}; before createInstance succeeded they fail with a reason.
delegateContextMethods(VhallPublisher, PUSHER_METHODS, 'publisher')

export { VhallPublisher }
