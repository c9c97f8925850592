// Done-when of issue 7: the seed's usage code (test/fixtures/seed_page.js, with only the import and the server
// address changed) runs against a real mplive server and reaches `connected` (its toast), and a server outage
// goes through its reconnect handlers.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'

import { TestServer, fixtureFlv, mpliveBin } from './server.js'
import { WxRuntime } from './runtime/wx.js'
import { until } from './helpers.js'

let server, rt

before(async () => {
  server = await TestServer.start()
  rt = new WxRuntime({ bin: mpliveBin(), pushSource: await fixtureFlv(), pushArgs: ['--retries', '1'] })
  rt.install({ globalData: { server: server.http } })
})

after(async () => {
  await rt.close()
  await server.stop()
})

test('the seed page reaches connected, and reconnects through its handlers after an outage', async () => {
  await import('./fixtures/seed_page.js')
  const def = rt.pageDefs.at(-1)
  assert.ok(def, 'the seed page called Page()')
  const token = await server.token({ channel: 'seed', account: 'anchor' })
  // <live-pusher id="pusher" url="{{url}}" mode="RTC" autopush bindstatechange="statechange" bindnetstatus="netstatuschange" binderror="pusherror" />
  const page = rt.mount(def, {
    pushers: [{ id: 'pusher', url: 'url', autopush: true, bind: { statechange: 'statechange', netstatus: 'netstatuschange', error: 'pusherror' } }]
  }, { appId: 'live', channelId: 'seed', accountId: 'anchor', token, pusherId: 'pusher' })
  const show = () => `toasts: ${JSON.stringify(rt.toasts)}\nruntime log: ${JSON.stringify(rt.log.slice(-10))}\nserver log:\n${server.log().slice(-2000)}`
  await until(() => rt.toasts.includes('开始推流'), 20000, 'the connected toast', show)
  assert.match(page.data.url, /^rtmp:\/\/127\.0\.0\.1:\d+\/live\/seed\?txSecret=/)
  const first = page.data.url

  await server.restart({ downMs: 2500 })
  await until(() => rt.toasts.includes('网络异常，重连中～'), 10000, 'the reconnecting toast', show)
  await until(() => rt.toasts.includes('重连成功'), 30000, 'the reconnected toast', show)
  assert.notEqual(page.data.url, first, 'reconnectReady set a fresh URL')
  rt.unmount(page)
})
