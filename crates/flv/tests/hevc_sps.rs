//! `parse_hevc_sps` on hand-built H.265 SPS units: temporal sub-layers in profile_tier_level, every chroma format
//! and the conformance window's chroma units. The x265 vector in `codec_configs.rs` has one layer and no
//! cropping, so these cover the rest of the path.

use flv::hevc::{parse_hevc_sps, HevcSpsInfo};
use flv::FlvError;

/// Writes bits MSB first.
#[derive(Default)]
struct Bits(Vec<bool>);

impl Bits {
    fn put(&mut self, n: u32, v: u64) -> &mut Self {
        for i in (0..n).rev() {
            self.0.push(v >> i & 1 == 1);
        }
        self
    }

    fn flag(&mut self, f: bool) -> &mut Self {
        self.put(1, u64::from(f))
    }

    /// Exp-Golomb ue(v).
    fn ue(&mut self, v: u32) -> &mut Self {
        let x = u64::from(v) + 1;
        let len = 64 - x.leading_zeros();
        self.put(len - 1, 0).put(len, x)
    }

    /// The NAL unit: the two-byte SPS header, then the RBSP with its stop bit and emulation prevention.
    fn sps_nal(&self) -> Vec<u8> {
        let mut bits = self.0.clone();
        bits.push(true);
        while !bits.len().is_multiple_of(8) {
            bits.push(false);
        }
        let mut nal = vec![33 << 1, 1];
        let mut zeros = 0;
        for byte in bits
            .chunks(8)
            .map(|c| c.iter().fold(0u8, |a, &b| a << 1 | u8::from(b)))
        {
            if zeros >= 2 && byte <= 3 {
                nal.push(3);
                zeros = 0;
            }
            nal.push(byte);
            zeros = if byte == 0 { zeros + 1 } else { 0 };
        }
        nal
    }
}

/// A sub-layer's `(profile_present, level_present)` flags.
type SubLayer = (bool, bool);

struct Sps {
    sub_layers: Vec<SubLayer>,
    chroma_format_idc: u32,
    separate_colour_plane: bool,
    width: u32,
    height: u32,
    /// left, right, top, bottom, in chroma units.
    window: Option<(u32, u32, u32, u32)>,
}

impl Sps {
    fn new(width: u32, height: u32) -> Sps {
        Sps {
            sub_layers: Vec::new(),
            chroma_format_idc: 1,
            separate_colour_plane: false,
            width,
            height,
            window: None,
        }
    }

    fn nal(&self) -> Vec<u8> {
        let mut b = Bits::default();
        b.put(4, 0) // sps_video_parameter_set_id
            .put(3, self.sub_layers.len() as u64) // sps_max_sub_layers_minus1
            .flag(true) // sps_temporal_id_nesting_flag
            .put(2, 0) // general_profile_space
            .flag(false) // general_tier_flag
            .put(5, 1) // general_profile_idc: Main
            .put(32, 0x6000_0000) // general_profile_compatibility_flags
            .put(48, 0x9000_0000_0000) // progressive, frame only, ...
            .put(8, 123); // general_level_idc
        for &(profile, level) in &self.sub_layers {
            b.flag(profile).flag(level);
        }
        if !self.sub_layers.is_empty() {
            for _ in self.sub_layers.len()..8 {
                b.put(2, 0b11); // reserved_zero_2bits (ones here, so a wrong skip shows)
            }
        }
        for &(profile, level) in &self.sub_layers {
            if profile {
                b.put(44, 0xABC_DEF0_1234).put(44, 0x567_89AB_CDEF); // sub_layer profile: 88 bits
            }
            if level {
                b.put(8, 0x5A); // sub_layer_level_idc
            }
        }
        b.ue(0) // sps_seq_parameter_set_id
            .ue(self.chroma_format_idc);
        if self.chroma_format_idc == 3 {
            b.flag(self.separate_colour_plane);
        }
        b.ue(self.width).ue(self.height);
        match self.window {
            None => b.flag(false),
            Some((l, r, t, bo)) => b.flag(true).ue(l).ue(r).ue(t).ue(bo),
        };
        // What follows (bit depths, ...) is not read.
        b.ue(0).ue(0);
        b.sps_nal()
    }
}

