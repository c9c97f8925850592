//! The publisher against a small RTMP server on `rtmp::ServerSession` over real sockets: reconnects with headers
//! sent again, refusals, in-band messages, pause, a server that stops reading.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use client::pusher::{
    MachineConfig, PublishOptions, Publisher, PushEnd, PusherEvent, Source, MESSAGE_SEI_UUID,
};
use flv::avc::AvcDecoderConfig;
use flv::{encode_header, encode_tag};
use rtmp::{MediaKind, ServerEvent, ServerSession, SessionConfig};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::time::timeout;

/// What the test server does with each connection (the last entry repeats).
#[derive(Debug, Clone, Copy)]
enum Behavior {
    Accept,
    Refuse(&'static str),
    /// Close the connection after this many media messages (70 make a second of the fixture).
    CloseAfter(usize),
    /// Accept, then never read again.
    StopReading,
}

/// A media message the server received, with the number of the connection it came on.
#[derive(Debug, Clone)]
struct Received {
    conn: usize,
    kind: MediaKind,
    payload: Bytes,
}

async fn server(
    behaviors: Vec<Behavior>,
    small_buffer: bool,
) -> (String, mpsc::UnboundedReceiver<Received>) {
    let socket = TcpSocket::new_v4().unwrap();
    if small_buffer {
        socket.set_recv_buffer_size(4096).unwrap();
    }
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener: TcpListener = socket.listen(16).unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let count = AtomicUsize::new(0);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let n = count.fetch_add(1, Ordering::Relaxed);
            let behavior = behaviors[n.min(behaviors.len() - 1)];
            tokio::spawn(connection(stream, n, behavior, tx.clone()));
        }
    });
    (format!("rtmp://{addr}/live/s?txSecret=x"), rx)
}

async fn connection(
    mut stream: TcpStream,
    n: usize,
    behavior: Behavior,
    tx: mpsc::UnboundedSender<Received>,
) {
    let mut session = ServerSession::new(SessionConfig::default(), std::time::Instant::now());
    let mut buf = vec![0u8; 64 * 1024];
    let mut media = 0;
    loop {
        if let Some(out) = session.take_transmit() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
        }
        if media > 0 && matches!(behavior, Behavior::StopReading) {
            // Hold the socket open without reading: the publisher's bytes pile up.
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        if stream.readable().await.is_err() {
            return;
        }
        let got = match stream.try_read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return,
        };
        if session
            .handle_input(&buf[..got], std::time::Instant::now())
            .is_err()
        {
            return;
        }
        while let Some(event) = session.poll_output() {
            match event {
                ServerEvent::Connect { .. } => session.accept_connect(),
                ServerEvent::Publish {
                    stream_id, query, ..
                } => {
                    assert_eq!(
                        query.as_deref(),
                        Some("txSecret=x"),
                        "the query rides on the stream name"
                    );
                    match behavior {
                        Behavior::Refuse(why) => {
                            session.reject_publish(stream_id, "NetStream.Publish.Unauthorized", why)
                        }
                        _ => session.accept_publish(stream_id),
                    }
                }
                ServerEvent::Media { kind, payload, .. } => {
                    media += 1;
                    let _ = tx.send(Received {
                        conn: n,
                        kind,
                        payload,
                    });
                    if matches!(behavior, Behavior::CloseAfter(limit) if media >= limit) {
                        return;
                    }
                }
                _ => {}
            }
        }
    }
}

/// A 2-second FLV file: metadata, H.264 and AAC headers, 25 fps video (keyframe each second) with `video_bytes`
/// per frame, and AAC frames every 23 ms.
fn fixture(name: &str, video_bytes: usize) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("pusher-{name}.flv"));
    let avcc = AvcDecoderConfig {
        profile: 66,
        compatibility: 0xc0,
        level: 30,
        nalu_length_size: 4,
        sps: vec![Bytes::from_static(&[0x67, 0x42, 0xc0, 0x1e, 0xd9])],
        pps: vec![Bytes::from_static(&[0x68, 0xce, 0x3c, 0x80])],
    }
    .encode();
    let mut f = BytesMut::from(&encode_header(true, true)[..]);
    encode_tag(
        &mut f,
        MediaKind::Script,
        0,
        b"\x02\x00\x0aonMetaData\x08\0\0\0\0\0\0\x09",
    );
    let mut header = vec![0x17, 0, 0, 0, 0];
    header.extend_from_slice(&avcc);
    encode_tag(&mut f, MediaKind::Video, 0, &header);
    encode_tag(&mut f, MediaKind::Audio, 0, &[0xaf, 0x00, 0x12, 0x10]);
    let mut audio_at = 0;
    for i in 0..50u32 {
        let ts = i * 40;
        while audio_at <= ts {
            encode_tag(
                &mut f,
                MediaKind::Audio,
                audio_at,
                &[0xaf, 0x01, 0x21, 0x10, 0x04],
            );
            audio_at += 23;
        }
        let key = i % 25 == 0;
        let mut frame = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0];
        frame.extend_from_slice(&(video_bytes as u32 + 1).to_be_bytes());
        frame.push(if key { 0x65 } else { 0x41 });
        frame.resize(frame.len() + video_bytes, 0xab);
        encode_tag(&mut f, MediaKind::Video, ts, &frame);
    }
    std::fs::write(&path, &f).unwrap();
    path
}

