//! Protocol control (types 1-6), user control events (type 4) and aggregate messages (type 22).

use bytes::Bytes;

use super::type_id;
use crate::error::Error;

/// A decoded protocol control message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Control {
    SetChunkSize(u32),
    Abort(u32),
    Acknowledgement(u32),
    User(UserControl),
    WindowAckSize(u32),
    SetPeerBandwidth { size: u32, limit_type: u8 },
}

/// User control events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UserControl {
    StreamBegin(u32),
    StreamEof(u32),
    StreamDry(u32),
    SetBufferLength { stream_id: u32, millis: u32 },
    StreamIsRecorded(u32),
    PingRequest(u32),
    PingResponse(u32),
    Other(u16),
}

impl UserControl {
    pub(crate) const STREAM_BEGIN: u16 = 0;
    pub(crate) const STREAM_EOF: u16 = 1;
    pub(crate) const STREAM_DRY: u16 = 2;
    pub(crate) const SET_BUFFER_LENGTH: u16 = 3;
    pub(crate) const STREAM_IS_RECORDED: u16 = 4;
    pub(crate) const PING_REQUEST: u16 = 6;
    pub(crate) const PING_RESPONSE: u16 = 7;

    /// Event type and data bytes.
    pub(crate) fn encode(self) -> ([u8; 10], usize) {
        let mut b = [0u8; 10];
        let (event, a, c) = match self {
            UserControl::StreamBegin(s) => (Self::STREAM_BEGIN, s, None),
            UserControl::StreamEof(s) => (Self::STREAM_EOF, s, None),
            UserControl::StreamDry(s) => (Self::STREAM_DRY, s, None),
            UserControl::SetBufferLength { stream_id, millis } => {
                (Self::SET_BUFFER_LENGTH, stream_id, Some(millis))
            }
            UserControl::StreamIsRecorded(s) => (Self::STREAM_IS_RECORDED, s, None),
            UserControl::PingRequest(t) => (Self::PING_REQUEST, t, None),
            UserControl::PingResponse(t) => (Self::PING_RESPONSE, t, None),
            UserControl::Other(e) => (e, 0, None),
        };
        b[0..2].copy_from_slice(&event.to_be_bytes());
        b[2..6].copy_from_slice(&a.to_be_bytes());
        match c {
            Some(c) => {
                b[6..10].copy_from_slice(&c.to_be_bytes());
                (b, 10)
            }
            None => (b, 6),
        }
    }
}

fn be32(p: &[u8], at: usize, message_type: u8) -> Result<u32, Error> {
    match p.get(at..at + 4) {
        Some(b) => Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        None => Err(Error::ControlTooShort {
            message_type,
            expected: at + 4,
            got: p.len(),
        }),
    }
}

/// Decode a protocol control message (types 1-6); `Ok(None)` for other types.
pub(crate) fn parse_control(t: u8, p: &[u8]) -> Result<Option<Control>, Error> {
    Ok(Some(match t {
        type_id::SET_CHUNK_SIZE => Control::SetChunkSize(be32(p, 0, t)?),
        type_id::ABORT => Control::Abort(be32(p, 0, t)?),
        type_id::ACKNOWLEDGEMENT => Control::Acknowledgement(be32(p, 0, t)?),
        type_id::WINDOW_ACK_SIZE => Control::WindowAckSize(be32(p, 0, t)?),
        type_id::SET_PEER_BANDWIDTH => Control::SetPeerBandwidth {
            size: be32(p, 0, t)?,
            // Some peers omit the limit type; treat as dynamic (2).
            limit_type: p.get(4).copied().unwrap_or(2),
        },
        type_id::USER_CONTROL => {
            let Some(ev) = p.get(0..2) else {
                return Err(Error::ControlTooShort {
                    message_type: t,
                    expected: 2,
                    got: p.len(),
                });
            };
            let event = u16::from_be_bytes([ev[0], ev[1]]);
            Control::User(match event {
                UserControl::STREAM_BEGIN => UserControl::StreamBegin(be32(p, 2, t)?),
                UserControl::STREAM_EOF => UserControl::StreamEof(be32(p, 2, t)?),
                UserControl::STREAM_DRY => UserControl::StreamDry(be32(p, 2, t)?),
                UserControl::SET_BUFFER_LENGTH => UserControl::SetBufferLength {
                    stream_id: be32(p, 2, t)?,
                    millis: be32(p, 6, t)?,
                },
                UserControl::STREAM_IS_RECORDED => UserControl::StreamIsRecorded(be32(p, 2, t)?),
                UserControl::PING_REQUEST => UserControl::PingRequest(be32(p, 2, t)?),
                UserControl::PING_RESPONSE => UserControl::PingResponse(be32(p, 2, t)?),
                other => UserControl::Other(other),
            })
        }
        _ => return Ok(None),
    }))
}

/// Split an aggregate message into `(type id, timestamp, body)` sub-messages. Sub-message timestamps are
/// rebased onto the aggregate's own timestamp; a malformed tail ends the iteration. Bodies are slices of
/// `payload`, not copies.
pub(crate) fn split_aggregate(payload: &Bytes, timestamp: u32) -> Vec<(u8, u32, Bytes)> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    let mut first_ts: Option<u32> = None;
    while let Some(h) = payload.get(pos..pos + 11) {
        let t = h[0];
        let size = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
        let ts = (u32::from(h[7]) << 24)
            | (u32::from(h[4]) << 16)
            | (u32::from(h[5]) << 8)
            | u32::from(h[6]);
        let body_start = pos + 11;
        let Some(body_end) = body_start.checked_add(size).filter(|&e| e <= payload.len()) else {
            break;
        };
        let base = *first_ts.get_or_insert(ts);
        out.push((
            t,
            timestamp.wrapping_add(ts.wrapping_sub(base)),
            payload.slice(body_start..body_end),
        ));
        // Each sub-message is followed by a 4-byte back pointer.
        pos = body_end + 4;
    }
    out
}
