// Shared by the end-to-end tests: an event log with waits that fail with what was seen instead.

import { createHmac } from 'node:crypto'
import { connect, createServer } from 'node:net'

import { sleep } from './server.js'

/**
 * A voip-room join signature, as an app's backend computes it (the session key never reaches the page):
 * hex(hmac_sha256(sessionKey, sorted([appId, groupId, nonceStr, timeStamp]).join(''))). Test-only: the SDK has
 * no HMAC on purpose.
 */
export function roomSignature ({ sessionKey, appId, groupId, nonceStr, timeStamp }) {
  const msg = [appId, groupId, nonceStr, String(timeStamp)].sort().join('')
  return createHmac('sha256', sessionKey).update(msg).digest('hex')
}

/** Records the named events of an SDK object (publisher or player) with the time they came. */
export function recordEvents (sdk, names) {
  const log = []
  for (const name of names) sdk.on(name, (arg) => log.push({ name, arg, at: Date.now() }))
  return log
}

/** Waits until `pred()` is truthy; fails after `ms` with `what` and the output of `show()`. */
export async function until (pred, ms, what, show = () => '') {
  const deadline = Date.now() + ms
  for (;;) {
    const v = pred()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}\n${show()}`)
    await sleep(50)
  }
}

/** Waits for the event `name` after index `from` of the log; returns its entry. */
export function waitEvent (log, name, ms, from = 0, show = () => '') {
  return until(() => log.slice(from).find((e) => e.name === name), ms, `event ${name}`,
    () => `events so far: ${JSON.stringify(log.map((e) => e.name))}\n${show()}`)
}

/**
 * A loopback TCP proxy to 127.0.0.1:`port` whose connections the test can cut: cut() resets both sides of every
 * open connection (no close frame reaches either end), what a phone sees when it moves from WiFi to 4G. The Rust
 * tests have the same (crates/cli/tests/common/cut_proxy.rs).
 */
export async function cutProxy (port) {
  const open = new Set()
  let accepted = 0
  const srv = createServer((client) => {
    accepted++
    const upstream = connect(port, '127.0.0.1')
    open.add(client)
    open.add(upstream)
    const gone = () => {
      open.delete(client)
      open.delete(upstream)
      client.destroy()
      upstream.destroy()
    }
    for (const s of [client, upstream]) {
      s.on('error', gone)
      s.on('close', gone)
    }
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${srv.address().port}`,
    get accepted () { return accepted },
    cut () {
      for (const s of [...open]) s.resetAndDestroy()
      open.clear()
    },
    close () {
      this.cut()
      srv.close()
    }
  }
}
