//! AAC (from RTMP / FLV) to Opus (for WebRTC): decode, remix to mono or stereo, resample to 48 kHz, encode 20 ms
//! packets stamped by counting samples.

use bytes::Bytes;

use crate::config::AacToOpusConfig;
use crate::error::Error;
use crate::remix::remix;
use crate::resample::Resampler;

/// The Opus rate: WebRTC's clock for Opus is 48 kHz whatever the audio bandwidth.
pub const OPUS_RATE: u32 = 48_000;
/// Samples per channel in each Opus packet: 20 ms, what browsers send and expect.
pub const OPUS_FRAME: usize = 960;
/// Room for the largest Opus packet (RFC 6716: 1275 bytes per frame, with headroom for code-3 framing).
const MAX_OPUS_PACKET: usize = 4000;

/// One Opus packet of 20 ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusPacket {
    /// The packet, as an RTP payload carries it.
    pub data: Bytes,
    /// Presentation time of its first sample on the 48 kHz clock: the RTP timestamp before the random offset.
    pub pts_48k: u64,
    /// Samples per channel it holds (960).
    pub samples: u32,
}

/// Transcodes one AAC stream to Opus. Sans-IO: frames in, packets out, no clock of its own.
///
/// Timestamps count samples from the first frame's timestamp, so they do not drift however long the stream
/// runs; a frame whose timestamp strays further than `resync_tolerance_ms` from that count is handled as a
/// gap (filled with silence, or a new timeline when longer than `max_fill_ms`), as audio running ahead of
/// its timestamps (the frame is dropped) or as a restarted timeline (a jump back beyond `max_fill_ms`: the
/// count goes on). Packet timestamps therefore always increase.
pub struct AacToOpus {
    config: AacToOpusConfig,
    decoder: rusty_aac::AacDecoder,
    /// Created at the first decoded frame, when the channel count is known for sure (PCE configurations).
    encoder: Option<opus_pure::OpusEncoder>,
    channels: usize,
    resampler: Option<Resampler>,
    in_rate: u32,
    /// Interleaved 48 kHz samples waiting for a full packet: fewer than one packet after each `push`.
    pending: Vec<f32>,
    scratch: Vec<f32>,
    resampled: Vec<f32>,
    packet: Vec<u8>,
    timeline: Option<Timeline>,
    /// Added to incoming timestamps (48 kHz ticks) after the source restarted its timeline.
    offset: i64,
    /// Samples per channel of the last decoded frame, at its rate: what a frame that fails to decode stood for.
    last_frame: u64,
    /// Packets encoded while handling an input that then failed; returned by the next `push`.
    carry: Vec<OpusPacket>,
}

/// Where the current run of samples sits on the 48 kHz clock.
struct Timeline {
    /// Timestamp of the run's first sample.
    origin: i64,
    /// 48 kHz ticks covered at earlier input rates (the rate can change with implicit HE-AAC signalling).
    base: u64,
    /// Input samples per channel at `in_rate` since `base`.
    count: u64,
    /// Packets emitted in this run.
    packets: u64,
}

impl AacToOpus {
    /// A transcoder for the stream described by `audio_specific_config` (the payload of the FLV AAC sequence
    /// header after its two-byte tag header), with default settings.
    pub fn new(audio_specific_config: &[u8]) -> Result<Self, Error> {
        Self::with_config(audio_specific_config, AacToOpusConfig::default())
    }

    /// As [`new`](Self::new), with explicit settings.
    pub fn with_config(
        audio_specific_config: &[u8],
        config: AacToOpusConfig,
    ) -> Result<Self, Error> {
        let decoder = rusty_aac::AacDecoder::with_config_bytes(audio_specific_config)
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(Self {
            config,
            decoder,
            encoder: None,
            channels: 0,
            resampler: None,
            in_rate: 0,
            pending: Vec::new(),
            scratch: Vec::new(),
            resampled: Vec::new(),
            packet: vec![0; MAX_OPUS_PACKET],
            timeline: None,
            offset: 0,
            last_frame: 1024,
            carry: Vec::new(),
        })
    }