fn quick(retries: u32) -> PublishOptions {
    PublishOptions {
        machine: MachineConfig {
            max_retries: retries,
            retry_interval: Duration::from_millis(100),
            ..MachineConfig::default()
        },
        net_status_interval: Duration::from_millis(250),
        ..PublishOptions::default()
    }
}

/// Reads events until a status with `code`; returns the status codes seen on the way, that one included.
async fn until_code(events: &mut mpsc::Receiver<PusherEvent>, code: i32) -> Vec<(i32, String)> {
    let mut seen = Vec::new();
    let wait = async {
        while let Some(e) = events.recv().await {
            if let PusherEvent::Status(s) = e {
                let done = s.code == code;
                seen.push((s.code, s.message));
                if done {
                    return;
                }
            }
        }
    };
    if timeout(Duration::from_secs(20), wait).await.is_err() {
        panic!("no {code} within 20 s; seen {seen:?}");
    }
    seen
}

fn codes(seen: &[(i32, String)]) -> Vec<i32> {
    seen.iter().map(|s| s.0).collect()
}

async fn next_media(rx: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("media within 10 s")
        .expect("the server is running")
}

#[tokio::test]
async fn reconnects_and_sends_the_headers_again() {
    let (url, mut media) = server(vec![Behavior::CloseAfter(150), Behavior::Accept], false).await;
    let (handle, mut events) =
        Publisher::start(&url, Source::File(fixture("reconnect", 2000)), quick(3)).unwrap();
    let seen = until_code(&mut events, 1002).await;
    let seen2 = until_code(&mut events, 1002).await;
    assert_eq!(codes(&seen), [1001, 1002]);
    assert_eq!(codes(&seen2), [3004, 1102, 1001, 1002], "{seen2:?}");
    for conn in 0..2 {
        let mut first = Vec::new();
        while first.len() < 3 {
            let m = next_media(&mut media).await;
            if m.conn == conn {
                first.push(m);
            }
        }
        let kinds: Vec<MediaKind> = first.iter().map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            [MediaKind::Script, MediaKind::Video, MediaKind::Audio],
            "connection {conn}"
        );
        assert!(
            first[0].payload.starts_with(b"\x02\x00\x0aonMetaData"),
            "metadata first"
        );
        assert_eq!(
            first[1].payload[..2],
            [0x17, 0x00],
            "the AVC sequence header"
        );
        let first_video = loop {
            let m = next_media(&mut media).await;
            assert_eq!(m.conn, conn, "video before connection {conn} ended");
            if m.kind == MediaKind::Video {
                break m;
            }
        };
        assert_eq!(
            first_video.payload[0], 0x17,
            "video starts at a keyframe on connection {conn}"
        );
    }
    handle.stop();
    loop {
        match timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap()
        {
            Some(PusherEvent::Ended(end)) => break assert_eq!(end, PushEnd::Stopped),
            Some(_) => {}
            None => panic!("no Ended event"),
        }
    }
}

#[tokio::test]
async fn a_refusal_carries_the_servers_description() {
    let (url, _media) = server(
        vec![Behavior::Refuse("signature_bad: wrong txSecret")],
        false,
    )
    .await;
    let (_handle, mut events) =
        Publisher::start(&url, Source::File(fixture("refuse", 100)), quick(0)).unwrap();
    let seen = until_code(&mut events, -1307).await;
    assert_eq!(codes(&seen), [1001, 3004, -1307]);
    assert_eq!(seen[1].1, "signature_bad: wrong txSecret");
    let mut last = None;
    while let Some(e) = events.recv().await {
        last = Some(e);
    }
    assert_eq!(last, Some(PusherEvent::Ended(PushEnd::GaveUp)));
}

