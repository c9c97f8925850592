//! NAL units of an H.264 Annex B access unit (what str0m's depacketizer hands out: start codes `00 00 01` or
//! `00 00 00 01` before each NAL unit).

/// Non-IDR and IDR coded slices, and the data partitions: the picture itself. What the server adds or drops
/// around a picture (parameter sets before keyframes, delimiters, filler) is not among them.
fn is_vcl(nal_type: u8) -> bool {
    (1..=5).contains(&nal_type)
}

/// The NAL units of `data`, without their start codes. Bytes before the first start code are skipped. A NAL unit
/// never ends with a zero byte (its RBSP trailing bits end in a 1; `cabac_zero_word`s are escaped), so the zeros
/// before a start code belong to the start code.
pub fn nal_units(data: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    let mut rest = after_start_code(data);
    std::iter::from_fn(move || {
        let current = rest?;
        let (nal, next) = match find_start_code(current) {
            Some((end, next)) => (&current[..end], Some(&current[next..])),
            None => (current, None),
        };
        rest = next;
        let mut nal = nal;
        while let [head @ .., 0] = nal {
            nal = head;
        }
        Some(nal)
    })
    .filter(|nal| !nal.is_empty())
}

/// What follows the first start code of `data`, if any.
fn after_start_code(data: &[u8]) -> Option<&[u8]> {
    find_start_code(data).map(|(_, next)| &data[next..])
}

/// The first `00 00 01` in `data`: where it starts and where what follows it starts.
fn find_start_code(data: &[u8]) -> Option<(usize, usize)> {
    let mut from = 0;
    while from + 3 <= data.len() {
        // Jump to the next 0x01 and look back: cheaper than testing every window of three bytes.
        let one = from + 2 + data.get(from + 2..)?.iter().position(|&b| b == 1)?;
        if data[one - 1] == 0 && data[one - 2] == 0 {
            return Some((one - 2, one + 1));
        }
        from = one - 1;
    }
    None
}

/// The access unit holds an IDR slice (NAL unit type 5).
pub fn is_keyframe(data: &[u8]) -> bool {
    nal_units(data).any(|nal| nal[0] & 0x1f == 5)
}

/// The coded slices (VCL NAL units, types 1 to 5) of `data` in order.
pub fn slices(data: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    nal_units(data).filter(|nal| is_vcl(nal[0] & 0x1f))
}

/// The coded slices among length-prefixed NAL units (an FLV / AVCC video payload after its tag header), each
/// prefix `length_size` bytes (1 to 4, from the avcC). Stops at the first malformed length.
pub fn avcc_slices(data: &[u8], length_size: usize) -> impl Iterator<Item = &[u8]> + '_ {
    let mut rest = data;
    std::iter::from_fn(move || {
        if !(1..=4).contains(&length_size) || rest.len() < length_size {
            return None;
        }
        let len = rest[..length_size]
            .iter()
            .fold(0usize, |n, &b| (n << 8) | usize::from(b));
        let nal = rest.get(length_size..length_size + len)?;
        rest = &rest[length_size + len..];
        Some(nal)
    })
    .filter(|nal| nal.first().is_some_and(|&h| is_vcl(h & 0x1f)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_both_start_codes() {
        let au = [
            0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88, 0x84, 0, 0, 3, 1,
        ];
        let nals: Vec<&[u8]> = nal_units(&au).collect();
        assert_eq!(
            nals,
            vec![
                &[0x67, 0x42][..],
                &[0x68, 0xce],
                &[0x65, 0x88, 0x84, 0, 0, 3, 1]
            ]
        );
        assert!(is_keyframe(&au));
        assert_eq!(slices(&au).count(), 1);
        assert!(!is_keyframe(&[0, 0, 1, 0x41, 0x9a]));
        assert_eq!(nal_units(&[]).count(), 0);
        assert_eq!(nal_units(&[0, 0, 1]).count(), 0);
        assert_eq!(nal_units(&[1, 1, 0, 1, 0, 0]).count(), 0);
    }

    #[test]
    fn avcc_and_annexb_give_the_same_slices() {
        let avcc = [
            0, 0, 0, 2, 0x06, 0x05, 0, 0, 0, 3, 0x41, 0x9a, 0x01, 0, 0, 0, 2, 0x41, 0x9b,
        ];
        let annexb = [0, 0, 0, 1, 0x41, 0x9a, 0x01, 0, 0, 0, 1, 0x41, 0x9b];
        let a: Vec<&[u8]> = avcc_slices(&avcc, 4).collect();
        let b: Vec<&[u8]> = slices(&annexb).collect();
        assert_eq!(a, b);
        assert_eq!(avcc_slices(&[0, 0, 0, 9, 0x41], 4).count(), 0);
        assert_eq!(avcc_slices(&avcc, 0).count(), 0);
    }
}
