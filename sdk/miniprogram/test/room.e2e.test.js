// VoipRoom against the real server's /rooms/v1/ws (wire contract: docs/rooms-protocol.md): two members join a
// video room with signatures made from real session keys, see each other with play URLs, push and play each
// other's streams through the runtime's <live-pusher>/<live-player>, mute, subscribe, survive a dropped socket
// (resume), and leave; and live-pusher's ROOM codes through onRoomEvent: 1018 on join, 1022 on a refused join, 1021
// after the TCP connection under the socket was cut (a loopback proxy), 1019 on leave.
//
// A server that does not answer /rooms/v1/ws skips these tests with that reason; with MPLIVE_REQUIRE_ROOMS=1
// (./scripts/test sets it) they fail instead.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'

import { VoipRoom } from '../src/room.js'
import { TestServer, fixtureFlv, mpliveBin, sleep } from './server.js'
import { WxRuntime } from './runtime/wx.js'
import { cutProxy, roomSignature, until } from './helpers.js'

const APP = 'wxroomtest0001'
let server, rt, available, why

/** Whether the server upgrades /rooms/v1/ws to a WebSocket (within 3 s). */
function roomsAnswer (url) {
  return new Promise((resolve) => {
    if (typeof WebSocket !== 'function') return resolve('no WebSocket in this node: run node with --experimental-websocket')
    const ws = new WebSocket(url)
    const timer = setTimeout(() => { ws.close(); resolve('no answer within 3 s') }, 3000)
    ws.addEventListener('open', () => { clearTimeout(timer); ws.close(); resolve(null) })
    ws.addEventListener('error', () => { clearTimeout(timer); resolve('the WebSocket upgrade was refused (no rooms route?)') })
  })
}

before(async () => {
  server = await TestServer.start()
  rt = new WxRuntime({ bin: mpliveBin(), pushSource: await fixtureFlv() }).install()
  why = await roomsAnswer(server.http.replace(/^http/, 'ws') + '/rooms/v1/ws')
  available = why === null
  if (available) {
    // Through the API: the server's catalog has the app at once (a CLI change waits for the catalog refresh).
    const res = await server.api('POST', '/v1/apps', { name: APP })
    assert.ok(res.status === 200 || res.status === 201, `create app ${APP}: ${JSON.stringify(res.body)}`)
  }
})

after(async () => {
  await rt.close()
  await server.stop()
})

/** Skips (or fails under MPLIVE_REQUIRE_ROOMS=1) when the server has no rooms endpoint. */
function requireRooms (t) {
  if (available) return true
  const msg = `the server does not answer /rooms/v1/ws: ${why}`
  if (process.env.MPLIVE_REQUIRE_ROOMS === '1') assert.fail(`MPLIVE_REQUIRE_ROOMS=1 but ${msg}`)
  t.skip(`${msg} (set MPLIVE_REQUIRE_ROOMS=1 to make this a failure)`)
  return false
}

async function sessionKey (openId) {
  const res = await server.api('POST', `/v1/apps/${APP}/room-sessions`, { openId })
  assert.equal(res.status, 200, `room-sessions for ${openId}: ${JSON.stringify(res.body)}`)
  assert.equal(res.body.openId, openId)
  return res.body.sessionKey
}

/** join's parameters with a fresh nonce and a signature from the member's session key. */
function joinParams (key, groupId, extra = {}) {
  const nonceStr = randomBytes(8).toString('hex')
  const timeStamp = String(Math.floor(Date.now() / 1000))
  return { groupId, nonceStr, timeStamp, roomType: 'video', signature: roomSignature({ sessionKey: key, appId: APP, groupId, nonceStr, timeStamp }), ...extra }
}

const call = (obj, name, params = {}) => new Promise((resolve) => {
  let done = false
  obj[name]({ ...params, success: (r) => { done = true; resolve({ ok: true, r }) }, fail: (r) => { done = true; resolve({ ok: false, r }) }, complete: () => { assert.ok(done, 'complete after success/fail') } })
})

