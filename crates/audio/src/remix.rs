//! Channel count conversion between what a decoder yields and what an encoder was opened with.

/// The weight of centre and surround channels in a stereo downmix (-3 dB, as ITU-R BS.775).
const SIDE: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// Converts interleaved `input` of `from` channels (standard order: FL, FR, FC, LFE, BL, BR, ...) to `to`
/// channels (1 or 2), appending to `out`.
pub(crate) fn remix(input: &[f32], from: usize, to: usize, out: &mut Vec<f32>) {
    if from == to {
        out.extend_from_slice(input);
        return;
    }
    for frame in input.chunks_exact(from.max(1)) {
        let (l, r) = match from {
            1 => (frame[0], frame[0]),
            2 => (frame[0], frame[1]),
            // FL FR FC
            3 => (frame[0] + SIDE * frame[2], frame[1] + SIDE * frame[2]),
            // FL FR FC LFE? Four channels are FL FR FC BC in AAC's configuration 4; the back centre goes to both.
            4 => (
                frame[0] + SIDE * (frame[2] + frame[3]),
                frame[1] + SIDE * (frame[2] + frame[3]),
            ),
            // FL FR FC [LFE] BL BR ...: the LFE is left out, as usual in a downmix.
            _ => {
                let (bl, br) = if from == 5 {
                    (frame[3], frame[4])
                } else {
                    (frame[4], frame[5])
                };
                (
                    frame[0] + SIDE * (frame[2] + bl),
                    frame[1] + SIDE * (frame[2] + br),
                )
            }
        };
        if to == 1 {
            out.push(0.5 * (l + r));
        } else {
            out.push(l);
            out.push(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::remix;

    #[test]
    fn converts_between_counts() {
        let mut out = Vec::new();
        remix(&[0.5, -0.5], 1, 2, &mut out);
        assert_eq!(out, [0.5, 0.5, -0.5, -0.5]);
        out.clear();
        remix(&[0.2, 0.4], 2, 1, &mut out);
        assert!((out[0] - 0.3).abs() < 1e-6);
        out.clear();
        remix(&[1.0, 0.0, 0.0, 0.0, 0.0, 0.0], 6, 2, &mut out);
        assert_eq!(out, [1.0, 0.0]);
    }
}
