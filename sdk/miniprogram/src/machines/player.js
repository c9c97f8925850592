// The live-player status machine: a port of crates/client/src/player/machine/mod.rs, replaying the same vectors
// (sdk/vectors/player/). Observations in, live-player status codes and actions out; the module documentation of
// the Rust machine is the reference for the behaviour (jitter buffer, rtc stalls, not-yet-published waits,
// retries).
//
// Pure: time (ms) is an argument of every call; pollTimeout() gives the next deadline; drain pollOutput() after
// every call. Inputs: start, dns_failed, connect_failed, tcp_connected, handshake_failed, play_started,
// not_found, frame {kind, keyframe, timestamp_ms, width?, height?}, stream_ended, io_failed, stop. Outputs:
// {event: {code, message}} (2001 2002 2003 2004 2006 2007 2009 2103 -2301 3001 3002 3003 3005) and
// {action: {type}} (connect, close, give_up).

import { JitterBuffer } from './jitter.js'

export const PLAYER_CODES = Object.freeze({
  CONNECTED: 2001,
  STREAM_BEGIN: 2002,
  FIRST_I_FRAME: 2003,
  PLAY_BEGIN: 2004,
  PLAY_END: 2006,
  LOADING: 2007,
  RESOLUTION_CHANGED: 2009,
  RECONNECTING: 2103,
  GAVE_UP: -2301,
  DNS_FAILED: 3001,
  CONNECT_FAILED: 3002,
  HANDSHAKE_FAILED: 3003,
  IO_FAILED: 3005
})

export const DEFAULT_PLAYER_CONFIG = Object.freeze({
  mode: 'live',
  min_cache_ms: 1000,
  max_cache_ms: 3000,
  retries: 3,
  retry_interval_ms: 1000,
  max_wait_ms: null
})

/** In rtc mode, no frame for this long is a stall (2007). */
export const RTC_STALL_MS = 1000
/** In rtc mode an audio-only stream begins once this much audio (media time) arrived. */
export const AUDIO_ONLY_START_MS = 1000

const C = PLAYER_CODES
const FINISHED = new Set(['ended', 'stopped', 'gave_up'])

function freshAttempt () {
  return { keyframeSeen: false, gotFrame: false, lastArrival: undefined, firstAudioTs: undefined }
}

export class PlayerMachine {
  constructor (config = {}) {
    for (const k of Object.keys(config)) {
      if (!(k in DEFAULT_PLAYER_CONFIG)) throw new TypeError(`player machine: unknown config field ${JSON.stringify(k)}`)
    }
    this.config = { ...DEFAULT_PLAYER_CONFIG, ...config }
    this.reset()
  }

  reset () {
    // idle | connecting | requesting | streaming | draining | backoff | ended | stopped | gave_up
    this.phase = 'idle'
    this.out = []
    this.failures = 0
    this.retryAt = undefined
    this.waitingSince = undefined
    this.connectedReported = false
    this.attempt = freshAttempt()
    this.buffer = new JitterBuffer()
    this.playing = false
    this.resolution = undefined
    this.stalls = 0
    this.stalled = 0
    this.stallSince = undefined
    this.dropped = 0
    this.reconnects = 0
  }

  isFinished () {
    return FINISHED.has(this.phase)
  }

