// Replays every state-machine vector in sdk/vectors/{pusher,player,managed,room}/ (format: sdk/vectors/README.md)
// against the JavaScript machines, one test per file, with the same clock rules as the Rust replays in
// crates/client/tests/vectors_*.rs: the Rust and JavaScript SDKs cannot drift apart.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { isDeepStrictEqual } from 'node:util'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { PusherMachine } from '../src/machines/pusher.js'
import { PlayerMachine } from '../src/machines/player.js'
import { ManagedMachine } from '../src/machines/managed.js'
import { RoomMachine } from '../src/machines/room.js'

const VECTORS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'vectors')

function files (kind) {
  const dir = join(VECTORS, kind)
  const names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort()
  // An empty folder would make the replay vacuous: that is a failure, not a pass.
  assert.ok(names.length > 0, `no vectors in ${dir}`)
  return names.map((n) => join(dir, n))
}

function drain (m, at, got) {
  for (let o = m.pollOutput(); o !== undefined; o = m.pollOutput()) got.push({ at_ms: at, ...o })
}

// pusher: a timer fires at its own deadline and its outputs carry that time (vectors_pusher.rs).
function replayPusher (v) {
  const m = new PusherMachine(v.config ?? {})
  const got = []
  let last = 0
  for (const step of v.steps) {
    assert.ok(step.at_ms >= last, `step at ${step.at_ms} ms goes back in time`)
    last = step.at_ms
    for (let due = m.pollTimeout(); due !== undefined && due <= step.at_ms; due = m.pollTimeout()) {
      m.handleTimeout(due)
      drain(m, due, got)
    }
    if (step.input) {
      m.handle(step.input, step.at_ms)
      drain(m, step.at_ms, got)
    }
  }
  return got
}

// player: handleTimeout(at) then the input, outputs stamped with the step's time (vectors_player.rs).
function replayPlayer (v) {
  const m = new PlayerMachine(v.config ?? {})
  const got = []
  for (const step of v.steps) {
    m.handleTimeout(step.at_ms)
    drain(m, step.at_ms, got)
    if (step.input) {
      m.handleInput(step.input, step.at_ms)
      drain(m, step.at_ms, got)
    }
  }
  return got
}

// managed: the same, compared whole (vectors_managed.rs).
function replayManaged (v) {
  const m = new ManagedMachine(v.config ?? {})
  const got = []
  for (const step of v.steps) {
    m.handleTimeout(step.at_ms)
    drain(m, step.at_ms, got)
    if (step.input) {
      m.handle(step.input, step.at_ms)
      drain(m, step.at_ms, got)
    }
  }
  return got
}

// room: as the player; only actions and codes (room_event) are compared, the page's other events (replies,
// members_changed, state_changed, ...) are the JavaScript SDK's own (vectors_room.rs).
function replayRoom (v) {
  const m = new RoomMachine(v.config ?? {})
  const got = []
  const keep = (at) => {
    for (let o = m.pollOutput(); o !== undefined; o = m.pollOutput()) {
      if (o.action) got.push({ at_ms: at, action: o.action })
      else if (o.event.type === 'room_event') got.push({ at_ms: at, event: { code: o.event.code, message: o.event.message } })
    }
  }
  for (const step of v.steps) {
    m.handleTimeout(step.at_ms)
    keep(step.at_ms)
    if (step.input) {
      m.handle(step.input, step.at_ms)
      keep(step.at_ms)
    }
  }
  return got
}

// A status event matches when its code matches, and its message too when the vector gives one.
function matches (want, got) {
  if (want.at_ms !== got.at_ms) return false
  if (want.event && got.event) {
    return want.event.code === got.event.code &&
      (want.event.message === undefined || want.event.message === got.event.message)
  }
  // Key order is not part of a frame: compare actions as values.
  if (want.action && got.action) return isDeepStrictEqual(want.action, got.action)
  return false
}

function checkStatusVector (v, got) {
  const show = (list) => list.map((x) => '    ' + JSON.stringify(x)).join('\n')
  const ok = v.expect.length === got.length && v.expect.every((w, i) => matches(w, got[i]))
  assert.ok(ok, `${v.name}: outputs differ\n  expected:\n${show(v.expect)}\n  got:\n${show(got)}`)
}

for (const file of files('pusher')) {
  test(`pusher vector ${file.split('/').pop()}`, () => {
    const v = JSON.parse(readFileSync(file, 'utf8'))
    checkStatusVector(v, replayPusher(v))
  })
}

for (const file of files('player')) {
  test(`player vector ${file.split('/').pop()}`, () => {
    const v = JSON.parse(readFileSync(file, 'utf8'))
    checkStatusVector(v, replayPlayer(v))
  })
}

for (const file of files('managed')) {
  test(`managed vector ${file.split('/').pop()}`, () => {
    const v = JSON.parse(readFileSync(file, 'utf8'))
    assert.deepEqual(replayManaged(v), v.expect, v.name)
  })
}

for (const file of files('room')) {
  test(`room vector ${file.split('/').pop()}`, () => {
    const v = JSON.parse(readFileSync(file, 'utf8'))
    checkStatusVector(v, replayRoom(v))
  })
}
