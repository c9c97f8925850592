//! A polyphase windowed-sinc resampler for a fixed rational ratio (44.1 kHz -> 48 kHz is 160/147).
//!
//! Output sample `n` is the input signal at input position `n * down / up` exactly: positions are kept as an
//! integer numerator, so no rounding accumulates however long the stream runs, and the filter is centred on
//! that position (the history is primed with half a filter of silence), so resampling adds no timing offset.

use crate::error::Error;

/// Filter half-width in input samples when upsampling (32 taps); widened by the ratio when downsampling.
const HALF_TAPS: usize = 16;
/// Passband edge as a fraction of the lower Nyquist frequency: keeps the transition band below it.
const CUTOFF: f64 = 0.92;
/// The most filter phases (the reduced output rate) accepted: bounds the table to about 1 MiB.
pub(crate) const MAX_PHASES: u32 = 4096;

pub(crate) struct Resampler {
    channels: usize,
    up: u64,
    down: u64,
    half: usize,
    /// `up` phases of `2 * half` taps each.
    taps: Vec<f32>,
    /// Interleaved input not yet fully used.
    history: Vec<f32>,
    /// Position of the next output sample relative to `history[0]`, in units of 1/`up` input samples.
    position: u64,
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl Resampler {
    /// A resampler from `from` Hz to `to` Hz for interleaved `channels`, or `None` when the rates are equal.
    pub(crate) fn new(from: u32, to: u32, channels: usize) -> Result<Option<Self>, Error> {
        if from == 0 || to == 0 {
            return Err(Error::Config(format!("sample rate {from} Hz")));
        }
        if from == to {
            return Ok(None);
        }
        let g = gcd(u64::from(from), u64::from(to));
        let (up, down) = (u64::from(to) / g, u64::from(from) / g);
        if up > u64::from(MAX_PHASES) {
            return Err(Error::Config(format!(
                "resampling {from} Hz to {to} Hz needs {up} filter phases (at most {MAX_PHASES})"
            )));
        }
        // Downsampling lowers the cutoff below the input's Nyquist, and the filter widens to keep its shape.
        let ratio = (up as f64 / down as f64).min(1.0);
        let fc = CUTOFF * ratio;
        let half = ((HALF_TAPS as f64) / ratio).ceil() as usize;
        let width = 2 * half;
        let mut taps = Vec::with_capacity(up as usize * width);
        for phase in 0..up {
            let frac = phase as f64 / up as f64;
            let start = taps.len();
            for k in 0..width {
                // Distance from the output position to input sample `k` of the window.
                let d = k as f64 - (half as f64 - 1.0) - frac;
                let x = fc * d;
                let sinc = if x.abs() < 1e-12 {
                    1.0
                } else {
                    (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
                };
                let w = d / half as f64;
                // Blackman window over [-1, 1].
                let window = if w.abs() >= 1.0 {
                    0.0
                } else {
                    0.42 + 0.5 * (std::f64::consts::PI * w).cos()
                        + 0.08 * (2.0 * std::f64::consts::PI * w).cos()
                };
                taps.push((fc * sinc * window) as f32);
            }
            // Unity gain at DC for every phase, so a constant stays constant.
            let sum: f32 = taps[start..].iter().sum();
            if sum.abs() > f32::EPSILON {
                taps[start..].iter_mut().for_each(|t| *t /= sum);
            }
        }
        Ok(Some(Self {
            channels,
            up,
            down,
            half,
            taps,
            history: vec![0.0; (half - 1) * channels],
            position: 0,
        }))
    }

    /// Resamples interleaved `input`, appending the output to `out`.
    pub(crate) fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        let ch = self.channels;
        self.history.extend_from_slice(input);
        let frames = self.history.len() / ch;
        let width = 2 * self.half;
        loop {
            let base = (self.position / self.up) as usize;
            if base + width > frames {
                break;
            }
            let phase = (self.position % self.up) as usize;
            let taps = &self.taps[phase * width..(phase + 1) * width];
            for c in 0..ch {
                let mut acc = 0.0f32;
                for (k, t) in taps.iter().enumerate() {
                    acc += t * self.history[(base + k) * ch + c];
                }
                out.push(acc);
            }
            self.position += self.down;
        }
        // Drop the input no later output needs; keep the position relative to the new start.
        let used = ((self.position / self.up) as usize).min(frames);
        self.history.drain(..used * ch);
        self.position -= used as u64 * self.up;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_exactly_over_a_long_run() {
        let mut r = Resampler::new(44_100, 48_000, 1).unwrap().unwrap();
        let mut out = Vec::new();
        let input = vec![0.25f32; 1024];
        // 44100 * 10 input samples in 1024-sample frames (the last one partial).
        let total = 441_000usize;
        let mut fed = 0;
        while fed < total {
            let n = (total - fed).min(1024);
            r.process(&input[..n], &mut out);
            fed += n;
        }
        // Everything but the last half-filter of input has come out, at exactly 48000/44100.
        let expected = (total - HALF_TAPS) * 48_000 / 44_100;
        assert!(
            out.len().abs_diff(expected) <= 2,
            "{} vs {expected}",
            out.len()
        );
        assert!(out[100..].iter().all(|s| (s - 0.25).abs() < 1e-3));
    }

    #[test]
    fn refuses_absurd_ratios_and_passes_equal_rates() {
        assert!(Resampler::new(48_000, 48_000, 2).unwrap().is_none());
        assert!(Resampler::new(44_101, 48_000, 2).is_err());
        assert!(Resampler::new(0, 48_000, 2).is_err());
    }
}
