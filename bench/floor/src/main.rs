//! The write floor: the writes mplive makes to its players, and nothing else.
//!
//! A minimal HTTP-FLV server. It plays an FLV file in real time (looped, timestamps kept increasing) and writes
//! every frame to every player with exactly the pattern of mplive's publisher-driven fan-out: each frame is
//! encoded once as an FLV tag and shared by every player; `rtc` writes each frame to each player when it is due
//! (one `writev` per frame per player); `live` opens a merge window at the first frame after a flush and, when the
//! window ends, writes every frame of it to each player in one `writev`. A player joins at the next keyframe,
//! after the FLV header and the sequence headers.
//!
//! No hub, no session, no locks, no async runtime: what this process spends per delivered MB is what the kernel
//! asks for this pattern of writes on this machine. `mplive bench --no-publish --protocol flv --server-pid PID`
//! measures it the same way it measures a server (see `bench/side-by-side.sh --floor`).
//!
//! With `--send-times FILE` the floor appends a line `KEY_HEX SEND_NS` for each frame when it is due (the
//! frame's content key and CLOCK_MONOTONIC, as the bench's publisher records its sends), and `mplive bench
//! --no-publish --send-times FILE` measures the floor's latency too: the delay that this write pattern alone
//! adds on this machine, without an ingest hop.
//!
//! usage: floor --fixture FILE.flv [--listen 127.0.0.1:0] [--policy live|rtc] [--window-ms 80]
//!              [--ready-file FILE] [--send-times FILE] [--send-buffer 262144] [--seconds N]
//!
//! `--send-buffer` sets SO_SNDBUF on every player's socket as mplive's `socket_send_buffer` does (the same
//! default); 0 leaves the kernel's autotuning.

