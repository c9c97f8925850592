//! One clock readable from several processes.
//!
//! `std::time::Instant` is CLOCK_MONOTONIC on Linux but cannot be serialized, so send and receive times that
//! cross a process boundary (the publisher in the parent, players in worker processes) are read from
//! CLOCK_MONOTONIC directly, as nanoseconds. The clock is system-wide, so the numbers compare across processes.

use std::time::Duration;

use tokio::time::Instant;

/// Nanoseconds of CLOCK_MONOTONIC.
pub fn mono_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    // CLOCK_MONOTONIC is never negative.
    u64::try_from(t.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        + u64::try_from(t.tv_nsec).unwrap_or(0)
}

/// The tokio instant at which CLOCK_MONOTONIC reads `ns` (now, if that is already past).
pub(super) fn instant_at(ns: u64) -> Instant {
    Instant::now() + Duration::from_nanos(ns.saturating_sub(mono_ns()))
}
