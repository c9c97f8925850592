// VhallPlayer for mplive: the publisher's shape over <live-player>. createInstance works out the play URLs,
// the page binds one to <live-player src="{{url}}">, the component's events come back through statechange(e) &
// co, and the recovery policy (src/machines/watch.js) turns live-player's codes into connected / reconnecting /
// reconnectReady / reconnected / ended and restarts the player after it gave up (-2301) or the stream ended
// (2006).
//
// Where the URLs come from, in this order:
// - with `token` (a viewer's, or a publisher's, access token) and `accountId`: POST {server}/sdk/v1/player/instance
//   hands out the play URLs, signed with the app's play key when its play auth is on; before every restart the SDK
//   asks /sdk/v1/player/refresh for freshly signed ones and emits reconnectReady({url}) with the new URL, which the
//   page binds (setData) before the SDK plays again. So a signed URL that expired while the page was open is
//   never reused.
// - else the URLs the page passes (`playUrls`, e.g. from the publisher's createInstance or the app's backend),
//   reused as they are on every restart;
// - else built from `server` + app + channel for apps whose play auth is off (the default):
//   `{server}/{appId}/{channelId}.flv` (HTTP-FLV, what live-player plays best).

import { WatchMachine } from './machines/watch.js'
import { Emitter, armTimer, delegateContextMethods, endpoint, getWx, postJson, wxError } from './util.js'

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

/** With a token: checks the options and returns the body of /sdk/v1/player/{instance,refresh}, or throws a wx error. */
export function playerRequest (opt) {
  const o = opt || {}
  const missing = []
  if (typeof o.server !== 'string' || !/^https?:\/\//.test(o.server)) missing.push('server (the mplive address, e.g. "https://live.example.com")')
  for (const k of ['appId', 'accountId', 'token']) {
    if (o[k] === undefined || o[k] === null || o[k] === '') missing.push(k)
  }
  const channelId = o.channelId ?? o.roomId
  if (channelId === undefined || channelId === null || channelId === '') missing.push('channelId (or roomId)')
  if (missing.length) throw wxError('createInstance', `missing or invalid option: ${missing.join(', ')}`, 40001)
  return { appId: String(o.appId), channelId: String(channelId), accountId: String(o.accountId), token: String(o.token) }
}

/** The URL the player binds: RTMP when asked for and given, else HTTP-FLV, else RTMP. */
function pickUrl (urls, protocol) {
  return (protocol === 'rtmp' && urls.rtmp) || urls.flv || urls.rtmp
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
    this.body = null
    this.expiresAt = undefined
    this.refreshes = 0
  }

  /**
   * opt: server, appId, channelId (roomId), playerId, THIS, plus optional accountId + token (the SDK then gets the
   * URLs from /sdk/v1/player/instance), playUrls {flv, rtmp, hls} and protocol ('flv' default, or 'rtmp').
   * success({url, playUrls, expiresAt}) (expiresAt only with a token); fail({errMsg, errCode}).
   * Without a token but with a server address the SDK first checks that it answers (GET /healthz), so a wrong
   * address fails here.
   */
  createInstance (opt, success, fail) {
    const o = opt || {}
    const failWith = (e) => { if (typeof fail === 'function') fail(e) }
    if (!o.playerId) return failWith(wxError('createInstance', 'missing option: playerId (the <live-player> id)', 40001))
    const ready = (urls, expiresAt) => {
      if (this.destroyed) return
      const url = pickUrl(urls, o.protocol)
      this.url = url
      this.playUrls = urls
      this.expiresAt = expiresAt
      this.context = getWx().createLivePlayerContext(o.playerId, o.THIS)
      this.machine = new WatchMachine({ interval_ms: o.reconnectIntervalMs || 5000, url })
      this.feed({ type: 'start' })
      if (typeof success === 'function') {
        success(expiresAt === undefined ? { url, playUrls: urls } : { url, playUrls: urls, expiresAt })
      }
    }
    if (o.token !== undefined && o.token !== null && o.token !== '') {
      let body
      try {
        body = playerRequest(o)
      } catch (e) {
        return failWith(e)
      }
      this.opt = o
      this.body = body
      postJson('createInstance', endpoint(o.server, '/sdk/v1/player/instance'), body).then(
        (res) => ready({ ...res.playUrls }, res.expiresAt), failWith)
      return
    }
    let urls
    try {
      urls = playUrls(o)
    } catch (e) {
      return failWith(e)
    }
    if (!o.server) return ready(urls)
    getWx().request({
      url: endpoint(o.server, '/healthz'),
      method: 'GET',
      dataType: 'text',
      success: (res) => {
        if (res.statusCode === 200) ready(urls)
        else failWith(wxError('createInstance', `${o.server} is not an mplive server (GET /healthz: HTTP ${res.statusCode})`, res.statusCode))
      },
      fail: (err) => {
        failWith(wxError('createInstance', `cannot reach ${o.server}: ${(err && err.errMsg) || err}`, -1))
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

  /** Stops the <live-player> and plays it again (on the src the page bound). */
  replay () {
    this.context.stop({ complete: () => { if (!this.destroyed) this.context.play({}) } })
  }

  /**
   * A restart with a token: asks /sdk/v1/player/refresh for freshly signed URLs, hands the new one to the page as
   * reconnectReady({url}) (whose handler binds it: setData({src: url})), then stops and plays. When the refresh
   * fails (the server is still down) the player is restarted on the URL it has, so live-player's failure comes
   * back as -2301 and the next tick asks again.
   */
  restartFresh () {
    const seq = ++this.refreshes
    const go = () => {
      // A newer restart took over, or the player came back by itself (2004) meanwhile.
      if (this.destroyed || seq !== this.refreshes || this.machine.state !== 'restarting') return
      this.events.emit('reconnectReady', { url: this.url })
      this.replay()
    }
    postJson('refresh', endpoint(this.opt.server, '/sdk/v1/player/refresh'), this.body).then((res) => {
      if (this.destroyed || seq !== this.refreshes) return
      const urls = { ...res.playUrls }
      this.playUrls = urls
      this.expiresAt = res.expiresAt
      this.url = pickUrl(urls, this.opt.protocol)
      this.machine.config.url = this.url
      go()
    }, go)
  }

  feed (input) {
    this.machine.handle(input, this.now())
    this.drain()
  }

  drain () {
    for (let o = this.machine.pollOutput(); o; o = this.machine.pollOutput()) {
      if (o.event) {
        // With a token, reconnectReady comes after the refresh, with the fresh URL (restartFresh).
        if (o.event.type === 'reconnect_ready' && this.body) continue
        const name = EVENT_NAMES[o.event.type]
        this.events.emit(name, o.event.type === 'reconnect_ready' ? { url: o.event.url } : undefined)
      } else if (o.action.type === 'restart') {
        if (this.body) this.restartFresh()
        // Without a token the src does not change: stop and play again.
        else this.replay()
      } else if (o.action.type === 'stop') {
        if (this.context) this.context.stop({})
      }
    }
    armTimer(this)
  }
}

delegateContextMethods(VhallPlayer, PLAYER_METHODS, 'player')

export { VhallPlayer }
