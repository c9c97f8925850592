//! RFC 4571 framing for ICE-TCP: each STUN, DTLS, RTP or RTCP packet on the TCP stream is preceded by its length
//! as a 16-bit big-endian number. Sans-IO: [`Deframer`] takes the bytes a connection read, in whatever pieces the
//! socket gave them, and hands back whole packets; [`header`] makes the prefix of a packet to write. No clock, no
//! socket, no panic on any input: a length over the bound is an error, after which the deframer stays failed.

use bytes::{Buf, Bytes, BytesMut};

/// Why a TCP stream is not RFC 4571 packets this server takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum FramingError {
    /// A length prefix over the bound (`webrtc.tcp_max_frame`): not a WebRTC peer, or one that went wrong.
    #[error(
        "a frame of {len} bytes announced, over webrtc.tcp_max_frame ({max}): not RFC 4571 framed WebRTC packets"
    )]
    TooLong {
        /// The announced length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// A packet to send that no 16-bit length can describe (str0m sends packets of at most 1500 bytes).
    #[error("a packet of {len} bytes cannot be framed (RFC 4571 lengths stop at 65535)")]
    Unframeable {
        /// The packet's length.
        len: usize,
    },
}

/// Bytes of the length prefix.
pub(crate) const HEADER_LEN: usize = 2;

/// Cuts a TCP byte stream into packets. Call [`poll_frame`](Self::poll_frame) until it returns `Ok(None)` after
/// each [`handle_bytes`](Self::handle_bytes): then at most one incomplete frame (at most `max_frame` + 1 bytes) is
/// held.
#[derive(Debug)]
pub(crate) struct Deframer {
    buf: BytesMut,
    max_frame: usize,
    failed: Option<FramingError>,
}

impl Deframer {
    /// A deframer refusing frames longer than `max_frame` bytes.
    pub(crate) fn new(max_frame: usize) -> Deframer {
        Deframer {
            buf: BytesMut::new(),
            max_frame,
            failed: None,
        }
    }

    /// Takes bytes read from the connection.
    pub(crate) fn handle_bytes(&mut self, data: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(data);
        }
    }

    /// The next whole packet, `Ok(None)` when more bytes are needed. Empty frames (length 0) carry nothing and
    /// are skipped. After an error every call returns the same error.
    pub(crate) fn poll_frame(&mut self) -> Result<Option<Bytes>, FramingError> {
        loop {
            if let Some(e) = self.failed {
                return Err(e);
            }
            let Some(prefix) = self.buf.get(..HEADER_LEN) else {
                return Ok(None);
            };
            let len = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
            if len > self.max_frame {
                let e = FramingError::TooLong {
                    len,
                    max: self.max_frame,
                };
                self.failed = Some(e);
                self.buf = BytesMut::new();
                return Err(e);
            }
            if self.buf.len() < HEADER_LEN + len {
                return Ok(None);
            }
            self.buf.advance(HEADER_LEN);
            let frame = self.buf.split_to(len).freeze();
            if !frame.is_empty() {
                return Ok(Some(frame));
            }
        }
    }

    /// Bytes held for an incomplete frame.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// The length prefix of `packet`.
pub(crate) fn header(packet: &[u8]) -> Result<[u8; HEADER_LEN], FramingError> {
    u16::try_from(packet.len())
        .map(u16::to_be_bytes)
        .map_err(|_| FramingError::Unframeable { len: packet.len() })
}