  /** Handles one input at `now` (timers due by then fire first). */
  handleInput (input, now) {
    this.handleTimeout(now)
    const p = this.phase
    switch (input.type) {
      case 'start': return this.start()
      case 'dns_failed':
        if (p === 'connecting') this.fail(C.DNS_FAILED, `DNS lookup failed: ${input.detail ?? ''}`, now)
        return
      case 'connect_failed':
        if (p === 'connecting') this.fail(C.CONNECT_FAILED, `cannot connect to the server: ${input.detail ?? ''}`, now)
        return
      case 'tcp_connected':
        if (p === 'connecting') {
          this.phase = 'requesting'
          if (!this.connectedReported) {
            this.connectedReported = true
            this.status(C.CONNECTED, 'connected to the server')
          }
        }
        return
      case 'handshake_failed':
        if (this.attemptOpen()) {
          this.close()
          this.fail(C.HANDSHAKE_FAILED, `handshake with the server failed: ${input.detail ?? ''}`, now)
        }
        return
      case 'play_started':
        if (p === 'requesting') this.playStarted()
        return
      case 'not_found':
        if (p === 'requesting') this.notFound(input.detail ?? '', now)
        return
      case 'frame':
        if (p === 'streaming') this.frame(input, now)
        return
      case 'stream_ended':
        if (p === 'streaming') this.streamEnded(input.detail ?? '', now)
        return
      case 'io_failed':
        if (this.attemptOpen()) {
          this.close()
          this.fail(C.IO_FAILED, `connection lost: ${input.detail ?? ''}`, now)
        }
        return
      case 'stop':
        if (!this.isFinished() && p !== 'idle') {
          if (this.attemptOpen()) this.close()
          this.endStall(now)
          this.phase = 'stopped'
        }
        return
      default:
        throw new TypeError(`player machine: unknown input type ${JSON.stringify(input.type)}`)
    }
  }

  /** When handleTimeout must be called next, or undefined. */
  pollTimeout () {
    if (this.phase === 'backoff') return this.retryAt
    if ((this.phase === 'streaming' || this.phase === 'draining') && this.playing) {
      if (this.config.mode === 'live') return this.buffer.emptyAt()
      return this.attempt.lastArrival === undefined ? undefined : this.attempt.lastArrival + RTC_STALL_MS
    }
    return undefined
  }

  /** Fires every timer due by `now`; an early call is harmless. */
  handleTimeout (now) {
    // Each firing moves to a phase without that timer (or stops the play clock), so the loop ends.
    for (;;) {
      const due = this.pollTimeout()
      if (due === undefined || due > now) return
      if (this.phase === 'backoff') {
        this.retryAt = undefined
        this.phase = 'connecting'
        this.action('connect')
      } else if (this.phase === 'draining') {
        this.buffer.stopAtEnd()
        this.playing = false
        this.phase = 'ended'
        this.status(C.PLAY_END, 'playback ended: the stream ended')
      } else {
        // Streaming and playing: the buffer ran empty (live) or the picture froze (rtc).
        this.buffer.stopAtEnd()
        this.playing = false
        this.stalls += 1
        this.stallSince = due
        this.status(C.LOADING, this.config.mode === 'live'
          ? 'loading: the buffer ran empty'
          : `loading: no frame for ${RTC_STALL_MS} ms`)
      }
    }
  }

  pollOutput () {
    return this.out.shift()
  }

  start () {
    if (!(this.phase === 'idle' || this.isFinished())) return
    this.reset()
    this.phase = 'connecting'
    this.action('connect')
  }

  attemptOpen () {
    return this.phase === 'connecting' || this.phase === 'requesting' || this.phase === 'streaming'
  }

  playStarted () {
    this.phase = 'streaming'
    this.waitingSince = undefined
    this.attempt = freshAttempt()
    this.buffer.clear()
    this.playing = false
    this.status(C.STREAM_BEGIN, 'the server began sending the stream')
  }

  notFound (detail, now) {
    this.close()
    if (this.waitingSince === undefined) this.waitingSince = now
    const since = this.waitingSince
    if (since === now) this.status(C.LOADING, `loading: the stream is not live yet (${detail})`)
    const max = this.config.max_wait_ms
    if (max !== null && max !== undefined && now - since >= max) {
      this.giveUp(`the stream was not published within ${max} ms (${detail})`)
      return
    }
    this.phase = 'backoff'
    this.retryAt = now + this.config.retry_interval_ms
  }

