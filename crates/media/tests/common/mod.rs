//! Frame builders and helpers shared by the integration tests.
#![allow(dead_code)]

use std::sync::Arc;

use bytes::Bytes;
use media::{
    Frame, MediaFrame, MediaKind, Publisher, PublisherInfo, Registry, StreamKey, SubscribeOptions,
    Subscriber,
};

/// H.264 SPS of a 640x360 baseline stream at 25 fps (libx264 output, emulation prevention in place).
pub const SPS_640X360: [u8; 25] = [
    0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01,
    0x00, 0x00, 0x03, 0x00, 0x32, 0x0f, 0x16, 0x2e, 0x48,
];
/// Its PPS.
pub const PPS: [u8; 5] = [0x68, 0xcb, 0x83, 0xcb, 0x20];

/// An FLV video tag body carrying an AVCDecoderConfigurationRecord with one SPS and one PPS.
pub fn avc_sequence_header_with(sps: &[u8]) -> Bytes {
    let mut body = vec![0x17, 0x00, 0x00, 0x00, 0x00];
    body.extend_from_slice(&[0x01, sps[1], sps[2], sps[3], 0xff, 0xe1]);
    body.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    body.extend_from_slice(sps);
    body.push(0x01);
    body.extend_from_slice(&(PPS.len() as u16).to_be_bytes());
    body.extend_from_slice(&PPS);
    Bytes::from(body)
}

pub fn avc_sequence_header() -> Frame {
    Frame::new(MediaKind::Video, 0, avc_sequence_header_with(&SPS_640X360))
}

/// AAC LC, 44.1 kHz, stereo.
pub fn aac_sequence_header() -> Frame {
    Frame::new(
        MediaKind::Audio,
        0,
        Bytes::from_static(&[0xaf, 0x00, 0x12, 0x10]),
    )
}

pub fn metadata(ts: u32) -> Frame {
    Frame::new(
        MediaKind::Script,
        ts,
        Bytes::from_static(b"\x02\x00\x0aonMetaData"),
    )
}

/// An AVC picture of `size` payload bytes (at least 9).
pub fn video(ts: u32, keyframe: bool, size: usize) -> Frame {
    let mut body = vec![0u8; size.max(9)];
    body[0] = if keyframe { 0x17 } else { 0x27 };
    body[1] = 0x01;
    body[5..9].copy_from_slice(&(size.max(9) as u32 - 9).to_be_bytes());
    Frame::new(MediaKind::Video, ts, Bytes::from(body))
}

/// An AAC raw frame of `size` payload bytes (at least 2).
pub fn audio(ts: u32, size: usize) -> Frame {
    let mut body = vec![0u8; size.max(2)];
    body[0] = 0xaf;
    body[1] = 0x01;
    Frame::new(MediaKind::Audio, ts, Bytes::from(body))
}

pub fn key() -> StreamKey {
    StreamKey::new("live", "test")
}

/// The publish start time [`info`] gives, in Unix milliseconds.
pub const STARTED_AT_MS: u64 = 1_700_000_000_000;

pub fn info(addr: &str) -> PublisherInfo {
    PublisherInfo {
        remote_addr: addr.to_owned(),
        protocol: "rtmp",
        republish_grace: None,
        started_at_ms: STARTED_AT_MS,
        relay: false,
    }
}

pub fn publish(hub: &Registry) -> Publisher {
    hub.publish(key(), info("10.0.0.1:1935")).expect("publish")
}

pub fn subscribe(hub: &Registry, opts: SubscribeOptions) -> Subscriber {
    hub.subscribe(&key(), opts).expect("subscribe")
}

/// Everything the subscriber can receive right now.
pub fn drain(sub: &mut Subscriber) -> Vec<Arc<MediaFrame>> {
    let mut out = Vec::new();
    while let Ok(Some(frame)) = sub.try_recv() {
        out.push(frame);
    }
    out
}

/// `(kind letter, timestamp)` of each frame: `M` script, `V`/`A` headers, `K` keyframe, `P` picture, `a` audio.
pub fn shape(frames: &[Arc<MediaFrame>]) -> Vec<(char, u32)> {
    frames
        .iter()
        .map(|f| {
            let f = f.frame();
            let c = match (f.kind, f.sequence_header, f.keyframe) {
                (MediaKind::Script, _, _) => 'M',
                (MediaKind::Video, true, _) => 'V',
                (MediaKind::Audio, true, _) => 'A',
                (MediaKind::Video, false, true) => 'K',
                (MediaKind::Video, false, false) => 'P',
                (MediaKind::Audio, false, _) => 'a',
            };
            (c, f.timestamp)
        })
        .collect()
}

/// Pushes headers then `secs` seconds of 25 fps video (keyframe every `gop` frames) and 40 ms audio.
pub fn push_av(publisher: &mut Publisher, start_ms: u32, frames: u32, gop: u32) {
    for i in 0..frames {
        let ts = start_ms + i * 40;
        publisher.push(video(ts, i % gop == 0, 1000));
        publisher.push(audio(ts, 100));
    }
}
