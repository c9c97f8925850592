//! [`Mp4Writer`]: hub frames (FLV tag bodies) in, init segments and fragments out.

use std::collections::VecDeque;

use bytes::Bytes;
use flv::audio::{AudioTagInfo, SoundFormat};
use flv::video::{VideoCodec, VideoTagInfo};
use flv::{FrameClass, MediaKind};

use super::fragment::{Fragment, Fragmenter, Sample};
use super::init::{
    init_segment, AudioTrack, Tracks, VideoCodecConfig, VideoTrack, AUDIO_TRACK_ID, VIDEO_TRACK_ID,
};
use crate::error::Mp4Error;

/// Default for [`WriterConfig::fragment_duration_ms`].
pub const DEFAULT_FRAGMENT_MS: u64 = 1000;

/// When the writer cuts fragments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterConfig {
    /// Cut a fragment once this many milliseconds are pending, even inside a GOP. Fragments are cut before
    /// every video keyframe regardless, so with short GOPs this only matters for audio-only streams.
    pub fragment_duration_ms: u64,
    /// Treat [`fragment_duration_ms`](Self::fragment_duration_ms) as a ceiling: cut before the sample that
    /// would make the fragment longer, rather than after it has become at least that long. LL-HLS parts need
    /// this (no part may exceed the advertised `PART-TARGET`); recordings do not care.
    pub fragment_duration_is_max: bool,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            fragment_duration_ms: DEFAULT_FRAGMENT_MS,
            fragment_duration_is_max: false,
        }
    }
}

/// What the writer produces, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mp4Output {
    /// An init segment. Every one after the first means the codec configuration changed: the fragments that
    /// follow need it, so a file writer starts a new file here.
    Init {
        /// `ftyp` + `moov`.
        data: Bytes,
        /// The tracks it declares.
        tracks: Tracks,
    },
    /// A movie fragment.
    Fragment(Fragment),
}

/// Turns hub frames into fMP4: parses sequence headers into tracks, strips FLV headers off samples, and cuts
/// fragments before keyframes and every [`WriterConfig::fragment_duration_ms`].
///
/// The tracks are fixed when the first picture (or, without a video configuration, the first audio frame)
/// arrives; media before that, and video before the first keyframe, is dropped because it cannot be decoded.
/// Timestamps are rebased so that the output starts at 0. Script frames are ignored; audio codecs other than
/// AAC and video codecs other than H.264/H.265 are refused with [`Mp4Error::UnsupportedCodec`].
///
/// Sans-IO: call [`handle_frame`](Self::handle_frame), then [`poll_output`](Self::poll_output) until `None`;
/// [`finish`](Self::finish) flushes the last fragment at the end of the stream.
#[derive(Debug)]
pub struct Mp4Writer {
    config: WriterConfig,
    video: Option<VideoTrack>,
    audio: Option<AudioTrack>,
    /// Set once started: the tracks of the current init segment, and its fragmenter.
    current: Option<(Tracks, Fragmenter)>,
    /// Timestamp (unwrapped ms) that maps to 0 in the output.
    base_ms: Option<u64>,
    /// A keyframe of the current video configuration has been taken.
    video_synced: bool,
    clock: Unwrapper,
    /// Decode time (unwrapped ms) of the last main-track sample, to measure the next sample's step.
    last_main_ms: Option<u64>,
    outputs: VecDeque<Mp4Output>,
}

impl Mp4Writer {
    /// A writer that has seen nothing yet.
    pub fn new(config: WriterConfig) -> Self {
        Self {
            config,
            video: None,
            audio: None,
            current: None,
            base_ms: None,
            video_synced: false,
            clock: Unwrapper::default(),
            last_main_ms: None,
            outputs: VecDeque::new(),
        }
    }

    /// The tracks of the current init segment, once started.
    pub fn tracks(&self) -> Option<&Tracks> {
        self.current.as_ref().map(|(t, _)| t)
    }

    /// The input timestamp (ms, extended past 32-bit wraps) that output time 0 stands for, once known.
    pub fn origin_ms(&self) -> Option<u64> {
        self.base_ms
    }