test('two members join, see each other with play URLs, push and play, mute, subscribe, resume and leave', async (t) => {
  if (!requireRooms(t)) return
  const groupId = `g${Date.now()}`
  const [ka, kb] = [await sessionKey('alice'), await sessionKey('bob')]
  const alice = new VoipRoom({ server: server.http, appId: APP, openId: 'alice' })
  const bob = new VoipRoom({ server: server.http, appId: APP, openId: 'bob' })
  const aliceMembers = []
  const bobMembers = []
  const aliceStates = []
  alice.onMembersChanged((e) => aliceMembers.push(e))
  bob.onMembersChanged((e) => bobMembers.push(e))
  alice.onStateChanged((e) => aliceStates.push(e.state))
  const interrupts = []
  alice.onInterrupted((e) => interrupts.push(e))

  const a = await call(alice, 'join', joinParams(ka, groupId))
  assert.ok(a.ok, `alice joins: ${JSON.stringify(a.r)}`)
  assert.deepEqual(a.r.openIdList, ['alice'])
  // The stream name is {groupId}_{openId}-{32 hex}, derived by the server (docs/rooms-protocol.md).
  assert.match(a.r.pushUrl, new RegExp(`^rtmp://127\\.0\\.0\\.1:\\d+/room/${groupId}_alice-[0-9a-f]{32}\\?`))
  assert.deepEqual(a.r.members, [])

  const b = await call(bob, 'join', joinParams(kb, groupId))
  assert.ok(b.ok, `bob joins: ${JSON.stringify(b.r)}`)
  assert.deepEqual(b.r.openIdList, ['alice', 'bob'])
  assert.equal(b.r.members.length, 1)
  assert.equal(b.r.members[0].openId, 'alice')
  assert.match(b.r.members[0].playUrls.flv, new RegExp(`/room/${groupId}_alice-[0-9a-f]{32}\\.flv`))
  const streamOf = (url) => url.split('?')[0].split('/').pop().replace(/\.flv$/, '')
  assert.equal(streamOf(b.r.members[0].playUrls.flv), streamOf(a.r.pushUrl), 'alice plays where she pushes')
  const seen = await until(() => aliceMembers.find((e) => e.openIdList.includes('bob')), 5000, 'alice sees bob')
  assert.equal(seen.members.find((m) => m.openId === 'bob').playUrls.flv, alice.playUrls.bob.flv)

  // Media through the URLs the room handed out: alice pushes, bob plays her.
  const states = { push: [], play: [] }
  const page = rt.mount({
    data: { pushUrl: '', playUrl: '' },
    onPush (e) { states.push.push(e.detail.code) },
    onPlay (e) { states.play.push(e.detail.code) }
  }, {
    pushers: [{ id: 'pusher', url: 'pushUrl', autopush: true, bind: { statechange: 'onPush' } }],
    players: [{ id: 'player', src: 'playUrl', autoplay: true, bind: { statechange: 'onPlay' } }]
  })
  page.setData({ pushUrl: a.r.pushUrl })
  await until(() => states.push.includes(1002), 20000, 'alice pushing (1002)', () => `push codes ${states.push}`)
  page.setData({ playUrl: bob.playUrls.alice.flv })
  await until(() => states.play.includes(2004), 20000, 'bob playing alice (2004)', () => `play codes ${states.play}`)

  assert.ok((await call(alice, 'updateMuteConfig', { muteConfig: { muteMicrophone: true, muteEarphone: false } })).ok)
  const sub = await call(bob, 'subscribeVideoMembers', { openIdList: ['alice'] })
  assert.ok(sub.ok, `subscribe: ${JSON.stringify(sub.r)}`)

  // A third member with a bad signature is refused with -10001 and the reason.
  const kc = await sessionKey('carol')
  const carol = new VoipRoom({ server: server.http, appId: APP, openId: 'carol' })
  const bad = await call(carol, 'join', { ...joinParams(kc, groupId), signature: '0'.repeat(64) })
  assert.equal(bad.ok, false)
  assert.equal(bad.r.errCode, -10001, JSON.stringify(bad.r))

  // alice's socket drops without exit: she resumes within the grace and bob never sees her leave.
  alice.socket.ws.close(4000, 'test drop')
  await until(() => aliceStates.includes('resumed'), 10000, 'alice resumed', () => `states ${aliceStates}`)
  assert.equal(interrupts.length, 0, JSON.stringify(interrupts))
  assert.ok(bobMembers.every((e) => e.openIdList.includes('alice')), JSON.stringify(bobMembers))

  assert.ok((await call(alice, 'exit')).ok)
  await until(() => bobMembers.find((e) => !e.openIdList.includes('alice')), 5000, 'bob sees alice leave', () => JSON.stringify(bobMembers))
  assert.ok((await call(bob, 'exit')).ok)
  const again = await call(bob, 'updateMuteConfig', { muteConfig: { muteMicrophone: true } })
  assert.equal(again.r.errCode, -10011)
  rt.unmount(page)
  await sleep(100)
})

