//! Socket helpers shared by the publisher and the players.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

/// Size of the per-thread read buffer.
const READ_BUF: usize = 64 * 1024;

thread_local! {
    /// One read buffer per runtime thread instead of one per player: a player reads, processes the bytes and
    /// returns without awaiting in between, so a buffer is never held across a suspension point.
    static BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_BUF].into_boxed_slice());
}

/// What a non-blocking read found.
pub(super) enum ReadOutcome<R> {
    /// Bytes arrived and `f` returned this.
    Data(R),
    /// The peer closed the connection.
    Closed,
    /// Spurious readiness: nothing to read yet.
    WouldBlock,
}

/// Reads what the socket has into the thread's buffer and passes it to `f` at once.
pub(super) fn read_now<R>(
    stream: &TcpStream,
    f: impl FnOnce(&[u8]) -> R,
) -> io::Result<ReadOutcome<R>> {
    BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        match stream.try_read(&mut buf[..]) {
            Ok(0) => Ok(ReadOutcome::Closed),
            Ok(n) => Ok(ReadOutcome::Data(f(&buf[..n]))),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(ReadOutcome::WouldBlock),
            Err(e) => Err(e),
        }
    })
}

/// TCP connect with TCP_NODELAY, given up at `deadline`.
pub(super) async fn connect(addr: SocketAddr, deadline: Instant) -> Result<TcpStream, String> {
    let stream = match timeout_at(deadline, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(format!("connect to {addr}: {e}")),
        Err(_) => return Err(format!("connect to {addr}: timed out")),
    };
    stream
        .set_nodelay(true)
        .map_err(|e| format!("TCP_NODELAY: {e}"))?;
    Ok(stream)
}

/// Time a closing connection waits for the server to close its side.
const CLOSE_WAIT: Duration = Duration::from_millis(500);

/// Sends `last` (e.g. deleteStream), half-closes, and reads until the server closes too, for at most
/// [`CLOSE_WAIT`]: dropping a socket with unread data makes the kernel send a reset, which servers log as an
/// error for every player.
pub(super) async fn close_gracefully(mut stream: TcpStream, last: Option<Bytes>) {
    let _ = timeout_at(Instant::now() + CLOSE_WAIT, async {
        if let Some(bytes) = last {
            stream.write_all(&bytes).await?;
        }
        stream.shutdown().await?;
        loop {
            stream.readable().await?;
            if let ReadOutcome::Closed = read_now(&stream, |_| ())? {
                return Ok::<(), io::Error>(());
            }
        }
    })
    .await;
}