fn parse(sps: &Sps) -> Result<HevcSpsInfo, FlvError> {
    parse_hevc_sps(&sps.nal())
}

fn size(sps: &Sps) -> (u32, u32) {
    let i = parse(sps).unwrap();
    (i.width, i.height)
}

#[test]
fn single_layer() {
    let i = parse(&Sps::new(1920, 1080)).unwrap();
    assert_eq!(
        (
            i.width,
            i.height,
            i.profile_idc,
            i.level_idc,
            i.chroma_format
        ),
        (1920, 1080, 1, 123, 1)
    );
}

/// profile_tier_level with temporal sub-layers: two flags per sub-layer, reserved bits up to eight, then each
/// sub-layer's profile (88 bits) and level (8 bits) when present.
#[test]
fn sub_layers_are_skipped() {
    let shapes: [&[SubLayer]; 6] = [
        &[(false, false)],
        &[(true, true)],
        &[(false, true), (true, false)],
        &[(true, true), (false, false), (true, true)],
        &[(false, true); 5],
        &[(true, true); 7],
    ];
    for sub_layers in shapes {
        let sps = Sps {
            sub_layers: sub_layers.to_vec(),
            ..Sps::new(1280, 720)
        };
        let i = parse(&sps).unwrap();
        assert_eq!(
            (i.width, i.height, i.profile_idc, i.level_idc),
            (1280, 720, 1, 123),
            "{sub_layers:?}"
        );
    }
}

/// Chroma formats 0 to 3 parse (3 with its separate_colour_plane_flag); 4 and up are refused.
#[test]
fn chroma_formats() {
    for chroma_format_idc in 0..=3 {
        for separate_colour_plane in [false, true] {
            let sps = Sps {
                chroma_format_idc,
                separate_colour_plane,
                ..Sps::new(640, 360)
            };
            let i = parse(&sps).unwrap();
            assert_eq!(
                (i.width, i.height, u32::from(i.chroma_format)),
                (640, 360, chroma_format_idc)
            );
        }
    }
    for chroma_format_idc in [4, 5, 1000] {
        let sps = Sps {
            chroma_format_idc,
            ..Sps::new(640, 360)
        };
        assert!(
            matches!(parse(&sps), Err(FlvError::Sps(_))),
            "{chroma_format_idc}"
        );
    }
}

/// The conformance window is in chroma sample units: SubWidthC x SubHeightC is 2x2 for 4:2:0, 2x1 for 4:2:2, 1x1
/// for 4:4:4, monochrome and separate colour planes.
#[test]
fn conformance_window_units_follow_the_chroma_format() {
    let cropped = |chroma_format_idc, separate_colour_plane| {
        size(&Sps {
            chroma_format_idc,
            separate_colour_plane,
            window: Some((1, 2, 3, 4)),
            ..Sps::new(1000, 1000)
        })
    };
    assert_eq!(cropped(1, false), (1000 - 2 * 3, 1000 - 2 * 7));
    assert_eq!(cropped(2, false), (1000 - 2 * 3, 1000 - 7));
    assert_eq!(cropped(3, false), (1000 - 3, 1000 - 7));
    assert_eq!(cropped(3, true), (1000 - 3, 1000 - 7));
    assert_eq!(cropped(0, false), (1000 - 3, 1000 - 7));
    // 1080p coded as 1088 lines, the usual H.265 layout.
    let sps = Sps {
        window: Some((0, 0, 0, 4)),
        ..Sps::new(1920, 1088)
    };
    assert_eq!(size(&sps), (1920, 1080));
    // A window larger than the picture is refused.
    let sps = Sps {
        window: Some((0, 0, 0, 545)),
        ..Sps::new(1920, 1088)
    };
    assert!(matches!(parse(&sps), Err(FlvError::Sps(_))));
}