    /// Opus channel count (1 or 2); 0 until the first frame has decoded.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Transcodes one raw AAC frame (an FLV AAC tag's payload after its two-byte header) stamped `pts_ms`,
    /// returning the Opus packets completed by it (usually zero to two).
    ///
    /// A frame that does not decode returns an error; the transcoder stays usable, and that frame's duration is
    /// filled with silence so that the following timestamps stay true.
    pub fn push(&mut self, raw_aac_frame: &[u8], pts_ms: u32) -> Result<Vec<OpusPacket>, Error> {
        let mut out = std::mem::take(&mut self.carry);
        if raw_aac_frame.len() > self.config.max_frame_bytes {
            return Err(Error::TooLarge {
                codec: "aac",
                len: raw_aac_frame.len(),
                max: self.config.max_frame_bytes,
            });
        }
        let mut pts = (i64::from(pts_ms) * 48).saturating_add(self.offset);
        let tolerance = i64::from(self.config.resync_tolerance_ms) * 48;
        let max_fill = i64::from(self.config.max_fill_ms) * 48;
        let mut drop_frame = false;
        if let Some(expected) = self.expected() {
            let diff = pts.saturating_sub(expected);
            if diff > max_fill {
                self.start_run(pts, &mut out)?;
            } else if diff > tolerance {
                self.fill_silence(diff as u64, &mut out)?;
            } else if diff < -max_fill {
                tracing::debug!(
                    jump_ms = diff / 48,
                    "aac timestamps went back: continuing the count"
                );
                self.offset = self.offset.saturating_add(expected.saturating_sub(pts));
                pts = expected;
            } else if diff < -tolerance {
                // The samples run ahead of the timestamps: skip this frame's audio to catch up.
                drop_frame = true;
            }
        }
        let decoded = match self.decoder.decode(raw_aac_frame, None) {
            Ok(decoded) => decoded,
            Err(e) => {
                if self.timeline.is_some() {
                    self.fill_silence(
                        self.last_frame * 48_000 / u64::from(self.in_rate.max(1)),
                        &mut out,
                    )?;
                }
                self.carry = out;
                return Err(Error::Decode {
                    codec: "aac",
                    detail: e.to_string(),
                });
            }
        };
        let in_channels = usize::from(decoded.channels);
        if in_channels == 0 || decoded.sample_rate == 0 || decoded.samples.is_empty() || drop_frame
        {
            return Ok(out);
        }
        self.last_frame = (decoded.samples.len() / in_channels) as u64;
        self.prepare(decoded.sample_rate, in_channels)?;
        if self.timeline.is_none() {
            self.timeline = Some(Timeline {
                origin: pts.max(0),
                base: 0,
                count: 0,
                packets: 0,
            });
        }
        self.scratch.clear();
        remix(
            &decoded.samples,
            in_channels,
            self.channels,
            &mut self.scratch,
        );
        let samples = std::mem::take(&mut self.scratch);
        self.feed(&samples, &mut out)?;
        self.scratch = samples;
        Ok(out)
    }

    /// The 48 kHz timestamp the next input sample should carry.
    fn expected(&self) -> Option<i64> {
        let t = self.timeline.as_ref()?;
        let ticks = t.base + t.count * u64::from(OPUS_RATE) / u64::from(self.in_rate.max(1));
        Some(t.origin.saturating_add(ticks as i64))
    }

