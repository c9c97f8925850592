//! Cuts a stream of FLV audio/video payloads into MPEG-TS segments and keeps a sliding window of them.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use flv::aac::AudioSpecificConfig;
use flv::audio::{AudioTagInfo, SoundFormat};
use flv::avc::AvcDecoderConfig;
use flv::video::{VideoCodec, VideoTagInfo};
use flv::{FrameClass, MediaKind};

use crate::annexb::{aac_to_adts, avc_to_annexb};
use crate::error::HlsError;
use crate::ts::{Tracks, TsMuxer};

/// Every timestamp is shifted by this much (1 s at 90 kHz) so that a PTS before the first DTS (composition
/// offsets) and the PCR lead never go below zero.
const TIMESTAMP_BASE: u64 = 90_000;

/// Bounds of the segmenter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmenterConfig {
    /// A segment is cut at the first keyframe (audio-only: the first frame) once it is this long, in
    /// milliseconds.
    pub target_duration_ms: u64,
    /// Complete segments kept; older ones leave the window.
    pub window: usize,
}

impl Default for SegmenterConfig {
    fn default() -> Self {
        SegmenterConfig {
            target_duration_ms: 2000,
            window: 6,
        }
    }
}

/// One complete segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Media sequence number, consecutive from 0.
    pub sequence: u64,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// Wall-clock time of the segment's first frame, milliseconds since the Unix epoch.
    pub program_date_time_ms: u64,
    /// The segment follows a discontinuity (a new publisher or new codec configuration).
    pub discontinuity: bool,
    /// The MPEG-TS bytes.
    pub data: Bytes,
}

/// The segment being written.
#[derive(Debug)]
struct Open {
    start_ms: i64,
    wall_ms: u64,
    data: BytesMut,
    discontinuity: bool,
}

/// Turns FLV payloads into a window of MPEG-TS segments.
///
/// Feed sequence headers and frames in order with [`handle_frame`](Segmenter::handle_frame); completed segments
/// appear in [`segments`](Segmenter::segments). The wall clock is an argument, never read here. Frames that cannot
/// be used (unsupported codec, bad data, no sequence header yet) come back as [`HlsError`] and are skipped.
#[derive(Debug)]
pub struct Segmenter {
    config: SegmenterConfig,
    avc: Option<AvcDecoderConfig>,
    aac: Option<AudioSpecificConfig>,
    muxer: Option<TsMuxer>,
    open: Option<Open>,
    segments: VecDeque<Segment>,
    next_sequence: u64,
    discontinuity_sequence: u64,
    pending_discontinuity: bool,
    /// Timestamps extended past the 32-bit wrap: the last one seen, raw and extended.
    last_ts: Option<(u32, i64)>,
    /// Maps stream time to wall time (`wall = ts + offset`): the smallest `now - ts` seen since the last
    /// discontinuity. Frames replayed from the hub's GOP cache arrive late, so the smallest offset is the one of
    /// frames that arrived live, and program date times say when the server received the media.
    offset: Option<i64>,
    /// Last extended timestamp written, to measure the segment being written.
    last_written_ms: i64,
}

impl Segmenter {
    /// An empty segmenter. A `window` of 0 is taken as 1 and a target of 0 ms as 1 ms.
    pub fn new(config: SegmenterConfig) -> Segmenter {
        Segmenter {
            config: SegmenterConfig {
                target_duration_ms: config.target_duration_ms.max(1),
                window: config.window.max(1),
            },
            avc: None,
            aac: None,
            muxer: None,
            open: None,
            segments: VecDeque::new(),
            next_sequence: 0,
            discontinuity_sequence: 0,
            pending_discontinuity: false,
            last_ts: None,
            offset: None,
            last_written_ms: 0,
        }
    }

    /// The complete segments in the window, oldest first.
    pub fn segments(&self) -> impl ExactSizeIterator<Item = &Segment> {
        self.segments.iter()
    }

    /// The segment with this media sequence number, if it is in the window.
    pub fn segment(&self, sequence: u64) -> Option<&Segment> {
        let first = self.segments.front()?.sequence;
        self.segments
            .get(usize::try_from(sequence.checked_sub(first)?).ok()?)
    }

