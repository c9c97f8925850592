//! The live-player as a state machine without I/O: observations in, status codes and actions out.
//!
//! # Contract
//!
//! The driver (the tokio [`Player`](crate::player::Player), the JavaScript SDK, a test) owns the sockets and the
//! clock. It feeds [`Input`]s with [`handle_input`](PlayerMachine::handle_input), calls
//! [`handle_timeout`](PlayerMachine::handle_timeout) when [`poll_timeout`](PlayerMachine::poll_timeout) passes
//! (early calls are harmless), and after every call drains [`poll_output`](PlayerMachine::poll_output) until it
//! returns `None`. Time is always an argument; nothing here reads a clock, draws randomness or blocks (the
//! workspace's sans-IO contract, `docs/architecture.md`).
//!
//! ```text
//!  start, dns_failed, connect_failed, tcp_connected,        status events 2001 2002 2003 2004 2006 2007
//!  handshake_failed, play_started, not_found, frame,  --->  2009 2103 -2301 3001 3002 3003 3005
//!  stream_ended, io_failed, stop, (clock)                   actions connect, close, give_up
//! ```
//!
//! # Vocabulary (snake_case in the test vectors of `sdk/vectors/player/`)
//!
//! | input | meaning | outputs |
//! |---|---|---|
//! | `start` | begin playing | action `connect` |
//! | `dns_failed`, `connect_failed` | the attempt died before a TCP connection | 3001 / 3002, then 2103 or -2301 |
//! | `tcp_connected` | the TCP connection is up | 2001 (once per run of attempts, see below) |
//! | `handshake_failed` | RTMP handshake/connect failed, or the server refused the play | `close`, 3003, 2103 or -2301 |
//! | `play_started` | RTMP `NetStream.Play.Start`, HTTP 200 | 2002 |
//! | `not_found` | the stream is not live (RTMP `StreamNotFound`, HTTP 404) | `close`, 2007 (first time), retry |
//! | `frame` | an audio/video frame (`kind`, `keyframe`, `timestamp_ms`, `width`/`height` when known) | 2003, 2004, 2009 |
//! | `stream_ended` | RTMP `UnpublishNotify`/`StreamEOF`, end of the HTTP body | `close`, 2006 once played out |
//! | `io_failed` | a read or write failed, or the server closed the connection | `close`, 3005, 2103 or -2301 |
//! | `stop` | the application stops | `close` if an attempt is open |
//!
//! The driver must act on `connect` (open a new attempt), `close` (drop the current attempt, gracefully where it
//! can) and `give_up` (the machine is done). Every attempt ends with `close` (also one that failed after
//! connecting, so the driver releases connections in one place) except one ended by `dns_failed` or
//! `connect_failed`, which never had a connection.
//!
//! # Behaviour and defaults ([`PlayerConfig`])
//!
//! - **live** (default): frames go into a jitter buffer measured in media time. Playback begins (2004) once
//!   `min_cache` (1 s) is buffered; the buffer then drains in real time. When it runs empty: 2007, and playback
//!   waits for `min_cache` again. When more than `max_cache` (3 s) is buffered the oldest frames are dropped
//!   until `min_cache` is left (counted in [`dropped_frames`](PlayerMachine::dropped_frames)).
//! - **rtc**: no buffer. 2004 comes with the first video keyframe (audio-only: once 1 s of audio arrived).
//!   A frozen picture is reported as a stall: no frame for 1 s -> 2007, the next frame -> 2004.
//! - **Not published yet**: `not_found` is not a failure. The first one reports 2007 (loading), then the
//!   machine asks again every `retry_interval` (1 s) without spending retries and without repeating 2001/2007,
//!   until the stream starts (2002, 2003, 2004) or `max_wait` (unlimited by default; counted from the first
//!   `not_found`) passes (-2301).
//! - **Failures** (3001, 3002, 3003, 3005): 2103 and a new `connect` after `retry_interval`, at most `retries`
//!   (3, like live-player: "more than three reconnects -> PLAY_ERR_NET_DISCONNECT") times in a row; the next
//!   failure reports -2301 and `give_up`. An attempt that delivers a frame resets the count.
//! - **End**: `stream_ended` closes the attempt at once; in live mode what is buffered is played out first,
//!   then 2006. The machine is finished after 2006, -2301 or `stop`; `start` begins anew.
//! - **Resolution**: a frame whose `width`/`height` differ from the last known ones reports 2009 (not the first
//!   size: that is not a change).
//! - An input that does not fit the phase (a frame before `play_started`, a failure after `stop`) is ignored.
//!
//! A vector's `config` names the settings in milliseconds: `mode` (`"live"`/`"rtc"`), `min_cache_ms`,
//! `max_cache_ms`, `retries`, `retry_interval_ms`, `max_wait_ms`.

