// VhallPlayer for mplive: the publisher's shape over <live-player>. createInstance works out the play URLs,
// the page binds one to <live-player src="{{url}}">, the component's events come back through statechange(e) &
// co, and the recovery policy (src/machines/watch.js) turns live-player's codes into connected / reconnecting /
// reconnectReady / reconnected / ended and restarts the player after it gave up (-2301) or the stream ended
// (2006).
//
// mplive has no SDK play endpoint (only /sdk/v1/publisher/instance and /refresh): the URLs are those the page
// passes (`playUrls`, e.g. from the publisher's createInstance or the app's backend, signed when the app's play
// auth is on), or built from `server` + app + channel for apps whose play auth is off (the default):
// `{server}/{appId}/{channelId}.flv` (HTTP-FLV, what live-player plays best).

import { WatchMachine } from './machines/watch.js'
import { Emitter, endpoint, getWx, settle, wxError } from './util.js'

export const PLAYER_METHODS = Object.freeze([
  'play', 'stop', 'pause', 'resume', 'mute', 'requestFullScreen', 'exitFullScreen', 'snapshot'
])

export const PLAYER_EVENTS = Object.freeze([
  'connected', 'reconnecting', 'reconnectReady', 'reconnected', 'ended', 'statechange', 'netstatus', 'error'
])

const EVENT_NAMES = {
  connected: 'connected',
  reconnecting: 'reconnecting',
  reconnect_ready: 'reconnectReady',
  reconnected: 'reconnected',
  ended: 'ended'
}

/** The play URLs for createInstance's options, or throws a wx error saying what is missing. */
export function playUrls (opt) {
  const o = opt || {}
  if (o.playUrls && (o.playUrls.flv || o.playUrls.rtmp)) return { ...o.playUrls }
  const missing = []
  if (typeof o.server !== 'string' || !/^https?:\/\//.test(o.server)) missing.push('server (the mplive address, e.g. "https://live.example.com")')
  if (!o.appId) missing.push('appId (the app name)')
  const channelId = o.channelId ?? o.roomId
  if (!channelId) missing.push('channelId (or roomId)')
  if (missing.length) throw wxError('createInstance', `missing or invalid option: ${missing.join(', ')}; or pass playUrls`, 40001)
  const path = `/${encodeURIComponent(o.appId)}/${encodeURIComponent(channelId)}`
  return { flv: endpoint(o.server, `${path}.flv`), hls: endpoint(o.server, `${path}.m3u8`) }
}

export default class VhallPlayer {
  constructor () {
    this.events = new Emitter(PLAYER_EVENTS)
    this.machine = null
    this.context = null
    this.url = ''
    this.timer = null
    this.destroyed = false
    this.netStatus = null
  }

  /**
   * opt: server, appId, channelId (roomId), playerId, THIS, plus optional playUrls {flv, rtmp, hls} and
   * protocol ('flv' default, or 'rtmp'). success({url, playUrls}); fail({errMsg, errCode}).
   * With a server address the SDK first checks that it answers (GET /healthz), so a wrong address fails here.
   */
  createInstance (opt, success, fail) {
    const o = opt || {}
    let urls
    try {
      if (!o.playerId) throw wxError('createInstance', 'missing option: playerId (the <live-player> id)', 40001)
      urls = playUrls(o)
    } catch (e) {
      if (typeof fail === 'function') fail(e)
      return
    }
    const url = (o.protocol === 'rtmp' && urls.rtmp) || urls.flv || urls.rtmp
    const ready = () => {
      if (this.destroyed) return
      this.url = url
      this.playUrls = urls
      this.context = getWx().createLivePlayerContext(o.playerId, o.THIS)
      this.machine = new WatchMachine({ interval_ms: o.reconnectIntervalMs || 5000, url })
      this.feed({ type: 'start' })
      if (typeof success === 'function') success({ url, playUrls: urls })
    }
    if (!o.server) return ready()
    getWx().request({
      url: endpoint(o.server, '/healthz'),
      method: 'GET',
      dataType: 'text',
      success: (res) => {
        if (res.statusCode === 200) ready()
        else if (typeof fail === 'function') fail(wxError('createInstance', `${o.server} is not an mplive server (GET /healthz: HTTP ${res.statusCode})`, res.statusCode))
      },
      fail: (err) => {
        if (typeof fail === 'function') fail(wxError('createInstance', `cannot reach ${o.server}: ${(err && err.errMsg) || err}`, -1))
      }
    })
  }

  on (event, cb) { this.events.on(event, cb) }
  off (event, cb) { this.events.off(event, cb) }

  destroy () {
    if (this.destroyed) return
    if (this.machine) this.feed({ type: 'destroy' })
    this.destroyed = true
    clearTimeout(this.timer)
    this.events.clear()
  }

  // ---- the <live-player> component's events, wired by the page ----

  /** bindstatechange: e.detail = {code, message}. */
  statechange (e) {
    const detail = (e && e.detail) || {}
    this.events.emit('statechange', detail)
    const code = Number(detail.code)
    if (this.machine && !this.destroyed && Number.isFinite(code)) this.feed({ type: 'status', code })
  }

  /** bindnetstatus: e.detail = {info}. */
  netstatuschange (e) {
    this.netStatus = (e && e.detail && e.detail.info) || null
    this.events.emit('netstatus', this.netStatus)
  }

  /** binderror: e.detail = {errMsg, errCode}. */
  playerror (e) {
    this.events.emit('error', (e && e.detail) || {})
  }

  // ---- the driver ----

  now () { return Date.now() }

  feed (input) {
    this.machine.handle(input, this.now())
    this.drain()
  }

  drain () {
    for (let o = this.machine.pollOutput(); o; o = this.machine.pollOutput()) {
      if (o.event) {
        const name = EVENT_NAMES[o.event.type]
        this.events.emit(name, o.event.type === 'reconnect_ready' ? { url: o.event.url } : undefined)
      } else if (o.action.type === 'restart') {
        // The src does not change (no SDK play endpoint to sign a new one): stop and play again.
        this.context.stop({ complete: () => { if (!this.destroyed) this.context.play({}) } })
      } else if (o.action.type === 'stop') {
        if (this.context) this.context.stop({})
      }
    }
    clearTimeout(this.timer)
    this.timer = null
    const due = this.machine.pollTimeout()
    if (due === undefined || this.destroyed) return
    this.timer = setTimeout(() => {
      this.timer = null
      if (this.destroyed) return
      this.machine.handleTimeout(this.now())
      this.drain()
    }, Math.max(0, due - this.now()))
  }
}

for (const name of PLAYER_METHODS) {
  VhallPlayer.prototype[name] = function (params) {
    const p = params || {}
    if (this.destroyed) return settle(p, false, wxError(name, 'the player was destroyed', -2))
    if (!this.context) return settle(p, false, wxError(name, 'createInstance has not succeeded yet', -1))
    return this.context[name](p)
  }
}

export { VhallPlayer }
