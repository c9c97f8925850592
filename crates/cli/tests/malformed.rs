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

    // A message length beyond its type's bound (the largest the 24-bit field can say).
    let mut s = handshake(&server.rtmp);
    s.write_all(&chunk(3, 18, 0xff_ffff, 1, &[2; 100])).unwrap();
    expected.push((
        port(&s),
        "of 16777215 bytes on chunk stream 3 exceeds the limit of 65536 bytes ([rtmp] max_script_message_size)"
            .into(),
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
    expected.push((
        port(&s),
        "message type 99 on chunk stream 3 is not an RTMP message type".into(),
    ));
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

/// Sends one AMF0 command (fmt 0 header on chunk stream 3, split into 128-byte chunks).
fn send_command(s: &mut TcpStream, stream_id: u32, values: &[rtmp::amf0::Value]) {
    let mut body = rtmp::bytes::BytesMut::new();
    for v in values {
        rtmp::amf0::encode(v, &mut body);
    }
    let mut wire = rtmp::bytes::BytesMut::new();
    rtmp::encode_message(&mut wire, 3, stream_id, 20, 0, &body, 128);
    s.write_all(&wire).unwrap();
}

/// Everything the server sends until it closes the socket (within `limit`), and how long that took.
fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut all = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
        assert!(
            started.elapsed() < limit,
            "the server did not close within {limit:?}"
        );
    }
    (all, started.elapsed())
}

/// The server's command messages in `wire` (its chunk stream after the handshake), as AMF0 values.
fn server_commands(wire: &[u8]) -> Vec<Vec<rtmp::amf0::Value>> {
    let mut decoder = rtmp::ChunkDecoder::new(1 << 24, 64);
    let mut buf = rtmp::bytes::BytesMut::from(wire);
    let mut commands = Vec::new();
    while let Ok(Some(m)) = decoder.decode(&mut buf) {
        if m.type_id == 1 {
            let size = u32::from_be_bytes(m.payload[..4].try_into().unwrap());
            decoder.set_chunk_size(size);
        }
        if m.type_id == 20 {
            commands.push(rtmp::amf0::decode_all(&m.payload).unwrap());
        }
    }
    commands
}