#[tokio::test]
async fn a_message_rides_in_the_next_video_frame() {
    let (url, mut media) = server(vec![Behavior::Accept], false).await;
    let (handle, mut events) =
        Publisher::start(&url, Source::File(fixture("message", 500)), quick(0)).unwrap();
    until_code(&mut events, 1002).await;
    handle.send_message("hello mplive").unwrap();
    let found = timeout(Duration::from_secs(10), async {
        loop {
            let m = next_media(&mut media).await;
            if m.kind != MediaKind::Video || m.payload[1] != 1 {
                continue;
            }
            let sei = flv::sei::extract_sei(&m.payload[5..], 4).unwrap();
            if let Some(msg) = sei.iter().find(|s| s.uuid == Some(MESSAGE_SEI_UUID)) {
                break msg.data.clone();
            }
        }
    })
    .await
    .expect("a video frame with the message");
    assert_eq!(&found[..], b"hello mplive");
    let too_long = "x".repeat(flv::sei::MAX_SEI_MESSAGE + 1);
    assert!(handle
        .send_message(&too_long)
        .unwrap_err()
        .to_string()
        .contains("longer"));
}

#[tokio::test]
async fn pause_sends_metadata_only_and_resume_starts_at_a_keyframe() {
    let (url, mut media) = server(vec![Behavior::Accept], false).await;
    let opts = PublishOptions {
        paused_keepalive: Duration::from_millis(200),
        ..quick(0)
    };
    let (handle, mut events) =
        Publisher::start(&url, Source::File(fixture("pause", 500)), opts).unwrap();
    until_code(&mut events, 1002).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    handle.pause();
    // What was already on its way arrives in the first moments.
    tokio::time::sleep(Duration::from_millis(200)).await;
    while media.try_recv().is_ok() {}
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut paused = Vec::new();
    while let Ok(m) = media.try_recv() {
        paused.push(m.kind);
    }
    assert!(
        paused.iter().all(|k| *k == MediaKind::Script),
        "only metadata while paused: {paused:?}"
    );
    assert!(
        paused.len() >= 3,
        "metadata every 200 ms keeps the connection: {paused:?}"
    );
    handle.resume();
    let video = loop {
        let m = next_media(&mut media).await;
        if m.kind == MediaKind::Video {
            break m;
        }
    };
    assert_eq!(video.payload[0], 0x17, "video resumes at a keyframe");
    assert_eq!(video.conn, 0, "the same connection throughout");
    while let Ok(e) = events.try_recv() {
        if let PusherEvent::Status(s) = e {
            panic!("no status while pausing: {s:?}");
        }
    }
}

#[tokio::test]
async fn a_server_that_stops_reading_gives_1101_then_3005() {
    let (url, _media) = server(vec![Behavior::StopReading], true).await;
    let opts = PublishOptions {
        congestion_threshold: Duration::from_millis(500),
        max_queue_delay: Duration::from_secs(1),
        write_timeout: Duration::from_secs(3),
        ..quick(0)
    };
    let (_handle, mut events) =
        Publisher::start(&url, Source::File(fixture("stall", 60_000)), opts).unwrap();
    let mut busy = false;
    let mut worst = 0u8;
    let mut cached = 0u32;
    let mut codes = Vec::new();
    let done = timeout(Duration::from_secs(60), async {
        while let Some(e) = events.recv().await {
            match e {
                PusherEvent::Status(s) => {
                    busy |= s.code == 1101;
                    codes.push(s.code);
                    if s.code == -1307 {
                        return;
                    }
                }
                PusherEvent::NetStatus(n) => {
                    worst = worst.max(n.net_quality_level);
                    cached = cached.max(n.video_cache + n.audio_cache);
                }
                _ => {}
            }
        }
    })
    .await;
    assert!(done.is_ok(), "no -1307 within 60 s: {codes:?}");
    assert!(busy, "1101 while the queue backs up: {codes:?}");
    assert_eq!(codes.last(), Some(&-1307));
    assert!(
        codes.contains(&3005),
        "a socket that takes nothing is a write failure: {codes:?}"
    );
    assert!(
        cached > 0 && worst >= 4,
        "net status shows the queue: cache {cached}, quality {worst}"
    );
}
