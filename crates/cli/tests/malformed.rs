//! Hostile and broken RTMP input over real sockets: each bad connection is closed with a logged reason while the
//! server and every other stream go on.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

/// Performs a plain (simple) handshake as a client and returns the socket.
fn handshake(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut c0c1 = vec![3u8];
    c0c1.extend(std::iter::repeat_n(0u8, 8));
    c0c1.extend((0..1528u32).map(|i| (i * 7 + 3) as u8));
    s.write_all(&c0c1).unwrap();
    let mut s0s1s2 = vec![0u8; 1 + 1536 + 1536];
    s.read_exact(&mut s0s1s2).unwrap();
    assert_eq!(s0s1s2[0], 3);
    s.write_all(&s0s1s2[1..1537]).unwrap();
    s
}

/// A fmt-0 chunk header + payload on `csid` (payload must fit one 128-byte chunk unless `len` lies).
fn chunk(csid: u8, type_id: u8, len: u32, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![csid & 0x3f, 0, 0, 0];
    v.extend_from_slice(&len.to_be_bytes()[1..]);
    v.push(type_id);
    v.extend_from_slice(&stream_id.to_le_bytes());
    v.extend_from_slice(payload);
    v
}

/// Waits until the server closes the socket (read returns 0 or an error). Returns how long it took.
fn wait_closed(mut s: TcpStream, what: &str) -> Duration {
    let t = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return t.elapsed(),
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return t.elapsed(),
        }
        assert!(
            t.elapsed() < Duration::from_secs(8),
            "server did not close the connection after {what}"
        );
    }
}

