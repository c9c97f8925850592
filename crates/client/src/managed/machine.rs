//! The Vhall mini-program publisher SDK's reconnect policy as a sans-IO state machine (seed 000).
//!
//! The SDK watches live-pusher's status codes. The first 1002 is `connected`. A failure code (-1307, 3001, 3002,
//! 3003, 3004, 3005) starts a reconnect: `reconnecting` at once, then every `interval` (5 s) the SDK asks its
//! server for a fresh push URL (`/sdk/v1/publisher/refresh`); a URL is `reconnectReady {url}` and the pusher
//! restarts with it; an API failure is `reconnectFail {err}` and the next tick tries again. The next 1002 after a
//! reconnect began is `reconnected`, which ends the cycle. `destroy` ends everything.
//!
//! Vocabulary (vectors under `sdk/vectors/managed/`):
//! - inputs: `start`, `status {code}`, `url_fetched {url}`, `url_failed {err}`, `destroy`;
//! - events: `connected`, `reconnecting`, `reconnect_ready {url}`, `reconnected`, `reconnect_fail {err}`;
//! - actions: `fetch_url` (call the refresh endpoint), `restart {url}` (restart the pusher with this URL),
//!   `stop` (stop the pusher).
//!
//! The machine follows the workspace's sans-IO contract (`docs/architecture.md`): inputs through
//! [`ManagedMachine::handle_input`] with `now: Instant`, the reconnect tick from [`ManagedMachine::poll_timeout`]
//! into [`ManagedMachine::handle_timeout`], outputs from [`ManagedMachine::poll_output`]. The vectors give times
//! in milliseconds from the start of a case; their replay turns them into instants (`start + at_ms`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Settings of the reconnect policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagedConfig {
    /// Time between reconnect attempts (the SDK's 5 s; `interval_ms` in the vectors).
    pub interval: Duration,
}

impl Default for ManagedConfig {
    fn default() -> Self {
        ManagedConfig {
            interval: Duration::from_millis(5000),
        }
    }
}

/// Least time between two reconnect ticks, so that a zero interval cannot tick twice at one instant.
const MIN_TICK: Duration = Duration::from_millis(1);

/// An observation handed to the machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ManagedInput {
    /// `createInstance` succeeded and the pusher was started with its URL.
    Start,
    /// A live-pusher status code.
    Status {
        /// The code.
        code: i32,
    },
    /// The refresh endpoint answered with a URL.
    UrlFetched {
        /// The fresh push URL.
        url: String,
    },
    /// The refresh endpoint failed (network, or `{code, message}` from the server).
    UrlFailed {
        /// What the API said.
        err: String,
    },
    /// `destroy()`.
    Destroy,
}

/// An event for the page (`on(name, cb)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ManagedEvent {
    /// The first 1002.
    Connected,
    /// A failure code started a reconnect.
    Reconnecting,
    /// A fresh URL to restart with.
    ReconnectReady {
        /// The URL.
        url: String,
    },
    /// 1002 again after a reconnect began.
    Reconnected,
    /// The refresh endpoint failed; the next tick tries again.
    ReconnectFail {
        /// What the API said.
        err: String,
    },
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ManagedAction {
    /// Ask `/sdk/v1/publisher/refresh` for a URL, then report `url_fetched` or `url_failed`.
    FetchUrl,
    /// Restart the pusher with this URL.
    Restart {
        /// The URL.
        url: String,
    },
    /// Stop the pusher (destroy).
    Stop,
}

/// One output, in the order produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManagedOutput {
    /// For the page.
    Event(ManagedEvent),
    /// For the driver.
    Action(ManagedAction),
}

/// The codes after which the SDK reconnects.
pub const RECONNECT_CODES: [i32; 6] = [-1307, 3001, 3002, 3003, 3004, 3005];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    /// Pushing (or starting) with no reconnect in progress.
    Running,
    /// A reconnect is in progress; `fetching` while a URL request is out.
    Reconnecting {
        next_tick: Instant,
        fetching: bool,
    },
    Destroyed,
}

/// The machine. Time is an argument of every call; nothing here reads a clock.
#[derive(Debug, Clone)]
pub struct ManagedMachine {
    config: ManagedConfig,
    state: State,
    connected_once: bool,
    out: VecDeque<ManagedOutput>,
}

impl ManagedMachine {
    /// A machine that has not started.
    pub fn new(config: ManagedConfig) -> ManagedMachine {
        ManagedMachine {
            config,
            state: State::Idle,
            connected_once: false,
            out: VecDeque::new(),
        }
    }

