//! One room of the room bench: its members' WebSockets, the joins one after another, then the exits, with the
//! delay of every `membersChanged` each of them causes.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Mutex, Semaphore};
use tokio_tungstenite::tungstenite::Message;

/// How long one expected message may take before the run fails.
const WAIT: Duration = Duration::from_secs(20);

/// One message and when it arrived.
type Arrival = (Instant, Value);

/// The openId of member `member` of room `room`.
pub(super) fn open_id(room: u32, member: u32) -> String {
    format!("b{room}m{member}")
}

/// What one room task needs.
pub(super) struct RoomCtx {
    pub addr: String,
    pub app: String,
    /// The members' session key.
    pub key: &'static str,
    pub room: u32,
    pub members: u32,
    pub joins: Arc<Mutex<Histogram<u64>>>,
    pub leaves: Arc<Mutex<Histogram<u64>>>,
    /// Limits the rooms joining (or leaving) at the same time.
    pub gate: Arc<Semaphore>,
    pub all_joined: Arc<tokio::sync::Barrier>,
    pub go_leave: Arc<tokio::sync::Notify>,
}

struct Member {
    open_id: String,
    tx: mpsc::Sender<String>,
    rx: mpsc::Receiver<Arrival>,
}

impl Member {
    /// Waits for the next message of `kind` whose `openIdList` satisfies `check`; returns when it arrived.
    async fn wait(&mut self, kind: &str, check: impl Fn(&[Value]) -> bool) -> Result<Instant> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (at, v) = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .with_context(|| {
                    format!("{}: no {kind} within {} s", self.open_id, WAIT.as_secs())
                })?
                .with_context(|| {
                    format!("{}: socket closed while waiting for {kind}", self.open_id)
                })?;
            if v["type"] == "error" {
                bail!("{}: server error {v}", self.open_id);
            }
            let list = v["openIdList"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            if v["type"] == kind && check(list) {
                return Ok(at);
            }
        }
    }

    /// Sends one message.
    async fn send(&self, message: Value) -> Result<()> {
        self.tx
            .send(message.to_string())
            .await
            .context("member socket gone")
    }
}

/// Joins the room's members one by one, waits for the signal, makes them exit one by one.
pub(super) async fn room(ctx: RoomCtx) -> Result<()> {
    let leave = ctx.go_leave.notified();
    tokio::pin!(leave);
    let (members, join_delays) = {
        let _place = ctx.gate.acquire().await.context("gate closed")?;
        join_all(&ctx).await?
    };
    record(&ctx.joins, &join_delays).await;
    // Register for the signal before arriving, so it cannot be missed.
    leave.as_mut().enable();
    ctx.all_joined.wait().await;
    leave.await;
    let _place = ctx.gate.acquire().await.context("gate closed")?;
    exit_all(&ctx, members).await
}

/// Joins the members one after another; returns them and the delay of each join's `membersChanged` at every
/// member already in.
async fn join_all(ctx: &RoomCtx) -> Result<(Vec<Member>, Vec<Duration>)> {
    let group = format!("bench{}", ctx.room);
    let mut members: Vec<Member> = Vec::new();
    let mut delays = Vec::new();
    for m in 0..ctx.members {
        let mut member = connect(&ctx.addr, open_id(ctx.room, m)).await?;
        let nonce = format!("{}-{}", member.open_id, now_unix());
        let ts = now_unix().to_string();
        let signature = rooms::sign(
            &rooms::SignedFields {
                app_id: &ctx.app,
                group_id: &group,
                nonce_str: &nonce,
                time_stamp: &ts,
            },
            ctx.key,
        );
        let join = json!({"type":"join","reqId":1,"appId":ctx.app,"groupId":group,"openId":member.open_id,
            "nonceStr":nonce,"timeStamp":ts,"signature":signature,"roomType":"voice"});
        let sent = Instant::now();
        member.send(join).await?;
        member.wait("joined", |_| true).await?;
        let newcomer = member.open_id.clone();
        for other in members.iter_mut() {
            let at = other
                .wait("membersChanged", |list| {
                    list.iter().any(|v| v.as_str() == Some(newcomer.as_str()))
                })
                .await?;
            delays.push(at.saturating_duration_since(sent));
        }
        members.push(member);
    }
    Ok((members, delays))
}

/// Makes the members exit one after another; each exit's `membersChanged` delay at every member still in goes
/// to `ctx.leaves`.
async fn exit_all(ctx: &RoomCtx, mut members: Vec<Member>) -> Result<()> {
    let mut delays = Vec::new();
    while let Some(mut leaving) = (!members.is_empty()).then(|| members.remove(0)) {
        let sent = Instant::now();
        leaving.send(json!({"type":"exit","reqId":2})).await?;
        leaving.wait("exited", |_| true).await?;
        let gone = leaving.open_id.clone();
        for other in members.iter_mut() {
            let at = other
                .wait("membersChanged", |list| {
                    !list.iter().any(|v| v.as_str() == Some(gone.as_str()))
                })
                .await?;
            delays.push(at.saturating_duration_since(sent));
        }
    }
    record(&ctx.leaves, &delays).await;
    Ok(())
}

async fn record(h: &Mutex<Histogram<u64>>, delays: &[Duration]) {
    let mut h = h.lock().await;
    for d in delays {
        // Saturates at the histogram's top rather than failing the run.
        let _ = h.record((d.as_micros() as u64).clamp(1, 60_000_000));
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Opens a member's socket: a task that writes what `tx` gets, sends heartbeats, and timestamps arrivals.
async fn connect(addr: &str, open_id: String) -> Result<Member> {
    let tcp = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    tcp.set_nodelay(true)?;
    let url = format!("ws://{addr}/rooms/v1/ws");
    // Small buffers: ten thousand sockets with tungstenite's default 128 KiB read buffers would cost 1.3 GB here.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url.as_str(), tcp, Some(config))
        .await
        .with_context(|| format!("WebSocket handshake with {url}"))?;
    let (out_tx, mut out_rx) = mpsc::channel::<String>(8);
    let (in_tx, in_rx) = mpsc::channel::<Arrival>(64);
    tokio::spawn(async move {
        let (mut sink, mut stream) = ws.split();
        let mut beat = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                out = out_rx.recv() => match out {
                    Some(text) => if sink.send(Message::text(text)).await.is_err() { return },
                    None => { let _ = sink.close().await; return }
                },
                _ = beat.tick() => {
                    if sink.send(Message::text(r#"{"type":"heartbeat"}"#)).await.is_err() { return }
                }
                msg = stream.next() => match msg {
                    Some(Ok(Message::Text(t))) => {
                        let at = Instant::now();
                        let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else { continue };
                        if v["type"] == "heartbeat" { continue }
                        if in_tx.send((at, v)).await.is_err() { return }
                    }
                    Some(Ok(_)) => {}
                    _ => return,
                }
            }
        }
    });
    Ok(Member {
        open_id,
        tx: out_tx,
        rx: in_rx,
    })
}
