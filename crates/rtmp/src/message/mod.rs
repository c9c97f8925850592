//! RTMP messages above the chunk layer: message type ids, protocol control and user control messages,
//! command messages, aggregate messages.

mod command;
mod control;

pub(crate) use command::{encode_command, parse_command, status_info, Command};
pub(crate) use control::{parse_control, split_aggregate, Control, UserControl};

/// Message type ids.
pub(crate) mod type_id {
    pub(crate) const SET_CHUNK_SIZE: u8 = 1;
    pub(crate) const ABORT: u8 = 2;
    pub(crate) const ACKNOWLEDGEMENT: u8 = 3;
    pub(crate) const USER_CONTROL: u8 = 4;
    pub(crate) const WINDOW_ACK_SIZE: u8 = 5;
    pub(crate) const SET_PEER_BANDWIDTH: u8 = 6;
    pub(crate) const AUDIO: u8 = 8;
    pub(crate) const VIDEO: u8 = 9;
    pub(crate) const AMF3_DATA: u8 = 15;
    pub(crate) const AMF3_COMMAND: u8 = 17;
    pub(crate) const AMF0_DATA: u8 = 18;
    pub(crate) const AMF0_COMMAND: u8 = 20;
    pub(crate) const AGGREGATE: u8 = 22;
}

/// Chunk stream id of protocol control messages (fixed by the spec).
pub(crate) const CSID_PROTOCOL: u32 = 2;
/// Chunk stream id we send command messages on.
pub(crate) const CSID_COMMAND: u32 = 3;
/// Chunk stream id we send audio messages on.
pub const CSID_AUDIO: u32 = 4;
/// Chunk stream id we send data (script) messages on.
pub const CSID_DATA: u32 = 5;
/// Chunk stream id we send video messages on.
pub const CSID_VIDEO: u32 = 6;

/// What a media message carries: the one media kind of the workspace. Message type 8 is audio, 9 video, and 18
/// (AMF0 data; type 15 AMF3 data is received as it with its leading 0 dropped) script data, an FLV script tag
/// body such as `"onMetaData", {...}`.
pub use flv::MediaKind;

/// The RTMP message type id used to send a kind of media (8, 9 or 18).
pub(crate) fn media_type_id(kind: MediaKind) -> u8 {
    match kind {
        MediaKind::Audio => type_id::AUDIO,
        MediaKind::Video => type_id::VIDEO,
        MediaKind::Script => type_id::AMF0_DATA,
    }
}

/// The chunk stream id this crate sends a kind of media on ([`CSID_AUDIO`], [`CSID_VIDEO`], [`CSID_DATA`]).
pub fn media_chunk_stream_id(kind: MediaKind) -> u32 {
    match kind {
        MediaKind::Audio => CSID_AUDIO,
        MediaKind::Video => CSID_VIDEO,
        MediaKind::Script => CSID_DATA,
    }
}