    /// EXT-X-DISCONTINUITY-SEQUENCE: discontinuities that have left the window.
    pub fn discontinuity_sequence(&self) -> u64 {
        self.discontinuity_sequence
    }

    /// The configured target duration in milliseconds.
    pub fn target_duration_ms(&self) -> u64 {
        self.config.target_duration_ms
    }

    /// Marks a discontinuity (a republish, new codec configuration): the segment being written is closed as it
    /// is, and the next one starts with `EXT-X-DISCONTINUITY`, fresh tables and the new configuration.
    pub fn discontinuity(&mut self) {
        self.close_open();
        self.pending_discontinuity = true;
        self.muxer = None;
        self.offset = None;
        self.last_ts = None;
        self.last_written_ms = 0;
    }

    /// Closes the segment being written (end of stream), so that the window holds everything received.
    pub fn finish(&mut self) {
        self.close_open();
    }

    /// Handles one FLV tag body with its timestamp (ms) at wall-clock time `now_ms` (ms since the Unix epoch).
    /// Returns whether a segment was completed by this frame. Script data is ignored (`Ok(false)`).
    pub fn handle_frame(
        &mut self,
        kind: MediaKind,
        timestamp: u32,
        payload: &[u8],
        now_ms: u64,
    ) -> Result<bool, HlsError> {
        match kind {
            MediaKind::Video => self.handle_video(timestamp, payload, now_ms),
            MediaKind::Audio => self.handle_audio(timestamp, payload, now_ms),
            MediaKind::Script => Ok(false),
        }
    }

    fn handle_video(&mut self, ts: u32, payload: &[u8], now_ms: u64) -> Result<bool, HlsError> {
        let info = VideoTagInfo::parse(payload).map_err(HlsError::Video)?;
        if info.codec != VideoCodec::Avc {
            return Err(HlsError::UnsupportedCodec {
                kind: "video",
                codec: format!("{:?}", info.codec),
            });
        }
        let body = payload.get(info.header_len..).unwrap_or_default();
        let class = FrameClass::of_video(&info);
        if class.is_sequence_header() {
            self.avc = Some(AvcDecoderConfig::parse(body).map_err(HlsError::Video)?);
            return Ok(false);
        }
        if class == FrameClass::NoPicture || body.is_empty() {
            return Ok(false);
        }
        let Some(avc) = &self.avc else {
            return Err(HlsError::NoSequenceHeader { kind: "video" });
        };
        let keyframe = class.is_keyframe();
        let annexb = avc_to_annexb(body, avc, keyframe)?;
        let dts_ms = self.extend(ts);
        self.observe(dts_ms, now_ms);
        let mut cut = false;
        if keyframe {
            cut = self.maybe_cut(dts_ms, now_ms);
        }
        let Some(open) = self.open.as_mut() else {
            // Pictures before the first keyframe cannot be decoded: nothing to write yet.
            return Ok(cut);
        };
        let Some(muxer) = self.muxer.as_mut() else {
            return Ok(cut);
        };
        let dts = to_90k(dts_ms);
        let pts = to_90k(dts_ms + i64::from(info.composition_time));
        muxer.write_video(&mut open.data, pts, dts, keyframe, &annexb);
        self.last_written_ms = self.last_written_ms.max(dts_ms);
        Ok(cut)
    }

    fn handle_audio(&mut self, ts: u32, payload: &[u8], now_ms: u64) -> Result<bool, HlsError> {
        let info = AudioTagInfo::parse(payload).map_err(HlsError::Audio)?;
        if info.format != SoundFormat::Aac {
            return Err(HlsError::UnsupportedCodec {
                kind: "audio",
                codec: format!("{:?}", info.format),
            });
        }
        let body = payload.get(info.header_len..).unwrap_or_default();
        if info.is_sequence_header {
            self.aac = Some(AudioSpecificConfig::parse(body).map_err(HlsError::Audio)?);
            return Ok(false);
        }
        if body.is_empty() {
            return Ok(false);
        }
        let Some(aac) = &self.aac else {
            return Err(HlsError::NoSequenceHeader { kind: "audio" });
        };
        let adts = aac_to_adts(body, aac)?;
        let pts_ms = self.extend(ts);
        self.observe(pts_ms, now_ms);
        // With video, segments start at keyframes; audio-only streams are cut by duration alone.
        let audio_only = self.avc.is_none();
        let cut = if audio_only {
            self.maybe_cut(pts_ms, now_ms)
        } else {
            false
        };
        let (Some(open), Some(muxer)) = (self.open.as_mut(), self.muxer.as_mut()) else {
            return Ok(cut);
        };
        muxer.write_audio(&mut open.data, to_90k(pts_ms), &adts);
        self.last_written_ms = self.last_written_ms.max(pts_ms);
        Ok(cut)
    }

