//! Property test: any interleaving of publish, push, subscribe, read, drop, kick and time never panics, and
//! every subscriber sees, after its first keyframe, consecutive sequence numbers except for the frames it
//! counted as dropped, with non-decreasing timestamps; and the stream's dropped frames are always the sum of what
//! its subscribers counted.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use media::{
    Frame, HubConfig, MediaFrame, MediaKind, PublishError, Publisher, Registry, StartPolicy,
    SubscribeOptions, Subscriber,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Publish,
    Push {
        publisher: usize,
        what: u8,
        dt: u32,
        size: usize,
    },
    DropPublisher(usize),
    Kick,
    Subscribe(u8),
    Read {
        sub: usize,
        max: usize,
    },
    /// A window read through one subscriber and offered to every subscriber (the server's shared write path).
    ReadShared {
        sub: usize,
        max: usize,
    },
    Wait(usize),
    DropSubscriber(usize),
    Sleep(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::Publish),
        12 => (0..3usize, 0..9u8, 1..200u32, 2..3000usize)
            .prop_map(|(publisher, what, dt, size)| Op::Push { publisher, what, dt, size }),
        1 => (0..3usize).prop_map(Op::DropPublisher),
        1 => Just(Op::Kick),
        2 => (0..3u8).prop_map(Op::Subscribe),
        4 => (0..6usize, 0..40usize).prop_map(|(sub, max)| Op::Read { sub, max }),
        3 => (0..6usize, 1..10usize).prop_map(|(sub, max)| Op::ReadShared { sub, max }),
        1 => (0..6usize).prop_map(Op::Wait),
        1 => (0..6usize).prop_map(Op::DropSubscriber),
        1 => prop_oneof![0..100u64, 0..3000u64].prop_map(Op::Sleep),
    ]
}

fn frame(what: u8, ts: u32, size: usize) -> Frame {
    match what {
        0 | 1 => video(ts, what == 0, size),
        2 | 3 => video(ts, false, size),
        4 => audio(ts, size.min(400)),
        5 => metadata(ts),
        6 => {
            let mut sps = SPS_640X360;
            sps[3] = 0x1e + (size % 2) as u8; // two configurations: sometimes a change
            Frame::new(MediaKind::Video, ts, avc_sequence_header_with(&sps))
        }
        7 => Frame::new(
            MediaKind::Audio,
            ts,
            Bytes::from_static(&[0xaf, 0x00, 0x12, 0x10]),
        ),
        // Video the hub cannot classify (unknown Enhanced RTMP FourCC).
        _ => Frame::new(
            MediaKind::Video,
            ts,
            Bytes::from_static(&[0x91, b'x', b'y', b'z', b'w', 0]),
        ),
    }
}

/// A subscriber and what it received.
struct Watcher {
    sub: Subscriber,
    /// Which incarnation of the stream it subscribed to (see [`Incarnation`]).
    incarnation: u64,
    policy: StartPolicy,
    /// Set once the first keyframe was delivered.
    after_keyframe: Option<Checked>,
    ended: bool,
}

struct Checked {
    /// Sequence number of the first keyframe.
    first: u64,
    /// `dropped_frames()` when it was delivered.
    dropped_at_first: u64,
    /// Sequence numbers delivered since (the keyframe included).
    delivered: BTreeSet<u64>,
    last_ts: u32,
}

impl Watcher {
    fn take(&mut self, result: Result<Option<Arc<MediaFrame>>, media::SubscriberEnd>) -> bool {
        let frame = match result {
            Ok(Some(frame)) => frame,
            Ok(None) => return false,
            Err(_) => {
                self.ended = true;
                return false;
            }
        };
        assert!(!self.ended, "a frame after the end");
        let f = frame.frame();
        let Some(c) = &mut self.after_keyframe else {
            if f.kind == MediaKind::Video && f.keyframe {
                self.after_keyframe = Some(Checked {
                    first: frame.seq(),
                    dropped_at_first: self.sub.dropped_frames(),
                    delivered: BTreeSet::from([frame.seq()]),
                    last_ts: f.timestamp,
                });
            }
            return true;
        };
        assert!(
            f.timestamp >= c.last_ts,
            "timestamp went back: {} after {}",
            f.timestamp,
            c.last_ts
        );
        c.last_ts = f.timestamp;
        let newest = c.delivered.last().copied().unwrap_or(c.first);
        if !f.sequence_header {
            assert!(frame.seq() > newest, "seq {} after {newest}", frame.seq());
        }
        assert!(
            c.delivered.insert(frame.seq()),
            "seq {} delivered twice",
            frame.seq()
        );
        if !f.sequence_header && self.policy != StartPolicy::FastGop {
            // Every sequence number up to this frame was either delivered or counted as dropped.
            let missing = frame.seq() - c.first + 1 - c.delivered.len() as u64;
            assert_eq!(
                missing,
                self.sub.dropped_frames() - c.dropped_at_first,
                "every gap is a counted drop"
            );
        }
        true
    }
}

/// The stream as the model follows it: a stream that left the hub and is published again is a new one, with its
/// own counters. Its `dropped_frames` is the sum of what its subscribers, present and departed, counted.
#[derive(Default)]
struct Incarnation {
    number: u64,
    /// Whether the hub holds the stream now.
    present: bool,
    /// Drops counted by its subscribers that have left.
    departed_drops: u64,
}

