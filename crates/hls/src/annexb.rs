//! Elementary stream data for MPEG-TS from FLV payloads: H.264 from length-prefixed (AVCC) to Annex B, and raw
//! AAC frames wrapped in ADTS.

use flv::aac::{adts_header, AudioSpecificConfig};
use flv::avc::{nal_units, AvcDecoderConfig, NAL_SPS};

use crate::error::HlsError;

/// An Annex B start code.
const START_CODE: [u8; 4] = [0, 0, 0, 1];
/// An access unit delimiter NAL unit (type 9, primary_pic_type 7 = any slice type): MPEG-TS requires one at the
/// start of every H.264 access unit.
const AUD: [u8; 2] = [0x09, 0xF0];
/// NAL unit type of an access unit delimiter.
const NAL_AUD: u8 = 9;

/// Converts one AVCC picture to an Annex B access unit: an AUD first, then (on keyframes that lack them) the
/// SPS and PPS of `config`, then the picture's NAL units, each behind a 4-byte start code. AUDs already present
/// are dropped so that there is exactly one.
pub fn avc_to_annexb(
    data: &[u8],
    config: &AvcDecoderConfig,
    keyframe: bool,
) -> Result<Vec<u8>, HlsError> {
    let mut out = Vec::with_capacity(data.len() + 64);
    out.extend_from_slice(&START_CODE);
    out.extend_from_slice(&AUD);
    let mut nals = Vec::new();
    for nal in nal_units(data, config.nalu_length_size) {
        nals.push(nal.map_err(HlsError::Video)?);
    }
    let has_sps = nals
        .iter()
        .any(|n| n.first().is_some_and(|b| b & 0x1F == NAL_SPS));
    if keyframe && !has_sps {
        for ps in config.sps.iter().chain(config.pps.iter()) {
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(ps);
        }
    }
    for nal in nals {
        match nal.first() {
            None => continue,
            Some(b) if b & 0x1F == NAL_AUD => continue,
            Some(_) => {}
        }
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(nal);
    }
    Ok(out)
}

/// One raw AAC frame behind its ADTS header. A frame too long for the 13-bit ADTS length is refused.
pub fn aac_to_adts(raw: &[u8], config: &AudioSpecificConfig) -> Result<Vec<u8>, HlsError> {
    if raw.len() + 7 > 0x1FFF {
        return Err(HlsError::AacFrameTooLong { len: raw.len() });
    }
    let mut out = Vec::with_capacity(raw.len() + 7);
    out.extend_from_slice(&adts_header(config, raw.len()));
    out.extend_from_slice(raw);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn config() -> AvcDecoderConfig {
        AvcDecoderConfig {
            profile: 66,
            compatibility: 0,
            level: 30,
            nalu_length_size: 4,
            sps: vec![Bytes::from_static(&[0x67, 1, 2])],
            pps: vec![Bytes::from_static(&[0x68, 3])],
        }
    }

    #[test]
    fn keyframes_get_aud_sps_pps() {
        let data = [0, 0, 0, 2, 0x65, 0xAA, 0, 0, 0, 2, 0x09, 0xF0];
        let out = avc_to_annexb(&data, &config(), true).unwrap();
        assert_eq!(
            out,
            [
                0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3, 0, 0, 0, 1,
                0x65, 0xAA
            ]
        );
        let out = avc_to_annexb(&[0, 0, 0, 1, 0x41], &config(), false).unwrap();
        assert_eq!(out, [0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, 0x41]);
    }

    #[test]
    fn truncated_nal_units_are_an_error() {
        assert!(avc_to_annexb(&[0, 0, 0, 9, 0x65], &config(), true).is_err());
    }

    #[test]
    fn adts_wraps_the_frame() {
        let asc = AudioSpecificConfig {
            object_type: 2,
            sample_rate: 44100,
            channels: 2,
        };
        let out = aac_to_adts(&[1, 2, 3], &asc).unwrap();
        assert_eq!(out.len(), 10);
        assert_eq!(&out[..2], &[0xFF, 0xF1]);
        assert!(aac_to_adts(&[0; 9000], &asc).is_err());
    }
}
