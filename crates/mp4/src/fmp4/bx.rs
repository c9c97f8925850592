//! Writing ISO BMFF boxes (ISO/IEC 14496-12 4.2) into a `BytesMut`: open a box, write its body, close it to
//! patch the 32-bit size in.

use bytes::{BufMut, BytesMut};

/// Starts a box: reserves the size field and writes the type. Returns where the box starts, for [`end`].
pub(crate) fn begin(out: &mut BytesMut, fourcc: &[u8; 4]) -> usize {
    let at = out.len();
    out.put_u32(0);
    out.put_slice(fourcc);
    at
}

/// Starts a full box: [`begin`] plus the version byte and the 24-bit flags.
pub(crate) fn begin_full(out: &mut BytesMut, fourcc: &[u8; 4], version: u8, flags: u32) -> usize {
    let at = begin(out, fourcc);
    out.put_u32((u32::from(version) << 24) | (flags & 0x00FF_FFFF));
    at
}

/// Closes the box started at `at` by writing its size.
///
/// Every box this crate writes is far below 4 GiB: init segments hold a few configuration records and the
/// fragmenter refuses samples that would push a fragment past `u32::MAX` (`Mp4Error::FragmentTooLarge`), so
/// the saturation below is never reached; it only keeps this infallible without a panic path.
pub(crate) fn end(out: &mut BytesMut, at: usize) {
    let size = u32::try_from(out.len() - at).unwrap_or(u32::MAX);
    out[at..at + 4].copy_from_slice(&size.to_be_bytes());
}

/// A whole box around the body `f` writes.
pub(crate) fn write_box(out: &mut BytesMut, fourcc: &[u8; 4], f: impl FnOnce(&mut BytesMut)) {
    let at = begin(out, fourcc);
    f(out);
    end(out, at);
}

/// A whole full box around the body `f` writes.
pub(crate) fn write_full_box(
    out: &mut BytesMut,
    fourcc: &[u8; 4],
    version: u8,
    flags: u32,
    f: impl FnOnce(&mut BytesMut),
) {
    let at = begin_full(out, fourcc, version, flags);
    f(out);
    end(out, at);
}

/// The unity transformation matrix of `mvhd` and `tkhd` (16.16 and 2.30 fixed point).
pub(crate) fn put_unity_matrix(out: &mut BytesMut) {
    for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        out.put_u32(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_sizes_are_patched() {
        let mut out = BytesMut::new();
        write_box(&mut out, b"moov", |out| {
            write_full_box(out, b"mvhd", 1, 0x0102_0304, |out| out.put_u8(7));
        });
        assert_eq!(
            &out[..],
            &[
                0, 0, 0, 21, b'm', b'o', b'o', b'v', // outer
                0, 0, 0, 13, b'm', b'v', b'h', b'd', 1, 2, 3, 4,
                7, // inner, flags cut to 24 bits
            ]
        );
    }
}
