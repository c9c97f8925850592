//! The stream hub of mplive: live streams, their publishers and subscribers.
//!
//! A [`Registry`] maps [`StreamKey`]s (`app/name`) to streams. A connection that publishes gets a [`Publisher`]
//! and [`push`](Publisher::push)es [`Frame`]s (FLV tag bodies with a timestamp and a kind); a connection that
//! plays gets a [`Subscriber`] and [`recv`](Subscriber::recv)s `Arc<MediaFrame>`s. The hub knows frames, not
//! protocols or sockets: output formats are the server's business, cached per frame through
//! [`MediaFrame::encoded`] so each format is encoded once however many subscribers share it.
//!
//! ```text
//! Publisher::push(Frame) ─▶ stream: timeline, headers, GOP cache, stats ─▶ ring of Arc<MediaFrame>
//!                                                                          ├─▶ Subscriber (cursor) ─▶ RTMP
//!                                                                          └─▶ Subscriber (cursor) ─▶ HTTP-FLV
//! ```
//!
//! # Behaviour
//!
//! - **Start**: a new subscriber gets the latest metadata and sequence headers, then per [`StartPolicy`] the
//!   cached GOP (original timestamps), the cached pictures restamped to end at the live edge, or live frames
//!   from the next keyframe.
//! - **Fan-out**: one ring per stream shared by all subscribers, each with its own cursor. The publisher never
//!   waits. A subscriber whose backlog passes `subscriber_max_lag` / `subscriber_max_lag_bytes`, or that falls
//!   out of the ring, skips to the next keyframe and counts the skipped frames.
//! - **One publisher per stream**, except that a publisher idle for `publisher_idle_takeover` is taken over.
//! - **Grace**: when the publisher leaves, subscribers stay for `republish_grace`; a publisher coming back in
//!   time continues to them with its timestamps shifted to follow the last one delivered.
//! - **Sessions start at a keyframe**: video pictures a session sends before its first keyframe are counted
//!   but not forwarded (nobody could decode them); video whose header `flv` cannot read is always forwarded
//!   and treated as a start point, since it has no keyframes to wait for.
//! - **Stats** ([`StreamStats`]) are measured from the frames: bitrate, FPS, GOP, picture size, audio format.
//! - **Health** ([`health::Health`]): a sans-IO evaluator of a publish's frames that reports anomaly episodes
//!   (video gap, low frame rate, long GOP, audio/video drift, bitrate drop, timestamps going backwards); the
//!   server feeds it beside the hub.
//!
//! # I/O and clock
//!
//! No I/O. Needs a tokio runtime for the grace timers (spawned with `tokio::spawn`) and reads the clock through
//! `tokio::time::Instant`, so tests run with paused time. Without a runtime, a stream ends without grace.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use media::{Frame, HubConfig, MediaKind, PublisherInfo, Registry, StreamKey, SubscribeOptions};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let hub = Registry::new(HubConfig::default());
//! let key = StreamKey::new("live", "cam1");
//! let info = PublisherInfo {
//!     remote_addr: "10.0.0.1:50000".into(),
//!     protocol: "rtmp",
//!     republish_grace: None,
//!     started_at_ms: 1_700_000_000_000,
//!     relay: false,
//! };
//! let mut publisher = hub.publish(key.clone(), info).unwrap();
//! let mut player = hub.subscribe(&key, SubscribeOptions::new("flv")).unwrap();
//!
//! // An AVC keyframe: frame type 1, codec 7, NALU packet, composition time 0, then the NAL units.
//! publisher.push(Frame::new(MediaKind::Video, 0, Bytes::from_static(&[0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65])));
//! let frame = player.recv().await.unwrap();
//! assert!(frame.frame().keyframe);
//! # }
//! ```
//!
//! # Errors and panics
//!
//! [`PublishError`] and [`SubscribeError`] say why a publish or subscribe was refused; [`SubscriberEnd`] says a
//! stream is over. Frames are never rejected: a payload the hub cannot classify is forwarded as a plain frame.
//! Nothing here panics on frame contents; a panic is a bug.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod attachment;
mod config;
mod error;
mod frame;
mod gop;
pub mod health;
mod key;
mod probe;
mod publisher;
mod registry;
mod ring;
mod stats;
mod stream;
mod subscriber;

pub use config::HubConfig;
pub use error::{PublishError, SubscribeError, SubscriberEnd};
pub use frame::{EncodingSlot, Frame, MediaFrame, MediaKind, MAX_ENCODING_SLOTS};
pub use key::StreamKey;
pub use publisher::{Publisher, PublisherInfo};
pub use registry::Registry;
pub use stats::{PlayerStats, PublisherStats, StreamState, StreamStats, Totals};
pub use subscriber::{StartPolicy, SubscribeOptions, Subscriber, Window};
