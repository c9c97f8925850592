//! H.265: the HEVCDecoderConfigurationRecord (hvcC) of a sequence header and the picture size from its SPS.

use bytes::Bytes;

use crate::bits::{unescape, BitReader};
use crate::error::{need, FlvError};

/// H.265 NAL unit type of a video parameter set.
pub const NAL_VPS: u8 = 32;
/// H.265 NAL unit type of a sequence parameter set.
pub const NAL_SPS: u8 = 33;
/// H.265 NAL unit type of a picture parameter set.
pub const NAL_PPS: u8 = 34;

/// Fixed part of hvcC before its NAL unit arrays.
const HVCC_HEADER_LEN: usize = 23;

/// One array of parameter sets in an hvcC record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcNalArray {
    /// array_completeness.
    pub complete: bool,
    /// NAL_unit_type of every unit in the array (32 VPS, 33 SPS, 34 PPS, 39/40 SEI).
    pub nal_type: u8,
    /// The NAL units, 2-byte header included.
    pub units: Vec<Bytes>,
}

/// The HEVCDecoderConfigurationRecord carried by an HEVC sequence header (ISO/IEC 14496-15 8.3.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcDecoderConfig {
    /// general_profile_space.
    pub profile_space: u8,
    /// general_tier_flag (high tier).
    pub tier_high: bool,
    /// general_profile_idc (1 Main, 2 Main 10, ...).
    pub profile_idc: u8,
    /// general_profile_compatibility_flags.
    pub profile_compatibility: u32,
    /// general_constraint_indicator_flags (48 bits).
    pub constraint_flags: u64,
    /// general_level_idc (30 x level: 93 = 3.1, 120 = 4).
    pub level_idc: u8,
    /// chroma_format_idc (1 = 4:2:0).
    pub chroma_format: u8,
    /// Luma bit depth.
    pub bit_depth_luma: u8,
    /// Chroma bit depth.
    pub bit_depth_chroma: u8,
    /// avgFrameRate in frames per 256 seconds; 0 if unspecified.
    pub avg_frame_rate: u16,
    /// Size of the NAL unit length prefix in the video tags: 1, 2 or 4.
    pub nalu_length_size: u8,
    /// The parameter set arrays.
    pub arrays: Vec<HevcNalArray>,
}

impl HevcDecoderConfig {
    /// Parses an hvcC record (the payload of an HEVC sequence header after its tag header).
    pub fn parse(data: &[u8]) -> Result<Self, FlvError> {
        need("hvcC header", data, HVCC_HEADER_LEN)?;
        if data[0] != 1 {
            return Err(FlvError::BadConfig {
                what: "hvcC configurationVersion",
                detail: format!("{} (expected 1)", data[0]),
            });
        }
        let nalu_length_size = (data[21] & 0x03) + 1;
        if nalu_length_size == 3 {
            return Err(FlvError::BadConfig {
                what: "hvcC lengthSizeMinusOne",
                detail: "2 (NAL length size 3 is not allowed)".into(),
            });
        }
        let num_arrays = usize::from(data[22]);
        let mut rest = &data[HVCC_HEADER_LEN..];
        // Each array needs at least 3 bytes of input: the allocation is bounded by the input.
        let mut arrays = Vec::with_capacity(num_arrays.min(rest.len() / 3));
        for _ in 0..num_arrays {
            need("hvcC NAL array header", rest, 3)?;
            let complete = rest[0] & 0x80 != 0;
            let nal_type = rest[0] & 0x3F;
            let count = usize::from(u16::from_be_bytes([rest[1], rest[2]]));
            rest = &rest[3..];
            let mut units = Vec::with_capacity(count.min(rest.len() / 2));
            for _ in 0..count {
                need("hvcC NAL unit", rest, 2)?;
                let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                need("hvcC NAL unit", rest, 2 + len)?;
                units.push(Bytes::copy_from_slice(&rest[2..2 + len]));
                rest = &rest[2 + len..];
            }
            arrays.push(HevcNalArray {
                complete,
                nal_type,
                units,
            });
        }
        let mut constraint = [0u8; 8];
        constraint[2..].copy_from_slice(&data[6..12]);
        Ok(Self {
            profile_space: data[1] >> 6,
            tier_high: data[1] & 0x20 != 0,
            profile_idc: data[1] & 0x1F,
            profile_compatibility: u32::from_be_bytes([data[2], data[3], data[4], data[5]]),
            constraint_flags: u64::from_be_bytes(constraint),
            level_idc: data[12],
            chroma_format: data[16] & 0x03,
            bit_depth_luma: (data[17] & 0x07) + 8,
            bit_depth_chroma: (data[18] & 0x07) + 8,
            avg_frame_rate: u16::from_be_bytes([data[19], data[20]]),
            nalu_length_size,
            arrays,
        })
    }

