//! The RTMP client connection driver: a TCP stream with the sans-IO `rtmp::ClientSession` on it, for the
//! player, and for `mplive bench`, which runs thousands of them per process.
//!
//! [`connect`] opens the TCP connection (TCP_NODELAY, within a deadline); [`RtmpConnection::start`] queues the
//! handshake and `connect(app, tcUrl)`; then the caller asks for `play` or `publish` on
//! [`session`](RtmpConnection::session), writes with [`flush`](RtmpConnection::flush), waits with
//! [`readable`](RtmpConnection::readable), reads with [`try_read`](RtmpConnection::try_read) into a buffer it owns
//! (one per thread is enough: nothing is held across an await), hands what arrived to
//! [`handle_input`](RtmpConnection::handle_input) and polls the session's events itself, so a receive loop costs
//! no more than the session does. [`RtmpConnection::until_publishing`] drives a publish up to
//! NetStream.Publish.Start. [`RtmpConnection::close`] ends the stream with `deleteStream` and closes the way
//! servers like: half-close, then wait for theirs.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use rtmp::{ClientEvent, ClientSession, SessionConfig};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout_at, Instant};

/// Why a connection failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The TCP connection could not be opened.
    #[error("connect to {addr}: {reason}")]
    Connect {
        /// The address dialed.
        addr: SocketAddr,
        /// The socket error, or `timed out`.
        reason: String,
    },
    /// Reading from or writing to the socket failed.
    #[error("{what}: {source}")]
    Io {
        /// `read` or `write`.
        what: &'static str,
        /// The socket error.
        source: io::Error,
    },
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
    /// The RTMP session failed: bad data from the server, or the handshake timed out.
    #[error("rtmp: {0}")]
    Rtmp(#[from] rtmp::Error),
    /// The server refused `connect`, `publish` or `play`.
    #[error("{what} rejected: {code} {description}")]
    Rejected {
        /// `connect`, `publish` or `play`.
        what: &'static str,
        /// The status code, e.g. `NetStream.Publish.BadName`.
        code: String,
        /// The status description.
        description: String,
    },
    /// The server sent an error-level `onStatus`.
    #[error("status {code}: {description}")]
    Status {
        /// The status code.
        code: String,
        /// The status description.
        description: String,
    },
    /// The deadline passed before the session got where it was driven to.
    #[error("not {what} before the deadline")]
    Timeout {
        /// What the session was not yet, e.g. `publishing`.
        what: &'static str,
    },
}

impl ConnectionError {
    /// The error `event` means while a `job` (`publish` or `play`) is under way: a refusal of `connect` or of
    /// the job, or an error-level status; `None` for other events.
    pub fn from_event(event: ClientEvent, job: &'static str) -> Option<Self> {
        match event {
            ClientEvent::ConnectRejected { code, description } => Some(Self::Rejected {
                what: "connect",
                code,
                description,
            }),
            ClientEvent::PublishRejected { code, description }
            | ClientEvent::PlayRejected { code, description } => Some(Self::Rejected {
                what: job,
                code,
                description,
            }),
            ClientEvent::Status {
                level,
                code,
                description,
            } if level == "error" => Some(Self::Status { code, description }),
            _ => None,
        }
    }
}

/// What a non-blocking read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// This many bytes arrived at the start of the buffer.
    Data(usize),
    /// The server closed the connection.
    Closed,
    /// Nothing to read yet (spurious readiness).
    WouldBlock,
}

/// Opens a TCP connection to `addr` with TCP_NODELAY (small control messages must not wait for Nagle), giving up
/// at `deadline`.
pub async fn connect(addr: SocketAddr, deadline: Instant) -> Result<TcpStream, ConnectionError> {
    let failed = |reason: String| ConnectionError::Connect { addr, reason };
    let stream = match timeout_at(deadline, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(failed(e.to_string())),
        Err(_) => return Err(failed("timed out".into())),
    };
    stream
        .set_nodelay(true)
        .map_err(|e| failed(format!("TCP_NODELAY: {e}")))?;
    Ok(stream)
}

