//! The Tokio driver of the room machine: one task that owns the WebSocket, the timers and the machine, takes
//! commands from a [`RoomClient`] and hands codes and events to a channel, each stamped with when it happened
//! (a frame's arrival, for latency measurements).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::debug;

use super::machine::{Action, Input, JoinParams, Output, RoomConfig, RoomEvent, RoomMachine};
use crate::status::StatusEvent;
use crate::url::{HttpUrl, UrlError};

/// Settings of a [`RoomClient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomOptions {
    /// The machine's timers.
    pub config: RoomConfig,
    /// How long opening the socket (TCP connect and WebSocket handshake) may take (10 s).
    pub connect_timeout: Duration,
    /// The socket's read buffer (tungstenite's default, 128 KiB; the room bench uses 4 KiB for its thousands
    /// of members).
    pub read_buffer_bytes: usize,
    /// Bytes written frames may gather before a flush (tungstenite's default, 128 KiB; 0 writes each frame
    /// at once).
    pub write_buffer_bytes: usize,
    /// Codes and events the application has not read yet before the client waits for it (256).
    pub updates_queue: usize,
}

impl Default for RoomOptions {
    fn default() -> Self {
        Self {
            config: RoomConfig::default(),
            connect_timeout: Duration::from_secs(10),
            read_buffer_bytes: 128 * 1024,
            write_buffer_bytes: 128 * 1024,
            updates_queue: 256,
        }
    }
}

/// What the client reports: a live-pusher ROOM code or another room event.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// 1018-1022 or the server's 1020 / 1031-1034, with the JSON-as-string message.
    Status(StatusEvent),
    /// Joined, members changed, replies, ...
    Event(RoomEvent),
}

/// One [`Notice`] and when it happened (for a server frame: when it was read).
#[derive(Debug, Clone, PartialEq)]
pub struct RoomUpdate {
    /// When.
    pub at: Instant,
    /// What.
    pub notice: Notice,
}

/// A room member over `/rooms/v1/ws`: the handle to the driver task. Dropping every clone leaves the room (an
/// `exit` when in one) and ends the task.
#[derive(Debug, Clone)]
pub struct RoomClient {
    tx: mpsc::UnboundedSender<Input>,
}

impl RoomClient {
    /// Starts a client of the mplive server at `server` (`http://host:port`, or `ws://host:port`; the
    /// `/rooms/v1/ws` path is added), on the current Tokio runtime. Nothing is sent before
    /// [`join`](Self::join).
    pub fn start(
        server: &str,
        options: RoomOptions,
    ) -> Result<(RoomClient, mpsc::Receiver<RoomUpdate>), UrlError> {
        let url = socket_url(server)?;
        let (tx, commands) = mpsc::unbounded_channel();
        let (updates_tx, updates) = mpsc::channel(options.updates_queue.max(1));
        tokio::spawn(run(url, options, commands, updates_tx));
        Ok((RoomClient { tx }, updates))
    }

    /// Joins with a join the app's backend signed: 1018 when accepted, 1022 (with the reason) when not.
    pub fn join(&self, params: JoinParams) {
        self.input(Input::Join { payload: params });
    }

    /// Leaves the room: 1019.
    pub fn exit(&self) {
        self.input(Input::Exit);
    }

    /// Sends a request (`updateMuteConfig`, `subscribeVideoMembers`, `setEnable1v1Chat`) with its fields; the
    /// answer comes as [`RoomEvent::Reply`].
    pub fn request(&self, kind: &str, body: Map<String, Value>) {
        self.input(Input::Request {
            kind: kind.to_string(),
            body,
        });
    }

    /// Reports this member's microphone volume (0..100).
    pub fn volume(&self, volume: u8) {
        self.input(Input::Volume { volume });
    }

    fn input(&self, input: Input) {
        // The task ends only after the handle is gone or the runtime stops: nothing is left to tell.
        let _ = self.tx.send(input);
    }
}

/// `ws://host:port/rooms/v1/ws` for a server address.
fn socket_url(server: &str) -> Result<HttpUrl, UrlError> {
    let base = server.trim_end_matches('/');
    let http = match base.split_once("://") {
        Some((s, rest)) if s.eq_ignore_ascii_case("ws") => format!("http://{rest}"),
        Some((s, rest)) if s.eq_ignore_ascii_case("wss") => format!("https://{rest}"),
        _ => base.to_string(),
    };
    HttpUrl::parse(&format!("{http}/rooms/v1/ws"))
}

type Socket = WebSocketStream<TcpStream>;

async fn open(url: &HttpUrl, options: &RoomOptions) -> Result<Socket, String> {
    let work = async {
        let tcp = TcpStream::connect((url.host.as_str(), url.port))
            .await
            .map_err(|e| format!("cannot connect to {}:{}: {e}", url.host, url.port))?;
        // Signalling is small frames that should leave at once.
        let _ = tcp.set_nodelay(true);
        let config = WebSocketConfig::default()
            .read_buffer_size(options.read_buffer_bytes)
            .write_buffer_size(options.write_buffer_bytes);
        let ws_url = format!("ws://{}{}", url.host_header(), url.target);
        let (ws, _) =
            tokio_tungstenite::client_async_with_config(ws_url.as_str(), tcp, Some(config))
                .await
                .map_err(|e| format!("WebSocket handshake with {ws_url} failed: {e}"))?;
        Ok(ws)
    };
    tokio::time::timeout(options.connect_timeout, work)
        .await
        .map_err(|_| {
            format!(
                "no WebSocket to {url} within {} ms",
                options.connect_timeout.as_millis()
            )
        })?
}