    /// The first SPS in the record.
    pub fn first_sps(&self) -> Option<&Bytes> {
        self.arrays
            .iter()
            .filter(|a| a.nal_type == NAL_SPS)
            .flat_map(|a| a.units.iter())
            .next()
    }

    /// Picture size from the first SPS.
    pub fn sps_info(&self) -> Result<HevcSpsInfo, FlvError> {
        let sps = self.first_sps().ok_or_else(|| FlvError::BadConfig {
            what: "hvcC",
            detail: "no SPS".into(),
        })?;
        parse_hevc_sps(sps)
    }
}

/// What an H.265 SPS says about the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HevcSpsInfo {
    /// Width in pixels, conformance window applied.
    pub width: u32,
    /// Height in pixels, conformance window applied.
    pub height: u32,
    /// general_profile_idc.
    pub profile_idc: u8,
    /// general_level_idc.
    pub level_idc: u8,
    /// chroma_format_idc.
    pub chroma_format: u8,
}

/// Parses the start of an H.265 SPS NAL unit (2-byte header included) up to the conformance window: enough for
/// the picture size, without a full H.265 parser.
pub fn parse_hevc_sps(nal: &[u8]) -> Result<HevcSpsInfo, FlvError> {
    need("H.265 SPS", nal, 3)?;
    let nal_type = (nal[0] >> 1) & 0x3F;
    if nal_type != NAL_SPS {
        return Err(FlvError::Sps(format!(
            "H.265 NAL unit type {nal_type} is not an SPS (33)"
        )));
    }
    let rbsp = unescape(&nal[2..]);
    let mut r = BitReader::new(&rbsp, "H.265 SPS");
    r.skip(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.bits(3)? as usize;
    r.skip(1)?; // sps_temporal_id_nesting_flag
                // profile_tier_level(1, max_sub_layers_minus1)
    r.skip(3)?; // general_profile_space, general_tier_flag
    let profile_idc = r.bits(5)? as u8;
    r.skip(32 + 48)?; // compatibility flags, constraint flags
    let level_idc = r.bits(8)? as u8;
    let mut present = [(false, false); 8];
    for p in present.iter_mut().take(max_sub_layers_minus1) {
        *p = (r.flag()?, r.flag()?);
    }
    if max_sub_layers_minus1 > 0 {
        r.skip(2 * (8 - max_sub_layers_minus1))?;
    }
    for &(profile, level) in present.iter().take(max_sub_layers_minus1) {
        if profile {
            r.skip(88)?;
        }
        if level {
            r.skip(8)?;
        }
    }
    let _sps_id = r.ue()?;
    let chroma_format_idc = r.ue()?;
    if chroma_format_idc > 3 {
        return Err(FlvError::Sps(format!(
            "chroma_format_idc {chroma_format_idc} > 3"
        )));
    }
    let separate_colour_plane = chroma_format_idc == 3 && r.flag()?;
    let width = r.ue()?;
    let height = r.ue()?;
    let (mut w, mut h) = (width, height);
    if r.flag()? {
        let (left, right, top, bottom) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
        let chroma_array_type = if separate_colour_plane {
            0
        } else {
            chroma_format_idc
        };
        let sub_w: u64 = if matches!(chroma_array_type, 1 | 2) {
            2
        } else {
            1
        };
        let sub_h: u64 = if chroma_array_type == 1 { 2 } else { 1 };
        let crop_w = sub_w * (u64::from(left) + u64::from(right));
        let crop_h = sub_h * (u64::from(top) + u64::from(bottom));
        let (Some(cw), Some(ch)) = (
            u64::from(width).checked_sub(crop_w),
            u64::from(height).checked_sub(crop_h),
        ) else {
            return Err(FlvError::Sps(format!(
                "conformance window {left}/{right}/{top}/{bottom} larger than {width}x{height}"
            )));
        };
        // Both are at most the original u32 values.
        (w, h) = (cw as u32, ch as u32);
    }
    Ok(HevcSpsInfo {
        width: w,
        height: h,
        profile_idc,
        level_idc,
        chroma_format: chroma_format_idc as u8,
    })
}
