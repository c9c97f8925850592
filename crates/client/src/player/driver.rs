//! The tokio driver: runs the machine, one connection attempt at a time, and reports to the application.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, timeout, Instant, MissedTickBehavior};
use tracing::{debug, info};

use super::attempt::{far_future, Attempt, Limits, Observation};
use super::machine::{Action, Input, Output, PlayMode, PlayerConfig, PlayerMachine};
use super::netstat::{NetMeter, NetStatus};
use super::recording::{Recorder, Recording};
use super::url::{self, Target};
use super::PlayError;
use crate::status::StatusEvent;

/// Events queued for the application before the player waits for it to read.
const EVENT_QUEUE: usize = 256;
/// How long the end of a play waits for closing connections to say goodbye.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// How to play. The defaults are live-player's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayOptions {
    /// `live` (jitter buffer) or `rtc` (lowest latency; also asks mplive's server for `mode=rtc`).
    pub mode: PlayMode,
    /// Buffered media before playback begins or resumes (live mode). Default 1 s.
    pub min_cache: Duration,
    /// Buffered media above which old frames are dropped (live mode). Default 3 s.
    pub max_cache: Duration,
    /// Reconnects after failures in a row before giving up (-2301). Default 3.
    pub retries: u32,
    /// Wait before a reconnect, and between asks for a stream not live yet. Default 1 s.
    pub retry_interval: Duration,
    /// How long to wait for a stream that is not live yet; `None` (default) waits until stopped.
    pub max_wait: Option<Duration>,
    /// Interval of [`PlayerEvent::NetStatus`] reports. Default 1 s.
    pub net_status_interval: Duration,
    /// Limit on resolving and on connecting to one address. Default 5 s.
    pub connect_timeout: Duration,
    /// Limit from the TCP connection to the server's answer to the play. Default 10 s.
    pub request_timeout: Duration,
    /// Silence while playing after which the connection counts as dead (3005, reconnect). Default 20 s: longer
    /// than mplive's default 15 s republish grace, during which an attached player receives nothing. `None`
    /// waits forever.
    pub idle_timeout: Option<Duration>,
}

impl Default for PlayOptions {
    fn default() -> Self {
        let m = PlayerConfig::default();
        Self {
            mode: m.mode,
            min_cache: m.min_cache,
            max_cache: m.max_cache,
            retries: m.retries,
            retry_interval: m.retry_interval,
            max_wait: m.max_wait,
            net_status_interval: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(20)),
        }
    }
}

impl PlayOptions {
    fn check(&self) -> Result<(), PlayError> {
        let bad = |why: String| Err(PlayError::BadOptions(why));
        if self.min_cache > self.max_cache {
            return bad(format!(
                "min_cache ({:?}) is above max_cache ({:?})",
                self.min_cache, self.max_cache
            ));
        }
        for (name, d) in [
            ("retry_interval", self.retry_interval),
            ("net_status_interval", self.net_status_interval),
            ("connect_timeout", self.connect_timeout),
            ("request_timeout", self.request_timeout),
        ] {
            if d.is_zero() {
                return bad(format!("{name} must be above zero"));
            }
        }
        if self.idle_timeout.is_some_and(|d| d.is_zero()) {
            return bad("idle_timeout must be above zero (None turns it off)".into());
        }
        Ok(())
    }

    fn machine(&self) -> PlayerConfig {
        PlayerConfig {
            mode: self.mode,
            min_cache: self.min_cache,
            max_cache: self.max_cache,
            retries: self.retries,
            retry_interval: self.retry_interval,
            max_wait: self.max_wait,
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            connect: self.connect_timeout,
            request: self.request_timeout,
            idle: self.idle_timeout,
        }
    }
}

/// What the player tells the application.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayerEvent {
    /// A live-player status event (2001, 2004, 2007, -2301, ...).
    Status(StatusEvent),
    /// The figures of the last interval (dropped, not queued, when the application does not keep up).
    NetStatus(NetStatus),
}

/// A running player. Dropping it stops the play (without waiting for the recording).
#[derive(Debug)]
pub struct Player {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Recording>,
}

