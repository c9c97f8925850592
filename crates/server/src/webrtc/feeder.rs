//! One task per WHEP session between the hub and the UDP task: it reads the session's hub subscriber once the
//! browser is connected, turns frames into what the RTP packetizer takes (through the stream's shared
//! [`StreamSource`](super::source::StreamSource)), and queues them for the UDP task. The queue is bounded: when
//! the UDP task is behind, this task waits, the subscriber lags, and the hub's lag rule skips it to the next
//! keyframe (counted in its dropped frames) as for any player.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use audio::AacToOpusConfig;
use media::{MediaKind, Registry, Subscriber};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::h264::{Annexb, Video, VideoError};
use super::rendition::{RenditionError, Renditions, Viewer};
use super::settings::{BFrames, VideoTimestamps};
use super::source::{OpusOut, StreamSource};
use crate::output::fanout::Streaming;
use crate::stream::entry::StreamEntry;

/// What a feeder hands the UDP task for one session.
pub(crate) enum Item {
    /// An access unit for the video m-line.
    Video {
        data: Arc<[u8]>,
        /// RTP time at 90 kHz.
        rtp_90k: u64,
    },
    /// An Opus packet for the audio m-line.
    Audio(OpusOut),
    /// The stream ended (or cannot be sent): the session ends.
    End(End),
}

/// Why a feeder ends its session.
pub(crate) struct End {
    /// For the log.
    pub(crate) why: String,
    /// A refusal reason (`b_frames`, `codec_unsupported`) when the session ends because the stream cannot be
    /// played over WebRTC: the `play_stop` webhook then carries it (errcode and errmsg); `None` for a normal end.
    pub(crate) reason: Option<&'static str>,
}

impl End {
    fn normal(why: &str) -> Item {
        Item::End(End {
            why: why.to_owned(),
            reason: None,
        })
    }

    fn refused(reason: &'static str, why: String) -> Item {
        Item::End(End {
            why,
            reason: Some(reason),
        })
    }
}

/// A session's feeder, before it runs.
pub(crate) struct Feeder {
    pub(crate) id: u64,
    pub(crate) subscriber: Subscriber,
    pub(crate) entry: Arc<StreamEntry>,
    pub(crate) timestamps: VideoTimestamps,
    /// `webrtc.b_frames`: what happens when the stream starts sending B-frames mid-session.
    pub(crate) b_frames: BFrames,
    /// The stream's re-encoded rendition when it has B-frames (`b_frames = "transcode"`): the session's media
    /// then come from it, while `subscriber` keeps the session a player of the original (statistics, its end).
    pub(crate) rendition: Option<Viewer>,
    /// Where a rendition comes from when the stream starts sending B-frames mid-session.
    pub(crate) renditions: Arc<Renditions>,
    pub(crate) registry: Registry,
    /// The session has an audio m-line: without one (a video-only offer) it leaves the transcoder alone.
    pub(crate) audio: bool,
    /// The stream's transcoder is made with these when this session is the first to read its sequence header.
    pub(crate) opus: AacToOpusConfig,
    /// `webrtc.opus_cache_frames`.
    pub(crate) opus_cache_frames: usize,
    pub(crate) out: mpsc::Sender<(u64, Item)>,
    /// Fired by the UDP task when the browser is connected: frames written before are dropped by str0m.
    pub(crate) connected: oneshot::Receiver<()>,
    pub(crate) stop: CancellationToken,
    /// The session's place in the API's list of the stream's players.
    pub(crate) listed: Streaming,
}

