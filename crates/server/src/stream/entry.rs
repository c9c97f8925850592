//! What the server keeps per live stream, in one place: hung off the hub's stream (`media` attachments), so it
//! is found from the stream's key, its publisher or any subscriber without another map, and goes away with the
//! stream. A stream published again after it ended starts with a new entry.

use std::sync::Arc;

use media::{Publisher, StreamKey, Subscriber};
use parking_lot::Mutex;

use crate::http::hls::HlsStream;
use crate::output::fanout::Group;
use crate::output::record::Recording;
use crate::Shared;

/// The server's state of one live stream.
pub(crate) struct StreamEntry {
    /// The RTMP and HTTP-FLV players its publisher writes to.
    pub(crate) players: Arc<Group>,
    /// Its HLS segmenter, while one runs.
    pub(crate) hls: Mutex<Option<Arc<HlsStream>>>,
    /// Its recording, while one runs.
    pub(crate) recording: Mutex<Option<Recording>>,
}

impl StreamEntry {
    fn new(shared: &Shared) -> StreamEntry {
        StreamEntry {
            players: Arc::new(Group::new(shared.merge_window)),
            hls: Mutex::new(None),
            recording: Mutex::new(None),
        }
    }
}

/// The entry of `key`; `None` when the stream is not live (not in the hub).
pub(crate) fn of_key(shared: &Shared, key: &StreamKey) -> Option<Arc<StreamEntry>> {
    shared.registry.attachment(key, || StreamEntry::new(shared))
}

/// The entry of the stream `publisher` publishes.
pub(crate) fn of_publisher(shared: &Shared, publisher: &Publisher) -> Arc<StreamEntry> {
    // Only the server attaches to its hub's streams, always this type: the fallback is never taken.
    publisher
        .attachment(|| StreamEntry::new(shared))
        .unwrap_or_else(|| Arc::new(StreamEntry::new(shared)))
}

/// The entry of the stream `subscriber` reads.
pub(crate) fn of_subscriber(shared: &Shared, subscriber: &Subscriber) -> Arc<StreamEntry> {
    subscriber
        .attachment(|| StreamEntry::new(shared))
        .unwrap_or_else(|| Arc::new(StreamEntry::new(shared)))
}

/// Every live stream's entry that exists, with its key.
pub(crate) fn all(shared: &Shared) -> Vec<(StreamKey, Arc<StreamEntry>)> {
    shared.registry.attachments::<StreamEntry>()
}
