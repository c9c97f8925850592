//! One publisher per stream, idle takeover, kick, and the republish grace.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use media::{
    HubConfig, PublishError, Registry, StartPolicy, StreamKey, StreamState, SubscribeError,
    SubscribeOptions, SubscriberEnd,
};
use tokio::time::{sleep, timeout};

fn flv() -> SubscribeOptions {
    SubscribeOptions::new("flv")
}

#[tokio::test(start_paused = true)]
async fn second_publisher_is_refused_while_the_first_is_active() {
    let hub = Registry::new(HubConfig::default());
    let mut first = publish(&hub);
    first.push(video(0, true, 100));
    sleep(Duration::from_secs(4)).await;
    let err = hub.publish(key(), info("10.0.0.2:1935")).unwrap_err();
    assert_eq!(
        err,
        PublishError::AlreadyPublishing {
            key: "live/test".into()
        }
    );
    assert!(err.to_string().contains("already publishing"), "{err}");
    assert_eq!(
        hub.get(&key()).unwrap().publisher.unwrap().addr,
        "10.0.0.1:1935"
    );
}

#[tokio::test(start_paused = true)]
async fn idle_publisher_is_taken_over_and_its_players_follow() {
    let hub = Registry::new(HubConfig::default());
    let mut old = publish(&hub);
    old.push(avc_sequence_header());
    old.push(video(1000, true, 100));
    let mut sub = subscribe(&hub, flv());
    assert_eq!(shape(&drain(&mut sub)), [('V', 0), ('K', 1000)]);
    let kicked = old.kicked();

    sleep(Duration::from_secs(5)).await;
    let mut new = hub
        .publish(key(), info("10.0.0.2:1935"))
        .expect("idle publisher taken over");
    timeout(Duration::from_millis(1), kicked)
        .await
        .expect("old publisher's kicked() resolved");
    assert!(old.is_kicked());

    old.push(video(1040, false, 100)); // ignored
    drop(old); // must not unpublish the new one
    let stats = hub.get(&key()).unwrap();
    assert_eq!(stats.state, StreamState::Live);
    assert_eq!(stats.publisher.unwrap().addr, "10.0.0.2:1935");

    new.push(avc_sequence_header());
    new.push(video(0, true, 100));
    new.push(video(40, false, 100));
    assert_eq!(
        shape(&drain(&mut sub)),
        [('V', 1001), ('K', 1001), ('P', 1041)],
        "continues after 1000 ms"
    );
}

#[tokio::test]
async fn kick_detaches_the_publisher_and_starts_the_grace() {
    let hub = Registry::new(HubConfig::default());
    let mut publisher = publish(&hub);
    publisher.push(video(0, true, 100));
    let _sub = subscribe(&hub, flv());
    assert!(hub.kick(&key()));
    timeout(Duration::from_secs(1), publisher.kicked())
        .await
        .expect("kicked() resolved");
    assert!(!hub.kick(&key()), "nothing left to kick");
    let stats = hub.get(&key()).unwrap();
    assert_eq!(stats.state, "grace");
    assert!(stats.publisher.is_none());
    publisher.push(video(40, false, 100)); // ignored
    assert_eq!(hub.get(&key()).unwrap().frames_in, 1);
    hub.publish(key(), info("10.0.0.3:1935"))
        .expect("a new publisher may come in the grace");
}

#[tokio::test(start_paused = true)]
async fn republish_within_grace_keeps_players_and_a_monotonic_timeline() {
    let hub = Registry::new(HubConfig::default());
    let mut first = publish(&hub);
    first.push(metadata(0));
    first.push(avc_sequence_header());
    first.push(aac_sequence_header());
    push_av(&mut first, 0, 126, 50); // up to 5000 ms
    let mut sub = subscribe(
        &hub,
        SubscribeOptions {
            start: StartPolicy::NextKeyframe,
            protocol: "rtmp",
        },
    );
    drain(&mut sub);
    drop(first);
    assert_eq!(hub.get(&key()).unwrap().state, StreamState::Grace);

    sleep(Duration::from_secs(10)).await;
    let mut second = hub
        .publish(key(), info("10.0.0.9:1935"))
        .expect("republish");
    second.push(metadata(0));
    second.push(avc_sequence_header());
    second.push(aac_sequence_header());
    push_av(&mut second, 0, 3, 50);
    let got = drain(&mut sub);
    assert_eq!(
        shape(&got),
        [
            ('M', 5001),
            ('V', 5001),
            ('A', 5001),
            ('K', 5001),
            ('a', 5001),
            ('P', 5041),
            ('a', 5041),
            ('P', 5081),
            ('a', 5081)
        ]
    );
    assert!(
        got[..3].iter().all(|f| f.frame().sequence_header),
        "the new session's headers arrive as headers"
    );

    // The grace timer of the first session must not end the second one.
    sleep(Duration::from_secs(20)).await;
    assert_eq!(hub.get(&key()).unwrap().state, StreamState::Live);
    assert!(sub.try_recv().unwrap().is_none());
}

