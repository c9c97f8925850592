//! The store against a real Redis, the one named by `MPLIVE_TEST_REDIS_URL` (start one with
//! `scripts/redis.sh start DIR`). Without it these tests skip, or fail when peers are required
//! (`MPLIVE_REQUIRE_PEERS=1`, as in `./scripts/test`). Every test uses its own node ids and stream names, so they
//! share one Redis and run in parallel.

#[allow(unreachable_pub, dead_code)]
#[path = "../../../../../tests/peers.rs"]
mod peers;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::*;

/// A store on the test Redis, or `None` (the skip recorded) when there is none.
async fn test_store(test: &str) -> Option<Store> {
    match std::env::var("MPLIVE_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(
            Store::connect(&url)
                .await
                .expect("connect to MPLIVE_TEST_REDIS_URL"),
        ),
        _ => {
            peers::skip_for_missing_peer(
                test,
                "Redis (start one with `scripts/redis.sh start DIR` and export MPLIVE_TEST_REDIS_URL)",
                Some("MPLIVE_REQUIRE_REDIS"),
            );
            None
        }
    }
}

/// A name no other test (or earlier run) uses.
fn unique(what: &str) -> String {
    format!("{what}-{:016x}", rand::random::<u64>())
}

/// A record for node `id`.
fn record(id: &str) -> NodeRecord {
    NodeRecord {
        id: id.to_owned(),
        rtmp: "127.0.0.1:1935".to_owned(),
        http: "127.0.0.1:8080".to_owned(),
        version: "test".to_owned(),
        started_at_ms: now_ms(),
        heartbeat_at_ms: now_ms(),
        load: NodeLoad {
            streams: 1,
            players: 3,
            egress_mbps: 2.5,
            cpu_percent: 12.0,
        },
        streams: vec![NodeStream {
            app: "live".to_owned(),
            stream: "s".to_owned(),
            origin: true,
            players: 3,
            rtmp_players: 1,
            flv_players: 1,
            hls_players: 1,
            stats: None,
        }],
    }
}

/// A claim by `node` with both times at `at_ms`.
fn claim_by(node: &str, session: &str, at_ms: i64) -> Claim {
    Claim {
        node: node.to_owned(),
        session: session.to_owned(),
        claimed_at_ms: at_ms,
        media_at_ms: at_ms,
    }
}

const TTL: Duration = Duration::from_secs(30);
const IDLE: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_claim_is_busy_for_another_live_node_and_overwritten_by_its_own() {
    let Some(store) = test_store(
        "cluster::store a_claim_is_busy_for_another_live_node_and_overwritten_by_its_own",
    )
    .await
    else {
        return;
    };
    let (a, b) = (unique("node-a"), unique("node-b"));
    let stream = format!("live/{}", unique("s"));
    store.register_node(&record(&a), TTL).await.unwrap();
    let now = now_ms();

    let first = claim_by(&a, "s1", now);
    assert_eq!(
        store.claim(&stream, &first, TTL, IDLE).await.unwrap(),
        ClaimOutcome::Claimed
    );
    assert_eq!(store.holder(&stream).await.unwrap(), Some(first.clone()));

    // Another node, while A is alive and its media fresh: busy, and the claim stays A's.
    let other = claim_by(&b, "s2", now + 1000);
    assert_eq!(
        store.claim(&stream, &other, TTL, IDLE).await.unwrap(),
        ClaimOutcome::Busy {
            holder: first.clone()
        }
    );
    assert_eq!(store.holder(&stream).await.unwrap(), Some(first));

    // The same node again (a republish there): overwritten.
    let again = claim_by(&a, "s3", now + 2000);
    assert_eq!(
        store.claim(&stream, &again, TTL, IDLE).await.unwrap(),
        ClaimOutcome::Claimed
    );
    assert_eq!(store.holder(&stream).await.unwrap(), Some(again));
    store.remove_node(&a).await.unwrap();
}

