//! Stream health rules against the real server (issue 18): ffmpeg pushes that stall (a paused encoder), carry a
//! 12 s GOP, or drop their frame rate fire their rule once per episode, each start and end a `stream_anomaly`
//! webhook (event_type 321) checked at a real HTTP receiver, counted in `/metrics` and shown in the stream's
//! statistics. With a publisher driven tag by tag, timestamps that start over and audio running ahead of the video
//! do the same for theirs. The five pushes run at once on one server, with the default `[health]` thresholds.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::pusher::TagPusher;
use common::*;
use serde_json::Value;

/// 320x240 25 fps H.264 and AAC for `secs` seconds with a keyframe every `gop` pictures, `filter` applied to the
/// video, bitrate-capped so that fewer pictures do not mean fewer bytes.
fn fixture(name: &str, secs: u32, gop: u32, filter: &[&str]) -> PathBuf {
    let x264 = [
        "-preset",
        "ultrafast",
        "-tune",
        "zerolatency",
        "-b:v",
        "300k",
        "-maxrate",
        "300k",
        "-bufsize",
        "300k",
    ];
    make_av_fixture(name, "320x240", secs, gop, filter, &x264)
}

/// The `stream_anomaly` bodies received for `stream`, in arrival order.
fn anomalies(receiver: &Receiver, stream: &str) -> Vec<Value> {
    receiver
        .bodies
        .lock()
        .unwrap()
        .iter()
        .filter(|b| b["event"] == "stream_anomaly" && b["stream_id"] == stream)
        .cloned()
        .collect()
}