#[tokio::test(start_paused = true)]
async fn after_the_grace_players_end_and_the_stream_is_gone() {
    let hub = Registry::new(HubConfig::default());
    let mut publisher = publish(&hub);
    publisher.push(video(0, true, 100));
    let mut sub = subscribe(&hub, SubscribeOptions::new("flv"));
    publisher.push(video(40, false, 100));
    drop(publisher);

    sleep(Duration::from_secs(14)).await;
    assert_eq!(hub.list().len(), 1, "still in grace");
    assert!(
        hub.subscribe(&key(), flv()).is_ok(),
        "a stream in grace can be subscribed"
    );

    // Buffered frames first, then the end once the grace expires (recv waits across it).
    assert_eq!(sub.recv().await.unwrap().frame().timestamp, 0);
    assert_eq!(sub.recv().await.unwrap().frame().timestamp, 40);
    let started = tokio::time::Instant::now();
    assert_eq!(sub.recv().await.unwrap_err(), SubscriberEnd::Ended);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "ended by the timer, not before"
    );
    assert!(hub.list().is_empty());
    assert_eq!(
        hub.subscribe(&key(), flv()).unwrap_err(),
        SubscribeError::NotFound {
            key: "live/test".into()
        }
    );
    assert_eq!(
        sub.try_recv().unwrap_err(),
        SubscriberEnd::Ended,
        "stays ended"
    );
}

#[tokio::test]
async fn stream_without_players_goes_away_when_the_publisher_leaves() {
    let hub = Registry::new(HubConfig::default());
    let publisher = publish(&hub);
    assert_eq!(hub.list().len(), 1);
    drop(publisher);
    assert!(hub.list().is_empty());
    assert!(matches!(
        hub.subscribe(&key(), flv()),
        Err(SubscribeError::NotFound { .. })
    ));
}

#[tokio::test]
async fn last_player_leaving_during_the_grace_ends_the_stream() {
    let hub = Registry::new(HubConfig::default());
    let publisher = publish(&hub);
    let sub = subscribe(&hub, flv());
    drop(publisher);
    assert_eq!(hub.list().len(), 1);
    drop(sub);
    assert!(hub.list().is_empty());
}

#[tokio::test]
async fn unknown_stream_is_not_found() {
    let hub = Registry::new(HubConfig::default());
    let err = hub
        .subscribe(&StreamKey::new("live", "nope"), flv())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "stream live/nope is not live (no publisher, and not within the republish grace period)"
    );
}

#[tokio::test]
async fn max_streams_is_enforced() {
    let hub = Registry::new(HubConfig {
        max_streams: 1,
        ..HubConfig::default()
    });
    let _a = hub.publish(StreamKey::new("live", "a"), info("a")).unwrap();
    let err = hub
        .publish(StreamKey::new("live", "b"), info("b"))
        .unwrap_err();
    assert_eq!(err, PublishError::TooManyStreams { max: 1 });
    assert!(err.to_string().contains("max_streams"));
}

#[tokio::test]
async fn players_are_counted_per_protocol() {
    let hub = Registry::new(HubConfig::default());
    let _publisher = publish(&hub);
    let a = subscribe(&hub, SubscribeOptions::new("rtmp"));
    let _b = subscribe(&hub, SubscribeOptions::new("flv"));
    let _c = subscribe(&hub, SubscribeOptions::new("hls"));
    let players = hub.get(&key()).unwrap().players;
    assert_eq!(
        (players.rtmp, players.flv, players.other, players.total),
        (1, 1, 1, 3)
    );
    drop(a);
    assert_eq!(hub.get(&key()).unwrap().players.total, 2);
}

#[tokio::test(start_paused = true)]
async fn a_publisher_can_bring_its_own_grace() {
    let hub = Registry::new(HubConfig::default());
    let mut own = info("10.0.0.1:1935");
    own.republish_grace = Some(Duration::from_secs(2));
    let mut publisher = hub.publish(key(), own).expect("publish");
    publisher.push(video(0, true, 100));
    let mut sub = subscribe(&hub, SubscribeOptions::new("flv"));
    drop(publisher);
    assert_eq!(sub.recv().await.unwrap().frame().timestamp, 0);
    let started = tokio::time::Instant::now();
    assert_eq!(sub.recv().await.unwrap_err(), SubscriberEnd::Ended);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(3),
        "ended after the publisher's 2 s grace, not the hub's 15 s: {waited:?}"
    );
}

