//! ffmpeg as the real peer: it makes the AAC and Opus the transcoders take, and decodes what they make.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A scratch directory for one test, removed and made afresh.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mplive-audio-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A 440 Hz tone of `secs` seconds encoded by ffmpeg's AAC encoder as ADTS.
pub fn aac_tone(dir: &Path, rate: u32, channels: u32, secs: u32) -> PathBuf {
    let path = dir.join(format!("tone-{rate}-{channels}.aac"));
    let src = format!("sine=frequency=440:sample_rate={rate}:duration={secs}");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &src,
        "-ac",
        &channels.to_string(),
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        path.to_str().unwrap(),
    ]);
    path
}

/// Splits an ADTS stream into raw frames and derives the AudioSpecificConfig its headers describe.
pub fn split_adts(data: &[u8]) -> (Vec<u8>, u32, Vec<Vec<u8>>) {
    let mut frames = Vec::new();
    let mut asc = Vec::new();
    let mut rate = 0;
    let mut pos = 0;
    while pos + 7 <= data.len() {
        let h = &data[pos..];
        assert_eq!(h[0], 0xFF, "ADTS sync at {pos}");
        let protection_absent = h[1] & 1 == 1;
        let profile = h[2] >> 6;
        let freq = (h[2] >> 2) & 0x0F;
        let chan = ((h[2] & 1) << 2) | (h[3] >> 6);
        let len = (usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
        let header = if protection_absent { 7 } else { 9 };
        if asc.is_empty() {
            let object_type = profile + 1;
            asc = vec![
                (object_type << 3) | (freq >> 1),
                ((freq & 1) << 7) | (chan << 3),
            ];
            rate = [
                96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000,
                7350,
            ][usize::from(freq)];
        }
        frames.push(data[pos + header..pos + len].to_vec());
        pos += len;
    }
    (asc, rate, frames)
}

/// Decodes any file ffmpeg reads to interleaved f32 at `rate` with `channels`.
pub fn decode_pcm(path: &Path, rate: u32, channels: u32) -> Vec<f32> {
    let out = path.with_extension("f32");
    ffmpeg(&[
        "-i",
        path.to_str().unwrap(),
        "-f",
        "f32le",
        "-ar",
        &rate.to_string(),
        "-ac",
        &channels.to_string(),
        out.to_str().unwrap(),
    ]);
    std::fs::read(&out)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// The dominant frequency of a mono signal, from its zero crossings (enough for a pure tone).
pub fn tone_frequency(mono: &[f32], rate: u32) -> f64 {
    let crossings = mono
        .windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count();
    crossings as f64 / 2.0 / (mono.len() as f64 / f64::from(rate))
}

/// Root mean square of a signal.
pub fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}
