//! The tokio player against a scripted HTTP-FLV server on a local socket: the whole driver (URL, HTTP, FLV
//! demuxing, codec parsing, machine, recording) without a real mplive server.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, BytesMut};
use client::player::{PlayError, PlayOptions, Player, PlayerEvent, Recording};
use flv::sei::build_sei_nalu;
use flv::{encode_header, encode_tag, MediaKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An avcC for 320x240 (SPS and PPS as x264 writes them), NAL length size 4.
fn avcc() -> Vec<u8> {
    let sps: &[u8] = &[
        0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10,
        0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0xa4, 0x80,
    ];
    let pps: &[u8] = &[0x68, 0xcb, 0x83, 0xcb, 0x20];
    let mut v = vec![1, 0x42, 0xc0, 0x0d, 0xff, 0xe1];
    v.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    v.extend_from_slice(sps);
    v.push(1);
    v.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    v.extend_from_slice(pps);
    v
}

/// 1.5 s of 25 fps video (a keyframe every 0.5 s, the first with an SEI carrying its send time) and AAC audio.
fn flv_body() -> BytesMut {
    let mut out = BytesMut::from(&encode_header(true, true)[..]);
    let mut seq = vec![0x17, 0, 0, 0, 0];
    seq.extend_from_slice(&avcc());
    encode_tag(&mut out, MediaKind::Video, 0, &seq);
    encode_tag(&mut out, MediaKind::Audio, 0, &[0xaf, 0, 0x12, 0x10]);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    for i in 0..38u32 {
        let ts = i * 40;
        let key = i % 12 == 0;
        let mut body = BytesMut::from(&[if key { 0x17 } else { 0x27 }, 1, 0, 0, 0][..]);
        if i == 0 {
            let text = format!(r#"{{"sendTime":{now_ms},"text":"hello"}}"#);
            body.put_slice(&build_sei_nalu([9; 16], text.as_bytes()));
        }
        body.put_u32(3);
        body.put_slice(&[if key { 0x65 } else { 0x41 }, 0x88, 0x80]);
        encode_tag(&mut out, MediaKind::Video, ts, &body);
        encode_tag(&mut out, MediaKind::Audio, ts + 20, &[0xaf, 1, 0x21, 0x10]);
    }
    out
}

#[derive(Clone, Copy)]
enum Answer {
    NotFound,
    Flv { chunked: bool },
}

/// Serves one answer per connection, in order, then closes each connection.
async fn serve(answers: Vec<Answer>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for answer in answers {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap();
                assert!(n > 0, "request cut short");
                head.extend_from_slice(&buf[..n]);
            }
            assert!(head.starts_with(b"GET /live/s.flv HTTP/1.1\r\n"));
            let response = match answer {
                Answer::NotFound => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
                Answer::Flv { chunked: false } => {
                    let mut r = b"HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\n\r\n".to_vec();
                    r.extend_from_slice(&flv_body());
                    r
                }
                Answer::Flv { chunked: true } => {
                    let mut r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                    for chunk in flv_body().chunks(1000) {
                        r.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                        r.extend_from_slice(chunk);
                        r.extend_from_slice(b"\r\n");
                    }
                    r.extend_from_slice(b"0\r\n\r\n");
                    r
                }
            };
            s.write_all(&response).await.unwrap();
            let _ = s.shutdown().await;
        }
    });
    addr
}

fn options() -> PlayOptions {
    PlayOptions {
        retry_interval: Duration::from_millis(100),
        ..PlayOptions::default()
    }
}

/// Plays `url` to its end; returns the status codes and the recording.
async fn play_to_end(url: &str) -> (Vec<i32>, Recording) {
    let (player, mut events) = Player::start(url, options()).unwrap();
    let mut codes = Vec::new();
    let collect = async {
        while let Some(e) = events.recv().await {
            if let PlayerEvent::Status(s) = e {
                codes.push(s.code);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), collect)
        .await
        .expect("the play did not end");
    (codes, player.finished().await.unwrap())
}

#[tokio::test]
async fn a_stream_that_appears_plays_then_ends_with_2006() {
    let addr = serve(vec![
        Answer::NotFound,
        Answer::NotFound,
        Answer::Flv { chunked: false },
    ])
    .await;
    let (codes, rec) = play_to_end(&format!("http://{addr}/live/s.flv")).await;
    assert_eq!(codes, [2001, 2007, 2002, 2003, 2004, 2006]);
    assert_eq!(
        (rec.video_frames, rec.keyframes, rec.audio_frames),
        (38, 4, 38)
    );
    assert_eq!((rec.width, rec.height), (Some(320), Some(240)));
    assert_eq!(rec.stalls, 0);
    assert_eq!(rec.sei_count, 1);
    assert!(rec.sei[0].text.contains("hello"));
    let latency = rec.latency.expect("the SEI carries a send time");
    assert!((0..5000).contains(&latency.min_ms), "{latency:?}");
}

#[tokio::test]
async fn a_chunked_response_plays_the_same() {
    let addr = serve(vec![Answer::Flv { chunked: true }]).await;
    let (codes, rec) = play_to_end(&format!("http://{addr}/live/s.flv")).await;
    assert_eq!(codes, [2001, 2002, 2003, 2004, 2006]);
    assert_eq!(rec.video_frames, 38);
}

#[tokio::test]
async fn bad_urls_and_options_are_refused_at_start() {
    let e = Player::start("https://h/live/s.flv", PlayOptions::default()).unwrap_err();
    assert!(matches!(e, PlayError::BadUrl { .. }), "{e}");
    let opts = PlayOptions {
        min_cache: Duration::from_secs(5),
        ..PlayOptions::default()
    };
    let e = Player::start("rtmp://h/live/s", opts).unwrap_err();
    assert!(e.to_string().contains("min_cache"), "{e}");
}

#[test]
fn starting_outside_a_runtime_is_an_error_not_a_panic() {
    let e = Player::start("rtmp://h/live/s", PlayOptions::default()).unwrap_err();
    assert!(matches!(e, PlayError::NoRuntime), "{e}");
}