#[tokio::test]
async fn an_idle_claim_is_taken_over() {
    let Some(store) = test_store("cluster::store an_idle_claim_is_taken_over").await else {
        return;
    };
    let (a, b) = (unique("node-a"), unique("node-b"));
    let stream = format!("live/{}", unique("s"));
    store.register_node(&record(&a), TTL).await.unwrap();
    let now = now_ms();
    let old = Claim {
        media_at_ms: now - 4_000,
        ..claim_by(&a, "s1", now - 60_000)
    };
    store.claim(&stream, &old, TTL, IDLE).await.unwrap();

    // 4 s without media is not yet idle at 5 s; at 5 s it is.
    let early = claim_by(&b, "s2", now);
    assert!(matches!(
        store.claim(&stream, &early, TTL, IDLE).await.unwrap(),
        ClaimOutcome::Busy { .. }
    ));
    let late = claim_by(&b, "s2", now + 1_000);
    assert_eq!(
        store.claim(&stream, &late, TTL, IDLE).await.unwrap(),
        ClaimOutcome::TookOver { from: old }
    );
    assert_eq!(store.holder(&stream).await.unwrap(), Some(late));
    store.remove_node(&a).await.unwrap();
}

#[tokio::test]
async fn a_claim_of_a_dead_node_is_taken_over() {
    let Some(store) = test_store("cluster::store a_claim_of_a_dead_node_is_taken_over").await
    else {
        return;
    };
    let (a, b) = (unique("node-a"), unique("node-b"));
    let stream = format!("live/{}", unique("s"));
    store.register_node(&record(&a), TTL).await.unwrap();
    let now = now_ms();
    let held = claim_by(&a, "s1", now);
    store.claim(&stream, &held, TTL, IDLE).await.unwrap();

    // Media is fresh, but node A's record is gone: it died.
    store.remove_node(&a).await.unwrap();
    let taker = claim_by(&b, "s2", now + 10);
    assert_eq!(
        store.claim(&stream, &taker, TTL, IDLE).await.unwrap(),
        ClaimOutcome::TookOver { from: held }
    );
    assert_eq!(store.holder(&stream).await.unwrap(), Some(taker));
}

#[tokio::test]
async fn refresh_holds_restores_and_loses() {
    let Some(store) = test_store("cluster::store refresh_holds_restores_and_loses").await else {
        return;
    };
    let (a, b) = (unique("node-a"), unique("node-b"));
    let stream = format!("live/{}", unique("s"));
    let key = stream_key(&stream);
    let now = now_ms();
    store
        .claim(
            &stream,
            &claim_by(&a, "s1", now),
            Duration::from_secs(3),
            IDLE,
        )
        .await
        .unwrap();

    // Held: the TTL renewed and the media time recorded.
    assert_eq!(
        store
            .refresh(&stream, &a, "s1", Some(now + 500), TTL)
            .await
            .unwrap(),
        RefreshOutcome::Held
    );
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut store.conn.clone())
        .await
        .unwrap();
    assert!(ttl > 10_000, "PTTL {ttl} after a refresh with a 30 s TTL");
    let held = store.holder(&stream).await.unwrap().unwrap();
    assert_eq!((held.claimed_at_ms, held.media_at_ms), (now, now + 500));
    // Without a media time, only the TTL changes.
    assert_eq!(
        store.refresh(&stream, &a, "s1", None, TTL).await.unwrap(),
        RefreshOutcome::Held
    );
    assert_eq!(store.holder(&stream).await.unwrap(), Some(held));

    // Gone (as after a Redis restart): recreated as ours.
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut store.conn.clone())
        .await
        .unwrap();
    assert_eq!(
        store
            .refresh(&stream, &a, "s1", Some(now + 900), TTL)
            .await
            .unwrap(),
        RefreshOutcome::Restored
    );
    assert_eq!(
        store.holder(&stream).await.unwrap(),
        Some(claim_by(&a, "s1", now + 900))
    );
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut store.conn.clone())
        .await
        .unwrap();
    let before = now_ms();
    assert_eq!(
        store.refresh(&stream, &a, "s1", None, TTL).await.unwrap(),
        RefreshOutcome::Restored
    );
    let restored = store.holder(&stream).await.unwrap().unwrap();
    assert!(restored.claimed_at_ms >= before && restored.media_at_ms == restored.claimed_at_ms);

    // Someone else's (another node, or another session of ours): lost, unchanged.
    let theirs = claim_by(&b, "s9", now + 2_000);
    store.claim(&stream, &theirs, TTL, IDLE).await.unwrap();
    assert_eq!(
        store
            .refresh(&stream, &a, "s1", Some(now + 3_000), TTL)
            .await
            .unwrap(),
        RefreshOutcome::Lost {
            holder: theirs.clone()
        }
    );
    assert_eq!(
        store.refresh(&stream, &b, "s1", None, TTL).await.unwrap(),
        RefreshOutcome::Lost {
            holder: theirs.clone()
        }
    );
    assert_eq!(store.holder(&stream).await.unwrap(), Some(theirs));
}

