//! The WHEP client's one error type.

/// Why a WHEP session could not start or ended in error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WhepError {
    /// The HTTP request (`POST` of the offer, `DELETE` of the session) could not be made.
    #[error("{what} {url}: {reason}")]
    Http {
        /// `POST` or `DELETE`.
        what: &'static str,
        /// The URL asked.
        url: String,
        /// The transport error (connection refused, timed out, ...).
        reason: String,
    },
    /// The server refused the offer: its status and its one-line reason (`reason: what to do`).
    #[error("the server refused the offer: {status} {body}")]
    Refused {
        /// The HTTP status (400, 403, 404, 406, 503, ...).
        status: u16,
        /// The response body, cut to a line.
        body: String,
    },
    /// The answer (or our own offer) could not be read or applied.
    #[error("SDP: {0}")]
    Sdp(String),
    /// The WebRTC session failed (ICE, DTLS, SRTP, bad packets); str0m's reason.
    #[error("webrtc: {0}")]
    Rtc(String),
    /// The UDP socket failed.
    #[error("udp {what}: {source}")]
    Io {
        /// `bind`, `send` or `receive`.
        what: &'static str,
        /// The socket error.
        source: std::io::Error,
    },
}
