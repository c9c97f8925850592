//! WHIP ingest, pure: what a browser sends (str0m's depacketized frames: H.264 access units in Annex B, Opus
//! packets, their RTP times and sender reports) becomes hub frames (FLV AVC and AAC tag bodies on one millisecond
//! timeline starting at 0). No socket, no clock: times come with the input.
//!
//! - [`H264Ingest`]: Annex B access units to FLV AVC tags (length-prefixed NAL units, composition time 0: browsers
//!   send no B-frames), and the AVC sequence header (avcC) built from the SPS/PPS when they first come or change.
//! - [`Timeline`]: RTP times (90 kHz video, 48 kHz audio) to one stream timeline, the tracks aligned by the RTCP
//!   sender reports once both have one.
//! - [`KeyframeGate`]: which video frames may pass (none after a loss until the next keyframe) and when to ask the
//!   browser for a keyframe (PLI), at most once per interval.
//! - [`Converter`]: all of the above plus the stream's Opus -> AAC transcoder, item in, hub frames out.

use std::sync::Arc;
use std::time::Instant;

use audio::{OpusToAac, OpusToAacConfig};
use bytes::{BufMut, Bytes, BytesMut};
use flv::avc::{AvcDecoderConfig, NAL_IDR, NAL_PPS, NAL_SPS};
use media::{Frame, MediaKind};
use tracing::debug;

mod gate;
mod timeline;

pub(crate) use gate::KeyframeGate;
pub(crate) use timeline::{SenderReport, Timeline, TrackKind};

/// Access unit delimiter and filler data: dropped (FLV needs neither).
const NAL_AUD: u8 = 9;
const NAL_FILLER: u8 = 12;
/// Largest parameter set kept (an SPS is tens of bytes; the avcC length field is 16 bits).
const MAX_PARAMETER_SET: usize = 1024;
/// Parameter sets of one kind kept per access unit (Chromium sends one SPS and one PPS).
const MAX_PARAMETER_SETS: usize = 8;
/// FLV video tag: frame type (1 key, 2 inter) << 4 | codec 7 (AVC).
const FLV_AVC_KEY: u8 = 0x17;
const FLV_AVC_INTER: u8 = 0x27;

/// Why a video access unit cannot go into the hub.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum IngestError {
    /// A picture arrived before any SPS and PPS: nothing could decode it.
    #[error("a picture before the SPS and PPS")]
    NoConfig,
    /// A parameter set is empty or too large to be real.
    #[error("{what} of {len} bytes (at most {MAX_PARAMETER_SET})")]
    BadParameterSet {
        /// `SPS` or `PPS`.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// An access unit larger than `webrtc.whip.max_frame_bytes`.
    #[error("an access unit of {len} bytes, over webrtc.whip.max_frame_bytes ({max})")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
}

/// The NAL units of an Annex B byte stream (start codes `00 00 01` or `00 00 00 01`), without their start codes.
/// Bytes before the first start code are skipped; empty units are not returned. Never panics.
pub(crate) fn annexb_nal_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut pos = find_start(data, 0).map(|(_, end)| end);
    std::iter::from_fn(move || loop {
        let start = pos?;
        let (unit_end, next) = match find_start(data, start) {
            Some((code, end)) => (code, Some(end)),
            None => (data.len(), None),
        };
        pos = next;
        // A four-byte start code leaves its leading zero on the previous unit: trailing zeros are not part of
        // a NAL unit (H.264 B.2 trailing_zero_8bits).
        let mut unit = data.get(start..unit_end).unwrap_or_default();
        while let [rest @ .., 0] = unit {
            unit = rest;
        }
        if !unit.is_empty() {
            return Some(unit);
        }
    })
}

/// The next `00 00 01` at or after `from`: (its first byte, the byte after it).
fn find_start(data: &[u8], from: usize) -> Option<(usize, usize)> {
    let rest = data.get(from..)?;
    rest.windows(3)
        .position(|w| w == [0, 0, 1])
        .map(|i| (from + i, from + i + 3))
}

/// What one access unit became.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct VideoTags {
    /// A new AVC sequence header tag body, to push before the picture (first SPS/PPS, or changed ones).
    pub(crate) header: Option<Bytes>,
    /// The picture's tag body, and whether it is a keyframe (IDR); `None` when the unit had no slice.
    pub(crate) picture: Option<(Bytes, bool)>,
}

/// The H.264 state of one WHIP publish: the parameter sets of its current sequence header.
#[derive(Debug, Default)]
pub(crate) struct H264Ingest {
    sps: Vec<Bytes>,
    pps: Vec<Bytes>,
}