    /// Handles one observation at `now` (a reconnect tick due by `now` fires first).
    pub fn handle_input(&mut self, input: ManagedInput, now: Instant) {
        self.handle_timeout(now);
        match (input, self.state) {
            (_, State::Destroyed) => {}
            (ManagedInput::Destroy, _) => {
                self.state = State::Destroyed;
                self.action(ManagedAction::Stop);
            }
            (ManagedInput::Start, State::Idle) => self.state = State::Running,
            (ManagedInput::Start, _) => {}
            (ManagedInput::Status { code }, state) => self.on_status(code, state, now),
            (ManagedInput::UrlFetched { url }, State::Reconnecting { next_tick, .. }) => {
                self.state = State::Reconnecting {
                    next_tick,
                    fetching: false,
                };
                self.event(ManagedEvent::ReconnectReady { url: url.clone() });
                self.action(ManagedAction::Restart { url });
            }
            (ManagedInput::UrlFailed { err }, State::Reconnecting { next_tick, .. }) => {
                self.state = State::Reconnecting {
                    next_tick,
                    fetching: false,
                };
                self.event(ManagedEvent::ReconnectFail { err });
            }
            // A late answer after the reconnect already succeeded: nothing to do.
            (ManagedInput::UrlFetched { .. } | ManagedInput::UrlFailed { .. }, _) => {}
        }
    }

    fn on_status(&mut self, code: i32, state: State, now: Instant) {
        match state {
            State::Idle | State::Destroyed => {}
            State::Running if code == crate::status::pusher::PUSHING => {
                if !self.connected_once {
                    self.connected_once = true;
                    self.event(ManagedEvent::Connected);
                }
            }
            State::Running if RECONNECT_CODES.contains(&code) => {
                self.state = State::Reconnecting {
                    next_tick: now + self.config.interval,
                    fetching: false,
                };
                self.event(ManagedEvent::Reconnecting);
            }
            State::Running => {}
            State::Reconnecting { .. } if code == crate::status::pusher::PUSHING => {
                self.state = State::Running;
                if self.connected_once {
                    self.event(ManagedEvent::Reconnected);
                } else {
                    self.connected_once = true;
                    self.event(ManagedEvent::Connected);
                }
            }
            // Further failures during a reconnect: the cadence goes on.
            State::Reconnecting { .. } => {}
        }
    }

    /// Fires the reconnect tick when due; calling early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let State::Reconnecting {
            next_tick,
            fetching,
        } = self.state
        {
            if now >= next_tick {
                let next = next_tick + self.config.interval;
                self.state = State::Reconnecting {
                    next_tick: next.max(now + MIN_TICK),
                    fetching: true,
                };
                // One request at a time: a tick while a request is out waits for its answer.
                if !fetching {
                    self.action(ManagedAction::FetchUrl);
                }
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Reconnecting { next_tick, .. } => Some(next_tick),
            _ => None,
        }
    }

    /// The next output. Drain after every `handle_*` call.
    pub fn poll_output(&mut self) -> Option<ManagedOutput> {
        self.out.pop_front()
    }

    /// Whether a reconnect is in progress.
    pub fn is_reconnecting(&self) -> bool {
        matches!(self.state, State::Reconnecting { .. })
    }

    fn event(&mut self, e: ManagedEvent) {
        self.out.push_back(ManagedOutput::Event(e));
    }

    fn action(&mut self, a: ManagedAction) {
        self.out.push_back(ManagedOutput::Action(a));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ms` milliseconds after `t0`.
    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    fn drain(m: &mut ManagedMachine) -> Vec<ManagedOutput> {
        std::iter::from_fn(|| m.poll_output()).collect()
    }

    #[test]
    fn a_tick_while_a_request_is_out_does_not_send_another() {
        let t0 = Instant::now();
        let mut m = ManagedMachine::new(ManagedConfig::default());
        m.handle_input(ManagedInput::Start, at(t0, 0));
        m.handle_input(ManagedInput::Status { code: 3002 }, at(t0, 10));
        m.handle_timeout(at(t0, 5010));
        m.handle_timeout(at(t0, 10_010));
        let fetches = drain(&mut m)
            .into_iter()
            .filter(|o| *o == ManagedOutput::Action(ManagedAction::FetchUrl))
            .count();
        assert_eq!(fetches, 1);
    }

    #[test]
    fn destroy_ends_everything() {
        let t0 = Instant::now();
        let mut m = ManagedMachine::new(ManagedConfig::default());
        m.handle_input(ManagedInput::Start, at(t0, 0));
        m.handle_input(ManagedInput::Destroy, at(t0, 1));
        m.handle_input(ManagedInput::Status { code: 3002 }, at(t0, 2));
        assert_eq!(
            drain(&mut m),
            vec![ManagedOutput::Action(ManagedAction::Stop)]
        );
        assert_eq!(m.poll_timeout(), None);
    }
}
