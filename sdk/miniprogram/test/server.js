// Starts a real `mplive serve` for the node tests, like crates/cli/tests/common/mod.rs does for the Rust ones:
// a temp data directory, a config TOML on free loopback ports, the admin token in the environment, the ready
// file to know when it listens. restart() kills it and starts it again on the same ports and data, so clients
// see a real outage and a real comeback.

import { spawn, execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync, existsSync, readFileSync, rmSync, openSync, closeSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
export const ADMIN_TOKEN = 'test-admin-token-0123456789'

/** The mplive binary: $MPLIVE_BIN, else target/debug/mplive of the repository (./scripts/test builds it). */
export function mpliveBin () {
  const bin = process.env.MPLIVE_BIN || join(REPO, 'target', 'debug', 'mplive')
  if (!existsSync(bin)) {
    throw new Error(`mplive binary not found at ${bin}: build it (cargo build -p mplive-cli) or set MPLIVE_BIN`)
  }
  return bin
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** A free TCP port on loopback (bound then released; the server binds it right after). */
export function freePort () {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.unref()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

export class TestServer {
  /** Starts a server; `config` is extra TOML. */
  static async start ({ config = '' } = {}) {
    const s = new TestServer()
    s.bin = mpliveBin()
    s.dir = mkdtempSync(join(tmpdir(), 'mplive-js-'))
    s.rtmpPort = await freePort()
    s.httpPort = await freePort()
    s.configPath = join(s.dir, 'mplive.toml')
    writeFileSync(s.configPath, [
      `rtmp_addr = "127.0.0.1:${s.rtmpPort}"`,
      `http_addr = "127.0.0.1:${s.httpPort}"`,
      'catalog_refresh_ms = 200',
      config
    ].join('\n') + '\n')
    await s.spawn()
    return s
  }

  get http () { return `http://127.0.0.1:${this.httpPort}` }
  get rtmp () { return `rtmp://127.0.0.1:${this.rtmpPort}` }

  env () {
    const env = { ...process.env }
    delete env.MPLIVE_DATABASE_URL
    return {
      ...env,
      MPLIVE_DATA_DIR: join(this.dir, 'data'),
      MPLIVE_CONFIG: this.configPath,
      MPLIVE_ADMIN_TOKEN: ADMIN_TOKEN
    }
  }

  /** Starts the process and waits for its ready file (up to 20 s). */
  async spawn () {
    const ready = join(this.dir, 'ready.json')
    rmSync(ready, { force: true })
    const log = openSync(join(this.dir, 'server.log'), 'a')
    this.child = spawn(this.bin, ['serve', '--ready-file', ready], {
      env: { ...this.env(), MPLIVE_LOG: 'debug,sqlx=warn' },
      stdio: ['ignore', 'ignore', log]
    })
    closeSync(log)
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.exited = exited
    const deadline = Date.now() + 20000
    while (!existsSync(ready)) {
      if (this.child.exitCode !== null) throw new Error(`mplive serve exited (${this.child.exitCode}):\n${this.log()}`)
      if (Date.now() > deadline) throw new Error(`mplive serve did not become ready in 20 s:\n${this.log()}`)
      await sleep(20)
    }
  }

  /** SIGKILL and wait for the exit. */
  async kill () {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL')
      await this.exited
    }
  }

  /** A real outage: kill, stay down for `downMs`, start again on the same ports and data. */
  async restart ({ downMs = 0 } = {}) {
    await this.kill()
    await sleep(downMs)
    await this.spawn()
  }

  async stop () {
    await this.kill()
    rmSync(this.dir, { recursive: true, force: true })
  }

  log () {
    try { return readFileSync(join(this.dir, 'server.log'), 'utf8') } catch { return '' }
  }

  /** `mplive ARGS` against this server's data and config; resolves with stdout, rejects with stderr. */
  cli (args) {
    return new Promise((resolve, reject) => {
      execFile(this.bin, args, { env: this.env(), timeout: 30000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`mplive ${args.join(' ')} failed: ${stderr || err.message}`))
        else resolve(stdout)
      })
    })
  }

  /** An SDK access token (HS256 JWT) for the app `live`, as an app's backend would mint it. */
  async token ({ app = 'live', channel, account, role = 'publisher', ttl = '1h' }) {
    return (await this.cli(['token', '--app', app, '--channel', channel, '--account', account, '--role', role, '--ttl', ttl])).trim()
  }

  /** A request to the admin API; resolves with {status, body}. */
  async api (method, path, body) {
    const res = await fetch(this.http + path, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    const text = await res.text()
    let parsed = text
    try { parsed = JSON.parse(text) } catch {}
    return { status: res.status, body: parsed }
  }
}

/** Makes (once per process) a small FLV: 320x240 15 fps H.264 with a 1 s GOP and AAC, 4 s, looped by mplive push. */
let fixture
export function fixtureFlv () {
  if (fixture) return fixture
  const dir = mkdtempSync(join(tmpdir(), 'mplive-js-fixture-'))
  const path = join(dir, 'av.flv')
  // One fixture per test process, gone with it.
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  fixture = new Promise((resolve, reject) => {
    execFile('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=15',
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
      '-t', '4', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '15', '-pix_fmt', 'yuv420p',
      '-c:a', 'aac', '-f', 'flv', path], { timeout: 60000 }, (err, _out, stderr) => {
      if (err) reject(new Error(`ffmpeg could not make the FLV fixture (is ffmpeg installed?): ${stderr || err.message}`))
      else resolve(path)
    })
  })
  return fixture
}