use std::fs::File;
use std::io::{BufWriter, ErrorKind, IoSlice, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Longest HTTP request head read from a player.
const MAX_REQUEST: usize = 8192;
/// Most buffers in one `writev`, as in mplive (`output::batch::MAX_IOV`).
const MAX_IOV: usize = 64;
/// Longest run, so a forgotten floor does not run for ever.
const MAX_SECONDS: u64 = 24 * 3600;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Policy {
    Live,
    Rtc,
}

struct Args {
    fixture: String,
    listen: SocketAddr,
    policy: Policy,
    window: Duration,
    ready_file: Option<String>,
    send_times: Option<String>,
    send_buffer: usize,
    seconds: u64,
}

/// One tag of the fixture: kind (8 audio, 9 video, 18 script), timestamp, body.
struct Tag {
    kind: u8,
    ts: u32,
    body: Vec<u8>,
}

impl Tag {
    fn is_sequence_header(&self) -> bool {
        // AVC/HEVC (legacy) and AAC sequence headers: packet type 0 in the second byte.
        match self.kind {
            9 => self.body.len() > 1 && self.body[0] & 0x0f >= 7 && self.body[1] == 0,
            8 => self.body.len() > 1 && self.body[0] >> 4 == 10 && self.body[1] == 0,
            _ => false,
        }
    }

    fn is_keyframe(&self) -> bool {
        self.kind == 9 && !self.body.is_empty() && self.body[0] >> 4 == 1
    }
}

/// One player: its socket and bytes a short write left behind (rare on loopback; copied, and counted).
struct Player {
    socket: TcpStream,
    rest: Vec<u8>,
    /// The first buffer of the current window this player gets (it joined at a keyframe inside the window).
    from: usize,
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("floor: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("floor: {e}");
        std::process::exit(1);
    }
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        fixture: String::new(),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        policy: Policy::Live,
        window: Duration::from_millis(80),
        ready_file: None,
        send_times: None,
        send_buffer: 256 * 1024,
        seconds: 3600,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--fixture" => args.fixture = value()?,
            "--listen" => {
                let v = value()?;
                args.listen = v.parse().map_err(|e| format!("--listen {v}: {e}"))?;
            }
            "--policy" => {
                args.policy = match value()?.as_str() {
                    "live" => Policy::Live,
                    "rtc" => Policy::Rtc,
                    other => return Err(format!("--policy is live or rtc, not {other}")),
                }
            }
            "--window-ms" => {
                let v = value()?;
                let ms: u64 = v.parse().map_err(|e| format!("--window-ms {v}: {e}"))?;
                args.window = Duration::from_millis(ms.clamp(1, 10_000));
            }
            "--ready-file" => args.ready_file = Some(value()?),
            "--send-times" => args.send_times = Some(value()?),
            "--send-buffer" => {
                let v = value()?;
                args.send_buffer = v.parse().map_err(|e| format!("--send-buffer {v}: {e}"))?;
            }
            "--seconds" => {
                let v = value()?;
                args.seconds = v.parse().map_err(|e| format!("--seconds {v}: {e}"))?;
            }
            "-h" | "--help" => {
                println!("usage: floor --fixture FILE.flv [--listen ADDR] [--policy live|rtc] [--window-ms 80] [--ready-file FILE] [--send-times FILE] [--send-buffer BYTES] [--seconds N]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.fixture.is_empty() {
        return Err("--fixture FILE.flv is required".into());
    }
    args.seconds = args.seconds.clamp(1, MAX_SECONDS);
    Ok(args)
}

fn run(args: &Args) -> Result<(), String> {
    let data = std::fs::read(&args.fixture).map_err(|e| format!("{}: {e}", args.fixture))?;
    let tags = parse_flv(&data).map_err(|e| format!("{}: {e}", args.fixture))?;
    let headers: Vec<u8> = {
        let mut h = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
        for t in tags
            .iter()
            .filter(|t| t.is_sequence_header() || t.kind == 18)
        {
            h.extend_from_slice(&encode_tag(t.kind, 0, &t.body));
        }
        h
    };
    let media: Vec<&Tag> = tags
        .iter()
        .filter(|t| t.kind != 18 && !t.is_sequence_header())
        .collect();
    let Some(last) = media.last() else {
        return Err(format!("{}: no audio or video frames", args.fixture));
    };
    // One loop lasts up to the last frame plus one frame's time.
    let loop_ms = last.ts + 40;
    // Created before the ready file, so a bench started after it finds the file.
    let mut send_times = match &args.send_times {
        Some(path) => Some((
            BufWriter::new(File::create(path).map_err(|e| format!("{path}: {e}"))?),
            media
                .iter()
                .map(|t| bench::content_key(&t.body))
                .collect::<Vec<_>>(),
        )),
        None => None,
    };

    let listener = TcpListener::bind(args.listen).map_err(|e| format!("{}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    if let Some(path) = &args.ready_file {
        std::fs::write(path, format!("{{\"http\":\"{addr}\"}}\n"))
            .map_err(|e| format!("{path}: {e}"))?;
    }
    eprintln!(
        "floor: serving {} on http://{addr}/ ({} policy)",
        args.fixture,
        policy_name(args.policy)
    );

    let joining: Arc<Mutex<Vec<Player>>> = Arc::default();
    {
        let joining = joining.clone();
        let headers = headers.clone();
        let send_buffer = args.send_buffer;
        thread::spawn(move || accept(listener, headers, joining, send_buffer));
    }

    let start = Instant::now();
    let end = start + Duration::from_secs(args.seconds);
    let mut players: Vec<Player> = Vec::new();
    let mut window: Vec<Vec<u8>> = Vec::new();
    let mut window_end: Option<Instant> = None;
    let mut short_writes: u64 = 0;
    let mut rounds = Rounds::new(start);
    for round in 0u64.. {
        for (index, tag) in media.iter().enumerate() {
            let ts =
                u32::try_from(round * u64::from(loop_ms) + u64::from(tag.ts)).unwrap_or(u32::MAX);
            let due = start + Duration::from_millis(u64::from(ts));
            // A window that closes before this frame is due is written at its end, as mplive's timer does.
            if let Some(w) = window_end.filter(|w| *w <= due) {
                sleep_until(w);
                write_all(&mut players, &window, &mut short_writes);
                rounds.done(w, players.len());
                window.clear();
                window_end = None;
            }
            sleep_until(due);
            if due >= end {
                eprintln!(
                    "floor: done, {} players, {short_writes} short writes",
                    players.len()
                );
                return Ok(());
            }
            if tag.is_keyframe() {
                // Joiners start at this keyframe: of a window in progress they get only what follows it.
                if let Ok(mut j) = joining.lock() {
                    for mut p in j.drain(..) {
                        p.from = window.len();
                        players.push(p);
                    }
                }
            }
            let sent_ns = bench::mono_ns();
            let encoded = encode_tag(tag.kind, ts, &tag.body);
            match args.policy {
                Policy::Rtc => {
                    write_all(&mut players, &[encoded], &mut short_writes);
                    rounds.done(due, players.len());
                }
                Policy::Live => {
                    window.push(encoded);
                    window_end.get_or_insert(due + args.window);
                }
            }
            // After the writes, so the line costs the frame's players nothing; a player that reads the frame
            // first keeps it pending until the line is here.
            if let Some((file, keys)) = &mut send_times {
                writeln!(file, "{:016x} {sent_ns}", keys[index])
                    .and_then(|()| file.flush())
                    .map_err(|e| format!("--send-times: {e}"))?;
            }
        }
    }
    Ok(())
}

/// How long a round of writes (one frame, or one window, to every player) took from the instant it was due to
/// its last write: the delay this pattern alone gives the last player of a round. Printed every 10 s.
struct Rounds {
    micros: Vec<u32>,
    since: Instant,
}

impl Rounds {
    const PERIOD: Duration = Duration::from_secs(10);

    fn new(now: Instant) -> Self {
        Self {
            micros: Vec::new(),
            since: now,
        }
    }

    fn done(&mut self, due: Instant, players: usize) {
        let now = Instant::now();
        let took = now.saturating_duration_since(due).as_micros();
        self.micros.push(u32::try_from(took).unwrap_or(u32::MAX));
        if now.duration_since(self.since) >= Self::PERIOD {
            self.micros.sort_unstable();
            let at = |q: f64| {
                let i = ((self.micros.len() as f64 - 1.0) * q).round() as usize;
                f64::from(self.micros[i]) / 1000.0
            };
            eprintln!(
                "floor: {players} players, {} rounds in {:.0} s, due to last write p50 {:.2} / p99 {:.2} / max {:.2} ms",
                self.micros.len(),
                now.duration_since(self.since).as_secs_f64(),
                at(0.5),
                at(0.99),
                at(1.0)
            );
            self.micros.clear();
            self.since = now;
        }
    }
}

fn policy_name(p: Policy) -> &'static str {
    match p {
        Policy::Live => "live",
        Policy::Rtc => "rtc",
    }
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        thread::sleep(t - now);
    }
}

/// One `writev` of `bufs` (after any leftover) to each player; a player whose socket failed is dropped.
fn write_all(players: &mut Vec<Player>, bufs: &[Vec<u8>], short_writes: &mut u64) {
    if bufs.is_empty() {
        return;
    }
    players.retain_mut(|p| {
        let mine = bufs.get(p.from..).unwrap_or_default();
        p.from = 0;
        let rest = std::mem::take(&mut p.rest);
        let all: Vec<&[u8]> = std::iter::once(rest.as_slice())
            .filter(|r| !r.is_empty())
            .chain(mine.iter().map(Vec::as_slice))
            .collect();
        let mut next = 0;
        while next < all.len() {
            let chunk = &all[next..all.len().min(next + MAX_IOV)];
            let slices: Vec<IoSlice<'_>> = chunk.iter().map(|b| IoSlice::new(b)).collect();
            let total: usize = chunk.iter().map(|b| b.len()).sum();
            let n = match p.socket.write_vectored(&slices) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
                Err(_) => return false,
            };
            if n < total {
                *short_writes += 1;
                let mut skip = n;
                for b in &all[next..] {
                    if skip >= b.len() {
                        skip -= b.len();
                    } else {
                        p.rest.extend_from_slice(&b[skip..]);
                        skip = 0;
                    }
                }
                break;
            }
            next += chunk.len();
        }
        p.rest.len() < 16 << 20
    });
}

