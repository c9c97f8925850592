//! A slow subscriber never slows the publisher: it skips to a keyframe and counts what it skipped.

mod common;

use std::time::Duration;

use common::*;
use media::{HubConfig, MediaKind, Registry, StartPolicy, SubscribeOptions};

fn next_keyframe() -> SubscribeOptions {
    SubscribeOptions {
        start: StartPolicy::NextKeyframe,
        protocol: "rtmp",
    }
}

/// Checks that after the first frame the sequence numbers are consecutive.
fn assert_gap_free(frames: &[std::sync::Arc<media::MediaFrame>]) {
    for pair in frames.windows(2) {
        assert_eq!(
            pair[1].seq(),
            pair[0].seq() + 1,
            "gap between {:?} and {:?}",
            pair[0].frame(),
            pair[1].frame()
        );
    }
}

#[tokio::test]
async fn slow_subscriber_skips_to_a_recent_keyframe_by_timestamp() {
    let hub = Registry::new(HubConfig::default()); // 3 s lag bound, 1024-frame ring
    let mut publisher = publish(&hub);
    publisher.push(avc_sequence_header());
    let mut slow = subscribe(&hub, next_keyframe());
    let mut fast = subscribe(&hub, next_keyframe());
    // 10 s at 25 fps with a 2 s GOP, never read by `slow`: the publisher is not held up.
    for i in 0..250u32 {
        let ts = i * 40;
        publisher.push(video(ts, i % 50 == 0, 1000));
        publisher.push(audio(ts, 100));
        drain(&mut fast);
    }
    assert_eq!(fast.dropped_frames(), 0);

    let got = drain(&mut slow);
    assert_eq!(shape(&got[..1]), [('V', 0)]);
    let resumed = &got[1..];
    assert_eq!(resumed[0].frame().kind, MediaKind::Video);
    assert!(resumed[0].frame().keyframe, "resumes at a keyframe");
    let edge = 249 * 40;
    assert!(
        edge - resumed[0].frame().timestamp <= 3000,
        "within the lag bound: {}",
        resumed[0].frame().timestamp
    );
    assert_eq!(
        resumed[0].frame().timestamp,
        8000,
        "the oldest keyframe within 3 s of 9960"
    );
    assert_gap_free(resumed);
    assert_eq!(
        slow.dropped_frames(),
        resumed[0].seq() - 1,
        "everything between the header and the keyframe"
    );
    assert_eq!(
        hub.get(&key()).unwrap().dropped_frames,
        slow.dropped_frames()
    );
}

#[tokio::test]
async fn byte_bound_and_ring_bound_also_trigger_a_skip() {
    for config in [
        HubConfig {
            subscriber_max_lag_bytes: 20_000,
            ..HubConfig::default()
        },
        HubConfig {
            ring_capacity: 16,
            ..HubConfig::default()
        },
    ] {
        let hub = Registry::new(config.clone());
        let mut publisher = publish(&hub);
        let mut slow = subscribe(&hub, next_keyframe());
        for i in 0..100u32 {
            publisher.push(video(i * 40, i % 10 == 0, 1000));
        }
        let got = drain(&mut slow);
        assert!(got[0].frame().keyframe, "{config:?}: {:?}", shape(&got));
        assert!(got.len() <= 20, "{config:?}: {}", got.len());
        assert_gap_free(&got);
        assert_eq!(slow.dropped_frames(), got[0].seq(), "{config:?}");
    }
}

#[tokio::test]
async fn skipped_header_change_is_resent_before_the_keyframe() {
    let hub = Registry::new(HubConfig {
        ring_capacity: 8,
        ..HubConfig::default()
    });
    let mut publisher = publish(&hub);
    publisher.push(avc_sequence_header());
    publisher.push(video(0, true, 100));
    let mut slow = subscribe(&hub, SubscribeOptions::new("rtmp"));
    assert_eq!(shape(&drain(&mut slow)), [('V', 0), ('K', 0)]);
    let mut sps = SPS_640X360;
    sps[3] = 0x1f;
    for i in 1..20u32 {
        publisher.push(video(i * 40, false, 100));
    }
    publisher.push(media::Frame::new(
        MediaKind::Video,
        800,
        avc_sequence_header_with(&sps),
    ));
    for i in 21..30u32 {
        publisher.push(video(i * 40, i == 22, 100));
    }
    let got = drain(&mut slow);
    assert_eq!(
        shape(&got[..3]),
        [('V', 880), ('K', 880), ('P', 920)],
        "new header restamped, then the keyframe"
    );
    assert_eq!(
        &got[0].frame().payload[..],
        &avc_sequence_header_with(&sps)[..]
    );
}

#[tokio::test(start_paused = true)]
async fn waiting_subscriber_does_not_block_the_publisher() {
    let hub = Registry::new(HubConfig {
        ring_capacity: 4,
        ..HubConfig::default()
    });
    let mut publisher = publish(&hub);
    let mut sub = subscribe(&hub, next_keyframe());
    let reader = tokio::spawn(async move {
        let first = sub.recv().await.unwrap();
        (first.frame().timestamp, sub)
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    for i in 0..=1000u32 {
        publisher.push(video(i * 40, i % 25 == 0, 500));
    }
    let (first, _sub) = reader.await.unwrap();
    assert_eq!(first, 40_000, "the only keyframe left in the 4-frame ring");
}