/// Whether `frame` is a STUN Binding request (RFC 5389: type 0x0001, the magic cookie, a length that fits), the
/// first thing an ICE-TCP active side sends (RFC 6544 section 7.1). A connection that starts otherwise is not a
/// WebRTC peer.
pub(crate) fn is_stun_binding_request(frame: &[u8]) -> bool {
    const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
    frame.len() >= 20
        && frame[..2] == [0x00, 0x01]
        && frame[4..8] == MAGIC_COOKIE
        && usize::from(u16::from_be_bytes([frame[2], frame[3]])) + 20 == frame.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn framed(packets: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in packets {
            out.extend_from_slice(&header(p).unwrap());
            out.extend_from_slice(p);
        }
        out
    }

    fn drain(d: &mut Deframer) -> Result<Vec<Vec<u8>>, FramingError> {
        let mut out = Vec::new();
        while let Some(f) = d.poll_frame()? {
            out.push(f.to_vec());
        }
        Ok(out)
    }

    #[test]
    fn frames_split_and_merged_across_reads() {
        let a = [1u8, 2, 3];
        let b = [9u8; 300];
        let bytes = framed(&[&a, &b, &a]);
        // One read with everything.
        let mut d = Deframer::new(1500);
        d.handle_bytes(&bytes);
        assert_eq!(
            drain(&mut d).unwrap(),
            vec![a.to_vec(), b.to_vec(), a.to_vec()]
        );
        assert_eq!(d.buffered(), 0);
        // One byte at a time, the prefix split too.
        let mut d = Deframer::new(1500);
        let mut got = Vec::new();
        for byte in &bytes {
            d.handle_bytes(std::slice::from_ref(byte));
            got.extend(drain(&mut d).unwrap());
        }
        assert_eq!(got, vec![a.to_vec(), b.to_vec(), a.to_vec()]);
    }

    #[test]
    fn an_oversize_length_fails_and_stays_failed() {
        let mut d = Deframer::new(1500);
        // "GE" of an HTTP request read as a length: 0x4745 = 18245.
        d.handle_bytes(b"GET / HTTP/1.1\r\n");
        let e = d.poll_frame().unwrap_err();
        assert_eq!(
            e,
            FramingError::TooLong {
                len: 0x4745,
                max: 1500
            }
        );
        assert!(e.to_string().contains("webrtc.tcp_max_frame"), "{e}");
        d.handle_bytes(&framed(&[&[1, 2]]));
        assert_eq!(d.poll_frame(), Err(e));
        assert_eq!(d.buffered(), 0, "nothing is kept after a failure");
    }

    #[test]
    fn empty_frames_are_skipped_and_the_bound_is_inclusive() {
        let mut d = Deframer::new(4);
        d.handle_bytes(&[0, 0, 0, 4, 1, 2, 3, 4, 0, 0]);
        assert_eq!(drain(&mut d).unwrap(), vec![vec![1, 2, 3, 4]]);
        assert!(header(&[0; 65_535]).is_ok());
        assert_eq!(
            header(&[0; 65_536]),
            Err(FramingError::Unframeable { len: 65_536 })
        );
    }

    #[test]
    fn stun_binding_requests_are_told_from_other_bytes() {
        // A Binding request with no attributes, and one with an 8-byte attribute.
        let mut req = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
        req.extend_from_slice(&[7; 12]);
        assert!(is_stun_binding_request(&req));
        let mut longer = req.clone();
        longer[3] = 8;
        longer.extend_from_slice(&[0; 8]);
        assert!(is_stun_binding_request(&longer));
        // A Binding success response, a wrong cookie, a length that does not fit, DTLS, short input.
        let mut response = req.clone();
        response[..2].copy_from_slice(&[0x01, 0x01]);
        assert!(!is_stun_binding_request(&response));
        let mut cookie = req.clone();
        cookie[4] = 0;
        assert!(!is_stun_binding_request(&cookie));
        assert!(!is_stun_binding_request(&longer[..24]));
        assert!(!is_stun_binding_request(&[22, 0xfe, 0xfd, 0, 0]));
        assert!(!is_stun_binding_request(&[]));
    }

    proptest! {
        /// Any packets, cut into any pieces: the same packets come out, and nothing is left over.
        #[test]
        fn round_trip_in_any_pieces(
            packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..1500), 0..8),
            cuts in proptest::collection::vec(1usize..700, 0..40),
        ) {
            let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
            let bytes = framed(&refs);
            let mut d = Deframer::new(1500);
            let mut got = Vec::new();
            let mut rest = bytes.as_slice();
            let mut cuts = cuts.into_iter();
            while !rest.is_empty() {
                let n = cuts.next().unwrap_or(rest.len()).min(rest.len());
                d.handle_bytes(&rest[..n]);
                rest = &rest[n..];
                got.extend(drain(&mut d).unwrap());
                prop_assert!(d.buffered() <= 1500 + 1);
            }
            prop_assert_eq!(got, packets);
            prop_assert_eq!(d.buffered(), 0);
        }

        /// Arbitrary bytes never panic; frames never exceed the bound; what is held stays under one frame.
        #[test]
        fn arbitrary_bytes_never_panic(
            reads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..3000), 0..8),
            max in 1usize..3000,
        ) {
            let mut d = Deframer::new(max);
            for read in &reads {
                d.handle_bytes(read);
                loop {
                    match d.poll_frame() {
                        Ok(Some(f)) => prop_assert!(!f.is_empty() && f.len() <= max),
                        Ok(None) => {
                            prop_assert!(d.buffered() <= max + 1);
                            break;
                        }
                        Err(FramingError::TooLong { len, .. }) => {
                            prop_assert!(len > max);
                            break;
                        }
                        Err(e) => prop_assert!(false, "{e}"),
                    }
                }
                let _ = is_stun_binding_request(read);
            }
        }
    }
}
