//! Frame classification, shared encodings and the configuration format.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use media::{EncodingSlot, Frame, HubConfig, MediaKind, Registry, StreamKey, SubscribeOptions};
use proptest::prelude::*;

#[test]
fn frames_are_classified_from_their_flv_header() {
    let header = avc_sequence_header();
    assert!(header.sequence_header && !header.keyframe);
    let key = video(0, true, 20);
    assert!(key.keyframe && !key.sequence_header);
    let inter = video(0, false, 20);
    assert!(!inter.keyframe && !inter.sequence_header);
    assert!(aac_sequence_header().sequence_header);
    assert!(!audio(0, 10).sequence_header);
    let script = metadata(0);
    assert!(script.sequence_header && !script.keyframe);
    // Enhanced RTMP: IsExHeader | keyframe, CodedFrames, "hvc1".
    let ex = Frame::new(
        MediaKind::Video,
        0,
        Bytes::from_static(&[0x91, b'h', b'v', b'c', b'1', 0, 0, 0, 0, 0]),
    );
    assert!(ex.keyframe && !ex.sequence_header);
    // Malformed: plain frames.
    for body in [&[][..], &[0x17][..], &[0xaf][..]] {
        let f = Frame::new(MediaKind::Video, 7, Bytes::copy_from_slice(body));
        assert!(!f.keyframe && !f.sequence_header);
        assert_eq!(f.timestamp, 7);
    }
}

proptest! {
    #[test]
    fn classifying_never_panics(body in proptest::collection::vec(any::<u8>(), 0..64), kind in 0u8..3) {
        let kind = [MediaKind::Video, MediaKind::Audio, MediaKind::Script][usize::from(kind)];
        let frame = Frame::new(kind, 0, Bytes::from(body));
        prop_assert!(!(frame.keyframe && frame.sequence_header));
    }
}

#[tokio::test]
async fn each_encoding_is_computed_once_and_shared() {
    let hub = Registry::new(HubConfig::default());
    let mut publisher = publish(&hub);
    let mut subs: Vec<_> = (0..3)
        .map(|_| subscribe(&hub, SubscribeOptions::new("flv")))
        .collect();
    publisher.push(video(0, true, 100));
    let calls = AtomicUsize::new(0);
    let mut outputs = Vec::new();
    for sub in &mut subs {
        let frame = sub.try_recv().unwrap().unwrap();
        let encode = |f: &Frame| {
            calls.fetch_add(1, Ordering::Relaxed);
            let mut tag = vec![9u8];
            tag.extend_from_slice(&f.payload);
            Bytes::from(tag)
        };
        outputs.push(frame.encoded(EncodingSlot(0), encode));
        outputs.push(frame.encoded(EncodingSlot(1), |f| f.payload.clone()));
        assert!(frame.published_at().elapsed() < Duration::from_secs(5));
    }
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert_eq!(
        outputs[0].as_ptr(),
        outputs[2].as_ptr(),
        "the same bytes, not a copy"
    );
    assert_eq!(outputs[0].len(), 101);

    let frame = subs[0].try_recv().unwrap();
    assert!(frame.is_none());
    // A slot past the cached ones still works, uncached.
    publisher.push(video(40, false, 100));
    let frame = subs[0].try_recv().unwrap().unwrap();
    let n = AtomicUsize::new(0);
    for _ in 0..2 {
        frame.encoded(EncodingSlot(200), |f| {
            n.fetch_add(1, Ordering::Relaxed);
            f.payload.clone()
        });
    }
    assert_eq!(n.load(Ordering::Relaxed), 2);
}

#[test]
fn config_reads_milliseconds_and_keeps_defaults() {
    let config: HubConfig = serde_json::from_str(
        r#"{"gop_cache": false, "republish_grace_ms": 2500, "subscriber_max_lag_ms": 800}"#,
    )
    .unwrap();
    assert!(!config.gop_cache);
    assert_eq!(config.republish_grace, Duration::from_millis(2500));
    assert_eq!(config.subscriber_max_lag, Duration::from_millis(800));
    assert_eq!(config.ring_capacity, 1024);
    assert_eq!(config.publisher_idle_takeover, Duration::from_secs(5));
    let defaults = HubConfig::default();
    assert_eq!(
        (
            defaults.gop_cache_max_bytes,
            defaults.gop_cache_max_frames,
            defaults.subscriber_max_lag_bytes
        ),
        (16 << 20, 4096, 8 << 20)
    );
    assert_eq!(
        (defaults.republish_grace, defaults.max_streams),
        (Duration::from_secs(15), 10_000)
    );
    let json = serde_json::to_value(&defaults).unwrap();
    assert_eq!(json["republish_grace_ms"], 15000);
    assert_eq!(serde_json::from_value::<HubConfig>(json).unwrap(), defaults);
}

#[test]
fn zero_ring_capacity_is_raised_to_one() {
    let hub = Registry::new(HubConfig {
        ring_capacity: 0,
        ..HubConfig::default()
    });
    assert_eq!(hub.config().ring_capacity, 1);
}

#[test]
fn stream_key_displays_as_app_slash_name() {
    let key = StreamKey::new("live", "cam");
    assert_eq!(key.to_string(), "live/cam");
    assert_eq!(
        key,
        StreamKey {
            app: "live".into(),
            name: "cam".into()
        }
    );
}

#[test]
fn public_types_are_send_and_sync_where_it_matters() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<media::Publisher>();
    send::<media::Subscriber>();
    sync::<media::Subscriber>();
    send::<std::sync::Arc<media::MediaFrame>>();
    sync::<media::Registry>();
    fn recv_is_send(s: &mut media::Subscriber) -> impl std::future::Future + Send + '_ {
        s.recv()
    }
    let _ = recv_is_send;
}