    /// Milliseconds of media pending in the next fragment.
    pub fn pending_duration_ms(&self) -> u64 {
        self.current
            .as_ref()
            .map_or(0, |(_, f)| f.pending_duration_ms())
    }

    /// Reads one hub frame: `kind` and `timestamp` (ms) as on the hub, `payload` the FLV tag body.
    ///
    /// An error leaves the writer as it was: the frame is skipped and the next one is read normally.
    pub fn handle_frame(
        &mut self,
        kind: MediaKind,
        timestamp: u32,
        payload: &Bytes,
    ) -> Result<(), Mp4Error> {
        match kind {
            MediaKind::Script => Ok(()),
            MediaKind::Video => self.handle_video(timestamp, payload),
            MediaKind::Audio => self.handle_audio(timestamp, payload),
        }
    }

    /// The next init segment or fragment, in order.
    pub fn poll_output(&mut self) -> Option<Mp4Output> {
        self.outputs.pop_front()
    }

    /// Cuts a fragment from whatever is pending now (end of stream, or a file rotation).
    pub fn finish(&mut self) {
        if let Some((_, fragmenter)) = &mut self.current {
            if let Some(f) = fragmenter.flush() {
                self.outputs.push_back(Mp4Output::Fragment(f));
            }
        }
    }

    /// Starts a new timeline: the next frame maps to 0 again, as at the start. For a new file after
    /// [`finish`](Self::finish); the fragment numbering continues and the tracks stay.
    pub fn rebase(&mut self) {
        self.base_ms = None;
        if let Some((tracks, fragmenter)) = &mut self.current {
            *fragmenter = Fragmenter::with_sequence(tracks, fragmenter.next_sequence());
        }
    }

    fn handle_video(&mut self, timestamp: u32, payload: &Bytes) -> Result<(), Mp4Error> {
        let info = VideoTagInfo::parse(payload).map_err(|source| Mp4Error::Flv {
            what: "video tag header",
            source,
        })?;
        let class = FrameClass::of_video(&info);
        if class == FrameClass::NoPicture {
            return Ok(());
        }
        let body = payload.get(info.header_len..).unwrap_or_default();
        if class.is_sequence_header() {
            let track = match info.codec {
                VideoCodec::Avc => VideoTrack::from_avc_config(body)?,
                VideoCodec::Hevc => VideoTrack::from_hevc_config(body)?,
                other => return Err(unsupported_video(other)),
            };
            if self.video.as_ref() != Some(&track) {
                self.video = Some(track);
                self.video_synced = false;
                self.restart_if_started();
            }
            return Ok(());
        }
        let Some(video) = &self.video else {
            return Ok(());
        };
        let matches = matches!(
            (&video.config, info.codec),
            (VideoCodecConfig::Avc(_), VideoCodec::Avc)
                | (VideoCodecConfig::Hevc(_), VideoCodec::Hevc)
        );
        if !matches {
            return Err(unsupported_video(info.codec));
        }
        let keyframe = class.is_keyframe();
        if !self.video_synced {
            // Pictures before a keyframe of the current configuration cannot be decoded.
            if !keyframe {
                return Ok(());
            }
            if self.current.is_none() {
                self.start();
            }
            self.video_synced = true;
        }
        if body.is_empty() {
            return Ok(());
        }
        let ms = self.clock.unwrap(timestamp);
        if keyframe {
            self.finish();
        }
        self.push(
            VIDEO_TRACK_ID,
            ms,
            info.composition_time,
            keyframe,
            payload.slice(info.header_len..),
        )
    }

    fn handle_audio(&mut self, timestamp: u32, payload: &Bytes) -> Result<(), Mp4Error> {
        let info = AudioTagInfo::parse(payload).map_err(|source| Mp4Error::Flv {
            what: "audio tag header",
            source,
        })?;
        if info.format != SoundFormat::Aac {
            return Err(Mp4Error::UnsupportedCodec {
                what: "audio",
                codec: format!("{:?}", info.format),
            });
        }
        let body = payload.get(info.header_len..).unwrap_or_default();
        if info.is_sequence_header {
            let track = AudioTrack::from_aac_config(body)?;
            if self.audio.as_ref() != Some(&track) {
                self.audio = Some(track);
                self.restart_if_started();
            }
            return Ok(());
        }
        if self.audio.is_none() || body.is_empty() {
            return Ok(());
        }
        if self.video.is_some() && !self.video_synced {
            // Wait for the first picture (or the first after a restart): a file starts with a keyframe.
            return Ok(());
        }
        if self.current.is_none() {
            self.start();
        }
        let ms = self.clock.unwrap(timestamp);
        self.push(
            AUDIO_TRACK_ID,
            ms,
            0,
            true,
            payload.slice(info.header_len..),
        )
    }