    /// Opens the encoder at the first frame and follows input rate changes.
    fn prepare(&mut self, rate: u32, in_channels: usize) -> Result<(), Error> {
        if self.encoder.is_none() {
            let channels = in_channels.min(2);
            let mut encoder = opus_pure::OpusEncoder::new(
                OPUS_RATE as i32,
                channels,
                opus_pure::Application::Audio,
            )
            .map_err(|e| Error::Encode {
                codec: "opus",
                detail: e.to_string(),
            })?;
            let bitrate = if channels == 1 {
                self.config.bitrate_bps / 2
            } else {
                self.config.bitrate_bps
            };
            encoder.bitrate_bps = bitrate.min(512_000) as i32;
            encoder.complexity = i32::from(self.config.complexity.min(10));
            self.encoder = Some(encoder);
            self.channels = channels;
        }
        if rate != self.in_rate {
            if let Some(t) = self.timeline.as_mut() {
                t.base += t.count * u64::from(OPUS_RATE) / u64::from(self.in_rate.max(1));
                t.count = 0;
            }
            self.resampler = Resampler::new(rate, OPUS_RATE, self.channels)?;
            self.in_rate = rate;
        }
        Ok(())
    }

    /// Runs interleaved samples at the input rate (already remixed) through the resampler and the encoder.
    fn feed(&mut self, samples: &[f32], out: &mut Vec<OpusPacket>) -> Result<(), Error> {
        if let Some(t) = self.timeline.as_mut() {
            t.count += (samples.len() / self.channels.max(1)) as u64;
        }
        match self.resampler.as_mut() {
            Some(r) => {
                self.resampled.clear();
                r.process(samples, &mut self.resampled);
                self.pending.extend_from_slice(&self.resampled);
            }
            None => self.pending.extend_from_slice(samples),
        }
        self.encode_pending(out)
    }

    fn encode_pending(&mut self, out: &mut Vec<OpusPacket>) -> Result<(), Error> {
        let (Some(encoder), Some(t)) = (self.encoder.as_mut(), self.timeline.as_mut()) else {
            return Ok(());
        };
        let frame = OPUS_FRAME * self.channels;
        let mut used = 0;
        while self.pending.len() - used >= frame {
            let n = encoder
                .encode(
                    &self.pending[used..used + frame],
                    OPUS_FRAME,
                    &mut self.packet,
                )
                .map_err(|e| Error::Encode {
                    codec: "opus",
                    detail: e.to_string(),
                })?;
            used += frame;
            out.push(OpusPacket {
                data: Bytes::copy_from_slice(&self.packet[..n]),
                pts_48k: t.origin as u64 + t.packets * OPUS_FRAME as u64,
                samples: OPUS_FRAME as u32,
            });
            t.packets += 1;
        }
        self.pending.drain(..used);
        Ok(())
    }

    /// Fills `ticks` of the 48 kHz clock with silence, entered at the input rate so the count stays in one unit.
    fn fill_silence(&mut self, ticks: u64, out: &mut Vec<OpusPacket>) -> Result<(), Error> {
        if self.encoder.is_none() || self.in_rate == 0 {
            return Ok(());
        }
        let frames = ticks * u64::from(self.in_rate) / u64::from(OPUS_RATE);
        let silence = vec![0.0; frames as usize * self.channels];
        self.feed(&silence, out)
    }

    /// Ends the current run (its last partial packet padded with silence) and starts one at `pts`.
    fn start_run(&mut self, pts: i64, out: &mut Vec<OpusPacket>) -> Result<(), Error> {
        let frame = OPUS_FRAME * self.channels;
        if frame > 0 && !self.pending.is_empty() {
            self.pending.resize(frame, 0.0);
            self.encode_pending(out)?;
        }
        self.pending.clear();
        let end = self
            .timeline
            .as_ref()
            .map_or(0, |t| t.origin + (t.packets * OPUS_FRAME as u64) as i64);
        // The held half filter belongs to the old run.
        self.resampler = Resampler::new(self.in_rate.max(1), OPUS_RATE, self.channels.max(1))?;
        self.timeline = Some(Timeline {
            origin: pts.max(end),
            base: 0,
            count: 0,
            packets: 0,
        });
        Ok(())
    }
}
