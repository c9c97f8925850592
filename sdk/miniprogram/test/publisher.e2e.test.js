// The publisher end to end: VhallPublisher -> real /sdk/v1/publisher/instance -> a real `mplive push` behind
// the page's <live-pusher> -> statechange -> connected; a server outage -> reconnecting, reconnectReady (a
// fresh URL from the real /refresh), reconnected; a revoked token -> reconnectFail.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'

import VhallPublisher from '../src/publisher.js'
import { TestServer, fixtureFlv, mpliveBin } from './server.js'
import { WxRuntime } from './runtime/wx.js'
import { recordEvents, until, waitEvent } from './helpers.js'

const EVENTS = ['connected', 'reconnecting', 'reconnectReady', 'reconnected', 'reconnectFail']
let server, rt

before(async () => {
  server = await TestServer.start()
  // One reconnect inside the runtime's live-pusher (live-pusher makes three) so it gives up (-1307) well
  // before the SDK's 5 s tick: the tick then really fetches a fresh URL instead of finding the push back.
  rt = new WxRuntime({ bin: mpliveBin(), pushSource: await fixtureFlv(), pushArgs: ['--retries', '1'] }).install()
})

after(async () => {
  await rt.close()
  await server.stop()
})

/** A page with <live-pusher id="pusher" url="{{url}}" bindstatechange="statechange" bindnetstatus="netstatuschange">. */
function mountPage (publisher) {
  return rt.mount({
    data: { url: '' },
    statechange (e) { publisher.statechange(e) },
    netstatuschange (e) { publisher.netstatuschange(e) }
  }, { pushers: [{ id: 'pusher', url: 'url', bind: { statechange: 'statechange', netstatus: 'netstatuschange' } }] })
}

function createInstance (publisher, opt) {
  return new Promise((resolve, reject) => publisher.createInstance(opt, resolve, reject))
}

test('createInstance fails with errMsg and errCode naming what is wrong', async () => {
  const p = new VhallPublisher()
  const missing = await createInstance(p, { appId: 'live' }).then(() => null, (e) => e)
  assert.match(missing.errMsg, /^createInstance:fail missing or invalid option: server .*channelId/)
  assert.equal(missing.errCode, 40001)
  const page = mountPage(p)
  const bad = await createInstance(p, {
    server: server.http, appId: 'live', channelId: 'c0', accountId: 'u0', token: 'not-a-jwt', pusherId: 'pusher', THIS: page
  }).then(() => null, (e) => e)
  assert.match(bad.errMsg, /^createInstance:fail .*token/i, bad.errMsg)
  assert.equal(bad.errCode, 40102)
  const early = await new Promise((resolve) => p.start({ fail: resolve }))
  assert.match(early.errMsg, /^start:fail createInstance has not succeeded yet/)
  rt.unmount(page)
})

test('connected, then a server restart gives reconnecting, reconnectReady with a fresh URL, reconnected; a revoked token gives reconnectFail', async () => {
  const token = await server.token({ channel: 'pub1', account: 'anchor' })
  const publisher = new VhallPublisher()
  const log = recordEvents(publisher, EVENTS)
  const page = mountPage(publisher)
  const show = () => `runtime log: ${JSON.stringify(rt.log.slice(-20))}\nserver log tail:\n${server.log().slice(-3000)}`
  // As the seed: the new URL is set and the pusher started again.
  publisher.on('reconnectReady', ({ url }) => page.setData({ url }, () => publisher.start()))
  const res = await createInstance(publisher, {
    server: server.http, appId: 'live', channelId: 'pub1', accountId: 'anchor', token, pusherId: 'pusher', THIS: page
  })
  assert.match(res.url, /^rtmp:\/\/127\.0\.0\.1:\d+\/live\/pub1\?txSecret=[0-9a-f]{32}&txTime=[0-9a-fA-F]+$/)
  page.setData({ url: res.url })
  const started = await new Promise((resolve) => publisher.start({ success: () => resolve(true), fail: (e) => resolve(e) }))
  assert.equal(started, true)
  await waitEvent(log, 'connected', 20000, 0, show)

  // An outage long enough for the pusher to give up: the SDK must fetch a fresh URL.
  const mark = log.length
  await server.restart({ downMs: 2500 })
  await waitEvent(log, 'reconnecting', 10000, mark, show)
  const ready = await waitEvent(log, 'reconnectReady', 25000, mark, show)
  assert.match(ready.arg.url, /^rtmp:\/\/.*\/live\/pub1\?txSecret=/)
  await waitEvent(log, 'reconnected', 20000, mark, show)
  // While the token is good a refresh can only fail on the network (a server slow to come back on a busy machine).
  const fails = log.filter((e) => e.name === 'reconnectFail')
  assert.ok(fails.every((e) => e.arg.errCode === -1), `no API refusal while the token is good: ${JSON.stringify(fails)}`)
  const gap = ready.at - log.find((e, i) => i >= mark && e.name === 'reconnecting').at
  assert.ok(gap >= 4500, `the fresh URL comes on the 5 s tick, not before (after ${gap} ms)`)

  // Revoke: new app secret (tokens signed with the old one fail) and new push key (the old URL fails too).
  await server.cli(['app', 'rotate-key', 'live', '--key', 'secret'])
  await server.cli(['app', 'rotate-key', 'live', '--key', 'push'])
  const mark2 = log.length
  await server.restart()
  await waitEvent(log, 'reconnecting', 10000, mark2, show)
  // The first refusal by the API (a network failure can come first if the server is slow to come back).
  const fail = await until(() => log.slice(mark2).find((e) => e.name === 'reconnectFail' && e.arg.errCode !== -1), 25000,
    'reconnectFail from the API', () => `events: ${JSON.stringify(log.slice(mark2))}\n${show()}`)
  assert.match(fail.arg.errMsg, /^refresh:fail .*signature/i, JSON.stringify(fail.arg))
  assert.equal(fail.arg.errCode, 40103)
  assert.equal(log.slice(mark2).filter((e) => e.name === 'reconnected').length, 0)
  publisher.destroy()
  rt.unmount(page)
})

