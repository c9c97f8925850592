//! AAC: the AudioSpecificConfig of a sequence header (ISO/IEC 14496-3 1.6.2.1) and ADTS headers.

use crate::bits::BitReader;
use crate::error::FlvError;

/// Sampling frequencies by samplingFrequencyIndex 0..=12.
const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// The fields of an AudioSpecificConfig that a server needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    /// Audio object type (2 = AAC LC). For explicitly signalled HE-AAC (5) and HE-AAC v2 (29) this is the core
    /// object type that follows the SBR extension, so that ADTS headers stay valid.
    pub object_type: u8,
    /// Sampling frequency in Hz (of the core codec for explicitly signalled HE-AAC).
    pub sample_rate: u32,
    /// Channel count; 0 when the channel configuration is in a program config element.
    pub channels: u8,
}

impl AudioSpecificConfig {
    /// Parses an AudioSpecificConfig (the payload of an AAC sequence header tag after its 2-byte header),
    /// including the escape object type 31 and the explicit frequency index 15. Trailing bits are ignored.
    pub fn parse(data: &[u8]) -> Result<Self, FlvError> {
        let mut r = BitReader::new(data, "AudioSpecificConfig");
        let mut object_type = read_object_type(&mut r)?;
        let sample_rate = read_sample_rate(&mut r)?;
        let channel_config = r.bits(4)?;
        let channels = match channel_config {
            0..=6 => channel_config as u8,
            7 | 12 | 14 => 8,
            11 => 7,
            13 => 24,
            other => {
                return Err(FlvError::BadConfig {
                    what: "AAC channelConfiguration",
                    detail: format!("reserved value {other}"),
                })
            }
        };
        if object_type == 5 || object_type == 29 {
            // Explicit SBR signalling: the extension rate, then the core object type.
            let _extension_rate = read_sample_rate(&mut r)?;
            object_type = read_object_type(&mut r)?;
        }
        if object_type == 0 {
            return Err(FlvError::BadConfig {
                what: "AAC audioObjectType",
                detail: "0 (null object)".into(),
            });
        }
        Ok(Self {
            object_type,
            sample_rate,
            channels,
        })
    }

    /// samplingFrequencyIndex for `sample_rate`: the exact index, or the nearest one for an explicit frequency.
    pub fn sample_rate_index(&self) -> u8 {
        let mut best = 0;
        let mut best_diff = u32::MAX;
        for (i, &rate) in SAMPLE_RATES.iter().enumerate() {
            let diff = rate.abs_diff(self.sample_rate);
            if diff < best_diff {
                best_diff = diff;
                best = i;
            }
        }
        // The table has 13 entries.
        best as u8
    }
}

fn read_object_type(r: &mut BitReader<'_>) -> Result<u8, FlvError> {
    let t = r.bits(5)?;
    let t = if t == 31 { 32 + r.bits(6)? } else { t };
    // At most 32 + 63 = 95.
    Ok(t as u8)
}

fn read_sample_rate(r: &mut BitReader<'_>) -> Result<u32, FlvError> {
    let index = r.bits(4)?;
    match index {
        15 => {
            let rate = r.bits(24)?;
            if rate == 0 {
                return Err(FlvError::BadConfig {
                    what: "AAC samplingFrequency",
                    detail: "explicit frequency 0".into(),
                });
            }
            Ok(rate)
        }
        // index < 13 checked by the guard.
        i if (i as usize) < SAMPLE_RATES.len() => Ok(SAMPLE_RATES[i as usize]),
        other => Err(FlvError::BadConfig {
            what: "AAC samplingFrequencyIndex",
            detail: format!("reserved value {other}"),
        }),
    }
}

/// A 7-byte ADTS header (MPEG-4, no CRC) for one raw AAC frame of `payload_len` bytes, as an MPEG-TS muxer
/// needs it.
///
/// The profile is `object_type - 1` (object types above 4 are written as LC), the frequency index is the nearest
/// standard one, and 8 channels are written as channel configuration 7. The 13-bit frame length saturates at
/// 8191: AAC frames are far smaller, so a larger `payload_len` is a caller bug that yields a corrupt header
/// rather than a panic.
pub fn adts_header(config: &AudioSpecificConfig, payload_len: usize) -> [u8; 7] {
    let profile = match config.object_type {
        1..=4 => config.object_type - 1,
        _ => 1,
    };
    let freq = config.sample_rate_index();
    let chan = match config.channels {
        8 => 7,
        c => c & 0x07,
    };
    let len = payload_len.saturating_add(7).min(0x1FFF) as u16;
    [
        0xFF,
        0xF1, // sync, MPEG-4, layer 0, protection absent
        (profile << 6) | (freq << 2) | (chan >> 2),
        ((chan & 0x03) << 6) | ((len >> 11) as u8),
        (len >> 3) as u8,
        (((len & 0x07) as u8) << 5) | 0x1F, // buffer fullness 0x7FF (VBR)
        0xFC,
    ]
}
