//! What goes into the machine and what comes out (snake_case names in the test vectors).

use flv::MediaKind;
use serde::{Deserialize, Serialize};

use crate::status::StatusEvent;

/// One received audio or video frame, as the machine needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// Audio or video (`"audio"`, `"video"`; sequence headers are not frames). Script data is not media: the
    /// machine ignores it.
    pub kind: MediaKind,
    /// A video keyframe.
    #[serde(default)]
    pub keyframe: bool,
    /// The stream's timestamp in milliseconds.
    pub timestamp_ms: u32,
    /// Picture width, when the driver knows it (from the last sequence header); give it on keyframes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Picture height, with `width`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

/// What the driver observed. `detail` texts end up in the status messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Input {
    /// Begin playing.
    Start,
    /// The host name did not resolve.
    DnsFailed {
        /// The resolver's error.
        #[serde(default)]
        detail: String,
    },
    /// The TCP connection could not be made.
    ConnectFailed {
        /// The OS error or "timed out".
        #[serde(default)]
        detail: String,
    },
    /// The TCP connection is up.
    TcpConnected,
    /// The RTMP handshake or connect failed, or the server refused the play for another reason than "not live".
    HandshakeFailed {
        /// What failed, with the server's reason.
        #[serde(default)]
        detail: String,
    },
    /// The server started the play (RTMP `NetStream.Play.Start`, HTTP 200).
    PlayStarted,
    /// The stream is not live (RTMP `NetStream.Play.StreamNotFound`, HTTP 404).
    NotFound {
        /// The server's reason.
        #[serde(default)]
        detail: String,
    },
    /// A frame arrived.
    Frame(Frame),
    /// The server ended the stream (RTMP `UnpublishNotify`/`StreamEOF`, end of the HTTP body).
    StreamEnded {
        /// Which signal ended it.
        #[serde(default)]
        detail: String,
    },
    /// Reading or writing failed, or the connection closed unexpectedly.
    IoFailed {
        /// The error.
        #[serde(default)]
        detail: String,
    },
    /// The application stops the player.
    Stop,
}

/// What the driver must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Open a new attempt: resolve, connect, request the play.
    Connect,
    /// Drop the current attempt (gracefully where the protocol allows).
    Close,
    /// The machine gave up (after -2301): stop driving it.
    GiveUp,
}

/// One output of the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A live-player status event for the application.
    Status(StatusEvent),
    /// Something the driver must do.
    Action(Action),
}
