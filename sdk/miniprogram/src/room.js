// VoipRoom: a multi-party room over mplive's /rooms/v1/ws, shaped like wx.joinVoIPChat (seed 003):
// join / exit / updateMuteConfig / subscribeVideoMembers with {success, fail, complete}, and
// onMembersChanged / onSpeakersChanged / onInterrupted / onVideoMembersChanged (+ off*). Unlike voip-room, media
// goes through the page's own <live-pusher> and <live-player>s: join's result carries this member's push URL and
// every other member's play URLs, and onMembersChanged hands the play URLs of newcomers.
//
// The wire protocol is docs/rooms-protocol.md; every decision (heartbeats, resume after a drop within the
// grace, error mapping) is the pure machine's (src/machines/room.js); this driver owns the SocketTask and timers.

import { RoomMachine } from './machines/room.js'
import { Emitter, armTimer, getWx, settle, wxError } from './util.js'

const LISTENERS = {
  MembersChanged: 'members_changed',
  SpeakersChanged: 'speakers_changed',
  Interrupted: 'interrupted',
  VideoMembersChanged: 'video_members_changed',
  StateChanged: 'state_changed',
  RoomEvent: 'room_event'
}

/** The WebSocket address of /rooms/v1/ws for an mplive server address (http -> ws, https -> wss). */
export function roomsSocketUrl (server) {
  if (typeof server !== 'string' || !/^(https?|wss?):\/\//.test(server)) {
    throw wxError('joinVoIPChat', 'missing or invalid option: server (the mplive address, e.g. "https://live.example.com")', 40001)
  }
  return server.replace(/\/+$/, '').replace(/^http/, 'ws') + '/rooms/v1/ws'
}

export class VoipRoom {
  /**
   * @param {{server: string, appId: string, openId?: string, config?: object}} opt server: the mplive address;
   *   appId: the app's name (the WeChat appid the app was created with); openId: this user.
   */
  constructor (opt = {}) {
    this.opt = opt
    this.machine = new RoomMachine(opt.config || {})
    this.events = new Emitter(Object.values(LISTENERS))
    this.calls = new Map()
    this.socket = null
    this.timer = null
  }

  /** Joins (or creates) the room `groupId`. success({openIdList, pushUrl, members, playUrls, errCode, errMsg}). */
  join (params = {}) {
    const p = params
    const missing = ['signature', 'nonceStr', 'timeStamp', 'groupId'].filter((k) => p[k] === undefined || p[k] === '')
    const openId = p.openId ?? this.opt.openId
    if (!openId) missing.push('openId')
    if (!this.opt.appId) missing.push('appId (constructor)')
    if (missing.length) return settle(p, false, wxError('joinVoIPChat', `missing option: ${missing.join(', ')}`, -10006))
    let url
    try { url = roomsSocketUrl(this.opt.server) } catch (e) { return settle(p, false, e) }
    this.url = url
    const payload = {
      appId: String(this.opt.appId),
      groupId: String(p.groupId),
      openId: String(openId),
      nonceStr: String(p.nonceStr),
      timeStamp: String(p.timeStamp),
      signature: String(p.signature),
      roomType: p.roomType === 'video' ? 'video' : 'voice',
      muteConfig: { muteMicrophone: false, muteEarphone: false, ...(p.muteConfig || {}) }
    }
    this.call(p, (reqId) => ({ type: 'join', reqId, payload }))
  }

  /** Leaves the room. */
  exit (params = {}) {
    this.call(params, (reqId) => ({ type: 'exit', reqId }))
  }

  /** Mutes or unmutes: muteConfig {muteMicrophone, muteEarphone}. */
  updateMuteConfig (params = {}) {
    if (!params.muteConfig) return settle(params, false, wxError('updateVoIPChatMuteConfig', 'missing option: muteConfig', -10006))
    this.call(params, (reqId) => ({ type: 'request', kind: 'updateMuteConfig', reqId, body: { muteConfig: params.muteConfig } }))
  }

  /** Chooses the video members this member sees: openIdList. */
  subscribeVideoMembers (params = {}) {
    if (!Array.isArray(params.openIdList)) return settle(params, false, wxError('subscribeVoIPVideoMembers', 'missing option: openIdList (an array)', -10006))
    this.call(params, (reqId) => ({ type: 'request', kind: 'subscribeVideoMembers', reqId, body: { openIdList: params.openIdList } }))
  }

  /** 1v1 small-window mode: enable, minWindowType. */
  setEnable1v1Chat (params = {}) {
    this.call(params, (reqId) => ({ type: 'request', kind: 'setEnable1v1Chat', reqId, body: { enable: !!params.enable, minWindowType: params.minWindowType ?? 1 } }))
  }

  /** Reports this member's microphone volume (0-100, live-pusher's bindaudiovolumenotify) for speaker detection. */
  reportVolume (volume) {
    this.feed({ type: 'volume', volume: Math.max(0, Math.min(100, Math.round(Number(volume) || 0))) })
  }

  /** This member's push URL (after join). */
  get pushUrl () { return this.machine.pushUrl }
  /** Every other member's play URLs, by openId. */
  get playUrls () { return Object.fromEntries(this.machine.members) }

  // ---- driver ----

  call (params, input) {
    const reqId = this.machine.nextReqId++
    this.calls.set(reqId, params)
    this.feed(input(reqId))
  }

  now () { return Date.now() }

  feed (input) {
    this.machine.handle(input, this.now())
    this.drain()
  }

  drain () {
    for (let o = this.machine.pollOutput(); o; o = this.machine.pollOutput()) {
      if (o.action) this.act(o.action)
      else if (o.event.type === 'reply') {
        const params = this.calls.get(o.event.reqId)
        this.calls.delete(o.event.reqId)
        if (params) settle(params, o.event.ok, o.event.result)
      } else {
        const { type, ...rest } = o.event
        this.events.emit(type, rest)
      }
    }
    armTimer(this)
  }

  act (a) {
    if (a.type === 'open') return this.open()
    if (a.type === 'close') {
      const s = this.socket
      this.socket = null
      if (s) s.close({ code: 1000, reason: 'bye' })
      return
    }
    if (a.type === 'send' && this.socket) this.socket.send({ data: JSON.stringify(a.msg) })
  }

  open () {
    if (this.socket) this.socket.close({ code: 1000 })
    // Each socket reports once: a late event from a socket already replaced means nothing.
    let done = false
    const socket = getWx().connectSocket({ url: this.url, fail: () => closed({ code: 1006, reason: 'connectSocket failed' }) })
    this.socket = socket
    const closed = (res) => {
      if (done || this.socket !== socket) return
      done = true
      this.socket = null
      this.feed({ type: 'socket_closed', code: res && res.code, reason: (res && (res.reason || res.errMsg)) || '' })
    }
    socket.onOpen(() => { if (this.socket === socket && !done) this.feed({ type: 'socket_open' }) })
    socket.onMessage((m) => {
      if (this.socket !== socket) return
      let msg
      try { msg = JSON.parse(m.data) } catch { return }
      this.feed({ type: 'message', msg })
    })
    socket.onClose(closed)
    socket.onError(closed)
  }
}

// on*/off* in wx's naming: onMembersChanged(cb), offMembersChanged(cb) ...
for (const [suffix, type] of Object.entries(LISTENERS)) {
  VoipRoom.prototype[`on${suffix}`] = function (cb) { this.events.on(type, cb) }
  VoipRoom.prototype[`off${suffix}`] = function (cb) { this.events.off(type, cb) }
}

export default VoipRoom