  frame (f, now) {
    if (!this.attempt.gotFrame) {
      this.attempt.gotFrame = true
      // The connection works end to end: later failures start a new count.
      this.failures = 0
    }
    if (f.width != null && f.height != null) {
      const r = this.resolution
      if (r && (r[0] !== f.width || r[1] !== f.height)) {
        this.status(C.RESOLUTION_CHANGED, `resolution changed from ${r[0]}x${r[1]} to ${f.width}x${f.height}`)
      }
      this.resolution = [f.width, f.height]
    }
    const isKey = f.kind === 'video' && !!f.keyframe
    if (isKey && !this.attempt.keyframeSeen) {
      this.attempt.keyframeSeen = true
      this.status(C.FIRST_I_FRAME, 'first video keyframe received')
    }
    if (f.kind === 'video' && !this.attempt.keyframeSeen) {
      // Nothing can be decoded before the first keyframe.
      this.dropped += 1
      return
    }
    if (this.config.mode === 'live') this.bufferFrame(f, now)
    else this.rtcFrame(f, now)
  }

  bufferFrame (f, now) {
    this.dropped += this.buffer.push(f.kind, f.timestamp_ms, now).dropped
    if (!this.playing) {
      if (this.buffer.level(now) >= this.config.min_cache_ms) this.begin(now, 'playback begins: min-cache buffered')
    } else if (this.buffer.level(now) > this.config.max_cache_ms) {
      this.dropped += this.buffer.skipTo(this.config.min_cache_ms, now)
    }
  }

  rtcFrame (f, now) {
    this.attempt.lastArrival = now
    if (this.playing) return
    let audioOnlyReady = false
    if (f.kind === 'audio' && !this.attempt.keyframeSeen) {
      if (this.attempt.firstAudioTs === undefined) this.attempt.firstAudioTs = f.timestamp_ms
      // Wrapping subtraction of 32-bit timestamps, as the Rust machine does.
      const span = ((f.timestamp_ms - this.attempt.firstAudioTs) % 2 ** 32 + 2 ** 32) % 2 ** 32
      audioOnlyReady = span >= AUDIO_ONLY_START_MS
    }
    if (this.attempt.keyframeSeen || audioOnlyReady) this.begin(now, 'playback begins (rtc)')
  }

  begin (now, why) {
    this.playing = true
    this.endStall(now)
    if (this.config.mode === 'live') this.buffer.run(now)
    this.status(C.PLAY_BEGIN, why)
  }

  streamEnded (detail, now) {
    this.close()
    if (this.playing && this.config.mode === 'live') {
      // What is buffered still plays; 2006 comes when it ran out.
      this.phase = 'draining'
      return
    }
    this.endStall(now)
    this.playing = false
    this.phase = 'ended'
    this.status(C.PLAY_END, `playback ended: the stream ended (${detail})`)
  }

  fail (failure, message, now) {
    this.endStall(now)
    this.playing = false
    this.buffer.clear()
    this.status(failure, message)
    this.failures += 1
    if (this.failures > this.config.retries) {
      this.giveUp(`gave up after ${this.failures} failed attempts in a row; the last: ${message}`)
      return
    }
    this.reconnects += 1
    this.connectedReported = false
    this.phase = 'backoff'
    this.retryAt = now + this.config.retry_interval_ms
    this.status(C.RECONNECTING,
      `reconnecting in ${this.config.retry_interval_ms} ms (reconnect ${this.failures} of ${this.config.retries})`)
  }

  giveUp (message) {
    this.phase = 'gave_up'
    this.retryAt = undefined
    this.status(C.GAVE_UP, message)
    this.action('give_up')
  }

  endStall (now) {
    if (this.stallSince !== undefined) {
      this.stalled += Math.max(0, now - this.stallSince)
      this.stallSince = undefined
    }
  }

  close () {
    this.action('close')
  }

  status (code, message) {
    this.out.push({ event: { code, message } })
  }

  action (type) {
    this.out.push({ action: { type } })
  }
}
