// The jitter buffer of the player machine's `live` mode, measured in media time: a port of
// crates/client/src/player/machine/buffer.rs. Only timestamps are kept: the machine models what a player would
// show, it never touches media bytes. All times are milliseconds.

/** Most frames held: a stream whose timestamps never advance must not grow memory without bound. */
const MAX_FRAMES = 4096
/** A timestamp this far behind the newest one, or ahead of it, starts a new timeline (a publisher restart). */
const BACKWARD_JUMP_MS = 1000
const FORWARD_JUMP_MS = 10000
const WRAP = 2 ** 32

export class JitterBuffer {
  constructor () {
    this.clear()
  }

  /** Forget everything (a new connection starts a new timeline). */
  clear () {
    this.frames = []
    this.offset = 0
    this.lastRaw = undefined
    this.newest = undefined
    this.newestVideo = undefined
    this.newestAudio = undefined
    this.playhead = undefined
    this.anchor = undefined
  }

  /** Adds a frame received at `now`; returns {dropped}. */
  push (kind, timestampMs, now) {
    const ts = this.timeline(timestampMs)
    let dropped = 0
    this.release(now)
    if (this.anchor !== undefined) {
      const p = this.position(now)
      // Behind the play clock: a player would skip it.
      if (p !== undefined && ts < p) return { dropped: 1 }
    }
    if (this.frames.length >= MAX_FRAMES) {
      this.frames.shift()
      dropped += 1
    }
    this.frames.push(ts)
    this.newest = this.newest === undefined ? ts : Math.max(this.newest, ts)
    if (kind === 'video') {
      this.newestVideo = this.newestVideo === undefined ? ts : Math.max(this.newestVideo, ts)
    } else {
      this.newestAudio = this.newestAudio === undefined ? ts : Math.max(this.newestAudio, ts)
    }
    return { dropped }
  }

  /** Media time on this buffer's timeline: unwraps 32-bit timestamps and folds jumps into `offset`. */
  timeline (raw) {
    let unwrapped = raw
    if (this.lastRaw !== undefined) {
      const last = this.lastRaw
      const base = last - (((last % WRAP) + WRAP) % WRAP)
      // The candidate nearest to the last timestamp across the wrap; the first of equals, as Rust's min_by_key.
      let best
      for (const b of [base - WRAP, base, base + WRAP]) {
        const c = b + raw
        if (best === undefined || Math.abs(c - last) < Math.abs(best - last)) best = c
      }
      unwrapped = best
    }
    this.lastRaw = unwrapped
    const ts = unwrapped + this.offset
    if (this.newest !== undefined &&
        (ts < this.newest - BACKWARD_JUMP_MS || ts > this.newest + FORWARD_JUMP_MS)) {
      // Continue right after the newest frame instead of stalling or skipping for the jump.
      this.offset += this.newest - ts
      return this.newest
    }
    return ts
  }

  /** Media time shown at `now`: the running clock, else where it stopped, else the oldest buffered frame. */
  position (now) {
    if (this.playhead !== undefined && this.anchor !== undefined) {
      return this.playhead + Math.max(0, now - this.anchor)
    }
    if (this.playhead !== undefined) return this.playhead
    if (this.frames.length === 0) return undefined
    return Math.min(...this.frames)
  }

  /** Buffered media time at `now`, any kind. */
  level (now) {
    return this.levelOf(this.newest, now)
  }

  /** Buffered media time of one kind ('video' | 'audio') at `now`. */
  levelKind (kind, now) {
    return this.levelOf(kind === 'video' ? this.newestVideo : this.newestAudio, now)
  }

  levelOf (newest, now) {
    const p = this.position(now)
    if (newest === undefined || p === undefined || newest <= p) return 0
    return newest - p
  }

  /** Starts (or resumes) the play clock at `now`. */
  run (now) {
    this.playhead = this.position(now)
    this.anchor = now
  }

  /** When the running clock reaches the newest frame. */
  emptyAt () {
    if (this.playhead === undefined || this.anchor === undefined || this.newest === undefined) return undefined
    return this.anchor + Math.max(0, this.newest - this.playhead)
  }

  /** The buffer ran empty: the clock stops at the newest frame. */
  stopAtEnd () {
    this.playhead = this.newest !== undefined ? this.newest : this.playhead
    this.anchor = undefined
    this.frames = []
  }

  /** Drops the oldest frames so `keep` ms are left, restarting the clock at `now`; returns how many went. */
  skipTo (keep, now) {
    this.release(now)
    if (this.newest === undefined) return 0
    const target = this.newest - keep
    const before = this.frames.length
    this.frames = this.frames.filter((ts) => ts >= target)
    const p = this.position(now)
    this.playhead = Math.max(target, p === undefined ? target : p)
    this.anchor = now
    return before - this.frames.length
  }

  /** Forgets frames the clock has passed (they were played). */
  release (now) {
    if (this.anchor === undefined) return
    const pos = this.position(now)
    if (pos === undefined) return
    while (this.frames.length > 0 && this.frames[0] <= pos) this.frames.shift()
  }
}
