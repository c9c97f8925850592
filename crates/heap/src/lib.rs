//! The C allocator's books and its trim, behind a safe interface: two calls into glibc
//! (`mallinfo2`, `malloc_trim`), kept apart (with `hot`, the only other unsafe code) so that every other crate can
//! forbid `unsafe`.
//!
//! Rust's system allocator is the C library's `malloc`. glibc keeps freed memory in its arenas for reuse and rarely
//! gives back holes left by a burst of allocations; `malloc_trim` releases the free pages of every arena. On other
//! C libraries both functions report that they cannot (`None`, `false`).
#![deny(unsafe_op_in_unsafe_fn)]

/// The allocator's totals over all its arenas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heap {
    /// Bytes handed out and not freed (mmapped large blocks included).
    pub in_use: u64,
    /// Bytes the allocator holds free for reuse.
    pub free: u64,
}

/// The allocator's totals; `None` where the C library is not glibc.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn heap() -> Option<Heap> {
    // SAFETY: `mallinfo2` (glibc 2.33+) takes no arguments, reads the arenas' statistics under their locks and
    // returns a plain struct by value.
    let info = unsafe { libc::mallinfo2() };
    Some(Heap {
        in_use: (info.uordblks + info.hblkhd) as u64,
        free: info.fordblks as u64,
    })
}

/// The allocator's totals; `None` where the C library is not glibc.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn heap() -> Option<Heap> {
    None
}

/// Returns the allocator's free pages to the kernel; `true` if any were.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn trim() -> bool {
    // SAFETY: `malloc_trim` is thread-safe (it takes each arena's lock in turn) and only releases pages that
    // hold no allocation; a pad of 0 keeps nothing extra at the top of the heap.
    unsafe { libc::malloc_trim(0) != 0 }
}

/// Returns the allocator's free pages to the kernel; `false` here: the C library is not glibc.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn books_follow_an_allocation() {
        let before = heap().expect("glibc");
        let block = vec![1u8; 8 << 20];
        let during = heap().expect("glibc");
        assert!(
            during.in_use > before.in_use + (4 << 20),
            "an 8 MiB block shows in use: {before:?} -> {during:?}"
        );
        assert_eq!(block[12345], 1);
        drop(block);
        trim();
    }
}
