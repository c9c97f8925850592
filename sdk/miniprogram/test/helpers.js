// Shared by the end-to-end tests: an event log with waits that fail with what was seen instead.

import { createHmac } from 'node:crypto'

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