/// The server's log line about the connection from local port `port`, waited for (at most 5 s).
fn close_line(server: &Server, port: u16) -> String {
    let peer = format!("peer=127.0.0.1:{port} ");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(line) = server.log().lines().rev().find(|l| l.contains(&peer)) {
            return line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no log line for the connection from port {port}:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn bad_connections_are_closed_and_other_streams_go_on() {
    let server = Server::start("[rtmp]\nhandshake_timeout_secs = 1\nmax_message_size = 1048576\n");
    let _push = ffmpeg_push(&fixture_av(), &server.rtmp_url("live/healthy"));
    server.wait_live("live/healthy");
    // (local port of each bad connection, the reason its close line must give)
    let mut expected: Vec<(u16, String)> = Vec::new();
    let port = |s: &TcpStream| s.local_addr().unwrap().port();

    // Truncated handshake then silence: the handshake timeout closes it.
    let mut s = TcpStream::connect(&server.rtmp).unwrap();
    s.write_all(&[3u8; 100]).unwrap();
    expected.push((port(&s), "closed: handshake not completed within".into()));
    let took = wait_closed(s, "a truncated handshake");
    assert!(
        took < Duration::from_secs(4),
        "handshake timeout took {took:?}"
    );

    // Truncated handshake then hang-up.
    let mut s = TcpStream::connect(&server.rtmp).unwrap();
    s.write_all(&[3u8; 700]).unwrap();
    expected.push((port(&s), "peer closed the connection".into()));
    drop(s);

    // Wrong version byte.
    let mut s = TcpStream::connect(&server.rtmp).unwrap();
    s.write_all(&[0x47u8; 1537]).unwrap();
    expected.push((port(&s), "unsupported RTMP version 71".into()));
    wait_closed(s, "a bad version byte");

    // Set Chunk Size 0 and beyond the bound.
    for size in [0u32, 0x7fff_ffff, 1 << 20] {
        let mut s = handshake(&server.rtmp);
        s.write_all(&chunk(2, 1, 4, 0, &size.to_be_bytes()))
            .unwrap();
        expected.push((port(&s), format!("invalid chunk size {size} ")));
        wait_closed(s, &format!("Set Chunk Size {size}"));
    }

    // A message length beyond max_message_size (the largest the 24-bit field can say).
    let mut s = handshake(&server.rtmp);
    s.write_all(&chunk(3, 9, 0xff_ffff, 1, &[0x17; 100]))
        .unwrap();
    expected.push((
        port(&s),
        "16777215 bytes on chunk stream 3 exceeds the limit".into(),
    ));
    wait_closed(s, "a 16 MiB message length");

    // Garbage where AMF0 is expected.
    let mut s = handshake(&server.rtmp);
    let garbage: Vec<u8> = (0..100u32).map(|i| (i * 37 + 11) as u8 | 0x80).collect();
    s.write_all(&chunk(3, 20, garbage.len() as u32, 0, &garbage))
        .unwrap();
    expected.push((port(&s), "malformed command on stream 0: AMF0".into()));
    wait_closed(s, "garbage AMF0");

    // An unknown message type.
    let mut s = handshake(&server.rtmp);
    s.write_all(&chunk(3, 99, 4, 0, &[1, 2, 3, 4])).unwrap();
    expected.push((port(&s), "unknown message type 99".into()));
    wait_closed(s, "an unknown message type");

    // A chunk that continues a chunk stream never started (fmt 3 first).
    let mut s = handshake(&server.rtmp);
    s.write_all(&[0xc5, 1, 2, 3]).unwrap();
    expected.push((port(&s), "without a previous format 0 header".into()));
    wait_closed(s, "a fmt-3 chunk with no previous header");

    // Each connection's own close line names its own reason.
    for (port, reason) in &expected {
        let line = close_line(&server, *port);
        assert!(
            line.contains(reason.as_str()),
            "the connection from port {port} should be closed with {reason:?}: {line}"
        );
    }
    // The healthy stream never noticed.
    let stats = server.wait_live("live/healthy");
    assert_eq!(stats["state"], "live");
    let (out, _) = run_with_timeout(
        std::process::Command::new("ffmpeg").args([
            "-v",
            "error",
            "-xerror",
            "-i",
            &server.rtmp_url("live/healthy"),
            "-t",
            "2",
            "-f",
            "null",
            "-",
        ]),
        Duration::from_secs(20),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn connections_beyond_the_limits_are_refused() {
    let server = Server::start("max_rtmp_connections = 1\nmax_http_connections = 1\n");
    let first = handshake(&server.rtmp);
    let second = TcpStream::connect(&server.rtmp).unwrap();
    wait_closed(second, "an RTMP connection over max_rtmp_connections");
    let http_first = TcpStream::connect(&server.http).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let http_second = TcpStream::connect(&server.http).unwrap();
    wait_closed(http_second, "an HTTP connection over max_http_connections");
    let log = server.log();
    assert!(log.contains("max_rtmp_connections (1) reached"), "{log}");
    assert!(log.contains("max_http_connections (1) reached"), "{log}");
    drop((first, http_first));
}

#[test]
fn slow_or_idle_http_clients_are_closed_after_the_header_timeout() {
    let server = Server::start("http_header_timeout_secs = 1\n");
    // A first request head that never ends.
    let mut slow = TcpStream::connect(&server.http).unwrap();
    slow.write_all(b"GET /v1/streams HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let took = wait_closed(slow, "an unfinished request head");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    // A kept-alive connection that goes quiet after one request.
    let mut idle = TcpStream::connect(&server.http).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let took = wait_closed(idle, "an idle kept-alive connection");
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

/// Sends `bytes` to the HTTP port and returns the answer's status line, read within `limit`.
fn http_answer_within(server: &Server, bytes: &[u8], limit: Duration) -> (String, Duration) {
    let mut s = TcpStream::connect(&server.http).unwrap();
    s.set_read_timeout(Some(limit)).unwrap();
    let started = Instant::now();
    s.write_all(bytes).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&answer).to_string();
    (
        text.lines().next().unwrap_or_default().to_string(),
        started.elapsed(),
    )
}

/// Bytes that cannot be an HTTP request get 400 at once, and a body declared over `max_body_bytes` gets 413 at
/// once, without the server reading it: neither holds the connection until a timeout.
#[test]
fn bad_http_is_answered_at_once() {
    let server = Server::start("http_header_timeout_secs = 10\nmax_body_bytes = 65536\n");
    for garbage in [
        &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
        b"hello there, friend",
        b"GET / SIP/2.0",
    ] {
        let (status, took) = http_answer_within(&server, garbage, Duration::from_secs(5));
        assert!(
            status.starts_with("HTTP/1.1 400"),
            "{garbage:?}: {status:?}"
        );
        assert!(
            took < Duration::from_secs(2),
            "{garbage:?} answered after {took:?}"
        );
    }
    let declared = b"POST /v1/apps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
        Content-Length: 100000000\r\n\r\n{\"name\":";
    let (status, took) = http_answer_within(&server, declared, Duration::from_secs(5));
    assert!(status.starts_with("HTTP/1.1 413"), "{status:?}");
    assert!(took < Duration::from_secs(2), "413 after {took:?}");
    // A real request still works.
    assert_eq!(server.get("/v1/streams").0, 200);
}
