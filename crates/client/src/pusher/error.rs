//! Errors of the pusher API (network failures are status events, not errors).

/// Why a push could not start or a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The push URL cannot be used.
    #[error("cannot push to {url}: {reason}")]
    BadUrl {
        /// The URL without its query (the signature is not shown).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A message for [`PublisherHandle::send_message`](super::PublisherHandle::send_message) is too long for one
    /// SEI NAL unit.
    #[error("message of {len} bytes is longer than the {max} bytes an SEI message can carry")]
    MessageTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// [`Publisher::start`](super::Publisher::start) was called outside a Tokio runtime.
    #[error("a push runs on a Tokio runtime: call Publisher::start from within one")]
    NoRuntime,
    /// The push has ended; the handle no longer controls anything.
    #[error("the push has ended")]
    Ended,
}

impl From<crate::url::UrlError> for PushError {
    fn from(e: crate::url::UrlError) -> Self {
        PushError::BadUrl {
            url: e.url,
            reason: e.reason,
        }
    }
}
