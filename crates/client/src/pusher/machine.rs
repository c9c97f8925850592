//! The live-pusher state machine: what the driver observed goes in, status codes and actions come out.
//!
//! No I/O, no clock and no randomness of its own (the workspace's sans-IO contract, `docs/architecture.md`): every
//! input goes in through [`PusherMachine::handle_input`] with `now`, the only deadline (the retry wait) comes back
//! from [`PusherMachine::poll_timeout`] and fires in [`PusherMachine::handle_timeout`], and outputs queue until
//! [`PusherMachine::poll_output`] takes them. After every input or timeout, call `poll_output` until it returns
//! `None`.
//!
//! # Vocabulary
//!
//! Inputs ([`Input`], snake_case in the test vectors): `start`, `dns_failed{detail}`, `connect_failed{detail}`,
//! `tcp_connected{peer?}`, `handshake_failed{detail}`, `publishing`, `refused{description}`,
//! `server_closed{detail}`, `io_failed{detail}`, `congested{queued_ms}`, `uncongested`, `pause`, `resume`,
//! `stop`. Outputs ([`Output`]): status events with the live-pusher codes 1001, 1002, 1101, 1102, 3001-3005 and
//! -1307, and actions for the driver: `connect` (resolve, dial, handshake, publish), `close` (unpublish and
//! close the connection), `give_up` (the push is over).
//!
//! # Reconnect policy
//!
//! live-pusher documents the codes, not the timing (seed 001), and says it gives up after three failed reconnects
//! (seed 004: 1102 "重试失败超过三次会放弃", -1307 "经三次重连无效"). So: every failure emits its code
//! (3001-3005), then, while fewer than [`MachineConfig::max_retries`] reconnects have failed in a row, 1102 and a
//! new `connect` after [`MachineConfig::retry_interval`]; once they are used up, -1307 and `give_up`. A 1002
//! resets the count. Neither seed gives an interval: 1 s is our choice (the Vhall SDK of seed 000 retries every
//! 5 s, but that is its own retry with a fresh URL after live-pusher gave up, not live-pusher's).
//!
//! A refusal by the server (3004: bad or expired signature, forbidden stream, kicked) is retried like any other
//! failure, as live-pusher does ("服务器主动断开连接,启动重试流程"): a signature that expired will fail again
//! and end in -1307, a kicked publisher comes back, a stream busy for a moment may free up.
//!
//! 3004 covers the server ending the connection: a refusal with its reason (`refused`), and a close or reset
//! after the handshake (`server_closed`, e.g. a kick), as live-pusher's "服务器主动断开". 3005 is left for what
//! fails on the way (`io_failed`): an unreachable network, a socket that takes no data.
//!
//! The driver reports each failure after dropping the failed connection, so a failure needs no `close`.
//! Inputs that make no sense in the current state (a failure while waiting to retry, `publishing` before
//! `tcp_connected`) are ignored: they come from a connection that is already gone.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::status::{pusher as code, StatusEvent};

/// Settings of the reconnect policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineConfig {
    /// Reconnects allowed after failures in a row before giving up with -1307 (default 3, as live-pusher).
    pub max_retries: u32,
    /// Wait between a failure and the next connect (default 1 s).
    pub retry_interval: Duration,
    /// While the uplink stays congested, 1101 is repeated this often (default 5 s).
    pub net_busy_repeat: Duration,
}

impl Default for MachineConfig {
    fn default() -> Self {
        Self {
            max_retries: 3,
            retry_interval: Duration::from_millis(1000),
            net_busy_repeat: Duration::from_secs(5),
        }
    }
}

/// What the driver observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Input {
    /// The application asked to push.
    Start,
    /// The host name did not resolve (3001).
    DnsFailed {
        /// What failed, for a person.
        detail: String,
    },
    /// The TCP connection failed or timed out (3002).
    ConnectFailed {
        /// What failed, for a person.
        detail: String,
    },
    /// The TCP connection is up (1001).
    TcpConnected {
        /// The server's address, for the message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<String>,
    },
    /// The RTMP handshake, `connect` or `publish` failed or timed out without an answer from the server (3003).
    HandshakeFailed {
        /// What failed, for a person.
        detail: String,
    },
    /// `NetStream.Publish.Start` arrived (1002).
    Publishing,
    /// The server refused: `_error` to connect, an error `onStatus` to publish (3004).
    Refused {
        /// The server's description, e.g. `signature_expired: ...`: it becomes the message.
        description: String,
    },
    /// The server ended the connection after the handshake (3004): an orderly close, or a reset, as a server that
    /// closes with our data unread causes (a kick, a process killed).
    ServerClosed {
        /// What happened, for a person.
        detail: String,
    },
    /// Reading or writing the socket failed otherwise (3005): unreachable network, the socket taking no data.
    IoFailed {
        /// What failed, for a person.
        detail: String,
    },
    /// The send queue holds more than the congestion threshold (1101).
    Congested {
        /// How long the oldest unsent frame has waited.
        queued_ms: u64,
    },
    /// The send queue is back under the threshold.
    Uncongested,
    /// The application paused the push: the connection stays.
    Pause,
    /// The application resumed the push.
    Resume,
    /// The application stopped the push.
    Stop,
}

/// What the driver must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// Resolve, connect, handshake and publish; report what happens as inputs.
    Connect,
    /// Unpublish and close the current connection (or abandon the attempt in progress).
    Close,
    /// The push is over: the retries are used up.
    GiveUp,
}

/// One output of the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A status event for the application.
    Event(StatusEvent),
    /// Something the driver must do.
    Action(Action),
}

