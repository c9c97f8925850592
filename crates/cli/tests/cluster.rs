//! Cluster mode against the real engines: three `mplive serve` nodes on loopback sharing one PostgreSQL database
//! and one redis-server (`MPLIVE_TEST_POSTGRES_URL`, `MPLIVE_TEST_REDIS_URL`, both started by ./scripts/test),
//! driven by ffmpeg, ffprobe, rtmpdump, `mplive push` and room members' WebSockets.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::room_client::*;
use common::*;
use serde_json::{json, Value};

/// The Redis and PostgreSQL of the test run, or `None` (the test is skipped, or fails when peers are required).
fn engines(test: &str) -> Option<(String, String)> {
    let redis = std::env::var("MPLIVE_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let Some(redis) = redis else {
        peers::skip_for_missing_peer(
            test,
            "Redis (MPLIVE_TEST_REDIS_URL; scripts/redis.sh)",
            None,
        );
        return None;
    };
    let postgres = Db::all().into_iter().find_map(|db| match db {
        Db::Postgres(url) => Some(url),
        Db::Sqlite => None,
    })?;
    Some((redis, postgres))
}

/// Three nodes (`{prefix}-a`, `-b`, `-c`) of one cluster, with short heartbeats so a killed node leaves fast.
struct Cluster {
    nodes: Vec<Server>,
    prefix: String,
}

impl Cluster {
    fn start(test: &str, extra: &str) -> Option<Cluster> {
        let (redis, postgres) = engines(test)?;
        Some(Cluster::start_on(&redis, &postgres, 3, extra))
    }