#[tokio::test]
async fn only_the_owner_releases() {
    let Some(store) = test_store("cluster::store only_the_owner_releases").await else {
        return;
    };
    let (a, b) = (unique("node-a"), unique("node-b"));
    let stream = format!("live/{}", unique("s"));
    store
        .claim(&stream, &claim_by(&a, "s1", now_ms()), TTL, IDLE)
        .await
        .unwrap();
    assert!(!store.release(&stream, &b, "s1").await.unwrap());
    assert!(!store.release(&stream, &a, "s2").await.unwrap());
    assert!(store.holder(&stream).await.unwrap().is_some());
    assert!(store.release(&stream, &a, "s1").await.unwrap());
    assert_eq!(store.holder(&stream).await.unwrap(), None);
    assert!(!store.release(&stream, &a, "s1").await.unwrap());
}

#[tokio::test]
async fn a_corrupt_claim_is_an_error_naming_the_key() {
    let Some(store) = test_store("cluster::store a_corrupt_claim_is_an_error_naming_the_key").await
    else {
        return;
    };
    let stream = format!("live/{}", unique("s"));
    let key = stream_key(&stream);
    let _: () = redis::cmd("HSET")
        .arg(&key)
        .arg(&[
            "node",
            "x",
            "session",
            "y",
            "claimed_at_ms",
            "soon",
            "media_at_ms",
            "1",
        ])
        .query_async(&mut store.conn.clone())
        .await
        .unwrap();
    let err = store.holder(&stream).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{text}");
    assert!(
        text.contains(&key) && text.contains("claimed_at_ms") && text.contains("soon"),
        "{text}"
    );
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut store.conn.clone())
        .await
        .unwrap();
}

#[tokio::test]
async fn nodes_are_listed_until_their_ttl_runs_out() {
    let Some(store) = test_store("cluster::store nodes_are_listed_until_their_ttl_runs_out").await
    else {
        return;
    };
    let (a, b, c) = (unique("node-a"), unique("node-b"), unique("node-c"));
    let short_lived = record(&b);
    store
        .register_node(&short_lived, Duration::from_millis(300))
        .await
        .unwrap();
    store.register_node(&record(&a), TTL).await.unwrap();
    store.register_node(&record(&c), TTL).await.unwrap();
    let ours = |nodes: Vec<NodeRecord>| -> Vec<String> {
        nodes
            .into_iter()
            .map(|n| n.id)
            .filter(|id| [&a, &b, &c].contains(&id))
            .collect()
    };
    assert_eq!(
        ours(store.nodes().await.unwrap()),
        vec![a.clone(), b.clone(), c.clone()]
    );
    assert_eq!(store.node(&b).await.unwrap(), Some(short_lived));
    // Other tests share this Redis: the count covers at least these three.
    assert!(store.node_count().await.unwrap() >= 3);

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        ours(store.nodes().await.unwrap()),
        vec![a.clone(), c.clone()]
    );
    assert_eq!(store.node(&b).await.unwrap(), None);
    // Pruned from the listing set, not just hidden.
    let score: Option<f64> = redis::cmd("ZSCORE")
        .arg(nodes_key())
        .arg(&b)
        .query_async(&mut store.conn.clone())
        .await
        .unwrap();
    assert_eq!(score, None);

    store.remove_node(&a).await.unwrap();
    assert_eq!(ours(store.nodes().await.unwrap()), vec![c.clone()]);
    assert_eq!(store.node(&a).await.unwrap(), None);
    store.remove_node(&c).await.unwrap();
}

