//! Where a new subscriber starts: headers first, then per start policy.

mod common;

use common::*;
use media::{HubConfig, Registry, StartPolicy, SubscribeOptions};

fn opts(start: StartPolicy) -> SubscribeOptions {
    SubscribeOptions {
        start,
        protocol: "flv",
    }
}

#[tokio::test]
async fn gop_join_gets_headers_then_cached_gop_then_live() {
    let hub = Registry::new(HubConfig::default());
    let mut publisher = publish(&hub);
    publisher.push(metadata(0));
    publisher.push(avc_sequence_header());
    publisher.push(aac_sequence_header());
    publisher.push(video(0, true, 100));
    publisher.push(audio(10, 10));
    publisher.push(video(40, false, 100));
    publisher.push(video(80, true, 100));
    publisher.push(audio(90, 10));
    publisher.push(video(120, false, 100));

    let mut sub = subscribe(&hub, opts(StartPolicy::Gop));
    let got = drain(&mut sub);
    assert_eq!(
        shape(&got),
        [
            ('M', 0),
            ('V', 0),
            ('A', 0),
            ('K', 80),
            ('a', 90),
            ('P', 120)
        ],
        "headers first, then the GOP since the last keyframe with its own timestamps"
    );
    publisher.push(video(160, false, 100));
    let live = sub.recv().await.unwrap();
    assert_eq!(live.frame().timestamp, 160);
    assert_eq!(
        live.seq(),
        got.last().unwrap().seq() + 1,
        "no frame missed or duplicated between snapshot and live"
    );
}

#[tokio::test]
async fn join_before_any_keyframe_waits_for_one() {
    let hub = Registry::new(HubConfig::default());
    let mut publisher = publish(&hub);
    publisher.push(avc_sequence_header());
    let mut sub = subscribe(&hub, opts(StartPolicy::Gop));
    publisher.push(video(0, false, 100)); // no keyframe yet in this session: not forwarded
    publisher.push(audio(5, 10));
    publisher.push(video(40, true, 100));
    publisher.push(video(80, false, 100));
    assert_eq!(
        shape(&drain(&mut sub)),
        [('V', 0), ('a', 5), ('K', 40), ('P', 80)]
    );
}

#[tokio::test]
async fn fast_gop_restamps_cached_pictures_to_the_live_edge() {
    let hub = Registry::new(HubConfig::default());
    let mut publisher = publish(&hub);
    publisher.push(avc_sequence_header());
    publisher.push(aac_sequence_header());
    push_av(&mut publisher, 1000, 30, 50); // one GOP of 30 pictures from 1000 ms to 2160 ms

    let mut sub = subscribe(&hub, opts(StartPolicy::FastGop));
    let got = drain(&mut sub);
    let shape = shape(&got);
    assert_eq!(&shape[..2], [('V', 0), ('A', 0)]);
    let pictures = &shape[2..];
    assert_eq!(pictures.len(), 30, "cached audio is skipped: {pictures:?}");
    assert_eq!(pictures[0].0, 'K');
    assert!(pictures.iter().all(|(c, _)| *c == 'K' || *c == 'P'));
    assert_eq!(pictures.last().unwrap().1, 2160, "ends at the live edge");
    assert!(
        pictures.windows(2).all(|w| w[1].1 == w[0].1 + 1),
        "strictly increasing: {pictures:?}"
    );

    publisher.push(video(2200, false, 100));
    let live = sub.recv().await.unwrap();
    assert_eq!(live.frame().timestamp, 2200);
}

#[tokio::test]
async fn next_keyframe_skips_the_cached_gop_and_lets_audio_through() {
    let hub = Registry::new(HubConfig::default());
    let mut publisher = publish(&hub);
    publisher.push(metadata(0));
    publisher.push(avc_sequence_header());
    publisher.push(video(0, true, 100));
    publisher.push(video(40, false, 100));

    let mut sub = subscribe(&hub, opts(StartPolicy::NextKeyframe));
    publisher.push(audio(50, 10));
    publisher.push(video(80, false, 100));
    publisher.push(video(120, true, 100));
    publisher.push(video(160, false, 100));
    assert_eq!(
        shape(&drain(&mut sub)),
        [('M', 0), ('V', 0), ('a', 50), ('K', 120), ('P', 160)]
    );
    assert_eq!(
        sub.dropped_frames(),
        0,
        "waiting for the first keyframe is not a drop"
    );
}