impl H264Ingest {
    /// Converts one Annex B access unit (of at most `max_bytes`) to FLV AVC tag bodies. SPS and PPS go into the
    /// sequence header (a new one when they differ from the current ones), access unit delimiters and filler are
    /// dropped, every other NAL unit is kept with a 4-byte length prefix.
    pub(crate) fn push(
        &mut self,
        annexb: &[u8],
        max_bytes: usize,
    ) -> Result<VideoTags, IngestError> {
        if annexb.len() > max_bytes {
            return Err(IngestError::TooLarge {
                len: annexb.len(),
                max: max_bytes,
            });
        }
        let mut sps = Vec::new();
        let mut pps = Vec::new();
        let mut keyframe = false;
        let mut slices = false;
        // The tag header (5 bytes), then each unit with its length: never more than 4 bytes per start code.
        let mut body = BytesMut::with_capacity(annexb.len() + 16);
        for nal in annexb_nal_units(annexb) {
            let kind = nal.first().map_or(0, |b| b & 0x1F);
            match kind {
                NAL_SPS | NAL_PPS => {
                    let (what, sets) = if kind == NAL_SPS {
                        ("SPS", &mut sps)
                    } else {
                        ("PPS", &mut pps)
                    };
                    // An SPS needs profile, constraints and level after its header byte.
                    if nal.len() > MAX_PARAMETER_SET || (kind == NAL_SPS && nal.len() < 4) {
                        return Err(IngestError::BadParameterSet {
                            what,
                            len: nal.len(),
                        });
                    }
                    if sets.len() < MAX_PARAMETER_SETS {
                        sets.push(Bytes::copy_from_slice(nal));
                    }
                    continue;
                }
                NAL_AUD | NAL_FILLER => continue,
                NAL_IDR => keyframe = true,
                _ => {}
            }
            slices |= (1..=5).contains(&kind);
            if body.is_empty() {
                body.put_slice(&[0; 5]);
            }
            // Fits: the unit came from a buffer of at most `max_bytes`, which is far below 4 GiB.
            body.put_u32(u32::try_from(nal.len()).unwrap_or(u32::MAX));
            body.put_slice(nal);
        }
        let mut out = VideoTags::default();
        // Both kinds are needed for a record; an access unit that repeats only one keeps the other.
        if !sps.is_empty() || !pps.is_empty() {
            let sps = if sps.is_empty() {
                self.sps.clone()
            } else {
                sps
            };
            let pps = if pps.is_empty() {
                self.pps.clone()
            } else {
                pps
            };
            if (sps != self.sps || pps != self.pps) && !sps.is_empty() && !pps.is_empty() {
                self.sps = sps;
                self.pps = pps;
                out.header = Some(self.sequence_header());
            } else {
                self.sps = sps;
                self.pps = pps;
            }
        }
        if !slices {
            return Ok(out);
        }
        if self.sps.is_empty() || self.pps.is_empty() {
            return Err(IngestError::NoConfig);
        }
        if let Some(head) = body.get_mut(..2) {
            head.copy_from_slice(&[if keyframe { FLV_AVC_KEY } else { FLV_AVC_INTER }, 1]);
        }
        out.picture = Some((body.freeze(), keyframe));
        Ok(out)
    }

    /// The AVC sequence header tag body of the current parameter sets.
    fn sequence_header(&self) -> Bytes {
        // Checked on the way in: at least one of each, at most MAX_PARAMETER_SETS, each under 64 KiB, so
        // `encode` cannot hit its documented panics.
        let first = self.sps.first().map(|s| s.as_ref()).unwrap_or_default();
        let record = AvcDecoderConfig {
            profile: first.get(1).copied().unwrap_or(66),
            compatibility: first.get(2).copied().unwrap_or(0),
            level: first.get(3).copied().unwrap_or(31),
            nalu_length_size: 4,
            sps: self.sps.clone(),
            pps: self.pps.clone(),
        }
        .encode();
        let mut tag = BytesMut::with_capacity(5 + record.len());
        tag.put_slice(&[FLV_AVC_KEY, 0, 0, 0, 0]);
        tag.put_slice(&record);
        tag.freeze()
    }
}

/// One depacketized frame from the browser, as the UDP task hands it to the session's publisher task.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    /// Video or audio.
    pub(crate) kind: TrackKind,
    /// An H.264 access unit (Annex B) or an Opus packet.
    pub(crate) data: Arc<[u8]>,
    /// Its RTP time (extended), at the track's clock.
    pub(crate) rtp: u64,
    /// When its first packet arrived.
    pub(crate) arrival: Instant,
    /// The track's latest sender report.
    pub(crate) report: Option<SenderReport>,
}

