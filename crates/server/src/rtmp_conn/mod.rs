//! One RTMP connection: the driver loop around a sans-IO `rtmp::ServerSession`.
//!
//! The loop reads from the socket into the session and turns session events into hub calls (publish, play,
//! media). A publishing connection also delivers each frame to the stream's RTMP players ([`crate::output::fanout`]); a
//! playing connection only services its own player: the play start, writes the publisher could not finish, the
//! end of the stream. Output keeps its order because everything for a player goes through its one queue.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::time::Duration;

mod events;
mod wrong_port;

use media::StreamKey;
use rtmp::ServerSession;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::WaitForCancellationFutureOwned;
use tracing::{debug, info, warn};

use crate::output::batch::Batch;
use crate::output::fanout::{next_look, Delivery, DirectPlayer, Group, Membership};
use crate::stream::lifecycle::{End, PlaySession, PublishSession};
use crate::Shared;

/// Size of one read (on the stack of the reading call).
const READ_BUF: usize = 32 * 1024;
/// Most bytes read in one go before other work gets a turn.
const READ_BUDGET: usize = 256 * 1024;

type Kicked = Pin<Box<dyn Future<Output = ()> + Send>>;

struct Publishing {
    stream_id: u32,
    /// The publish, from the lifecycle: dropping it ends the stream's publish and sends `push_end`.
    session: PublishSession,
    kicked: Kicked,
    last_media: Instant,
    /// The RTMP and HTTP-FLV players of this stream, written after each push.
    group: Arc<Group>,
    pushed: bool,
}

struct Playing {
    stream_id: u32,
    key: StreamKey,
    player: Arc<DirectPlayer>,
    /// The player's place among its stream's players; dropping it leaves (before the session's `play_stop`).
    _membership: Membership,
    /// Dropping it sends `play_stop`.
    _session: PlaySession,
}

/// What woke the connection loop.
enum Wake {
    Shutdown,
    Kicked,
    Readable(std::io::Result<()>),
    Player,
    Deadline,
}

/// Why the connection ends; logged once.
enum Close {
    PeerClosed,
    Error(String),
    Refused(String),
    Kicked,
    PlayEnded,
    Timeout(String),
    Shutdown,
}

impl Close {
    /// How a publish on a connection ending this way ends (its `push_end` webhook).
    fn as_end(&self) -> End {
        match self {
            Close::PeerClosed | Close::PlayEnded => End::Normal,
            Close::Shutdown => End::Shutdown,
            Close::Kicked => End::Kicked,
            Close::Timeout(why) => End::Timeout(why.clone()),
            Close::Error(why) | Close::Refused(why) => End::Error(why.clone()),
        }
    }
}

struct Conn {
    shared: Arc<Shared>,
    peer: SocketAddr,
    session: ServerSession,
    writer: Arc<OwnedWriteHalf>,
    app: Option<String>,
    /// The query of the tcUrl (`connect`), where a signature may sit.
    connect_query: Option<String>,
    /// Boxed: most connections are players, and inline a publish's state would be paid by every one of them for its
    /// whole life.
    publishing: Option<Box<Publishing>>,
    playing: Option<Playing>,
    /// Output of a connection that is not playing (a player's output goes through its [`DirectPlayer`]).
    batch: Batch,
    last_input: Instant,
    /// Set when the connection should end once its output is written.
    closing: Option<Close>,
    /// A publish or play decoded but not answered yet (the lifecycle is asynchronous).
    pending: Option<events::Pending>,
    /// The last wake-up was the player's look and its group's rounds are feeding it: nothing to deliver.
    skip_service: bool,
}

/// Drives one accepted RTMP connection until it ends.
pub(crate) async fn serve(mut socket: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    // The handshake clock starts at the accept, before the look at the first bytes.
    let now = Instant::now();
    if wrong_port::handled(&mut socket, peer, &shared).await {
        return;
    }
    let session = ServerSession::new(shared.session_config.clone(), now.into_std());
    let (rd, wr) = socket.into_split();
    let mut conn = Conn {
        shared,
        peer,
        session,
        writer: Arc::new(wr),
        app: None,
        connect_query: None,
        publishing: None,
        playing: None,
        batch: Batch::default(),
        last_input: now,
        closing: None,
        pending: None,
        skip_service: false,
    };
    let reason = conn.run(rd).await;
    conn.playing = None;
    if let Some(p) = &mut conn.publishing {
        p.session.set_end(reason.as_end());
    }
    conn.log_close(reason);
    // Dropping the connection drops its sessions: `push_end` / `play_stop` go out.
}

