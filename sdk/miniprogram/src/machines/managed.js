// The Vhall publisher SDK's reconnect policy (seed 000) as a pure state machine: a port of
// crates/client/src/managed/machine.rs, replaying the same vectors (sdk/vectors/managed/).
//
// No timers and no clock of its own: every call takes `now` in milliseconds, the next deadline comes back from
// pollTimeout(), and outputs queue until pollOutput() takes them. After every handle*/handleTimeout call, drain
// pollOutput() until it returns undefined.
//
// Vocabulary (snake_case, as in the vectors):
// - inputs: start, status {code}, url_fetched {url}, url_failed {err}, destroy;
// - events: connected, reconnecting, reconnect_ready {url}, reconnected, reconnect_fail {err};
// - actions: fetch_url (call /sdk/v1/publisher/refresh), restart {url}, stop.

/** The live-pusher codes after which the SDK reconnects with a fresh URL. */
export const RECONNECT_CODES = Object.freeze([-1307, 3001, 3002, 3003, 3004, 3005])

const PUSHING = 1002

export const DEFAULT_MANAGED_CONFIG = Object.freeze({ interval_ms: 5000 })

export class ManagedMachine {
  /** @param {{interval_ms?: number}} [config] */
  constructor (config = {}) {
    this.config = { ...DEFAULT_MANAGED_CONFIG, ...config }
    // 'idle' | 'running' | 'reconnecting' | 'destroyed'
    this.state = 'idle'
    this.nextTickMs = 0
    this.fetching = false
    this.connectedOnce = false
    this.out = []
  }

  /** Handles one input ({type, ...}) at nowMs. Timers due by then fire first. */
  handle (input, nowMs) {
    this.handleTimeout(nowMs)
    if (this.state === 'destroyed') return
    switch (input.type) {
      case 'destroy':
        this.state = 'destroyed'
        this.out.push({ action: { type: 'stop' } })
        return
      case 'start':
        if (this.state === 'idle') this.state = 'running'
        return
      case 'status':
        this.onStatus(input.code, nowMs)
        return
      case 'url_fetched':
        // A late answer after the reconnect already succeeded is dropped: the pusher runs with a good URL.
        if (this.state !== 'reconnecting') return
        this.fetching = false
        this.out.push({ event: { type: 'reconnect_ready', url: input.url } })
        this.out.push({ action: { type: 'restart', url: input.url } })
        return
      case 'url_failed':
        if (this.state !== 'reconnecting') return
        this.fetching = false
        this.out.push({ event: { type: 'reconnect_fail', err: input.err } })
        return
      default:
        throw new TypeError(`managed machine: unknown input type ${JSON.stringify(input.type)}`)
    }
  }

  onStatus (code, nowMs) {
    if (this.state === 'running') {
      if (code === PUSHING) {
        if (!this.connectedOnce) {
          this.connectedOnce = true
          this.out.push({ event: { type: 'connected' } })
        }
      } else if (RECONNECT_CODES.includes(code)) {
        this.state = 'reconnecting'
        this.nextTickMs = nowMs + this.config.interval_ms
        this.fetching = false
        this.out.push({ event: { type: 'reconnecting' } })
      }
    } else if (this.state === 'reconnecting' && code === PUSHING) {
      this.state = 'running'
      if (this.connectedOnce) {
        this.out.push({ event: { type: 'reconnected' } })
      } else {
        this.connectedOnce = true
        this.out.push({ event: { type: 'connected' } })
      }
    }
    // Further failures during a reconnect: the 5 s cadence goes on untouched.
  }

  /** Fires the reconnect tick when due; an early call is harmless. */
  handleTimeout (nowMs) {
    if (this.state !== 'reconnecting' || nowMs < this.nextTickMs) return
    const wasFetching = this.fetching
    this.nextTickMs = Math.max(this.nextTickMs + this.config.interval_ms, nowMs + 1)
    this.fetching = true
    // One request at a time: a tick while a request is out waits for its answer.
    if (!wasFetching) this.out.push({ action: { type: 'fetch_url' } })
  }

  /** When handleTimeout should be called next (ms), or undefined. */
  pollTimeout () {
    return this.state === 'reconnecting' ? this.nextTickMs : undefined
  }

  /** The next output ({event} or {action}), or undefined. */
  pollOutput () {
    return this.out.shift()
  }

  isReconnecting () {
    return this.state === 'reconnecting'
  }
}
