//! ICE-TCP for browsers whose network blocks UDP: every answer also carries passive TCP host candidates (RFC
//! 6544), the browser connects to this listener, and each connection's RFC 4571 frames ([`super::framing`]) go to
//! the same UDP task (`driver`) as datagrams do, marked `Protocol::Tcp`; what a session transmits over TCP comes
//! back to the connection's writer.
//!
//! - [`listen`]: the accept loop; at most `webrtc.tcp_max_connections` connections, one task each.
//! - One task per connection: reads frames and queues them for the UDP task ([`TcpEvent`]), writes the packets the
//!   UDP task routes to it. A connection must open with a STUN Binding request and, within
//!   `webrtc.tcp_stun_timeout_secs`, have one accepted by a session (the UDP task says so through its `bound`
//!   flag), else it is closed.
//! - [`TcpPeers`]: the UDP task's side: which connection is whose, and the writers' queues. A full queue drops the
//!   packet (the UDP task never waits for a socket), and a connection whose session ended is closed by dropping
//!   its queue.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::framing::{self, Deframer};

/// Bytes asked of the socket per read: a few frames.
const READ_CHUNK: usize = 8 * 1024;

/// The listener's bounds (`[webrtc] tcp_*`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// `webrtc.tcp_max_connections`.
    pub(crate) max_connections: usize,
    /// `webrtc.tcp_max_frame`.
    pub(crate) max_frame: usize,
    /// `webrtc.tcp_stun_timeout_secs`.
    pub(crate) stun_timeout: Duration,
    /// A write that cannot finish this long means the peer stopped reading: `webrtc.disconnect_timeout_secs`.
    pub(crate) write_timeout: Duration,
    /// `webrtc.tcp_send_queue`.
    pub(crate) send_queue: usize,
}

/// What a connection tells the UDP task, in order.
pub(crate) enum TcpEvent {
    /// A connection opened: where its packets go, and the flag the UDP task raises once a session took one.
    Open {
        peer: SocketAddr,
        writer: mpsc::Sender<Vec<u8>>,
        bound: Arc<AtomicBool>,
    },
    /// One framed packet. `local` is the candidate address the browser connected to (str0m's ICE agent knows the
    /// listener by the address in the answer).
    Packet {
        peer: SocketAddr,
        local: SocketAddr,
        data: Bytes,
    },
    /// The connection is closed.
    Closed { peer: SocketAddr },
}

/// The candidate address a packet that arrived on local IP `local` was sent to: the candidate with that IP,
/// else the first (a listener on every interface behind a NAT: the browser connected to the public address).
pub(crate) fn candidate_for(candidates: &[SocketAddr], local: IpAddr) -> Option<SocketAddr> {
    candidates
        .iter()
        .find(|c| c.ip() == local)
        .or_else(|| candidates.first())
        .copied()
}

/// Accepts ICE-TCP connections until shutdown. `candidates` are the TCP candidates of the answers.
pub(crate) async fn listen(
    listener: TcpListener,
    candidates: Vec<SocketAddr>,
    events: mpsc::Sender<TcpEvent>,
    limits: Limits,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    // Refusals are logged at most once a second, with how many there were: a flood must not flood the log.
    let mut refused = 0u64;
    let mut last_warning: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                debug!("ICE-TCP accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            refused += 1;
            if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                warn!(%peer, refused, "ICE-TCP connection closed: webrtc.tcp_max_connections ({}) are open", limits.max_connections);
                last_warning = Some(Instant::now());
                refused = 0;
            }
            continue;
        };
        let local = stream
            .local_addr()
            .ok()
            .and_then(|a| candidate_for(&candidates, a.ip()));
        let Some(local) = local else {
            continue;
        };
        let events = events.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            connection(stream, peer, local, events, limits, shutdown).await;
            drop(permit);
        });
    }
}