/// What a server attaches to a stream is found through the hub, the publisher and subscribers alike, is created
/// once, and goes away with the stream: the next publish of the same name starts with a new one.
#[tokio::test]
async fn an_attachment_lives_as_long_as_its_stream() {
    use std::sync::atomic::{AtomicU32, Ordering};
    let hub = Registry::new(HubConfig {
        republish_grace: std::time::Duration::ZERO,
        ..HubConfig::default()
    });
    let key = StreamKey::new("live", "cam");
    let info = || media::PublisherInfo {
        remote_addr: "127.0.0.1:1".into(),
        protocol: "rtmp",
        republish_grace: None,
        started_at_ms: 0,
        relay: false,
    };
    assert!(
        hub.attachment(&key, AtomicU32::default).is_none(),
        "no stream, no attachment"
    );
    let publisher = hub.publish(key.clone(), info()).unwrap();
    let first = publisher.attachment(|| AtomicU32::new(7)).unwrap();
    first.fetch_add(1, Ordering::Relaxed);
    let again = hub.attachment(&key, || AtomicU32::new(100)).unwrap();
    assert!(Arc::ptr_eq(&first, &again), "created once");
    let sub = hub.subscribe(&key, SubscribeOptions::new("rtmp")).unwrap();
    assert_eq!(
        sub.attachment(AtomicU32::default)
            .unwrap()
            .load(Ordering::Relaxed),
        8
    );
    assert!(
        hub.attachment(&key, || String::from("other type"))
            .is_none(),
        "one type per stream"
    );
    assert_eq!(hub.attachments::<AtomicU32>().len(), 1);
    drop(sub);
    drop(publisher);
    assert!(
        hub.attachments::<AtomicU32>().is_empty(),
        "gone with the stream"
    );
    let publisher = hub.publish(key.clone(), info()).unwrap();
    let fresh = publisher.attachment(|| AtomicU32::new(1)).unwrap();
    assert!(!Arc::ptr_eq(&first, &fresh));
    assert_eq!(fresh.load(Ordering::Relaxed), 1);
}

/// Each grace timer belongs to its publish session: when a publisher comes back and leaves again, the first
/// session's timer does not end the second session's grace, with or without the registry.
#[tokio::test(start_paused = true)]
async fn an_old_grace_timer_does_not_end_a_newer_grace() {
    for keep_registry in [true, false] {
        let hub = Registry::new(HubConfig::default()); // 15 s grace
        let mut first = publish(&hub);
        first.push(video(0, true, 100));
        let mut sub = subscribe(&hub, flv());
        drain(&mut sub);
        drop(first); // grace of the first session: until 15 s
        sleep(Duration::from_secs(5)).await;
        let second = hub
            .publish(key(), info("10.0.0.9:1935"))
            .expect("republish");
        sleep(Duration::from_secs(1)).await;
        // Grace of the second session: until 21 s.
        drop(second);
        // Without the registry, the timers find it gone (`then_some` drops it).
        let hub = keep_registry.then_some(hub);
        sleep(Duration::from_secs(12)).await; // 18 s: the first timer has fired
        assert_eq!(
            sub.try_recv().map(|f| f.is_none()),
            Ok(true),
            "{keep_registry}: still in grace"
        );
        if let Some(hub) = &hub {
            assert_eq!(hub.get(&key()).unwrap().state, StreamState::Grace);
        }
        sleep(Duration::from_secs(4)).await; // 22 s: the second timer has fired
        assert_eq!(
            sub.try_recv().unwrap_err(),
            SubscriberEnd::Ended,
            "{keep_registry}"
        );
        if let Some(hub) = &hub {
            assert!(hub.list().is_empty());
        }
    }
}

/// A grace timer that fires after the registry was dropped still ends the stream for its subscribers.
#[tokio::test(start_paused = true)]
async fn grace_ends_the_stream_after_the_registry_is_gone() {
    let hub = Registry::new(HubConfig::default());
    let mut publisher = publish(&hub);
    publisher.push(video(0, true, 100));
    let mut sub = subscribe(&hub, flv());
    drain(&mut sub);
    drop(publisher);
    drop(hub);
    sleep(Duration::from_secs(14)).await;
    assert_eq!(sub.try_recv().map(|f| f.is_none()), Ok(true));
    sleep(Duration::from_secs(2)).await;
    assert_eq!(sub.try_recv().unwrap_err(), SubscriberEnd::Ended);
}

#[tokio::test(start_paused = true)]
async fn a_publisher_replaces_a_relay_at_once_and_relays_are_not_viewers() {
    let hub = Registry::new(HubConfig::default());
    let mut relay = hub
        .publish(
            key(),
            media::PublisherInfo {
                relay: true,
                ..info("10.0.0.9:1935")
            },
        )
        .expect("relay publishes");
    relay.push(video(0, true, 100));
    let viewer = subscribe(&hub, flv());
    let edge = subscribe(&hub, SubscribeOptions::new("relay"));
    let players = hub.get(&key()).expect("live").players;
    assert_eq!((players.total, players.relays), (1, 1), "{players:?}");
    // Not idle, yet replaced: the real publisher moved to this node.
    let _real = hub
        .publish(key(), info("10.0.0.2:1935"))
        .expect("a publisher replaces the relay");
    assert!(relay.is_kicked());
    assert_eq!(hub.get(&key()).expect("live").players.total, 1);
    drop((viewer, edge));
    assert_eq!(hub.get(&key()).expect("live").players.relays, 0);
}
