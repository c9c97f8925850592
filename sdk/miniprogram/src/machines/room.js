// The room client of /rooms/v1/ws (wire contract: docs/rooms-protocol.md) as a pure state machine: what the
// page asks and what the socket brings go in; frames to send, socket actions and events for the page come out.
// The driver (src/room.js) owns the SocketTask and the timers.
//
// Inputs: join {payload}, exit, request {kind, body} (updateMuteConfig, subscribeVideoMembers, setEnable1v1Chat),
// volume {volume}, socket_open, socket_closed {code, reason}, message {msg} (a parsed server frame).
// Outputs: {action: {type: 'open'}} (open a new socket), {action: {type: 'send', msg}}, {action: {type: 'close'}},
// {event: {...}} for the page: reply {reqId, ok, result} (settles a page call), members_changed, speakers_changed,
// video_members_changed, interrupted, state_changed, room_event {code, message}.
//
// room_event carries live-pusher's ROOM codes with a JSON-as-string message, as bindstatechange delivers them:
// the server's 1020 and 1031-1034 as they came, and the machine's own 1018 (joined: {roomid, userid}), 1019
// (left: {roomid, userid}), 1021 (back after a dropped socket: {roomid, userid}) and 1022 (the join was refused
// or failed: {roomid, userid, errcode, errmsg}). The Rust client (crates/client/src/room) does the same; the
// vectors in sdk/vectors/room/ keep the two alike.
//
// Timers (pollTimeout): the heartbeat while joined (heartbeatIntervalMs from the server, 7 s by default), the
// wait for an answer to join/resume, and the next resume attempt after a drop (at once, then after
// resume_retry_ms, doubling up to resume_retry_max_ms, until the grace, 15 s by default, would be over).

export const ROOM_ERRORS = Object.freeze({
  ALREADY_IN_ROOM: -1,
  LEFT_WHILE_JOINING: -3,
  SYSTEM: -1000,
  BAD_SIGNATURE: -10001,
  BAD_TIMESTAMP: -10002,
  ROOM_FULL: -10003,
  QUOTA: -10004,
  BAD_NONCE: -10005,
  BAD_REQUEST: -10006,
  UNKNOWN_APP: -10007,
  RESUME_FAILED: -10008,
  HEARTBEAT_TIMEOUT: -10009,
  REPLACED: -10010,
  NOT_IN_ROOM: -10011
})

export const DEFAULT_ROOM_CONFIG = Object.freeze({
  heartbeat_ms: 7000,
  answer_timeout_ms: 10000,
  resume_grace_ms: 15000,
  resume_retry_ms: 1000,
  resume_retry_max_ms: 4000
})

/** live-pusher's ROOM codes the machine itself reports (the server sends 1020 and 1031-1034). */
export const ROOM_CODES = Object.freeze({
  JOINED: 1018,
  LEFT: 1019,
  REJOINED: 1021,
  JOIN_FAILED: 1022
})

const E = ROOM_ERRORS

export class RoomMachine {
  constructor (config = {}) {
    this.config = { ...DEFAULT_ROOM_CONFIG, ...config }
    // idle | connecting | joining | joined | resuming | exiting | exited | interrupted
    this.state = 'idle'
    this.nextReqId = 1
    this.joinReqId = undefined
    this.resumeReqId = undefined
    this.pending = new Map() // reqId -> kind
    this.members = new Map() // openId -> playUrls
    this.openIdList = []
    this.heartbeatMs = this.config.heartbeat_ms
    this.heartbeatAt = undefined
    this.answerBy = undefined
    this.reopenAt = undefined
    this.graceEnd = undefined
    this.retryWait = this.config.resume_retry_ms
    this.socketOpen = false
    this.out = []
  }

  inRoom () {
    return this.state === 'joined'
  }

  handle (input, now) {
    this.handleTimeout(now)
    switch (input.type) {
      case 'join': return this.join(input, now)
      case 'exit': return this.exit(input, now)
      case 'request': return this.request(input, now)
      case 'volume':
        if (this.state === 'joined') this.send({ type: 'volume', volume: input.volume }, now)
        return
      case 'socket_open': return this.opened(now)
      case 'socket_closed': return this.closed(input, now)
      case 'message': return this.message(input.msg, now)
      default:
        throw new TypeError(`room machine: unknown input type ${JSON.stringify(input.type)}`)
    }
  }