/// Sends `last` (e.g. `deleteStream`), half-closes, and reads until the server closes too, for at most `limit`:
/// dropping a socket with unread data makes the kernel send a reset, which servers log as an error.
pub async fn close_gracefully(mut stream: TcpStream, last: Option<Bytes>, limit: Duration) {
    let _ = timeout_at(Instant::now() + limit, async {
        if let Some(bytes) = last {
            stream.write_all(&bytes).await?;
        }
        stream.shutdown().await?;
        // Allocated only now: a connection that is not closing carries no buffer for this.
        let mut sink = vec![0u8; 4096];
        loop {
            stream.readable().await?;
            match stream.try_read(&mut sink) {
                Ok(0) => return Ok::<(), io::Error>(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    })
    .await;
}

/// A TCP connection and the RTMP client session on it (see the [module](self) documentation).
#[derive(Debug)]
pub struct RtmpConnection {
    stream: TcpStream,
    session: ClientSession,
}

impl RtmpConnection {
    /// Starts the session on a connected stream: the handshake and `connect(app, tc_url)` are queued; ask for
    /// `play` or `publish` on [`session`](Self::session) (queued until `connect` is answered), then
    /// [`flush`](Self::flush).
    pub fn start(
        stream: TcpStream,
        app: &str,
        tc_url: &str,
        config: SessionConfig,
        now: std::time::Instant,
    ) -> Self {
        let mut session = ClientSession::new(config, now);
        session.connect(app, tc_url);
        Self { stream, session }
    }

    /// The session, for commands (`play`, `publish`, `send_media`, `set_chunk_size`) and its events.
    #[inline]
    pub fn session(&mut self) -> &mut ClientSession {
        &mut self.session
    }

    /// The socket.
    #[inline]
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Writes what the session has to send.
    #[inline]
    pub async fn flush(&mut self) -> Result<(), ConnectionError> {
        if let Some(out) = self.session.take_transmit() {
            self.stream
                .write_all(&out)
                .await
                .map_err(|source| ConnectionError::Io {
                    what: "write",
                    source,
                })?;
        }
        Ok(())
    }

    /// Waits until the socket may have something to read.
    #[inline]
    pub async fn readable(&self) -> Result<(), ConnectionError> {
        self.stream
            .readable()
            .await
            .map_err(|source| ConnectionError::Io {
                what: "read",
                source,
            })
    }

    /// Reads what the socket has into `buf` without waiting. After `Data(n)`, hand `buf[..n]` to
    /// [`handle_input`](Self::handle_input). (Two calls, so a caller takes the time of arrival only when data
    /// arrived: a read that finds nothing, which follows every read that found something, costs no clock read.)
    #[inline]
    pub fn try_read(&self, buf: &mut [u8]) -> Result<ReadOutcome, ConnectionError> {
        match self.stream.try_read(buf) {
            Ok(0) => Ok(ReadOutcome::Closed),
            Ok(n) => Ok(ReadOutcome::Data(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(ReadOutcome::WouldBlock),
            Err(source) => Err(ConnectionError::Io {
                what: "read",
                source,
            }),
        }
    }

    /// Hands bytes read from the socket to the session; poll its events next.
    #[inline]
    pub fn handle_input(
        &mut self,
        data: &[u8],
        now: std::time::Instant,
    ) -> Result<(), ConnectionError> {
        Ok(self.session.handle_input(data, now)?)
    }

    /// Drives a `publish` (asked for on [`session`](Self::session)) until NetStream.Publish.Start, answering what
    /// the server sends; the refusal, failure or [`ConnectionError::Timeout`] at `deadline` otherwise. Returns the
    /// publishing message stream id. Events other than the answer are dropped.
    pub async fn until_publishing(&mut self, deadline: Instant) -> Result<u32, ConnectionError> {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            self.flush().await?;
            let timer = self
                .session
                .poll_timeout()
                .map(Instant::from_std)
                .map_or(deadline, |t| t.min(deadline));
            tokio::select! {
                ready = self.readable() => {
                    ready?;
                    match self.try_read(&mut buf)? {
                        ReadOutcome::Data(n) => self.handle_input(&buf[..n], std::time::Instant::now())?,
                        ReadOutcome::Closed => return Err(ConnectionError::Closed),
                        ReadOutcome::WouldBlock => {}
                    }
                    while let Some(event) = self.session.poll_output() {
                        match event {
                            ClientEvent::Publishing { stream_id } => return Ok(stream_id),
                            other => {
                                if let Some(e) = ConnectionError::from_event(other, "publish") {
                                    return Err(e);
                                }
                            }
                        }
                    }
                }
                _ = sleep_until(timer) => {
                    if Instant::now() >= deadline {
                        return Err(ConnectionError::Timeout { what: "publishing" });
                    }
                    self.session.handle_timeout(std::time::Instant::now())?;
                }
            }
        }
    }

    /// Ends the stream with `deleteStream` and closes gracefully within `limit` (see [`close_gracefully`]).
    pub async fn close(mut self, limit: Duration) {
        self.session.close();
        close_gracefully(self.stream, self.session.take_transmit(), limit).await;
    }

    /// Closes gracefully within `limit` without a last word (after a failure).
    pub async fn abandon(self, limit: Duration) {
        close_gracefully(self.stream, None, limit).await;
    }
}