#[tokio::test]
async fn the_first_cluster_secret_wins() {
    let Some(store) = test_store("cluster::store the_first_cluster_secret_wins").await else {
        return;
    };
    // The key is shared by every test run on this Redis: whatever is stored, it stays.
    let first = store.cluster_secret(&unique("secret")).await.unwrap();
    assert!(!first.is_empty());
    assert_eq!(store.cluster_secret(&unique("other")).await.unwrap(), first);
    let _: () = redis::cmd("DEL")
        .arg(format!("{PREFIX}cluster:secret"))
        .query_async(&mut store.conn.clone())
        .await
        .unwrap();
    let mine = unique("secret");
    assert_eq!(store.cluster_secret(&mine).await.unwrap(), mine);
    assert_eq!(store.cluster_secret(&unique("later")).await.unwrap(), mine);
}

/// Sends `msg` until the listener behind `rx` hands it over (pub/sub drops what is sent before a subscription),
/// within 10 s.
async fn deliver(
    store: &Store,
    rx: &mut mpsc::UnboundedReceiver<ControlMessage>,
    msg: &ControlMessage,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        // A send may fail while the manager reconnects; the next round retries.
        let _ = store.send(msg).await;
        let wait = tokio::time::sleep(Duration::from_millis(200));
        tokio::pin!(wait);
        loop {
            tokio::select! {
                () = &mut wait => break,
                got = rx.recv() => {
                    if got.as_ref() == Some(msg) {
                        return;
                    }
                }
            }
        }
    }
    panic!("{msg:?} was not delivered within 10 s");
}

#[tokio::test]
async fn control_messages_arrive_and_the_listener_outlives_a_killed_connection() {
    let Some(store) = test_store(
        "cluster::store control_messages_arrive_and_the_listener_outlives_a_killed_connection",
    )
    .await
    else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let task = store.listen(
        Arc::new(move |msg| {
            let _ = tx.send(msg);
        }),
        shutdown.clone(),
    );
    let kick = |reason: &str| ControlMessage::Kick {
        app: "live".to_owned(),
        stream: unique("s"),
        reason: reason.to_owned(),
    };
    deliver(&store, &mut rx, &kick("kick")).await;
    deliver(&store, &mut rx, &ControlMessage::Catalog).await;

    // Garbage is skipped, not fatal.
    let _: i64 = redis::cmd("PUBLISH")
        .arg(control_channel())
        .arg("{\"kind\":\"reboot\"}")
        .query_async(&mut store.conn.clone())
        .await
        .unwrap();
    deliver(&store, &mut rx, &kick("forbid")).await;

    let killed: i64 = redis::cmd("CLIENT")
        .arg(&["KILL", "TYPE", "pubsub"])
        .query_async(&mut store.conn.clone())
        .await
        .unwrap();
    assert!(
        killed >= 1,
        "CLIENT KILL TYPE pubsub killed {killed} clients"
    );
    deliver(&store, &mut rx, &kick("takeover")).await;

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("the listener stops on shutdown")
        .expect("the listener does not panic");
}

/// A redis-server of this test's own, on `port`, so that it can be restarted without disturbing the shared one.
fn own_redis(port: u16, dir: &std::path::Path) -> std::process::Child {
    std::process::Command::new("redis-server")
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start redis-server (installed along with the Redis of MPLIVE_TEST_REDIS_URL)")
}

