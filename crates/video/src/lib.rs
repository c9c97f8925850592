//! H.264 with B-frames re-encoded without them, once per stream, for WebRTC viewers.
//!
//! Browsers' WebRTC H.264 decoders give one picture out for each frame in, which a stream that reorders pictures
//! (B-frames, the default of OBS and ffmpeg outside `zerolatency`) cannot satisfy: Chromium then shows about a
//! keyframe a second (measured in docs/webrtc.md, "B-frames"). Rewriting timestamps or the SPS does not help, and
//! dropping B-frames breaks the pictures that reference them, so such a stream is decoded and encoded again as
//! Constrained Baseline (no B-frames, no reordering) for its WebRTC viewers, while every other player keeps the
//! original. Sans-IO like the other codec crate (`audio`): no tokio, no sockets, no clock.
//!
//! ```text
//!  Annex B access unit + pts_ms + keyframe (decode order)
//!      --> Reencoder::push --> Vec<Encoded { Annex B, pts_ms, keyframe }> (display order, one per picture)
//! ```
//!
//! - Output pictures come in display order, each with the presentation time of the input picture it shows
//!   (taken from the pictures held in the decoder, smallest first), so timestamps increase.
//! - Every source keyframe gives an output IDR (with SPS and PPS in front): the re-encoded stream has the
//!   source's GOPs, so a player's GOP cache and a new viewer's start work as for the original.
//! - Malformed input is answered with an [`Error`] and the re-encoder stays usable: the pictures up to the next
//!   keyframe may be lost, the keyframe starts over. A panic is a bug.
//! - Bounded: at most [`ReencoderConfig::max_held`] input pictures are waiting in the decoder.
//!
//! The codec is OpenH264 2.7 (BSD-2-Clause), built from source by its crate with the C/C++ compiler only
//! (docs/webrtc.md#codecs). Its decoder takes Main and High profile with B-frames and CABAC, its encoder writes
//! Constrained Baseline.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use openh264::decoder::{Decoder, DecoderConfig, Flush};
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod,
    RateControlMode, UsageType,
};
use openh264::formats::YUVSource;
use openh264::{OpenH264API, Timestamp};

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The decoder refused the access unit (corrupt, or a feature it lacks such as interlaced coding).
    #[error("the H.264 decoder refused an access unit of {len} bytes (pts {pts_ms} ms): {detail}")]
    Decode {
        /// Bytes of the access unit.
        len: usize,
        /// Its presentation time.
        pts_ms: i64,
        /// OpenH264's words.
        detail: String,
    },
    /// The encoder failed (OpenH264 refuses pictures over 3840x2160, for one).
    #[error("the H.264 encoder failed on a {width}x{height} picture: {detail}")]
    Encode {
        /// Picture width.
        width: usize,
        /// Picture height.
        height: usize,
        /// OpenH264's words.
        detail: String,
    },
    /// OpenH264 could not be set up.
    #[error("OpenH264 could not be initialised: {0}")]
    Init(String),
}

/// How to re-encode.
#[derive(Debug, Clone, PartialEq)]
pub struct ReencoderConfig {
    /// Target bitrate of the output in bits/s.
    pub bitrate_bps: u32,
    /// The source's frame rate (pictures per second), for the encoder's rate control.
    pub frame_rate: f32,
    /// Input pictures held in the decoder (waiting for their display turn) at most; older ones are forgotten.
    pub max_held: usize,
    /// Encoder threads (OpenH264's slices); 1 keeps one stream on one core.
    pub threads: u16,
}

impl Default for ReencoderConfig {
    fn default() -> Self {
        ReencoderConfig {
            bitrate_bps: 2_000_000,
            frame_rate: 25.0,
            max_held: 32,
            threads: 1,
        }
    }
}

/// One output access unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Annex B (start codes), SPS and PPS in front of an IDR.
    pub data: Vec<u8>,
    /// The presentation time of the picture, from the input.
    pub pts_ms: i64,
    /// An IDR picture.
    pub keyframe: bool,
}

