//! Opus (from WebRTC) to AAC-LC (for RTMP, FLV, HLS and recordings): decode at 48 kHz, conceal lost packets,
//! encode 1024-sample AAC frames stamped by counting samples.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::aac_to_opus::OPUS_RATE;
use crate::config::OpusToAacConfig;
use crate::error::Error;

/// Samples per channel in an AAC-LC frame.
pub const AAC_FRAME: u64 = 1024;
/// The encoder's delay: its first frame holds only the MDCT's warm-up, so frame `j` decodes to input samples
/// starting at `j * 1024 - PRIMING`. Stamping frames by that keeps AAC in sync with the Opus timestamps.
const PRIMING: i64 = 1024;
/// The largest Opus packet duration (120 ms at 48 kHz), the decoder's output bound.
const MAX_OPUS_SAMPLES: usize = 5760;
/// Concealment runs in 20 ms steps (a multiple of Opus's 2.5 ms granularity).
const CONCEAL_STEP: u64 = 960;
/// Timeline changes remembered for frames still inside the encoder: a few frames at most in practice.
const MAX_RUNS: usize = 64;

/// One AAC-LC frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AacFrame {
    /// The raw access unit, as an FLV AAC tag carries it after its two-byte header.
    pub data: Bytes,
    /// Presentation time in ms (FLV's clock, wrapping at 2^32 like FLV timestamps).
    pub pts_ms: u32,
}

/// Transcodes one Opus stream to AAC-LC at 48 kHz. Sans-IO: packets in, frames out.
///
/// The output stays at 48 kHz: Opus decodes natively at 48 kHz, AAC-LC carries 48 kHz everywhere the server
/// sends it (FLV and RTMP players read the rate from the AudioSpecificConfig, HLS from ADTS), and resampling to
/// 44.1 kHz would cost CPU and a filter's worth of quality for nothing.
///
/// Timestamps count samples from the first packet: a packet that arrives with a later timestamp than the count
/// (lost packets, DTX) is preceded by the decoder's concealment for the gap, up to `max_fill_ms`, beyond which
/// a new timeline starts; a packet entirely before the count (a duplicate or a late reordered packet) is
/// dropped; a jump back beyond `max_fill_ms` is taken as a restarted source and the count goes on. Frame
/// timestamps therefore always increase.
pub struct OpusToAac {
    config: OpusToAacConfig,
    channels: usize,
    decoder: opus_pure::OpusDecoder,
    encoder: syom::Encoder,
    asc: Bytes,
    pcm: Vec<f32>,
    planes: [Vec<f32>; 2],
    /// Samples per channel given to the encoder.
    fed: u64,
    /// AAC frames the encoder has produced.
    frames: u64,
    /// (encoder sample index, 48 kHz timestamp) where each run of contiguous samples starts.
    runs: VecDeque<(u64, i64)>,
    /// Added to incoming timestamps after the source restarted its timeline.
    offset: i64,
    last_pts: Option<i64>,
}

impl OpusToAac {
    /// A transcoder for an Opus stream decoded as `channels` (1 or 2) channels, with default settings.
    pub fn new(channels: usize) -> Result<Self, Error> {
        Self::with_config(channels, OpusToAacConfig::default())
    }

    /// As [`new`](Self::new), with explicit settings.
    pub fn with_config(channels: usize, config: OpusToAacConfig) -> Result<Self, Error> {
        if !(1..=2).contains(&channels) {
            return Err(Error::Config(format!(
                "{channels} channels (Opus to AAC takes 1 or 2)"
            )));
        }
        let decoder = opus_pure::OpusDecoder::new(OPUS_RATE as i32, channels)
            .map_err(|e| Error::Config(e.to_string()))?;
        let encoder = open_encoder(channels, &config)?;
        let asc = Bytes::copy_from_slice(encoder.asc());
        Ok(Self {
            config,
            channels,
            decoder,
            encoder,
            asc,
            pcm: vec![0.0; MAX_OPUS_SAMPLES * channels],
            planes: [Vec::new(), Vec::new()],
            fed: 0,
            frames: 0,
            runs: VecDeque::new(),
            offset: 0,
            last_pts: None,
        })
    }

    /// The AudioSpecificConfig of the output (AAC-LC, 48 kHz, the channel count): the payload of the FLV AAC
    /// sequence header after its two-byte tag header.
    pub fn audio_specific_config(&self) -> Bytes {
        self.asc.clone()
    }