#[tokio::test]
async fn gop_cache_off_behaves_like_next_keyframe() {
    let hub = Registry::new(HubConfig {
        gop_cache: false,
        ..HubConfig::default()
    });
    let mut publisher = publish(&hub);
    publisher.push(avc_sequence_header());
    publisher.push(video(0, true, 100));
    publisher.push(video(40, false, 100));
    let mut sub = subscribe(&hub, opts(StartPolicy::Gop));
    publisher.push(video(80, false, 100));
    publisher.push(video(120, true, 100));
    assert_eq!(shape(&drain(&mut sub)), [('V', 0), ('K', 120)]);
}

#[tokio::test]
async fn gop_past_its_bound_is_dropped_until_the_next_keyframe() {
    let hub = Registry::new(HubConfig {
        gop_cache_max_frames: 3,
        ..HubConfig::default()
    });
    let mut publisher = publish(&hub);
    publisher.push(avc_sequence_header());
    for i in 0..4 {
        publisher.push(video(i * 40, i == 0, 100));
    }
    let mut late = subscribe(&hub, opts(StartPolicy::Gop));
    assert_eq!(
        shape(&drain(&mut late)),
        [('V', 0)],
        "4 frames > 3: no GOP to replay"
    );
    publisher.push(video(160, true, 100));
    publisher.push(video(200, false, 100));
    assert_eq!(shape(&drain(&mut late)), [('K', 160), ('P', 200)]);
    let mut next = subscribe(&hub, opts(StartPolicy::Gop));
    assert_eq!(
        shape(&drain(&mut next)),
        [('V', 0), ('K', 160), ('P', 200)],
        "cached again from the keyframe"
    );
}

/// The GOP bounds are the largest GOP kept: exactly `gop_cache_max_frames` frames, or exactly
/// `gop_cache_max_bytes` bytes of payload, are still replayed; one frame or byte more drops the GOP.
#[tokio::test]
async fn a_gop_of_exactly_its_bounds_is_replayed() {
    for (max_frames, max_bytes) in [(3, 16 << 20), (4096, 300)] {
        let hub = Registry::new(HubConfig {
            gop_cache_max_frames: max_frames,
            gop_cache_max_bytes: max_bytes,
            ..HubConfig::default()
        });
        let mut publisher = publish(&hub);
        publisher.push(avc_sequence_header());
        for i in 0..3 {
            publisher.push(video(i * 40, i == 0, 100));
        }
        let mut full = subscribe(&hub, opts(StartPolicy::Gop));
        assert_eq!(
            shape(&drain(&mut full)),
            [('V', 0), ('K', 0), ('P', 40), ('P', 80)],
            "{max_frames} frames, {max_bytes} bytes"
        );
        publisher.push(video(120, false, 100));
        let mut over = subscribe(&hub, opts(StartPolicy::Gop));
        assert_eq!(
            shape(&drain(&mut over)),
            [('V', 0)],
            "{max_frames} frames, {max_bytes} bytes"
        );
    }
}

#[tokio::test]
async fn changed_sequence_header_reaches_subscribers_and_resets_the_gop() {
    let hub = Registry::new(HubConfig::default());
    let mut publisher = publish(&hub);
    publisher.push(avc_sequence_header());
    publisher.push(video(0, true, 100));
    let mut sub = subscribe(&hub, opts(StartPolicy::Gop));
    assert_eq!(shape(&drain(&mut sub)), [('V', 0), ('K', 0)]);
    let mut other_sps = common::SPS_640X360;
    other_sps[3] = 0x1f; // another level: another configuration
    publisher.push(media::Frame::new(
        media::MediaKind::Video,
        40,
        common::avc_sequence_header_with(&other_sps),
    ));
    publisher.push(video(40, false, 100));
    assert_eq!(shape(&drain(&mut sub)), [('V', 40), ('P', 40)]);
    let mut late = subscribe(&hub, opts(StartPolicy::Gop));
    let got = drain(&mut late);
    assert_eq!(
        shape(&got),
        [('V', 40)],
        "pictures of the old configuration are not replayed"
    );
}

#[tokio::test]
async fn video_the_hub_cannot_classify_still_flows() {
    let hub = Registry::new(HubConfig::default());
    let mut publisher = publish(&hub);
    // Enhanced RTMP with a FourCC flv does not know: no keyframe flag the hub can trust.
    let unknown = |ts| {
        media::Frame::new(
            media::MediaKind::Video,
            ts,
            bytes::Bytes::from_static(&[0x91, b'x', b'y', b'z', b'w', 1, 2, 3]),
        )
    };
    publisher.push(unknown(0));
    let mut sub = subscribe(&hub, opts(StartPolicy::NextKeyframe));
    publisher.push(unknown(40));
    publisher.push(unknown(80));
    assert_eq!(shape(&drain(&mut sub)), [('P', 40), ('P', 80)]);
}
