//! A room member's client for tests: a blocking WebSocket to `/rooms/v1/ws`, signed joins, session keys.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use control::now_unix;
use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

use super::Server;

/// A blocking WebSocket client.
pub struct Ws(pub WebSocket<TcpStream>);

impl Ws {
    pub fn connect(server: &Server) -> Ws {
        let tcp = TcpStream::connect(&server.http).unwrap();
        let url = format!("ws://{}/rooms/v1/ws", server.http);
        // The handshake without a read timeout: a blocking call is restarted after a signal (SIGCHLD of another
        // test's ffmpeg), one with SO_RCVTIMEO is not.
        let (ws, _) = tungstenite::client(url.as_str(), tcp).expect("WebSocket handshake");
        ws.get_ref()
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Ws(ws)
    }

    pub fn send(&mut self, v: Value) {
        self.0.send(Message::text(v.to_string())).unwrap();
    }

    /// The next message within `limit`; `Err` with the close frame's code when the server closed.
    pub fn next(&mut self, limit: Duration) -> Option<Result<Value, u16>> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            match self.0.read() {
                Ok(Message::Text(t)) => return Some(Ok(serde_json::from_str(t.as_str()).unwrap())),
                Ok(Message::Close(frame)) => {
                    return Some(Err(frame.map_or(1005, |f| u16::from(f.code))))
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        // Interrupted: a signal (SIGCHLD of another test's ffmpeg) hit the blocking read.
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    eprintln!("WebSocket read error: {e:?}");
                    return Some(Err(1006));
                }
            }
        }
        None
    }

    /// The next message of type `kind` (others are skipped), within 10 s.
    pub fn expect(&mut self, kind: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match self.next(Duration::from_millis(200)) {
                Some(Ok(v)) if v["type"] == kind => return v,
                Some(Ok(_)) | None => {}
                Some(Err(code)) => panic!("closed ({code}) while waiting for {kind}"),
            }
        }
        panic!("no {kind} within 10 s")
    }

    /// The next `roomEvent` with this code.
    pub fn expect_event(&mut self, code: u64) -> Value {
        loop {
            let v = self.expect("roomEvent");
            if v["code"] == code {
                return serde_json::from_str(v["message"].as_str().unwrap()).unwrap();
            }
        }
    }

    /// Waits for the close; returns its code.
    pub fn expect_close(&mut self) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(Err(code)) = self.next(Duration::from_millis(200)) {
                return code;
            }
        }
        panic!("not closed within 10 s")
    }

    pub fn request(&mut self, v: Value) -> Value {
        self.send(v);
        loop {
            let r = self
                .next(Duration::from_secs(10))
                .expect("a reply")
                .expect("open socket");
            if matches!(
                r["type"].as_str(),
                Some("joined" | "ok" | "exited" | "error" | "heartbeat")
            ) {
                return r;
            }
        }
    }
}

/// Creates the app `name` through `server`'s API (the server's catalog has it at once).
pub fn create_app(server: &Server, name: &str) {
    let (status, body) = server.api(
        "POST",
        "/v1/apps",
        Some(&json!({ "name": name }).to_string()),
    );
    assert!(status == 201 || status == 200, "{status} {body}");
}

/// A session key for `open_id` in `app`, made through `server`'s API.
pub fn session_key_in(server: &Server, app: &str, open_id: &str) -> String {
    let (status, body) = server.api(
        "POST",
        &format!("/v1/apps/{app}/room-sessions"),
        Some(&json!({ "openId": open_id }).to_string()),
    );
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["sessionKey"].as_str().unwrap().to_string()
}

/// A signed join of `open_id` to `group` of `app`.
#[allow(clippy::too_many_arguments)]
pub fn join_msg_in(
    app: &str,
    group: &str,
    open_id: &str,
    key: &str,
    nonce: &str,
    ts: &str,
    room_type: &str,
) -> Value {
    let signature = rooms::sign(
        &rooms::SignedFields {
            app_id: app,
            group_id: group,
            nonce_str: nonce,
            time_stamp: ts,
        },
        key,
    );
    json!({"type":"join","reqId":1,"appId":app,"groupId":group,"openId":open_id,"nonceStr":nonce,
        "timeStamp":ts,"signature":signature,"roomType":room_type,"muteConfig":{"muteMicrophone":false,"muteEarphone":false}})
}

static NONCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A nonce no other join of this process used.
pub fn nonce() -> String {
    format!(
        "n{}x{}",
        std::process::id(),
        NONCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// A member of `group` in `app` through `server`: creates its key, connects and joins; the socket and the `joined`
/// reply.
pub fn member_in(
    server: &Server,
    app: &str,
    group: &str,
    open_id: &str,
    room_type: &str,
) -> (Ws, Value) {
    let key = session_key_in(server, app, open_id);
    let mut ws = Ws::connect(server);
    let r = ws.request(join_msg_in(
        app,
        group,
        open_id,
        &key,
        &nonce(),
        &now_unix().to_string(),
        room_type,
    ));
    assert_eq!(r["type"], "joined", "{r}");
    (ws, r)
}
