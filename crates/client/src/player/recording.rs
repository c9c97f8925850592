//! What a play received and how it went, returned when the player ends.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use flv::MediaKind;
use serde::{Deserialize, Serialize};

use super::attempt::MediaInfo;
use super::machine::{PlayMode, PlayerMachine, PlayerState};
use crate::status::{player as code, StatusEvent};

/// Most SEI messages kept (all are counted).
const MAX_SEI: usize = 1000;
/// Most status codes kept (all are counted by kind in the other fields).
const MAX_STATUSES: usize = 1000;
/// Longest SEI text kept per message.
const MAX_SEI_TEXT: usize = 4096;

/// The outcome of a play. Serialized in camelCase, the names of mplive's API and of live-player's net status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recording {
    /// The URL played.
    pub url: String,
    /// The mode played in.
    pub mode: PlayMode,
    /// How the player ended.
    pub final_state: PlayerState,
    /// From start to end.
    pub duration_ms: u64,
    /// From start to the first playback (2004), if it began.
    pub startup_ms: Option<u64>,
    /// The status codes reported, in order (at most the first 1000).
    pub status_codes: Vec<i32>,
    /// Video frames received (sequence headers are not frames).
    pub video_frames: u64,
    /// Audio frames received.
    pub audio_frames: u64,
    /// Video keyframes received.
    pub keyframes: u64,
    /// Video payload bytes.
    pub video_bytes: u64,
    /// Audio payload bytes.
    pub audio_bytes: u64,
    /// Everything read from the sockets.
    pub bytes_received: u64,
    /// Stalls: 2007 after playback had begun.
    pub stalls: u64,
    /// Time spent stalled.
    pub stalled_ms: u64,
    /// Frames dropped (late, skipped to catch up above max-cache, before the first keyframe).
    pub dropped_frames: u64,
    /// Reconnects (2103).
    pub reconnects: u64,
    /// The last picture size.
    pub width: Option<u32>,
    /// The last picture size.
    pub height: Option<u32>,
    /// SEI user-data messages received (user_data_unregistered and payload type 242).
    pub sei_count: u64,
    /// The first 1000 of them.
    pub sei: Vec<SeiRecord>,
    /// End-to-end latency from SEI messages that carry their send time.
    pub latency: Option<Latency>,
}

/// One SEI user-data message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeiRecord {
    /// Timestamp of the video frame that carried it.
    pub timestamp_ms: u32,
    /// The payload as text (invalid UTF-8 replaced, trailing NULs removed, at most 4096 bytes).
    pub text: String,
    /// When the text is a JSON object with a `sendTime` or `ts` field (milliseconds since the Unix epoch): the
    /// wall-clock time from then to its arrival. Negative when the sender's clock is ahead.
    pub latency_ms: Option<i64>,
}

/// Latency figures over the SEI messages that carried a send time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    /// Messages measured.
    pub samples: u64,
    /// Lowest, milliseconds.
    pub min_ms: i64,
    /// Mean, milliseconds.
    pub avg_ms: f64,
    /// Highest, milliseconds.
    pub max_ms: i64,
}

/// Builds a [`Recording`] as the play goes.
#[derive(Debug)]
pub(crate) struct Recorder {
    rec: Recording,
    started: Instant,
    latency_sum: i64,
}

impl Recorder {
    pub(crate) fn new(url: String, mode: PlayMode, started: Instant) -> Self {
        Self {
            rec: Recording {
                url,
                mode,
                final_state: PlayerState::Idle,
                duration_ms: 0,
                startup_ms: None,
                status_codes: Vec::new(),
                video_frames: 0,
                audio_frames: 0,
                keyframes: 0,
                video_bytes: 0,
                audio_bytes: 0,
                bytes_received: 0,
                stalls: 0,
                stalled_ms: 0,
                dropped_frames: 0,
                reconnects: 0,
                width: None,
                height: None,
                sei_count: 0,
                sei: Vec::new(),
                latency: None,
            },
            started,
            latency_sum: 0,
        }
    }

