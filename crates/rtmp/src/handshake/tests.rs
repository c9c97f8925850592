//! Handshake tests, including a real ffmpeg C1 and ffmpeg's own S1/S2 validation steps.

use bytes::BytesMut;
use rand::SeedableRng;

use super::digest::{digest_offset, find_digest, response_signature, Scheme, SERVER_KEY};
use super::*;

const FFMPEG_C0C1: &[u8; 1537] = include_bytes!("../../tests/data/ffmpeg_c0c1.bin");
const RTMPDUMP_C0C1: &[u8; 1537] = include_bytes!("../../tests/data/rtmpdump_c0c1.bin");

/// A seeded generator: the tests' handshakes are the same every run.
fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn block(b: &[u8]) -> Block {
    b.try_into().unwrap()
}

/// What ffmpeg's rtmp_handshake does with our S1/S2 when it plays: validate the S1 digest (scheme 1 first, then
/// 0) with the 36-byte server key and check S2's last 32 bytes against HMAC(S2[..1504], HMAC(C1 digest, key)).
fn ffmpeg_accepts(c1: &Block, s1: &Block, s2: &Block) -> bool {
    let Some((_, c1_digest)) = find_digest(c1, &PLAYER_KEY[..PLAYER_KEY_PARTIAL]) else {
        return false;
    };
    s1[4] >= 3
        && find_digest(s1, &SERVER_KEY[..SERVER_KEY_PARTIAL]).is_some()
        && s2[HANDSHAKE_SIZE - 32..] == response_signature(s2, &c1_digest, &SERVER_KEY)
}

#[test]
fn ffmpeg_c1_carries_a_scheme0_digest() {
    assert_eq!(FFMPEG_C0C1[0], 3);
    let c1 = block(&FFMPEG_C0C1[1..]);
    assert_eq!(&c1[4..8], &[9, 0, 124, 2]);
    let (scheme, _) =
        find_digest(&c1, &PLAYER_KEY[..PLAYER_KEY_PARTIAL]).expect("valid ffmpeg digest");
    assert_eq!(scheme, Scheme::Zero);
    // A flipped byte outside the digest breaks it.
    let mut bad = c1;
    let off = digest_offset(&bad, Scheme::Zero);
    let flip = if off > 100 { 50 } else { 1000 };
    bad[flip] ^= 1;
    assert!(find_digest(&bad, &PLAYER_KEY[..PLAYER_KEY_PARTIAL]).is_none());
}

#[test]
fn server_answers_ffmpeg_c1_with_a_digest_reply_ffmpeg_accepts() {
    let mut out = BytesMut::new();
    assert_eq!(
        server_reply(&FFMPEG_C0C1[1..], &mut rng(2), &mut out),
        Reply::Digest
    );
    assert_eq!(out.len(), 1 + 2 * HANDSHAKE_SIZE);
    assert_eq!(out[0], 3);
    let s1 = block(&out[1..1 + HANDSHAKE_SIZE]);
    let s2 = block(&out[1 + HANDSHAKE_SIZE..]);
    assert_eq!(&s1[4..8], &[0x0d, 0x0e, 0x0a, 0x0d]);
    assert!(ffmpeg_accepts(&block(&FFMPEG_C0C1[1..]), &s1, &s2));
}

#[test]
fn server_answers_simple_c1_with_echo() {
    assert_eq!(&RTMPDUMP_C0C1[5..9], &[0, 0, 0, 0]);
    let mut out = BytesMut::new();
    assert_eq!(
        server_reply(&RTMPDUMP_C0C1[1..], &mut rng(2), &mut out),
        Reply::Simple
    );
    assert_eq!(&out[1 + HANDSHAKE_SIZE..], &RTMPDUMP_C0C1[1..]);
    assert_eq!(&out[5..9], &[0, 0, 0, 0]);
}

#[test]
fn client_digest_c1_validates_and_scheme1_is_accepted_too() {
    let mut out = BytesMut::new();
    let hs = ClientHandshake::start(HandshakeMode::Digest, rng(1), &mut out);
    assert_eq!(out.len(), 1 + HANDSHAKE_SIZE);
    let c1 = block(&out[1..]);
    assert_eq!(
        find_digest(&c1, &PLAYER_KEY[..PLAYER_KEY_PARTIAL]).map(|d| d.0),
        Some(Scheme::Zero)
    );
    assert_eq!(
        hs.c1_digest.map(|d| d.to_vec()),
        find_digest(&c1, &PLAYER_KEY[..30]).map(|d| d.1.to_vec())
    );

    // A scheme 1 C1 (as some Flash players send) gets a scheme 1 S1.
    let mut c1 = *hs.c1;
    let d = imprint(&mut c1, Scheme::One, &PLAYER_KEY[..PLAYER_KEY_PARTIAL]);
    let mut reply = BytesMut::new();
    assert_eq!(server_reply(&c1, &mut rng(2), &mut reply), Reply::Digest);
    let s1 = block(&reply[1..1 + HANDSHAKE_SIZE]);
    assert_eq!(
        find_digest(&s1, &SERVER_KEY[..36]).map(|x| x.0),
        Some(Scheme::One)
    );
    let s2 = block(&reply[1 + HANDSHAKE_SIZE..]);
    assert_eq!(
        s2[HANDSHAKE_SIZE - 32..],
        response_signature(&s2, &d, &SERVER_KEY)
    );
}

