//! Interruption records against a real `mplive serve` (docs/api.md#interruptions): one record for each way a push
//! ends (publisher closed, kicked, no data, protocol error, idle takeover, shutdown, kill -9), still there after a
//! restart on the same SQLite file, and pruned after `interruptions.retention_days`. The cluster's `node_lost` is
//! checked in cluster.rs (`the_origin_dies_and_the_stream_moves_with_its_players`).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::pusher::TagPusher;
use common::*;
use serde_json::Value;

/// Short timeouts so that each way of ending happens within seconds.
const CONFIG: &str = "publisher_timeout_secs = 3\n[hub]\npublisher_idle_takeover_ms = 1000\n";

/// The records the API lists for `query` (`app=live&...`).
fn records(server: &Server, query: &str) -> Vec<Value> {
    let (status, body) = server.get(&format!("/v1/interruptions?{query}"));
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["interruptions"].as_array().unwrap().clone()
}

/// Waits until `stream` has a record with `reason`; returns it.
fn wait_record(server: &Server, stream: &str, reason: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = records(server, &format!("app=live&stream={stream}"))
            .into_iter()
            .find(|r| r["reason"] == reason);
        if let Some(r) = found {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "no `{reason}` record for live/{stream}: {:?}\nserver log:\n{}",
            records(server, "app=live"),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A record's shape: the push's app and stream, its times in order, a duration when known, the errcode of its
/// push_end.
fn check(r: &Value, stream: &str, errcode: i64) {
    assert_eq!(r["app"], "live", "{r}");
    assert_eq!(r["stream"], stream, "{r}");
    assert_eq!(r["errcode"], errcode, "{r}");
    assert!(r["sequence"].as_str().is_some_and(|s| s.len() == 16), "{r}");
    assert!(
        r["publisher"]
            .as_str()
            .is_some_and(|p| p.starts_with("127.0.0.1")),
        "{r}"
    );
    let (started, ended) = (
        r["startedMs"].as_i64().unwrap(),
        r["endedMs"].as_i64().unwrap(),
    );
    assert!(started > 1_700_000_000_000 && started <= ended, "{r}");
    if r["reason"] != "restart" {
        let duration = r["durationMs"].as_i64().unwrap();
        assert!(duration > 0 && duration <= ended - started + 50, "{r}");
    }
}

#[test]
fn every_push_end_is_recorded_kept_across_restarts_and_pruned() {
    let mut server = Server::start(CONFIG);
    let fixture = fixture_av();

    // Publisher closed: ffmpeg pushes two seconds and stops.
    let (out, timed_out) = run_with_timeout(
        Command::new("ffmpeg")
            .args(["-v", "error", "-re", "-i"])
            .arg(&fixture)
            .args([
                "-t",
                "2",
                "-c",
                "copy",
                "-f",
                "flv",
                &server.rtmp_url("live/closed"),
            ]),
        Duration::from_secs(20),
    );
    assert!(
        !timed_out && out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check(&wait_record(&server, "closed", "closed"), "closed", 0);

    // Kicked through the API.
    let kicked = ffmpeg_push(&fixture, &server.rtmp_url("live/kicked"));
    server.wait_live("live/kicked");
    let (status, body) = server.api("POST", "/v1/streams/live/kicked/kick", None);
    assert_eq!(status, 200, "{body}");
    let r = wait_record(&server, "kicked", "kicked");
    check(&r, "kicked", 1012);
    drop(kicked);

    // No data: a publisher that goes silent past publisher_timeout_secs.
    let mut quiet = TagPusher::publish(&server.rtmp, "live", "quiet", &fixture);
    quiet.send_while(|t| t.ts < 1000);
    let r = wait_record(&server, "quiet", "no_data");
    check(&r, "quiet", 1013);
    assert!(r["message"].as_str().unwrap().contains("no media"), "{r}");
    drop(quiet);

    // A protocol error: a chunk that continues a chunk stream never started.
    let mut broken = TagPusher::publish(&server.rtmp, "live", "broken", &fixture);
    broken.send_while(|t| t.ts < 500);
    broken.send_raw(&[0xC0 | 50]);
    let r = wait_record(&server, "broken", "error");
    check(&r, "broken", 1014);
    assert!(
        r["message"].as_str().unwrap().contains("protocol error"),
        "{r}"
    );
    drop(broken);

    // Idle takeover: the first publisher stops sending, a second one takes the stream after 1 s.
    let mut first = TagPusher::publish(&server.rtmp, "live", "taken", &fixture);
    first.send_while(|t| t.ts < 1000);
    std::thread::sleep(Duration::from_millis(1500));
    let mut second = TagPusher::publish(&server.rtmp, "live", "taken", &fixture);
    second.send_while(|t| t.ts < 200);
    let r = wait_record(&server, "taken", "takeover");
    check(&r, "taken", 1012);
    drop(second);
    check(&wait_record(&server, "taken", "closed"), "taken", 0);
    drop(first);

    // Shutdown: SIGTERM while ffmpeg pushes.
    let _bye = ffmpeg_push(&fixture, &server.rtmp_url("live/bye"));
    server.wait_live("live/bye");
    assert!(server.terminate("TERM").success());

    // The same SQLite file after a restart: every record is there, the shutdown one too.
    server.spawn();
    check(&wait_record(&server, "bye", "shutdown"), "bye", 1015);
    let all = records(&server, "app=live");
    let mut reasons: Vec<&str> = all.iter().map(|r| r["reason"].as_str().unwrap()).collect();
    reasons.sort_unstable();
    assert_eq!(
        reasons,
        ["closed", "closed", "error", "kicked", "no_data", "shutdown", "takeover"],
        "{all:?}"
    );
    // Newest end first, distinct pushes.
    let ends: Vec<i64> = all.iter().map(|r| r["endedMs"].as_i64().unwrap()).collect();
    assert!(ends.windows(2).all(|w| w[0] >= w[1]), "{ends:?}");

    // kill -9 during a push: the next start records it as cut, with no duration.
    let _cut = ffmpeg_push(&fixture, &server.rtmp_url("live/cut"));
    server.wait_live("live/cut");
    server.kill();
    server.spawn();
    let r = wait_record(&server, "cut", "restart");
    check(&r, "cut", 1019);
    assert!(r["durationMs"].is_null(), "{r}");
    assert_eq!(
        r["publisher"], "127.0.0.1",
        "the address as the push_end stored it: {r}"
    );
    assert_eq!(
        records(&server, "app=live&stream=cut").len(),
        1,
        "one record per push"
    );

    // Filters and their errors.
    let window = format!(
        "app=live&from={}&to={}",
        r["endedMs"].as_i64().unwrap(),
        r["endedMs"].as_i64().unwrap()
    );
    assert_eq!(records(&server, &window).len(), 1, "{window}");
    assert_eq!(records(&server, "app=live&limit=2").len(), 2);
    assert!(
        records(&server, "app=gone").is_empty(),
        "an unknown (deleted) app has none"
    );
    for bad in ["limit=0", "from=2&to=1", "stream=a/b", "reason=closed"] {
        let (status, body) = server.get(&format!("/v1/interruptions?{bad}"));
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _) = http_get(&server.http, "/v1/interruptions");
    assert_eq!(status, 401, "the admin token is needed");

    // Retention: a record older than 30 days (written as a push's end would be) is pruned at the next start;
    // the recent ones stay.
    server.kill();
    write_old_record(&server);
    server.spawn();
    let deadline = Instant::now() + Duration::from_secs(10);
    while records(&server, "app=live&stream=ancient").len() == 1 {
        assert!(
            Instant::now() < deadline,
            "the old record was not pruned:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        records(&server, "app=live").len(),
        8,
        "the recent records stay"
    );
    assert!(
        server.log().contains("old interruption records pruned"),
        "{}",
        server.log()
    );
}

/// Stores the record of a push of `live/ancient` that ended 31 days ago, through the store as the server does.
fn write_old_record(server: &Server) {
    let url = control::Store::sqlite_url(&server.dir.path().join("data"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = control::Store::open(&url).await.unwrap();
        let ended_ms = control::now_ms() - 31 * 86_400_000;
        let record = control::store::Interruption {
            id: 0,
            session: "00000000000a0c1e".into(),
            node: "old".into(),
            app: "live".into(),
            stream: "ancient".into(),
            publisher: "127.0.0.1:1".into(),
            started_ms: ended_ms - 1000,
            ended_ms,
            duration_ms: Some(1000),
            errcode: 0,
            reason: control::store::InterruptReason::Closed,
            message: String::new(),
        };
        let write = control::store::OutboxWrite {
            interruption: Some(record),
            ..Default::default()
        };
        store.write_outbox(&[write]).await.unwrap();
        assert_eq!(
            store
                .interruptions(&control::store::InterruptionFilter {
                    stream: Some("ancient".into()),
                    limit: 10,
                    ..Default::default()
                })
                .await
                .unwrap()
                .len(),
            1
        );
        store.close().await;
    });
}