mod buffer;
mod config;
mod transitions;
mod vocabulary;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use flv::MediaKind;
use serde::{Deserialize, Serialize};

use crate::status::player as code;
use buffer::JitterBuffer;
pub use config::{PlayMode, PlayerConfig};
pub use vocabulary::{Action, Frame, Input, Output};

#[cfg(test)]
mod tests;

/// In rtc mode, no frame for this long is a stall (2007).
pub const RTC_STALL: Duration = Duration::from_millis(1000);
/// In rtc mode an audio-only stream begins playing once this much audio (media time) arrived.
pub const AUDIO_ONLY_START: Duration = Duration::from_millis(1000);

/// Where the player stands, for displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlayerState {
    /// Not started.
    Idle,
    /// Connecting or asking for the stream.
    Connecting,
    /// The stream is not live yet; asking again periodically.
    Waiting,
    /// The stream started; filling the buffer (first time or after a stall).
    Loading,
    /// Playing.
    Playing,
    /// Waiting to reconnect after a failure.
    Reconnecting,
    /// The stream ended (2006).
    Ended,
    /// Stopped by the application.
    Stopped,
    /// Gave up (-2301).
    GaveUp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    /// `connect` sent, waiting for `tcp_connected`.
    Connecting,
    /// Connected, waiting for `play_started` or `not_found`.
    Requesting,
    /// The play started; frames flow.
    Streaming,
    /// The stream ended; playing out what is buffered.
    Draining,
    /// Waiting for `retry_at` (after a failure, or to ask for a stream not live yet).
    Backoff,
    Ended,
    Stopped,
    GaveUp,
}

/// The live-player state machine. See the [module documentation](self).
#[derive(Debug)]
pub struct PlayerMachine {
    config: PlayerConfig,
    phase: Phase,
    outputs: VecDeque<Output>,
    /// Failed attempts in a row.
    failures: u32,
    retry_at: Option<Instant>,
    /// Since when the stream has been reported not live, while it still is.
    waiting_since: Option<Instant>,
    /// 2001 was reported for this run of attempts (reset by a failure, so a reconnect reports it again).
    connected_reported: bool,
    attempt: AttemptState,
    buffer: JitterBuffer,
    /// Playback runs (2004 reported, no stall since).
    playing: bool,
    resolution: Option<(u32, u32)>,
    stalls: u64,
    stalled: Duration,
    stall_since: Option<Instant>,
    dropped: u64,
    reconnects: u64,
}

/// What one attempt has seen.
#[derive(Debug, Default)]
struct AttemptState {
    keyframe_seen: bool,
    got_frame: bool,
    /// rtc: arrival of the last frame (stall detection), first audio timestamp (audio-only start).
    last_arrival: Option<Instant>,
    first_audio_ts: Option<u32>,
}

impl PlayerMachine {
    /// A machine in the idle phase; feed [`Input::Start`] to begin.
    pub fn new(config: PlayerConfig) -> Self {
        Self {
            config,
            phase: Phase::Idle,
            outputs: VecDeque::new(),
            failures: 0,
            retry_at: None,
            waiting_since: None,
            connected_reported: false,
            attempt: AttemptState::default(),
            buffer: JitterBuffer::default(),
            playing: false,
            resolution: None,
            stalls: 0,
            stalled: Duration::ZERO,
            stall_since: None,
            dropped: 0,
            reconnects: 0,
        }
    }

    // ---- getters ----

    /// The settings.
    pub fn config(&self) -> &PlayerConfig {
        &self.config
    }

    /// Where the player stands.
    pub fn state(&self) -> PlayerState {
        match self.phase {
            Phase::Idle => PlayerState::Idle,
            Phase::Connecting | Phase::Requesting if self.waiting_since.is_some() => {
                PlayerState::Waiting
            }
            Phase::Connecting | Phase::Requesting => PlayerState::Connecting,
            Phase::Backoff if self.waiting_since.is_some() => PlayerState::Waiting,
            Phase::Backoff => PlayerState::Reconnecting,
            Phase::Streaming | Phase::Draining if self.playing => PlayerState::Playing,
            Phase::Streaming | Phase::Draining => PlayerState::Loading,
            Phase::Ended => PlayerState::Ended,
            Phase::Stopped => PlayerState::Stopped,
            Phase::GaveUp => PlayerState::GaveUp,
        }
    }

