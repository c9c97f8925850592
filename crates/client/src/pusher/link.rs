//! One connection attempt: resolve and dial, then the RTMP session over the socket with its output buffer.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtmp::{ClientSession, SessionConfig};
use tokio::io::AsyncWriteExt;
use tokio::net::{lookup_host, TcpStream};
use tokio::time::{timeout, timeout_at};

use super::machine::Input;

/// Resolves `host` and connects to its first address that answers. A failure comes back as the machine input
/// that reports it (3001 or 3002), with the reason for a person.
pub(crate) async fn dial(
    host: String,
    port: u16,
    limit: Duration,
) -> Result<(TcpStream, SocketAddr), Input> {
    let secs = limit.as_secs_f64();
    let addrs: Vec<SocketAddr> = match timeout(limit, lookup_host((host.as_str(), port))).await {
        Err(_) => {
            return Err(Input::DnsFailed {
                detail: format!("DNS lookup of {host} timed out after {secs} s"),
            })
        }
        Ok(Err(e)) => {
            return Err(Input::DnsFailed {
                detail: format!("DNS lookup of {host} failed: {e}"),
            })
        }
        Ok(Ok(addrs)) => addrs.collect(),
    };
    let mut last = format!("{host} resolved to no address");
    if addrs.is_empty() {
        return Err(Input::DnsFailed { detail: last });
    }
    for addr in addrs {
        match timeout(limit, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                // Frames are written as they come; Nagle would hold small audio frames back.
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(%addr, "TCP_NODELAY: {e}");
                }
                return Ok((stream, addr));
            }
            Ok(Err(e)) => last = format!("cannot connect to {addr}: {e}"),
            Err(_) => last = format!("cannot connect to {addr}: no answer within {secs} s"),
        }
    }
    Err(Input::ConnectFailed { detail: last })
}

/// An open connection: the socket, its RTMP session and the bytes waiting to be written.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) stream: TcpStream,
    pub(crate) session: ClientSession,
    pub(crate) handshake_done: bool,
    pub(crate) publishing: bool,
    /// NetStream.Publish.Start must come before this.
    pub(crate) publish_deadline: Instant,
    out: VecDeque<Bytes>,
    /// Bytes of `out`'s front already written.
    out_pos: usize,
    out_len: usize,
    /// The last time the socket took bytes, or output became pending.
    last_progress: Instant,
    /// The last media or data message handed to the session (for the keep-alive while paused).
    pub(crate) last_media: Instant,
}

impl Conn {
    /// A session that connects to `app` and publishes `name` once the handshake is done.
    pub(crate) fn new(
        stream: TcpStream,
        app: &str,
        tc_url: &str,
        name: &str,
        publish_timeout: Duration,
    ) -> Self {
        let now = Instant::now();
        let config = SessionConfig {
            handshake_timeout: publish_timeout,
            ..SessionConfig::default()
        };
        let mut session = ClientSession::new(config, now);
        session.connect(app, tc_url);
        session.publish(name);
        let mut conn = Self {
            stream,
            session,
            handshake_done: false,
            publishing: false,
            publish_deadline: now + publish_timeout,
            out: VecDeque::new(),
            out_pos: 0,
            out_len: 0,
            last_progress: now,
            last_media: now,
        };
        conn.collect(now);
        conn
    }

    /// Bytes waiting to be written.
    pub(crate) fn pending(&self) -> usize {
        self.out_len
    }

    /// Moves the session's output to the write buffer.
    pub(crate) fn collect(&mut self, now: Instant) {
        if let Some(bytes) = self.session.take_transmit() {
            if self.out_len == 0 {
                self.last_progress = now;
            }
            self.out_len += bytes.len();
            self.out.push_back(bytes);
        }
    }

    /// Writes what the socket takes without waiting; returns the bytes written.
    pub(crate) fn try_write(&mut self, now: Instant) -> io::Result<usize> {
        let mut total = 0;
        while let Some(front) = self.out.front() {
            let len = front.len();
            match self.stream.try_write(&front[self.out_pos..]) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the socket took no bytes",
                    ))
                }
                Ok(n) => {
                    total += n;
                    self.out_pos += n;
                    self.out_len -= n;
                    self.last_progress = now;
                    if self.out_pos == len {
                        self.out.pop_front();
                        self.out_pos = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }

    /// When the socket last made progress while output was pending (`None`: nothing pending).
    pub(crate) fn stalled_since(&self) -> Option<Instant> {
        (self.out_len > 0).then_some(self.last_progress)
    }

    /// Sends what is pending, half-closes and waits for the server to close too, all within `limit`: dropping a
    /// socket with unread data makes the kernel send a reset, which the server would log as an error.
    pub(crate) async fn close_gracefully(mut self, limit: Duration) {
        self.collect(Instant::now());
        let deadline = tokio::time::Instant::now() + limit;
        let flushed = timeout_at(deadline, async {
            while let Some(front) = self.out.pop_front() {
                self.stream.write_all(&front[self.out_pos..]).await?;
                self.out_pos = 0;
            }
            Ok::<(), io::Error>(())
        })
        .await;
        if let Ok(Ok(())) = flushed {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            crate::connection::close_gracefully(self.stream, None, left).await;
        }
    }
}