/// One stream's decoder and encoder.
pub struct Reencoder {
    max_held: usize,
    decoder: Decoder,
    /// Presentation times of the pictures given to the decoder and not yet out, smallest first.
    held: BinaryHeap<Reverse<i64>>,
    out: Output,
}

/// The encoding side.
struct Output {
    config: ReencoderConfig,
    encoder: Encoder,
    /// The bitrate the encoder was made with; `config.bitrate_bps` is what the next GOP should get.
    encoder_bitrate: u32,
    /// The presentation time of the last keyframe in: the picture out at that time (or the first after it)
    /// starts a GOP.
    idr_at: Option<i64>,
    /// The last presentation time out: a picture out without a held time gets the next millisecond.
    last_pts: Option<i64>,
}

impl Reencoder {
    /// A re-encoder with `config`.
    pub fn new(config: ReencoderConfig) -> Result<Reencoder, Error> {
        Ok(Reencoder {
            max_held: config.max_held.max(1),
            decoder: new_decoder()?,
            held: BinaryHeap::new(),
            out: Output {
                encoder: new_encoder(&config)?,
                encoder_bitrate: config.bitrate_bps,
                config,
                idr_at: Some(i64::MIN),
                last_pts: None,
            },
        })
    }

    /// The bitrate from the next GOP on (the encoder is made again at its IDR when it differs).
    pub fn set_bitrate(&mut self, bps: u32) {
        self.out.config.bitrate_bps = bps.max(1);
    }

    /// The bitrate in use.
    pub fn bitrate(&self) -> u32 {
        self.out.encoder_bitrate
    }

    /// Forgets the stream so far (a new sequence header: maybe another resolution or profile); the next input
    /// should be a keyframe with its parameter sets.
    pub fn reset(&mut self) -> Result<(), Error> {
        self.decoder = new_decoder()?;
        self.held.clear();
        self.out.idr_at = Some(i64::MIN);
        Ok(())
    }

    /// Decodes one access unit (Annex B, SPS and PPS in front of a keyframe) and encodes what the decoder gives
    /// back: none or one picture (held pictures come out as later ones go in).
    pub fn push(
        &mut self,
        access_unit: &[u8],
        pts_ms: i64,
        keyframe: bool,
    ) -> Result<Option<Encoded>, Error> {
        if keyframe {
            // The decoder puts out the pictures of the previous GOP it still holds as the keyframe comes (an
            // explicit flush here would upset OpenH264's reordering state); the keyframe's picture starts a GOP.
            self.out.idr_at = Some(pts_ms);
        }
        self.held.push(Reverse(pts_ms));
        if self.held.len() > self.max_held {
            // A decoder that never gives these back (a broken stream): bounded, and the largest times are kept
            // for the pictures still to come.
            let mut all = std::mem::take(&mut self.held).into_sorted_vec();
            all.truncate(self.max_held);
            self.held = all.into_iter().collect();
        }
        let decoded = self.decoder.decode_with_options(
            access_unit,
            openh264::decoder::DecodeOptions::new().flush_after_decode(Flush::NoFlush),
        );
        match decoded {
            Ok(Some(yuv)) => {
                let pts = next_pts(&mut self.held, &mut self.out.last_pts);
                self.out.encode(&yuv, pts)
            }
            Ok(None) => Ok(None),
            Err(e) => {
                // Its time would pair with a later picture: take it back.
                let mut all = std::mem::take(&mut self.held).into_vec();
                if let Some(i) = all.iter().position(|t| t.0 == pts_ms) {
                    all.swap_remove(i);
                }
                self.held = all.into_iter().collect();
                Err(Error::Decode {
                    len: access_unit.len(),
                    pts_ms,
                    detail: e.to_string(),
                })
            }
        }
    }

    /// Encodes every picture the decoder still holds (the end of the stream).
    pub fn flush(&mut self) -> Result<Vec<Encoded>, Error> {
        let mut encoded = Vec::new();
        // An error here is OpenH264 having nothing sensible to give: the pictures are lost, not the stream.
        let Ok(pictures) = self.decoder.flush_remaining() else {
            return Ok(encoded);
        };
        for yuv in pictures {
            let pts = next_pts(&mut self.held, &mut self.out.last_pts);
            encoded.extend(self.out.encode(&yuv, pts)?);
        }
        Ok(encoded)
    }
}

