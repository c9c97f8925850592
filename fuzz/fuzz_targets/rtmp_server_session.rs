//! A server session after a valid simple handshake, fed arbitrary chunk stream bytes. Byte 0 picks how the
//! rest is split into reads (0: all at once). Every request is accepted so the media paths are reached.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use rtmp::{MediaKind, ServerEvent, ServerSession, SessionConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let now = Instant::now();
    let mut server = ServerSession::new(SessionConfig::default(), now);
    let mut handshake = vec![3u8];
    handshake.resize(1 + 1536 * 2, 0);
    server
        .handle_input(&handshake, now)
        .expect("simple handshake is valid");
    let step = if split == 0 {
        rest.len().max(1)
    } else {
        usize::from(split)
    };
    for piece in rest.chunks(step) {
        if server.handle_input(piece, now).is_err() {
            break;
        }
        while let Some(event) = server.poll_event() {
            match event {
                ServerEvent::Connect { .. } => server.accept_connect(),
                ServerEvent::Publish { stream_id, .. } => server.accept_publish(stream_id),
                ServerEvent::Play { stream_id, .. } => {
                    server.accept_play(stream_id);
                    server.send_media(
                        stream_id,
                        MediaKind::Video,
                        0xFFFF_FFFF,
                        &[0x17, 0, 0, 0, 0],
                    );
                }
                _ => {}
            }
        }
        let _ = server.take_transmit();
    }
});
