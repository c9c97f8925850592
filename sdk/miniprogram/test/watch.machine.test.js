// The player SDK's recovery policy (src/machines/watch.js), pure: live-player codes in, SDK events and restarts
// out. The same policy runs end to end in player.e2e.test.js.

import { test } from 'node:test'
import assert from 'node:assert/strict'

import { WatchMachine } from '../src/machines/watch.js'

function run (steps) {
  const m = new WatchMachine({ url: 'http://h/live/s.flv' })
  const got = []
  for (const [at, input] of steps) {
    m.handleTimeout(at)
    if (input) m.handle(input, at)
    for (let o = m.pollOutput(); o; o = m.pollOutput()) got.push([at, o.event ? o.event.type : 'action:' + o.action.type])
  }
  return got
}

const status = (code) => ({ type: 'status', code })

test('the first 2004 is connected; 2103 then 2004 is reconnecting, reconnected, without a restart', () => {
  assert.deepEqual(run([[0, { type: 'start' }], [100, status(2004)], [200, status(2103)], [1200, status(2004)], [9000]]),
    [[100, 'connected'], [200, 'reconnecting'], [1200, 'reconnected']])
})

test('-2301 restarts the player on the 5 s tick until 2004; a tick while it is still trying restarts nothing', () => {
  assert.deepEqual(run([
    [0, { type: 'start' }], [100, status(2004)], [200, status(2103)], [3200, status(-2301)],
    [8200], [9000, status(2007)], [13200], [14000, status(2004)], [30000]
  ]), [
    [100, 'connected'], [200, 'reconnecting'], [8200, 'reconnect_ready'], [8200, 'action:restart'], [14000, 'reconnected']
  ])
})

test('2006 (the stream ended) is ended, then restarts; failures after a restart are restarted on the next tick', () => {
  assert.deepEqual(run([
    [0, { type: 'start' }], [100, status(2004)], [500, status(2006)], [5500], [7000, status(-2301)], [10500], [11000, status(2004)]
  ]), [
    [100, 'connected'], [500, 'ended'], [500, 'reconnecting'], [5500, 'reconnect_ready'], [5500, 'action:restart'],
    [10500, 'reconnect_ready'], [10500, 'action:restart'], [11000, 'reconnected']
  ])
})

test('destroy stops the player and the cycle', () => {
  assert.deepEqual(run([[0, { type: 'start' }], [100, status(-2301)], [200, { type: 'destroy' }], [6000], [7000, status(2004)]]),
    [[100, 'reconnecting'], [200, 'action:stop']])
})