/// Turns what a WHIP session receives into hub frames: H.264 to FLV AVC, Opus to AAC (one transcoder for the
/// publish), both on one timeline from 0.
pub(crate) struct Converter {
    timeline: Timeline,
    h264: H264Ingest,
    /// The publish's transcoder (`None`: a video-only publish, or one whose transcoder could not start).
    aac: Option<OpusToAac>,
    /// The AAC sequence header, pushed before anything else: recorders and players then see both tracks from
    /// the start (an MP4 recording would otherwise begin a new file when the audio track appears).
    header: Option<Bytes>,
    max_frame_bytes: usize,
}

/// The AAC the Opus becomes is mono: browsers send mono Opus unless the answer asks for stereo (`stereo=1`), which
/// str0m's does not; a stereo packet is downmixed by the decoder.
const AAC_CHANNELS: usize = 1;
/// FLV audio tag first byte of mono AAC (format 10, the rate flag 3, 16-bit, mono).
const FLV_AAC_MONO: u8 = 0xAE;

impl Converter {
    /// A converter for one publish; `audio` when the session receives Opus. The transcoder's own error (it
    /// refused to start: audio is then left out) is returned with the converter, for the log.
    pub(crate) fn new(
        aac_config: OpusToAacConfig,
        max_frame_bytes: usize,
        audio: bool,
    ) -> (Converter, Option<String>) {
        let (aac, error) = if audio {
            match OpusToAac::with_config(AAC_CHANNELS, aac_config) {
                Ok(t) => (Some(t), None),
                Err(e) => (
                    None,
                    Some(format!(
                        "the Opus audio cannot be transcoded to AAC ({e}): video only"
                    )),
                ),
            }
        } else {
            (None, None)
        };
        let header = aac.as_ref().map(|t| {
            let asc = t.audio_specific_config();
            let mut body = BytesMut::with_capacity(2 + asc.len());
            body.put_slice(&[FLV_AAC_MONO, 0]);
            body.put_slice(&asc);
            body.freeze()
        });
        let converter = Converter {
            timeline: Timeline::default(),
            h264: H264Ingest::default(),
            aac,
            header,
            max_frame_bytes,
        };
        (converter, error)
    }

    /// The hub frames of one received frame (often one; a new sequence header comes first; audio gives zero or
    /// one AAC frame per 20 ms packet). Malformed input gives no frames and an error for the log.
    pub(crate) fn push(&mut self, item: &Received) -> Result<Vec<Frame>, String> {
        let us = self
            .timeline
            .map(item.kind, item.rtp, item.arrival, item.report);
        let ms = u32::try_from(us / 1000).unwrap_or(u32::MAX);
        let mut frames = Vec::with_capacity(2);
        if let Some(header) = self.header.take() {
            frames.push(Frame::new(MediaKind::Audio, ms, header));
        }
        match item.kind {
            TrackKind::Video => {
                let tags = match self.h264.push(&item.data, self.max_frame_bytes) {
                    Ok(tags) => tags,
                    // The audio header still goes out.
                    Err(e) if !frames.is_empty() => {
                        debug!("WHIP video frame dropped: {e}");
                        return Ok(frames);
                    }
                    Err(e) => return Err(e.to_string()),
                };
                if let Some(header) = tags.header {
                    frames.push(Frame::new(MediaKind::Video, ms, header));
                }
                if let Some((body, _)) = tags.picture {
                    frames.push(Frame::new(MediaKind::Video, ms, body));
                }
                Ok(frames)
            }
            TrackKind::Audio => {
                if let Err(e) = self.audio(&item.data, us, &mut frames) {
                    if frames.is_empty() {
                        return Err(e);
                    }
                    debug!("WHIP audio packet dropped: {e}");
                }
                Ok(frames)
            }
        }
    }

    /// Whether the tracks have been aligned by their sender reports.
    pub(crate) fn synced(&self) -> bool {
        self.timeline.synced()
    }

    fn audio(&mut self, packet: &[u8], us: i64, frames: &mut Vec<Frame>) -> Result<(), String> {
        let Some(transcoder) = self.aac.as_mut() else {
            return Ok(());
        };
        if packet.is_empty() {
            return Ok(());
        }
        let pts_48k = u64::try_from(us).unwrap_or(0) * 48 / 1000;
        let aac = transcoder
            .push(packet, pts_48k)
            .map_err(|e| format!("Opus packet: {e}"))?;
        for f in aac {
            let mut body = BytesMut::with_capacity(2 + f.data.len());
            body.put_slice(&[FLV_AAC_MONO, 1]);
            body.put_slice(&f.data);
            frames.push(Frame::new(MediaKind::Audio, f.pts_ms, body.freeze()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