  join (input, now) {
    const reqId = input.reqId ?? this.nextReqId++
    if (!['idle', 'exited', 'interrupted'].includes(this.state)) {
      return this.reply(reqId, false, { errCode: E.ALREADY_IN_ROOM, errMsg: `joinVoIPChat:fail already in a room or joining (state ${this.state})` })
    }
    this.reset()
    this.state = 'connecting'
    this.joinReqId = reqId
    this.joinPayload = input.payload
    this.answerBy = now + this.config.answer_timeout_ms
    this.action({ type: 'open' })
  }

  reset () {
    this.pending.clear()
    this.members.clear()
    this.openIdList = []
    this.resumeToken = undefined
    this.heartbeatAt = undefined
    this.reopenAt = undefined
    this.graceEnd = undefined
    this.resumeReqId = undefined
  }

  exit (input, now) {
    const reqId = input.reqId ?? this.nextReqId++
    if (this.state === 'connecting' || this.state === 'joining') {
      // Leaving while joining: the join fails with -3 (as wx) and the exit succeeds.
      this.failJoin(E.LEFT_WHILE_JOINING, 'exited while joining')
      return this.reply(reqId, true, { errMsg: 'exitVoIPChat:ok' })
    }
    if (this.state === 'resuming') {
      this.state = 'exited'
      this.stopTimers()
      this.action({ type: 'close' })
      this.stateChanged('exited')
      this.roomCode(ROOM_CODES.LEFT)
      return this.reply(reqId, true, { errMsg: 'exitVoIPChat:ok' })
    }
    if (this.state !== 'joined') {
      return this.reply(reqId, false, { errCode: E.NOT_IN_ROOM, errMsg: 'exitVoIPChat:fail not in a room' })
    }
    this.state = 'exiting'
    this.pending.set(reqId, 'exit')
    this.answerBy = now + this.config.answer_timeout_ms
    this.send({ type: 'exit', reqId }, now)
  }

  request (input, now) {
    const reqId = input.reqId ?? this.nextReqId++
    if (this.state !== 'joined') {
      const why = this.state === 'resuming' ? 'the connection is being resumed; try again' : 'not in a room'
      return this.reply(reqId, false, { errCode: E.NOT_IN_ROOM, errMsg: `${input.kind}:fail ${why}` })
    }
    this.pending.set(reqId, input.kind)
    this.send({ type: input.kind, reqId, ...input.body }, now)
  }

  opened (now) {
    this.socketOpen = true
    if (this.state === 'connecting') {
      this.state = 'joining'
      this.send({ type: 'join', reqId: this.joinReqId, ...this.joinPayload }, now)
    } else if (this.state === 'resuming') {
      this.resumeReqId = this.nextReqId++
      this.reopenAt = undefined
      this.answerBy = now + this.config.answer_timeout_ms
      this.send({ type: 'resume', reqId: this.resumeReqId, resumeToken: this.resumeToken }, now)
    }
  }

  closed (input, now) {
    this.socketOpen = false
    const why = `the socket closed (${input.code ?? '?'}${input.reason ? ': ' + input.reason : ''})`
    switch (this.state) {
      case 'connecting':
      case 'joining':
        return this.failJoin(E.SYSTEM, `${why} before the join was answered`, false)
      case 'joined':
        // A drop without exit: the server keeps the membership for the grace; come back with the token.
        this.state = 'resuming'
        this.heartbeatAt = undefined
        this.graceEnd = now + this.config.resume_grace_ms
        this.answerBy = now + this.config.answer_timeout_ms
        this.retryWait = this.config.resume_retry_ms
        this.failPending(`${why}; resuming`)
        this.stateChanged('reconnecting')
        this.action({ type: 'open' })
        return
      case 'resuming': {
        // Back off: each failed reopen doubles the wait, up to resume_retry_max_ms, within the grace.
        const wait = this.retryWait
        if (now + wait >= this.graceEnd) return this.interrupt(E.RESUME_FAILED, `could not resume within the grace: ${why}`, false)
        this.retryWait = Math.min(wait * 2, this.config.resume_retry_max_ms)
        this.answerBy = undefined
        this.reopenAt = now + wait
        return
      }
      case 'exiting':
        this.state = 'exited'
        this.stopTimers()
        this.settleAll(true, { errMsg: 'exitVoIPChat:ok' })
        this.stateChanged('exited')
        this.roomCode(ROOM_CODES.LEFT)
        return
      default:
    }
  }

