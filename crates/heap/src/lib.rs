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

/// Fixes the size from which glibc serves an allocation with its own `mmap` (returned to the kernel on `free`)
/// instead of from an arena; `false` if glibc refuses it or the C library is not glibc. Sizes over 32 MiB, glibc's
/// own maximum for the dynamic threshold, make little sense (the server's settings refuse them).
///
/// glibc's default threshold is dynamic: it starts at 128 KiB and rises to the size of every mmapped block that is
/// freed, so after a few large buffers (HLS segments, a burst of socket reads) come and go, blocks of that size are
/// carved from the arenas, and the small long-lived allocations made meanwhile pin the pages they leave behind,
/// which `malloc_trim` cannot return. Setting it turns the dynamic rise off.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn set_mmap_threshold(bytes: usize) -> bool {
    let Ok(value) = libc::c_int::try_from(bytes) else {
        return false;
    };
    // SAFETY: `mallopt` takes the main arena's lock and sets one of the allocator's parameters; glibc validates the
    // value (at most HEAP_MAX_SIZE / 2) and returns 0 when it refuses it.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, value) == 1 }
}

/// Fixes glibc's mmap threshold; `false` here: the C library is not glibc.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn set_mmap_threshold(_bytes: usize) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test, not two: the books are the process's, and a test allocating beside another moves them.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn books_follow_allocations_and_the_threshold_is_taken() {
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

        assert!(set_mmap_threshold(128 * 1024));
        // With glibc's dynamic threshold, freeing the 8 MiB block above raised it to 8 MiB: this block would come
        // from the arena and stay there, free. With it fixed, it is mmapped and freeing it hands it straight back.
        let before = heap().expect("glibc");
        drop(std::hint::black_box(vec![1u8; 1 << 20]));
        let after = heap().expect("glibc");
        assert!(
            after.free <= before.free + 64 * 1024,
            "{before:?} -> {after:?}"
        );
    }
}