    fn push(
        &mut self,
        track_id: u32,
        ms: u64,
        cts_offset_ms: i32,
        keyframe: bool,
        data: Bytes,
    ) -> Result<(), Mp4Error> {
        let base = *self.base_ms.get_or_insert(ms);
        let Some((_, fragmenter)) = &mut self.current else {
            return Ok(());
        };
        // Cut only before a sample of the main track (video if any): cutting before an audio frame would leave
        // the audio interleaved ahead of the next keyframe as a fragment of its own.
        let main_track = if self.video.is_some() {
            VIDEO_TRACK_ID
        } else {
            AUDIO_TRACK_ID
        };
        if track_id == main_track {
            // With a ceiling, the fragment once this sample is in would last about one more step: what is
            // pending (whose last sample is counted at the previous step) plus this sample's own step.
            let step = self.last_main_ms.map_or(0, |last| ms.saturating_sub(last));
            self.last_main_ms = Some(ms);
            let pending = fragmenter.pending_duration_ms();
            let cut = if self.config.fragment_duration_is_max {
                pending > 0 && pending + step > self.config.fragment_duration_ms
            } else {
                pending >= self.config.fragment_duration_ms
            };
            if cut {
                if let Some(f) = fragmenter.flush() {
                    self.outputs.push_back(Mp4Output::Fragment(f));
                }
            }
        }
        fragmenter.push(Sample {
            track_id,
            dts_ms: ms.saturating_sub(base),
            cts_offset_ms,
            keyframe,
            data,
        })
    }

    fn start(&mut self) {
        let tracks = Tracks {
            video: self.video.clone(),
            audio: self.audio.clone(),
        };
        let first_sequence = self.current.as_ref().map_or(1, |(_, f)| f.next_sequence());
        self.outputs.push_back(Mp4Output::Init {
            data: init_segment(&tracks),
            tracks: tracks.clone(),
        });
        let fragmenter = Fragmenter::with_sequence(&tracks, first_sequence);
        self.current = Some((tracks, fragmenter));
    }

    /// A configuration changed after the init segment was out: close the fragment and announce new tracks. What
    /// follows a new init segment must decode on its own (a recorder starts a new file there), so video waits for
    /// its next keyframe, and audio with it: pictures that refer to one before the restart would not decode.
    fn restart_if_started(&mut self) {
        if self.current.is_some() {
            self.finish();
            self.start();
            self.video_synced = false;
        }
    }
}

fn unsupported_video(codec: VideoCodec) -> Mp4Error {
    Mp4Error::UnsupportedCodec {
        what: "video",
        codec: format!("{codec:?}"),
    }
}

/// Extends 32-bit millisecond timestamps to 64 bits across wrap-arounds (every 49.7 days).
#[derive(Debug, Default)]
struct Unwrapper {
    last: Option<u32>,
    epoch: u64,
}

impl Unwrapper {
    fn unwrap(&mut self, ts: u32) -> u64 {
        const HALF: u32 = 1 << 31;
        let Some(last) = self.last else {
            self.last = Some(ts);
            return u64::from(ts);
        };
        if ts < last && last - ts > HALF {
            // Forward across the wrap.
            self.epoch += 1 << 32;
            self.last = Some(ts);
            return self.epoch + u64::from(ts);
        }
        if ts > last && ts - last > HALF {
            // A late frame from before the wrap.
            return (self.epoch + u64::from(ts)).saturating_sub(1 << 32);
        }
        if ts > last {
            self.last = Some(ts);
        }
        self.epoch + u64::from(ts)
    }
}
