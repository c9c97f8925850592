//! The Rust SDK end to end through the real server: a `Publisher`'s `send_message` rides in an SEI NAL through
//! mplive to a `Player`, which records the text and the latency its send time gives.

mod common;

use std::time::Duration;

use client::player::{PlayOptions, Player};
use client::pusher::{PublishOptions, Publisher, PusherEvent, Source};
use common::*;
use control::now_unix;

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
        let now = control::now_ms();
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

/// POSTs an SDK request body; returns (status, parsed body).
fn sdk_post(server: &Server, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let (status, text) = http_request(&server.http, "POST", path, &[], Some(&body.to_string()));
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
    (status, v)
}

/// `mplive token` for `account` on `channel` of app live with `role`, and extra flags.
fn token(server: &Server, channel: &str, account: &str, role: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "token",
        "--app",
        "live",
        "--channel",
        channel,
        "--account",
        account,
        "--role",
        role,
    ];
    args.extend_from_slice(extra);
    server.cli_ok(&args).trim().to_string()
}

#[test]
fn player_endpoints_hand_viewers_signed_play_urls_that_play() {
    require("ffmpeg");
    require("ffprobe");
    for db in Db::all() {
        let server = Server::start_with(Options {
            db,
            ..Options::default()
        });
        server.cli_ok(&["app", "set", "live", "--play-auth", "on"]);
        std::thread::sleep(Duration::from_millis(800));
        let _pusher = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/watch1"));
        server.wait_live("live/watch1");
        // Play auth is on: an unsigned URL is refused.
        let (status, body) = http_get(&server.http, "/live/watch1.flv");
        assert_eq!(status, 401, "unsigned play is refused: {body}");

        let viewer = token(&server, "watch1", "bob", "viewer", &[]);
        let req = |app: &str, account: &str, token: &str| serde_json::json!({"appId": app, "roomId": "watch1", "accountId": account, "token": token});
        let (status, v) = sdk_post(
            &server,
            "/sdk/v1/player/instance",
            &req("live", "bob", &viewer),
        );
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["stream"], "watch1");
        let expires_at = v["expiresAt"].as_u64().expect("expiresAt");
        let now = now_unix();
        assert!(
            (now + 3500..=now + 3700).contains(&expires_at),
            "sdk_url_ttl_secs (1 h): {expires_at} vs {now}"
        );
        let urls = &v["playUrls"];
        for kind in ["rtmp", "flv", "hls", "llHls"] {
            let url = urls[kind].as_str().unwrap_or_else(|| panic!("{kind}: {v}"));
            assert!(
                url.contains("/live/watch1")
                    && url.contains("txSecret=")
                    && url.contains("txTime="),
                "{kind} is signed: {url}"
            );
        }
        ffmpeg_decode(urls["flv"].as_str().unwrap(), 2);
        ffmpeg_decode(urls["rtmp"].as_str().unwrap(), 2);
        assert!(ffprobe_codecs(urls["hls"].as_str().unwrap()).contains("h264"));

        // refresh: the same checks, a later expiry and so a fresh signature.
        std::thread::sleep(Duration::from_millis(1100));
        let (status, fresh) = sdk_post(
            &server,
            "/sdk/v1/player/refresh",
            &req("live", "bob", &viewer),
        );
        assert_eq!(status, 200, "{fresh}");
        assert!(fresh["expiresAt"].as_u64().unwrap() > expires_at, "{fresh}");
        let flv = fresh["playUrls"]["flv"].as_str().unwrap();
        assert_ne!(flv, urls["flv"].as_str().unwrap(), "a fresh signature");
        assert!(
            ffprobe_codecs(flv).contains("h264"),
            "the refreshed URL plays"
        );

        // A publisher may also watch, by app id as well as by name.
        let app_id = {
            let v: serde_json::Value =
                serde_json::from_str(&server.cli_ok(&["app", "show", "live"])).unwrap();
            v["id"].as_str().unwrap().to_string()
        };
        let publisher = token(&server, "watch1", "anchor", "publisher", &[]);
        let (status, v) = sdk_post(
            &server,
            "/sdk/v1/player/instance",
            &req(&app_id, "anchor", &publisher),
        );
        assert_eq!(status, 200, "a publisher token plays: {v}");

        // Refusals, each with its documented code.
        let member = token(&server, "watch1", "bob", "member", &[]);
        let expired = token(
            &server,
            "watch1",
            "bob",
            "viewer",
            &["--expires-at", &(now_unix() - 120).to_string()],
        );
        let other_channel = token(&server, "watch2", "bob", "viewer", &[]);
        let cases = [
            (req("live", "bob", &member), 40105, "a room member token"),
            (req("live", "bob", &format!("{viewer}x")), 40103, "forged"),
            (req("live", "bob", "a.b"), 40102, "malformed"),
            (req("live", "bob", ""), 40101, "missing"),
            (req("live", "bob", &expired), 40104, "expired"),
            (req("live", "carol", &viewer), 40106, "another account"),
            (req("live", "bob", &other_channel), 40106, "another channel"),
            (req("nope", "bob", &viewer), 40401, "unknown app"),
        ];
        for path in ["/sdk/v1/player/instance", "/sdk/v1/player/refresh"] {
            for (body, code, what) in &cases {
                let (status, v) = sdk_post(&server, path, body);
                assert_eq!(status as u64, code / 100, "{path} {what}: {v}");
                assert_eq!(v["code"], *code, "{path} {what}: {v}");
                assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
            }
        }
        let (status, v) = sdk_post(
            &server,
            "/sdk/v1/player/instance",
            &serde_json::json!({"appId": "live", "channelId": 7}),
        );
        assert_eq!((status, v["code"].as_u64()), (400, Some(40000)), "{v}");
        assert!(v["message"].as_str().unwrap().contains("channelId"), "{v}");

        // The OpenAPI document lists both endpoints.
        let (_, doc) = http_get(&server.http, "/v1/openapi.json");
        assert!(doc.contains("/sdk/v1/player/instance") && doc.contains("/sdk/v1/player/refresh"));
    }
}
