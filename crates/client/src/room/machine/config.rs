//! The room machine's settings (the JavaScript `RoomMachine`'s `config`, same names in milliseconds).

use std::time::Duration;

/// Timers of the room client. The defaults match the server's (`rooms.heartbeat_interval_ms`,
/// `rooms.resume_grace_secs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomConfig {
    /// Heartbeat interval until the server's `joined` gives its own (`heartbeat_ms`, 7 s).
    pub heartbeat: Duration,
    /// How long a `join`, `resume` or `exit` may go unanswered (`answer_timeout_ms`, 10 s).
    pub answer_timeout: Duration,
    /// How long after a drop the server keeps the membership: resumes stop after it (`resume_grace_ms`, 15 s).
    pub resume_grace: Duration,
    /// The wait before the second attempt to reopen a dropped socket (the first is at once); it doubles after
    /// each failed attempt (`resume_retry_ms`, 1 s).
    pub resume_retry: Duration,
    /// The longest wait between two attempts (`resume_retry_max_ms`, 4 s).
    pub resume_retry_max: Duration,
}

impl Default for RoomConfig {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(7),
            answer_timeout: Duration::from_secs(10),
            resume_grace: Duration::from_secs(15),
            resume_retry: Duration::from_secs(1),
            resume_retry_max: Duration::from_secs(4),
        }
    }
}
