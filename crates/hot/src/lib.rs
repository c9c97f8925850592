//! What the per-player write path needs beyond safe Rust, kept apart so that the server can forbid `unsafe`
//! (as the `heap` crate does for the allocator's books).
//!
//! A `live` delivery round writes one window to hundreds of players in turn, each on its own cache lines. A profile
//! of 500 players put a fifth of mplive's user-space time in reaching each socket's descriptor through two `Arc`s
//! (the write half, then the stream that owns the descriptor) and in the cache misses of walking the players, work
//! the write floor (`bench/floor`, a plain array of descriptors) does not have. [`SocketFd`] keeps the descriptor
//! next to the player's other state; [`prefetch`] asks for the next player's lines while the current one's system
//! call runs.

#![deny(unsafe_op_in_unsafe_fn)]

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;

mod sealed {
    pub trait Sealed {}
}

/// A type whose descriptor is fixed for its whole life and closed only when it is dropped, so that a copy of the
/// raw number stays valid while the value lives. Sealed: implemented here for the tokio socket types that hold.
pub trait StableFd: sealed::Sealed {
    /// The descriptor.
    fn stable_fd(&self) -> BorrowedFd<'_>;
}

impl sealed::Sealed for tokio::net::tcp::OwnedWriteHalf {}
/// The write half shares its stream through an `Arc`; the descriptor is closed when the last half is dropped and
/// cannot be replaced while it is shared (`reunite` consumes the halves).
impl StableFd for tokio::net::tcp::OwnedWriteHalf {
    fn stable_fd(&self) -> BorrowedFd<'_> {
        self.as_ref().as_fd()
    }
}

impl sealed::Sealed for tokio::net::TcpStream {}
/// A tokio stream gives its descriptor up only by value (`into_std`) or on drop.
impl StableFd for tokio::net::TcpStream {
    fn stable_fd(&self) -> BorrowedFd<'_> {
        self.as_fd()
    }
}

/// A shared socket and its descriptor number side by side: [`SocketFd::fd`] borrows the descriptor without going
/// through the owner's pointers.
#[derive(Debug)]
pub struct SocketFd<T: StableFd> {
    owner: Arc<T>,
    fd: RawFd,
}

impl<T: StableFd> SocketFd<T> {
    /// Keeps `owner` and its descriptor number.
    pub fn new(owner: Arc<T>) -> SocketFd<T> {
        let fd = owner.stable_fd().as_raw_fd();
        SocketFd { owner, fd }
    }

    /// The socket, for what goes through its owner (readiness, the async writes).
    pub fn owner(&self) -> &Arc<T> {
        &self.owner
    }

    /// The descriptor, borrowed for as long as this value.
    pub fn fd(&self) -> BorrowedFd<'_> {
        // SAFETY: `self.fd` was the owner's descriptor when it was read, `StableFd` promises the owner keeps that
        // descriptor open and unchanged for its whole life, and `self.owner` keeps the owner alive for at least
        // the borrow's lifetime.
        unsafe { BorrowedFd::borrow_raw(self.fd) }
    }
}

/// Most cache lines one [`prefetch`] asks for.
const MAX_PREFETCH_LINES: usize = 4;

/// Asks the CPU to bring the cache lines of `value` (up to four) closer: a hint, with no effect on what the
/// program computes, and none at all on architectures without the instruction here.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        let start = (value as *const T).cast::<i8>();
        let lines = std::mem::size_of::<T>()
            .div_ceil(64)
            .clamp(1, MAX_PREFETCH_LINES);
        for line in 0..lines {
            // SAFETY: a prefetch reads nothing architecturally and cannot fault, whatever the address (the
            // offsets stay inside `value` or one line past it); SSE, which the instruction belongs to, is part of
            // every x86-64 CPU.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    start.wrapping_add(line * 64),
                );
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A write through the kept descriptor reaches the peer, as one through the owner does.
    #[tokio::test]
    async fn the_kept_descriptor_is_the_owners() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let (_read, write) = client.into_split();
        let kept = SocketFd::new(Arc::new(write));
        assert_eq!(kept.fd().as_raw_fd(), kept.owner().stable_fd().as_raw_fd());
        let mut file = std::fs::File::from(kept.fd().try_clone_to_owned().unwrap());
        file.write_all(b"hot").unwrap();
        let mut got = [0u8; 3];
        server.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hot");
        prefetch(&kept);
    }
}
