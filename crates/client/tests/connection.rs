//! `client::connection::RtmpConnection` against a small RTMP server on `rtmp::ServerSession` over real sockets:
//! a publish that is accepted and carries media, one that is refused, a server that never answers, a port
//! nobody listens on.

use std::time::Duration;

use bytes::Bytes;
use client::connection::{connect, ConnectionError, RtmpConnection};
use client::url::RtmpUrl;
use rtmp::{MediaKind, ServerEvent, ServerSession, SessionConfig};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Serves one connection: accepts connect, accepts (or refuses with `refuse`) the publish, and reports each
/// media message as (kind, payload) until the client closes.
async fn serve_one(
    listener: TcpListener,
    refuse: Option<&'static str>,
) -> mpsc::UnboundedReceiver<(MediaKind, Bytes)> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut session = ServerSession::new(SessionConfig::default(), std::time::Instant::now());
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if let Some(out) = session.take_transmit() {
                if stream.write_all(&out).await.is_err() {
                    return;
                }
            }
            if stream.readable().await.is_err() {
                return;
            }
            let n = match stream.try_read(&mut buf) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => return,
            };
            if session
                .handle_input(&buf[..n], std::time::Instant::now())
                .is_err()
            {
                return;
            }
            while let Some(event) = session.poll_output() {
                match event {
                    ServerEvent::Connect { .. } => session.accept_connect(),
                    ServerEvent::Publish { stream_id, .. } => match refuse {
                        Some(why) => {
                            session.reject_publish(stream_id, "NetStream.Publish.BadName", why)
                        }
                        None => session.accept_publish(stream_id),
                    },
                    ServerEvent::Media { kind, payload, .. } => {
                        let _ = tx.send((kind, payload));
                    }
                    _ => {}
                }
            }
        }
    });
    rx
}

/// A connection to `listener` with `publish` asked for.
async fn publishing(listener: &TcpListener) -> RtmpConnection {
    let addr = listener.local_addr().unwrap();
    let url = RtmpUrl::parse(&format!("rtmp://{addr}/live/s?k=v")).unwrap();
    let stream = connect(addr, Instant::now() + Duration::from_secs(5))
        .await
        .unwrap();
    let now = std::time::Instant::now();
    let mut conn = RtmpConnection::start(
        stream,
        &url.app,
        &url.tc_url(),
        SessionConfig::default(),
        now,
    );
    conn.session().publish(&url.stream_name());
    conn
}

#[tokio::test]
async fn a_publish_starts_and_carries_media() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut conn = publishing(&listener).await;
    let mut media = serve_one(listener, None).await;
    conn.until_publishing(Instant::now() + Duration::from_secs(5))
        .await
        .expect("publishing");
    conn.session()
        .send_media(MediaKind::Audio, 0, &[0xaf, 1, 2, 3]);
    conn.flush().await.unwrap();
    let (kind, payload) = media.recv().await.expect("media arrives");
    assert_eq!(
        (kind, &payload[..]),
        (MediaKind::Audio, &[0xaf, 1, 2, 3][..])
    );
    conn.close(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn a_refused_publish_names_the_reason() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut conn = publishing(&listener).await;
    let _media = serve_one(listener, Some("no such stream")).await;
    let e = conn
        .until_publishing(Instant::now() + Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ConnectionError::Rejected {
                what: "publish",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "publish rejected: NetStream.Publish.BadName no such stream"
    );
}

#[tokio::test]
async fn a_silent_server_times_out_and_a_closed_port_fails_to_connect() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut conn = publishing(&listener).await;
    // Accepted by the kernel, never answered.
    let e = conn
        .until_publishing(Instant::now() + Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(
        matches!(e, ConnectionError::Timeout { what: "publishing" }),
        "{e}"
    );

    let addr = listener.local_addr().unwrap();
    drop((conn, listener));
    let e = connect(addr, Instant::now() + Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        e.to_string().starts_with(&format!("connect to {addr}: ")),
        "{e}"
    );
}
