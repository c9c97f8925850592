//! Events of the client session.

use bytes::Bytes;

#[cfg(doc)]
use super::ClientSession;
use crate::message::MediaKind;

/// What happened on a client connection.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// The handshake completed; queued commands have been sent.
    HandshakeDone,
    /// `connect` was answered with `_result`.
    Connected,
    /// `connect` was answered with `_error`.
    ConnectRejected {
        /// Status code, e.g. `NetConnection.Connect.Rejected`.
        code: String,
        /// Status description.
        description: String,
    },
    /// NetStream.Publish.Start arrived: [`ClientSession::send_media`] now sends.
    Publishing {
        /// The message stream id publishing on.
        stream_id: u32,
    },
    /// The publish (or its createStream) was refused.
    PublishRejected {
        /// Status code, e.g. `NetStream.Publish.BadName`.
        code: String,
        /// Status description.
        description: String,
    },
    /// NetStream.Play.Start arrived.
    Playing {
        /// The message stream id playing on.
        stream_id: u32,
    },
    /// The play (or its createStream) was refused.
    PlayRejected {
        /// Status code, e.g. `NetStream.Play.StreamNotFound`.
        code: String,
        /// Status description.
        description: String,
    },
    /// User Control StreamBegin.
    StreamBegin,
    /// User Control StreamEOF.
    StreamEof,
    /// Any other onStatus (e.g. NetStream.Play.UnpublishNotify) or an unexpected `_error`.
    Status {
        /// `status`, `warning` or `error`.
        level: String,
        /// Status code.
        code: String,
        /// Status description.
        description: String,
    },
    /// A media or data message (data bodies as sent, e.g. `"onMetaData", {...}`).
    Media {
        /// Audio, video or data.
        kind: MediaKind,
        /// Absolute timestamp in milliseconds.
        timestamp: u32,
        /// The message body.
        payload: Bytes,
    },
}
