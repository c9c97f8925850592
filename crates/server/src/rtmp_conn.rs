//! One RTMP connection: the driver loop around a sans-IO `rtmp::ServerSession`.
//!
//! The loop reads from the socket into the session, turns session events into hub calls (publish, play, media),
//! and writes the session's output and, for players, the hub's shared frame encodings. All writes go through one
//! [`Batch`] so that control replies and media keep their order and leave in as few system calls as possible.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::time::Duration;

use media::{
    Frame, FrameKind, PublishError, Publisher, PublisherInfo, StartPolicy, StreamKey, Subscriber,
};
use rtmp::{MediaKind, ServerEvent, ServerSession};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::WaitForCancellationFutureOwned;
use tracing::{debug, info, warn};

use crate::batch::{is_rtc, Batch, WritePolicy};
use crate::encode::rtmp_chunks;
use crate::Shared;

/// A player stops taking frames from the hub while this much is waiting to be written, so a slow socket shows up as
/// hub backlog (and is dropped to the next keyframe there) instead of growing memory here.
const PLAYER_HIGH_WATER: usize = 512 * 1024;
/// Size of one read (on the stack of the reading call).
const READ_BUF: usize = 32 * 1024;
/// Most bytes read in one go before other work gets a turn.
const READ_BUDGET: usize = 256 * 1024;

type Kicked = Pin<Box<dyn Future<Output = ()> + Send>>;

struct Publishing {
    stream_id: u32,
    publisher: Publisher,
    kicked: Kicked,
    last_media: Instant,
}

struct Playing {
    stream_id: u32,
    key: StreamKey,
    subscriber: Subscriber,
    policy: WritePolicy,
    flush_at: Option<Instant>,
}

/// What woke the connection loop.
enum Wake {
    Shutdown,
    Kicked,
    Readable(std::io::Result<()>),
    Frame(Result<Arc<media::MediaFrame>, media::SubscriberEnd>),
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

struct Conn {
    shared: Arc<Shared>,
    peer: SocketAddr,
    session: ServerSession,
    app: Option<String>,
    publishing: Option<Publishing>,
    playing: Option<Playing>,
    batch: Batch,
    last_input: Instant,
    /// Set when the connection should end once its output is written.
    closing: Option<Close>,
}

/// Drives one accepted RTMP connection until it ends.
pub(crate) async fn serve(socket: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let now = Instant::now();
    let session = ServerSession::new(shared.session_config.clone(), now.into_std());
    let mut conn = Conn {
        shared,
        peer,
        session,
        app: None,
        publishing: None,
        playing: None,
        batch: Batch::default(),
        last_input: now,
        closing: None,
    };
    let reason = conn.run(socket).await;
    conn.log_close(reason);
}

impl Conn {
    async fn run(&mut self, socket: TcpStream) -> Close {
        let (rd, mut wr) = socket.into_split();
        // Long-lived futures, polled again on every wake-up instead of being re-created (and re-registered with
        // the token's waiter list and the timer wheel) each time: players wake up often.
        let mut shutdown = pin!(self.shared.shutdown.clone().cancelled_owned());
        let far = || Instant::now() + Duration::from_secs(3600);
        let mut timer_at = far();
        let mut timer = pin!(tokio::time::sleep_until(timer_at));
        loop {
            if let Some(out) = self.session.take_transmit() {
                self.batch.push(out);
            }
            let flush_due = match &self.playing {
                Some(p) => p.flush_at.is_none_or(|t| t <= Instant::now()),
                None => true,
            };
            if flush_due {
                self.drain_frames();
            }
            if !self.batch.is_empty() && (flush_due || self.closing.is_some()) {
                match self.batch.flush(&mut wr).await {
                    Ok(n) => {
                        if let Some(p) = &mut self.playing {
                            p.subscriber.record_sent(n as u64);
                            p.flush_at = None;
                        }
                    }
                    Err(e) => return Close::Error(format!("write failed: {e}")),
                }
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
                }
                Wake::Readable(Err(e)) => return Close::Error(format!("read failed: {e}")),
                Wake::Frame(Ok(frame)) => self.take_frames(frame),
                Wake::Frame(Err(_)) => self.end_play(),
                Wake::Deadline => {
                    self.handle_deadline();
                    // An elapsed timer is ready at once: make sure the next deadline re-arms it.
                    timer_at = far();
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
                return None;
            }
            self.handle_events();
            if self.closing.is_some() {
                break;
            }
        }
        None
    }

