//! Publish start and stop, broadcast to whoever follows the hub (the rooms bridge). Sent on publish and
//! unpublish only, never per frame.

use crate::key::StreamKey;

/// How many events a slow follower may be behind before it gets `Lagged` (and should resynchronize from
/// [`Registry::list`](crate::Registry::list)).
pub(crate) const PUBLISH_EVENTS_CAPACITY: usize = 1024;

/// A publisher attached to or left a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishEvent {
    /// A publisher attached (a new stream, a return within the grace, or an idle takeover).
    Started(StreamKey),
    /// The publisher left or was kicked; players may still wait out the grace.
    Stopped(StreamKey),
}