/// Why a connection ended, for the log.
enum End {
    PeerClosed,
    Io(std::io::Error),
    Framing(framing::FramingError),
    NotStun,
    NoSession,
    SessionGone,
    WriteStalled,
    Shutdown,
}

/// One ICE-TCP connection, from accept to close.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    events: mpsc::Sender<TcpEvent>,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let (writer, mut queue) = mpsc::channel::<Vec<u8>>(limits.send_queue);
    let bound = Arc::new(AtomicBool::new(false));
    let open = TcpEvent::Open {
        peer,
        writer,
        bound: bound.clone(),
    };
    if events.send(open).await.is_err() {
        return; // the UDP task is gone: shutting down
    }
    debug!(%peer, %local, "ICE-TCP connection opened");
    let (mut rd, wr) = stream.into_split();
    let deadline = tokio::time::Instant::now() + limits.stun_timeout;
    let read = async {
        let mut deframer = Deframer::new(limits.max_frame);
        let mut buf = vec![0u8; READ_CHUNK];
        let mut first = true;
        loop {
            let n = tokio::select! {
                n = rd.read(&mut buf) => n,
                _ = tokio::time::sleep_until(deadline), if !bound.load(Ordering::Relaxed) => {
                    // The flag may have been raised while this read waited.
                    if bound.load(Ordering::Relaxed) {
                        continue;
                    }
                    return End::NoSession;
                }
            };
            let n = match n {
                Ok(0) => return End::PeerClosed,
                Ok(n) => n,
                Err(e) => return End::Io(e),
            };
            deframer.handle_bytes(&buf[..n]);
            loop {
                let data = match deframer.poll_frame() {
                    Ok(Some(data)) => data,
                    Ok(None) => break,
                    Err(e) => return End::Framing(e),
                };
                if first && !framing::is_stun_binding_request(&data) {
                    return End::NotStun;
                }
                first = false;
                let packet = TcpEvent::Packet { peer, local, data };
                if events.send(packet).await.is_err() {
                    return End::Shutdown;
                }
            }
        }
    };
    let write = async {
        let mut wr = BufWriter::new(wr);
        while let Some(packet) = queue.recv().await {
            let Ok(header) = framing::header(&packet) else {
                continue; // str0m never sends 64 KiB packets
            };
            let sent = async {
                wr.write_all(&header).await?;
                wr.write_all(&packet).await?;
                // Batch what is already queued into one write; flush when the queue is empty.
                if queue.is_empty() {
                    wr.flush().await?;
                }
                Ok::<(), std::io::Error>(())
            };
            match tokio::time::timeout(limits.write_timeout, sent).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return End::Io(e),
                Err(_) => return End::WriteStalled,
            }
        }
        End::SessionGone
    };
    let end = tokio::select! {
        _ = shutdown.cancelled() => End::Shutdown,
        end = read => end,
        end = write => end,
    };
    match end {
        End::PeerClosed | End::SessionGone | End::Shutdown => {
            debug!(%peer, "ICE-TCP connection closed")
        }
        End::Io(e) => debug!(%peer, "ICE-TCP connection closed: {e}"),
        End::Framing(e) => info!(%peer, "ICE-TCP connection closed: {e}"),
        End::NotStun => info!(
            %peer,
            "ICE-TCP connection closed: its first packet is not a STUN Binding request (not a WebRTC peer)"
        ),
        End::NoSession => info!(
            %peer,
            "ICE-TCP connection closed: no STUN check naming a WHEP session within webrtc.tcp_stun_timeout_secs"
        ),
        End::WriteStalled => info!(
            %peer,
            "ICE-TCP connection closed: the browser stopped reading for webrtc.disconnect_timeout_secs"
        ),
    }
    let _ = events.send(TcpEvent::Closed { peer }).await;
}

/// One connection, as the UDP task sees it.
struct Conn {
    writer: mpsc::Sender<Vec<u8>>,
    bound: Arc<AtomicBool>,
    /// The session that took its packets.
    session: Option<u64>,
}