/// Accepts players: reads the request head, answers 200 with the FLV header and sequence headers, and hands the
/// socket (non-blocking) to the writer.
fn accept(
    listener: TcpListener,
    headers: Vec<u8>,
    joining: Arc<Mutex<Vec<Player>>>,
    send_buffer: usize,
) {
    for socket in listener.incoming() {
        let Ok(mut socket) = socket else { continue };
        let _ = socket.set_nodelay(true);
        if send_buffer > 0 {
            let _ = socket2::SockRef::from(&socket).set_send_buffer_size(send_buffer);
        }
        let _ = socket.set_read_timeout(Some(Duration::from_secs(5)));
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        let ok = loop {
            match socket.read(&mut buf) {
                Ok(0) | Err(_) => break false,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
            if head.windows(4).any(|w| w == b"\r\n\r\n") {
                break true;
            }
            if head.len() > MAX_REQUEST {
                break false;
            }
        };
        if !ok {
            continue;
        }
        let mut reply = b"HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nConnection: close\r\nCache-Control: no-cache\r\n\r\n".to_vec();
        reply.extend_from_slice(&headers);
        if socket.write_all(&reply).is_err() || socket.set_nonblocking(true).is_err() {
            continue;
        }
        if let Ok(mut j) = joining.lock() {
            j.push(Player {
                socket,
                rest: Vec::new(),
                from: 0,
            });
        }
    }
}

/// The tags of an FLV file.
fn parse_flv(data: &[u8]) -> Result<Vec<Tag>, String> {
    if data.len() < 13 || &data[..3] != b"FLV" {
        return Err("not an FLV file".into());
    }
    let header_len = u32::from_be_bytes([data[5], data[6], data[7], data[8]]) as usize;
    let mut pos = header_len + 4;
    let mut tags = Vec::new();
    while pos + 11 <= data.len() {
        let h = &data[pos..pos + 11];
        let size = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
        let ts = (u32::from(h[7]) << 24)
            | (u32::from(h[4]) << 16)
            | (u32::from(h[5]) << 8)
            | u32::from(h[6]);
        let Some(body) = data.get(pos + 11..pos + 11 + size) else {
            break;
        };
        tags.push(Tag {
            kind: h[0] & 0x1f,
            ts,
            body: body.to_vec(),
        });
        pos += 11 + size + 4;
    }
    Ok(tags)
}

/// One FLV tag with its previous-tag-size trailer, as mplive's `flv_tag` encodes a frame.
fn encode_tag(kind: u8, ts: u32, body: &[u8]) -> Vec<u8> {
    let size = body.len() as u32;
    let mut t = Vec::with_capacity(11 + body.len() + 4);
    t.push(kind);
    t.extend_from_slice(&size.to_be_bytes()[1..]);
    t.extend_from_slice(&ts.to_be_bytes()[1..]);
    t.push((ts >> 24) as u8);
    t.extend_from_slice(&[0, 0, 0]);
    t.extend_from_slice(body);
    t.extend_from_slice(&(11 + size).to_be_bytes());
    t
}
