//! The C allocator's books (glibc `malloc`, which Rust's system allocator calls; the calls themselves are in the
//! `heap` crate): how much of the memory it holds is in use, and handing back to the kernel what it keeps free.
//!
//! Why: glibc keeps freed memory in its arenas (one per thread that ever allocated, up to 8 per core) for reuse,
//! and a burst of connections leaves free holes there that it rarely returns. A 14-minute soak (200 players
//! churning, publishers coming and going) kept the heap in use flat at 16.4 MB while the memory glibc held grew
//! from 22 to 26 MB and RSS from 35.9 to 41.2 MiB: not a leak, but indistinguishable from one on a dashboard. So a
//! task calls `malloc_trim` every `memory_trim_secs`, which releases the free pages of every arena (not only the
//! top of the main heap), and `/metrics` shows both numbers (`mplive_heap_in_use_bytes`,
//! `mplive_heap_free_bytes`): a leak grows the first, fragmentation the second. Other C libraries: no gauges, no
//! task.

use std::fmt::Write as _;
use std::time::Duration;

use heap::{heap, set_mmap_threshold, trim};
use tokio_util::sync::CancellationToken;

/// Fixes the allocator's mmap threshold (`memory_mmap_threshold`; 0 leaves glibc's dynamic one). The trim above
/// returns only whole free pages; what fragmented the arenas over a soak's hour was large blocks (segments, read
/// bursts) carved from them once glibc's dynamic threshold had risen past their size. Called at start, before the
/// listeners, while the worker threads are idle.
pub(crate) fn fix_mmap_threshold(bytes: usize) {
    if bytes == 0 || heap().is_none() {
        return;
    }
    if !set_mmap_threshold(bytes) {
        tracing::warn!(
            memory_mmap_threshold = bytes,
            "the C allocator refused the mmap threshold: its dynamic threshold stays"
        );
    }
}

/// Trims every `interval` until `shutdown` (not at all when the interval is zero or the C library is not glibc).
/// A trim walks every arena under its lock for well under a millisecond at this server's heap sizes; it runs on
/// the blocking pool so that no worker thread waits for it.
pub(crate) async fn trim_every(interval: Duration, shutdown: CancellationToken) {
    if interval.is_zero() || heap().is_none() {
        return;
    }
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                let _ = tokio::task::spawn_blocking(trim).await;
            }
        }
    }
}

/// The `mplive_heap_*` gauges in the exposition format (nothing where the C library is not glibc).
pub(crate) fn render(out: &mut String) {
    if let Some(heap) = heap() {
        let _ = writeln!(
            out,
            "# HELP mplive_heap_in_use_bytes Heap bytes allocated and not freed (glibc mallinfo2). A leak grows it.\n\
             # TYPE mplive_heap_in_use_bytes gauge\nmplive_heap_in_use_bytes {}\n\
             # HELP mplive_heap_free_bytes Heap bytes freed but kept by the allocator for reuse (see memory_trim_secs).\n\
             # TYPE mplive_heap_free_bytes gauge\nmplive_heap_free_bytes {}",
            heap.in_use, heap.free
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn gauges_are_rendered_on_glibc() {
        let mut text = String::new();
        super::render(&mut text);
        if heap::heap().is_some() {
            assert!(text.contains("mplive_heap_in_use_bytes "), "{text}");
            assert!(text.contains("mplive_heap_free_bytes "), "{text}");
        } else {
            assert!(text.is_empty());
        }
    }
}
