//! `kill -9` loses no `push_start`, `push_end` or `record_done` (docs/webhooks.md#durability).
//!
//! A real `mplive serve` (SQLite file, the same data directory and ports across restarts) takes publish churn from
//! several RTMP publishers while the test kills it with SIGKILL at random moments (a seeded RNG, the seed printed)
//! and starts it again. A real HTTP receiver collects the webhooks. At the end the server is stopped gracefully
//! after the outbox drained, and the receiver's events are checked against what the clients saw:
//!
//! - every publish a client saw acknowledged (NetStream.Publish.Start) has a `push_start`;
//! - every `push_start` sequence has exactly one `push_end` (deliveries deduplicated by sequence, and all of a
//!   sequence's deliveries telling the same end), and no `push_end` comes without its `push_start`;
//! - every recording file that holds anything has exactly one `record_done`, and each `record_done` names a file.
//!
//! The short form (4 kills) runs with the other tests; `MPLIVE_KILL_LOOP_KILLS=N` raises the count and
//! `MPLIVE_KILL_LOOP_SEED=S` replays a run (`bench/kill-loop.sh`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use rand::{Rng, SeedableRng};
use rtmp::{ClientEvent, ClientSession, MediaKind, SessionConfig};
use serde_json::Value;

const PUBLISHERS: usize = 4;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn kill_9_loses_no_push_or_record_event() {
    require("ffmpeg");
    let kills = env_u64("MPLIVE_KILL_LOOP_KILLS").unwrap_or(4);
    let seed = env_u64("MPLIVE_KILL_LOOP_SEED").unwrap_or_else(rand::random);
    println!("kill loop: {kills} kills, seed {seed} (MPLIVE_KILL_LOOP_SEED={seed} replays it)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let began = Instant::now();

    let receiver = Receiver::start();
    let mut server = Server::start("");
    // Fixed ports from now on, so every restart comes back at the same address; quick retries and leases, so a
    // delivery cut by a kill is retried within the test.
    std::fs::write(
        server.dir.path().join("mplive.toml"),
        format!(
            "rtmp_addr = \"{}\"\nhttp_addr = \"{}\"\ncatalog_refresh_ms = 200\n\
             [webhooks]\nretry_interval_secs = 1\ntimeout_secs = 1\nmax_attempts = 100\n",
            server.rtmp, server.http
        ),
    )
    .unwrap();
    server.cli_ok(&[
        "app",
        "set",
        "live",
        "--callback-url",
        &receiver.url(),
        "--record",
        "flv",
        "--republish-grace-ms",
        "300",
    ]);
    server.kill();
    server.spawn();

    let tags: Arc<Vec<(MediaKind, u32, Bytes)>> =
        Arc::new(read_flv(&fixture_av()).into_iter().take(40).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let attempts = Arc::new(Mutex::new(0u64));
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            let (rtmp, tags, stop, acked, attempts) = (
                server.rtmp.clone(),
                tags.clone(),
                stop.clone(),
                acked.clone(),
                attempts.clone(),
            );
            let seed = seed.wrapping_add(p as u64 + 1);
            std::thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let stream = format!("c{p}-{n}");
                    *attempts.lock().unwrap() += 1;
                    let hold = Duration::from_millis(rng.gen_range(0..300));
                    if publish_once(&rtmp, &stream, &tags, hold, || {
                        acked.lock().unwrap().insert(stream.clone());
                    })
                    .is_err()
                    {
                        // The server is down (killed): wait for it a little.
                        std::thread::sleep(Duration::from_millis(30));
                    }
                }
            })
        })
        .collect();

    for _ in 0..kills {
        std::thread::sleep(Duration::from_millis(rng.gen_range(200..1500)));
        server.kill();
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..200)));
        server.spawn();
    }
    std::thread::sleep(Duration::from_millis(rng.gen_range(200..800)));
    stop.store(true, Ordering::SeqCst);
    for p in publishers {
        p.join().unwrap();
    }
    let churn = began.elapsed();

    // Every start has its end delivered, and the recordings (ended 300 ms after their streams) are reported.
    let recordings = server.dir.path().join("data/recordings");
    let deadline = Instant::now() + Duration::from_secs(30);
    let report = loop {
        let report = Report::of(&receiver.bodies.lock().unwrap());
        let files = recording_files(&recordings);
        let done = report
            .start_seqs
            .keys()
            .all(|s| report.ends.contains_key(s))
            && files.iter().all(|f| report.records.contains_key(f))
            && acked
                .lock()
                .unwrap()
                .iter()
                .all(|s| report.started_streams.contains(s));
        if done || Instant::now() > deadline {
            break report;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let status = server.terminate("TERM");
    assert!(status.success(), "graceful stop: {status:?}");

    let acked = acked.lock().unwrap().clone();
    let files = recording_files(&recordings);
    println!(
        "kill loop: seed {seed}, {kills} kills in {:.1} s of churn; {} publish attempts, {} acknowledged; \
         {} push_start, {} push_end ({} after a restart, errcode 1019); {} files, {} record_done ({} after a \
         restart); {} deliveries in all (duplicates included); {:.1} s in all",
        churn.as_secs_f64(),
        attempts.lock().unwrap(),
        acked.len(),
        report.start_seqs.len(),
        report.ends.len(),
        report.ends.values().filter(|c| c.contains(&1019)).count(),
        files.len(),
        report.records.len(),
        report.records.values().filter(|c| c.contains(&1019)).count(),
        report.deliveries,
        began.elapsed().as_secs_f64(),
    );
    assert!(!acked.is_empty(), "no publish was acknowledged");
    let missing: Vec<_> = acked
        .iter()
        .filter(|s| !report.started_streams.contains(*s))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged publishes without push_start: {missing:?}"
    );
    for (seq, codes) in &report.ends {
        assert!(
            report.start_seqs.contains_key(seq),
            "push_end without push_start: {seq} {codes:?}"
        );
        assert_eq!(
            codes.len(),
            1,
            "sequence {seq} ended more than once: {codes:?}"
        );
    }
    let unended: Vec<_> = report
        .start_seqs
        .iter()
        .filter(|(seq, _)| !report.ends.contains_key(*seq))
        .collect();
    assert!(
        unended.is_empty(),
        "push_start without push_end: {unended:?}"
    );
    for file in &files {
        let codes = report.records.get(file);
        assert!(
            codes.is_some_and(|c| c.len() == 1),
            "recording {file}: record_done {codes:?}"
        );
    }
    for file in report.records.keys() {
        assert!(
            recordings.join(file).exists(),
            "record_done for a file that does not exist: {file}"
        );
    }
}

