//! Parts shared by the Enhanced RTMP audio and video headers.

use crate::error::{need, FlvError};

/// The packet type value that announces a ModEx (modifier extension) entry, in audio and video alike.
const MOD_EX: u8 = 7;

/// Skips the ModEx entries that may precede the FourCC of an Enhanced RTMP header (their only defined use is a
/// nanosecond timestamp offset, which we do not need). `pos` is the offset after the first header byte.
/// Returns the final packet type and the offset after the last entry.
pub(crate) fn skip_mod_ex(
    body: &[u8],
    mut pos: usize,
    mut packet_type: u8,
    what: &'static str,
) -> Result<(u8, usize), FlvError> {
    while packet_type == MOD_EX {
        need(what, body, pos + 1)?;
        let mut size = usize::from(body[pos]) + 1;
        pos += 1;
        if size == 256 {
            need(what, body, pos + 2)?;
            size = usize::from(u16::from_be_bytes([body[pos], body[pos + 1]])) + 1;
            pos += 2;
        }
        // The modExData, then a byte: modExType (high nibble) | next packet type (low nibble).
        pos += size;
        need(what, body, pos + 1)?;
        packet_type = body[pos] & 0x0F;
        pos += 1;
    }
    Ok((packet_type, pos))
}

/// Reads the FourCC at `pos`.
pub(crate) fn fourcc(body: &[u8], pos: usize, what: &'static str) -> Result<[u8; 4], FlvError> {
    need(what, body, pos + 4)?;
    Ok([body[pos], body[pos + 1], body[pos + 2], body[pos + 3]])
}
