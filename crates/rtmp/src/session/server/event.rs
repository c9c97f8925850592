//! Events of the server session.

use bytes::Bytes;

#[cfg(doc)]
use super::ServerSession;
use crate::message::MediaKind;

/// Something the server application must know or decide about.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// The client sent `connect`. Answer with [`ServerSession::accept_connect`] or
    /// [`ServerSession::reject_connect`] (the client waits for the answer before going on).
    Connect {
        /// Application name, query removed (`live?x=y` gives `live`).
        app: String,
        /// The `tcUrl` property as sent.
        tc_url: Option<String>,
        /// Query string from the app, or else from the tcUrl, without the `?`.
        query: Option<String>,
    },
    /// The client wants to publish. Answer with [`ServerSession::accept_publish`] or
    /// [`ServerSession::reject_publish`].
    Publish {
        /// Message stream id (from createStream).
        stream_id: u32,
        /// Stream name, query removed.
        name: String,
        /// Query string of the name (e.g. `txSecret=..&txTime=..`), without the `?`.
        query: Option<String>,
        /// Publishing type, `live` when absent.
        publish_type: String,
    },
    /// The client wants to play. Answer with [`ServerSession::accept_play`] or [`ServerSession::reject_play`].
    Play {
        /// Message stream id (from createStream).
        stream_id: u32,
        /// Stream name, query removed.
        name: String,
        /// Query string of the name, without the `?`.
        query: Option<String>,
        /// Start argument (-2 live or recorded, -1 live only, >= 0 seconds into a recording); -2 when absent.
        start: f64,
        /// Duration argument; -1 (until the end) when absent.
        duration: f64,
        /// Reset argument; true when absent.
        reset: bool,
    },
    /// A media or data message on an accepted publishing stream. Data payloads are FLV script tag bodies:
    /// `@setDataFrame` is stripped so metadata arrives as `"onMetaData", {...}`.
    Media {
        /// Message stream id.
        stream_id: u32,
        /// Audio, video or data.
        kind: MediaKind,
        /// Absolute timestamp in milliseconds.
        timestamp: u32,
        /// The message body, frozen once from the reassembly buffer (no extra copy).
        payload: Bytes,
    },
    /// A publishing (or pending) stream ended: FCUnpublish, closeStream or deleteStream.
    Unpublish {
        /// Message stream id.
        stream_id: u32,
    },
    /// A playing (or pending) stream ended: closeStream or deleteStream.
    PlayStop {
        /// Message stream id.
        stream_id: u32,
    },
    /// Something was ignored: an unknown command (answered with `_error`), or input RTMP does not allow (an
    /// unknown message type, a malformed command or data message).
    Unhandled {
        /// What was ignored and why.
        description: String,
        /// The peer sent something malformed or undefined (not merely a command we do not know); servers
        /// usually close such a connection.
        malformed: bool,
    },
}
