//! A WHEP player: the client side of WebRTC playback (`POST` an SDP offer to `/{app}/{stream}/whep`, apply the
//! answer, receive H.264 and Opus over one UDP socket), built on str0m as mplive's server is, but as the other
//! party: a full ICE agent in the controlling role (the server is ICE-lite), the DTLS client, recvonly video and
//! audio transceivers.
//!
//! - [`WhepSession`] (`session`): sans-IO around `str0m::Rtc`. It makes the offer, takes the answer, and turns
//!   datagrams and timeouts (`handle_*`, the clock an argument) into datagrams to send and [`WhepEvent`]s
//!   (`poll_output`, until it returns [`Output::Timeout`]): connected, a video access unit (Annex B, as str0m's
//!   depacketizer assembles it, with its RTP time and arrival), an audio packet, disconnected.
//! - [`signal`]: the HTTP half, `POST` of the offer and `DELETE` of the session's `Location`, with reqwest.
//! - [`WhepConnection`] (`connection`): one tokio UDP socket with a session on it, for `mplive bench`, which runs
//!   hundreds per process: like `connection::RtmpConnection`, the caller owns the receive loop and the read
//!   buffer, so nothing is copied or held across an await.
//! - [`annexb`]: NAL units of an Annex B access unit (keyframe test, the content key of its slices).
//!
//! Errors: [`WhepError`]; a refusal by the server keeps its HTTP status and the server's one-line reason.
//! Nothing here panics on what the server sends.

pub mod annexb;
mod connection;
mod error;
mod session;
pub mod signal;

pub use connection::WhepConnection;
pub use error::WhepError;
pub use session::{AudioPacket, Output, Transmit, VideoFrame, WhepEvent, WhepSession, WhepSetup};
