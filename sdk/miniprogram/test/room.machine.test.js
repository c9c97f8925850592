// The room state machine against canned server frames of the wire contract (docs/rooms-protocol.md): pure,
// no socket. The same class talks to the real server in room.e2e.test.js.

import { test } from 'node:test'
import assert from 'node:assert/strict'

import { RoomMachine, ROOM_CODES, ROOM_ERRORS } from '../src/machines/room.js'
import { roomSignature } from './helpers.js'

const JOIN = { appId: 'wxapp', groupId: 'g1', openId: 'me', nonceStr: 'n1', timeStamp: '100', signature: 's', roomType: 'video', muteConfig: { muteMicrophone: false, muteEarphone: false } }
const WHO = JSON.stringify({ roomid: 'g1', userid: 'me' })
const URLS = (id) => ({ rtmp: `rtmp://h/room/g1_${id}`, flv: `http://h/room/g1_${id}.flv` })

function drain (m) {
  const out = []
  for (let o = m.pollOutput(); o; o = m.pollOutput()) out.push(o)
  return out
}

function joined (m, now = 10) {
  m.handle({ type: 'join', reqId: 1, payload: JOIN }, 0)
  m.handle({ type: 'socket_open' }, 5)
  drain(m)
  m.handle({ type: 'message', msg: { type: 'joined', reqId: 1, groupId: 'g1', roomType: 'video', openIdList: ['a', 'me'], pushUrl: 'rtmp://h/room/g1_me?txSecret=x', members: [{ openId: 'a', playUrls: URLS('a') }], heartbeatIntervalMs: 7000, resumeToken: 'tok', resumed: false } }, now)
  return drain(m)
}

test('the signature of the contract\'s seed vector', () => {
  assert.equal(roomSignature({ sessionKey: 'gDyVgzwa0mFz9uUP7M6GQQ==', appId: 'wx20afc706a711eefc', groupId: '1559129713_672975982', nonceStr: '8AP6DT9ybtniUJfb', timeStamp: '1559129714' }),
    'b002b824688dd8593a6079e11d8c5e8734fbcb39a6d5906eb347bfbcad79c617')
})

test('join opens a socket, sends join, and hands the push URL and the members\' play URLs to the page', () => {
  const m = new RoomMachine()
  m.handle({ type: 'join', reqId: 1, payload: JOIN }, 0)
  assert.deepEqual(drain(m), [{ action: { type: 'open' } }])
  m.handle({ type: 'socket_open' }, 5)
  assert.deepEqual(drain(m), [{ action: { type: 'send', msg: { type: 'join', reqId: 1, ...JOIN } } }])
  m.handle({ type: 'message', msg: { type: 'joined', reqId: 1, groupId: 'g1', roomType: 'video', openIdList: ['a', 'me'], pushUrl: 'rtmp://h/room/g1_me', members: [{ openId: 'a', playUrls: URLS('a') }], heartbeatIntervalMs: 7000, resumeToken: 'tok', resumed: false } }, 10)
  const [reply, joinedCode] = drain(m)
  assert.equal(reply.event.type, 'reply')
  assert.deepEqual(joinedCode, { event: { type: 'room_event', code: ROOM_CODES.JOINED, message: WHO } })
  assert.equal(reply.event.ok, true)
  assert.deepEqual(reply.event.result.openIdList, ['a', 'me'])
  assert.equal(reply.event.result.pushUrl, 'rtmp://h/room/g1_me')
  assert.deepEqual(reply.event.result.playUrls, { a: URLS('a') })
  assert.equal(reply.event.result.errMsg, 'joinVoIPChat:ok')
  // Heartbeats every heartbeatIntervalMs; a frame sent in between pushes the next one back.
  assert.equal(m.pollTimeout(), 7010)
  m.handleTimeout(7010)
  assert.deepEqual(drain(m), [{ action: { type: 'send', msg: { type: 'heartbeat' } } }])
  m.handle({ type: 'volume', volume: 40 }, 9000)
  assert.deepEqual(drain(m), [{ action: { type: 'send', msg: { type: 'volume', volume: 40 } } }])
  assert.equal(m.pollTimeout(), 16000)
})