/// What the receiver got, deduplicated as docs/webhooks.md tells receivers to (`sequence` + `event`).
struct Report {
    /// push_start sequence -> stream.
    start_seqs: BTreeMap<String, String>,
    started_streams: BTreeSet<String>,
    /// push_end sequence -> the distinct errcodes it was delivered with (one, when it ended once).
    ends: BTreeMap<String, BTreeSet<i64>>,
    /// record_done file -> distinct errcodes.
    records: BTreeMap<String, BTreeSet<i64>>,
    deliveries: usize,
}

impl Report {
    fn of(bodies: &[Value]) -> Report {
        let mut r = Report {
            start_seqs: BTreeMap::new(),
            started_streams: BTreeSet::new(),
            ends: BTreeMap::new(),
            records: BTreeMap::new(),
            deliveries: bodies.len(),
        };
        for b in bodies {
            let seq = b["sequence"].as_str().unwrap_or_default().to_owned();
            let code = b["errcode"].as_i64().unwrap_or(-1);
            match b["event"].as_str().unwrap_or_default() {
                "push_start" => {
                    let stream = b["stream_id"].as_str().unwrap_or_default().to_owned();
                    r.started_streams.insert(stream.clone());
                    r.start_seqs.insert(seq, stream);
                }
                "push_end" => {
                    r.ends.entry(seq).or_default().insert(code);
                }
                "record_done" => {
                    let file = b["file_path"].as_str().unwrap_or_default().to_owned();
                    r.records.entry(file).or_default().insert(code);
                }
                _ => {}
            }
        }
        r
    }
}

/// Recording files that hold anything (a file cut before its first byte has nothing to report), relative to the
/// recordings directory.
fn recording_files(dir: &Path) -> BTreeSet<String> {
    fn walk(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, base, out);
            } else if path.extension().is_some_and(|x| x == "flv")
                && e.metadata().is_ok_and(|m| m.len() > 0)
            {
                let rel = path.strip_prefix(base).unwrap().to_string_lossy();
                out.insert(rel.replace('\\', "/"));
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// One publish: connect, publish `live/{stream}`, call `acked` on NetStream.Publish.Start, send the tags, hold,
/// close. `Err` when the connection failed before the publish was acknowledged or refused.
fn publish_once(
    rtmp_addr: &str,
    stream: &str,
    tags: &[(MediaKind, u32, Bytes)],
    hold: Duration,
    acked: impl FnOnce(),
) -> Result<(), std::io::Error> {
    let mut socket = TcpStream::connect(rtmp_addr)?;
    socket.set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut session = ClientSession::new(SessionConfig::default(), Instant::now());
    session.connect("live", &format!("rtmp://{rtmp_addr}/live"));
    session.publish(stream);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = vec![0u8; 64 * 1024];
    'publishing: loop {
        while let Some(out) = session.take_transmit() {
            socket.write_all(&out)?;
        }
        while let Some(event) = session.poll_output() {
            match event {
                ClientEvent::Publishing { .. } => break 'publishing,
                ClientEvent::ConnectRejected { .. } | ClientEvent::PublishRejected { .. } => {
                    return Ok(())
                }
                _ => {}
            }
        }
        if Instant::now() > deadline {
            return Err(ErrorKind::TimedOut.into());
        }
        match socket.read(&mut buf) {
            Ok(0) => return Err(ErrorKind::ConnectionReset.into()),
            Ok(n) => {
                if session.handle_input(&buf[..n], Instant::now()).is_err() {
                    return Err(ErrorKind::InvalidData.into());
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e),
        }
    }
    acked();
    // From here on a failure is the server going away mid-publish: the publish still counts.
    for (kind, ts, body) in tags {
        session.send_media(*kind, *ts, body);
        while let Some(out) = session.take_transmit() {
            if socket.write_all(&out).is_err() {
                return Ok(());
            }
        }
    }
    std::thread::sleep(hold);
    Ok(())
}
