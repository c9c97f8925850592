//! What the server keeps per live stream, in one place: hung off the hub's stream (`media` attachments), so it
//! is found from the stream's key, its publisher or any subscriber without another map, and goes away with the
//! stream. A stream published again after it ended starts with a new entry.

use std::sync::Arc;
use std::time::Duration;

use media::{Publisher, StreamKey, Subscriber};
use parking_lot::Mutex;

use crate::http::hls::HlsStream;
use crate::output::fanout::Group;
use crate::output::record::Recording;
use crate::stream::Streams;

/// The server's state of one live stream.
pub(crate) struct StreamEntry {
    /// The RTMP and HTTP-FLV players its publisher writes to.
    pub(crate) players: Arc<Group>,
    /// Its HLS segmenter, while one runs.
    pub(crate) hls: Mutex<Option<Arc<HlsStream>>>,
    /// Its recording, while one runs.
    pub(crate) recording: Mutex<Option<Recording>>,
    /// Its recent rates, sampled by `stream::history`.
    pub(crate) history: crate::stream::history::History,
    /// Its publish's health rules and its recent anomalies (`stream::health`).
    pub(crate) health: crate::stream::health::StreamHealth,
    /// What its WebRTC viewers share: converted video, the stream's AAC -> Opus transcoder (`webrtc::source`).
    pub(crate) webrtc: crate::webrtc::source::StreamSource,
}

impl StreamEntry {
    fn new(streams: &Streams) -> StreamEntry {
        StreamEntry::merging(streams.merge_window)
    }

    fn merging(merge_window: Duration) -> StreamEntry {
        StreamEntry {
            players: Arc::new(Group::new(merge_window)),
            hls: Mutex::new(None),
            recording: Mutex::new(None),
            history: Default::default(),
            health: Default::default(),
            webrtc: Default::default(),
        }
    }
}

/// The entry of `key`; `None` when the stream is not live (not in the hub).
pub(crate) fn of_key(streams: &Streams, key: &StreamKey) -> Option<Arc<StreamEntry>> {
    streams
        .registry
        .attachment(key, || StreamEntry::new(streams))
}

/// The entry of the stream `publisher` publishes.
pub(crate) fn of_publisher(streams: &Streams, publisher: &Publisher) -> Arc<StreamEntry> {
    // Only the server attaches to its hub's streams, always this type: the fallback is never taken.
    publisher
        .attachment(|| StreamEntry::new(streams))
        .unwrap_or_else(|| Arc::new(StreamEntry::new(streams)))
}

/// [`of_publisher`] for a publisher that is not a client (the cluster relay), which knows the merge window but not
/// the stream service.
pub(crate) fn of_relay(merge_window: Duration, publisher: &Publisher) -> Arc<StreamEntry> {
    publisher
        .attachment(|| StreamEntry::merging(merge_window))
        .unwrap_or_else(|| Arc::new(StreamEntry::merging(merge_window)))
}

/// The entry of the stream `subscriber` reads.
pub(crate) fn of_subscriber(streams: &Streams, subscriber: &Subscriber) -> Arc<StreamEntry> {
    subscriber
        .attachment(|| StreamEntry::new(streams))
        .unwrap_or_else(|| Arc::new(StreamEntry::new(streams)))
}

/// Every live stream's entry that exists, with its key.
pub(crate) fn all(streams: &Streams) -> Vec<(StreamKey, Arc<StreamEntry>)> {
    streams.registry.attachments::<StreamEntry>()
}
