//! The recent history of each live stream: its rates sampled every [`INTERVAL`], the last [`SAMPLES`] of them kept
//! in the stream's entry, for `GET /v1/streams/{app}/{stream}/history` (the console's charts start from it instead
//! of from an empty chart). One task samples every stream; the media path is not involved.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use media::StreamKey;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

use super::entry::StreamEntry;
use super::Streams;

/// How often each stream is sampled.
pub(crate) const INTERVAL: Duration = Duration::from_secs(2);

/// Samples kept per stream: five minutes at [`INTERVAL`] (about 6 KB a stream).
pub(crate) const SAMPLES: usize = 150;

/// One sample of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Sample {
    /// When it was taken, Unix ms.
    pub(crate) at_ms: i64,
    /// Video payload bitrate, kbit/s (live-pusher's name).
    pub(crate) video_bitrate: f64,
    /// Audio payload bitrate, kbit/s.
    pub(crate) audio_bitrate: f64,
    /// Video frames per second.
    #[serde(rename = "videoFPS")]
    pub(crate) video_fps: f64,
    /// RTMP and HTTP-FLV players on this node (HLS viewers are not sampled).
    pub(crate) players: u64,
}

/// A stream's samples, oldest first.
#[derive(Default)]
pub(crate) struct History(parking_lot::Mutex<VecDeque<Sample>>);

impl History {
    fn push(&self, sample: Sample) {
        let mut samples = self.0.lock();
        if samples.len() == SAMPLES {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    /// The samples, oldest first.
    pub(crate) fn samples(&self) -> Vec<Sample> {
        self.0.lock().iter().copied().collect()
    }
}

/// Samples every live stream every [`INTERVAL`] until `shutdown`.
pub(crate) async fn run(streams: Arc<Streams>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let at_ms = control::now_ms();
        for s in streams.registry.list() {
            let key = StreamKey::new(s.app.clone(), s.stream.clone());
            let Some(entry) = super::entry::of_key(&streams, &key) else {
                continue;
            };
            sample(&entry, &s, at_ms);
        }
    }
}

fn sample(entry: &StreamEntry, s: &media::StreamStats, at_ms: i64) {
    entry.history.push(Sample {
        at_ms,
        video_bitrate: s.video_bitrate,
        audio_bitrate: s.audio_bitrate,
        video_fps: s.video_fps,
        players: s.players.rtmp + s.players.flv,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_samples_oldest_first() {
        let history = History::default();
        for i in 0..(SAMPLES as i64 + 10) {
            history.push(Sample {
                at_ms: i,
                video_bitrate: 1.0,
                audio_bitrate: 2.0,
                video_fps: 25.0,
                players: 0,
            });
        }
        let samples = history.samples();
        assert_eq!(samples.len(), SAMPLES);
        assert_eq!(samples[0].at_ms, 10);
        assert_eq!(samples[SAMPLES - 1].at_ms, SAMPLES as i64 + 9);
    }
}