/// Waits until `stream` has `n` anomaly bodies.
fn wait_anomalies(receiver: &Receiver, stream: &str, n: usize, limit: Duration) -> Vec<Value> {
    let deadline = Instant::now() + limit;
    loop {
        let got = anomalies(receiver, stream);
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Checks that `bodies` are exactly one episode of `rule` (a start, then an end) of the publish whose
/// `push_start` had `sequence`, with Tencent's abnormal type `tencent_type`, signed with `key`; returns the end.
fn one_episode(
    bodies: &[Value],
    rule: &str,
    tencent_type: u64,
    sequence: &str,
    key: &str,
    end_count: u64,
) -> Value {
    let states: Vec<(&str, &str)> = bodies
        .iter()
        .map(|b| {
            (
                b["anomaly_rule"].as_str().unwrap_or(""),
                b["anomaly_state"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        states,
        [(rule, "start"), (rule, "end")],
        "one episode of {rule}: {bodies:#?}"
    );
    for b in bodies {
        assert_eq!(b["event_type"], 321, "{b}");
        assert_eq!(
            b["sequence"], sequence,
            "the anomaly belongs to its publish: {b}"
        );
        assert_eq!(b["appname"], "live");
        assert_eq!(b["report_interval"], 0);
        let event = &b["abnormal_event"][0];
        assert_eq!(event["type"], tencent_type, "{b}");
        assert_eq!(event["event_key"], rule);
        let count = if b["anomaly_state"] == "end" {
            end_count
        } else {
            1
        };
        assert_eq!(event["count"], count, "{b}");
        assert!(
            event["detail"][0]["desc"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{b}"
        );
        assert_eq!(event["detail"][0]["occur_time"], b["data_time"]);
        assert!(b["anomaly_detail"].is_object(), "{b}");
        let t = b["t"].as_u64().unwrap();
        let sign = b["sign"].as_str().unwrap();
        assert!(
            control::webhook_event::verify_sign(key, sign, t, control::now_unix()),
            "{b}"
        );
    }
    let (start, end) = (&bodies[0], &bodies[1]);
    assert!(start.get("episode_duration").is_none(), "{start}");
    assert_eq!(start["episode_start_time"], end["episode_start_time"]);
    let duration = end["episode_duration"]
        .as_u64()
        .expect("the end says how long");
    assert_eq!(
        end["data_time"].as_u64(),
        Some(end["episode_start_time"].as_u64().unwrap() + duration),
        "{end}"
    );
    end.clone()
}

fn push_sequence(receiver: &Receiver, stream: &str) -> String {
    receiver
        .wait_for("push_start", 5)
        .into_iter()
        .find(|b| b["stream_id"] == stream)
        .and_then(|b| b["sequence"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no push_start for {stream}"))
}

fn stream_health(server: &Server, stream: &str) -> Value {
    let (status, body) = server.get(&format!("/v1/streams/live/{stream}"));
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["health"].clone()
}

#[test]
fn stalls_long_gops_rate_drops_rewinds_and_drift_fire_once_per_episode() {
    require("ffmpeg");
    // Made before the server starts, so that encoding them does not compete with the pushes.
    let steady = fixture("health-steady.flv", 10, 25, &[]);
    let long_gop = fixture("health-gop12.flv", 14, 300, &[]);
    // 25 fps, then one picture in five from 7 s to 11 s, then 25 fps again.
    let fps_drop = fixture(
        "health-fps-drop.flv",
        16,
        25,
        &[
            "-vf",
            "select='lt(t,7)+gte(t,11)+not(mod(n,5))'",
            "-fps_mode",
            "vfr",
        ],
    );
    let server = Server::start("");
    let receiver = Receiver::start();
    server.cli_ok(&["app", "set", "live", "--callback-url", &receiver.url()]);
    let shown: Value = serde_json::from_str(&server.cli_ok(&["app", "show", "live"])).unwrap();
    let key = shown["callbackKey"].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_millis(800));

    std::thread::scope(|s| {
        // A paused encoder: SIGSTOP for 4.5 s, then it goes on.
        s.spawn(|| {
            let pusher = ffmpeg_push(&steady, &server.rtmp_url("live/stall"));
            server.wait_live("live/stall");
            std::thread::sleep(Duration::from_secs(1));
            unsafe_kill(pusher.0.id(), "STOP");
            std::thread::sleep(Duration::from_millis(4500));
            let during = stream_health(&server, "stall");
            unsafe_kill(pusher.0.id(), "CONT");
            assert_eq!(
                during["active"][0]["rule"], "video_gap",
                "shown while it lasts: {during}"
            );
            wait_anomalies(&receiver, "stall", 2, Duration::from_secs(10));
            // The stream goes on, healthy, for a while: nothing more.
            std::thread::sleep(Duration::from_secs(3));
            let after = stream_health(&server, "stall");
            assert_eq!(after["active"], serde_json::json!([]), "{after}");
            assert_eq!(after["recent"][0]["rule"], "video_gap", "{after}");
            assert!(
                after["recent"][0]["durationMs"].as_u64().is_some(),
                "{after}"
            );
            drop(pusher);
            let sequence = push_sequence(&receiver, "stall");
            let bodies = anomalies(&receiver, "stall");
            let end = one_episode(&bodies, "video_gap", 6, &sequence, &key, 1);
            let gap = end["anomaly_detail"]["gap_ms"].as_u64().unwrap();
            assert!((4000..8000).contains(&gap), "the pause, measured: {end}");
        });
        // A 12 s GOP: the episode starts 10 s into it and is closed by the end of the push.
        s.spawn(|| {
            let pusher = ffmpeg_push(&long_gop, &server.rtmp_url("live/gop"));
            let started = wait_anomalies(&receiver, "gop", 1, Duration::from_secs(20));
            assert_eq!(started.len(), 1, "the long GOP started an episode");
            let during = stream_health(&server, "gop");
            assert_eq!(during["active"][0]["rule"], "long_gop", "{during}");
            drop(pusher);
            let bodies = wait_anomalies(&receiver, "gop", 2, Duration::from_secs(10));
            let sequence = push_sequence(&receiver, "gop");
            let end = one_episode(&bodies, "long_gop", 16, &sequence, &key, 1);
            let gop = end["anomaly_detail"]["gop_ms"].as_u64().unwrap();
            assert!((10_000..12_000).contains(&gop), "{end}");
        });
        // The frame rate drops to a fifth for 4 s, then comes back.
        s.spawn(|| {
            let pusher = ffmpeg_push(&fps_drop, &server.rtmp_url("live/fps"));
            let bodies = wait_anomalies(&receiver, "fps", 2, Duration::from_secs(25));
            drop(pusher);
            let sequence = push_sequence(&receiver, "fps");
            let end = one_episode(&bodies, "low_fps", 15, &sequence, &key, 1);
            let (fps, recent) = (
                end["anomaly_detail"]["fps"].as_f64().unwrap(),
                end["anomaly_detail"]["baseline_fps"].as_f64().unwrap(),
            );
            assert!(fps <= 6.0 && recent >= 20.0, "{end}");
        });
        // The encoder starts its timeline over on the same connection after 3 s.
        s.spawn(|| {
            let mut pusher = TagPusher::publish(&server.rtmp, "live", "rewind", &fixture_av());
            pusher.send_while(|t| t.ts < 3000);
            pusher.rewind();
            pusher.send_while(|t| t.ts < 7000);
            let bodies = wait_anomalies(&receiver, "rewind", 2, Duration::from_secs(5));
            drop(pusher);
            let sequence = push_sequence(&receiver, "rewind");
            let end = one_episode(&bodies, "timestamp_backwards", 1, &sequence, &key, 2);
            let detail = &end["anomaly_detail"];
            assert_eq!(
                (detail["kind"].as_str(), detail["count"].as_u64()),
                (Some("video"), Some(2)),
                "{end}"
            );
            assert!(
                detail["from_ms"].as_u64().unwrap() >= 2900
                    && detail["to_ms"].as_u64().unwrap() < 100,
                "{end}"
            );
            assert!(end["episode_duration"].as_u64().unwrap() >= 5000, "{end}");
        });
        // The audio timestamps run 1.5 s ahead of the video from 3 s on, until the push ends.
        s.spawn(|| {
            let mut pusher = TagPusher::publish(&server.rtmp, "live", "drift", &fixture_av());
            pusher.send_while(|t| t.ts < 3000);
            pusher.set_audio_shift(1500);
            pusher.send_while(|t| t.ts < 5000);
            drop(pusher);
            let bodies = wait_anomalies(&receiver, "drift", 2, Duration::from_secs(10));
            let sequence = push_sequence(&receiver, "drift");
            let end = one_episode(&bodies, "av_drift", 1001, &sequence, &key, 1);
            let drift = end["anomaly_detail"]["drift_ms"].as_i64().unwrap();
            assert!((1300..1700).contains(&drift), "{end}");
        });
    });
    // After the pushes ended, nothing more came for any stream.
    std::thread::sleep(Duration::from_secs(1));
    for stream in ["stall", "gop", "fps", "rewind", "drift"] {
        assert_eq!(
            anomalies(&receiver, stream).len(),
            2,
            "{stream}: {:#?}",
            anomalies(&receiver, stream)
        );
    }
    let (_, metrics) = server.get("/metrics");
    for rule in [
        "video_gap",
        "long_gop",
        "low_fps",
        "timestamp_backwards",
        "av_drift",
    ] {
        assert!(
            metrics.contains(&format!(
                "mplive_stream_anomalies_total{{rule=\"{rule}\"}} 1"
            )),
            "{rule} counted once: {metrics}"
        );
    }
    assert!(
        metrics.contains("mplive_stream_anomalies_total{rule=\"bitrate_drop\"} 0"),
        "{metrics}"
    );
}
