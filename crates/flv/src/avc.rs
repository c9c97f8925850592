//! H.264: the AVCDecoderConfigurationRecord (avcC) of a sequence header, its SPS, and length-prefixed NAL units.

use bytes::{BufMut, Bytes, BytesMut};
use h264_reader::nal::sps::SeqParameterSet;
use h264_reader::rbsp::BitReader as H264BitReader;

use crate::error::{need, FlvError};

/// H.264 NAL unit type of a sequence parameter set.
pub const NAL_SPS: u8 = 7;
/// H.264 NAL unit type of a picture parameter set.
pub const NAL_PPS: u8 = 8;
/// H.264 NAL unit type of an IDR slice.
pub const NAL_IDR: u8 = 5;
/// H.264 NAL unit type of SEI.
pub const NAL_SEI: u8 = 6;

/// The AVCDecoderConfigurationRecord carried by an AVC sequence header tag (ISO/IEC 14496-15 5.3.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcDecoderConfig {
    /// AVCProfileIndication (profile_idc of the SPS).
    pub profile: u8,
    /// profile_compatibility (the constraint flags byte).
    pub compatibility: u8,
    /// AVCLevelIndication.
    pub level: u8,
    /// Size of the NAL unit length prefix in the video tags: 1, 2 or 4.
    pub nalu_length_size: u8,
    /// Sequence parameter set NAL units, header byte included.
    pub sps: Vec<Bytes>,
    /// Picture parameter set NAL units, header byte included.
    pub pps: Vec<Bytes>,
}

impl AvcDecoderConfig {
    /// Parses an avcC record (the payload of a sequence header tag after its 5-byte header). Trailing bytes
    /// (the optional high-profile extension) are ignored.
    pub fn parse(data: &[u8]) -> Result<Self, FlvError> {
        need("avcC header", data, 6)?;
        if data[0] != 1 {
            return Err(FlvError::BadConfig {
                what: "avcC configurationVersion",
                detail: format!("{} (expected 1)", data[0]),
            });
        }
        let nalu_length_size = (data[4] & 0x03) + 1;
        if nalu_length_size == 3 {
            return Err(FlvError::BadConfig {
                what: "avcC lengthSizeMinusOne",
                detail: "2 (NAL length size 3 is not allowed)".into(),
            });
        }
        let mut rest = &data[5..];
        let num_sps = usize::from(rest[0] & 0x1F);
        rest = &rest[1..];
        let sps = read_param_sets(&mut rest, num_sps, "avcC SPS")?;
        need("avcC numOfPictureParameterSets", rest, 1)?;
        let num_pps = usize::from(rest[0]);
        rest = &rest[1..];
        let pps = read_param_sets(&mut rest, num_pps, "avcC PPS")?;
        Ok(Self {
            profile: data[1],
            compatibility: data[2],
            level: data[3],
            nalu_length_size,
            sps,
            pps,
        })
    }

    /// Serialises the record (without the high-profile extension). Handy for tests and generators.
    ///
    /// # Panics
    ///
    /// If there are more than 31 SPS or 255 PPS, a parameter set is longer than 65535 bytes, or
    /// `nalu_length_size` is not 1, 2 or 4: none of these can come out of [`parse`](Self::parse).
    pub fn encode(&self) -> Bytes {
        assert!(
            self.sps.len() <= 31 && self.pps.len() <= 255,
            "too many parameter sets"
        );
        assert!(
            matches!(self.nalu_length_size, 1 | 2 | 4),
            "bad NAL length size"
        );
        let mut out = BytesMut::new();
        out.put_u8(1);
        out.put_u8(self.profile);
        out.put_u8(self.compatibility);
        out.put_u8(self.level);
        out.put_u8(0xFC | (self.nalu_length_size - 1));
        // Casts are lossless: counts asserted above.
        out.put_u8(0xE0 | self.sps.len() as u8);
        put_param_sets(&mut out, &self.sps);
        out.put_u8(self.pps.len() as u8);
        put_param_sets(&mut out, &self.pps);
        out.freeze()
    }

    /// Width, height, profile, level and frame rate from the first SPS.
    pub fn sps_info(&self) -> Result<SpsInfo, FlvError> {
        let sps = self.sps.first().ok_or_else(|| FlvError::BadConfig {
            what: "avcC",
            detail: "no SPS".into(),
        })?;
        parse_sps(sps)
    }
}