    /// At a start point (`ts_ms`): closes the open segment when it has reached the target duration, and opens
    /// a segment when none is open. Returns whether a segment was completed.
    fn maybe_cut(&mut self, ts_ms: i64, now_ms: u64) -> bool {
        let mut cut = false;
        if let Some(open) = &self.open {
            let length = ts_ms.saturating_sub(open.start_ms);
            if length < 0 || (length as u64) < self.config.target_duration_ms {
                return false;
            }
            self.close_at(ts_ms);
            cut = true;
        }
        self.start_segment(ts_ms, now_ms);
        cut
    }

    fn start_segment(&mut self, ts_ms: i64, now_ms: u64) {
        let tracks = Tracks {
            video: self.avc.is_some(),
            audio: self.aac.is_some(),
        };
        if self.muxer.as_ref().map(|m| m.tracks()) != Some(tracks) {
            self.muxer = Some(TsMuxer::new(tracks));
        }
        let offset = self.observe(ts_ms, now_ms);
        let wall_ms = u64::try_from(ts_ms.saturating_add(offset)).unwrap_or(now_ms);
        let mut data = BytesMut::with_capacity(64 * 1024);
        if let Some(muxer) = self.muxer.as_mut() {
            muxer.write_tables(&mut data);
        }
        self.open = Some(Open {
            start_ms: ts_ms,
            wall_ms,
            data,
            discontinuity: std::mem::take(&mut self.pending_discontinuity),
        });
    }

    /// Closes the open segment, its end at the last frame written (no next frame to measure against).
    fn close_open(&mut self) {
        if self.open.is_some() {
            self.close_at(self.last_written_ms);
        }
    }

    fn close_at(&mut self, end_ms: i64) {
        let Some(open) = self.open.take() else {
            return;
        };
        let duration_ms = u64::try_from(end_ms.saturating_sub(open.start_ms)).unwrap_or(0);
        if duration_ms == 0 {
            // Only a discontinuity or the end closes a segment this early: one instant of media is not worth an
            // `EXTINF:0` entry players stumble on. Its discontinuity mark passes to the next segment.
            self.pending_discontinuity |= open.discontinuity;
            return;
        }
        self.segments.push_back(Segment {
            sequence: self.next_sequence,
            duration_ms,
            program_date_time_ms: open.wall_ms,
            discontinuity: open.discontinuity,
            data: open.data.freeze(),
        });
        self.next_sequence += 1;
        while self.segments.len() > self.config.window {
            if let Some(gone) = self.segments.pop_front() {
                if gone.discontinuity {
                    self.discontinuity_sequence += 1;
                }
            }
        }
    }

    /// Takes the frame at `ts_ms` received at `now_ms` into the wall-clock mapping; returns the offset.
    fn observe(&mut self, ts_ms: i64, now_ms: u64) -> i64 {
        let seen = i64::try_from(now_ms)
            .unwrap_or(i64::MAX)
            .saturating_sub(ts_ms);
        let offset = self.offset.map_or(seen, |o| o.min(seen));
        self.offset = Some(offset);
        offset
    }

    /// Extends a 32-bit millisecond timestamp across wraps (and small steps back) into a signed timeline.
    fn extend(&mut self, ts: u32) -> i64 {
        let ext = match self.last_ts {
            None => i64::from(ts),
            // The difference as a signed 32-bit step: a wrap forward reads as a small positive step.
            Some((raw, ext)) => ext + i64::from(ts.wrapping_sub(raw) as i32),
        };
        self.last_ts = Some((ts, ext));
        ext
    }
}

/// Milliseconds on the extended timeline to 90 kHz MPEG-TS time (wrapping at 33 bits in the muxer).
fn to_90k(ms: i64) -> u64 {
    (TIMESTAMP_BASE as i64)
        .saturating_add(ms.saturating_mul(90))
        .max(0) as u64
}