  message (msg, now) {
    if (!msg || typeof msg !== 'object') return
    switch (msg.type) {
      case 'joined': return this.joined(msg, now)
      case 'ok': return this.settle(msg.reqId, true, { errMsg: `${this.pending.get(msg.reqId) || 'request'}:ok` })
      case 'exited':
        this.state = 'exited'
        this.stopTimers()
        this.settle(msg.reqId, true, { errMsg: 'exitVoIPChat:ok' })
        this.settleAll(true, { errMsg: 'exitVoIPChat:ok' })
        this.action({ type: 'close' })
        this.stateChanged('exited')
        this.roomCode(ROOM_CODES.LEFT)
        return
      case 'error': return this.error(msg)
      case 'membersChanged': {
        const fresh = []
        for (const m of msg.members || []) {
          if (m && m.openId) {
            this.members.set(m.openId, m.playUrls || {})
            fresh.push({ openId: m.openId, playUrls: m.playUrls || {} })
          }
        }
        this.openIdList = Array.isArray(msg.openIdList) ? [...msg.openIdList] : this.openIdList
        for (const id of [...this.members.keys()]) if (!this.openIdList.includes(id)) this.members.delete(id)
        return this.event({
          type: 'members_changed',
          openIdList: [...this.openIdList],
          errCode: msg.errCode ?? 0,
          errMsg: msg.errMsg ?? 'ok',
          members: fresh,
          playUrls: Object.fromEntries(this.members)
        })
      }
      case 'speakersChanged':
        return this.event({ type: 'speakers_changed', openIdList: msg.openIdList || [], errCode: 0, errMsg: 'ok' })
      case 'videoMembersChanged':
        return this.event({ type: 'video_members_changed', openIdList: msg.openIdList || [], errCode: 0, errMsg: 'ok' })
      case 'interrupted':
        return this.interrupt(msg.errCode ?? E.SYSTEM, msg.errMsg || 'interrupted by the server', true)
      case 'stateChanged':
        return this.stateChanged(msg.state)
      case 'roomEvent':
        return this.event({ type: 'room_event', code: msg.code, message: msg.message })
      case 'heartbeat':
      default:
        // Any frame shows the link works; unknown types from a newer server are ignored.
    }
  }

  joined (msg, now) {
    const isResume = msg.reqId !== undefined && msg.reqId === this.resumeReqId
    if (!(this.state === 'joining' && msg.reqId === this.joinReqId) && !(this.state === 'resuming' && isResume)) return
    this.state = 'joined'
    this.answerBy = undefined
    this.graceEnd = undefined
    this.retryWait = this.config.resume_retry_ms
    this.resumeToken = msg.resumeToken
    this.heartbeatMs = msg.heartbeatIntervalMs || this.config.heartbeat_ms
    this.heartbeatAt = now + this.heartbeatMs
    this.openIdList = Array.isArray(msg.openIdList) ? [...msg.openIdList] : []
    this.members.clear()
    for (const m of msg.members || []) if (m && m.openId) this.members.set(m.openId, m.playUrls || {})
    if (isResume) {
      this.resumeReqId = undefined
      this.stateChanged('resumed')
      this.roomCode(ROOM_CODES.REJOINED)
      return
    }
    this.pushUrl = msg.pushUrl
    this.reply(this.joinReqId, true, {
      errMsg: 'joinVoIPChat:ok',
      errCode: 0,
      groupId: msg.groupId,
      roomType: msg.roomType,
      openIdList: [...this.openIdList],
      pushUrl: msg.pushUrl,
      members: (msg.members || []).map((m) => ({ openId: m.openId, playUrls: m.playUrls || {} })),
      playUrls: Object.fromEntries(this.members)
    })
    this.joinReqId = undefined
    this.roomCode(ROOM_CODES.JOINED)
  }

  error (msg) {
    if (msg.reqId !== undefined && msg.reqId === this.joinReqId && (this.state === 'joining' || this.state === 'connecting')) {
      return this.failJoin(msg.errCode ?? E.SYSTEM, msg.errMsg || 'refused', true)
    }
    if (msg.reqId !== undefined && msg.reqId === this.resumeReqId) {
      return this.interrupt(msg.errCode ?? E.RESUME_FAILED, `resume refused: ${msg.errMsg || ''}`, true)
    }
    if (msg.reqId !== undefined && this.pending.has(msg.reqId)) {
      const kind = this.pending.get(msg.reqId)
      if (kind === 'exit' && this.state === 'exiting') this.state = 'joined'
      return this.settle(msg.reqId, false, { errCode: msg.errCode ?? E.SYSTEM, errMsg: `${kind}:fail ${msg.errMsg || ''}` })
    }
    // An error without a request of ours (a malformed frame we sent): tell the page through a room event.
    this.event({ type: 'room_event', code: msg.errCode, message: msg.errMsg })
  }

