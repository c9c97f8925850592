//! Why a publish or a subscribe was refused, and how a subscription ends.

use thiserror::Error;

/// Why [`Registry::publish`](crate::Registry::publish) refused a publisher.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PublishError {
    /// Another connection is publishing this stream and is not idle.
    #[error(
        "already publishing: stream {key} has a publisher on another connection (one publisher per stream; \
         stop the other publisher, or publish again once it has been idle past publisher_idle_takeover)"
    )]
    AlreadyPublishing {
        /// The stream, as `app/name`.
        key: String,
    },
    /// The hub holds `max` streams already.
    #[error("too many live streams: the limit is {max} (setting max_streams)")]
    TooManyStreams {
        /// The configured `max_streams`.
        max: usize,
    },
}

/// Why [`Registry::subscribe`](crate::Registry::subscribe) refused a subscriber.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// Nobody publishes this stream and it is not waiting for its publisher to come back.
    #[error("stream {key} is not live (no publisher, and not within the republish grace period)")]
    NotFound {
        /// The stream, as `app/name`.
        key: String,
    },
}

/// How a subscription ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SubscriberEnd {
    /// The publisher left (or was kicked) and did not come back within the grace period; everything buffered
    /// has been delivered.
    #[error("stream ended: the publisher left and did not come back within the grace period")]
    Ended,
}
