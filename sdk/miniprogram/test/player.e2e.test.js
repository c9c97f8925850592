// The player end to end: a stream published through VhallPublisher (a real `mplive push` behind the runtime's
// <live-pusher>), played by VhallPlayer through a real `mplive play --json` behind <live-player>: its real
// status codes (2001, 2002, 2003, 2004) reach statechange and give `connected`; a server outage makes
// live-player reconnect (2103 -> `reconnecting`) and give up (-2301), the SDK restarts it on its 5 s tick
// (`reconnectReady`), and once the publisher is back the player plays again (`reconnected`).

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'

import VhallPublisher from '../src/publisher.js'
import VhallPlayer from '../src/player.js'
import { TestServer, fixtureFlv, mpliveBin } from './server.js'
import { WxRuntime } from './runtime/wx.js'
import { recordEvents, until, waitEvent } from './helpers.js'

let server, rt

before(async () => {
  server = await TestServer.start()
  // One reconnect in the runtime's components so an outage of a few seconds makes them give up (-1307/-2301).
  rt = new WxRuntime({
    bin: mpliveBin(),
    pushSource: await fixtureFlv(),
    pushArgs: ['--retries', '1'],
    playArgs: ['--retries', '1']
  }).install()
})

after(async () => {
  await rt.close()
  await server.stop()
})

test('createInstance builds the play URLs, or fails saying what is missing', async () => {
  const p = new VhallPlayer()
  const err = await new Promise((resolve) => p.createInstance({ playerId: 'player' }, () => resolve(null), resolve))
  assert.match(err.errMsg, /^createInstance:fail missing or invalid option: server .*appId.*channelId/)
  assert.equal(err.errCode, 40001)
  const down = await new Promise((resolve) => p.createInstance(
    { server: 'http://127.0.0.1:9', appId: 'live', channelId: 'x', playerId: 'player' }, () => resolve(null), resolve))
  assert.match(down.errMsg, /^createInstance:fail cannot reach http:\/\/127\.0\.0\.1:9/)
})

async function playThroughAnOutage (protocol, channel) {
  const token = await server.token({ channel, account: 'anchor' })
  const publisher = new VhallPublisher()
  const player = new VhallPlayer()
  const pubLog = recordEvents(publisher, ['connected', 'reconnecting', 'reconnectReady', 'reconnected', 'reconnectFail'])
  const log = recordEvents(player, ['connected', 'reconnecting', 'reconnectReady', 'reconnected', 'ended'])
  const codes = []
  player.on('statechange', (d) => codes.push(d.code))
  const page = rt.mount({
    data: { pushUrl: '', playUrl: '' },
    pusherState (e) { publisher.statechange(e) },
    playerState (e) { player.statechange(e) },
    playerNet (e) { player.netstatuschange(e) }
  }, {
    pushers: [{ id: 'pusher', url: 'pushUrl', autopush: true, bind: { statechange: 'pusherState' } }],
    players: [{ id: 'player', src: 'playUrl', bind: { statechange: 'playerState', netstatus: 'playerNet' } }]
  })
  const show = () => `player codes: ${codes.join(' ')}\nruntime log: ${JSON.stringify(rt.log.slice(-15))}\nserver log tail:\n${server.log().slice(-2000)}`
  publisher.on('reconnectReady', ({ url }) => page.setData({ pushUrl: url }))
  const pub = await new Promise((resolve, reject) => publisher.createInstance({
    server: server.http, appId: 'live', channelId: channel, accountId: 'anchor', token, pusherId: 'pusher', THIS: page
  }, resolve, reject))
  page.setData({ pushUrl: pub.url })
  await waitEvent(pubLog, 'connected', 20000, 0, show)

  // FLV: built from the server address; RTMP: the play URLs the publisher's createInstance returned.
  const opt = protocol === 'flv'
    ? { server: server.http, appId: 'live', channelId: channel, playerId: 'player', THIS: page }
    : { playUrls: pub.playUrls, protocol: 'rtmp', playerId: 'player', THIS: page }
  const res = await new Promise((resolve, reject) => player.createInstance(opt, resolve, reject))
  if (protocol === 'flv') {
    assert.equal(res.url, `${server.http}/live/${channel}.flv`)
    assert.equal(res.playUrls.hls, `${server.http}/live/${channel}.m3u8`)
  } else {
    assert.equal(res.url, pub.playUrls.rtmp)
  }
  page.setData({ playUrl: res.url })
  const played = await new Promise((resolve) => player.play({ success: () => resolve(true), fail: resolve }))
  assert.equal(played, true)
  await waitEvent(log, 'connected', 20000, 0, show)
  for (const c of [2001, 2002, 2003, 2004]) assert.ok(codes.includes(c), `${c} reported: ${codes.join(' ')}`)
  await until(() => player.netStatus && player.netStatus.videoWidth === 320, 10000, 'net status with the picture size', show)

  const mark = log.length
  const codesMark = codes.length
  await server.restart({ downMs: 2500 })
  await waitEvent(log, 'reconnecting', 10000, mark, show)
  await waitEvent(log, 'reconnectReady', 15000, mark, show)
  await waitEvent(log, 'reconnected', 30000, mark, show)
  await waitEvent(pubLog, 'reconnected', 5000, 0, show)
  const after = codes.slice(codesMark)

  const call = (name) => new Promise((resolve) => player[name]({ success: () => resolve(true), fail: (e) => resolve(e) }))
  for (const name of ['mute', 'requestFullScreen', 'exitFullScreen', 'pause', 'resume']) assert.equal(await call(name), true, name)
  assert.match((await call('snapshot')).errMsg, /^snapshot:fail/)
  assert.equal(await call('stop'), true)
  player.destroy()
  publisher.destroy()
  rt.unmount(page)
  return after
}