    /// The machine ended (2006, -2301 or stop) and produces nothing more until `start`.
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Ended | Phase::Stopped | Phase::GaveUp)
    }

    /// Buffered media time at `now`, both kinds (live mode; 0 in rtc mode).
    pub fn buffered(&self, now: Instant) -> Duration {
        self.buffer.level(now)
    }

    /// Buffered media time of one kind at `now` (live-player's `videoCache`/`audioCache`, in ms).
    pub fn buffered_kind(&self, kind: MediaKind, now: Instant) -> Duration {
        self.buffer.level_kind(kind, now)
    }

    /// Stalls: 2007 after playback had begun (not the wait for a stream that is not live yet).
    pub fn stalls(&self) -> u64 {
        self.stalls
    }

    /// Time spent stalled, the current stall included.
    pub fn stalled(&self, now: Instant) -> Duration {
        self.stalled
            + self
                .stall_since
                .map_or(Duration::ZERO, |s| now.saturating_duration_since(s))
    }

    /// Frames dropped: late ones, those skipped to catch up above `max_cache`, video before the first keyframe.
    pub fn dropped_frames(&self) -> u64 {
        self.dropped
    }

    /// Reconnects announced (2103).
    pub fn reconnects(&self) -> u64 {
        self.reconnects
    }

    /// The last known picture size.
    pub fn resolution(&self) -> Option<(u32, u32)> {
        self.resolution
    }

    // ---- input ----

    /// Handles one observation at `now` (timers due by `now` fire first).
    pub fn handle_input(&mut self, input: Input, now: Instant) {
        self.handle_timeout(now);
        match input {
            Input::Start => self.start(),
            Input::DnsFailed { detail } if self.phase == Phase::Connecting => self.fail(
                code::DNS_FAILED,
                format!("DNS lookup failed: {detail}"),
                now,
            ),
            Input::ConnectFailed { detail } if self.phase == Phase::Connecting => self.fail(
                code::CONNECT_FAILED,
                format!("cannot connect to the server: {detail}"),
                now,
            ),
            Input::TcpConnected if self.phase == Phase::Connecting => {
                self.phase = Phase::Requesting;
                if !self.connected_reported {
                    self.connected_reported = true;
                    self.status(code::CONNECTED, "connected to the server");
                }
            }
            Input::HandshakeFailed { detail } if self.attempt_open() => {
                self.close();
                self.fail(
                    code::HANDSHAKE_FAILED,
                    format!("handshake with the server failed: {detail}"),
                    now,
                );
            }
            Input::PlayStarted if self.phase == Phase::Requesting => self.play_started(),
            Input::NotFound { detail } if self.phase == Phase::Requesting => {
                self.not_found(detail, now)
            }
            // Script data is not media: the machine has nothing to do with it.
            Input::Frame(frame) if frame.kind == MediaKind::Script => {}
            Input::Frame(frame) if self.phase == Phase::Streaming => self.frame(frame, now),
            Input::StreamEnded { detail } if self.phase == Phase::Streaming => {
                self.stream_ended(detail, now)
            }
            Input::IoFailed { detail } if self.attempt_open() => {
                self.close();
                self.fail(code::IO_FAILED, format!("connection lost: {detail}"), now);
            }
            Input::Stop if !self.is_finished() && self.phase != Phase::Idle => {
                if self.attempt_open() {
                    self.close();
                }
                self.end_stall(now);
                self.phase = Phase::Stopped;
            }
            _ => {}
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Backoff => self.retry_at,
            Phase::Streaming | Phase::Draining if self.playing => match self.config.mode {
                PlayMode::Live => self.buffer.empty_at(),
                PlayMode::Rtc => self.attempt.last_arrival.map(|t| t + RTC_STALL),
            },
            _ => None,
        }
    }

    /// Fires the timers due by `now`; calling early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Each firing moves to a phase without that timer (or stops the play clock), so this loop ends; it lets
        // a late call catch up on everything that came due.
        while let Some(due) = self.poll_timeout().filter(|d| *d <= now) {
            match self.phase {
                Phase::Backoff => {
                    self.retry_at = None;
                    self.phase = Phase::Connecting;
                    self.action(Action::Connect);
                }
                Phase::Draining => {
                    self.buffer.stop_at_end();
                    self.playing = false;
                    self.phase = Phase::Ended;
                    self.status(code::PLAY_END, "playback ended: the stream ended");
                }
                _ => {
                    // Streaming and playing: the buffer ran empty (live) or the picture froze (rtc).
                    self.buffer.stop_at_end();
                    self.playing = false;
                    self.stalls += 1;
                    self.stall_since = Some(due);
                    let why = match self.config.mode {
                        PlayMode::Live => "loading: the buffer ran empty".to_string(),
                        PlayMode::Rtc => {
                            format!("loading: no frame for {} ms", RTC_STALL.as_millis())
                        }
                    };
                    self.status(code::LOADING, why);
                }
            }
        }
    }

    /// The next output, if any. Drain after every `handle_*` call.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }
}
