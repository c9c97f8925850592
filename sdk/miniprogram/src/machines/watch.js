// The player SDK's recovery policy over live-player, as a pure state machine (the player's counterpart of
// managed.js). live-player reconnects by itself after a failure (2103) and gives up after a few (-2301); a live
// stream also ends (2006) when its publisher stops or is kicked, and usually comes back. The SDK:
// - reports the first 2004 as `connected`;
// - reports 2103 as `reconnecting` (live-player is on it) and the next 2004 as `reconnected`;
// - after -2301 or 2006 restarts the player every `interval_ms` (5 s, the publisher SDK's cadence) with
//   `reconnect_ready {url}` + action `restart`, until a 2004; a tick where live-player is still working on the
//   last restart (no -2301/2006 since) restarts nothing, so a player waiting for a stream to be published again
//   (2007, asking every second by itself) is left alone.
//
// Inputs: start, status {code}, destroy. Events: connected, reconnecting, reconnect_ready {url}, reconnected,
// ended. Actions: restart, stop. Time is milliseconds, given by the driver.

const PLAY_BEGIN = 2004
const RECONNECTING = 2103
const GAVE_UP = -2301
const PLAY_END = 2006

export class WatchMachine {
  /** @param {{interval_ms?: number, url?: string}} [config] */
  constructor (config = {}) {
    this.config = { interval_ms: 5000, url: '', ...config }
    // idle | running | recovering | restarting | destroyed
    this.state = 'idle'
    this.connectedOnce = false
    this.nextTickMs = undefined
    this.needsRestart = false
    this.out = []
  }

  handle (input, nowMs) {
    this.handleTimeout(nowMs)
    if (this.state === 'destroyed') return
    switch (input.type) {
      case 'destroy':
        this.state = 'destroyed'
        this.nextTickMs = undefined
        this.out.push({ action: { type: 'stop' } })
        return
      case 'start':
        if (this.state === 'idle') this.state = 'running'
        return
      case 'status':
        return this.onStatus(input.code, nowMs)
      default:
        throw new TypeError(`watch machine: unknown input type ${JSON.stringify(input.type)}`)
    }
  }

  onStatus (code, nowMs) {
    if (this.state === 'idle') return
    if (code === PLAY_BEGIN) {
      const wasDown = this.state === 'recovering' || this.state === 'restarting'
      this.state = 'running'
      this.nextTickMs = undefined
      this.needsRestart = false
      if (!this.connectedOnce) {
        this.connectedOnce = true
        this.event({ type: 'connected' })
      } else if (wasDown) {
        this.event({ type: 'reconnected' })
      }
      return
    }
    if (code === RECONNECTING && this.state === 'running') {
      this.state = 'recovering'
      this.event({ type: 'reconnecting' })
      return
    }
    if (code === GAVE_UP || code === PLAY_END) {
      if (code === PLAY_END) this.event({ type: 'ended' })
      if (this.state === 'restarting') {
        this.needsRestart = true
        return
      }
      if (this.state === 'running') this.event({ type: 'reconnecting' })
      this.state = 'restarting'
      this.needsRestart = true
      this.nextTickMs = nowMs + this.config.interval_ms
    }
  }

  handleTimeout (nowMs) {
    if (this.state !== 'restarting' || this.nextTickMs === undefined || nowMs < this.nextTickMs) return
    this.nextTickMs = Math.max(this.nextTickMs + this.config.interval_ms, nowMs + 1)
    if (!this.needsRestart) return
    this.needsRestart = false
    this.event({ type: 'reconnect_ready', url: this.config.url })
    this.out.push({ action: { type: 'restart' } })
  }

  pollTimeout () {
    return this.state === 'restarting' ? this.nextTickMs : undefined
  }

  pollOutput () {
    return this.out.shift()
  }

  event (e) {
    this.out.push({ event: e })
  }
}
