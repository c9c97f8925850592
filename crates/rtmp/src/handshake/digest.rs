//! The Flash Player 9 digest ("complex") handshake: HMAC-SHA256 digests hidden in C1/S1 and signatures over
//! C2/S2, keyed with the well-known Genuine Adobe keys.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::HANDSHAKE_SIZE;

/// "Genuine Adobe Flash Player 001" followed by 32 constant bytes; the first 30 bytes sign C1.
pub(crate) const PLAYER_KEY: [u8; 62] = *b"Genuine Adobe Flash Player 001\
\xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57\x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE";
/// "Genuine Adobe Flash Media Server 001" followed by the same 32 bytes; the first 36 bytes sign S1.
pub(crate) const SERVER_KEY: [u8; 68] = *b"Genuine Adobe Flash Media Server 001\
\xF0\xEE\xC2\x4A\x80\x68\xBE\xE8\x2E\x00\xD0\xD1\x02\x9E\x7E\x57\x6E\xEC\x5D\x2D\x29\x80\x6F\xAB\x93\xB8\xE6\x36\xCF\xEB\x31\xAE";
/// Length of the key prefix used to sign C1.
pub(crate) const PLAYER_KEY_PARTIAL: usize = 30;
/// Length of the key prefix used to sign S1.
pub(crate) const SERVER_KEY_PARTIAL: usize = 36;
/// Length of a digest.
pub(crate) const DIGEST_LEN: usize = 32;

/// Where the digest sits: scheme 0 has the offset bytes at 8 (digest after them), scheme 1 at 772.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Zero,
    One,
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Offset of the 32-byte digest in a 1536-byte block: the sum of four offset bytes modulo 728, past them.
pub(crate) fn digest_offset(block: &[u8; HANDSHAKE_SIZE], scheme: Scheme) -> usize {
    let base = match scheme {
        Scheme::Zero => 8,
        Scheme::One => 772,
    };
    let sum: usize = block[base..base + 4].iter().map(|&b| usize::from(b)).sum();
    sum % 728 + base + 4
}

/// HMAC of the block with the 32 digest bytes at `offset` left out.
fn block_digest(block: &[u8; HANDSHAKE_SIZE], offset: usize, key: &[u8]) -> [u8; DIGEST_LEN] {
    hmac(key, &[&block[..offset], &block[offset + DIGEST_LEN..]])
}

/// Write a digest into `block` at the position chosen by `scheme`; returns the digest.
pub(crate) fn imprint(
    block: &mut [u8; HANDSHAKE_SIZE],
    scheme: Scheme,
    key: &[u8],
) -> [u8; DIGEST_LEN] {
    let off = digest_offset(block, scheme);
    let d = block_digest(block, off, key);
    block[off..off + DIGEST_LEN].copy_from_slice(&d);
    d
}

/// Find a valid digest in `block` (scheme 1 first, as ffmpeg checks, then scheme 0).
pub(crate) fn find_digest(
    block: &[u8; HANDSHAKE_SIZE],
    key: &[u8],
) -> Option<(Scheme, [u8; DIGEST_LEN])> {
    [Scheme::One, Scheme::Zero].into_iter().find_map(|scheme| {
        let off = digest_offset(block, scheme);
        let d = block_digest(block, off, key);
        (block[off..off + DIGEST_LEN] == d).then_some((scheme, d))
    })
}

/// Sign a C2/S2 block: the last 32 bytes become HMAC(first 1504 bytes, key = HMAC(peer digest, full key)).
pub(crate) fn sign_response(
    block: &mut [u8; HANDSHAKE_SIZE],
    peer_digest: &[u8; DIGEST_LEN],
    full_key: &[u8],
) {
    let sig = response_signature(block, peer_digest, full_key);
    block[HANDSHAKE_SIZE - DIGEST_LEN..].copy_from_slice(&sig);
}

/// The signature a C2/S2 block must end with.
pub(crate) fn response_signature(
    block: &[u8; HANDSHAKE_SIZE],
    peer_digest: &[u8; DIGEST_LEN],
    full_key: &[u8],
) -> [u8; DIGEST_LEN] {
    let key = hmac(full_key, &[peer_digest]);
    hmac(&key, &[&block[..HANDSHAKE_SIZE - DIGEST_LEN]])
}