impl Player {
    /// Starts playing `url` (`rtmp://host[:port]/app/stream` or `http://host[:port]/app/stream.flv`, with a
    /// query as needed). Events arrive on the returned receiver until the player ends; read them, since a full
    /// queue holds the player back. The player runs as a task of the current tokio runtime.
    pub fn start(
        url: &str,
        options: PlayOptions,
    ) -> Result<(Player, mpsc::Receiver<PlayerEvent>), PlayError> {
        options.check()?;
        let target = url::parse(url, options.mode)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| PlayError::NoRuntime)?;
        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = runtime.spawn(drive(target, url.to_string(), options, events_tx, stop_rx));
        let player = Player {
            stop: Some(stop_tx),
            task,
        };
        Ok((player, events_rx))
    }

    /// Whether the player ended by itself (2006, -2301).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops the play and returns its recording.
    pub async fn stop(mut self) -> Result<Recording, PlayError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task)
            .await
            .map_err(|e| PlayError::Task(e.to_string()))
    }

    /// Waits until the player ends by itself (2006 or -2301) and returns its recording.
    pub async fn finished(mut self) -> Result<Recording, PlayError> {
        (&mut self.task)
            .await
            .map_err(|e| PlayError::Task(e.to_string()))
    }
}

/// The player task: the machine's run loop.
async fn drive(
    target: Target,
    url: String,
    options: PlayOptions,
    events: mpsc::Sender<PlayerEvent>,
    mut stop: oneshot::Receiver<()>,
) -> Recording {
    let now = || std::time::Instant::now();
    let started = now();
    let received = Arc::new(AtomicU64::new(0));
    let mut machine = PlayerMachine::new(options.machine());
    let mut recorder = Recorder::new(url.clone(), options.mode, started);
    let mut meter = NetMeter::new(started);
    let limits = options.limits();
    let mut attempt: Option<Attempt> = None;
    let mut closing: Vec<JoinHandle<()>> = Vec::new();
    let mut stop_open = true;
    let period = options.net_status_interval;
    let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    machine.handle_input(Input::Start, started);
    loop {
        while let Some(out) = machine.poll_output() {
            match out {
                Output::Status(s) => {
                    log_status(&url, &s);
                    recorder.status(&s, now());
                    // A receiver that was dropped just misses the events; the play goes on.
                    let _ = events.send(PlayerEvent::Status(s)).await;
                }
                Output::Action(Action::Connect) => {
                    if let Some(old) = attempt.take() {
                        closing.push(old.close());
                    }
                    meter.new_connection();
                    attempt = Some(Attempt::spawn(target.clone(), limits, received.clone()));
                }
                Output::Action(Action::Close) => {
                    if let Some(old) = attempt.take() {
                        closing.push(old.close());
                    }
                }
                Output::Action(Action::GiveUp) => {}
            }
        }
        closing.retain(|t| !t.is_finished());
        if machine.is_finished() {
            break;
        }
        let timer = machine.poll_timeout().map(Instant::from_std);
        tokio::select! {
            _ = &mut stop, if stop_open => {
                // A dropped handle stops the play too.
                stop_open = false;
                machine.handle_input(Input::Stop, now());
            }
            _ = sleep_until(timer.unwrap_or_else(far_future)), if timer.is_some() => {
                machine.handle_timeout(now());
            }
            _ = ticker.tick() => {
                let status = meter.report(now(), received.load(Ordering::Relaxed), &machine);
                let _ = events.try_send(PlayerEvent::NetStatus(status));
            }
            obs = next(&mut attempt), if attempt.is_some() => match obs {
                Some(Observation::Input(input)) => machine.handle_input(input, now()),
                Some(Observation::Media(m)) => {
                    let at = now();
                    meter.frame(&m, at);
                    recorder.media(&m);
                    machine.handle_input(Input::Frame(m.frame), at);
                }
                None => {
                    // The attempt ended without a final report (it always sends one; this is a safety net so
                    // the machine does not wait on a connection that is gone).
                    attempt = None;
                    let detail = "the connection task ended".to_string();
                    machine.handle_input(Input::IoFailed { detail }, now());
                }
            },
        }
    }
    if let Some(old) = attempt.take() {
        closing.push(old.close());
    }
    for task in closing {
        if timeout(CLOSE_GRACE, task).await.is_err() {
            debug!(%url, "a closing connection did not finish in time");
        }
    }
    recorder.finish(&machine, now(), received.load(Ordering::Relaxed))
}

async fn next(attempt: &mut Option<Attempt>) -> Option<Observation> {
    match attempt {
        Some(a) => a.next().await,
        None => std::future::pending().await,
    }
}

/// Status events are logged at info level: the application gets them as events and decides what is a problem.
fn log_status(url: &str, s: &StatusEvent) {
    info!(%url, code = s.code, "{}", s.message);
}
