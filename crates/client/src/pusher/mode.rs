//! The live-pusher `mode` presets (picture size, frame rate, bitrate) in one table, for the test pattern.

use std::fmt;
use std::str::FromStr;

/// A live-pusher `mode` (seed 001: QVGA, HVGA, SD, HD, FHD, RTC; RTC is live-pusher's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Quarter VGA.
    Qvga,
    /// Half-size VGA.
    Hvga,
    /// Standard definition (标清).
    Sd,
    /// High definition (高清).
    Hd,
    /// Full high definition (超清).
    Fhd,
    /// Real-time calls (实时通话), the default.
    #[default]
    Rtc,
}

/// What a mode encodes: portrait picture size, frame rate and bitrate range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModePreset {
    /// The mode.
    pub mode: Mode,
    /// Its live-pusher name.
    pub name: &'static str,
    /// Picture width in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Lowest video bitrate, kbit/s (live-pusher `min-bitrate`).
    pub min_kbps: u32,
    /// Highest video bitrate, kbit/s (live-pusher `max-bitrate`): what the test pattern encodes at.
    pub max_kbps: u32,
}

/// The presets. Sizes are portrait because live-pusher's default `orientation` is vertical (seed 001, aspect
/// 9:16). Bitrates of SD, HD and FHD are Tencent's recommended min/max for those modes (seed 004); RTC takes
/// live-pusher's `min-bitrate`/`max-bitrate` defaults 200/1000 (seed 001), within the RTC rows of seed 004
/// (150-1200). The frame rate is live-pusher's `fps` default, 15 (seed 001). SD's 360x640 is live-pusher's
/// `video-width`/`video-height` default; FHD is 720p, the size seed 004 says a 2 Mbit/s stream gets. The seeds give
/// no numbers for QVGA and HVGA: their sizes are the names' (320x240, 480x320, turned upright) and their bitrates
/// our choice, below SD's.
pub const MODE_PRESETS: [ModePreset; 6] = [
    preset(Mode::Qvga, "QVGA", 240, 320, 150, 350),
    preset(Mode::Hvga, "HVGA", 320, 480, 200, 500),
    preset(Mode::Sd, "SD", 360, 640, 300, 800),
    preset(Mode::Hd, "HD", 540, 960, 600, 1200),
    preset(Mode::Fhd, "FHD", 720, 1280, 600, 1800),
    preset(Mode::Rtc, "RTC", 360, 640, 200, 1000),
];

const fn preset(mode: Mode, name: &'static str, w: u32, h: u32, min: u32, max: u32) -> ModePreset {
    ModePreset {
        mode,
        name,
        width: w,
        height: h,
        fps: 15,
        min_kbps: min,
        max_kbps: max,
    }
}

impl Mode {
    /// This mode's row of [`MODE_PRESETS`].
    pub fn preset(self) -> &'static ModePreset {
        let i = match self {
            Mode::Qvga => 0,
            Mode::Hvga => 1,
            Mode::Sd => 2,
            Mode::Hd => 3,
            Mode::Fhd => 4,
            Mode::Rtc => 5,
        };
        &MODE_PRESETS[i]
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.preset().name)
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        MODE_PRESETS
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(s))
            .map(|p| p.mode)
            .ok_or_else(|| format!("unknown mode {s:?}: use QVGA, HVGA, SD, HD, FHD or RTC"))
    }
}

/// live-pusher `audio-quality`: high is 48 kHz, low 16 kHz (seed 001).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AudioQuality {
    /// 48 kHz, the default seed 004 recommends except for meeting participants.
    #[default]
    High,
    /// 16 kHz.
    Low,
}

impl AudioQuality {
    /// Sample rate in Hz.
    pub fn sample_rate(self) -> u32 {
        match self {
            AudioQuality::High => 48_000,
            AudioQuality::Low => 16_000,
        }
    }

    /// AAC bitrate in kbit/s for this sample rate.
    pub fn kbps(self) -> u32 {
        match self {
            AudioQuality::High => 64,
            AudioQuality::Low => 32,
        }
    }
}

impl FromStr for AudioQuality {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "high" => Ok(AudioQuality::High),
            "low" => Ok(AudioQuality::Low),
            _ => Err(format!("unknown audio quality {s:?}: use high or low")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_has_its_row_and_name() {
        for p in &MODE_PRESETS {
            assert_eq!(p.mode.preset(), p);
            assert_eq!(p.name.parse::<Mode>(), Ok(p.mode));
            assert_eq!(p.mode.to_string(), p.name);
            assert!(p.min_kbps < p.max_kbps && p.width < p.height, "{p:?}");
        }
        assert_eq!("hd".parse::<Mode>(), Ok(Mode::Hd));
        assert!("4K".parse::<Mode>().unwrap_err().contains("QVGA"));
        assert_eq!(Mode::default(), Mode::Rtc);
        assert_eq!(
            "LOW".parse::<AudioQuality>().map(|q| q.sample_rate()),
            Ok(16_000)
        );
    }
}