/// The presentation time of the next picture out of the decoder.
fn next_pts(held: &mut BinaryHeap<Reverse<i64>>, last: &mut Option<i64>) -> i64 {
    let pts = match held.pop() {
        Some(Reverse(t)) => t,
        None => last.map_or(0, |l| l + 1),
    };
    // Display order is presentation order; a picture out of turn (a broken stream) keeps the output monotonic.
    let pts = last.map_or(pts, |l| pts.max(l + 1));
    *last = Some(pts);
    pts
}

impl Output {
    /// Encodes one decoded picture, as an IDR when it is at or past `idr_at` (with the new bitrate, if any).
    fn encode(&mut self, yuv: &impl YUVSource, pts_ms: i64) -> Result<Option<Encoded>, Error> {
        let (width, height) = yuv.dimensions();
        let idr = self.idr_at.is_some_and(|at| pts_ms >= at);
        if idr && self.config.bitrate_bps != self.encoder_bitrate {
            // A fresh encoder starts with an IDR (and SPS/PPS) anyway.
            self.encoder = new_encoder(&self.config)?;
            self.encoder_bitrate = self.config.bitrate_bps;
        } else if idr {
            self.encoder.force_intra_frame();
        }
        let stream = self
            .encoder
            .encode_at(
                yuv,
                Timestamp::from_millis(u64::try_from(pts_ms).unwrap_or(0)),
            )
            .map_err(|e| Error::Encode {
                width,
                height,
                detail: e.to_string(),
            })?;
        if matches!(stream.frame_type(), FrameType::Skip | FrameType::Invalid) {
            return Ok(None);
        }
        let keyframe = stream.frame_type() == FrameType::IDR;
        let data = stream.to_vec();
        if data.is_empty() {
            return Ok(None);
        }
        if keyframe {
            self.idr_at = None;
        }
        Ok(Some(Encoded {
            data,
            pts_ms,
            keyframe,
        }))
    }
}

fn new_decoder() -> Result<Decoder, Error> {
    Decoder::with_api_config(
        OpenH264API::from_source(),
        // Pictures are flushed by `Reencoder` at keyframes only: flushing after each access unit would give up
        // the reordering that B-frames need.
        DecoderConfig::new().flush_after_decode(Flush::NoFlush),
    )
    .map_err(|e| Error::Init(e.to_string()))
}

fn new_encoder(config: &ReencoderConfig) -> Result<Encoder, Error> {
    let encoder_config = EncoderConfig::new()
        .bitrate(BitRate::from_bps(config.bitrate_bps))
        .max_frame_rate(FrameRate::from_hz(config.frame_rate.clamp(1.0, 120.0)))
        .rate_control_mode(RateControlMode::Bitrate)
        // Every picture out: a skipped one would be a hole in what the browser shows.
        .skip_frames(false)
        .usage_type(UsageType::CameraVideoRealTime)
        .complexity(Complexity::Low)
        // IDRs only where the source has keyframes (forced): the GOPs stay the source's.
        .intra_frame_period(IntraFramePeriod::from_num_frames(0))
        .num_threads(config.threads.max(1));
    let mut encoder = Encoder::with_api_config(OpenH264API::from_source(), encoder_config)
        .map_err(|e| Error::Init(e.to_string()))?;
    // OpenH264 writes warnings to stderr as it initialises at the first picture (one about rate control without
    // frame skipping, which is intended here), before the wrapper lowers its trace level: lowered now instead.
    let mut quiet: std::ffi::c_int = openh264_sys2::WELS_LOG_QUIET as std::ffi::c_int;
    // SAFETY: the encoder exists (made above); OpenH264 accepts the trace level before initialisation and reads
    // one int through the pointer during the call.
    unsafe {
        encoder.raw_api().set_option(
            openh264_sys2::ENCODER_OPTION_TRACE_LEVEL,
            std::ptr::addr_of_mut!(quiet).cast(),
        );
    }
    Ok(encoder)
}

#[cfg(test)]
mod tests;
