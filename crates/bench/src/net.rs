//! The per-thread read buffer the players and the publisher share, and the closing time limit.

use std::cell::RefCell;
use std::time::Duration;

/// Size of the per-thread read buffer.
const READ_BUF: usize = 64 * 1024;
/// Time a closing connection waits for the server to close its side.
pub(super) const CLOSE_WAIT: Duration = Duration::from_millis(500);

thread_local! {
    /// One read buffer per runtime thread instead of one per player: a player reads, processes the bytes and
    /// returns without awaiting in between, so a buffer is never held across a suspension point.
    static BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_BUF].into_boxed_slice());
}

/// Runs `f` with this thread's read buffer. `f` must not await (it cannot: it is not async) and must not call
/// `with_buf` again.
pub(super) fn with_buf<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    BUF.with(|buf| f(&mut buf.borrow_mut()[..]))
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
    stream: &tokio::net::TcpStream,
    f: impl FnOnce(&[u8]) -> R,
) -> std::io::Result<ReadOutcome<R>> {
    with_buf(|buf| match stream.try_read(buf) {
        Ok(0) => Ok(ReadOutcome::Closed),
        Ok(n) => Ok(ReadOutcome::Data(f(&buf[..n]))),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(ReadOutcome::WouldBlock),
        Err(e) => Err(e),
    })
}