#[test]
fn client_validates_server_reply_and_signs_c2() {
    let mut out = BytesMut::new();
    let mut hs = ClientHandshake::start(HandshakeMode::Digest, rng(1), &mut out);
    let mut reply = BytesMut::new();
    assert_eq!(
        server_reply(&out[1..], &mut rng(2), &mut reply),
        Reply::Digest
    );
    let (s1, s2) = (&reply[1..1 + HANDSHAKE_SIZE], &reply[1 + HANDSHAKE_SIZE..]);
    let mut c2 = BytesMut::new();
    assert_eq!(hs.finish(s1, s2, &mut c2), Ok(Reply::Digest));
    assert_eq!(c2.len(), HANDSHAKE_SIZE);
    // C2 is signed with the S1 digest and the full player key.
    let (_, s1_digest) = find_digest(&block(s1), &SERVER_KEY[..36]).unwrap();
    let c2 = block(&c2);
    assert_eq!(
        c2[HANDSHAKE_SIZE - 32..],
        response_signature(&c2, &s1_digest, &PLAYER_KEY)
    );

    // A corrupted S2 is refused, wherever the change is in the signed part; an S2 echoing C1 is tolerated.
    for at in [0, 10, 1000, HANDSHAKE_SIZE - DIGEST_LEN - 1] {
        let mut bad = s2.to_vec();
        bad[at] ^= 0xff;
        assert_eq!(
            hs.finish(s1, &bad, &mut BytesMut::new()),
            Err(Error::HandshakeSignatureMismatch),
            "byte {at}"
        );
    }
    assert_eq!(
        hs.finish(s1, &out[1..], &mut BytesMut::new()),
        Ok(Reply::Digest)
    );
}

#[test]
fn client_accepts_simple_server_reply() {
    let mut out = BytesMut::new();
    let mut hs = ClientHandshake::start(HandshakeMode::Digest, rng(1), &mut out);
    let mut reply = BytesMut::new();
    // A server that ignores digests: zero version in S1, S2 = C1 echo.
    reply.extend_from_slice(&[0u8; HANDSHAKE_SIZE]);
    reply.extend_from_slice(&out[1..]);
    let mut c2 = BytesMut::new();
    assert_eq!(
        hs.finish(&reply[..HANDSHAKE_SIZE], &reply[HANDSHAKE_SIZE..], &mut c2),
        Ok(Reply::Simple)
    );
    assert_eq!(&c2[..], &reply[..HANDSHAKE_SIZE]);
}

/// A zero version field in S1 means a simple handshake, as ffmpeg reads it: the client does not look for a digest
/// there, even one that would validate, and echoes S1.
#[test]
fn zero_version_s1_is_simple_even_with_a_valid_digest() {
    let mut out = BytesMut::new();
    let mut hs = ClientHandshake::start(HandshakeMode::Digest, rng(1), &mut out);
    let mut s1 = [7u8; HANDSHAKE_SIZE];
    s1[..8].fill(0);
    imprint(&mut s1, Scheme::Zero, &SERVER_KEY[..SERVER_KEY_PARTIAL]);
    assert!(find_digest(&s1, &SERVER_KEY[..SERVER_KEY_PARTIAL]).is_some());
    let mut c2 = BytesMut::new();
    assert_eq!(hs.finish(&s1, &out[1..], &mut c2), Ok(Reply::Simple));
    assert_eq!(&c2[..], &s1[..]);
}

#[test]
fn simple_client_c1_has_zero_version_and_gets_simple_reply() {
    let mut out = BytesMut::new();
    let hs = ClientHandshake::start(HandshakeMode::Simple, rng(1), &mut out);
    assert!(hs.c1_digest.is_none());
    assert_eq!(&out[1..9], &[0u8; 8]);
    let mut reply = BytesMut::new();
    assert_eq!(
        server_reply(&out[1..], &mut rng(2), &mut reply),
        Reply::Simple
    );
}

#[test]
fn version_checks() {
    assert_eq!(check_version(3), Ok(()));
    assert_eq!(check_version(6), Err(Error::EncryptedHandshake));
    assert_eq!(check_version(0x47), Err(Error::BadVersion { got: 0x47 }));
}

#[test]
fn the_same_seed_gives_the_same_blocks_and_another_seed_other_ones() {
    let client_hello = |seed| {
        let mut out = BytesMut::new();
        ClientHandshake::start(HandshakeMode::Digest, rng(seed), &mut out);
        out
    };
    assert_eq!(client_hello(5), client_hello(5));
    assert_ne!(client_hello(5), client_hello(6));
    let server_hello = |seed| {
        let mut out = BytesMut::new();
        server_reply(&FFMPEG_C0C1[1..], &mut rng(seed), &mut out);
        out
    };
    assert_eq!(server_hello(5), server_hello(5));
    assert_ne!(server_hello(5), server_hello(6));
}