test('HTTP-FLV: live-player codes give connected; the stream ending in an outage gives reconnecting (2006), a restart on the 5 s tick, reconnected', async () => {
  const codes = await playThroughAnOutage('flv', 'show')
  assert.ok(codes.includes(2006) || codes.includes(-2301), `the outage ended the play (2006) or live-player gave up (-2301): ${codes.join(' ')}`)
  assert.ok(codes.lastIndexOf(2004) > codes.indexOf(2001), `playing again after the restart: ${codes.join(' ')}`)
})

test('RTMP: an outage gives 2103 (reconnecting), -2301, the SDK\'s restart, 2004 (reconnected)', async () => {
  const codes = await playThroughAnOutage('rtmp', 'show2')
  const i2103 = codes.indexOf(2103)
  const iGaveUp = codes.indexOf(-2301)
  assert.ok(i2103 >= 0 && iGaveUp > i2103, `live-player reconnected by itself (2103), then gave up (-2301): ${codes.join(' ')}`)
  assert.ok(codes.lastIndexOf(2004) > iGaveUp, `playing again after the SDK's restart: ${codes.join(' ')}`)
})

test('with a viewer token: createInstance gets signed URLs from /sdk/v1/player/instance that play with play auth on, and a restart after an outage plays a refreshed URL', async () => {
  const created = await server.api('POST', '/v1/apps', { name: 'vip', playAuth: true })
  assert.equal(created.status, 201, JSON.stringify(created.body))
  const channel = 'stage'
  const pubToken = await server.token({ app: 'vip', channel, account: 'anchor' })
  const viewerToken = await server.token({ app: 'vip', channel, account: 'bob', role: 'viewer' })
  const memberToken = await server.token({ app: 'vip', channel, account: 'bob', role: 'member' })
  const publisher = new VhallPublisher()
  const player = new VhallPlayer()
  const pubLog = recordEvents(publisher, ['connected', 'reconnecting', 'reconnectReady', 'reconnected', 'reconnectFail'])
  const log = recordEvents(player, ['connected', 'reconnecting', 'reconnectReady', 'reconnected', 'ended'])
  const codes = []
  player.on('statechange', (d) => codes.push(d.code))
  const page = rt.mount({
    data: { pushUrl: '', playUrl: '' },
    pusherState (e) { publisher.statechange(e) },
    playerState (e) { player.statechange(e) }
  }, {
    pushers: [{ id: 'pusher', url: 'pushUrl', autopush: true, bind: { statechange: 'pusherState' } }],
    players: [{ id: 'player', src: 'playUrl', bind: { statechange: 'playerState' } }]
  })
  const show = () => `player codes: ${codes.join(' ')}\nruntime log: ${JSON.stringify(rt.log.slice(-15))}\nserver log tail:\n${server.log().slice(-2000)}`
  publisher.on('reconnectReady', ({ url }) => page.setData({ pushUrl: url }))
  // The page binds the fresh URL the SDK hands over before it plays again.
  player.on('reconnectReady', ({ url }) => page.setData({ playUrl: url }))
  const pub = await new Promise((resolve, reject) => publisher.createInstance({
    server: server.http, appId: 'vip', channelId: channel, accountId: 'anchor', token: pubToken, pusherId: 'pusher', THIS: page
  }, resolve, reject))
  page.setData({ pushUrl: pub.url })
  await waitEvent(pubLog, 'connected', 20000, 0, show)

  // Refused with the server's code: a room member token does not play, a token is checked for the account.
  const refused = (opt) => new Promise((resolve) => new VhallPlayer().createInstance(
    { server: server.http, appId: 'vip', channelId: channel, playerId: 'player', THIS: page, ...opt }, () => resolve(null), resolve))
  const wrongRole = await refused({ accountId: 'bob', token: memberToken })
  assert.equal(wrongRole.errCode, 40105, JSON.stringify(wrongRole))
  assert.match(wrongRole.errMsg, /^createInstance:fail token refused \(token_wrong_role\)/)
  assert.equal((await refused({ accountId: 'carol', token: viewerToken })).errCode, 40106)
  assert.match((await refused({ token: viewerToken })).errMsg, /^createInstance:fail missing or invalid option: accountId/)
  // Unsigned, the stream does not play: play auth is on.
  const unsigned = await fetch(`${server.http}/vip/${channel}.flv`)
  assert.equal(unsigned.status, 401)
  await unsigned.body?.cancel()

  const res = await new Promise((resolve, reject) => player.createInstance({
    server: server.http, appId: 'vip', channelId: channel, accountId: 'bob', token: viewerToken, playerId: 'player', THIS: page
  }, resolve, reject))
  assert.equal(res.url, res.playUrls.flv)
  assert.match(res.url, new RegExp(`^${server.http}/vip/${channel}\\.flv\\?txSecret=[0-9a-f]{32}&txTime=[0-9a-f]+$`))
  assert.ok(res.expiresAt > Date.now() / 1000 + 3000, `expiresAt ${res.expiresAt}`)
  page.setData({ playUrl: res.url })
  const played = await new Promise((resolve) => player.play({ success: () => resolve(true), fail: resolve }))
  assert.equal(played, true)
  await waitEvent(log, 'connected', 20000, 0, show)
  assert.ok(codes.includes(2004), `2004 reported: ${codes.join(' ')}`)

  const mark = log.length
  await server.restart({ downMs: 2500 })
  await waitEvent(log, 'reconnecting', 10000, mark, show)
  const ready = await waitEvent(log, 'reconnectReady', 15000, mark, show)
  await waitEvent(log, 'reconnected', 30000, mark, show)
  const fresh = ready.arg.url
  assert.match(fresh, new RegExp(`^${server.http}/vip/${channel}\\.flv\\?txSecret=[0-9a-f]{32}&txTime=[0-9a-f]+$`))
  const txTime = (u) => parseInt(new URL(u).searchParams.get('txTime'), 16)
  assert.ok(txTime(fresh) > txTime(res.url), `a refreshed signature: ${fresh} after ${res.url}`)
  assert.equal(player.url, fresh)
  assert.equal(player.playUrls.flv, fresh)
  assert.equal(page.__elements.get('player').childUrl, fresh, 'the <live-player> plays the refreshed URL')
  await waitEvent(pubLog, 'reconnected', 5000, 0, show)

  player.destroy()
  publisher.destroy()
  rt.unmount(page)
})
