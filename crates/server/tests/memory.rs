//! Memory per player, counted by the allocator: the server runs in this process and a counting global allocator
//! sees every heap byte it keeps for each additional RTMP and HTTP-FLV player, step by step (accepted
//! connection, play). The clients are blocking sockets set up with the sans-IO client
//! session, which is then dropped: what stays allocated is the server's.
//!
//! The bounds are budgets that a change must not exceed silently; the figures are printed (`--nocapture`) and
//! quoted in docs/benchmarks.md ("Memory per player").

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use rtmp::{ClientEvent, ClientSession, MediaKind, SessionConfig};
use server::{RunningServer, Settings};

struct Counting;

/// Heap bytes in use, over the whole process.
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const PLAYERS: usize = 200;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// The heap in use once it has stopped moving (the server's tasks settle after each step).
fn settled() -> isize {
    let mut last = live();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(60));
        let now = live();
        if (now - last).abs() < 256 {
            return now;
        }
        last = now;
    }
    last
}

/// Drives a blocking socket with a client session until `done` says so.
fn drive(
    socket: &mut TcpStream,
    session: &mut ClientSession,
    mut done: impl FnMut(&ClientEvent) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        while let Some(out) = session.take_transmit() {
            socket.write_all(&out).unwrap();
        }
        while let Some(event) = session.poll_output() {
            if done(&event) {
                while let Some(out) = session.take_transmit() {
                    socket.write_all(&out).unwrap();
                }
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no answer from the server in 10 s"
        );
        let n = socket.read(&mut buf).unwrap();
        assert!(n > 0, "the server closed the connection");
        session.handle_input(&buf[..n], Instant::now()).unwrap();
    }
}

fn rtmp_client(addr: SocketAddr, name: &str, publish: bool) -> (TcpStream, ClientSession) {
    let mut socket = TcpStream::connect(addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut session = ClientSession::new(SessionConfig::default(), Instant::now());
    session.connect("live", &format!("rtmp://{addr}/live"));
    if publish {
        session.publish(name);
    } else {
        session.play(name);
    }
    drive(&mut socket, &mut session, |e| {
        matches!(
            e,
            ClientEvent::Publishing { .. } | ClientEvent::Playing { .. }
        )
    });
    (socket, session)
}

/// A sequence header and a keyframe (kept in the GOP cache), then `frames` inter frames.
fn push(socket: &mut TcpStream, session: &mut ClientSession, ts: &mut u32, frames: u32) {
    if *ts == 0 {
        let header = [
            0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 2,
            0x68, 0xee,
        ];
        session.send_media(MediaKind::Video, 0, &header);
        session.send_media(MediaKind::Video, 0, &[0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65]);
    }
    for _ in 0..frames {
        *ts += 40;
        session.send_media(MediaKind::Video, *ts, &[0x27, 1, 0, 0, 0, 0, 0, 0, 1, 0x41]);
    }
    while let Some(out) = session.take_transmit() {
        socket.write_all(&out).unwrap();
    }
}

/// Reads what is waiting on each client socket, so no server-side batch holds bytes for a full socket.
fn drain(clients: &mut [TcpStream]) {
    let mut buf = [0u8; 8192];
    for c in clients {
        c.set_nonblocking(true).unwrap();
        while let Ok(n) = c.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        c.set_nonblocking(false).unwrap();
    }
}

async fn start(dir: &tempfile::TempDir) -> RunningServer {
    let settings = Settings {
        rtmp_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: dir.path().join("data"),
        ..Settings::default()
    };
    let server = server::start(settings).await.expect("server starts");
    let patch = control::AppPatch {
        push_auth: Some(false),
        play_auth: Some(false),
        ..control::AppPatch::default()
    };
    server
        .catalog()
        .store()
        .update_app("live", &patch)
        .await
        .unwrap();
    server.catalog().reload().await.unwrap();
    server
}

/// Per-player heap, in bytes: with the TCP connection accepted only (RTMP), and playing.
#[derive(Debug)]
struct Steps {
    accepted: Option<isize>,
    playing: isize,
}

fn per(delta: isize) -> isize {
    delta / PLAYERS as isize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heap_per_player_is_within_budget() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir).await;
    let (rtmp_addr, http_addr) = (server.rtmp_addr(), server.http_addr());
    let (rtmp, flv) = tokio::task::spawn_blocking(move || {
        let (mut publisher, mut session) = rtmp_client(rtmp_addr, "mem", true);
        let mut ts = 0;
        push(&mut publisher, &mut session, &mut ts, 3);
        // Warm-up: one player of each kind, so first-use allocations (pools, maps) are not counted per player.
        let (_warm_rtmp, _) = rtmp_client(rtmp_addr, "mem", false);
        let mut warm_flv = TcpStream::connect(http_addr).unwrap();
        warm_flv
            .write_all(b"GET /live/mem.flv HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        push(&mut publisher, &mut session, &mut ts, 3);

        // RTMP players, step by step.
        let base = settled();
        let mut sockets = Vec::with_capacity(PLAYERS);
        for _ in 0..PLAYERS {
            sockets.push(TcpStream::connect(rtmp_addr).unwrap());
        }
        let accepted = settled();
        drop(sockets);
        settled();
        let mut players = Vec::with_capacity(PLAYERS);
        let base_play = settled();
        for _ in 0..PLAYERS {
            players.push(rtmp_client(rtmp_addr, "mem", false).0);
        }
        push(&mut publisher, &mut session, &mut ts, 5);
        drain(&mut players);
        let playing = settled();
        let rtmp = Steps {
            accepted: Some(per(accepted - base)),
            playing: per(playing - base_play),
        };
        drop(players);
        settled();

        // HTTP-FLV players.
        let base = settled();
        let mut players = Vec::with_capacity(PLAYERS);
        for _ in 0..PLAYERS {
            let mut s = TcpStream::connect(http_addr).unwrap();
            s.write_all(b"GET /live/mem.flv HTTP/1.1\r\nHost: t\r\n\r\n")
                .unwrap();
            players.push(s);
        }
        push(&mut publisher, &mut session, &mut ts, 5);
        drain(&mut players);
        let playing = settled();
        let flv = Steps {
            accepted: None,
            playing: per(playing - base),
        };
        drop(players);
        drop(publisher);
        (rtmp, flv)
    })
    .await
    .unwrap();
    println!("heap per RTMP player: {rtmp:?}");
    println!("heap per HTTP-FLV player: {flv:?}");
    // Budgets (heap kept by the server per additional player, about 3.9 and 3.4 KiB when written; see
    // docs/benchmarks.md, "Memory per player").
    assert!(rtmp.playing < 5 * 1024, "RTMP player: {rtmp:?}");
    assert!(flv.playing < 5 * 1024, "HTTP-FLV player: {flv:?}");
    // A connection that never says anything holds little more than its task (about 2.1 KiB).
    assert!(
        rtmp.accepted.is_some_and(|a| a < 3 * 1024),
        "RTMP connection: {rtmp:?}"
    );
    server.shutdown().await;
}
