//! The headless live-pusher: push an FLV file, FLV on stdin or a test pattern to an RTMP server, and report what
//! happens with live-pusher's status codes and net-status fields.
//!
//! - [`machine`]: the sans-IO state machine (observations in, status codes and actions out) with the reconnect
//!   policy; its cases are the JSON vectors under `sdk/vectors/pusher/`.
//! - [`Publisher`]: the Tokio driver. DNS (3001), TCP connect (3002), RTMP handshake, `connect` and `publish`
//!   (3003, or 3004 when the server refuses with a reason), then media through a bounded send queue (1101 when it
//!   backs up, non-key video dropped past a bound), 3005 on read/write failure, 3004 when the server closes the
//!   connection; reconnects as the machine says, re-sending metadata and sequence headers each time.
//!
//! ```no_run
//! use client::pusher::{Mode, PublishOptions, Publisher, PusherEvent, Source};
//!
//! # async fn run() -> Result<(), client::pusher::PushError> {
//! let (handle, mut events) = Publisher::start(
//!     "rtmp://127.0.0.1/live/s1?txSecret=...&txTime=...",
//!     Source::test_pattern(Mode::Hd),
//!     PublishOptions::default(),
//! )?;
//! while let Some(event) = events.recv().await {
//!     match event {
//!         PusherEvent::Status(s) if s.code == 1002 => handle.send_message("hello")?,
//!         PusherEvent::Status(s) => println!("{} {}", s.code, s.message),
//!         PusherEvent::NetStatus(n) => println!("{} kbit/s", n.net_speed),
//!         PusherEvent::Ended(end) => println!("ended: {end}"),
//!         _ => {}
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Network failures never come back as errors: they are status events, and the push reconnects until the
//! machine gives up (-1307, then [`PushEnd::GaveUp`]).

use std::fmt;
use std::time::Duration;

pub mod machine;

mod driver;
mod error;
mod link;
mod media;
mod mode;
mod publisher;
mod queue;
mod source;
mod stats;

pub use error::PushError;
pub use machine::{MachineConfig, PusherState};
pub use media::MESSAGE_SEI_UUID;
pub use mode::{AudioQuality, Mode, ModePreset, MODE_PRESETS};
pub use publisher::{Publisher, PublisherHandle};
pub use source::Source;
pub use stats::NetStatus;

use crate::status::StatusEvent;

/// What a push reports.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PusherEvent {
    /// A live-pusher status code (`bindstatechange`).
    Status(StatusEvent),
    /// The net status of the last interval (`bindnetstatus`).
    NetStatus(NetStatus),
    /// The push is over; nothing follows.
    Ended(PushEnd),
}

/// Why a push ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushEnd {
    /// [`PublisherHandle::stop`] was called or the handle dropped.
    Stopped,
    /// The source ended (end of standard input).
    SourceEnded,
    /// The source failed: the file cannot be read, ffmpeg is missing or stopped, the input is not FLV.
    SourceFailed(String),
    /// The reconnects were used up (after -1307).
    GaveUp,
}

impl fmt::Display for PushEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushEnd::Stopped => f.write_str("stopped"),
            PushEnd::SourceEnded => f.write_str("the source ended"),
            PushEnd::SourceFailed(why) => write!(f, "the source failed: {why}"),
            PushEnd::GaveUp => f.write_str("gave up reconnecting"),
        }
    }
}

/// Settings of a push. Every bound has a default.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishOptions {
    /// Reconnect policy (retries, interval, 1101 repeat).
    pub machine: MachineConfig,
    /// Time allowed for the DNS lookup, and for the TCP connect (default 5 s each).
    pub connect_timeout: Duration,
    /// Time allowed from TCP connect to NetStream.Publish.Start: handshake, `connect`, `publish` (default 10 s).
    pub publish_timeout: Duration,
    /// A connection whose socket takes no bytes this long while some wait has failed (3005; default 10 s).
    pub write_timeout: Duration,
    /// The uplink is congested (1101) when the oldest unsent frame has waited this long (default 1 s).
    pub congestion_threshold: Duration,
    /// Past this wait, queued non-key video frames are dropped (and past twice this, the oldest frames);
    /// default 3 s.
    pub max_queue_delay: Duration,
    /// Most bytes of media queued (default 16 MiB); past it the oldest frames go.
    pub max_queue_bytes: usize,
    /// Interval of [`PusherEvent::NetStatus`] (default 1 s, as live-pusher).
    pub net_status_interval: Duration,
    /// While paused, the metadata is sent again this often (default 5 s).
    pub paused_keepalive: Duration,
    /// RTMP chunk size announced after the publish starts (default 4096).
    pub chunk_size: u32,
}

impl Default for PublishOptions {
    fn default() -> Self {
        Self {
            machine: MachineConfig::default(),
            connect_timeout: Duration::from_secs(5),
            publish_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            congestion_threshold: Duration::from_secs(1),
            max_queue_delay: Duration::from_secs(3),
            max_queue_bytes: 16 << 20,
            net_status_interval: Duration::from_secs(1),
            paused_keepalive: Duration::from_secs(5),
            chunk_size: 4096,
        }
    }
}
