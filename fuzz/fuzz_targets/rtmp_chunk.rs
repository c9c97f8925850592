//! Chunk stream decoding. Byte 0 picks how the rest is split into reads (0: all at once); Set Chunk Size
//! messages are applied like a session does (bounded to 65536).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmp::bytes::BytesMut;
use rtmp::ChunkDecoder;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let step = if split == 0 {
        rest.len().max(1)
    } else {
        usize::from(split)
    };
    let mut decoder = ChunkDecoder::new(1 << 20, 64);
    let mut buf = BytesMut::new();
    for piece in rest.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(msg)) => {
                    assert!(msg.payload.len() <= 1 << 20);
                    if msg.type_id == 1 && msg.payload.len() >= 4 {
                        let size = u32::from_be_bytes([
                            msg.payload[0],
                            msg.payload[1],
                            msg.payload[2],
                            msg.payload[3],
                        ]);
                        if size == 0 || size > 65536 {
                            return;
                        }
                        decoder.set_chunk_size(size);
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