impl Conn {
    async fn run(&mut self, rd: OwnedReadHalf) -> Close {
        // Long-lived futures, polled again on every wake-up instead of being re-created (and re-registered with
        // the token's waiter list and the timer wheel) each time.
        let mut shutdown = pin!(self.shared.shutdown.clone().cancelled_owned());
        let far = || Instant::now() + Duration::from_secs(3600);
        let mut timer_at = far();
        let mut timer = pin!(tokio::time::sleep_until(timer_at));
        loop {
            if let Err(reason) = self.write_output().await {
                return reason;
            }
            if let Some(reason) = self.closing.take() {
                return reason;
            }
            let deadline = self.next_deadline();
            if deadline != timer_at {
                timer_at = deadline;
                timer.as_mut().reset(deadline);
            }
            match self.wait(&rd, shutdown.as_mut(), timer.as_mut()).await {
                Wake::Shutdown => return Close::Shutdown,
                Wake::Kicked => return Close::Kicked,
                Wake::Readable(Ok(())) => {
                    if let Some(reason) = self.read_input(&rd) {
                        return reason;
                    }
                    while let Some(request) = self.pending.take() {
                        // Boxed: answering (the lifecycle's publish or play) is rare and its future large; inline, it would
                        // grow every connection's task for the task's whole life.
                        Box::pin(self.answer(request)).await;
                        self.handle_events();
                    }
                }
                Wake::Readable(Err(e)) => return Close::Error(format!("read failed: {e}")),
                Wake::Player => {}
                Wake::Deadline => {
                    self.handle_deadline();
                    // An elapsed timer is ready at once: make sure the next deadline re-arms it.
                    timer_at = far();
                    // The player's look: left to its group's rounds while they feed it.
                    self.skip_service = self
                        .playing
                        .as_ref()
                        .is_some_and(|p| !p.player.needs_look());
                }
            }
        }
    }

    /// Writes the session's output: through the player's queue when playing, else directly.
    async fn write_output(&mut self) -> Result<(), Close> {
        let out = self.session.take_transmit();
        let Some(p) = &self.playing else {
            if let Some(out) = out {
                self.batch.push(out);
            }
            if !self.batch.is_empty() {
                self.batch
                    .write_to(&self.writer)
                    .await
                    .map_err(|e| Close::Error(format!("write failed: {e}")))?;
            }
            return Ok(());
        };
        let player = p.player.clone();
        let skip = std::mem::take(&mut self.skip_service);
        if let Some(out) = out {
            player.lock().queue(out);
        } else if skip {
            return Ok(());
        }
        self.service_player(&player).await
    }

    /// Delivers what the hub has for our player, waiting for the socket when it is full. At the end of the
    /// stream, writes the end-of-play status and returns the close reason.
    async fn service_player(&mut self, player: &Arc<DirectPlayer>) -> Result<(), Close> {
        let mut ending = false;
        loop {
            match player.service(&self.writer).await {
                Delivery::Done | Delivery::Blocked => return Ok(()),
                Delivery::Ended if ending => return Err(Close::PlayEnded),
                Delivery::Ended => {
                    ending = true;
                    if let Some(p) = &self.playing {
                        info!(stream = %p.key, "publisher gone and grace expired: ending play");
                        self.session.end_play(p.stream_id);
                    }
                    if let Some(out) = self.session.take_transmit() {
                        player.lock().queue(out);
                    }
                }
                Delivery::Failed => {
                    let e = player.lock().take_error();
                    let e = e.map(|e| e.to_string()).unwrap_or_default();
                    return Err(Close::Error(format!("write failed: {e}")));
                }
            }
        }
    }

    /// Reads what the socket has into the session and handles the resulting events.
    ///
    /// The read buffer lives on this (synchronous) call's stack, not in the connection: an idle player holds no
    /// read buffer at all.
    fn read_input(&mut self, rd: &OwnedReadHalf) -> Option<Close> {
        let mut buf = [0u8; READ_BUF];
        let mut total = 0;
        while total < READ_BUDGET {
            let n = match rd.try_read(&mut buf) {
                Ok(0) => return Some(Close::PeerClosed),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Some(Close::Error(format!("read failed: {e}"))),
            };
            total += n;
            self.last_input = Instant::now();
            let input = buf.get(..n).unwrap_or_default();
            if let Err(e) = self.session.handle_input(input, self.last_input.into_std()) {
                // Send what the session still has (e.g. an _error) before closing.
                self.closing = Some(Close::Error(format!("protocol error: {e}")));
                self.handle_events();
                break;
            }
            self.handle_events();
            // A publish or play waits on the lifecycle (the cluster may be asked): nothing more is read or
            // handled until the run loop has answered it.
            if self.closing.is_some() || self.pending.is_some() {
                break;
            }
        }
        self.deliver_pushed();
        None
    }

