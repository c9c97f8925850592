//! Statistics measured from the frames.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use media::{Frame, HubConfig, MediaKind, Registry, SubscribeOptions};

#[tokio::test(start_paused = true)]
async fn stats_come_from_the_stream_itself() {
    let hub = Registry::new(HubConfig::default());
    let mut publisher = publish(&hub);
    let sub = subscribe(&hub, SubscribeOptions::new("flv"));
    publisher.push(metadata(0));
    publisher.push(avc_sequence_header());
    publisher.push(aac_sequence_header());
    for i in 0..125u32 {
        let ts = i * 40;
        publisher.push(video(ts, i % 50 == 0, 5000));
        publisher.push(audio(ts, 200));
    }
    sub.record_sent(12345);
    tokio::time::sleep(Duration::from_secs(2)).await;

    let s = hub.get(&key()).unwrap();
    assert_eq!((s.app.as_str(), s.stream.as_str()), ("live", "test"));
    assert_eq!(s.state, "live");
    let p = s.publisher.as_ref().unwrap();
    assert_eq!((p.addr.as_str(), p.protocol), ("10.0.0.1:1935", "rtmp"));
    assert_eq!(p.started_at_ms, STARTED_AT_MS, "as the publisher said");
    assert_eq!(s.video_codec.as_deref(), Some("H264"));
    assert_eq!(s.audio_codec.as_deref(), Some("AAC"));
    assert_eq!((s.video_width, s.video_height), (Some(640), Some(360)));
    assert_eq!(
        (s.audio_sample_rate, s.audio_channels),
        (Some(44100), Some(2))
    );
    assert_eq!(s.video_bitrate, 1000.0, "25 x 5000 bytes per second");
    assert_eq!(s.audio_bitrate, 40.0, "25 x 200 bytes per second");
    assert_eq!(s.video_fps, 25.0);
    assert_eq!(s.video_gop, 2.0);
    assert_eq!(s.frames_in, 3 + 250);
    let header_bytes = (metadata(0).payload.len() + avc_sequence_header().payload.len() + 4) as u64;
    assert_eq!(s.bytes_in, header_bytes + 125 * 5200);
    assert_eq!(s.bytes_out, 12345);
    assert_eq!(s.players.flv, 1);
    assert_eq!(s.dropped_frames, 0);
    assert_eq!(s.uptime_ms, 2000);

    let json = serde_json::to_value(&s).unwrap();
    for field in [
        "videoBitrate",
        "audioBitrate",
        "videoFPS",
        "videoGOP",
        "videoWidth",
        "videoHeight",
    ] {
        assert!(json.get(field).is_some(), "{field} in {json}");
    }
    assert_eq!(json["state"], "live");
    assert_eq!(json["players"]["total"], 1);
    assert_eq!(json["videoWidth"], 640);

    drop(publisher);
    let s = hub.get(&key()).unwrap();
    assert_eq!(s.state, "grace");
    assert_eq!(s.video_bitrate, 0.0, "nothing flows in grace");
}

#[tokio::test]
async fn codecs_without_configuration_records_are_recognised() {
    let hub = Registry::new(HubConfig::default());
    let mut publisher = publish(&hub);
    // MP3, 44 kHz, 16 bit, stereo; Sorenson H.263 keyframe.
    publisher.push(Frame::new(
        MediaKind::Audio,
        0,
        Bytes::from_static(&[0x2f, 0xff, 0xfb]),
    ));
    publisher.push(Frame::new(
        MediaKind::Video,
        0,
        Bytes::from_static(&[0x12, 0, 0, 0]),
    ));
    let s = hub.get(&key()).unwrap();
    assert_eq!(s.audio_codec.as_deref(), Some("MP3"));
    assert_eq!(
        (s.audio_sample_rate, s.audio_channels),
        (Some(44100), Some(2))
    );
    assert_eq!(s.video_codec.as_deref(), Some("H263"));
    assert_eq!(s.video_width, None);
}

#[tokio::test]
async fn list_is_sorted_and_get_is_none_for_unknown_streams() {
    let hub = Registry::new(HubConfig::default());
    let _b = hub
        .publish(media::StreamKey::new("live", "b"), info("b"))
        .unwrap();
    let _a = hub
        .publish(media::StreamKey::new("live", "a"), info("a"))
        .unwrap();
    let names: Vec<_> = hub.list().into_iter().map(|s| s.stream).collect();
    assert_eq!(names, ["a", "b"]);
    assert!(hub.get(&media::StreamKey::new("live", "c")).is_none());
}

#[tokio::test]
async fn totals_keep_the_counters_of_ended_streams() {
    let hub = media::Registry::new(media::HubConfig::default());
    let mut publisher = publish(&hub);
    publisher.push(video(0, true, 100));
    publisher.push(video(40, false, 50));
    let live = hub.totals();
    assert_eq!((live.streams, live.publishers, live.frames_in), (1, 1, 2));
    drop(publisher);
    let after = hub.totals();
    assert_eq!((after.streams, after.publishers), (0, 0));
    assert_eq!(after.frames_in, 2, "an ended stream's frames stay counted");
    assert_eq!(after.bytes_in, live.bytes_in);
}

/// Players by protocol, bytes out and dropped frames add up over the live streams, and the bytes out and drops of
/// streams that ended stay in the totals.
#[tokio::test]
async fn totals_count_players_bytes_out_and_drops() {
    let hub = Registry::new(HubConfig {
        ring_capacity: 16,
        ..HubConfig::default()
    });
    let mut publisher = publish(&hub);
    let mut slow = subscribe(&hub, SubscribeOptions::new("rtmp"));
    let flv = subscribe(&hub, SubscribeOptions::new("flv"));
    let hls = subscribe(&hub, SubscribeOptions::new("hls"));
    for i in 0..100u32 {
        publisher.push(video(i * 40, i % 10 == 0, 1000));
    }
    drain(&mut slow);
    assert!(slow.dropped_frames() > 0);
    slow.record_sent(1000);
    flv.record_sent(234);
    let live = hub.totals();
    assert_eq!(
        (
            live.players.rtmp,
            live.players.flv,
            live.players.other,
            live.players.total
        ),
        (1, 1, 1, 3)
    );
    assert_eq!(live.bytes_out, 1234);
    assert_eq!(live.dropped_frames, slow.dropped_frames());
    drop((slow, flv, hls, publisher));
    let after = hub.totals();
    assert_eq!((after.streams, after.players.total), (0, 0));
    assert_eq!(
        (after.bytes_out, after.dropped_frames, after.frames_in),
        (live.bytes_out, live.dropped_frames, live.frames_in)
    );
}
