//! The header of an FLV/RTMP audio packet: legacy SoundFormat byte and Enhanced RTMP (FourCC).

use crate::error::{need, FlvError};
use crate::exheader::{fourcc, skip_mod_ex};

/// Audio codec of a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SoundFormat {
    /// 10, or Enhanced RTMP `mp4a`.
    Aac,
    /// 2 and 14 (MP3 8 kHz), or Enhanced RTMP `.mp3`.
    Mp3,
    /// 7: G.711 A-law.
    G711A,
    /// 8: G.711 mu-law.
    G711U,
    /// 11: Speex.
    Speex,
    /// Enhanced RTMP `Opus`, or legacy id 13 (the SRS extension).
    Opus,
    /// Any other legacy SoundFormat.
    Other(u8),
}

/// What the header of an audio tag body says, and where its codec payload starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioTagInfo {
    /// The codec.
    pub format: SoundFormat,
    /// SoundRate: 0 = 5.5 kHz, 1 = 11 kHz, 2 = 22 kHz, 3 = 44 kHz (AAC always says 3; the real rate is in the
    /// AudioSpecificConfig). 0 for Enhanced RTMP headers, which have no such field.
    pub rate_index: u8,
    /// SoundSize is 16 bits.
    pub sample_size_16bit: bool,
    /// SoundType is stereo.
    pub stereo: bool,
    /// The payload is the codec configuration (AAC AudioSpecificConfig, Opus ID header, ...).
    pub is_sequence_header: bool,
    /// Bytes before the codec payload.
    pub header_len: usize,
}

impl AudioTagInfo {
    /// Reads the header of an audio tag body (the same bytes as an RTMP audio message).
    ///
    /// Enhanced RTMP (SoundFormat 9 = ExHeader) with the FourCCs `mp4a`, `Opus` and `.mp3` and the packet types
    /// SequenceStart, CodedFrames and SequenceEnd is accepted and ModEx entries are skipped; MultichannelConfig,
    /// Multitrack and other FourCCs are [`FlvError::Unsupported`]. Enhanced headers have no rate/size/channel
    /// bits: those fields read 0 / 16-bit / mono, and the real values are in the codec configuration.
    pub fn parse(body: &[u8]) -> Result<Self, FlvError> {
        need("audio tag header", body, 1)?;
        let b0 = body[0];
        let id = b0 >> 4;
        if id == 9 {
            return Self::parse_enhanced(body);
        }
        let format = match id {
            10 => SoundFormat::Aac,
            2 | 14 => SoundFormat::Mp3,
            7 => SoundFormat::G711A,
            8 => SoundFormat::G711U,
            11 => SoundFormat::Speex,
            13 => SoundFormat::Opus,
            other => SoundFormat::Other(other),
        };
        let mut info = Self {
            format,
            rate_index: (b0 >> 2) & 0x03,
            sample_size_16bit: b0 & 0x02 != 0,
            stereo: b0 & 0x01 != 0,
            is_sequence_header: false,
            header_len: 1,
        };
        if format == SoundFormat::Aac {
            need("AAC audio tag header", body, 2)?;
            match body[1] {
                0 => info.is_sequence_header = true,
                1 => {}
                other => {
                    return Err(FlvError::Unsupported {
                        what: "AACPacketType",
                        value: other.into(),
                    })
                }
            }
            info.header_len = 2;
        }
        Ok(info)
    }

    fn parse_enhanced(body: &[u8]) -> Result<Self, FlvError> {
        const WHAT: &str = "Enhanced RTMP audio header";
        let (packet_type, pos) = skip_mod_ex(body, 1, body[0] & 0x0F, WHAT)?;
        if !matches!(packet_type, 0..=2) {
            return Err(FlvError::Unsupported {
                what: "Enhanced RTMP audio packet type",
                value: packet_type.into(),
            });
        }
        let fourcc = fourcc(body, pos, WHAT)?;
        let format = match &fourcc {
            b"mp4a" => SoundFormat::Aac,
            b"Opus" => SoundFormat::Opus,
            b".mp3" => SoundFormat::Mp3,
            _ => {
                return Err(FlvError::UnsupportedFourCc {
                    what: "Enhanced RTMP audio",
                    fourcc,
                })
            }
        };
        Ok(Self {
            format,
            rate_index: 0,
            sample_size_16bit: true,
            stereo: false,
            is_sequence_header: packet_type == 0,
            header_len: pos + 4,
        })
    }
}