test('a kicked publisher: reconnecting, then live-pusher\'s own retry brings it back (reconnected, no new URL needed)', async () => {
  const token = await server.token({ channel: 'pub3', account: 'anchor' })
  const publisher = new VhallPublisher()
  const log = recordEvents(publisher, EVENTS)
  const codes = []
  publisher.on('statechange', (d) => codes.push(d.code))
  const page = mountPage(publisher)
  const show = () => `codes: ${codes.join(' ')}\nserver log tail:\n${server.log().slice(-2000)}`
  const res = await createInstance(publisher, {
    server: server.http, appId: 'live', channelId: 'pub3', accountId: 'anchor', token, pusherId: 'pusher', THIS: page
  })
  page.setData({ url: res.url })
  publisher.start()
  await waitEvent(log, 'connected', 20000, 0, show)
  const kick = await server.api('POST', '/v1/streams/live/pub3/kick')
  assert.equal(kick.status, 200, JSON.stringify(kick.body))
  await waitEvent(log, 'reconnecting', 10000, 0, show)
  await waitEvent(log, 'reconnected', 10000, 0, show)
  assert.ok(codes.includes(3004) && codes.includes(1102), `the kick is 3004, then live-pusher's retry (1102): ${codes.join(' ')}`)
  assert.equal(log.filter((e) => e.name === 'reconnectReady').length, 0, 'back before the 5 s tick: no refresh')
  publisher.destroy()
  rt.unmount(page)
})

test('LivePusherContext methods delegate with success, fail and complete', async () => {
  const token = await server.token({ channel: 'pub2', account: 'anchor' })
  const publisher = new VhallPublisher()
  const page = mountPage(publisher)
  const res = await createInstance(publisher, {
    server: server.http, appId: 'live', roomId: 'pub2', accountId: 'anchor', token, pusherId: 'pusher', THIS: page, singleAudio: 0, profile: 'HD'
  })
  assert.ok(res.url)
  const call = (name, params = {}) => new Promise((resolve) => {
    let done
    publisher[name]({ ...params, success: (r) => { done = { ok: true, r } }, fail: (r) => { done = { ok: false, r } }, complete: () => resolve(done) })
  })
  const noUrl = await call('start')
  assert.equal(noUrl.ok, false)
  assert.match(noUrl.r.errMsg, /^start:fail pusher url is empty/)
  for (const name of ['pause', 'resume', 'switchCamera', 'toggleTorch', 'pauseBGM', 'resumeBGM', 'stopBGM', 'startPreview', 'stopPreview']) {
    assert.equal((await call(name)).ok, true, name)
  }
  assert.equal((await call('playBGM', { url: 'https://example.com/a.mp3' })).ok, true)
  assert.equal((await call('setBGMVolume', { volume: 0.5 })).ok, true)
  assert.equal((await call('setMICVolume', { volume: 0.5 })).ok, true)
  assert.equal((await call('sendMessage', { msg: 'hi' })).ok, true)
  const bad = await call('playBGM')
  assert.equal(bad.ok, false)
  assert.match(bad.r.errMsg, /playBGM:fail missing url/)
  assert.equal((await call('snapshot')).ok, false)
  assert.equal((await call('stop')).ok, true)
  publisher.destroy()
  const after = await call('start')
  assert.match(after.r.errMsg, /^start:fail the publisher was destroyed/)
  rt.unmount(page)
})
