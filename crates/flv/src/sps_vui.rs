//! Reads and rewrites the picture-reordering fields of an H.264 SPS (the VUI `bitstream_restriction`:
//! `max_num_reorder_frames`, `max_dec_frame_buffering`).
//!
//! A WebRTC receiver wants one picture out of its decoder for each frame in. A stream whose SPS announces
//! reordering (x264 with B-frames writes `max_num_reorder_frames` 1 or 2) makes FFmpeg's decoder hold pictures
//! back, so a relay may rewrite the SPS to declare no reordering, as WebRTC's own `SpsVuiRewriter` does for the
//! streams it sends. Every field before the VUI restriction is copied bit for bit; the restriction is replaced
//! (or added, with the spec's defaults for its other fields, when the SPS has none or no VUI at all).

use crate::bits::{escape, unescape, BitReader, BitWriter};
use crate::error::FlvError;

const NAL_SPS: u8 = 7;
/// profile_idc values whose SPS carries chroma format, bit depths and scaling matrices (H.264 7.3.2.1.1).
const HIGH_PROFILES: [u32; 13] = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135];

/// What an SPS says about picture reordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpsReorder {
    /// `max_num_ref_frames`.
    pub max_num_ref_frames: u32,
    /// VUI `max_num_reorder_frames`, if the SPS has a bitstream restriction.
    pub max_num_reorder_frames: Option<u32>,
    /// VUI `max_dec_frame_buffering`, if the SPS has a bitstream restriction.
    pub max_dec_frame_buffering: Option<u32>,
    /// `pic_order_cnt_type` (2 means output order = decode order, so no reordering whatever the VUI says).
    pub pic_order_cnt_type: u32,
}

impl SpsReorder {
    /// Whether the stream may output pictures in another order than it decodes them. Without a bitstream
    /// restriction a decoder must assume so unless `pic_order_cnt_type` is 2.
    pub fn may_reorder(&self) -> bool {
        self.pic_order_cnt_type != 2 && self.max_num_reorder_frames != Some(0)
    }
}

/// Reads the reordering fields of an SPS NAL unit (header byte included, emulation prevention in place).
pub fn sps_reorder(nal: &[u8]) -> Result<SpsReorder, FlvError> {
    walk(nal, false).map(|(info, _)| info)
}

/// Returns the SPS NAL unit with its VUI bitstream restriction set to `max_num_reorder_frames = 0`, and what the
/// original said. `max_dec_frame_buffering` is kept when the SPS has it, else set to `max_num_ref_frames` (the
/// smallest the spec allows).
pub fn rewrite_sps_reorder(nal: &[u8]) -> Result<(Vec<u8>, SpsReorder), FlvError> {
    let (info, out) = walk(nal, true)?;
    let rbsp = out.ok_or_else(|| bad("rewrite produced nothing"))?;
    let mut nal_out = Vec::with_capacity(rbsp.len() + 8);
    nal_out.push(nal[0]);
    escape(&rbsp, &mut nal_out);
    Ok((nal_out, info))
}

fn bad(detail: impl Into<String>) -> FlvError {
    FlvError::Sps(detail.into())
}

/// A reader that copies what it reads to a writer when rewriting.
struct Copier<'a> {
    r: BitReader<'a>,
    w: Option<BitWriter>,
}

impl Copier<'_> {
    fn bits(&mut self, n: u32) -> Result<u32, FlvError> {
        let v = self.r.bits(n)?;
        if let Some(w) = &mut self.w {
            w.bits(n, v);
        }
        Ok(v)
    }

    fn flag(&mut self) -> Result<bool, FlvError> {
        Ok(self.bits(1)? == 1)
    }

    fn ue(&mut self) -> Result<u32, FlvError> {
        let v = self.r.ue()?;
        if let Some(w) = &mut self.w {
            w.ue(v);
        }
        Ok(v)
    }

    /// A signed Exp-Golomb field, copied as its unsigned code number.
    fn se(&mut self) -> Result<i64, FlvError> {
        let k = self.ue()?;
        let k = i64::from(k);
        Ok(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }

    /// A ue field whose value must not exceed `max` (the spec's range; also bounds loops).
    fn ue_max(&mut self, max: u32, what: &str) -> Result<u32, FlvError> {
        let v = self.ue()?;
        if v > max {
            return Err(bad(format!("{what} {v} > {max}")));
        }
        Ok(v)
    }
}