    /// Waits for the next thing to do: input, a frame to play, a timer, a takeover or shutdown.
    async fn wait(
        &mut self,
        rd: &OwnedReadHalf,
        shutdown: Pin<&mut WaitForCancellationFutureOwned>,
        timer: Pin<&mut Sleep>,
    ) -> Wake {
        // A merged-write player does not look at the hub again until its flush is due: one wake-up per window
        // instead of one per frame.
        let can_take_frames = self.batch.len() < PLAYER_HIGH_WATER
            && self.playing.as_ref().is_some_and(|p| p.flush_at.is_none());
        let publishing = &mut self.publishing;
        let playing = &mut self.playing;
        let kicked = async move {
            match publishing {
                Some(p) => (&mut p.kicked).await,
                None => std::future::pending().await,
            }
        };
        let next_frame = async move {
            match playing {
                Some(p) if can_take_frames => p.subscriber.recv().await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            // Polled in this order; the most frequent wake-ups first, shutdown (rare) last.
            biased;
            _ = timer => Wake::Deadline,
            frame = next_frame => Wake::Frame(frame),
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
            if let Some(t) = p.flush_at {
                deadline = deadline.min(t);
            }
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

    /// Queues the frame that woke us and every frame already waiting, then sets when to write them.
    fn take_frames(&mut self, first: Arc<media::MediaFrame>) {
        let chunk_size = self.session.out_chunk_size();
        let Some(p) = &mut self.playing else { return };
        self.batch.push(rtmp_chunks(&first, p.stream_id, chunk_size));
        p.flush_at = Some(match p.policy {
            WritePolicy::Immediate => Instant::now(),
            WritePolicy::Merged(window) => Instant::from_std(first.published_at()) + window,
        });
        if p.policy == WritePolicy::Immediate {
            self.drain_frames();
        }
    }

    /// Queues every frame the hub already has for this player, up to the high-water mark.
    fn drain_frames(&mut self) {
        let chunk_size = self.session.out_chunk_size();
        let Some(p) = &mut self.playing else { return };
        while self.batch.len() < PLAYER_HIGH_WATER {
            match p.subscriber.try_recv() {
                Ok(Some(frame)) => self.batch.push(rtmp_chunks(&frame, p.stream_id, chunk_size)),
                Ok(None) => return,
                Err(_) => {
                    self.end_play();
                    return;
                }
            }
        }
    }

    fn end_play(&mut self) {
        if let Some(p) = self.playing.take() {
            info!(stream = %p.key, "publisher gone and grace expired: ending play");
            self.session.end_play(p.stream_id);
            self.closing = Some(Close::PlayEnded);
        }
    }

    fn handle_events(&mut self) {
        while let Some(event) = self.session.poll_event() {
            match event {
                ServerEvent::Connect { app, tc_url, .. } => {
                    debug!(peer = %self.peer, %app, tc_url = tc_url.as_deref().unwrap_or(""), "connect");
                    if app.is_empty() {
                        self.session
                            .reject_connect("empty application name: use rtmp://host/APP/STREAM");
                        self.closing = Some(Close::Refused("empty application name".into()));
                    } else {
                        self.app = Some(app);
                        self.session.accept_connect();
                    }
                }
                ServerEvent::Publish {
                    stream_id, name, ..
                } => self.on_publish(stream_id, name),
                ServerEvent::Play {
                    stream_id,
                    name,
                    query,
                    ..
                } => self.on_play(stream_id, name, query),
                ServerEvent::Media {
                    stream_id,
                    kind,
                    timestamp,
                    payload,
                } => {
                    if let Some(p) = &mut self.publishing {
                        if p.stream_id == stream_id {
                            let kind = match kind {
                                MediaKind::Audio => FrameKind::Audio,
                                MediaKind::Video => FrameKind::Video,
                                MediaKind::Data => FrameKind::Script,
                            };
                            p.publisher.push(Frame::new(kind, timestamp, payload));
                            p.last_media = self.last_input;
                        }
                    }
                }
                ServerEvent::Unpublish { stream_id } => {
                    if self
                        .publishing
                        .as_ref()
                        .is_some_and(|p| p.stream_id == stream_id)
                    {
                        if let Some(p) = self.publishing.take() {
                            info!(peer = %self.peer, stream = %p.publisher.key(), "unpublish");
                        }
                    }
                }
                ServerEvent::PlayStop { stream_id } => {
                    if self
                        .playing
                        .as_ref()
                        .is_some_and(|p| p.stream_id == stream_id)
                    {
                        self.playing = None;
                    }
                }
                ServerEvent::Unhandled {
                    description,
                    malformed: false,
                } => {
                    debug!(peer = %self.peer, %description, "answered with _error");
                }
                ServerEvent::Unhandled {
                    description,
                    malformed: true,
                } => {
                    // A peer that sends what RTMP does not define is broken or hostile; staying lenient here
                    // would only hide the bug.
                    self.closing = Some(Close::Error(description));
                }
            }
        }
    }

    fn on_publish(&mut self, stream_id: u32, name: String) {
        let Some(app) = self.app.clone() else {
            self.session.reject_publish(
                stream_id,
                "NetStream.Publish.Rejected",
                "publish before connect",
            );
            self.closing = Some(Close::Refused("publish before connect".into()));
            return;
        };
        if name.is_empty() {
            self.session.reject_publish(
                stream_id,
                "NetStream.Publish.BadName",
                "empty stream name: use rtmp://host/APP/STREAM",
            );
            self.closing = Some(Close::Refused("empty stream name".into()));
            return;
        }
        if self.publishing.is_some() || self.playing.is_some() {
            self.session.reject_publish(
                stream_id,
                "NetStream.Publish.Rejected",
                "this connection is already in use",
            );
            return;
        }
        let key = StreamKey::new(app, name);
        let info = PublisherInfo {
            remote_addr: self.peer.to_string(),
            protocol: "rtmp",
        };
        match self.shared.registry.publish(key.clone(), info) {
            Ok(publisher) => {
                info!(peer = %self.peer, stream = %key, "publish");
                let kicked = Box::pin(publisher.kicked());
                self.publishing = Some(Publishing {
                    stream_id,
                    publisher,
                    kicked,
                    last_media: Instant::now(),
                });
                self.session.accept_publish(stream_id);
            }
            Err(e) => {
                let code = match e {
                    PublishError::AlreadyPublishing { .. } => "NetStream.Publish.BadName",
                    _ => "NetStream.Publish.Rejected",
                };
                let reason = e.to_string();
                self.session.reject_publish(stream_id, code, &reason);
                self.closing = Some(Close::Refused(format!("publish {key}: {reason}")));
            }
        }
    }

    fn on_play(&mut self, stream_id: u32, name: String, query: Option<String>) {
        let Some(app) = self.app.clone() else {
            self.session
                .reject_play(stream_id, "NetStream.Play.Failed", "play before connect");
            self.closing = Some(Close::Refused("play before connect".into()));
            return;
        };
        if self.publishing.is_some() || self.playing.is_some() {
            self.session.reject_play(
                stream_id,
                "NetStream.Play.Failed",
                "this connection is already in use",
            );
            return;
        }
        let key = StreamKey::new(app, name);
        let rtc = is_rtc(query.as_deref());
        let opts = media::SubscribeOptions {
            start: if rtc {
                StartPolicy::FastGop
            } else {
                StartPolicy::Gop
            },
            protocol: "rtmp",
        };
        match self.shared.registry.subscribe(&key, opts) {
            Ok(subscriber) => {
                info!(peer = %self.peer, stream = %key, rtc, "play");
                let policy = WritePolicy::from_query(query.as_deref(), self.shared.merge_window);
                self.session.accept_play(stream_id);
                self.playing = Some(Playing {
                    stream_id,
                    key,
                    subscriber,
                    policy,
                    flush_at: None,
                });
            }
            Err(e) => {
                self.session.reject_play(
                    stream_id,
                    "NetStream.Play.StreamNotFound",
                    &e.to_string(),
                );
                self.closing = Some(Close::Refused(format!("play {key}: {e}")));
            }
        }
    }

    fn log_close(&self, reason: Close) {
        let stream = self
            .publishing
            .as_ref()
            .map(|p| p.publisher.key().to_string())
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
                info!(peer = %self.peer, %stream, role, "closed: another publisher took over")
            }
            Close::Refused(why) => info!(peer = %self.peer, %stream, role, "refused: {why}"),
            Close::Timeout(why) => info!(peer = %self.peer, %stream, role, "closed: {why}"),
            Close::Error(why) => warn!(peer = %self.peer, %stream, role, "closed: {why}"),
        }
    }
}
