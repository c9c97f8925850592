//! The RTMP handshake: C0/S0 version byte, C1/S1 and C2/S2 1536-byte blocks, simple or digest.

mod digest;

use bytes::{BufMut, BytesMut};
use rand::rngs::StdRng;
use rand::RngCore;

use crate::config::HandshakeMode;
use crate::error::Error;
use digest::{
    find_digest, imprint, response_signature, sign_response, Scheme, DIGEST_LEN, PLAYER_KEY,
    PLAYER_KEY_PARTIAL, SERVER_KEY, SERVER_KEY_PARTIAL,
};

/// Size of C1, S1, C2 and S2.
pub(crate) const HANDSHAKE_SIZE: usize = 1536;
/// The only RTMP version accepted.
pub(crate) const RTMP_VERSION: u8 = 3;
/// Version field we put in a digest S1 (any non-zero value tells ffmpeg to validate the digest).
const SERVER_VERSION: [u8; 4] = [0x0d, 0x0e, 0x0a, 0x0d];
/// Flash Player version ffmpeg sends in a digest C1.
const CLIENT_VERSION: [u8; 4] = [9, 0, 124, 2];

type Block = [u8; HANDSHAKE_SIZE];

/// A block whose bytes after the first 8 (time and version fields) come from `rng`.
fn random_block(rng: &mut impl RngCore) -> Box<Block> {
    let mut b = Box::new([0u8; HANDSHAKE_SIZE]);
    rng.fill_bytes(&mut b[8..]);
    b
}

fn block_from(slice: &[u8]) -> Option<Box<Block>> {
    let arr: &Block = slice.get(..HANDSHAKE_SIZE)?.try_into().ok()?;
    Some(Box::new(*arr))
}

/// Check a C0/S0 version byte.
pub(crate) fn check_version(v: u8) -> Result<(), Error> {
    match v {
        RTMP_VERSION => Ok(()),
        6 => Err(Error::EncryptedHandshake),
        got => Err(Error::BadVersion { got }),
    }
}

/// Which handshake the server answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    Simple,
    Digest,
}

/// Build S0 + S1 + S2 for `c1` (1536 bytes) into `out`: a digest reply when C1 carries a valid Flash Player
/// digest, the simple reply (S2 = echo of C1) otherwise. The random bytes of S1 and S2 come from `rng`.
pub(crate) fn server_reply(c1: &[u8], rng: &mut impl RngCore, out: &mut BytesMut) -> Reply {
    out.reserve(1 + 2 * HANDSHAKE_SIZE);
    out.put_u8(RTMP_VERSION);
    let Some(c1) = block_from(c1) else {
        return Reply::Simple;
    };
    // A zero version field means a simple-handshake client; skip the two HMACs.
    let digest = if c1[4..8] != [0, 0, 0, 0] {
        find_digest(&c1, &PLAYER_KEY[..PLAYER_KEY_PARTIAL])
    } else {
        None
    };
    let mut s1 = random_block(rng);
    s1[..8].fill(0);
    match digest {
        Some((scheme, c1_digest)) => {
            s1[4..8].copy_from_slice(&SERVER_VERSION);
            imprint(&mut s1, scheme, &SERVER_KEY[..SERVER_KEY_PARTIAL]);
            let mut s2 = random_block(rng);
            rng.fill_bytes(&mut s2[..8]);
            sign_response(&mut s2, &c1_digest, &SERVER_KEY);
            out.put_slice(&s1[..]);
            out.put_slice(&s2[..]);
            Reply::Digest
        }
        None => {
            out.put_slice(&s1[..]);
            out.put_slice(&c1[..]);
            Reply::Simple
        }
    }
}

/// Client side handshake state: our C1 and its digest, if any, and the source of C2's random bytes.
#[derive(Debug)]
pub(crate) struct ClientHandshake {
    c1: Box<Block>,
    c1_digest: Option<[u8; DIGEST_LEN]>,
    rng: StdRng,
}

impl ClientHandshake {
    /// Build C0 + C1 into `out`, with random bytes from `rng` (kept for C2).
    pub(crate) fn start(mode: HandshakeMode, mut rng: StdRng, out: &mut BytesMut) -> Self {
        let mut c1 = random_block(&mut rng);
        c1[..8].fill(0);
        let c1_digest = match mode {
            HandshakeMode::Simple => None,
            HandshakeMode::Digest => {
                c1[4..8].copy_from_slice(&CLIENT_VERSION);
                Some(imprint(
                    &mut c1,
                    Scheme::Zero,
                    &PLAYER_KEY[..PLAYER_KEY_PARTIAL],
                ))
            }
        };
        out.reserve(1 + HANDSHAKE_SIZE);
        out.put_u8(RTMP_VERSION);
        out.put_slice(&c1[..]);
        Self { c1, c1_digest, rng }
    }

    /// Process S1 and S2 (1536 bytes each) and write C2 into `out`.
    ///
    /// When S1 carries a valid server digest, S2 must be either the signed reply to our C1 digest or a plain
    /// echo of C1 (lenient servers), and C2 is signed; otherwise C2 echoes S1.
    pub(crate) fn finish(
        &mut self,
        s1: &[u8],
        s2: &[u8],
        out: &mut BytesMut,
    ) -> Result<Reply, Error> {
        let (Some(s1), Some(s2)) = (block_from(s1), block_from(s2)) else {
            return Err(Error::HandshakeSignatureMismatch);
        };
        let server_digest = match self.c1_digest {
            Some(_) if s1[4..8] != [0, 0, 0, 0] => {
                find_digest(&s1, &SERVER_KEY[..SERVER_KEY_PARTIAL])
            }
            _ => None,
        };
        match (server_digest, self.c1_digest) {
            (Some((_, s1_digest)), Some(c1_digest)) => {
                let expected = response_signature(&s2, &c1_digest, &SERVER_KEY);
                if s2[HANDSHAKE_SIZE - DIGEST_LEN..] != expected && s2 != self.c1 {
                    return Err(Error::HandshakeSignatureMismatch);
                }
                let mut c2 = random_block(&mut self.rng);
                self.rng.fill_bytes(&mut c2[..8]);
                sign_response(&mut c2, &s1_digest, &PLAYER_KEY);
                out.put_slice(&c2[..]);
                Ok(Reply::Digest)
            }
            _ => {
                out.put_slice(&s1[..]);
                Ok(Reply::Simple)
            }
        }
    }
}

#[cfg(test)]
mod tests;