test('live-pusher ROOM codes: join 1018, a refused join 1022 with the reason, a cut connection 1021, leave 1019', async (t) => {
  if (!requireRooms(t)) return
  const groupId = `codes${Date.now()}`
  const proxy = await cutProxy(server.httpPort)
  try {
    const frank = new VoipRoom({ server: proxy.url, appId: APP, openId: 'frank' })
    const codes = []
    frank.onRoomEvent((e) => codes.push(e))
    const show = () => JSON.stringify(codes)
    const own = () => codes.map((e) => e.code).filter((c) => [1018, 1019, 1021, 1022].includes(c))
    const joined = await call(frank, 'join', joinParams(await sessionKey('frank'), groupId))
    assert.ok(joined.ok, JSON.stringify(joined.r))
    const c1018 = await until(() => codes.find((e) => e.code === 1018), 5000, '1018', show)
    // The message is a JSON string, as live-pusher's bindstatechange delivers ROOM events.
    assert.equal(typeof c1018.message, 'string')
    assert.deepEqual(JSON.parse(c1018.message), { roomid: groupId, userid: 'frank' })

    const grace = new VoipRoom({ server: server.http, appId: APP, openId: 'grace' })
    const graceCodes = []
    grace.onRoomEvent((e) => graceCodes.push(e))
    const bad = await call(grace, 'join', { ...joinParams(await sessionKey('grace'), groupId), signature: '0'.repeat(64) })
    assert.equal(bad.ok, false)
    const c1022 = await until(() => graceCodes.find((e) => e.code === 1022), 5000, '1022', () => JSON.stringify(graceCodes))
    const refused = JSON.parse(c1022.message)
    assert.equal(refused.errcode, -10001, c1022.message)
    assert.equal(refused.userid, 'grace')
    assert.match(refused.errmsg, /signature/)

    // The connection under frank's socket dies without a close frame: a new one, resume, 1021.
    assert.equal(proxy.accepted, 1)
    proxy.cut()
    const c1021 = await until(() => codes.find((e) => e.code === 1021), 10000, '1021', show)
    assert.deepEqual(JSON.parse(c1021.message), { roomid: groupId, userid: 'frank' })
    assert.equal(proxy.accepted, 2, 'the resume came on a new connection')

    assert.ok((await call(frank, 'exit')).ok)
    const c1019 = await until(() => codes.find((e) => e.code === 1019), 5000, '1019', show)
    assert.deepEqual(JSON.parse(c1019.message), { roomid: groupId, userid: 'frank' })
    assert.deepEqual(own(), [1018, 1021, 1019])
  } finally {
    proxy.close()
  }
})

test('a timeStamp in milliseconds is refused with -10002 and says so', async (t) => {
  if (!requireRooms(t)) return
  const k = await sessionKey('dave')
  const dave = new VoipRoom({ server: server.http, appId: APP, openId: 'dave' })
  const params = joinParams(k, `gms${Date.now()}`)
  const ms = String(Date.now())
  const r = await call(dave, 'join', { ...params, timeStamp: ms, signature: roomSignature({ sessionKey: k, appId: APP, groupId: params.groupId, nonceStr: params.nonceStr, timeStamp: ms }) })
  assert.equal(r.ok, false)
  assert.equal(r.r.errCode, -10002)
  assert.match(r.r.errMsg, /milliseconds/)
})

test('join through a socket that cannot connect fails with -1000 and says why (runs with or without rooms)', async () => {
  // The real driver and SocketTask against a loopback port where nothing listens.
  const nobody = new VoipRoom({ server: 'http://127.0.0.1:9', appId: APP, openId: 'erin' })
  const r = await call(nobody, 'join', joinParams('k', 'gx'))
  assert.equal(r.ok, false)
  assert.equal(r.r.errCode, -1000)
  assert.match(r.r.errMsg, /^joinVoIPChat:fail the socket closed .* before the join was answered/)
  const missing = await call(nobody, 'join', { groupId: 'gx' })
  assert.match(missing.r.errMsg, /^joinVoIPChat:fail missing option: signature, nonceStr, timeStamp/)
})
