//! The headless live-player: plays an RTMP or HTTP-FLV stream the way WeChat's `live-player` does, without
//! decoding, and reports the same status codes and net-status figures.
//!
//! # Parts
//!
//! - [`machine`]: the sans-IO state machine (status codes, reconnects, the live jitter buffer). All decisions
//!   are there; it is what the test vectors in `sdk/vectors/player/` exercise.
//! - [`Player`]: the tokio driver. It connects (RTMP by `rtmp://`, HTTP-FLV by `http://`; `https://` is not
//!   supported yet), feeds the machine what the connection shows, and reports [`PlayerEvent`]s: status events
//!   as they happen and a [`NetStatus`] every second. When it ends it returns a [`Recording`]: frames,
//!   keyframes, stalls, dropped frames, SEI messages and the latency they carry.
//!
//! # Example
//!
//! ```no_run
//! use client::player::{PlayOptions, Player, PlayerEvent};
//!
//! # async fn run() -> Result<(), client::player::PlayError> {
//! let (player, mut events) = Player::start("rtmp://127.0.0.1/live/demo", PlayOptions::default())?;
//! while let Some(event) = events.recv().await {
//!     match event {
//!         PlayerEvent::Status(s) if s.code == client::status::player::PLAY_BEGIN => break,
//!         PlayerEvent::Status(s) => println!("{} {}", s.code, s.message),
//!         PlayerEvent::NetStatus(n) => println!("{} kbit/s video", n.video_bitrate),
//!     }
//! }
//! let recording = player.stop().await?;
//! println!("{} video frames, {} stalls", recording.video_frames, recording.stalls);
//! # Ok(())
//! # }
//! ```
//!
//! # What counts as what
//!
//! - 2002 comes with RTMP `NetStream.Play.Start` or the HTTP 200 answer; 2003 with the first video keyframe.
//! - A stream not live yet (RTMP `StreamNotFound`, HTTP 404) is waited for: 2007 once, then 2002/2003/2004 when
//!   it starts.
//! - 2006 comes after RTMP `UnpublishNotify`/`StreamEOF` or the end of an HTTP-FLV body. live-player reports
//!   -2301 for the latter, since FLV has no end marker; mplive's server ends the body only when the stream
//!   ended (after its republish grace), so the player reports the end. A server that simply went away looks
//!   the same over HTTP-FLV; over RTMP it is 3005 and a reconnect.
//! - A server refusing the play for another reason (signature, forbidden, limits) is 3003 with the server's
//!   reason, retried like any failure.

mod attempt;
mod driver;
pub mod machine;
mod netstat;
mod recording;
mod url;

pub use driver::{PlayOptions, Player, PlayerEvent};
pub use machine::{PlayMode, PlayerState};
pub use netstat::NetStatus;
pub use recording::{Latency, Recording, SeiRecord};

/// Why a player could not start or finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlayError {
    /// The URL cannot be played.
    #[error("cannot play {url:?}: {why}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// The options contradict each other or are out of range.
    #[error("bad play options: {0}")]
    BadOptions(String),
    /// [`Player::start`] was called outside a tokio runtime.
    #[error("the player needs a tokio runtime: call Player::start from within one")]
    NoRuntime,
    /// The player task failed (a bug: it panicked).
    #[error("the player task failed: {0}")]
    Task(String),
}