/// The driver task: transmit, timers and socket reads around the machine, until the handle is dropped and the
/// member is out of the room.
async fn run(
    url: HttpUrl,
    options: RoomOptions,
    mut commands: mpsc::UnboundedReceiver<Input>,
    updates: mpsc::Sender<RoomUpdate>,
) {
    let mut machine = RoomMachine::new(options.config);
    let mut socket: Option<Socket> = None;
    let mut opening: Option<Opening> = None;
    let mut handle_gone = false;
    let mut now = Instant::now();
    // Who this member is, for the logs: "{groupId}/{openId}" of the last join.
    let mut who = String::new();
    loop {
        // Transmit: act on every output before waiting again.
        let mut broke: Option<String> = None;
        while let Some(out) = machine.poll_output() {
            match out {
                Output::Action(Action::Open) => {
                    socket = None;
                    let (url, options) = (url.clone(), options);
                    opening = Some(Box::pin(async move { open(&url, &options).await }));
                }
                Output::Action(Action::Send { msg }) => {
                    if let Some(ws) = socket.as_mut() {
                        if let Err(e) = ws.send(Message::text(msg.to_string())).await {
                            broke = Some(format!("write failed: {e}"));
                        }
                    }
                }
                Output::Action(Action::Close) => {
                    opening = None;
                    if let Some(mut ws) = socket.take() {
                        // The close handshake must not hold up the machine.
                        tokio::spawn(async move {
                            let _ =
                                tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                        });
                    }
                }
                Output::Status(s) => {
                    // Debug, not info: the room bench runs thousands of members in one process.
                    debug!(member = %who, code = s.code, message = %s.message, "room status");
                    let _ = updates
                        .send(RoomUpdate {
                            at: now,
                            notice: Notice::Status(s),
                        })
                        .await;
                }
                Output::Event(e) => {
                    let _ = updates
                        .send(RoomUpdate {
                            at: now,
                            notice: Notice::Event(e),
                        })
                        .await;
                }
            }
        }
        if let Some(reason) = broke {
            socket = None;
            now = Instant::now();
            machine.handle_input(
                Input::SocketClosed {
                    code: Some(1006),
                    reason,
                },
                now,
            );
            continue;
        }
        if handle_gone && socket.is_none() && opening.is_none() && machine.poll_timeout().is_none()
        {
            return;
        }
        let deadline = machine.poll_timeout();
        tokio::select! {
            cmd = commands.recv(), if !handle_gone => {
                now = Instant::now();
                match cmd {
                    Some(input) => {
                        if let Input::Join { payload } = &input {
                            who = format!("{}/{}", payload.group_id, payload.open_id);
                        }
                        machine.handle_input(input, now);
                    }
                    None => {
                        // The application is gone: leave properly if in a room, then end.
                        handle_gone = true;
                        machine.handle_input(Input::Exit, now);
                    }
                }
            }
            opened = pending_or(opening.as_mut()), if opening.is_some() => {
                opening = None;
                now = Instant::now();
                match opened {
                    Ok(ws) => {
                        socket = Some(ws);
                        machine.handle_input(Input::SocketOpen, now);
                    }
                    Err(reason) => {
                        debug!(member = %who, %reason, "room socket did not open");
                        machine.handle_input(Input::SocketClosed { code: Some(1006), reason }, now);
                    }
                }
            }
            frame = next_frame(socket.as_mut()), if socket.is_some() => {
                now = Instant::now();
                match frame {
                    Some(Ok(Message::Text(t))) => {
                        // A frame that is not JSON means nothing to the machine (the server never sends one).
                        if let Ok(msg) = serde_json::from_str::<Value>(t.as_str()) {
                            machine.handle_input(Input::Message { msg }, now);
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        socket = None;
                        let (code, reason) = frame.map_or((Some(1005), String::new()), |f| {
                            (Some(u16::from(f.code)), f.reason.to_string())
                        });
                        machine.handle_input(Input::SocketClosed { code, reason }, now);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        socket = None;
                        machine.handle_input(Input::SocketClosed { code: Some(1006), reason: e.to_string() }, now);
                    }
                    None => {
                        socket = None;
                        machine.handle_input(Input::SocketClosed { code: Some(1006), reason: "connection closed".into() }, now);
                    }
                }
            }
            _ = sleep_until(deadline), if deadline.is_some() => {
                now = Instant::now();
                machine.handle_timeout(now);
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(d) = deadline {
        tokio::time::sleep_until(d.into()).await;
    }
}

type Opening = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Socket, String>> + Send>>;

/// The opening socket's outcome; never ready without one (its branch is disabled then).
async fn pending_or(opening: Option<&mut Opening>) -> Result<Socket, String> {
    match opening {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

/// The socket's next frame; never ready without a socket (its branch is disabled then).
async fn next_frame(
    socket: Option<&mut Socket>,
) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
    match socket {
        Some(ws) => ws.next().await,
        None => std::future::pending().await,
    }
}
