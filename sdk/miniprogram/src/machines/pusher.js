// The live-pusher status machine: a port of crates/client/src/pusher/machine.rs, replaying the same vectors
// (sdk/vectors/pusher/). What a driver observed goes in, live-pusher status codes and actions come out.
//
// Pure: every input carries `now` (milliseconds), the only deadline (the retry wait) comes back from
// pollTimeout(), outputs queue until pollOutput() takes them.
//
// Inputs: start, dns_failed{detail}, connect_failed{detail}, tcp_connected{peer?}, handshake_failed{detail},
// publishing, refused{description}, server_closed{detail}, io_failed{detail}, congested{queued_ms},
// uncongested, pause, resume, stop. Outputs: {event: {code, message}} with 1001, 1002, 1101, 1102, 3001-3005,
// -1307, and {action: {type}} with connect, close, give_up.
//
// Policy (why, in the Rust module): each failure emits its code; while fewer than max_retries reconnects failed
// in a row, 1102 and a new connect after retry_interval_ms; then -1307 and give_up. A 1002 resets the count.

export const PUSHER_CODES = Object.freeze({
  CONNECTED: 1001,
  PUSHING: 1002,
  NET_BUSY: 1101,
  RECONNECTING: 1102,
  DNS_FAILED: 3001,
  CONNECT_FAILED: 3002,
  HANDSHAKE_FAILED: 3003,
  SERVER_REFUSED: 3004,
  IO_FAILED: 3005,
  GAVE_UP: -1307
})

export const DEFAULT_PUSHER_CONFIG = Object.freeze({
  max_retries: 3,
  retry_interval_ms: 1000,
  net_busy_repeat_ms: 5000
})

const C = PUSHER_CODES
const ACTIVE = new Set(['connecting', 'handshaking', 'publishing'])

export class PusherMachine {
  /** @param {{max_retries?: number, retry_interval_ms?: number, net_busy_repeat_ms?: number}} [config] */
  constructor (config = {}) {
    this.config = { ...DEFAULT_PUSHER_CONFIG, ...config }
    // idle | connecting | handshaking | publishing | waiting | stopped | gave_up
    this.state = 'idle'
    this.retryAt = undefined
    this.retriesUsed = 0
    this.reconnects = 0
    this.busyAt = undefined
    this.paused = false
    this.out = []
  }

  handle (input, now) {
    const active = ACTIVE.has(this.state)
    switch (input.type) {
      case 'start':
        if (['idle', 'stopped', 'gave_up'].includes(this.state)) {
          this.retriesUsed = 0
          this.busyAt = undefined
          this.connect()
        }
        break
      case 'stop':
        if (active) this.action('close')
        if (this.state !== 'idle' && this.state !== 'gave_up') {
          this.state = 'stopped'
          this.retryAt = undefined
        }
        break
      case 'pause': this.paused = true; break
      case 'resume': this.paused = false; break
      case 'tcp_connected':
        if (this.state === 'connecting') {
          this.state = 'handshaking'
          this.event(C.CONNECTED, input.peer ? `connected to the RTMP server ${input.peer}` : 'connected to the RTMP server')
        }
        break
      case 'publishing':
        if (this.state === 'handshaking') {
          this.state = 'publishing'
          this.retriesUsed = 0
          this.busyAt = undefined
          this.event(C.PUSHING, 'the server accepted the publish: pushing')
        }
        break
      case 'congested': {
        const due = this.busyAt === undefined || now - this.busyAt >= this.config.net_busy_repeat_ms
        if (this.state === 'publishing' && due) {
          this.busyAt = now
          this.event(C.NET_BUSY, `the uplink is too slow: ${input.queued_ms} ms of media wait to be sent`)
        }
        break
      }
      case 'uncongested': this.busyAt = undefined; break
      case 'dns_failed': this.fail(C.DNS_FAILED, input.detail, now); break
      case 'connect_failed': this.fail(C.CONNECT_FAILED, input.detail, now); break
      case 'handshake_failed': this.fail(C.HANDSHAKE_FAILED, input.detail, now); break
      case 'refused': this.fail(C.SERVER_REFUSED, input.description, now); break
      case 'server_closed': this.fail(C.SERVER_REFUSED, input.detail, now); break
      case 'io_failed': this.fail(C.IO_FAILED, input.detail, now); break
      default:
        throw new TypeError(`pusher machine: unknown input type ${JSON.stringify(input.type)}`)
    }
  }

  /** The end of the retry wait, or undefined. */
  pollTimeout () {
    return this.retryAt
  }

  /** Fires the retry timer when due; an early call is harmless. */
  handleTimeout (now) {
    if (this.retryAt !== undefined && now >= this.retryAt) {
      this.retryAt = undefined
      if (this.state === 'waiting') {
        this.reconnects += 1
        this.connect()
      }
    }
  }

  pollOutput () {
    return this.out.shift()
  }

  connect () {
    this.state = 'connecting'
    this.action('connect')
  }

  fail (failure, detail = '', now) {
    // A failure from a connection that is already gone (waiting, stopped) means nothing.
    if (!ACTIVE.has(this.state)) return
    this.busyAt = undefined
    this.event(failure, detail)
    const max = this.config.max_retries
    if (this.retriesUsed < max) {
      this.retriesUsed += 1
      this.state = 'waiting'
      this.retryAt = now + this.config.retry_interval_ms
      this.event(C.RECONNECTING,
        `reconnecting in ${this.config.retry_interval_ms} ms (reconnect ${this.retriesUsed} of ${max})`)
    } else {
      this.state = 'gave_up'
      this.retryAt = undefined
      this.event(C.GAVE_UP, `gave up after ${max} failed reconnects; last failure ${failure}: ${detail}`)
      this.action('give_up')
    }
  }

  event (code, message) {
    this.out.push({ event: { code, message } })
  }

  action (type) {
    this.out.push({ action: { type } })
  }
}