test('a refused join fails with the server\'s errCode and closes the socket', () => {
  const m = new RoomMachine()
  m.handle({ type: 'join', reqId: 1, payload: JOIN }, 0)
  m.handle({ type: 'socket_open' }, 5)
  drain(m)
  m.handle({ type: 'message', msg: { type: 'error', reqId: 1, errCode: -10001, errMsg: 'signature does not match' } }, 10)
  assert.deepEqual(drain(m), [
    { action: { type: 'close' } },
    { event: { type: 'reply', reqId: 1, ok: false, result: { errCode: -10001, errMsg: 'joinVoIPChat:fail signature does not match' } } },
    // live-pusher's 1022 (join failed) with the reason, as bindstatechange would deliver it.
    { event: { type: 'room_event', code: ROOM_CODES.JOIN_FAILED, message: JSON.stringify({ roomid: 'g1', userid: 'me', errcode: -10001, errmsg: 'signature does not match' }) } }
  ])
  // A second join is allowed after a failure.
  m.handle({ type: 'join', reqId: 2, payload: JOIN }, 20)
  assert.deepEqual(drain(m), [{ action: { type: 'open' } }])
})

test('no answer to join within the timeout fails it; a socket that closes first fails it too', () => {
  const m = new RoomMachine()
  m.handle({ type: 'join', reqId: 1, payload: JOIN }, 0)
  drain(m)
  m.handleTimeout(10000)
  const out = drain(m)
  assert.equal(out.at(-2).event.result.errCode, ROOM_ERRORS.SYSTEM)
  assert.match(out.at(-2).event.result.errMsg, /no answer within 10000 ms/)
  assert.equal(out.at(-1).event.code, ROOM_CODES.JOIN_FAILED)
  const m2 = new RoomMachine()
  m2.handle({ type: 'join', reqId: 1, payload: JOIN }, 0)
  drain(m2)
  m2.handle({ type: 'socket_closed', code: 1006 }, 50)
  const out2 = drain(m2)
  assert.match(out2.at(-2).event.result.errMsg, /socket closed \(1006\) before the join was answered/)
  assert.match(JSON.parse(out2.at(-1).event.message).errmsg, /^the socket closed \(1006\) before the join was answered$/)
})

test('a second join while in a room fails with -1; requests before joining fail with -10011', () => {
  const m = new RoomMachine()
  m.handle({ type: 'request', reqId: 9, kind: 'updateMuteConfig', body: {} }, 0)
  assert.equal(drain(m)[0].event.result.errCode, ROOM_ERRORS.NOT_IN_ROOM)
  joined(m)
  m.handle({ type: 'join', reqId: 2, payload: JOIN }, 20)
  assert.equal(drain(m)[0].event.result.errCode, ROOM_ERRORS.ALREADY_IN_ROOM)
})

test('exit while joining fails the join with -3 and succeeds', () => {
  const m = new RoomMachine()
  m.handle({ type: 'join', reqId: 1, payload: JOIN }, 0)
  drain(m)
  m.handle({ type: 'exit', reqId: 2 }, 1)
  const out = drain(m)
  assert.deepEqual(out.map((o) => o.action ? o.action.type : o.event.type === 'room_event' ? o.event.code : [o.event.reqId, o.event.ok, o.event.result.errCode]), ['close', [1, false, -3], 1022, [2, true, undefined]])
})

test('requests are answered by reqId; events reach the page with play URLs of newcomers', () => {
  const m = new RoomMachine()
  joined(m)
  m.handle({ type: 'request', reqId: 3, kind: 'updateMuteConfig', body: { muteConfig: { muteMicrophone: true, muteEarphone: false } } }, 20)
  assert.deepEqual(drain(m), [{ action: { type: 'send', msg: { type: 'updateMuteConfig', reqId: 3, muteConfig: { muteMicrophone: true, muteEarphone: false } } } }])
  m.handle({ type: 'request', reqId: 4, kind: 'subscribeVideoMembers', body: { openIdList: ['zz'] } }, 21)
  drain(m)
  m.handle({ type: 'message', msg: { type: 'ok', reqId: 3 } }, 30)
  m.handle({ type: 'message', msg: { type: 'error', reqId: 4, errCode: -10006, errMsg: 'openIdList: zz is not a video member' } }, 31)
  assert.deepEqual(drain(m).map((o) => [o.event.reqId, o.event.ok, o.event.result.errMsg]), [
    [3, true, 'updateMuteConfig:ok'],
    [4, false, 'subscribeVideoMembers:fail openIdList: zz is not a video member']
  ])
  m.handle({ type: 'message', msg: { type: 'membersChanged', openIdList: ['a', 'me', 'b'], errCode: 0, errMsg: 'ok', members: [{ openId: 'b', playUrls: URLS('b') }] } }, 40)
  let [e] = drain(m)
  assert.deepEqual(e.event.members, [{ openId: 'b', playUrls: URLS('b') }])
  assert.deepEqual(Object.keys(e.event.playUrls), ['a', 'b'])
  m.handle({ type: 'message', msg: { type: 'membersChanged', openIdList: ['me', 'b'], errCode: 0, errMsg: 'ok', members: [] } }, 50);
  [e] = drain(m)
  assert.deepEqual(Object.keys(e.event.playUrls), ['b'], 'a left: its URLs go')
  m.handle({ type: 'message', msg: { type: 'speakersChanged', openIdList: ['b'] } }, 60)
  m.handle({ type: 'message', msg: { type: 'videoMembersChanged', openIdList: ['b'] } }, 61)
  m.handle({ type: 'message', msg: { type: 'roomEvent', code: 1020, message: '{"userlist":[]}' } }, 62)
  assert.deepEqual(drain(m).map((o) => o.event.type), ['speakers_changed', 'video_members_changed', 'room_event'])
})

