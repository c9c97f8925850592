//! One connection attempt: a tokio task that resolves, connects, requests the play over RTMP or HTTP-FLV and
//! reports what it observes to the driver as machine inputs. Closing it (or dropping it) ends the task.

mod flv;
mod rtmp;
mod tracks;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};

use super::machine::Input;
use super::url::Target;
pub(crate) use tracks::MediaInfo;

/// Observations buffered between the attempt and the driver; past this the attempt stops reading the socket
/// (TCP backpressure) until the driver catches up.
const QUEUE: usize = 256;
/// Read buffer per attempt.
const READ_BUF: usize = 64 * 1024;
/// How long a closing attempt waits for the server to close its side: dropping a socket with unread data
/// makes the kernel send a reset, which servers log as an error.
const CLOSE_WAIT: Duration = Duration::from_millis(500);

/// Time limits of an attempt.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Resolving and connecting.
    pub(crate) connect: Duration,
    /// From the TCP connection to the play's answer (handshake, connect, play; or the HTTP response head).
    pub(crate) request: Duration,
    /// Longest silence while playing before the connection is considered dead.
    pub(crate) idle: Option<Duration>,
}

/// What an attempt reports.
#[derive(Debug)]
pub(crate) enum Observation {
    /// A machine input other than a frame.
    Input(Input),
    /// A frame and its statistics.
    Media(MediaInfo),
}

/// The driver's handle on a running attempt.
#[derive(Debug)]
pub(crate) struct Attempt {
    rx: mpsc::Receiver<Observation>,
    close: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Attempt {
    /// Starts an attempt on `target`. Bytes read are added to `received`.
    pub(crate) fn spawn(target: Target, limits: Limits, received: Arc<AtomicU64>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (close_tx, close_rx) = oneshot::channel();
        let ctx = Ctx {
            tx,
            close: close_rx,
            received,
            limits,
        };
        let task = tokio::spawn(run(target, ctx));
        Self {
            rx,
            close: Some(close_tx),
            task,
        }
    }

    /// The next observation; `None` once the attempt ended.
    pub(crate) async fn next(&mut self) -> Option<Observation> {
        self.rx.recv().await
    }

    /// Asks the attempt to close gracefully; the returned task ends within about a second.
    pub(crate) fn close(mut self) -> JoinHandle<()> {
        if let Some(tx) = self.close.take() {
            let _ = tx.send(());
        }
        self.task
    }
}

/// What the protocol halves of an attempt share.
struct Ctx {
    tx: mpsc::Sender<Observation>,
    close: oneshot::Receiver<()>,
    received: Arc<AtomicU64>,
    limits: Limits,
}

impl Ctx {
    /// Reports an input; `false` when the driver is gone (the attempt should end).
    async fn report(&self, input: Input) -> bool {
        self.tx.send(Observation::Input(input)).await.is_ok()
    }

    async fn media(&self, m: MediaInfo) -> bool {
        self.tx.send(Observation::Media(m)).await.is_ok()
    }

    /// When a silent connection counts as dead, from `last` data.
    fn idle_deadline(&self, last: Instant) -> Option<Instant> {
        self.limits.idle.map(|d| last + d)
    }
}

/// Reads what the socket has into `buf`, counting it in `received`; `Ok(0)` is the end of the stream. (A free
/// function so it borrows only the counter while the close signal is polled.)
async fn read_counted(
    stream: &mut TcpStream,
    buf: &mut [u8],
    received: &AtomicU64,
) -> io::Result<usize> {
    let n = stream.read(buf).await?;
    received.fetch_add(n as u64, Ordering::Relaxed);
    Ok(n)
}

async fn run(target: Target, mut ctx: Ctx) {
    let opened = tokio::select! {
        s = open(&target, ctx.limits.connect) => s,
        _ = &mut ctx.close => return,
    };
    let stream = match opened {
        Ok(stream) => stream,
        Err(failure) => {
            ctx.report(failure).await;
            return;
        }
    };
    if !ctx.report(Input::TcpConnected).await {
        return;
    }
    match target {
        Target::Rtmp { url, name } => rtmp::play(stream, &url, &name, ctx).await,
        Target::Flv(url) => flv::play(stream, &url, ctx).await,
    }
}

/// Resolves and connects (each address in turn, each within `limit`); the failure is `dns_failed` or
/// `connect_failed`.
async fn open(target: &Target, limit: Duration) -> Result<TcpStream, Input> {
    let (host, port) = target.authority();
    let dns_failed = |detail| Input::DnsFailed { detail };
    let addrs: Vec<SocketAddr> = match timeout(limit, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(e)) => return Err(dns_failed(format!("{host}: {e}"))),
        Err(_) => return Err(dns_failed(format!("{host}: no answer within {limit:?}"))),
    };
    if addrs.is_empty() {
        return Err(dns_failed(format!("{host}: no addresses")));
    }
    let mut errors = Vec::new();
    for addr in addrs {
        match timeout(limit, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                // Small control messages must not wait for Nagle; failing to set it only costs latency.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => errors.push(format!("{addr}: {e}")),
            Err(_) => errors.push(format!("{addr}: timed out after {limit:?}")),
        }
    }
    Err(Input::ConnectFailed {
        detail: errors.join("; "),
    })
}

/// A deadline far enough away to stand for "never" in a `select!` whose branch is disabled.
pub(super) fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}
