//! What server and client sessions share: input buffering, the chunk decoder, protocol control handling,
//! acknowledgements and the output buffer.

use bytes::{Bytes, BytesMut};

use crate::amf0::Value;
use crate::chunk::{encode_message, ChunkDecoder, ChunkMessage, DEFAULT_CHUNK_SIZE};
use crate::config::SessionConfig;
use crate::error::Error;
use crate::message::{
    encode_command, parse_control, type_id, Control, UserControl, CSID_COMMAND, CSID_PROTOCOL,
};

/// Largest chunk size the wire format allows (31 bits).
const MAX_WIRE_CHUNK_SIZE: u32 = 0x7FFF_FFFF;

/// A message the session must look at (protocol control has already been handled).
#[derive(Debug)]
pub(crate) enum Incoming {
    Message(ChunkMessage),
    User(UserControl),
    PeerBandwidth(u32),
}

#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) config: SessionConfig,
    pub(crate) inbuf: BytesMut,
    decoder: ChunkDecoder,
    out: BytesMut,
    /// Output held back until the handshake is done (client commands issued early).
    held: BytesMut,
    pub(crate) hold: bool,
    out_chunk_size: u32,
    bytes_received: u64,
    /// Window Acknowledgement Size announced by the peer (0: none yet).
    ack_window: u32,
    last_ack: u64,
    pub(crate) error: Option<Error>,
}

impl Conn {
    pub(crate) fn new(config: SessionConfig) -> Self {
        let decoder =
            ChunkDecoder::new(0, config.max_chunk_streams).with_limits(config.message_limits);
        Self {
            config,
            // Buffers grow on demand and are released when drained: most connections are players that
            // receive a lot and send almost nothing, so idle buffers would be most of their memory.
            inbuf: BytesMut::new(),
            decoder,
            out: BytesMut::new(),
            held: BytesMut::new(),
            hold: false,
            out_chunk_size: DEFAULT_CHUNK_SIZE,
            bytes_received: 0,
            ack_window: 0,
            last_ack: 0,
            error: None,
        }
    }

    /// Opens or closes the decoder's media gate (see [`ChunkDecoder::set_media_allowed`]).
    pub(crate) fn set_media_allowed(&mut self, allowed: bool) {
        self.decoder.set_media_allowed(allowed);
    }

    /// Record `e` as fatal and return it; later calls see it through [`Conn::check`].
    pub(crate) fn fail(&mut self, e: Error) -> Error {
        self.error = Some(e.clone());
        e
    }

    pub(crate) fn check(&self) -> Result<(), Error> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    pub(crate) fn push_input(&mut self, data: &[u8]) {
        self.inbuf.extend_from_slice(data);
        self.bytes_received += data.len() as u64;
    }

    /// Send an Acknowledgement once a window of bytes has arrived since the last one.
    pub(crate) fn maybe_ack(&mut self) {
        if self.ack_window > 0 && self.bytes_received - self.last_ack >= u64::from(self.ack_window)
        {
            self.last_ack = self.bytes_received;
            // The sequence number is the byte count modulo 2^32.
            self.send_control(
                type_id::ACKNOWLEDGEMENT,
                &(self.bytes_received as u32).to_be_bytes(),
            );
        }
    }

    pub(crate) fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    pub(crate) fn out_chunk_size(&self) -> u32 {
        self.out_chunk_size
    }

    /// Raw output buffer (handshake bytes go here directly, never held).
    pub(crate) fn raw_out(&mut self) -> &mut BytesMut {
        &mut self.out
    }

    /// Stop holding output: append what was held.
    pub(crate) fn release(&mut self) {
        self.hold = false;
        let held = self.held.split();
        self.out.extend_from_slice(&held);
    }

    pub(crate) fn take_transmit(&mut self) -> Option<Bytes> {
        // Taking the whole buffer (not `split`) leaves no spare capacity behind in the session.
        (!self.out.is_empty()).then(|| std::mem::take(&mut self.out).freeze())
    }

    fn buf(&mut self) -> &mut BytesMut {
        if self.hold {
            &mut self.held
        } else {
            &mut self.out
        }
    }

    pub(crate) fn send(
        &mut self,
        csid: u32,
        stream_id: u32,
        type_id: u8,
        timestamp: u32,
        payload: &[u8],
    ) {
        let cs = self.out_chunk_size;
        encode_message(self.buf(), csid, stream_id, type_id, timestamp, payload, cs);
    }

    pub(crate) fn send_control(&mut self, type_id: u8, payload: &[u8]) {
        self.send(CSID_PROTOCOL, 0, type_id, 0, payload);
    }

    pub(crate) fn send_user_control(&mut self, event: UserControl) {
        let (b, n) = event.encode();
        self.send_control(type_id::USER_CONTROL, &b[..n]);
    }

    pub(crate) fn send_command(
        &mut self,
        stream_id: u32,
        name: &str,
        tid: f64,
        object: &Value,
        args: &[Value],
    ) {
        let body = encode_command(name, tid, object, args);
        self.send(CSID_COMMAND, stream_id, type_id::AMF0_COMMAND, 0, &body);
    }

    /// Announce and start using a new outgoing chunk size (clamped to 1..=2^31-1).
    pub(crate) fn set_out_chunk_size(&mut self, size: u32) {
        let size = size.clamp(1, MAX_WIRE_CHUNK_SIZE);
        self.send_control(type_id::SET_CHUNK_SIZE, &size.to_be_bytes());
        self.out_chunk_size = size;
    }

    /// Decode the next message, handling protocol control messages on the way.
    pub(crate) fn next(&mut self) -> Result<Option<Incoming>, Error> {
        loop {
            let Some(msg) = self.decoder.decode(&mut self.inbuf)? else {
                if self.inbuf.is_empty() {
                    self.inbuf = BytesMut::new();
                }
                return Ok(None);
            };
            // Control messages belong on message stream 0, but are accepted on any, as most servers do.
            let Some(control) = parse_control(msg.type_id, &msg.payload)? else {
                return Ok(Some(Incoming::Message(msg)));
            };
            match control {
                Control::SetChunkSize(size) => {
                    let max = self.config.max_chunk_size.min(MAX_WIRE_CHUNK_SIZE);
                    if size == 0 || size > max {
                        return Err(Error::ChunkSizeInvalid { size, max });
                    }
                    self.decoder.set_chunk_size(size);
                }
                Control::Abort(csid) => self.decoder.abort(csid),
                Control::Acknowledgement(_) => {}
                Control::WindowAckSize(size) => self.ack_window = size,
                Control::User(UserControl::PingRequest(t)) => {
                    self.send_user_control(UserControl::PingResponse(t));
                }
                Control::User(u) => return Ok(Some(Incoming::User(u))),
                Control::SetPeerBandwidth { size, .. } => {
                    return Ok(Some(Incoming::PeerBandwidth(size)))
                }
            }
        }
    }
}