    pub(crate) fn status(&mut self, event: &StatusEvent, now: Instant) {
        if self.rec.status_codes.len() < MAX_STATUSES {
            self.rec.status_codes.push(event.code);
        }
        if event.code == code::PLAY_BEGIN && self.rec.startup_ms.is_none() {
            self.rec.startup_ms = Some(millis(now.saturating_duration_since(self.started)));
        }
    }

    pub(crate) fn media(&mut self, m: &MediaInfo) {
        match m.frame.kind {
            MediaKind::Video => {
                self.rec.video_frames += 1;
                self.rec.video_bytes += m.bytes as u64;
                self.rec.keyframes += u64::from(m.frame.keyframe);
            }
            MediaKind::Audio => {
                self.rec.audio_frames += 1;
                self.rec.audio_bytes += m.bytes as u64;
            }
            MediaKind::Script => {}
        }
        for data in &m.sei {
            self.sei(m.frame.timestamp_ms, data, now_epoch_ms());
        }
    }

    fn sei(&mut self, timestamp_ms: u32, data: &[u8], now_ms: i64) {
        self.rec.sei_count += 1;
        let end = data.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        let data = &data[..end.min(MAX_SEI_TEXT)];
        let text = String::from_utf8_lossy(data).into_owned();
        let latency_ms = send_time(&text).map(|sent| now_ms - sent);
        if let Some(l) = latency_ms {
            self.latency_sum += l;
            let lat = self.rec.latency.get_or_insert(Latency {
                samples: 0,
                min_ms: l,
                avg_ms: 0.0,
                max_ms: l,
            });
            lat.samples += 1;
            lat.min_ms = lat.min_ms.min(l);
            lat.max_ms = lat.max_ms.max(l);
            lat.avg_ms = self.latency_sum as f64 / lat.samples as f64;
        }
        if self.rec.sei.len() < MAX_SEI {
            self.rec.sei.push(SeiRecord {
                timestamp_ms,
                text,
                latency_ms,
            });
        }
    }

    /// The recording at `now`, with the machine's counters.
    pub(crate) fn finish(
        mut self,
        machine: &PlayerMachine,
        now: Instant,
        received: u64,
    ) -> Recording {
        let r = &mut self.rec;
        r.final_state = machine.state();
        r.duration_ms = millis(now.saturating_duration_since(self.started));
        r.bytes_received = received;
        r.stalls = machine.stalls();
        r.stalled_ms = millis(machine.stalled(now));
        r.dropped_frames = machine.dropped_frames();
        r.reconnects = machine.reconnects();
        r.width = machine.resolution().map(|s| s.0);
        r.height = machine.resolution().map(|s| s.1);
        self.rec
    }
}

/// `sendTime` or `ts` (milliseconds since the Unix epoch) of a JSON object.
fn send_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if !text.starts_with('{') {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let field = v.get("sendTime").or_else(|| v.get("ts"))?;
    field
        .as_i64()
        .or_else(|| field.as_f64().map(|f| f.round() as i64))
}

fn now_epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sei_text_with_a_send_time_gives_latency() {
        let mut r = Recorder::new("u".into(), PlayMode::Live, Instant::now());
        r.sei(40, br#"{"sendTime": 1000, "msg": "hi"}"#, 1250);
        r.sei(80, b"{\"ts\": 1100.4}\0\0", 1250);
        r.sei(120, b"x264 - core 164", 1250);
        r.sei(160, b"{not json", 1250);
        let latency = r.rec.latency.clone().unwrap();
        assert_eq!(
            (latency.samples, latency.min_ms, latency.max_ms),
            (2, 150, 250)
        );
        assert_eq!(latency.avg_ms, 200.0);
        assert_eq!(r.rec.sei_count, 4);
        assert_eq!(r.rec.sei[1].text, "{\"ts\": 1100.4}");
        assert_eq!(r.rec.sei[2].latency_ms, None);
    }
}