fn read_param_sets(
    rest: &mut &[u8],
    count: usize,
    what: &'static str,
) -> Result<Vec<Bytes>, FlvError> {
    // count <= 255 and each entry needs at least 2 bytes of input, so this allocation is bounded by the input.
    let mut sets = Vec::with_capacity(count.min(rest.len() / 2));
    for _ in 0..count {
        need(what, rest, 2)?;
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        need(what, rest, 2 + len)?;
        sets.push(Bytes::copy_from_slice(&rest[2..2 + len]));
        *rest = &rest[2 + len..];
    }
    Ok(sets)
}

fn put_param_sets(out: &mut BytesMut, sets: &[Bytes]) {
    for s in sets {
        let len = u16::try_from(s.len())
            .expect("parameter set longer than 65535 bytes (documented panic)");
        out.put_u16(len);
        out.put_slice(s);
    }
}

/// What a sequence parameter set says about the picture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpsInfo {
    /// Width in pixels, cropping applied.
    pub width: u32,
    /// Height in pixels, cropping applied.
    pub height: u32,
    /// profile_idc (66 baseline, 77 main, 100 high, ...).
    pub profile_idc: u8,
    /// level_idc (31 = level 3.1).
    pub level_idc: u8,
    /// Frame rate from the VUI timing info (`time_scale / (2 * num_units_in_tick)`), if present.
    pub fps: Option<f64>,
}

/// Parses an H.264 SPS NAL unit (header byte included, emulation prevention still in place).
pub fn parse_sps(nal: &[u8]) -> Result<SpsInfo, FlvError> {
    need("H.264 SPS", nal, 2)?;
    let nal_type = nal[0] & 0x1F;
    if nal_type != NAL_SPS {
        return Err(FlvError::Sps(format!(
            "NAL unit type {nal_type} is not an SPS (7)"
        )));
    }
    let rbsp = h264_reader::rbsp::decode_nal(nal).map_err(|e| FlvError::Sps(e.to_string()))?;
    let sps = SeqParameterSet::from_bits(H264BitReader::new(&rbsp[..]))
        .map_err(|e| FlvError::Sps(format!("{e:?}")))?;
    let (width, height) = sps
        .pixel_dimensions()
        .map_err(|e| FlvError::Sps(format!("{e:?}")))?;
    Ok(SpsInfo {
        width,
        height,
        profile_idc: sps.profile_idc.into(),
        level_idc: sps.level_idc,
        fps: sps.fps().filter(|f| f.is_finite() && *f > 0.0),
    })
}

/// Iterates over the NAL units of a length-prefixed (AVCC/HVCC) payload. Yields one error on truncation or an
/// invalid length size, then stops.
#[derive(Debug, Clone)]
pub struct NalIter<'a> {
    data: &'a [u8],
    len_size: usize,
    done: bool,
}

/// Iterates over the NAL units of `data`, each prefixed by a big-endian length of `nalu_length_size` bytes
/// (1 to 4, from the decoder configuration).
pub fn nal_units(data: &[u8], nalu_length_size: u8) -> NalIter<'_> {
    NalIter {
        data,
        len_size: usize::from(nalu_length_size),
        done: false,
    }
}

impl<'a> Iterator for NalIter<'a> {
    type Item = Result<&'a [u8], FlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.data.is_empty() {
            return None;
        }
        if !(1..=4).contains(&self.len_size) {
            self.done = true;
            return Some(Err(FlvError::BadConfig {
                what: "NAL unit length size",
                detail: format!("{} (expected 1..=4)", self.len_size),
            }));
        }
        let Some(prefix) = self.data.get(..self.len_size) else {
            self.done = true;
            return Some(Err(FlvError::Truncated {
                what: "NAL unit length",
                need: self.len_size,
                got: self.data.len(),
            }));
        };
        let len = prefix
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        let rest = &self.data[self.len_size..];
        let Some(nal) = rest.get(..len) else {
            self.done = true;
            return Some(Err(FlvError::Truncated {
                what: "NAL unit",
                need: len,
                got: rest.len(),
            }));
        };
        self.data = &rest[len..];
        Some(Ok(nal))
    }
}
