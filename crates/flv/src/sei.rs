//! SEI messages in H.264/H.265 access units: extraction (with payload type, size and UUID) and building a
//! user_data_unregistered SEI NAL unit for in-band messages.

use bytes::Bytes;

use crate::avc::nal_units;
use crate::bits::{escape, unescape};
use crate::error::FlvError;

/// SEI payload type of user_data_unregistered: a 16-byte UUID followed by free data.
pub const USER_DATA_UNREGISTERED: u32 = 5;

/// Largest SEI message this crate builds; larger messages should travel another way.
pub const MAX_SEI_MESSAGE: usize = 64 * 1024;

/// One SEI message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeiMessage {
    /// payloadType (5 user_data_unregistered, 4 user_data_registered_itu_t_t35, 242 Tencent custom, ...).
    pub payload_type: u32,
    /// The UUID of a user_data_unregistered message.
    pub uuid: Option<[u8; 16]>,
    /// The payload with emulation prevention removed; for user_data_unregistered, the bytes after the UUID.
    pub data: Bytes,
}

/// Which NAL unit header syntax the payload uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeiCodec {
    /// H.264: 1-byte NAL header, SEI is type 6.
    Avc,
    /// H.265: 2-byte NAL header, SEI is type 39 (prefix) or 40 (suffix).
    Hevc,
}

/// Extracts every SEI message from the H.264 NAL units of a video payload (length-prefixed with
/// `nalu_length_size` bytes, as in the tag after its 5-byte header).
pub fn extract_sei(nalus: &[u8], nalu_length_size: u8) -> Result<Vec<SeiMessage>, FlvError> {
    extract_sei_for(SeiCodec::Avc, nalus, nalu_length_size)
}

/// [`extract_sei`] for either codec: H.264 SEI (type 6) or H.265 prefix/suffix SEI (types 39 and 40).
pub fn extract_sei_for(
    codec: SeiCodec,
    nalus: &[u8],
    nalu_length_size: u8,
) -> Result<Vec<SeiMessage>, FlvError> {
    let mut out = Vec::new();
    for nal in nal_units(nalus, nalu_length_size) {
        let nal = nal?;
        let header_len = match codec {
            SeiCodec::Avc if nal.first().is_some_and(|b| b & 0x1F == 6) => 1,
            SeiCodec::Hevc
                if nal
                    .first()
                    .is_some_and(|b| matches!((b >> 1) & 0x3F, 39 | 40)) =>
            {
                2
            }
            _ => continue,
        };
        let Some(payload) = nal.get(header_len..) else {
            return Err(FlvError::Truncated {
                what: "SEI NAL header",
                need: header_len,
                got: nal.len(),
            });
        };
        parse_sei_rbsp(&unescape(payload), &mut out)?;
    }
    Ok(out)
}

/// Parses the sei_message()s of one SEI RBSP.
fn parse_sei_rbsp(rbsp: &[u8], out: &mut Vec<SeiMessage>) -> Result<(), FlvError> {
    let rbsp = Bytes::copy_from_slice(rbsp);
    let mut pos = 0;
    // more_rbsp_data(): stop at the end or at the rbsp_trailing_bits byte (0x80) that ends the NAL.
    while !is_trailing(&rbsp[pos..]) {
        let payload_type = read_ff_coded(&rbsp, &mut pos, "SEI payloadType")?;
        let size = read_ff_coded(&rbsp, &mut pos, "SEI payloadSize")? as usize;
        let end =
            pos.checked_add(size)
                .filter(|&e| e <= rbsp.len())
                .ok_or(FlvError::Truncated {
                    what: "SEI payload",
                    need: size,
                    got: rbsp.len() - pos,
                })?;
        let mut data = rbsp.slice(pos..end);
        let mut uuid = None;
        if payload_type == USER_DATA_UNREGISTERED {
            let Some(id) = data.get(..16) else {
                return Err(FlvError::Truncated {
                    what: "SEI user_data_unregistered UUID",
                    need: 16,
                    got: data.len(),
                });
            };
            let mut u = [0u8; 16];
            u.copy_from_slice(id);
            uuid = Some(u);
            data = data.slice(16..);
        }
        out.push(SeiMessage {
            payload_type,
            uuid,
            data,
        });
        pos = end;
    }
    Ok(())
}

/// more_rbsp_data() is false: nothing left, or the stop bit byte 0x80 followed only by zero bytes.
fn is_trailing(rest: &[u8]) -> bool {
    match rest.split_first() {
        None => true,
        Some((&first, tail)) => first == 0x80 && tail.iter().all(|&b| b == 0),
    }
}

/// Reads a payloadType or payloadSize: a run of 0xFF bytes (255 each) plus a final byte.
fn read_ff_coded(data: &[u8], pos: &mut usize, what: &'static str) -> Result<u32, FlvError> {
    let mut value: u32 = 0;
    loop {
        let b = *data.get(*pos).ok_or(FlvError::Truncated {
            what,
            need: *pos + 1,
            got: data.len(),
        })?;
        *pos += 1;
        // The input is at most 16 MiB, so the sum stays far below u32::MAX; saturate anyway.
        value = value.saturating_add(u32::from(b));
        if b != 0xFF {
            return Ok(value);
        }
    }
}

/// One H.264 SEI NAL unit carrying a user_data_unregistered message, prefixed by its 4-byte length, with
/// emulation prevention applied: append it to the NAL units of an access unit (nalu_length_size 4).
///
/// # Panics
///
/// If `message` is longer than [`MAX_SEI_MESSAGE`]: in-band messages are ours to send, not peer input.
pub fn build_sei_nalu(uuid: [u8; 16], message: &[u8]) -> Bytes {
    assert!(
        message.len() <= MAX_SEI_MESSAGE,
        "SEI message of {} bytes exceeds {MAX_SEI_MESSAGE}",
        message.len()
    );
    let size = 16 + message.len();
    let mut rbsp = Vec::with_capacity(size + size / 255 + 4);
    rbsp.push(USER_DATA_UNREGISTERED as u8);
    let mut rem = size;
    while rem >= 255 {
        rbsp.push(0xFF);
        rem -= 255;
    }
    // rem < 255 after the loop.
    rbsp.push(rem as u8);
    rbsp.extend_from_slice(&uuid);
    rbsp.extend_from_slice(message);
    rbsp.push(0x80);
    let mut nal = Vec::with_capacity(4 + 1 + rbsp.len() + rbsp.len() / 2);
    nal.extend_from_slice(&[0, 0, 0, 0, 6]);
    escape(&rbsp, &mut nal);
    // Fits: at most 1.5 * (64 KiB + ~300) bytes.
    let len = (nal.len() - 4) as u32;
    nal[..4].copy_from_slice(&len.to_be_bytes());
    Bytes::from(nal)
}