    /// After frames were pushed, lets the stream's RTMP players have them (see [`crate::output::fanout`]).
    fn deliver_pushed(&mut self) {
        let Some(p) = &mut self.publishing else {
            return;
        };
        if !std::mem::take(&mut p.pushed) {
            return;
        }
        p.group.on_push(self.last_input);
    }

    /// Waits for the next thing to do: input, our player needing service, a timer, a takeover or shutdown.
    async fn wait(
        &mut self,
        rd: &OwnedReadHalf,
        shutdown: Pin<&mut WaitForCancellationFutureOwned>,
        timer: Pin<&mut Sleep>,
    ) -> Wake {
        let publishing = &mut self.publishing;
        let kicked = async move {
            match publishing {
                Some(p) => (&mut p.kicked).await,
                None => std::future::pending().await,
            }
        };
        let player = self.playing.as_ref().map(|p| p.player.clone());
        let player_wake = async move {
            match &player {
                Some(p) => p.wake.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            // Polled in this order; shutdown (rare) last.
            biased;
            _ = timer => Wake::Deadline,
            _ = player_wake => Wake::Player,
            readable = rd.readable() => Wake::Readable(readable),
            _ = kicked => Wake::Kicked,
            _ = shutdown => Wake::Shutdown,
        }
    }

    fn next_deadline(&self) -> Instant {
        let now = Instant::now();
        let mut deadline = now + Duration::from_secs(3600);
        if let Some(t) = self.session.poll_timeout() {
            deadline = deadline.min(Instant::from_std(t));
        }
        if let Some(p) = &self.playing {
            deadline = deadline.min(next_look(p.player.slot()));
        }
        if let Some(p) = &self.publishing {
            deadline = deadline.min(p.last_media + self.shared.publisher_timeout);
        } else if self.playing.is_none() {
            deadline = deadline.min(self.last_input + self.shared.idle_timeout);
        }
        deadline
    }

    fn handle_deadline(&mut self) {
        let now = Instant::now();
        if let Err(e) = self.session.handle_timeout(now.into_std()) {
            self.closing = Some(Close::Timeout(e.to_string()));
            return;
        }
        if let Some(p) = &self.publishing {
            if now >= p.last_media + self.shared.publisher_timeout {
                self.closing = Some(Close::Timeout(format!(
                    "publisher sent no media for {} s (publisher_timeout_secs)",
                    self.shared.publisher_timeout.as_secs()
                )));
            }
        } else if self.playing.is_none() && now >= self.last_input + self.shared.idle_timeout {
            self.closing = Some(Close::Timeout(format!(
                "connection neither published nor played for {} s (idle_timeout_secs)",
                self.shared.idle_timeout.as_secs()
            )));
        }
    }

    fn log_close(&self, reason: Close) {
        let stream = self
            .publishing
            .as_ref()
            .map(|p| p.session.key().to_string())
            .or_else(|| self.playing.as_ref().map(|p| p.key.to_string()))
            .unwrap_or_default();
        let role = if self.publishing.is_some() {
            "publisher"
        } else if self.playing.is_some() {
            "player"
        } else {
            "connection"
        };
        match reason {
            Close::PeerClosed => {
                debug!(peer = %self.peer, %stream, role, "peer closed the connection")
            }
            Close::PlayEnded => debug!(peer = %self.peer, %stream, role, "play ended"),
            Close::Shutdown => debug!(peer = %self.peer, %stream, role, "closed for shutdown"),
            Close::Kicked => {
                info!(peer = %self.peer, %stream, role, "closed: kicked (through the API, a forbid, or another publisher took over)")
            }
            Close::Refused(why) => info!(peer = %self.peer, %stream, role, "refused: {why}"),
            Close::Timeout(why) => info!(peer = %self.peer, %stream, role, "closed: {why}"),
            Close::Error(why) => warn!(peer = %self.peer, %stream, role, "closed: {why}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What one RTMP player holds, by part (printed with `--nocapture`, quoted in docs/benchmarks.md): a change
    /// that grows one of these grows every player.
    #[test]
    fn per_player_parts() {
        let parts = [
            ("Conn (connection state)", std::mem::size_of::<Conn>()),
            ("rtmp::ServerSession", std::mem::size_of::<ServerSession>()),
            ("Playing", std::mem::size_of::<Playing>()),
            ("DirectPlayer", std::mem::size_of::<DirectPlayer>()),
            (
                "media::Subscriber",
                std::mem::size_of::<media::Subscriber>(),
            ),
            ("PlaySession", std::mem::size_of::<PlaySession>()),
        ];
        for (name, size) in parts {
            println!("{name}: {size} bytes");
        }
        // The connection's own state stays under a kilobyte: the rest of a player is its task and buffers.
        assert!(std::mem::size_of::<Conn>() < 1024, "{parts:?}");
    }
}