/// The UDP task's ICE-TCP connections, by the browser's address.
#[derive(Default)]
pub(crate) struct TcpPeers {
    conns: HashMap<SocketAddr, Conn>,
    /// Packets dropped because a connection's queue was full, since the last log line.
    dropped: u64,
    last_drop_log: Option<Instant>,
}

impl TcpPeers {
    /// Registers an opened connection, or forgets a closed one.
    pub(crate) fn handle_open_close(&mut self, event: TcpEvent) {
        match event {
            TcpEvent::Open {
                peer,
                writer,
                bound,
            } => {
                self.conns.insert(
                    peer,
                    Conn {
                        writer,
                        bound,
                        session: None,
                    },
                );
            }
            TcpEvent::Closed { peer } => {
                self.conns.remove(&peer);
            }
            TcpEvent::Packet { .. } => {}
        }
    }

    /// The session that took this connection's packets, if one did.
    pub(crate) fn session_of(&self, peer: &SocketAddr) -> Option<u64> {
        self.conns.get(peer).and_then(|c| c.session)
    }

    /// Session `id` took a packet of this connection: it stays open past the STUN timeout.
    pub(crate) fn bind(&mut self, peer: &SocketAddr, id: u64) {
        if let Some(c) = self.conns.get_mut(peer) {
            c.session = Some(id);
            c.bound.store(true, Ordering::Relaxed);
        }
    }

    /// Queues `packet` for the connection of `peer`; a full queue (or a closed connection) loses it.
    pub(crate) fn send(&mut self, peer: &SocketAddr, packet: Vec<u8>) {
        let Some(c) = self.conns.get(peer) else {
            return;
        };
        if c.writer.try_send(packet).is_err() {
            self.dropped += 1;
            if self
                .last_drop_log
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
            {
                debug!(%peer, dropped = self.dropped, "ICE-TCP packets dropped: the connection's queue (webrtc.tcp_send_queue) is full");
                self.dropped = 0;
                self.last_drop_log = Some(Instant::now());
            }
        }
    }

    /// Closes the connections whose session ended (`alive` says which sessions remain): dropping the writer's
    /// queue ends the connection's task.
    pub(crate) fn sweep(&mut self, alive: impl Fn(u64) -> bool) {
        self.conns.retain(|_, c| c.session.is_none_or(&alive));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_candidate_with_the_local_ip_else_the_first() {
        let a: SocketAddr = "127.0.0.1:8189".parse().unwrap();
        let b: SocketAddr = "192.0.2.7:8189".parse().unwrap();
        assert_eq!(candidate_for(&[a, b], b.ip()), Some(b));
        assert_eq!(candidate_for(&[a, b], "10.0.0.1".parse().unwrap()), Some(a));
        assert_eq!(candidate_for(&[], a.ip()), None);
    }

    fn limits(max_connections: usize) -> Limits {
        Limits {
            max_connections,
            max_frame: 1500,
            stun_timeout: Duration::from_millis(300),
            write_timeout: Duration::from_secs(1),
            send_queue: 8,
        }
    }

    /// Starts the listener on a free port; returns its address and the UDP task's end of the events.
    async fn start(
        shutdown: &CancellationToken,
        max_connections: usize,
    ) -> (SocketAddr, mpsc::Receiver<TcpEvent>, TaskTracker) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::channel(64);
        let tracker = TaskTracker::new();
        tracker.spawn(listen(
            listener,
            vec![addr],
            tx,
            limits(max_connections),
            shutdown.clone(),
            tracker.clone(),
        ));
        (addr, rx, tracker)
    }

    /// Reads until the server closes the connection; how long that took.
    async fn closed_within(mut s: TcpStream, limit: Duration) -> Option<Duration> {
        let t0 = Instant::now();
        let mut buf = [0u8; 64];
        loop {
            match tokio::time::timeout(limit, s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Some(t0.elapsed()),
                Ok(Ok(_)) => {}
                Err(_) => return None,
            }
        }
    }

