//! The stream lifecycle in process (`server::start`, no binary): every refusal reason maps to the same RTMP code,
//! HTTP status and webhook errcode whichever protocol asked, and a session's end sends its webhook.
//!
//! The RTMP client is the project's own sans-IO `rtmp::ClientSession` over a loopback socket; the HTTP client is a
//! plain request on a socket. Webhooks are read back from the outbox (the app's callback URL points nowhere).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use control::{now_unix, AppPatch};
use rtmp::{ClientEvent, ClientSession, MediaKind, SessionConfig};
use server::{RunningServer, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ADMIN_TOKEN: &str = "lifecycle-test-admin-token";

async fn start(dir: &tempfile::TempDir) -> RunningServer {
    let mut settings = Settings {
        rtmp_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: dir.path().join("data"),
        max_url_ttl_secs: 86_400,
        ..Settings::default()
    };
    settings.admin_token = Some(ADMIN_TOKEN.to_string());
    settings.webhooks.refused_per_address_per_minute = 1000;
    let server = server::start(settings).await.expect("server starts");
    patch(
        &server,
        AppPatch {
            callback_urls: Some(vec!["http://127.0.0.1:9/hook".into()]),
            ..AppPatch::default()
        },
    )
    .await;
    server
}

async fn patch(server: &RunningServer, patch: AppPatch) {
    let store = server.catalog().store();
    store.update_app("live", &patch).await.unwrap();
    server.catalog().reload().await.unwrap();
}

/// What an RTMP client saw: the refusal's (code, description), or `None` when it was accepted.
async fn rtmp(server: &RunningServer, path: &str, publish: bool) -> Option<(String, String)> {
    let mut client = RtmpClient::connect(server.rtmp_addr(), path, publish).await;
    client.outcome().await
}

struct RtmpClient {
    socket: TcpStream,
    session: ClientSession,
}

impl RtmpClient {
    async fn connect(addr: SocketAddr, path: &str, publish: bool) -> RtmpClient {
        let socket = TcpStream::connect(addr).await.unwrap();
        let mut session = ClientSession::new(SessionConfig::default(), Instant::now());
        let (app, name) = path.split_once('/').unwrap();
        session.connect(app, &format!("rtmp://{addr}/{app}"));
        if publish {
            session.publish(name);
        } else {
            session.play(name);
        }
        RtmpClient { socket, session }
    }

    async fn step(&mut self) -> Option<ClientEvent> {
        while let Some(out) = self.session.take_transmit() {
            self.socket.write_all(&out).await.ok()?;
        }
        if let Some(e) = self.session.poll_output() {
            return Some(e);
        }
        let mut buf = vec![0u8; 16 * 1024];
        let n = tokio::time::timeout(Duration::from_secs(10), self.socket.read(&mut buf))
            .await
            .expect("the server answers within 10 s")
            .ok()?;
        if n == 0 {
            return None;
        }
        self.session.handle_input(&buf[..n], Instant::now()).ok()?;
        self.session
            .poll_output()
            .or(Some(ClientEvent::StreamBegin))
    }

    async fn outcome(&mut self) -> Option<(String, String)> {
        loop {
            match self.step().await {
                Some(ClientEvent::PublishRejected { code, description })
                | Some(ClientEvent::PlayRejected { code, description }) => {
                    return Some((code, description))
                }
                Some(ClientEvent::Publishing { .. }) | Some(ClientEvent::Playing { .. }) => {
                    return None
                }
                Some(_) => {}
                None => panic!("the connection closed without an answer"),
            }
        }
    }

    /// Sends a tiny AVC stream (sequence header and keyframes) so the stream is live.
    async fn push_some(&mut self) {
        let header = [
            0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 2,
            0x68, 0xee,
        ];
        self.session.send_media(MediaKind::Video, 0, &header);
        for i in 0..5 {
            self.session.send_media(
                MediaKind::Video,
                i * 40,
                &[0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65],
            );
        }
        while let Some(out) = self.session.take_transmit() {
            self.socket.write_all(&out).await.unwrap();
        }
    }
}

/// (status, body) of a GET on the HTTP listener.
async fn http_get(server: &RunningServer, path: &str) -> (u16, String) {
    let mut socket = TcpStream::connect(server.http_addr()).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The outbox rows of app `live`: (event, errcode).
async fn webhooks(server: &RunningServer) -> Vec<(String, i64)> {
    let app = server.catalog().app("live").unwrap();
    let rows = server
        .catalog()
        .store()
        .webhook_log(Some(&app.id), 1000)
        .await
        .unwrap();
    rows.iter()
        .map(|w| {
            let body: serde_json::Value = serde_json::from_str(&w.body).unwrap();
            (w.event.clone(), body["errcode"].as_i64().unwrap_or(0))
        })
        .collect()
}

async fn wait_for_webhook(server: &RunningServer, event: &str, errcode: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = webhooks(server).await;
        if rows.iter().any(|(e, c)| e == event && *c == errcode) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {event} with errcode {errcode}: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn signed(server: &RunningServer, stream: &str, expiry: u64, play: bool) -> String {
    let app = server.catalog().app("live").unwrap();
    let key = if play { &app.play_key } else { &app.push_key };
    format!(
        "{stream}?{}",
        control::txsecret::sign_query(key, stream, expiry)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_publish_refusal_has_its_rtmp_code_and_webhook_errcode() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir).await;
    let bad_time = format!(
        "s5?txSecret={}&txTime=1{:08x}",
        "0".repeat(32),
        now_unix() + 60
    );
    let cases: Vec<(String, &str, &str, Option<i64>)> = vec![
        (
            "live/a b".into(),
            "NetStream.Publish.BadName",
            "bad_name",
            None,
        ),
        (
            "live/s1".into(),
            "NetStream.Publish.Unauthorized",
            "signature_missing",
            Some(1001),
        ),
        (
            format!("live/{bad_time}"),
            "NetStream.Publish.Unauthorized",
            "signature_bad",
            Some(1002),
        ),
        (
            format!("live/{}", signed(&server, "s3", now_unix() - 10, false)),
            "NetStream.Publish.Unauthorized",
            "signature_expired",
            Some(1003),
        ),
        (
            format!(
                "live/{}",
                signed(&server, "s4", now_unix() + 2 * 86_400, false)
            ),
            "NetStream.Publish.Unauthorized",
            "signature_ttl_too_long",
            Some(1017),
        ),
        (
            "nope/s".into(),
            "NetStream.Publish.Rejected",
            "unknown_app",
            None,
        ),
    ];
    for (path, code, reason, errcode) in &cases {
        let (got_code, description) = rtmp(&server, path, true).await.expect("refused");
        assert_eq!(&got_code, code, "{path}");
        assert!(description.starts_with(reason), "{path}: {description}");
        if let Some(errcode) = errcode {
            wait_for_webhook(&server, "push_refused", *errcode).await;
        }
    }
    // A bad name is stored nowhere: exactly one push_refused per case with an errcode.
    let refused = webhooks(&server)
        .await
        .iter()
        .filter(|(e, _)| e == "push_refused")
        .count();
    assert_eq!(refused, 4);

    // Forbidden, then busy: the lifecycle's own checks after the signature.
    let app = server.catalog().app("live").unwrap();
    server
        .catalog()
        .store()
        .forbid(&app.id, "f1", control::now_ms() + 60_000, Some("test"))
        .await
        .unwrap();
    server.catalog().reload().await.unwrap();
    let (code, description) = rtmp(
        &server,
        &format!("live/{}", signed(&server, "f1", now_unix() + 60, false)),
        true,
    )
    .await
    .expect("refused");
    assert_eq!(code, "NetStream.Publish.Rejected");
    assert!(description.starts_with("forbidden"), "{description}");
    wait_for_webhook(&server, "push_refused", 1004).await;

    let path = format!("live/{}", signed(&server, "busy", now_unix() + 60, false));
    let mut first = RtmpClient::connect(server.rtmp_addr(), &path, true).await;
    assert_eq!(
        first.outcome().await,
        None,
        "the first publisher is accepted"
    );
    first.push_some().await;
    wait_for_webhook(&server, "push_start", 0).await;
    let (code, description) = rtmp(&server, &path, true)
        .await
        .expect("the second is refused");
    assert_eq!(code, "NetStream.Publish.BadName");
    assert!(description.starts_with("stream_busy"), "{description}");
    wait_for_webhook(&server, "push_refused", 1006).await;

    // Dropping the session (the publisher's connection closes) sends push_end.
    drop(first);
    wait_for_webhook(&server, "push_end", 0).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn play_refusals_are_the_same_on_rtmp_and_http_flv() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir).await;
    patch(
        &server,
        AppPatch {
            play_auth: Some(true),
            push_auth: Some(false),
            max_players: Some(Some(1)),
            ..AppPatch::default()
        },
    )
    .await;
    let good = signed(&server, "p1", now_unix() + 60, true);
    let cases: Vec<(String, &str, u16)> = vec![
        ("live/a b".into(), "bad_name", 400),
        ("nope/p1".into(), "unknown_app", 404),
        ("live/p1".into(), "signature_missing", 401),
        (
            format!(
                "live/p1?txSecret={}&txTime={:08x}",
                "0".repeat(32),
                now_unix() + 60
            ),
            "signature_bad",
            403,
        ),
        (format!("live/{good}"), "not_found", 404),
    ];
    for (path, reason, status) in &cases {
        let (code, description) = rtmp(&server, path, false).await.expect("refused");
        let expected = if *reason == "not_found" {
            "NetStream.Play.StreamNotFound"
        } else {
            "NetStream.Play.Failed"
        };
        assert_eq!(code, expected, "{path}");
        assert!(description.starts_with(reason), "{path}: {description}");
        let flv = match path.split_once('?') {
            Some((p, q)) => format!("/{p}.flv?{q}"),
            None => format!("/{path}.flv").replace(' ', "%20"),
        };
        let (got, body) = http_get(&server, &flv).await;
        assert_eq!(got, *status, "{flv}: {body}");
        assert!(body.starts_with(reason), "{flv}: {body}");
    }

    // A live stream: the first player is admitted (play_start), the second is over max_players on either protocol.
    let mut publisher = RtmpClient::connect(server.rtmp_addr(), "live/p1", true).await;
    assert_eq!(publisher.outcome().await, None);
    publisher.push_some().await;
    let mut player = RtmpClient::connect(server.rtmp_addr(), &format!("live/{good}"), false).await;
    assert_eq!(player.outcome().await, None, "the first player is admitted");
    wait_for_webhook(&server, "play_start", 0).await;
    let (code, description) = rtmp(&server, &format!("live/{good}"), false)
        .await
        .expect("refused");
    assert_eq!(code, "NetStream.Play.Failed");
    assert!(description.starts_with("too_many_players"), "{description}");
    let (status, body) = http_get(
        &server,
        &format!("/live/{}", good.replacen('?', ".flv?", 1)),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("too_many_players"), "{body}");
    // Dropping the play session sends play_stop.
    drop(player);
    wait_for_webhook(&server, "play_stop", 0).await;
    server.shutdown().await;
}

/// The readers that follow a publish (the HLS segmenter with `hls.always`, the app's recording) are attached by
/// the lifecycle when the publish starts, go when the stream ends, and are attached afresh to the next publish of
/// the same name; the session's end sends `push_end`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_follow_each_publish() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings {
        rtmp_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: dir.path().join("data"),
        ..Settings::default()
    };
    settings.admin_token = Some(ADMIN_TOKEN.to_string());
    settings.hls.always = true;
    settings.hub.republish_grace = Duration::ZERO;
    let server = server::start(settings).await.expect("server starts");
    patch(
        &server,
        AppPatch {
            push_auth: Some(false),
            record: Some(vec![control::RecordFormat::Flv]),
            callback_urls: Some(vec!["http://127.0.0.1:9/hook".into()]),
            ..AppPatch::default()
        },
    )
    .await;
    let key = media::StreamKey::new("live", "followed");
    for round in 0..2 {
        let mut publisher = RtmpClient::connect(server.rtmp_addr(), "live/followed", true).await;
        assert_eq!(publisher.outcome().await, None, "round {round}");
        publisher.push_some().await;
        let stats = server.registry().get(&key).expect("live");
        // Subscribers that are neither RTMP nor HTTP-FLV players: the segmenter ("hls") and the recorder.
        assert_eq!(stats.players.other, 2, "round {round}: {:?}", stats.players);
        drop(publisher);
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.registry().get(&key).is_some() {
            assert!(
                Instant::now() < deadline,
                "round {round}: the stream did not end"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Both ends, the second stored a moment after its stream ended (a push_end does not wait for its commit).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ends = webhooks(&server)
            .await
            .iter()
            .filter(|(e, _)| e == "push_end")
            .count();
        if ends == 2 {
            break;
        }
        assert!(ends < 2 && Instant::now() < deadline, "{ends} push_end");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.shutdown().await;
}