/// The `code` and `description` of the info object of each command.
fn statuses(commands: &[Vec<rtmp::amf0::Value>]) -> Vec<(String, String)> {
    commands
        .iter()
        .filter_map(|c| c.get(3))
        .map(|info| {
            let text = |k: &str| {
                info.get(k)
                    .and_then(rtmp::amf0::Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            (text("code"), text("description"))
        })
        .collect()
}

/// Hostile headers are judged at the header, so each connection is closed at once, not after a timeout: media
/// announced by a connection that never published, a 3-byte chunk stream id header followed by garbage (an
/// undefined message type), and connect or publish strings over `[rtmp] max_field_bytes` (between it and the
/// 64 KiB command bound), which are answered naming the field first.
#[test]
fn hostile_headers_and_fields_are_refused_at_once() {
    use rtmp::amf0::Value;
    let server = Server::start("");
    let port = |s: &TcpStream| s.local_addr().unwrap().port();
    let at_once = Duration::from_millis(900);

    // A 4 MB video message announced before publish (a 100-byte taste of it sent).
    let mut s = handshake(&server.rtmp);
    s.write_all(&chunk(6, 9, 4_000_000, 1, &[0x17; 100]))
        .unwrap();
    let p = port(&s);
    let (_, took) = read_until_closed(&mut s, Duration::from_secs(8));
    assert!(
        took < at_once,
        "unpublished 4 MB video closed after {took:?}"
    );
    let line = close_line(&server, p);
    assert!(
        line.contains("media message (type 9, 4000000 bytes) on chunk stream 6 before publish"),
        "{line}"
    );

    // The largest chunk stream id form (3-byte basic header), then garbage: type 0x77 is not RTMP, and its
    // 61 440-byte length is under every bound, so only the type check refuses it.
    let mut s = handshake(&server.rtmp);
    s.write_all(&[
        0x01, 0xff, 0xff, 0x12, 0x34, 0x56, 0x00, 0xf0, 0x00, 0x77, 0xde, 0xad, 0xbe, 0xef, 0x55,
    ])
    .unwrap();
    let p = port(&s);
    let (_, took) = read_until_closed(&mut s, Duration::from_secs(8));
    assert!(
        took < at_once,
        "3-byte csid + garbage closed after {took:?}"
    );
    let line = close_line(&server, p);
    assert!(
        line.contains("message type 119 on chunk stream 65599 is not an RTMP message type"),
        "{line}"
    );

    // connect with a 10 000-byte tcUrl: _error NetConnection.Connect.Rejected naming the field, then closed.
    let mut s = handshake(&server.rtmp);
    let tc_url = format!("rtmp://127.0.0.1/live?{}", "x".repeat(10_000 - 22));
    assert_eq!(tc_url.len(), 10_000);
    let object = Value::object([
        ("app", Value::string("live")),
        ("tcUrl", Value::string(&tc_url)),
    ]);
    send_command(
        &mut s,
        0,
        &[Value::string("connect"), Value::Number(1.0), object],
    );
    let p = port(&s);
    let (wire, took) = read_until_closed(&mut s, Duration::from_secs(8));
    assert!(took < at_once, "a long tcUrl closed after {took:?}");
    let text = "connect field tcUrl is 10000 bytes; the limit is 4096 ([rtmp] max_field_bytes)";
    let commands = server_commands(&wire);
    assert_eq!(
        commands.last().and_then(|c| c.first()),
        Some(&Value::string("_error")),
        "{commands:?}"
    );
    assert_eq!(
        statuses(&commands).last(),
        Some(&(
            "NetConnection.Connect.Rejected".to_string(),
            text.to_string()
        ))
    );
    let line = close_line(&server, p);
    assert!(line.contains(text), "{line}");

    // publish with a 5 000-byte name: an error onStatus naming the field, then closed.
    let mut s = handshake(&server.rtmp);
    let object = Value::object([
        ("app", Value::string("live")),
        ("tcUrl", Value::string("rtmp://127.0.0.1/live")),
    ]);
    send_command(
        &mut s,
        0,
        &[Value::string("connect"), Value::Number(1.0), object],
    );
    send_command(
        &mut s,
        0,
        &[
            Value::string("createStream"),
            Value::Number(2.0),
            Value::Null,
        ],
    );
    let name = format!("cam?txSecret={}", "a".repeat(5000 - 13));
    send_command(
        &mut s,
        1,
        &[
            Value::string("publish"),
            Value::Number(3.0),
            Value::Null,
            Value::string(&name),
            Value::string("live"),
        ],
    );
    let p = port(&s);
    let (wire, took) = read_until_closed(&mut s, Duration::from_secs(8));
    assert!(took < at_once, "a long publish name closed after {took:?}");
    let text = "publish field name is 5000 bytes; the limit is 4096 ([rtmp] max_field_bytes)";
    // (This client did not wait for connect's _result, so the answers may come in either order.)
    let statuses = statuses(&server_commands(&wire));
    assert!(
        statuses.contains(&("NetStream.Publish.BadName".to_string(), text.to_string())),
        "{statuses:?}"
    );
    let line = close_line(&server, p);
    assert!(line.contains(text), "{line}");
}

/// One address holds at most `max_connections_per_address` connections on each listener: over it, an RTMP
/// connection is closed at once and an HTTP one answered 429 naming the setting; closing one frees a place.
/// Refusals are counted in /metrics.
#[test]
fn connections_per_address_are_bounded() {
    let server = Server::start(
        "max_connections_per_address = 3
",
    );
    // RTMP: three connections hold the address's places; the fourth is closed at once.
    let held: Vec<TcpStream> = (0..3).map(|_| handshake(&server.rtmp)).collect();
    let fourth = TcpStream::connect(&server.rtmp).unwrap();
    let took = wait_closed(
        fourth,
        "an RTMP connection over max_connections_per_address",
    );
    assert!(took < Duration::from_secs(1), "closed after {took:?}");
    let mut held = held;
    drop(held.pop());
    let again = wait_for(|| {
        let mut s = TcpStream::connect(&server.rtmp).ok()?;
        s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
        let mut c0c1 = vec![3u8];
        c0c1.resize(1537, 0);
        s.write_all(&c0c1).ok()?;
        let mut s0 = [0u8; 1];
        (s.read(&mut s0).ok()? == 1).then_some(s)
    });
    assert!(again.is_some(), "closing one RTMP connection frees a place");

    // HTTP: three idle connections hold the places; the fourth request is answered 429.
    let idle: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(&server.http).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut s = TcpStream::connect(&server.http).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (answer, took) = read_until_closed(&mut s, Duration::from_secs(5));
    let answer = String::from_utf8_lossy(&answer).to_string();
    assert!(
        answer.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
        "{answer}"
    );
    assert!(
        answer.ends_with(
            "too many connections from 127.0.0.1: max_connections_per_address (3) reached\n"
        ),
        "{answer}"
    );
    assert!(took < Duration::from_secs(1), "answered after {took:?}");
    drop(idle);
    let metrics = wait_for(|| {
        let (status, body) = server.get("/metrics");
        (status == 200).then_some(body)
    })
    .expect("a place is free again once the idle connections close");
    // At least the refusals above (a retry above may have been refused too, before a place was given back).
    for listener in ["rtmp", "http"] {
        let line = format!(
            "mplive_connections_refused_total{{listener=\"{listener}\",reason=\"per_address\"}} "
        );
        let count = metrics
            .lines()
            .find_map(|l| l.strip_prefix(line.as_str()))
            .and_then(|n| n.parse::<u64>().ok());
        assert!(count.is_some_and(|n| n >= 1), "{listener}: {metrics}");
    }
    let log = server.log();
    assert!(
        log.contains("max_connections_per_address (3) reached for 127.0.0.1"),
        "{log}"
    );
    drop((held, again));
}

/// `f` retried every 100 ms for up to 3 s until it gives a value.
fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