    /// Transcodes one Opus packet whose first sample is at `pts_48k` on the 48 kHz clock (the RTP timestamp,
    /// unwrapped), returning the AAC frames completed by it (usually zero or one).
    pub fn push(&mut self, opus_packet: &[u8], pts_48k: u64) -> Result<Vec<AacFrame>, Error> {
        let mut out = Vec::new();
        if opus_packet.len() > self.config.max_packet_bytes {
            return Err(Error::TooLarge {
                codec: "opus",
                len: opus_packet.len(),
                max: self.config.max_packet_bytes,
            });
        }
        let duration = match opus_pure::packet::samples_48k(opus_packet) {
            Ok(n) if n > 0 && n <= MAX_OPUS_SAMPLES => n as i64,
            Ok(n) => return Err(decode_error(format!("packet of {n} samples"))),
            Err(e) => return Err(decode_error(e.to_string())),
        };
        // RTP timestamps are 32-bit; an unwrapped one stays far below 2^62 for any real run. Saturating
        // arithmetic keeps absurd values an odd timestamp instead of an overflow.
        let pts = ((pts_48k & ((1 << 62) - 1)) as i64).saturating_add(self.offset);
        let max_fill = i64::from(self.config.max_fill_ms) * 48;
        let tolerance = i64::from(self.config.resync_tolerance_ms) * 48;
        match self.expected() {
            None => self.runs.push_back((self.fed, pts)),
            Some(expected) => {
                let diff = pts.saturating_sub(expected);
                if diff < -max_fill {
                    tracing::debug!(
                        jump_ms = diff / 48,
                        "opus timestamps went back: continuing the count"
                    );
                    // The run goes on from `expected`: later packets are shifted by the same amount.
                    self.offset = self.offset.saturating_add(expected.saturating_sub(pts));
                } else if diff < -duration / 2 {
                    // A duplicate, or a packet that arrived after its place was concealed.
                    return Ok(out);
                } else if diff > max_fill {
                    self.runs.push_back((self.fed, pts));
                    if self.runs.len() > MAX_RUNS {
                        self.runs.pop_front();
                    }
                } else if diff > tolerance {
                    self.conceal(diff as u64, &mut out)?;
                }
            }
        }
        let n = self
            .decoder
            .decode(opus_packet, MAX_OPUS_SAMPLES, &mut self.pcm)
            .map_err(|e| decode_error(e.to_string()))?;
        self.encode(n, &mut out)?;
        Ok(out)
    }

    /// The 48 kHz timestamp the next sample should carry.
    fn expected(&self) -> Option<i64> {
        let &(at, pts) = self.runs.back()?;
        Some(pts.saturating_add((self.fed - at) as i64))
    }

    /// Fills a gap of `ticks` samples with the decoder's packet-loss concealment.
    fn conceal(&mut self, ticks: u64, out: &mut Vec<AacFrame>) -> Result<(), Error> {
        let mut left = ticks - ticks % 120;
        while left > 0 {
            let step = left.min(CONCEAL_STEP) as usize;
            let n = self
                .decoder
                .decode(&[], step, &mut self.pcm)
                .map_err(|e| decode_error(e.to_string()))?;
            if n == 0 {
                break;
            }
            self.encode(n, out)?;
            left = left.saturating_sub(n as u64);
        }
        Ok(())
    }

    /// Encodes the first `n` samples per channel of `self.pcm`.
    fn encode(&mut self, n: usize, out: &mut Vec<AacFrame>) -> Result<(), Error> {
        let ch = self.channels;
        for (c, plane) in self.planes.iter_mut().enumerate().take(ch) {
            plane.clear();
            // The encoder refuses samples beyond full scale, and Opus rings slightly past it.
            plane.extend(self.pcm[..n * ch].iter().skip(c).step_by(ch).map(|&s| {
                if s.is_finite() {
                    s.clamp(-1.0, 1.0)
                } else {
                    0.0
                }
            }));
        }
        let planes: Vec<&[f32]> = self.planes[..ch].iter().map(Vec::as_slice).collect();
        let mut encoded: Vec<Bytes> = Vec::new();
        let result = self.encoder.feed(&planes, |frame| {
            encoded.push(Bytes::copy_from_slice(frame.payload));
            Ok(())
        });
        self.fed += n as u64;
        if let Err(e) = result {
            // The encoder refuses further input after an error: start it afresh (same configuration).
            self.encoder = open_encoder(ch, &self.config)?;
            return Err(Error::Encode {
                codec: "aac",
                detail: e.to_string(),
            });
        }
        for data in encoded {
            let index = self.frames;
            self.frames += 1;
            let start = index as i64 * AAC_FRAME as i64 - PRIMING;
            let pts = self.timestamp_of(start);
            // Only the first frame can fall before zero (a stream stamped from 0): it holds the warm-up only.
            if pts < 0 || self.last_pts.is_some_and(|last| pts <= last) {
                continue;
            }
            self.last_pts = Some(pts);
            out.push(AacFrame {
                data,
                pts_ms: (pts / 48) as u32,
            });
        }
        Ok(())
    }

    /// The 48 kHz timestamp of encoder input sample `index` (negative before the first sample).
    fn timestamp_of(&mut self, index: i64) -> i64 {
        while self.runs.len() > 1 && self.runs[1].0 as i64 <= index {
            self.runs.pop_front();
        }
        match self.runs.front() {
            Some(&(at, pts)) => pts.saturating_add(index - at as i64),
            None => index,
        }
    }
}

fn open_encoder(channels: usize, config: &OpusToAacConfig) -> Result<syom::Encoder, Error> {
    let bitrate = if channels == 1 {
        config.bitrate_bps / 2
    } else {
        config.bitrate_bps
    };
    let options = syom::EncodeOptions::raw().with_bitrate_bps(bitrate.max(8_000));
    syom::Encoder::new(OPUS_RATE, channels, &options).map_err(|e| Error::Encode {
        codec: "aac",
        detail: e.to_string(),
    })
}

fn decode_error(detail: String) -> Error {
    Error::Decode {
        codec: "opus",
        detail,
    }
}
