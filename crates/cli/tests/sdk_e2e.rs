//! The Rust SDK end to end through the real server: a `Publisher`'s `send_message` rides in an SEI NAL through
//! mplive to a `Player`, which records the text and the latency its send time gives.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use client::player::{PlayOptions, Player};
use client::pusher::{PublishOptions, Publisher, PusherEvent, Source};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sent_by_the_publisher_reach_the_player_with_their_latency() {
    require("ffmpeg");
    let server = Server::start("");
    let (publisher, mut events) = Publisher::start(
        &server.rtmp_url("live/sei"),
        Source::File(fixture_av()),
        PublishOptions::default(),
    )
    .expect("start the publisher");
    // Wait for 1002 before playing.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("1002 within 20 s")
            .expect("publisher events");
        if matches!(&event, PusherEvent::Status(s) if s.code == 1002) {
            break;
        }
    }
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    let (player, _player_events) = Player::start(
        &server.http_url("live/sei.flv"),
        PlayOptions {
            mode: client::player::PlayMode::Rtc,
            ..PlayOptions::default()
        },
    )
    .expect("start the player");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for i in 0..5 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        publisher
            .send_message(&format!(r#"{{"n":{i},"sendTime":{now}}}"#))
            .expect("send_message");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let recording = player.stop().await.expect("the recording");
    publisher.stop();
    let texts: Vec<&str> = recording.sei.iter().map(|s| s.text.as_str()).collect();
    for i in 0..5 {
        assert!(
            texts.iter().any(|t| t.contains(&format!(r#""n":{i}"#))),
            "message {i} arrived: {texts:?}"
        );
    }
    let latency = recording.latency.expect("latency measured from sendTime");
    assert!(latency.samples >= 5, "{latency:?}");
    assert!(
        recording
            .sei
            .iter()
            .filter_map(|s| s.latency_ms)
            .all(|ms| (0..5000).contains(&ms)),
        "latencies on loopback are small: {:?}",
        recording.sei
    );
}
