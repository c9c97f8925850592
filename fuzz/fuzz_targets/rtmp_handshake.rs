//! Handshake parsing on both sides: the input is what a peer sends first (C0+C1+C2 to a server,
//! S0+S1+S2 to a client), fed whole and then byte by byte.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use rtmp::{ClientSession, HandshakeMode, ServerSession, SessionConfig};

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let mut server = ServerSession::new(SessionConfig::default(), now);
    let _ = server.handle_input(data, now);
    let _ = server.take_transmit();
    while server.poll_event().is_some() {}

    for mode in [HandshakeMode::Digest, HandshakeMode::Simple] {
        let config = SessionConfig {
            client_handshake: mode,
            ..SessionConfig::default()
        };
        let mut client = ClientSession::new(config, now);
        client.connect("live", "rtmp://localhost/live");
        for b in data.chunks(1 + data.len() / 7) {
            if client.handle_input(b, now).is_err() {
                break;
            }
        }
        let _ = client.take_transmit();
        while client.poll_event().is_some() {}
    }
});