    /// Garbage is closed at once (an HTTP request: a length over the bound; a short frame that is not STUN), and
    /// a connection that sends nothing is closed after the STUN timeout.
    #[tokio::test]
    async fn garbage_and_silent_connections_are_closed() {
        let shutdown = CancellationToken::new();
        let (addr, mut events, _tracker) = start(&shutdown, 10).await;
        let mut http = TcpStream::connect(addr).await.unwrap();
        http.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let took = closed_within(http, Duration::from_secs(2)).await;
        assert!(
            took.is_some_and(|t| t < Duration::from_millis(250)),
            "{took:?}"
        );
        let mut short = TcpStream::connect(addr).await.unwrap();
        short.write_all(&[0, 3, 1, 2, 3]).await.unwrap();
        let took = closed_within(short, Duration::from_secs(2)).await;
        assert!(
            took.is_some_and(|t| t < Duration::from_millis(250)),
            "{took:?}"
        );
        let silent = TcpStream::connect(addr).await.unwrap();
        let took = closed_within(silent, Duration::from_secs(2)).await;
        assert!(
            took.is_some_and(|t| t >= Duration::from_millis(250)),
            "closed after tcp_stun_timeout: {took:?}"
        );
        // Each was announced to the UDP task and its end too; the garbage reached it as no packet.
        let mut opened = 0;
        let mut closed = 0;
        while let Ok(Some(e)) =
            tokio::time::timeout(Duration::from_millis(200), events.recv()).await
        {
            match e {
                TcpEvent::Open { .. } => opened += 1,
                TcpEvent::Closed { .. } => closed += 1,
                TcpEvent::Packet { .. } => panic!("garbage passed as a packet"),
            }
        }
        assert_eq!((opened, closed), (3, 3));
        shutdown.cancel();
    }

    /// A STUN request passes framed as it came; once bound, the connection outlives the STUN timeout; packets
    /// for it go out framed; dropping it (its session ended) closes it; and past `tcp_max_connections` a
    /// connection is closed at accept.
    #[tokio::test]
    async fn packets_both_ways_and_the_connection_bound() {
        let shutdown = CancellationToken::new();
        let (addr, mut events, _tracker) = start(&shutdown, 2).await;
        let mut peers = TcpPeers::default();
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut stun = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
        stun.extend_from_slice(&[5; 12]);
        s.write_all(&framing::header(&stun).unwrap()).await.unwrap();
        s.write_all(&stun).await.unwrap();
        let opened = events.recv().await.unwrap();
        let TcpEvent::Open { peer, .. } = &opened else {
            panic!("Open first")
        };
        let peer = *peer;
        peers.handle_open_close(opened);
        let Some(TcpEvent::Packet { local, data, .. }) = events.recv().await else {
            panic!("the STUN request")
        };
        assert_eq!((local, data.as_ref()), (addr, stun.as_slice()));
        peers.bind(&peer, 7);
        assert_eq!(peers.session_of(&peer), Some(7));
        tokio::time::sleep(Duration::from_millis(500)).await;
        peers.send(&peer, vec![1, 2, 3]);
        let mut got = [0u8; 5];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(
            got,
            [0, 3, 1, 2, 3],
            "framed, and still open past the STUN timeout"
        );
        // Two connections are the limit here: a third is closed at once.
        let _second = TcpStream::connect(addr).await.unwrap();
        let third = TcpStream::connect(addr).await.unwrap();
        let took = closed_within(third, Duration::from_secs(2)).await;
        assert!(
            took.is_some_and(|t| t < Duration::from_millis(250)),
            "{took:?}"
        );
        // Session 7 ended.
        peers.sweep(|id| id != 7);
        assert_eq!(peers.session_of(&peer), None);
        assert!(closed_within(s, Duration::from_secs(2)).await.is_some());
        shutdown.cancel();
    }
}