/// Where the push stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PusherState {
    /// Not started.
    Idle,
    /// Resolving and dialing.
    Connecting,
    /// TCP up; RTMP handshake, connect and publish under way.
    Handshaking,
    /// Publishing (after 1002).
    Publishing,
    /// Waiting to reconnect (after 1102).
    Waiting,
    /// Stopped by the application.
    Stopped,
    /// Gave up after the retries (after -1307).
    GaveUp,
}

/// The live-pusher state machine. See the module documentation for the vocabulary and the policy.
#[derive(Debug)]
pub struct PusherMachine {
    config: MachineConfig,
    state: PusherState,
    /// When the retry wait ends (state `Waiting`).
    retry_at: Option<Instant>,
    /// Reconnects used since the last 1002.
    retries_used: u32,
    /// Reconnects since `start`, for display.
    reconnects: u64,
    /// When 1101 was last emitted; `None` while the uplink is not congested.
    busy_at: Option<Instant>,
    paused: bool,
    out: VecDeque<Output>,
}

impl PusherMachine {
    /// A machine in [`PusherState::Idle`].
    pub fn new(config: MachineConfig) -> Self {
        Self {
            config,
            state: PusherState::Idle,
            retry_at: None,
            retries_used: 0,
            reconnects: 0,
            busy_at: None,
            paused: false,
            out: VecDeque::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &MachineConfig {
        &self.config
    }

    /// Where the push stands.
    pub fn state(&self) -> PusherState {
        self.state
    }

    /// The application paused the push (media must not be sent).
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Reconnect attempts since `start`.
    pub fn reconnects(&self) -> u64 {
        self.reconnects
    }

    /// Handles one observation at `now`.
    pub fn handle_input(&mut self, input: Input, now: Instant) {
        use PusherState as S;
        let active = matches!(self.state, S::Connecting | S::Handshaking | S::Publishing);
        match input {
            Input::Start => {
                if matches!(self.state, S::Idle | S::Stopped | S::GaveUp) {
                    self.retries_used = 0;
                    self.busy_at = None;
                    self.connect();
                }
            }
            Input::Stop => {
                if active {
                    self.action(Action::Close);
                }
                if !matches!(self.state, S::Idle | S::GaveUp) {
                    self.state = S::Stopped;
                    self.retry_at = None;
                }
            }
            Input::Pause => self.paused = true,
            Input::Resume => self.paused = false,
            Input::TcpConnected { peer } => {
                if self.state == S::Connecting {
                    self.state = S::Handshaking;
                    let message = match peer {
                        Some(p) => format!("connected to the RTMP server {p}"),
                        None => "connected to the RTMP server".to_string(),
                    };
                    self.event(code::CONNECTED, message);
                }
            }
            Input::Publishing => {
                if self.state == S::Handshaking {
                    self.state = S::Publishing;
                    self.retries_used = 0;
                    self.busy_at = None;
                    self.event(code::PUSHING, "the server accepted the publish: pushing");
                }
            }
            Input::Congested { queued_ms } => {
                let due = self.busy_at.is_none_or(|at| {
                    now.saturating_duration_since(at) >= self.config.net_busy_repeat
                });
                if self.state == S::Publishing && due {
                    self.busy_at = Some(now);
                    self.event(
                        code::NET_BUSY,
                        format!("the uplink is too slow: {queued_ms} ms of media wait to be sent"),
                    );
                }
            }
            Input::Uncongested => self.busy_at = None,
            Input::DnsFailed { detail } => self.fail(code::DNS_FAILED, detail, now),
            Input::ConnectFailed { detail } => self.fail(code::CONNECT_FAILED, detail, now),
            Input::HandshakeFailed { detail } => self.fail(code::HANDSHAKE_FAILED, detail, now),
            Input::Refused { description } => self.fail(code::SERVER_REFUSED, description, now),
            Input::ServerClosed { detail } => self.fail(code::SERVER_REFUSED, detail, now),
            Input::IoFailed { detail } => self.fail(code::IO_FAILED, detail, now),
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next: the end of the retry wait.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.retry_at
    }

    /// Fires the retry timer when it is due; calling early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.retry_at.is_some_and(|at| now >= at) {
            self.retry_at = None;
            if self.state == PusherState::Waiting {
                self.reconnects += 1;
                self.connect();
            }
        }
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn connect(&mut self) {
        self.state = PusherState::Connecting;
        self.action(Action::Connect);
    }

    fn fail(&mut self, failure: i32, detail: String, now: Instant) {
        let active = matches!(
            self.state,
            PusherState::Connecting | PusherState::Handshaking | PusherState::Publishing
        );
        if !active {
            return;
        }
        self.busy_at = None;
        self.event(failure, detail.clone());
        if self.retries_used < self.config.max_retries {
            self.retries_used += 1;
            self.state = PusherState::Waiting;
            self.retry_at = Some(now + self.config.retry_interval);
            let message = format!(
                "reconnecting in {} ms (reconnect {} of {})",
                self.config.retry_interval.as_millis(),
                self.retries_used,
                self.config.max_retries
            );
            self.event(code::RECONNECTING, message);
        } else {
            self.state = PusherState::GaveUp;
            self.retry_at = None;
            let message = format!(
                "gave up after {} failed reconnects; last failure {failure}: {detail}",
                self.config.max_retries
            );
            self.event(code::GAVE_UP, message);
            self.action(Action::GiveUp);
        }
    }

    fn event(&mut self, code: i32, message: impl Into<String>) {
        self.out
            .push_back(Output::Event(StatusEvent::new(code, message)));
    }

    fn action(&mut self, action: Action) {
        self.out.push_back(Output::Action(action));
    }
}

#[cfg(test)]
mod tests;
