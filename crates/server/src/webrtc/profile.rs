//! H.264 profiles as SDP names them (RFC 6184 `profile-level-id`: profile_idc, the constraint-flags byte
//! "profile-iop", level_idc), for choosing which of a browser's H.264 payload types carries a stream: the one
//! whose profile is the stream's, else one whose decoder takes the stream, else Constrained Baseline (the
//! profile every WebRTC endpoint decodes), else any. Pure.
//!
//! The classification follows libwebrtc's `ParseProfileLevelId` (the browsers' own): Constrained Baseline is
//! Baseline with constraint_set1 (or Main with constraint_set0, or Extended with both), Constrained High is High
//! with constraint_set4 and constraint_set5.

/// An H.264 profile, as far as WebRTC tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Profile {
    /// Baseline without FMO, ASO and redundant slices: what every WebRTC endpoint must decode.
    ConstrainedBaseline,
    /// Baseline (66).
    Baseline,
    /// Main (77).
    Main,
    /// Extended (88).
    Extended,
    /// High without B-slices (100 with constraint_set4 and 5).
    ConstrainedHigh,
    /// High (100).
    High,
    /// High 4:4:4 Predictive (244), whose decoders take High, Main and Constrained Baseline streams too (Chromium
    /// offers it, not High).
    High444,
    /// Another profile_idc (High 10, High 4:2:2, ...).
    Other(u8),
}

/// constraint_set0..5 flags in the profile-iop byte.
const SET0: u8 = 0x80;
const SET1: u8 = 0x40;
const SET4: u8 = 0x08;
const SET5: u8 = 0x04;

/// A profile-level-id: profile_idc, profile-iop, level_idc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProfileLevel {
    /// profile_idc.
    pub(crate) idc: u8,
    /// The constraint flags byte.
    pub(crate) iop: u8,
    /// level_idc (31 for 3.1).
    pub(crate) level: u8,
}

impl ProfileLevel {
    /// From the 24-bit `profile-level-id` of an fmtp line.
    pub(crate) fn from_id(id: u32) -> ProfileLevel {
        let [_, idc, iop, level] = id.to_be_bytes();
        ProfileLevel { idc, iop, level }
    }

    /// From an AVC sequence header (avcC: AVCProfileIndication, profile_compatibility, AVCLevelIndication).
    pub(crate) fn from_avcc(config: &flv::avc::AvcDecoderConfig) -> ProfileLevel {
        ProfileLevel {
            idc: config.profile,
            iop: config.compatibility,
            level: config.level,
        }
    }

    /// The profile these numbers name.
    pub(crate) fn profile(&self) -> Profile {
        let has = |flags: u8| self.iop & flags == flags;
        match self.idc {
            66 if has(SET1) => Profile::ConstrainedBaseline,
            66 => Profile::Baseline,
            77 if has(SET0) => Profile::ConstrainedBaseline,
            77 => Profile::Main,
            88 if has(SET0 | SET1) => Profile::ConstrainedBaseline,
            88 => Profile::Extended,
            100 if has(SET4 | SET5) => Profile::ConstrainedHigh,
            100 => Profile::High,
            244 => Profile::High444,
            other => Profile::Other(other),
        }
    }
}

impl std::fmt::Display for ProfileLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02x}{:02x}{:02x}", self.idc, self.iop, self.level)
    }
}

/// Whether a decoder of profile `decoder` decodes every stream of profile `stream` (H.264 Annex A: Constrained
/// Baseline is within Baseline, Main and High; Main and Constrained High within High; High within High 4:4:4
/// Predictive; Baseline within Extended).
fn decodes(decoder: Profile, stream: Profile) -> bool {
    use Profile::*;
    decoder == stream
        || matches!(
            (stream, decoder),
            (
                ConstrainedBaseline,
                Baseline | Main | Extended | ConstrainedHigh | High | High444
            ) | (Baseline, Extended)
                | (Main | ConstrainedHigh, High | High444)
                | (High, High444)
        )
}

/// How well a payload type of profile `offered` carries a stream of profile `stream`, higher is better: 3 the
/// same profile, 2 a profile whose decoder takes the stream, 1 Constrained Baseline (every WebRTC decoder's
/// profile; browsers' decoders play other profiles through it in practice), 0 any other.
pub(crate) fn fit(stream: ProfileLevel, offered: ProfileLevel) -> u8 {
    let (s, o) = (stream.profile(), offered.profile());
    if s == o {
        3
    } else if decodes(o, s) {
        2
    } else if o == Profile::ConstrainedBaseline {
        1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_classified_as_browsers_do() {
        let p = |id| ProfileLevel::from_id(id).profile();
        assert_eq!(p(0x42e01f), Profile::ConstrainedBaseline);
        assert_eq!(p(0x42c01f), Profile::ConstrainedBaseline, "x264 baseline");
        assert_eq!(p(0x42001f), Profile::Baseline);
        assert_eq!(p(0x4d001f), Profile::Main);
        assert_eq!(p(0x4d401f), Profile::Main, "x264 main");
        assert_eq!(p(0x4d801f), Profile::ConstrainedBaseline);
        assert_eq!(p(0x64001f), Profile::High);
        assert_eq!(p(0x640c1f), Profile::ConstrainedHigh);
        assert_eq!(p(0xf4001f), Profile::High444);
        assert_eq!(p(0x6e001f), Profile::Other(0x6e));
        assert_eq!(ProfileLevel::from_id(0x64001f).to_string(), "64001f");
        assert_eq!(ProfileLevel::from_id(0x64001f).level, 31);
    }

    #[test]
    fn the_same_profile_first_then_a_decoder_that_takes_it_then_constrained_baseline() {
        let id = ProfileLevel::from_id;
        let (cb, b, main, high, ch, hi444) = (
            id(0x42e01f),
            id(0x42001f),
            id(0x4d001f),
            id(0x64001f),
            id(0x640c1f),
            id(0xf4001f),
        );
        assert_eq!(fit(high, high), 3);
        assert_eq!(fit(main, high), 2, "a High decoder takes Main");
        assert_eq!(fit(ch, high), 2);
        assert_eq!(fit(cb, main), 2);
        assert_eq!(fit(cb, b), 2);
        assert_eq!(fit(high, cb), 1, "Constrained Baseline is the fallback");
        assert_eq!(fit(high, main), 0, "a Main decoder does not take High");
        assert_eq!(fit(b, main), 0, "nor Baseline's FMO/ASO");
        assert_eq!(
            fit(high, hi444),
            2,
            "a High 4:4:4 Predictive decoder takes High"
        );
        assert_eq!(fit(hi444, high), 0);
    }
}