test('a dropped socket resumes with the token within the grace; pending requests fail', () => {
  const m = new RoomMachine()
  joined(m)
  m.handle({ type: 'request', reqId: 5, kind: 'updateMuteConfig', body: { muteConfig: {} } }, 100)
  drain(m)
  m.handle({ type: 'socket_closed', code: 1006 }, 200)
  const out = drain(m)
  assert.deepEqual(out.map((o) => o.action ? o.action.type : o.event.type), ['reply', 'state_changed', 'open'])
  assert.equal(out[0].event.ok, false)
  m.handle({ type: 'socket_open' }, 250)
  const [resume] = drain(m)
  assert.equal(resume.action.msg.type, 'resume')
  assert.equal(resume.action.msg.resumeToken, 'tok')
  m.handle({ type: 'message', msg: { type: 'joined', reqId: resume.action.msg.reqId, groupId: 'g1', roomType: 'video', openIdList: ['a', 'me'], members: [{ openId: 'a', playUrls: URLS('a') }], heartbeatIntervalMs: 7000, resumeToken: 'tok2', resumed: true } }, 300)
  assert.deepEqual(drain(m), [
    { event: { type: 'state_changed', state: 'resumed' } },
    { event: { type: 'room_event', code: ROOM_CODES.REJOINED, message: WHO } }
  ])
  assert.equal(m.inRoom(), true)
})

test('a resume that fails until the grace ends is interrupted with -10008; the server\'s interrupted closes', () => {
  const m = new RoomMachine()
  joined(m)
  m.handle({ type: 'socket_closed', code: 1006 }, 1000)
  drain(m)
  let now = 1000
  let out = []
  for (let i = 0; i < 30 && m.state !== 'interrupted'; i++) {
    now += 20
    m.handle({ type: 'socket_closed', code: 1006 }, now)
    out = out.concat(drain(m))
    now = m.pollTimeout() ?? now
    m.handleTimeout(now)
    out = out.concat(drain(m))
  }
  const interrupted = out.find((o) => o.event && o.event.type === 'interrupted')
  assert.equal(interrupted.event.errCode, ROOM_ERRORS.RESUME_FAILED)
  assert.ok(now - 1000 <= 16000, `gave up within the grace (${now - 1000} ms)`)
  const m2 = new RoomMachine()
  joined(m2)
  m2.handle({ type: 'message', msg: { type: 'interrupted', errCode: -10010, errMsg: 'replaced' } }, 50)
  assert.deepEqual(drain(m2), [
    { action: { type: 'close' } },
    { event: { type: 'interrupted', errCode: -10010, errMsg: 'replaced' } },
    { event: { type: 'state_changed', state: 'interrupted' } }
  ])
})

test('exit sends exit and succeeds on exited', () => {
  const m = new RoomMachine()
  joined(m)
  m.handle({ type: 'exit', reqId: 7 }, 100)
  assert.deepEqual(drain(m), [{ action: { type: 'send', msg: { type: 'exit', reqId: 7 } } }])
  m.handle({ type: 'message', msg: { type: 'exited', reqId: 7 } }, 120)
  assert.deepEqual(drain(m), [
    { event: { type: 'reply', reqId: 7, ok: true, result: { errMsg: 'exitVoIPChat:ok' } } },
    { action: { type: 'close' } },
    { event: { type: 'state_changed', state: 'exited' } },
    { event: { type: 'room_event', code: ROOM_CODES.LEFT, message: WHO } }
  ])
  assert.equal(m.pollTimeout(), undefined)
})