    /// `count` nodes on this Redis and PostgreSQL. Each cluster takes its own of Redis's databases 1-15, so that the
    /// clusters of tests running at once do not see each other's nodes and claims (pub/sub is shared by all, which
    /// the nodes tolerate: they act only on the streams they hold).
    fn start_on(redis: &str, postgres: &str, count: usize, extra: &str) -> Cluster {
        let suffix = rand_suffix();
        let prefix = format!("t{}{suffix}", std::process::id());
        // Distinct for every cluster of this run (the tests run at once, and a node lists every node of its
        // database); offset by the process id so that a quick rerun does not meet the last run's claims.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        assert!(
            n < 15,
            "Redis has 15 spare databases: more clusters than that need another scheme"
        );
        let redis = format!(
            "{}/{}",
            redis.trim_end_matches('/'),
            1 + (std::process::id() + n) % 15
        );
        let nodes = ["a", "b", "c"][..count]
            .iter()
            .map(|n| {
                Server::start_with(Options {
                    config: format!(
                        "[cluster]\nredis_url = \"{redis}\"\nnode_id = \"{prefix}-{n}\"\nheartbeat_ms = 300\n\
                         node_ttl_ms = 1200\nclaim_ttl_ms = 8000\nrelay_linger_ms = 1000\n{extra}"
                    ),
                    db: Db::Postgres(postgres.to_string()),
                    ..Options::default()
                })
            })
            .collect();
        Cluster { nodes, prefix }
    }

    fn node(&self, i: usize) -> &Server {
        &self.nodes[i]
    }

    fn id(&self, i: usize) -> String {
        format!("{}-{}", self.prefix, ["a", "b", "c"][i])
    }
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        % 100_000
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Polls `GET path` on `server` until `ok` holds for the JSON body; returns it.
fn wait_api(server: &Server, path: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = server.get(path);
        if status == 200 {
            let v = json(&body);
            if ok(&v) {
                return v;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what}: GET {path} answered {status} {body}; log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The cluster view of one stream on `server`, once its origin is `origin`.
fn wait_origin(server: &Server, stream: &str, origin: &str) -> Value {
    wait_api(
        server,
        &format!("/v1/streams/live/{stream}"),
        &format!("{stream} live on {origin}"),
        |v| v["origin"] == origin && v["state"] == "live",
    )
}

/// ffmpeg publishes the fixture to `url` for `secs` seconds (or until refused); its output.
fn ffmpeg_push_for(fixture: &std::path::Path, url: &str, secs: u32) -> std::process::Output {
    let (out, timed_out) = run_with_timeout(
        Command::new("ffmpeg")
            .args(["-v", "error", "-re", "-i"])
            .arg(fixture)
            .args(["-t", &secs.to_string(), "-c", "copy", "-f", "flv", url]),
        Duration::from_secs(u64::from(secs) + 20),
    );
    assert!(!timed_out, "ffmpeg publishing to {url} hung");
    out
}

/// Waits until no node lists `stream` any more.
fn wait_gone(server: &Server, stream: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.get(&format!("/v1/streams/live/{stream}")).0 != 404 {
        assert!(
            Instant::now() < deadline,
            "{stream} still listed; log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An HTTP-FLV player in a thread: the arrival time and timestamp of every video tag, until dropped.
struct FlvPlayer {
    tags: Arc<Mutex<Vec<(Instant, u32, bool)>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl FlvPlayer {
    fn start(http: &str, path: &str) -> FlvPlayer {
        let mut socket = TcpStream::connect(http).unwrap();
        write!(socket, "GET {path} HTTP/1.1\r\nHost: {http}\r\n\r\n").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let tags = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (t, s) = (tags.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 16384];
            let mut body_at = None;
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                let n = match socket.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(_) => continue,
                };
                buf.extend_from_slice(&chunk[..n]);
                if body_at.is_none() {
                    match buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        Some(i) => body_at = Some(i + 4 + 13),
                        None => continue,
                    }
                }
                // Whole tags from `pos` on: 11-byte header, body, 4-byte previous size.
                let mut pos = body_at.unwrap();
                while buf.len() >= pos + 11 {
                    let size =
                        u32::from_be_bytes([0, buf[pos + 1], buf[pos + 2], buf[pos + 3]]) as usize;
                    if buf.len() < pos + 11 + size + 4 {
                        break;
                    }
                    let ts = u32::from_be_bytes([
                        buf[pos + 7],
                        buf[pos + 4],
                        buf[pos + 5],
                        buf[pos + 6],
                    ]);
                    if buf[pos] == 9 && size > 0 {
                        let key = buf[pos + 11] >> 4 == 1;
                        t.lock().unwrap().push((Instant::now(), ts, key));
                    }
                    pos += 11 + size + 4;
                }
                buf.drain(..pos);
                body_at = Some(0);
            }
        });
        FlvPlayer { tags, stop }
    }

    fn tags(&self) -> Vec<(Instant, u32, bool)> {
        self.tags.lock().unwrap().clone()
    }

    /// Waits for `n` video tags; returns the time of the first.
    fn wait_frames(&self, n: usize, limit: Duration) -> Instant {
        let deadline = Instant::now() + limit;
        loop {
            let tags = self.tags();
            if tags.len() >= n {
                return tags[0].0;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} video tags within {limit:?}",
                tags.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for FlvPlayer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// ffmpeg pushes to A; B serves HTTP-FLV (ffmpeg decodes it) and HLS (ffprobe), C serves RTMP (ffmpeg decodes,
/// rtmpdump plays); the edges' first frame is as quick as the origin's (their own GOP cache); relays are not
/// viewers; `GET /v1/streams` on B shows the origin and every node's players.
#[test]
fn push_to_any_node_and_play_from_any_node() {
    let Some(cluster) = Cluster::start("push_to_any_node_and_play_from_any_node", "") else {
        return;
    };
    require("rtmpdump");
    let (a, b, c) = (cluster.node(0), cluster.node(1), cluster.node(2));
    let fixture = fixture_av();
    let _push = ffmpeg_push(&fixture, &a.rtmp_url("live/anywhere"));
    a.wait_live("live/anywhere");

    let nodes = wait_api(c, "/v1/nodes", "three nodes", |v| {
        v["nodes"].as_array().is_some_and(|n| {
            n.iter()
                .filter(|n| n["id"].as_str().unwrap_or("").starts_with(&cluster.prefix))
                .count()
                == 3
        })
    });
    assert_eq!(nodes["cluster"], true, "{nodes}");
    assert_eq!(nodes["thisNode"], cluster.id(2).as_str(), "{nodes}");

    // A player that stays on B keeps its relay running for what follows.
    let _keep_relay = FlvPlayer::start(&b.http, "/live/anywhere.flv");
    ffmpeg_decode(&b.http_url("live/anywhere.flv"), 3);
    // hls.js in Chromium plays the edge's HLS, cut by the edge's own segmenter from the relay.
    if let Some(dir) = browser::browser_dir() {
        let report = browser::hlsjs(&dir, &b.http_url("live/anywhere.m3u8"), 5, false);
        eprintln!("hls.js from the edge: {report}");
        let advanced = report["advanced"].as_f64().unwrap_or(0.0);
        assert!(
            advanced > 3.0,
            "hls.js on the edge: currentTime moved {advanced} s in 5 s: {report}"
        );
        assert_eq!(report["errors"], serde_json::json!([]), "{report}");
    }
    ffmpeg_decode(&c.rtmp_url("live/anywhere"), 3);
    let codecs = ffprobe_codecs(&b.http_url("live/anywhere.m3u8"));
    assert!(
        codecs.contains("h264") && codecs.contains("aac"),
        "HLS from the edge: {codecs}"
    );

    // rtmpdump's --stop counts from timestamp 0 and the stream is older than that: it is stopped after 3 s.
    let dump_file = cluster.node(2).dir.path().join("dump.flv");
    run_with_timeout(
        Command::new("rtmpdump")
            .args(["-q", "--live", "-r", &c.rtmp_url("live/anywhere"), "-o"])
            .arg(&dump_file),
        Duration::from_secs(3),
    );
    let dump = std::fs::read(&dump_file).unwrap_or_default();
    assert!(
        dump.len() > 10_000 && dump.starts_with(b"FLV"),
        "rtmpdump played {} bytes from the edge",
        dump.len()
    );

    // A relay credential not made with the cluster's secret is refused (and is no way around play auth).
    let forged = a.rtmp_url("live/anywhere?mplive_relay=9999999999.00");
    let (out, timed_out) = run_with_timeout(
        Command::new("ffprobe").args(["-v", "error", "-rw_timeout", "5000000", &forged]),
        Duration::from_secs(20),
    );
    assert!(
        !timed_out && !out.status.success(),
        "a forged relay credential plays nothing"
    );
    assert!(
        a.log()
            .contains("the cluster credential (mplive_relay) is not valid"),
        "A says why; log:\n{}",
        a.log()
    );

    // First frame: a new player on the origin and on an edge whose relay runs both start from a cached GOP.
    let first_frame = |server: &Server| {
        let asked = Instant::now();
        let player = FlvPlayer::start(&server.http, "/live/anywhere.flv");
        let first = player.wait_frames(1, Duration::from_secs(10));
        let tags = player.tags();
        assert!(tags[0].2, "the first video tag is a keyframe");
        first - asked
    };
    let origin = first_frame(a);
    let edge = first_frame(b);
    eprintln!("first keyframe: origin {origin:?}, edge {edge:?}");
    assert!(
        edge < origin + Duration::from_millis(300),
        "the edge's first frame ({edge:?}) is as quick as the origin's ({origin:?})"
    );

    // The edge writes each frame as it arrives (the relay drives its players' fan-out), not in bursts: the
    // fixture has 25 fps video, so no gap near the players' 1 s fallback timer.
    let tags = _keep_relay.tags();
    let steady: Vec<_> = tags.iter().skip(tags.len() / 4).collect();
    let widest = steady
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .max()
        .unwrap_or_default();
    assert!(
        steady.len() > 50 && widest < Duration::from_millis(600),
        "edge player: {} frames, widest gap {widest:?}",
        steady.len()
    );

    // B's player is counted on B, and in the sum, by every node's API.
    let view = wait_api(
        b,
        "/v1/streams/live/anywhere",
        "players summed over nodes",
        |v| {
            v["origin"] == cluster.id(0).as_str()
                && v["clusterPlayers"].as_u64() >= Some(1)
                && v["nodes"].as_array().is_some_and(|nodes| {
                    nodes.iter().any(|n| {
                        n["node"] == cluster.id(1).as_str() && n["players"].as_u64() >= Some(1)
                    })
                })
        },
    );
    eprintln!("cluster view of the stream: {view}");
    // On the origin the relays are not viewers (once the origin's own test players above have gone).
    let origin = cluster.id(0);
    wait_api(
        a,
        "/v1/streams/live/anywhere",
        "relays not counted as viewers",
        |v| {
            let row = v["nodes"]
                .as_array()
                .and_then(|nodes| nodes.iter().find(|n| n["node"] == origin.as_str()).cloned())
                .unwrap_or_default();
            row["players"] == 0 && v["players"]["relays"].as_u64() >= Some(1)
        },
    );
    let list = json(&c.get("/v1/streams").1);
    assert!(
        list["streams"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["stream"] == "anywhere" && s["origin"] == cluster.id(0).as_str()),
        "{list}"
    );
    let metrics = c.get("/metrics").1;
    assert!(metrics.contains("mplive_nodes "), "{metrics}");
    assert!(metrics.contains("mplive_relays 1"), "{metrics}");
}

/// One publisher per stream in the whole cluster: a second publisher on B is refused while A's publishes, with
/// the busy reason; a publisher gone idle on A is taken over from B, and A drops it.
#[test]
fn one_publisher_per_stream_cluster_wide() {
    let Some(cluster) = Cluster::start(
        "one_publisher_per_stream_cluster_wide",
        "[hub]\npublisher_idle_takeover_ms = 1500\n",
    ) else {
        return;
    };
    let (a, b) = (cluster.node(0), cluster.node(1));
    let fixture = fixture_av();
    let mut first = pusher::TagPusher::publish(&a.rtmp, "live", "busy", &fixture);
    first.send_while(|t| t.ts < 2000);
    wait_origin(b, "busy", &cluster.id(0));

    let out = ffmpeg_push_for(&fixture, &b.rtmp_url("live/busy"), 3);
    assert!(!out.status.success(), "the second publisher is refused");
    let log = b.log();
    assert!(
        log.contains("stream_busy"),
        "B logs the reason; log:\n{log}"
    );
    assert!(
        log.contains(&format!("node {}", cluster.id(0))),
        "B names the holder; log:\n{log}"
    );

    // A's publisher stops sending (but stays connected): after the idle takeover time B may take the stream.
    std::thread::sleep(Duration::from_millis(2500));
    let _second = ffmpeg_push(&fixture, &b.rtmp_url("live/busy"));
    wait_origin(a, "busy", &cluster.id(1));
    let deadline = Instant::now() + Duration::from_secs(10);
    // Whichever tells A first: B's takeover notice, or A's own claim refresh finding B's claim.
    let dropped = |log: &str| {
        log.contains("publisher taken over by another node")
            || log.contains("another node holds the stream now; dropping this node's publisher")
    };
    while !dropped(&a.log()) {
        assert!(
            Instant::now() < deadline,
            "A drops its idle publisher; log:\n{}",
            a.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A records the end of its publish as a takeover, not a kick.
    let taken = wait_api(
        a,
        "/v1/interruptions?app=live&stream=busy",
        "A's takeover record",
        |v| !v["interruptions"].as_array().unwrap().is_empty(),
    );
    let records = taken["interruptions"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["reason"], "takeover", "{records:?}");
    assert_eq!(records[0]["node"], cluster.id(0).as_str(), "{records:?}");
    drop(first);
}

/// Kick and forbid through C's API end a publish that A holds; the forbid reaches every node at once.
#[test]
fn kick_and_forbid_through_any_node() {
    let Some(cluster) = Cluster::start("kick_and_forbid_through_any_node", "") else {
        return;
    };
    let (a, c) = (cluster.node(0), cluster.node(2));
    let fixture = fixture_av();
    let mut push = ffmpeg_push(&fixture, &a.rtmp_url("live/kickme"));
    a.wait_live("live/kickme");
    wait_origin(c, "kickme", &cluster.id(0));
    let (status, body) = c.api("POST", "/v1/streams/live/kickme/kick", None);
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while push.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the kicked publisher on A is disconnected; A's log:\n{}",
            a.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    wait_gone(c, "kickme");
    let _push = ffmpeg_push(&fixture, &a.rtmp_url("live/kickme"));
    wait_origin(c, "kickme", &cluster.id(0));
    let (status, body) = c.api(
        "POST",
        "/v1/streams/live/kickme/forbid",
        Some(r#"{"seconds": 60, "reason": "test"}"#),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["kicked"], true, "{body}");
    // A refuses the stream at once (the forbid reached it through Redis, not its periodic refresh).
    let out = ffmpeg_push_for(&fixture, &a.rtmp_url("live/kickme"), 2);
    assert!(!out.status.success(), "a forbidden stream is refused on A");
    assert!(a.log().contains("forbidden"), "A's log:\n{}", a.log());
    wait_gone(c, "kickme");
}

/// Exactly one push_start and one push_end per publish session with three nodes running and players on the
/// edges; relays send none, and every real viewer has its play_start from the node that serves it.
#[test]
fn webhooks_once_per_session_across_nodes() {
    let Some(cluster) = Cluster::start("webhooks_once_per_session_across_nodes", "") else {
        return;
    };
    let (a, b, c) = (cluster.node(0), cluster.node(1), cluster.node(2));
    let receiver = Receiver::start();
    a.cli_ok(&["app", "set", "live", "--callback-url", &receiver.url()]);
    std::thread::sleep(Duration::from_millis(600));
    let fixture = fixture_av();
    let push = ffmpeg_push(&fixture, &a.rtmp_url("live/hooks"));
    a.wait_live("live/hooks");
    ffmpeg_decode(&b.http_url("live/hooks.flv"), 2);
    ffmpeg_decode(&c.rtmp_url("live/hooks"), 2);
    drop(push);
    receiver.wait_for("push_end", 1);
    receiver.wait_for("play_stop", 2);
    std::thread::sleep(Duration::from_secs(2));
    let bodies = receiver.bodies.lock().unwrap().clone();
    let count = |event: &str| {
        bodies
            .iter()
            .filter(|v| v["event"] == event && v["stream_id"] == "hooks")
            .count()
    };
    assert_eq!(count("push_start"), 1, "{bodies:?}");
    assert_eq!(count("push_end"), 1, "{bodies:?}");
    assert_eq!(
        count("play_start"),
        2,
        "the two viewers, not the relays: {bodies:?}"
    );
}

/// The origin is killed (`kill -9`) while the managed publisher (`mplive push --api`, the Vhall SDK's behaviour)
/// publishes there: the SDK endpoint hands it a live node, it publishes there, and the players on the surviving
/// edges keep their connections and see monotonic timestamps, the first frame within 5 s of the new publish.
#[test]
fn the_origin_dies_and_the_stream_moves_with_its_players() {
    let Some(mut cluster) =
        Cluster::start("the_origin_dies_and_the_stream_moves_with_its_players", "")
    else {
        return;
    };
    let b = cluster.node(1);
    let receiver = Receiver::start();
    b.cli_ok(&["app", "set", "live", "--callback-url", &receiver.url()]);
    std::thread::sleep(Duration::from_millis(600));
    let token = b.cli_ok(&[
        "token",
        "--app",
        "live",
        "--channel",
        "moves",
        "--account",
        "alice",
    ]);
    let fixture = fixture_av();
    // The SDK endpoint of B picks the least loaded node: all idle, the lowest id, A.
    let _push = Peer(
        Command::new(env!("CARGO_BIN_EXE_mplive"))
            .args(["push", "--api", &format!("http://{}", b.http)])
            .args(["--app", "live", "--channel", "moves", "--account", "alice"])
            .args(["--token", token.trim(), "--source"])
            .arg(&fixture)
            .args([
                "--reconnect-every",
                "1",
                "--retry-interval-ms",
                "300",
                "--retries",
                "30",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mplive push"),
    );
    wait_origin(b, "moves", &cluster.id(0));
    let on_b = FlvPlayer::start(&cluster.node(1).http, "/live/moves.flv");
    let on_c = FlvPlayer::start(&cluster.node(2).http, "/live/moves.flv");
    on_b.wait_frames(20, Duration::from_secs(10));
    on_c.wait_frames(20, Duration::from_secs(10));

    let killed = Instant::now();
    cluster.nodes[0].kill();
    let b = cluster.node(1);
    let moved = wait_api(
        b,
        "/v1/streams/live/moves",
        "the stream on a surviving node",
        |v| v["origin"] != cluster.id(0).as_str() && !v["origin"].is_null() && v["state"] == "live",
    );
    let republished = Instant::now();
    eprintln!(
        "publish moved to {} after {:?}",
        moved["origin"],
        republished - killed
    );
    std::thread::sleep(Duration::from_secs(5));
    for (name, player) in [("B", &on_b), ("C", &on_c)] {
        let tags = player.tags();
        let after: Vec<_> = tags.iter().filter(|t| t.0 > republished).collect();
        assert!(
            after.len() > 25,
            "{name}'s player plays on after the move: {} frames",
            after.len()
        );
        for w in tags.windows(2) {
            assert!(
                w[1].1 >= w[0].1,
                "{name}: timestamps monotonic: {} then {}",
                w[0].1,
                w[1].1
            );
        }
        // The stall: the longest wait between two frames; it ends within 5 s of the new publish.
        let (gap, resumed) = tags
            .windows(2)
            .map(|w| (w[1].0 - w[0].0, w[1].0))
            .max_by_key(|g| g.0)
            .unwrap();
        eprintln!(
            "{name}: longest gap {gap:?}, resumed {:?} after the new publish",
            resumed.saturating_duration_since(republished)
        );
        assert!(
            resumed.saturating_duration_since(republished) <= Duration::from_secs(5),
            "{name}: frames again within 5 s of the new publish (gap {gap:?})"
        );
    }
    // Once the dead node's record is gone (or stale), a viewer's SDK instance points at a live node: any node plays
    // any stream.
    let dead = cluster.id(0);
    wait_api(b, "/v1/nodes", "the killed node leaves the list", |v| {
        v["nodes"]
            .as_array()
            .is_some_and(|nodes| nodes.iter().all(|n| n["id"] != dead.as_str()))
    });
    let viewer = b.cli_ok(&[
        "token",
        "--app",
        "live",
        "--channel",
        "moves",
        "--account",
        "bob",
        "--role",
        "viewer",
    ]);
    let body = serde_json::json!({"appId": "live", "channelId": "moves", "accountId": "bob", "token": viewer.trim()});
    let (status, answer) = http_request(
        &b.http,
        "POST",
        "/sdk/v1/player/instance",
        &[("Content-Type", "application/json")],
        Some(&body.to_string()),
    );
    assert_eq!(status, 200, "{answer}");
    let flv = json(&answer)["playUrls"]["flv"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let live_http: Vec<&str> = cluster.nodes[1..].iter().map(|n| n.http.as_str()).collect();
    assert!(
        live_http.iter().any(|h| flv.contains(h)),
        "the viewer is sent to a live node ({live_http:?}): {flv}"
    );
    ffmpeg_decode(&flv, 2);

    // The killed node's session is ended by the node that took the stream over: one push_end per session.
    std::thread::sleep(Duration::from_secs(1));
    let bodies = receiver.bodies.lock().unwrap().clone();
    let moves: Vec<_> = bodies
        .iter()
        .filter(|v| v["stream_id"] == "moves")
        .collect();
    let sessions: std::collections::HashSet<_> = moves
        .iter()
        .filter(|v| v["event"] == "push_start" || v["event"] == "republish")
        .filter_map(|v| v["sequence"].as_str())
        .collect();
    let ends: Vec<_> = moves.iter().filter(|v| v["event"] == "push_end").collect();
    let on_behalf: Vec<_> = ends
        .iter()
        .filter(|v| {
            v["errmsg"].as_str().unwrap_or("").contains("is gone")
                && v["sequence"].as_str().is_some_and(|q| sessions.contains(q))
        })
        .collect();
    assert_eq!(
        on_behalf.len(),
        1,
        "the killed node's session is ended once: {moves:?}"
    );
    // Its interruption record too, in the shared database: reason node_lost, the dead node's, paired with that
    // push_end, with the publisher's address from the dead node's stored session.
    let (status, body) = b.get("/v1/interruptions?app=live&stream=moves");
    assert_eq!(status, 200, "{body}");
    let records = json(&body)["interruptions"].as_array().unwrap().clone();
    let lost: Vec<_> = records
        .iter()
        .filter(|r| r["reason"] == "node_lost")
        .collect();
    assert_eq!(lost.len(), 1, "{records:?}");
    assert_eq!(lost[0]["sequence"], on_behalf[0]["sequence"], "{records:?}");
    assert_eq!(lost[0]["node"], dead.as_str(), "{records:?}");
    assert_eq!(lost[0]["errcode"], 1014, "{records:?}");
    assert_eq!(lost[0]["publisher"], "127.0.0.1", "{records:?}");
    for session in &sessions {
        let n = ends
            .iter()
            .filter(|v| v["sequence"].as_str() == Some(*session))
            .count();
        assert!(n <= 1, "session {session} ended {n} times: {moves:?}");
    }
}

/// A redis-server of one test's own (so it can be stopped and restarted without disturbing the others), on a
/// The openIds in a `joined` or `membersChanged` message.
fn open_ids(v: &Value) -> Vec<&str> {
    v["openIdList"]
        .as_array()
        .unwrap_or_else(|| panic!("no openIdList in {v}"))
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect()
}

/// A signed join of `open_id` to `group` of `app`, made with a session key created through `server`.
fn room_join(server: &Server, app: &str, group: &str, open_id: &str) -> Value {
    let key = session_key_in(server, app, open_id);
    join_msg_in(
        app,
        group,
        open_id,
        &key,
        &nonce(),
        &control::now_unix().to_string(),
        "video",
    )
}

/// A room with members on two nodes: both see each other's joins, streams and leaves (the members reaching B are
/// proxied to A, which hosts the room), a member's stream plays from a third node through the relay, resume works
/// through another node, the daily quota and "one room per openId" hold across nodes, and a room whose node died
/// opens again elsewhere without its dead members.
#[test]
fn a_room_spans_nodes() {
    require("ffmpeg");
    let Some(mut cluster) = Cluster::start(
        "a_room_spans_nodes",
        "[rooms]\nmedia_poll_ms = 200\ndaily_room_quota = 2\n",
    ) else {
        return;
    };
    let (a, b, c) = (cluster.node(0), cluster.node(1), cluster.node(2));
    let app = format!("wxroom{}", rand_suffix());
    let (status, body) = a.api(
        "POST",
        "/v1/apps",
        Some(&json!({ "name": app }).to_string()),
    );
    assert!(status == 201 || status == 200, "{status} {body}");
    // Every node's catalog learns of the app (a notification over Redis).
    std::thread::sleep(Duration::from_millis(1500));

    // x joins through A: A hosts the room. y joins through B and is proxied to A.
    let mut x = Ws::connect(a);
    let jx = x.request(room_join(a, &app, "g", "x"));
    assert_eq!(jx["type"], "joined", "{jx}");
    let mut y = Ws::connect(b);
    let jy = y.request(room_join(b, &app, "g", "y"));
    assert_eq!(jy["type"], "joined", "{jy}; B's log:\n{}", b.log());
    assert_eq!(open_ids(&jy), ["x", "y"]);
    let seen = x.expect("membersChanged");
    assert_eq!(seen["members"][0]["openId"], "y", "{seen}");
    assert!(
        b.log().contains("proxied to the node hosting its room"),
        "B proxied y's socket"
    );
    // A client that forges the hop mark (to be served by a node that does not host its room) is refused.
    {
        use tungstenite::client::IntoClientRequest;
        let mut forged = format!("ws://{}/rooms/v1/ws", b.http)
            .into_client_request()
            .unwrap();
        forged
            .headers_mut()
            .insert("x-mplive-room-hop", "9999999999.00".parse().unwrap());
        match tungstenite::client(forged, TcpStream::connect(&b.http).unwrap()) {
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp))) => {
                assert_eq!(resp.status(), 403)
            }
            Err(e) => panic!("forged hop: {e}"),
            Ok(_) => panic!("a forged room hop was accepted"),
        }
    }
    // Members push to the room's home, whichever node their socket reached.
    let push_y = jy["pushUrl"].as_str().unwrap();
    assert!(push_y.contains(&a.rtmp), "y pushes to A: {push_y}");

    // y's stream reaches x as room events; y's play URL plays from C through the relay.
    let fixture = fixture_av();
    let _py = ffmpeg_push(&fixture, push_y);
    let ev = x.expect_event(1031);
    assert_eq!(ev["userlist"][0]["userid"], "y", "{ev}");
    let ev = x.expect_event(1033);
    assert_eq!(ev["userid"], "y", "{ev}");
    let flv = seen["members"][0]["playUrls"]["flv"].as_str().unwrap();
    let on_c = flv.replacen(&a.http, &c.http, 1);
    assert_ne!(on_c, flv, "the play URL names A: {flv}");
    ffmpeg_decode(&on_c, 2);

    // y's socket drops (a network change); it resumes through C, which routes the token to A.
    let token = jy["resumeToken"].as_str().unwrap().to_string();
    drop(y);
    let mut y = Ws::connect(c);
    let r = y.request(json!({"type":"resume","reqId":2,"resumeToken":token}));
    assert_eq!(r["type"], "joined", "{r}; C's log:\n{}", c.log());
    assert_eq!(r["resumed"], true, "{r}");

    // One room per openId across nodes: x (in g on A) cannot join another group through B.
    let mut x2 = Ws::connect(b);
    let r = x2.request(room_join(b, &app, "other", "x"));
    assert_eq!(r["errCode"], rooms::codes::ALREADY_IN_ROOM, "{r}");
    assert!(r["errMsg"].as_str().unwrap().contains("group g"), "{r}");
    drop(x2);

    // The quota (2 rooms a day per app) holds across nodes: in a second app, h is opened through C (hosted by
    // C) and i through B (hosted by B); j through A is refused.
    let app2 = format!("{app}q");
    let (status, body) = a.api(
        "POST",
        "/v1/apps",
        Some(&json!({ "name": app2 }).to_string()),
    );
    assert!(status == 201 || status == 200, "{status} {body}");
    std::thread::sleep(Duration::from_millis(1500));
    let mut holders = Vec::new();
    for (node, group, member) in [(c, "h", "z1"), (b, "i", "z2")] {
        let mut ws = Ws::connect(node);
        let r = ws.request(room_join(node, &app2, group, member));
        assert_eq!(r["type"], "joined", "{r}");
        holders.push(ws);
    }
    let mut refused = Ws::connect(a);
    let r = refused.request(room_join(a, &app2, "j", "z3"));
    assert_eq!(r["errCode"], rooms::codes::QUOTA_EXHAUSTED, "{r}");

    // y leaves: x sees it.
    assert_eq!(
        y.request(json!({"type":"exit","reqId":3}))["type"],
        "exited"
    );
    loop {
        let v = x.expect("membersChanged");
        if open_ids(&v) == ["x"] {
            break;
        }
    }

    // A dies with the room g: x's socket ends. x joins another group through C: the dead room's membership does
    // not hold it ("already in group g" would).
    cluster.nodes[0].kill();
    let c = cluster.node(2);
    wait_api(c, "/v1/nodes", "A leaves the node list", |v| {
        v["nodes"].as_array().is_some_and(|n| n.len() == 2)
    });
    x.expect_close();
    let mut x = Ws::connect(c);
    let r = x.request(room_join(c, &app, "k", "x"));
    assert_eq!(r["type"], "joined", "x is not held by the dead room g: {r}");
    assert_eq!(open_ids(&r), ["x"]);
    drop(holders);
}

/// fixed port so that it comes back at the same address.
struct OwnRedis {
    child: std::process::Child,
    port: u16,
}

impl OwnRedis {
    fn start(port: u16) -> OwnRedis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        OwnRedis { child, port }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Redis stopped under load: the streams a node holds keep playing (locally and through an edge's relay, which
/// talks to the origin directly), what needs Redis is refused with `cluster_unavailable`, and once Redis is back
/// (empty) the nodes register again and the claims come back, so one publisher per stream holds again.
#[test]
fn redis_stops_and_comes_back_under_load() {
    let Some((_, postgres)) = engines("redis_stops_and_comes_back_under_load") else {
        return;
    };
    require("redis-server");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut redis = OwnRedis::start(port);
    let cluster = Cluster::start_on(&redis.url(), &postgres, 2, "");
    let (a, b) = (cluster.node(0), cluster.node(1));
    let fixture = fixture_av();
    let _push = ffmpeg_push(&fixture, &a.rtmp_url("live/steady"));
    a.wait_live("live/steady");
    let local = FlvPlayer::start(&a.http, "/live/steady.flv");
    let remote = FlvPlayer::start(&b.http, "/live/steady.flv");
    local.wait_frames(10, Duration::from_secs(10));
    remote.wait_frames(10, Duration::from_secs(10));

    redis.kill();
    std::thread::sleep(Duration::from_secs(3));
    let (before_local, before_remote) = (local.tags().len(), remote.tags().len());
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        local.tags().len() > before_local + 25,
        "the origin's player plays on without Redis"
    );
    assert!(
        remote.tags().len() > before_remote + 25,
        "the edge's player plays on without Redis"
    );
    let metrics = a.get("/metrics").1;
    assert!(metrics.contains("mplive_cluster_redis_up 0"), "{metrics}");
    // A new publish cannot be decided without Redis: refused with the reason.
    let out = ffmpeg_push_for(&fixture, &b.rtmp_url("live/other"), 2);
    assert!(!out.status.success(), "a publish without Redis is refused");
    assert!(
        b.log().contains("cluster_unavailable"),
        "B's log:\n{}",
        b.log()
    );
    assert!(
        a.log().contains("Redis does not answer"),
        "A's log:\n{}",
        a.log()
    );

    let _redis = OwnRedis::start(port);
    wait_origin(b, "steady", &cluster.id(0));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !a.log().contains("claim restored") {
        assert!(
            Instant::now() < deadline,
            "A restores its claim; log:\n{}",
            a.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        a.log().contains("Redis answers again"),
        "A's log:\n{}",
        a.log()
    );
    // The claim holds again: a second publisher on B is refused as busy.
    let out = ffmpeg_push_for(&fixture, &b.rtmp_url("live/steady"), 2);
    assert!(
        !out.status.success(),
        "the restored claim refuses a second publisher"
    );
    assert!(b.log().contains("stream_busy"), "B's log:\n{}", b.log());
    assert!(
        local.tags().len() > before_local + 50,
        "and the origin's player never stopped"
    );
}

/// `scripts/postgres.sh start|stop DIR` on a pinned port; returns the URL (start) or nothing (stop).
fn postgres_script(command: &str, dir: &std::path::Path, port: u16) -> String {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/postgres.sh");
    let (out, timed_out) = run_with_timeout(
        Command::new("bash")
            .arg(script)
            .arg(command)
            .arg(dir)
            .env("PG_PORT", port.to_string()),
        Duration::from_secs(60),
    );
    assert!(
        !timed_out && out.status.success(),
        "scripts/postgres.sh {command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// PostgreSQL stopped under load: the apps already loaded keep deciding access (a new publish is accepted),
/// API writes fail with a clear 503, and the webhooks raised meanwhile wait in memory and are stored and sent
/// once the database is back.
#[test]
fn postgres_stops_and_comes_back() {
    let Some((redis, _)) = engines("postgres_stops_and_comes_back") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let pg_dir = dir.path().join("pg");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let postgres = postgres_script("start", &pg_dir, port);
    struct Stop<'a>(&'a std::path::Path);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let script =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/postgres.sh");
            let _ = Command::new("bash")
                .arg(script)
                .arg("stop")
                .arg(self.0)
                .output();
        }
    }
    let _stop = Stop(&pg_dir);
    let cluster = Cluster::start_on(&redis, &postgres, 2, "");
    let (a, b) = (cluster.node(0), cluster.node(1));
    let receiver = Receiver::start();
    a.cli_ok(&["app", "set", "live", "--callback-url", &receiver.url()]);
    std::thread::sleep(Duration::from_millis(600));
    let fixture = fixture_av();
    let _push = ffmpeg_push(&fixture, &a.rtmp_url("live/pgdown"));
    a.wait_live("live/pgdown");
    receiver.wait_for("push_start", 1);
    let player = FlvPlayer::start(&b.http, "/live/pgdown.flv");
    player.wait_frames(10, Duration::from_secs(10));

    postgres_script("stop", &pg_dir, port);
    let _second = ffmpeg_push(&fixture, &b.rtmp_url("live/pgdown2"));
    wait_origin(a, "pgdown2", &cluster.id(1));
    let (status, body) = a.api(
        "POST",
        "/v1/streams/live/anything/forbid",
        Some(r#"{"seconds": 60}"#),
    );
    assert_eq!(status, 503, "an API write without the database: {body}");
    assert!(body.contains("database does not answer"), "{body}");
    let frames = player.tags().len();
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        player.tags().len() > frames + 25,
        "the relayed player plays on"
    );

    postgres_script("start", &pg_dir, port);
    let starts = receiver.wait_for_within("push_start", 2, Duration::from_secs(30));
    assert!(
        starts.iter().any(|v| v["stream_id"] == "pgdown2"),
        "the push_start raised while the database was down is delivered once it is back: {starts:?}"
    );
}
