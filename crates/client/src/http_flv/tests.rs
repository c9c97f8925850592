use bytes::BytesMut;
use flv::MediaKind;
use proptest::prelude::*;

use super::*;

/// An FLV body: the file header and three tags.
fn flv_body() -> Vec<u8> {
    let mut out = BytesMut::new();
    out.extend_from_slice(&flv::encode_header(true, true));
    flv::encode_tag(&mut out, MediaKind::Script, 0, b"\x02\x00\x0aonMetaData");
    flv::encode_tag(&mut out, MediaKind::Video, 0, &[0x17, 1, 0, 0, 0, 9, 9]);
    flv::encode_tag(&mut out, MediaKind::Audio, 23, &[0xaf, 1, 5, 5]);
    out.to_vec()
}

fn chunked(body: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for c in body.chunks(size) {
        out.extend_from_slice(format!("{:x};x=y\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Feeds `wire` in pieces of `piece` bytes; returns the events (tags as their type and timestamp).
fn read(wire: &[u8], piece: usize, eof: bool) -> Result<Vec<String>, HttpFlvError> {
    let mut r = HttpFlvReader::new(1 << 20);
    let mut seen = Vec::new();
    let mut drain = |r: &mut HttpFlvReader| {
        while let Some(e) = r.poll_output() {
            seen.push(match e {
                Event::Playing(h) => format!("playing {:?}", h.framing),
                Event::Refused { head, excerpt } => format!("refused {} {excerpt}", head.status),
                Event::Tag(t) => format!("{:?}@{}", t.tag_type, t.timestamp),
                Event::Ended => "ended".into(),
            });
        }
    };
    for part in wire.chunks(piece) {
        r.handle_input(part)?;
        drain(&mut r);
    }
    if eof {
        r.handle_eof()?;
        drain(&mut r);
    }
    Ok(seen)
}

const TAGS: [&str; 3] = ["Script@0", "Video@0", "Audio@23"];

#[test]
fn a_close_delimited_body_in_any_split_ends_at_eof() {
    let mut wire = b"HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\n\r\n".to_vec();
    wire.extend_from_slice(&flv_body());
    for piece in 1..=wire.len() {
        let seen = read(&wire, piece, true).unwrap();
        assert_eq!(seen[0], "playing Close", "piece {piece}");
        assert_eq!(seen[1..4], TAGS, "piece {piece}");
        assert_eq!(seen[4..], ["ended"], "piece {piece}");
    }
}

#[test]
fn a_chunked_body_in_any_split_ends_at_its_last_chunk() {
    for size in [1, 7, 1000] {
        let mut wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        wire.extend_from_slice(&chunked(&flv_body(), size));
        for piece in 1..=wire.len() {
            let seen = read(&wire, piece, false).unwrap();
            assert_eq!(seen[0], "playing Chunked");
            assert_eq!(seen[1..4], TAGS, "chunks of {size}, piece {piece}");
            assert_eq!(seen[4..], ["ended"], "chunks of {size}, piece {piece}");
        }
    }
}

#[test]
fn a_content_length_body_ends_at_its_length() {
    let body = flv_body();
    let mut wire =
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    wire.extend_from_slice(&body);
    wire.extend_from_slice(b"garbage after the body");
    let seen = read(&wire, 5, false).unwrap();
    assert_eq!(seen.last().map(String::as_str), Some("ended"));
    assert_eq!(seen.len(), 5);
}

#[test]
fn a_refusal_quotes_the_body_and_ends_the_reading() {
    let wire = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 20\r\n\r\n  bad signature\n  ";
    let seen = read(wire, wire.len(), true).unwrap();
    assert_eq!(seen, ["refused 403 bad signature"]);
    let mut r = HttpFlvReader::new(100);
    r.handle_input(b"HTTP/1.0 404 Not Found\r\n\r\n").unwrap();
    assert!(!r.is_playing());
    r.handle_input(b"not FLV at all").unwrap();
    let Some(Event::Refused { head, excerpt }) = r.poll_output() else {
        panic!("no refusal");
    };
    assert_eq!(
        (head.status, head.status_line.as_str()),
        (404, "HTTP/1.0 404 Not Found")
    );
    assert_eq!(excerpt, "");
    assert_eq!(r.poll_output(), None);
}

#[test]
fn cuts_and_bad_input_are_errors_that_stay() {
    let cut = |wire: &[u8]| read(wire, 3, true).unwrap_err();
    assert_eq!(cut(b"HTTP/1.1 200 OK\r\n"), HttpFlvError::NoResponse);
    assert_eq!(
        cut(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nFLV"),
        HttpFlvError::CutShort { left: 97 }
    );
    assert_eq!(
        cut(b"HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n3\r\nFLV"),
        HttpFlvError::CutInChunk
    );
    let e = read(b"SSH-2.0-x\r\n\r\n", 100, false).unwrap_err();
    assert!(e.to_string().contains("not an HTTP/1 response"), "{e}");
    let e = read(&[b'x'; MAX_HEAD + 10], 4096, false).unwrap_err();
    assert_eq!(e, HttpFlvError::HeadTooLarge { max: MAX_HEAD });
    let e = read(b"HTTP/1.1 200 OK\r\n\r\nFLX\x01", 100, false).unwrap_err();
    assert!(e.to_string().starts_with("bad FLV data"), "{e}");
    let e = read(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        100,
        false,
    )
    .unwrap_err();
    assert!(matches!(e, HttpFlvError::BadChunk(_)), "{e}");

    let mut r = HttpFlvReader::new(100);
    assert!(r.handle_input(b"HTTP/1.1 200 OK\r\n\r\nFLX").is_err());
    assert!(r.is_playing(), "the head said 200");
    assert!(r.handle_input(b"more").is_err(), "an error stays");
    assert!(r.handle_eof().is_err());
}

#[test]
fn request_names_target_host_and_agent() {
    let url = crate::url::HttpUrl::parse("http://[::1]:8080/live/s.flv?a=1").unwrap();
    assert_eq!(
        request(&url, "test-agent"),
        "GET /live/s.flv?a=1 HTTP/1.1\r\nHost: [::1]:8080\r\nUser-Agent: test-agent\r\nAccept: */*\r\n\
         Connection: close\r\n\r\n"
    );
}

proptest! {
    #[test]
    fn never_panics(head in prop::sample::select(vec![
            &b"HTTP/1.1 200 OK\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n",
            b"",
        ]),
        body in prop::collection::vec(any::<u8>(), 0..300),
        piece in 1usize..50,
    ) {
        let mut wire = head.to_vec();
        wire.extend_from_slice(b"FLV\x01\x05\0\0\0\x09\0\0\0\0");
        wire.extend_from_slice(&body);
        let mut r = HttpFlvReader::new(64);
        for part in wire.chunks(piece) {
            let _ = r.handle_input(part);
            while r.poll_output().is_some() {}
        }
        let _ = r.handle_eof();
        while r.poll_output().is_some() {}
    }
}