fn scaling_list(c: &mut Copier<'_>, size: usize) -> Result<(), FlvError> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            let delta = c.se()?;
            if !(-128..=127).contains(&delta) {
                return Err(bad(format!("scaling list delta {delta}")));
            }
            next = (last + delta + 256) % 256;
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

fn hrd(c: &mut Copier<'_>) -> Result<(), FlvError> {
    let cpb_cnt = c.ue_max(31, "cpb_cnt_minus1")?;
    c.bits(8)?; // bit_rate_scale, cpb_size_scale
    for _ in 0..=cpb_cnt {
        c.ue()?; // bit_rate_value_minus1
        c.ue()?; // cpb_size_value_minus1
        c.flag()?; // cbr_flag
    }
    c.bits(20)?; // four 5-bit delay and offset lengths
    Ok(())
}

fn walk(nal: &[u8], rewrite: bool) -> Result<(SpsReorder, Option<Vec<u8>>), FlvError> {
    let Some(&head) = nal.first() else {
        return Err(bad("empty NAL unit"));
    };
    if head & 0x1F != NAL_SPS {
        return Err(bad(format!(
            "NAL unit type {} is not an SPS (7)",
            head & 0x1F
        )));
    }
    let rbsp = unescape(&nal[1..]);
    let mut c = Copier {
        r: BitReader::new(&rbsp, "H.264 SPS"),
        w: rewrite.then(BitWriter::default),
    };
    let profile_idc = c.bits(8)?;
    c.bits(16)?; // constraint flags, level_idc
    c.ue_max(31, "seq_parameter_set_id")?;
    if HIGH_PROFILES.contains(&profile_idc) {
        let chroma_format_idc = c.ue_max(3, "chroma_format_idc")?;
        if chroma_format_idc == 3 {
            c.flag()?; // separate_colour_plane_flag
        }
        c.ue_max(6, "bit_depth_luma_minus8")?;
        c.ue_max(6, "bit_depth_chroma_minus8")?;
        c.flag()?; // qpprime_y_zero_transform_bypass_flag
        if c.flag()? {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if c.flag()? {
                    scaling_list(&mut c, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    c.ue_max(12, "log2_max_frame_num_minus4")?;
    let pic_order_cnt_type = c.ue_max(2, "pic_order_cnt_type")?;
    match pic_order_cnt_type {
        0 => {
            c.ue_max(12, "log2_max_pic_order_cnt_lsb_minus4")?;
        }
        1 => {
            c.flag()?; // delta_pic_order_always_zero_flag
            c.se()?; // offset_for_non_ref_pic
            c.se()?; // offset_for_top_to_bottom_field
            let cycle = c.ue_max(255, "num_ref_frames_in_pic_order_cnt_cycle")?;
            for _ in 0..cycle {
                c.se()?;
            }
        }
        _ => {}
    }
    let max_num_ref_frames = c.ue_max(16, "max_num_ref_frames")?;
    c.flag()?; // gaps_in_frame_num_value_allowed_flag
    c.ue()?; // pic_width_in_mbs_minus1
    c.ue()?; // pic_height_in_map_units_minus1
    if !c.flag()? {
        c.flag()?; // mb_adaptive_frame_field_flag
    }
    c.flag()?; // direct_8x8_inference_flag
    if c.flag()? {
        for _ in 0..4 {
            c.ue()?; // frame_crop_{left,right,top,bottom}_offset
        }
    }
    let mut info = SpsReorder {
        max_num_ref_frames,
        max_num_reorder_frames: None,
        max_dec_frame_buffering: None,
        pic_order_cnt_type,
    };
    // From here on the rewrite writes the VUI itself: the writer stops copying.
    let mut w = c.w.take();
    let vui = c.flag()?;
    if let Some(w) = &mut w {
        w.flag(true);
    }
    if vui {
        c.w = w.take();
        if c.flag()? {
            // aspect_ratio_info
            if c.bits(8)? == 255 {
                c.bits(32)?; // sar_width, sar_height
            }
        }
        if c.flag()? {
            c.flag()?; // overscan_appropriate_flag
        }
        if c.flag()? {
            c.bits(4)?; // video_format, video_full_range_flag
            if c.flag()? {
                c.bits(24)?; // colour_primaries, transfer_characteristics, matrix_coefficients
            }
        }
        if c.flag()? {
            c.ue_max(5, "chroma_sample_loc_type_top_field")?;
            c.ue_max(5, "chroma_sample_loc_type_bottom_field")?;
        }
        if c.flag()? {
            c.bits(32)?; // num_units_in_tick
            c.bits(32)?; // time_scale
            c.flag()?; // fixed_frame_rate_flag
        }
        let nal_hrd = c.flag()?;
        if nal_hrd {
            hrd(&mut c)?;
        }
        let vcl_hrd = c.flag()?;
        if vcl_hrd {
            hrd(&mut c)?;
        }
        if nal_hrd || vcl_hrd {
            c.flag()?; // low_delay_hrd_flag
        }
        c.flag()?; // pic_struct_present_flag
        w = c.w.take();
        if c.flag()? {
            let motion = c.flag()?;
            let bytes_denom = c.ue_max(16, "max_bytes_per_pic_denom")?;
            let bits_denom = c.ue_max(16, "max_bits_per_mb_denom")?;
            let mv_h = c.ue_max(16, "log2_max_mv_length_horizontal")?;
            let mv_v = c.ue_max(16, "log2_max_mv_length_vertical")?;
            info.max_num_reorder_frames = Some(c.ue_max(16, "max_num_reorder_frames")?);
            info.max_dec_frame_buffering = Some(c.ue_max(16, "max_dec_frame_buffering")?);
            if let Some(w) = &mut w {
                w.flag(true);
                w.flag(motion);
                w.ue(bytes_denom);
                w.ue(bits_denom);
                w.ue(mv_h);
                w.ue(mv_v);
            }
        } else if let Some(w) = &mut w {
            write_default_restriction(w);
        }
    } else if let Some(w) = &mut w {
        // A VUI with nothing but the restriction: aspect ratio, overscan, video signal, chroma location,
        // timing, NAL HRD, VCL HRD, pic_struct all absent.
        w.bits(8, 0);
        write_default_restriction(w);
    }
    let Some(mut w) = w else {
        return Ok((info, None));
    };
    let dec = info
        .max_dec_frame_buffering
        .unwrap_or(max_num_ref_frames)
        .max(max_num_ref_frames);
    w.ue(0); // max_num_reorder_frames
    w.ue(dec); // max_dec_frame_buffering
    Ok((info, Some(w.finish_rbsp())))
}

/// A bitstream restriction with the spec's inferred defaults (E.2.1), up to the reordering fields.
fn write_default_restriction(w: &mut BitWriter) {
    w.flag(true); // bitstream_restriction_flag
    w.flag(true); // motion_vectors_over_pic_boundaries_flag
    w.ue(2); // max_bytes_per_pic_denom
    w.ue(1); // max_bits_per_mb_denom
    w.ue(16); // log2_max_mv_length_horizontal
    w.ue(16); // log2_max_mv_length_vertical
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avc::parse_sps;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// x264 (ffmpeg 5, `-preset veryfast`, 540x960 25 fps yuv420p): `-bf 0` and `-bf 2`.
    const X264_BF0: &str = "6764001facb40440f3df80880000030008000003019078c195";
    const X264_BF2: &str = "6764001facd940881e7bf011000003000100000300320f183196";
    /// The same in High 4:4:4 (chroma_format_idc 3), `-bf 0` and `-bf 2`.
    const X264_444_BF0: &str = "67f4001f919680881e797c0440000003004000000c83c60ca8";
    const X264_444_BF2: &str = "67f4001f919b281103cf2f80880000030008000003019078c18cb0";

    #[test]
    fn reads_the_reordering_of_x264_streams() {
        let bf0 = sps_reorder(&hex(X264_BF0)).unwrap();
        assert_eq!(bf0.max_num_reorder_frames, Some(0));
        assert!(!bf0.may_reorder());
        let bf2 = sps_reorder(&hex(X264_BF2)).unwrap();
        assert_eq!(bf2.max_num_ref_frames, 4);
        assert_eq!(bf2.max_num_reorder_frames, Some(2));
        assert_eq!(bf2.max_dec_frame_buffering, Some(4));
        assert!(bf2.may_reorder());
        assert!(!sps_reorder(&hex(X264_444_BF0)).unwrap().may_reorder());
        assert!(sps_reorder(&hex(X264_444_BF2)).unwrap().may_reorder());
    }

    #[test]
    fn rewrite_keeps_everything_else_and_declares_no_reordering() {
        for sps in [X264_BF0, X264_BF2, X264_444_BF0, X264_444_BF2] {
            let orig = hex(sps);
            let (out, before) = rewrite_sps_reorder(&orig).unwrap();
            let after = sps_reorder(&out).unwrap();
            assert_eq!(after.max_num_reorder_frames, Some(0), "{sps}");
            assert_eq!(
                after.max_dec_frame_buffering,
                before.max_dec_frame_buffering
            );
            assert_eq!(after.max_num_ref_frames, before.max_num_ref_frames);
            // The picture fields, read by the independent h264-reader parser, are unchanged.
            assert_eq!(parse_sps(&out).unwrap(), parse_sps(&orig).unwrap(), "{sps}");
            // Rewriting again changes nothing.
            assert_eq!(rewrite_sps_reorder(&out).unwrap().0, out);
        }
        // A stream without reordering comes out as it went in (x264 already writes the restriction).
        let bf0 = hex(X264_BF0);
        assert_eq!(rewrite_sps_reorder(&bf0).unwrap().0, bf0);
    }

    #[test]
    fn an_sps_without_vui_gets_one() {
        // Cut X264_BF2 right after the VUI flag: rebuild it with vui_parameters_present_flag = 0.
        let orig = hex(X264_BF2);
        let rbsp = unescape(&orig[1..]);
        let mut r = BitReader::new(&rbsp, "test");
        let mut w = BitWriter::default();
        // 74 RBSP bits precede the VUI flag in this SPS (ffmpeg trace_headers: vui_parameters_present_flag at
        // bit 82 of the NAL unit, header byte included).
        for _ in 0..74 {
            w.bits(1, r.bits(1).unwrap());
        }
        w.flag(false);
        let mut no_vui = vec![orig[0]];
        escape(&w.finish_rbsp(), &mut no_vui);
        let info = sps_reorder(&no_vui).unwrap();
        assert_eq!(info.max_num_reorder_frames, None);
        assert!(info.may_reorder());
        let (out, _) = rewrite_sps_reorder(&no_vui).unwrap();
        assert_eq!(sps_reorder(&out).unwrap().max_num_reorder_frames, Some(0));
        let (a, b) = (parse_sps(&out).unwrap(), parse_sps(&no_vui).unwrap());
        assert_eq!(
            (a.width, a.height, a.profile_idc),
            (b.width, b.height, b.profile_idc)
        );
    }

    #[test]
    fn malformed_sps_is_an_error_not_a_panic() {
        assert!(sps_reorder(&[]).is_err());
        assert!(sps_reorder(&[0x68, 0xEE, 0x3C, 0x80]).is_err(), "a PPS");
        for sps in [X264_BF2, X264_444_BF2] {
            let orig = hex(sps);
            // Every truncation that cuts into the fields read is refused; none panics.
            for len in 0..orig.len() {
                let _ = sps_reorder(&orig[..len]);
                let _ = rewrite_sps_reorder(&orig[..len]);
            }
            assert!(sps_reorder(&orig[..10]).is_err());
        }
        // All-ones and all-zeros payloads: huge Exp-Golomb codes, out-of-range fields.
        for fill in [0x00, 0xFF, 0x55] {
            let mut nal = vec![0x67, 100, 0, 31];
            nal.extend(std::iter::repeat_n(fill, 64));
            let _ = sps_reorder(&nal);
            let _ = rewrite_sps_reorder(&nal);
        }
    }
}
