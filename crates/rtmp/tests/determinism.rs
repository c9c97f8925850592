//! The sans-IO contract's randomness rule: a session's only randomness (the handshake's bytes) comes from
//! `SessionConfig::rng_seed`, so two runs with the same seeds put the same bytes on the wire.

mod common;

use common::Pair;
use rtmp::{HandshakeMode, MediaKind, SessionConfig};

/// Everything a client and a server send to each other through a digest handshake, connect, publish and one
/// media message, with the given seeds.
fn wire(client_seed: Option<u64>, server_seed: Option<u64>) -> (Vec<u8>, Vec<u8>) {
    let config = |seed| SessionConfig {
        rng_seed: seed,
        client_handshake: HandshakeMode::Digest,
        ..SessionConfig::default()
    };
    let mut p = Pair::new(config(client_seed), config(server_seed));
    p.client.connect("live", "rtmp://example.com/live");
    p.client.publish("room1");
    p.drive();
    p.client.send_media(MediaKind::Audio, 20, &[0xaf, 1, 2, 3]);
    p.drive();
    assert_eq!(p.server_media().len(), 1, "the publish went through");
    (p.client_wire, p.server_wire)
}

#[test]
fn the_same_seeds_put_the_same_bytes_on_the_wire() {
    let first = wire(Some(1), Some(2));
    assert_eq!(first, wire(Some(1), Some(2)));
    // More than the handshake (C0 C1 C2, S0 S1 S2) went through.
    assert!(first.0.len() > 1 + 2 * 1536 && first.1.len() > 1 + 2 * 1536);
}

#[test]
fn another_seed_changes_only_that_sides_random_bytes() {
    let (client, server) = wire(Some(1), Some(2));
    let (other_client, other_server) = wire(Some(3), Some(2));
    // C1 differs, so the server's S2 (signed over C1's digest) differs too; S1 does not.
    assert_ne!(client[1..1537], other_client[1..1537]);
    assert_eq!(server[..1537], other_server[..1537]);
    assert_ne!(server[1537..3073], other_server[1537..3073]);
}

#[test]
fn without_a_seed_every_session_draws_fresh_bytes() {
    let (client, server) = wire(None, None);
    let (other_client, other_server) = wire(None, None);
    assert_ne!(client[1..1537], other_client[1..1537]);
    assert_ne!(server[1..1537], other_server[1..1537]);
}
