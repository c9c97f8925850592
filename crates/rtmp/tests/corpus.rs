//! Replays every file of the fuzz corpora (`fuzz/corpus/rtmp_*`) through the same logic as the fuzz targets,
//! so CI covers the corpus without nightly.

use std::path::PathBuf;
use std::time::Instant;

use rtmp::bytes::BytesMut;
use rtmp::{
    amf0, ChunkDecoder, ClientSession, HandshakeMode, ServerEvent, ServerSession, SessionConfig,
};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p, data)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus {}", dir.display());
    files
}

fn step(split: u8, len: usize) -> usize {
    if split == 0 {
        len.max(1)
    } else {
        usize::from(split)
    }
}

#[test]
fn rtmp_handshake_corpus() {
    let now = Instant::now();
    for (path, data) in corpus("rtmp_handshake") {
        let mut server = ServerSession::new(SessionConfig::default(), now);
        let _ = server.handle_input(&data, now);
        let _ = server.take_transmit();
        for mode in [HandshakeMode::Digest, HandshakeMode::Simple] {
            let mut client = ClientSession::new(
                SessionConfig {
                    client_handshake: mode,
                    ..SessionConfig::default()
                },
                now,
            );
            for b in data.chunks(1 + data.len() / 7) {
                if client.handle_input(b, now).is_err() {
                    break;
                }
            }
        }
        eprintln!("ok {}", path.display());
    }
}

#[test]
fn rtmp_chunk_corpus() {
    for (path, data) in corpus("rtmp_chunk") {
        let Some((&split, rest)) = data.split_first() else {
            continue;
        };
        let mut decoder = ChunkDecoder::new(1 << 20, 64);
        let mut buf = BytesMut::new();
        let mut messages = 0;
        'outer: for piece in rest.chunks(step(split, rest.len())) {
            buf.extend_from_slice(piece);
            loop {
                match decoder.decode(&mut buf) {
                    Ok(Some(m)) => {
                        messages += 1;
                        if m.type_id == 1 && m.payload.len() >= 4 {
                            let size = u32::from_be_bytes(m.payload[..4].try_into().unwrap());
                            if size == 0 || size > 65536 {
                                break 'outer;
                            }
                            decoder.set_chunk_size(size);
                        }
                    }
                    Ok(None) => break,
                    Err(_) => break 'outer,
                }
            }
        }
        eprintln!("ok {} ({messages} messages)", path.display());
    }
}

#[test]
fn rtmp_amf0_corpus() {
    for (path, data) in corpus("rtmp_amf0") {
        if let Ok(values) = amf0::decode_all(&data) {
            let mut first = BytesMut::new();
            values.iter().for_each(|v| amf0::encode(v, &mut first));
            let again = amf0::decode_all(&first).unwrap();
            let mut second = BytesMut::new();
            again.iter().for_each(|v| amf0::encode(v, &mut second));
            assert_eq!(first, second, "{}", path.display());
        }
        eprintln!("ok {}", path.display());
    }
}

#[test]
fn rtmp_server_session_corpus() {
    let now = Instant::now();
    for (path, data) in corpus("rtmp_server_session") {
        let Some((&split, rest)) = data.split_first() else {
            continue;
        };
        let mut server = ServerSession::new(SessionConfig::default(), now);
        let mut hs = vec![3u8];
        hs.resize(1 + 2 * 1536, 0);
        server.handle_input(&hs, now).unwrap();
        let mut events = 0;
        for piece in rest.chunks(step(split, rest.len())) {
            if server.handle_input(piece, now).is_err() {
                break;
            }
            while let Some(e) = server.poll_event() {
                events += 1;
                match e {
                    ServerEvent::Connect { .. } => server.accept_connect(),
                    ServerEvent::Publish { stream_id, .. } => server.accept_publish(stream_id),
                    ServerEvent::Play { stream_id, .. } => server.accept_play(stream_id),
                    _ => {}
                }
            }
            let _ = server.take_transmit();
        }
        eprintln!("ok {} ({events} events)", path.display());
    }
}
