//! A WHIP session's two halves. In the UDP task, [`Ingest`] takes the frames str0m depacketizes (passing video
//! only from a keyframe on, asking the browser for keyframes) and queues them; in the session's own task,
//! [`PublishTask`] turns them into hub frames ([`Converter`]: FLV AVC, Opus -> AAC) and pushes them through the
//! stream lifecycle's publish, as the RTMP driver does. The transcoding stays off the UDP task, which every
//! session shares.

use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::media::{KeyframeRequestKind, MediaData, Mid};
use str0m::Rtc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::driver::Command;
use super::ingest::{Converter, KeyframeGate, Received, SenderReport, TrackKind};
use super::Sessions;
use crate::stream::lifecycle::{End, PublishSession};

/// The UDP task's side of a WHIP session.
pub(crate) struct Ingest {
    video: Mid,
    audio: Option<Mid>,
    gate: KeyframeGate,
    out: mpsc::Sender<Received>,
    /// Audio packets the publish task could not take (its queue was full).
    audio_lost: u64,
    /// The session, for the log.
    label: String,
}

impl Ingest {
    /// Media of the `video` and `audio` m-lines goes to `out`; keyframes are asked for at most once per
    /// `request_interval`, and when the last one is `every` old.
    pub(crate) fn new(
        video: Mid,
        audio: Option<Mid>,
        request_interval: Duration,
        every: Option<Duration>,
        out: mpsc::Sender<Received>,
        label: String,
    ) -> Ingest {
        Ingest {
            video,
            audio,
            gate: KeyframeGate::new(request_interval, every),
            out,
            audio_lost: 0,
            label,
        }
    }

    /// Takes one depacketized frame; `true` when a keyframe should be asked for now.
    pub(crate) fn media(&mut self, data: MediaData, now: Instant) -> bool {
        let kind = if data.mid == self.video {
            TrackKind::Video
        } else if Some(data.mid) == self.audio {
            TrackKind::Audio
        } else {
            return false;
        };
        let mut request = false;
        if kind == TrackKind::Video {
            let (pass, ask) = self.gate.frame(data.is_keyframe(), data.contiguous, now);
            if !pass {
                return ask;
            }
            request = ask;
        }
        let item = Received {
            kind,
            rtp: data.time.numer(),
            arrival: data.network_time,
            report: data.last_sender_info.map(|s| SenderReport {
                ntp: s.ntp_time,
                rtp: s.rtp_time.numer(),
            }),
            data: data.data,
        };
        if self.out.try_send(item).is_err() {
            // The publish task is behind (or gone): a lost picture breaks the ones after it, a lost audio
            // packet is concealed by the decoder.
            match kind {
                TrackKind::Video => {
                    self.gate.lost();
                    request |= self.gate.poll(now);
                }
                TrackKind::Audio => self.audio_lost += 1,
            }
        }
        request
    }

    /// Whether a keyframe should be asked for now (waiting for one, or the last one is old, and the interval has
    /// passed).
    pub(crate) fn keyframe_due(&mut self, now: Instant) -> bool {
        self.gate.poll(now)
    }

    /// Sends a PLI on the video m-line. Before the browser's first packet str0m has no receive stream to send it
    /// on: the request is then simply not sent, and the next one follows.
    pub(crate) fn request_keyframe(&self, rtc: &mut Rtc) {
        let Some(mut writer) = rtc.writer(self.video) else {
            return;
        };
        if let Err(e) = writer.request_keyframe(None, KeyframeRequestKind::Pli) {
            debug!(session = %self.label, "WHIP keyframe request not sent: {e}");
        }
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        debug!(
            session = %self.label,
            keyframe_requests = self.gate.requests,
            video_dropped = self.gate.dropped,
            audio_lost = self.audio_lost,
            "WHIP ingest ended"
        );
    }
}

/// Most received frames converted before the stream's players are given what was pushed.
const BATCH: usize = 32;

/// A WHIP session's publish task: it owns the publish (dropping it ends the publish and sends `push_end`).
pub(crate) struct PublishTask {
    pub(crate) id: u64,
    pub(crate) session: PublishSession,
    pub(crate) media: mpsc::Receiver<Received>,
    pub(crate) converter: Converter,
    /// The UDP task's commands: a kicked or silent publisher's browser session is closed there.
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) sessions: Arc<Sessions>,
    /// `publisher_timeout_secs`: a publish without media this long ends, as an RTMP one does.
    pub(crate) no_media_timeout: Duration,
    pub(crate) shutdown: CancellationToken,
    pub(crate) label: String,
}

impl PublishTask {
    /// Runs until the browser's session ends (DELETE, closed, gone), the publisher is kicked or taken over, it
    /// sends nothing for `publisher_timeout_secs`, or the server stops.
    pub(crate) async fn run(mut self) {
        let kicked = self.session.kicked();
        tokio::pin!(kicked);
        let group = self.session.entry().players.clone();
        let mut last_media = tokio::time::Instant::now();
        let mut synced = false;
        let mut batch = Vec::with_capacity(BATCH);
        let end = loop {
            let deadline = last_media + self.no_media_timeout;
            tokio::select! {
                _ = self.shutdown.cancelled() => break End::Shutdown,
                _ = &mut kicked => {
                    info!(session = %self.label, "WHIP publisher kicked (through the API, a forbid, or another publisher took over)");
                    self.close().await;
                    break End::Kicked;
                }
                _ = tokio::time::sleep_until(deadline) => {
                    let why = format!(
                        "publisher sent no media for {} s (publisher_timeout_secs)",
                        self.no_media_timeout.as_secs()
                    );
                    info!(session = %self.label, "WHIP publish ends: {why}");
                    self.close().await;
                    break End::Timeout(why);
                }
                n = self.media.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        break End::Normal; // the UDP task ended the session
                    }
                    let now = tokio::time::Instant::now();
                    last_media = now;
                    for item in batch.drain(..) {
                        match self.converter.push(&item) {
                            Ok(frames) => {
                                for frame in frames {
                                    self.session.push(frame, now);
                                }
                            }
                            Err(e) => debug!(session = %self.label, "WHIP frame not published: {e}"),
                        }
                    }
                    if !synced && self.converter.synced() {
                        synced = true;
                        debug!(session = %self.label, "WHIP audio and video aligned by the sender reports");
                    }
                    group.on_push(now);
                }
            }
        };
        self.session.set_end(end);
        // Dropping the session ends the publish: push_end, the interruption record, the followers told.
    }

    /// Ends the browser's session in the UDP task and forgets its resource.
    async fn close(&self) {
        self.sessions.remove(self.id);
        if self.commands.send(Command::Close(self.id)).await.is_err() {
            warn!(session = %self.label, "WHIP session not closed: the UDP task is gone");
        }
    }
}
