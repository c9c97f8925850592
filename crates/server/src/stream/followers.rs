//! The readers that follow every publish without being asked for by a network player: the HLS segmenter (with
//! `hls.always`), the recorder (an app's recording policy), the rooms (members' streams going live and away),
//! later the cluster relay and the WebRTC packetizer. The lifecycle tells each of them, in order, when a publish
//! starts and when it ends: one signal for all of them, sent where the publish is decided.

use std::sync::Arc;

use control::App;
use media::StreamKey;

use crate::stream::entry::StreamEntry;

/// A publish that just started.
pub(crate) struct Published<'a> {
    /// The stream.
    pub(crate) key: &'a StreamKey,
    /// Its app, with the policy in force.
    pub(crate) app: &'a App,
    /// What the server keeps for the stream.
    pub(crate) entry: &'a Arc<StreamEntry>,
}

/// Something that starts reading a stream when it is published. Called synchronously by the lifecycle: it must
/// not block (spawn the work).
pub(crate) trait Follower: Send + Sync {
    /// A publisher attached to `publish.key` (a new stream, a return within the grace, or a takeover).
    fn published(&self, publish: &Published<'_>);

    /// The stream's publisher left (unpublished, disconnected, kicked) and no other took its place.
    fn unpublished(&self, _key: &StreamKey) {}
}