impl Incarnation {
    /// Follows the hub after an operation: a stream gone from the hub ends this incarnation.
    fn observe(&mut self, hub: &Registry) {
        let present = hub.get(&key()).is_some();
        if self.present && !present {
            self.number += 1;
            self.departed_drops = 0;
        }
        self.present = present;
    }

    /// The stream's dropped frames equal the sum over its subscribers.
    fn check(&self, hub: &Registry, watchers: &[Watcher]) {
        let Some(stats) = hub.get(&key()) else {
            return;
        };
        let current: u64 = watchers
            .iter()
            .filter(|w| w.incarnation == self.number)
            .map(|w| w.sub.dropped_frames())
            .sum();
        assert_eq!(
            stats.dropped_frames,
            self.departed_drops + current,
            "the stream's dropped frames are its subscribers' (present: {current}, departed: {})",
            self.departed_drops
        );
    }
}

fn run(ops: Vec<Op>, tight: bool) {
    let config = if tight {
        HubConfig {
            gop_cache_max_frames: 6,
            gop_cache_max_bytes: 8000,
            ring_capacity: 8,
            subscriber_max_lag: Duration::from_millis(400),
            subscriber_max_lag_bytes: 6000,
            publisher_idle_takeover: Duration::from_millis(500),
            republish_grace: Duration::from_millis(1500),
            max_streams: 4,
            ..HubConfig::default()
        }
    } else {
        HubConfig {
            ring_capacity: 100_000,
            subscriber_max_lag_bytes: u64::MAX,
            ..HubConfig::default()
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async move {
        let hub = Registry::new(config);
        let mut publishers: Vec<(Publisher, u32)> = Vec::new();
        let mut watchers: Vec<Watcher> = Vec::new();
        let mut incarnation = Incarnation::default();
        for op in ops {
            match op {
                Op::Publish => match hub.publish(key(), info("p")) {
                    Ok(p) => publishers.push((p, 0)),
                    Err(PublishError::AlreadyPublishing { .. }) => {}
                    Err(e) => panic!("{e}"),
                },
                Op::Push {
                    publisher,
                    what,
                    dt,
                    size,
                } => {
                    if let Some((p, ts)) = publishers.get_mut(publisher) {
                        *ts += if tight { dt } else { dt % 50 + 1 };
                        p.push(frame(what, *ts, size));
                    }
                }
                Op::DropPublisher(i) => {
                    if i < publishers.len() {
                        drop(publishers.remove(i));
                    }
                }
                Op::Kick => {
                    hub.kick(&key());
                }
                Op::Subscribe(policy) => {
                    let policy = [
                        StartPolicy::Gop,
                        StartPolicy::FastGop,
                        StartPolicy::NextKeyframe,
                    ][usize::from(policy)];
                    if let Ok(sub) = hub.subscribe(
                        &key(),
                        SubscribeOptions {
                            start: policy,
                            protocol: "rtmp",
                        },
                    ) {
                        watchers.push(Watcher {
                            sub,
                            incarnation: incarnation.number,
                            policy,
                            after_keyframe: None,
                            ended: false,
                        });
                    }
                }
                Op::Read { sub, max } => {
                    if let Some(w) = watchers.get_mut(sub) {
                        for _ in 0..max {
                            let r = w.sub.try_recv();
                            if !w.take(r) {
                                break;
                            }
                        }
                    }
                }
                Op::ReadShared { sub, max } => {
                    let window = watchers.get(sub).and_then(|w| w.sub.window(max));
                    if let Some(window) = window {
                        assert!(!window.frames().is_empty(), "a window has frames");
                        assert!(window.frames().len() <= max);
                        for w in watchers.iter_mut() {
                            if w.sub.take_window(&window) {
                                for frame in window.frames() {
                                    assert!(w.take(Ok(Some(Arc::clone(frame)))));
                                }
                            }
                        }
                        assert!(
                            watchers.get(sub).is_some_and(
                                |w| w.sub.window(max).map(|n| n.from()) != Some(window.from())
                            ),
                            "the reader moved past its own window"
                        );
                    }
                }
                Op::Wait(sub) => {
                    if let Some(w) = watchers.get_mut(sub) {
                        if let Ok(r) =
                            tokio::time::timeout(Duration::from_millis(1), w.sub.recv()).await
                        {
                            w.take(r.map(Some));
                        }
                    }
                }
                Op::DropSubscriber(i) => {
                    if i < watchers.len() {
                        let w = watchers.remove(i);
                        if w.incarnation == incarnation.number {
                            incarnation.departed_drops += w.sub.dropped_frames();
                        }
                    }
                }
                Op::Sleep(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            }
            incarnation.observe(&hub);
            incarnation.check(&hub, &watchers);
        }
        if !tight {
            for w in &watchers {
                assert_eq!(w.sub.dropped_frames(), 0, "no drops without bounds");
            }
        }
        if let Some(stats) = hub.get(&key()) {
            let current = watchers
                .iter()
                .filter(|w| w.incarnation == incarnation.number)
                .count();
            assert_eq!(
                stats.players.total, current as u64,
                "every subscriber of this stream is a player"
            );
        }
        drop(publishers);
        drop(watchers);
        assert!(
            hub.list().is_empty(),
            "no publisher and no subscriber: nothing left"
        );
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn interleavings_with_tight_bounds(ops in proptest::collection::vec(op(), 1..300)) {
        run(ops, true);
    }

    #[test]
    fn interleavings_without_drops(ops in proptest::collection::vec(op(), 1..300)) {
        run(ops, false);
    }
}