impl Feeder {
    /// Runs until the stream ends or the session is stopped.
    pub(crate) async fn run(mut self) {
        tokio::select! {
            _ = self.stop.cancelled() => return,
            started = &mut self.connected => if started.is_err() { return },
        }
        let mut annexb = Annexb::default();
        // Pictures before the first keyframe cannot be decoded (an app without a GOP cache starts mid-GOP).
        let mut seen_keyframe = false;
        let key = self.subscriber.key().clone();
        let mut rendition = self.rendition.take();
        loop {
            let reading = match rendition.as_mut() {
                Some(r) => &mut r.subscriber,
                None => &mut self.subscriber,
            };
            let frame = tokio::select! {
                _ = self.stop.cancelled() => return,
                frame = reading.recv() => frame,
            };
            let Ok(frame) = frame else {
                self.send(End::normal("the stream ended")).await;
                return;
            };
            let source: &StreamSource =
                rendition.as_ref().map_or(&self.entry.webrtc, |r| &r.source);
            let f = frame.frame();
            let items: Vec<Item> = match f.kind {
                MediaKind::Video => match source.video(&mut annexb, &frame) {
                    Ok(Video::Picture(au)) if seen_keyframe || au.keyframe => {
                        seen_keyframe = true;
                        let ms = match self.timestamps {
                            VideoTimestamps::Pts => {
                                i64::from(f.timestamp) + i64::from(au.composition_ms)
                            }
                            VideoTimestamps::Dts => i64::from(f.timestamp),
                        };
                        let rtp_90k = u64::try_from(ms.max(0)).unwrap_or(0) * 90;
                        vec![Item::Video {
                            data: au.data,
                            rtp_90k,
                        }]
                    }
                    Ok(Video::Picture(_) | Video::Config | Video::Nothing) => Vec::new(),
                    Err(VideoError::Codec(codec)) => {
                        info!(stream = %key, ?codec, "WHEP session ends: the stream's video is not H.264");
                        let why = format!(
                            "codec_unsupported: the stream's video is now {codec:?}, and WebRTC playback passes \
                             H.264 through only"
                        );
                        self.send(End::refused("codec_unsupported", why)).await;
                        return;
                    }
                    Err(e) => {
                        debug!(stream = %key, "WHEP: frame skipped: {e}");
                        Vec::new()
                    }
                },
                // Sequence headers too: they make (or replace) the stream's transcoder.
                MediaKind::Audio if self.audio => source
                    .opus(&frame, &self.opus, self.opus_cache_frames)
                    .into_iter()
                    .map(Item::Audio)
                    .collect(),
                _ => Vec::new(),
            };
            // A stream that started sending B-frames after this session began (a republish with another encoder
            // setting) would play as about a keyframe a second: the session moves to the re-encoded rendition
            // (from its next keyframe), or ends as new offers are refused.
            let noticed = (f.kind == MediaKind::Video && rendition.is_none())
                .then(|| self.entry.webrtc.b_frames())
                .flatten();
            if let Some(why) = noticed.filter(|_| self.b_frames != BFrames::Pass) {
                let announce = self.entry.webrtc.announce_b_frames();
                if self.b_frames == BFrames::Refuse {
                    if announce {
                        warn!(stream = %key, "the stream's H.264 now has B-frames ({why}): its WHEP sessions end \
                            and new offers are refused (406 b_frames)");
                    }
                    self.send(End::refused("b_frames", super::bframes::refusal(&why)))
                        .await;
                    return;
                }
                match self.renditions.view(&self.registry, &key) {
                    Ok(viewer) => {
                        if announce {
                            info!(stream = %key, "the stream's H.264 now has B-frames ({why}): its WHEP sessions \
                                play it re-encoded without them");
                        }
                        rendition = Some(viewer);
                        annexb = Annexb::default();
                        seen_keyframe = false;
                        continue;
                    }
                    Err(e) => {
                        info!(stream = %key, "WHEP session ends: the stream now has B-frames ({why}): {e}");
                        let reason = match e {
                            RenditionError::TooMany { .. } => "too_many_transcodes",
                            RenditionError::NotFound => "b_frames",
                        };
                        self.send(End::refused(reason, e.to_string())).await;
                        return;
                    }
                }
            }
            let bytes: usize = items
                .iter()
                .map(|i| match i {
                    Item::Video { data, .. } => data.len(),
                    Item::Audio(p) => p.data.len(),
                    Item::End(_) => 0,
                })
                .sum();
            for item in items {
                if !self.send(item).await {
                    return;
                }
            }
            self.subscriber.record_sent(bytes as u64);
            let player = &self.listed.player;
            player.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
            let dropped = rendition
                .as_ref()
                .map_or(&self.subscriber, |r| &r.subscriber)
                .dropped_frames();
            player.dropped_frames.store(dropped, Ordering::Relaxed);
        }
    }

    /// Queues `item`; `false` when the UDP task is gone.
    async fn send(&self, item: Item) -> bool {
        tokio::select! {
            _ = self.stop.cancelled() => false,
            sent = self.out.send((self.id, item)) => sent.is_ok(),
        }
    }
}