  // reason: why, for a person (the server's errMsg); the page's fail gets it after 'joinVoIPChat:fail '.
  failJoin (errCode, reason, closeSocket = true) {
    const reqId = this.joinReqId
    this.joinReqId = undefined
    this.state = 'idle'
    this.stopTimers()
    if (closeSocket) this.action({ type: 'close' })
    this.reply(reqId, false, { errCode, errMsg: `joinVoIPChat:fail ${reason}` })
    this.roomCode(ROOM_CODES.JOIN_FAILED, { errcode: errCode, errmsg: reason })
  }

  // A ROOM code of this member's own, message {roomid, userid, ...extra} as a JSON string (key order matters:
  // the Rust client writes the same string).
  roomCode (code, extra = {}) {
    const p = this.joinPayload || {}
    this.event({ type: 'room_event', code, message: JSON.stringify({ roomid: p.groupId, userid: p.openId, ...extra }) })
  }

  interrupt (errCode, errMsg, closeSocket) {
    this.state = 'interrupted'
    this.stopTimers()
    this.failPending(errMsg)
    if (closeSocket) this.action({ type: 'close' })
    this.event({ type: 'interrupted', errCode, errMsg })
    this.stateChanged('interrupted')
  }

  stateChanged (state) {
    this.event({ type: 'state_changed', state })
  }

  stopTimers () {
    this.heartbeatAt = undefined
    this.answerBy = undefined
    this.reopenAt = undefined
    this.graceEnd = undefined
  }

  failPending (why) {
    for (const [reqId, kind] of this.pending) this.reply(reqId, false, { errCode: E.SYSTEM, errMsg: `${kind}:fail ${why}` })
    this.pending.clear()
  }

  settleAll (ok, result) {
    for (const reqId of [...this.pending.keys()]) this.reply(reqId, ok, result)
    this.pending.clear()
  }

  settle (reqId, ok, result) {
    if (!this.pending.has(reqId)) return
    this.pending.delete(reqId)
    this.reply(reqId, ok, result)
  }

  pollTimeout () {
    const ts = [this.heartbeatAt, this.answerBy, this.reopenAt].filter((t) => t !== undefined)
    return ts.length ? Math.min(...ts) : undefined
  }

  handleTimeout (now) {
    if (this.answerBy !== undefined && now >= this.answerBy) {
      this.answerBy = undefined
      if (this.state === 'connecting' || this.state === 'joining') {
        this.failJoin(E.SYSTEM, `no answer within ${this.config.answer_timeout_ms} ms`)
      } else if (this.state === 'resuming') {
        this.action({ type: 'close' })
        this.interrupt(E.RESUME_FAILED, `no answer to resume within ${this.config.answer_timeout_ms} ms`, false)
      } else if (this.state === 'exiting') {
        // The server did not confirm: the member is out as far as the page is concerned.
        this.state = 'exited'
        this.stopTimers()
        this.settleAll(true, { errMsg: 'exitVoIPChat:ok' })
        this.action({ type: 'close' })
        this.stateChanged('exited')
        this.roomCode(ROOM_CODES.LEFT)
      }
    }
    if (this.reopenAt !== undefined && now >= this.reopenAt) {
      this.reopenAt = undefined
      if (this.state === 'resuming') {
        this.answerBy = now + this.config.answer_timeout_ms
        this.action({ type: 'open' })
      }
    }
    if (this.heartbeatAt !== undefined && now >= this.heartbeatAt) {
      this.heartbeatAt = now + this.heartbeatMs
      if (this.state === 'joined' || this.state === 'exiting') this.out.push({ action: { type: 'send', msg: { type: 'heartbeat' } } })
    }
  }

  pollOutput () {
    return this.out.shift()
  }

  send (msg, now) {
    // Any frame counts as a heartbeat, so the next one can wait a full interval.
    if (this.heartbeatAt !== undefined) this.heartbeatAt = now + this.heartbeatMs
    this.out.push({ action: { type: 'send', msg } })
  }

  action (a) {
    this.out.push({ action: a })
  }

  event (e) {
    this.out.push({ event: e })
  }

  reply (reqId, ok, result) {
    this.out.push({ event: { type: 'reply', reqId, ok, result } })
  }
}