/// Waits until the Redis on `port` answers, within 10 s.
async fn until_up(port: u16) {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    for _ in 0..100 {
        if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
            if redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .is_ok()
            {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("redis-server on port {port} did not answer within 10 s");
}

#[tokio::test]
async fn the_store_and_the_listener_outlive_a_redis_restart() {
    // Runs only where the shared Redis does: that is where redis-server is installed.
    if test_store("cluster::store the_store_and_the_listener_outlive_a_redis_restart")
        .await
        .is_none()
    {
        return;
    }
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let dir = tempfile::tempdir().expect("temporary directory");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut server = own_redis(port, dir.path());
    until_up(port).await;
    let store = Store::connect(&format!("redis://127.0.0.1:{port}"))
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let task = store.listen(
        Arc::new(move |msg| {
            let _ = tx.send(msg);
        }),
        shutdown.clone(),
    );
    deliver(&store, &mut rx, &ControlMessage::Catalog).await;
    let stream = format!("live/{}", unique("s"));
    store
        .claim(&stream, &claim_by("a", "s1", now_ms()), TTL, IDLE)
        .await
        .unwrap();

    server.kill().expect("stop our redis-server");
    server.wait().expect("reap our redis-server");
    // While it is down, commands fail within the response timeout rather than hang.
    let started = std::time::Instant::now();
    assert!(store.holder(&stream).await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );

    // Down long enough for the listener to fail a few reconnects (after 100, 200 and 400 ms).
    tokio::time::sleep(Duration::from_millis(800)).await;

    let mut server = own_redis(port, dir.path());
    until_up(port).await;
    // The restarted Redis is empty: the claim comes back through refresh. The first command after the outage may
    // still fail while the connection manager reconnects.
    let mut outcome = None;
    for _ in 0..50 {
        if let Ok(o) = store.refresh(&stream, "a", "s1", None, TTL).await {
            outcome = Some(o);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(outcome, Some(RefreshOutcome::Restored));
    deliver(&store, &mut rx, &ControlMessage::Catalog).await;

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("the listener stops on shutdown")
        .expect("the listener does not panic");
    server.kill().expect("stop our redis-server");
    server.wait().expect("reap our redis-server");
}

#[tokio::test]
async fn connecting_to_nothing_fails_quickly_without_the_password() {
    // A port nobody listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let started = std::time::Instant::now();
    let Err(err) = Store::connect(&format!("redis://mplive:hunter2@127.0.0.1:{port}/0")).await
    else {
        panic!("connected to a closed port");
    };
    let text = err.to_string();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn urls_are_shown_without_passwords() {
    assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    assert_eq!(redact("redis://u:p@h:1/2"), "redis://u:***@h:1/2");
    assert_eq!(redact("redis://:p@h:1"), "redis://:***@h:1");
    assert_eq!(redact("redis://p@h"), "redis://***@h");
    assert_eq!(redact("redis://u:p@ss@h/0"), "redis://u:***@h/0");
    assert_eq!(redact("rediss://u:p@h/0?x=a@b"), "rediss://u:***@h/0?x=a@b");
}

// ---- rooms ----

fn room(app: &str, group: &str) -> rooms::RoomKey {
    rooms::RoomKey {
        app: app.to_owned(),
        group: group.to_owned(),
    }
}

/// A join of `open_id` to `group` of `app` with a fresh MAC and nonce, at most 2 members and 2 rooms a day.
fn admit(app: &str, group: &str, open_id: &str) -> rooms::Admit {
    let now = control::now_unix();
    rooms::Admit {
        room: room(app, group),
        open_id: open_id.to_owned(),
        nonce: unique("n"),
        mac: rand::random(),
        expires_unix: now + 300,
        now_unix: now,
        max_per_app: 100,
        limits: rooms::AddLimits {
            max_members: 2,
            daily_room_quota: 2,
            day: now / 86_400,
        },
    }
}

/// [`admit`] with a quota that does not get in the way.
fn roomy(app: &str, group: &str, open_id: &str) -> rooms::Admit {
    let mut a = admit(app, group, open_id);
    a.limits.daily_room_quota = 100;
    a
}

fn added(opened: bool) -> Result<rooms::Added, rooms::AdmitRefused> {
    Ok(rooms::Added {
        opened,
        already_member: false,
    })
}

#[tokio::test]
async fn rooms_admit_holds_size_quota_one_room_per_open_id_and_replays() {
    let Some(store) =
        test_store("cluster::store rooms_admit_holds_size_quota_one_room_per_open_id_and_replays")
            .await
    else {
        return;
    };
    let node = unique("node");
    store.register_node(&record(&node), TTL).await.unwrap();
    let app = unique("app");
    for group in ["g", "h", "i"] {
        assert_eq!(
            store
                .claim_room_home(&room(&app, group), &node)
                .await
                .unwrap(),
            RoomHome::Here
        );
    }
    assert_eq!(
        store.admit_member(&admit(&app, "g", "a")).await.unwrap(),
        added(true)
    );
    assert_eq!(
        store.admit_member(&admit(&app, "g", "b")).await.unwrap(),
        added(false)
    );
    assert_eq!(
        store.admit_member(&admit(&app, "g", "c")).await.unwrap(),
        Err(rooms::AdmitRefused::Add(rooms::AddRefused::Full { max: 2 }))
    );
    assert_eq!(
        store.admit_member(&admit(&app, "g", "a")).await.unwrap(),
        Ok(rooms::Added {
            opened: false,
            already_member: true
        })
    );
    assert_eq!(
        store.admit_member(&admit(&app, "h", "a")).await.unwrap(),
        Err(rooms::AdmitRefused::Add(rooms::AddRefused::InOtherRoom {
            group: "g".into()
        }))
    );
    assert_eq!(
        store.admit_member(&admit(&app, "h", "c")).await.unwrap(),
        added(true)
    );
    assert_eq!(
        store.admit_member(&admit(&app, "i", "d")).await.unwrap(),
        Err(rooms::AdmitRefused::Add(rooms::AddRefused::Quota {
            quota: 2
        }))
    );
    // Replays: the same MAC (any app), the same nonce in the app.
    let first = admit(&app, "h", "e");
    store.admit_member(&first).await.unwrap().ok();
    let same_mac = rooms::Admit {
        nonce: unique("n"),
        room: room(&unique("other-app"), "x"),
        ..first.clone()
    };
    assert_eq!(
        store.admit_member(&same_mac).await.unwrap(),
        Err(rooms::AdmitRefused::Replay(
            rooms::ReplayCheck::SignatureReused
        ))
    );
    let same_nonce = rooms::Admit {
        mac: rand::random(),
        ..first
    };
    assert_eq!(
        store.admit_member(&same_nonce).await.unwrap(),
        Err(rooms::AdmitRefused::Replay(rooms::ReplayCheck::NonceReused))
    );
    // Leaving frees the place; the last member's leave ends the room.
    assert!(store
        .remove_room_member(&room(&app, "g"), "b")
        .await
        .unwrap());
    assert!(!store
        .remove_room_member(&room(&app, "g"), "b")
        .await
        .unwrap());
    assert_eq!(
        store.admit_member(&admit(&app, "g", "f")).await.unwrap(),
        added(false)
    );
    store
        .remove_room_member(&room(&app, "g"), "a")
        .await
        .unwrap();
    store
        .remove_room_member(&room(&app, "g"), "f")
        .await
        .unwrap();
    assert_eq!(store.room_home(&room(&app, "g")).await.unwrap(), None);
    store.remove_node(&node).await.unwrap();
}

#[tokio::test]
async fn a_room_lives_on_one_node_until_that_node_dies() {
    let Some(store) =
        test_store("cluster::store a_room_lives_on_one_node_until_that_node_dies").await
    else {
        return;
    };
    let (a, b) = (unique("node-a"), unique("node-b"));
    store.register_node(&record(&a), TTL).await.unwrap();
    store.register_node(&record(&b), TTL).await.unwrap();
    let app = unique("app");
    let g = room(&app, "g");
    assert_eq!(store.claim_room_home(&g, &a).await.unwrap(), RoomHome::Here);
    assert_eq!(
        store.claim_room_home(&g, &b).await.unwrap(),
        RoomHome::Elsewhere(a.clone())
    );
    assert_eq!(store.room_home(&g).await.unwrap(), Some(a.clone()));
    assert_eq!(
        store.admit_member(&roomy(&app, "g", "m")).await.unwrap(),
        added(true)
    );

    // A dies: its room is purged by the next claim, and its member is free again.
    store.remove_node(&a).await.unwrap();
    assert_eq!(store.room_home(&g).await.unwrap(), None);
    assert_eq!(store.claim_room_home(&g, &b).await.unwrap(), RoomHome::Here);
    assert_eq!(
        store.admit_member(&roomy(&app, "g", "m")).await.unwrap(),
        added(true)
    );

    // A member held by a dead node's room elsewhere is freed when it joins another room.
    let h = room(&app, "h");
    assert_eq!(store.claim_room_home(&h, &a).await.unwrap(), RoomHome::Here);
    assert_eq!(
        store.admit_member(&roomy(&app, "h", "n")).await.unwrap(),
        added(true)
    );
    store.remove_room_member(&g, "m").await.unwrap();
    assert_eq!(store.claim_room_home(&g, &b).await.unwrap(), RoomHome::Here);
    assert_eq!(
        store.admit_member(&roomy(&app, "g", "n")).await.unwrap(),
        Ok(rooms::Added {
            opened: true,
            already_member: false
        }),
        "n's room h has a dead home (A never registered again)"
    );

    // B restarts: the rooms it hosted before go.
    assert_eq!(store.purge_rooms_of(&b).await.unwrap(), 1);
    assert_eq!(store.room_home(&g).await.unwrap(), None);
    store.remove_node(&b).await.unwrap();
}
