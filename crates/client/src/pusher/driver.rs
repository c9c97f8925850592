//! The async publisher: one task that runs the source, the connection and the state machine.
//!
//! The loop waits for whichever comes first (a command, a source tag, the net-status tick, the retry timer, the
//! connection's socket or deadline), handles it, then hands the machine's outputs to the application (status
//! events) and to the connection (connect, close, give up), and moves queued frames to the socket.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtmp::MediaKind;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tracing::{debug, info, warn};

use super::link::{dial, Conn};
use super::machine::{Action, Input, Output, PusherMachine, PusherState};
use super::media::{Class, VideoConfig};
use super::publisher::Command;
use super::queue::{Queued, SendQueue};
use super::source::{SourceItem, SourceTag};
use super::stats::{Meter, Snapshot};
use super::{PublishOptions, PushEnd, PusherEvent};
use crate::status::{pusher as status, StatusEvent};
use crate::url::RtmpUrl;

mod connection;

use connection::socket_failure;

/// Messages waiting for a video frame; past this the oldest goes.
const MAX_PENDING_MESSAGES: usize = 64;
/// Time a stop gives the last frames, the unpublish and the close.
const CLOSE_LIMIT: Duration = Duration::from_secs(2);

/// What woke the loop.
enum Wake {
    Command(Option<Command>),
    Source(Option<SourceItem>),
    Tick,
    Retry,
    Dialed(Result<(TcpStream, SocketAddr), Input>),
    Readable(std::io::Result<()>),
    Writable(std::io::Result<()>),
    LinkTimer,
}

type DialFuture = Pin<Box<dyn Future<Output = Result<(TcpStream, SocketAddr), Input>> + Send>>;

/// The connection, if any.
enum Link {
    Idle,
    Dialing(DialFuture),
    Open(Box<Conn>),
}

impl Link {
    /// Waits for the connection's next event; never returns while idle.
    async fn wait(&mut self, deadline: Option<Instant>) -> Wake {
        match self {
            Link::Idle => std::future::pending().await,
            Link::Dialing(dial) => Wake::Dialed(dial.await),
            Link::Open(conn) => {
                let want_write = conn.pending() > 0;
                let deadline = deadline.unwrap_or_else(far_future);
                tokio::select! {
                    r = conn.stream.readable() => Wake::Readable(r),
                    w = conn.stream.writable(), if want_write => Wake::Writable(w),
                    _ = sleep_until(deadline) => Wake::LinkTimer,
                }
            }
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}

/// Sleeps until `at` on the runtime's clock.
async fn sleep_until(at: Instant) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
}

/// The last sequence headers and metadata of the source: sent again on every new connection.
#[derive(Debug, Default)]
struct Headers {
    metadata: Option<Bytes>,
    video: Option<Bytes>,
    audio: Option<Bytes>,
}

/// The push task: the machine, the connection, the send queue, and what the source said last.
pub(crate) struct Driver {
    url: RtmpUrl,
    opts: PublishOptions,
    machine: PusherMachine,
    events: mpsc::Sender<PusherEvent>,
    events_dropped: u64,
    commands: mpsc::UnboundedReceiver<Command>,
    source: mpsc::Receiver<SourceItem>,
    source_open: bool,
    source_task: tokio::task::JoinHandle<()>,
    link: Link,
    queue: SendQueue,
    meter: Meter,
    headers: Headers,
    video: Option<VideoConfig>,
    messages: VecDeque<Bytes>,
    /// Timestamp of the last source tag: headers sent on a new connection take it.
    last_ts: u32,
    ever_connected: bool,
    congested: bool,
    end: Option<PushEnd>,
    read_buf: Box<[u8]>,
    /// The source is the test pattern and has produced nothing yet (1003, 1008, 1007 are due).
    encoder_pending: bool,
}

impl Driver {
    pub(crate) fn new(
        url: RtmpUrl,
        opts: PublishOptions,
        events: mpsc::Sender<PusherEvent>,
        commands: mpsc::UnboundedReceiver<Command>,
        source: mpsc::Receiver<SourceItem>,
        source_task: tokio::task::JoinHandle<()>,
        encoder: bool,
    ) -> Self {
        let now = Instant::now();
        Self {
            machine: PusherMachine::new(opts.machine.clone()),
            queue: SendQueue::new(opts.max_queue_delay, opts.max_queue_bytes),
            meter: Meter::new(now),
            url,
            opts,
            events,
            events_dropped: 0,
            commands,
            source,
            source_open: true,
            source_task,
            link: Link::Idle,
            headers: Headers::default(),
            video: None,
            messages: VecDeque::new(),
            last_ts: 0,
            ever_connected: false,
            congested: false,
            end: None,
            read_buf: vec![0; 64 * 1024].into_boxed_slice(),
            encoder_pending: encoder,
        }
    }

    pub(crate) async fn run(mut self) {
        info!(stream = %self.url.path(), host = %self.url.host, port = self.url.port, "push starting");
        self.machine.handle_input(Input::Start, Instant::now());
        let every = self.opts.net_status_interval.max(Duration::from_millis(10));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Writing may fail the connection: its outputs are applied before the loop waits again.
            self.pump();
            self.apply_outputs().await;
            if let Some(end) = self.end.take() {
                self.finish(end).await;
                return;
            }
            let retry = self.machine.poll_timeout();
            let link_deadline = self.link_deadline();
            let wake = tokio::select! {
                c = self.commands.recv() => Wake::Command(c),
                item = self.source.recv(), if self.source_open => Wake::Source(item),
                _ = tick.tick() => Wake::Tick,
                _ = sleep_until(retry.unwrap_or_else(far_future)), if retry.is_some() => Wake::Retry,
                w = self.link.wait(link_deadline) => w,
            };
            self.handle(wake);
        }
    }

    fn handle(&mut self, wake: Wake) {
        let now = Instant::now();
        match wake {
            Wake::Command(Some(Command::Pause)) => {
                self.machine.handle_input(Input::Pause, now);
                self.queue.clear();
            }
            Wake::Command(Some(Command::Resume)) => self.machine.handle_input(Input::Resume, now),
            Wake::Command(Some(Command::Message(m))) => {
                if self.messages.len() >= MAX_PENDING_MESSAGES {
                    self.messages.pop_front();
                    warn!("{MAX_PENDING_MESSAGES} messages wait for a video frame: the oldest was dropped");
                }
                self.messages.push_back(m);
            }
            Wake::Command(Some(Command::Stop) | None) => {
                self.machine.handle_input(Input::Stop, now);
                self.end.get_or_insert(PushEnd::Stopped);
            }
            Wake::Source(Some(SourceItem::Tag(tag))) => self.on_tag(tag, now),
            Wake::Source(Some(SourceItem::End(result))) => self.source_ended(result, now),
            Wake::Source(None) => self.source_ended(Err("the source task stopped".into()), now),
            Wake::Tick => self.tick(now),
            Wake::Retry => self.machine.handle_timeout(now),
            Wake::Dialed(Ok((stream, addr))) => {
                let conn = Conn::new(
                    stream,
                    &self.url.app,
                    &self.url.tc_url(),
                    &self.url.stream_name(),
                    self.opts.publish_timeout,
                );
                self.link = Link::Open(Box::new(conn));
                self.ever_connected = true;
                let peer = Some(addr.to_string());
                self.machine.handle_input(Input::TcpConnected { peer }, now);
            }
            Wake::Dialed(Err(failure)) => self.fail(failure, now),
            Wake::Readable(Ok(())) => self.read(now),
            Wake::Readable(Err(e)) | Wake::Writable(Err(e)) => {
                let done = matches!(&self.link, Link::Open(c) if c.handshake_done);
                let failure = socket_failure(done, "socket error", e);
                self.fail(failure, now);
            }
            // `pump` runs before the next wait and writes: this wake only says the socket has room again.
            Wake::Writable(Ok(())) => {}
            Wake::LinkTimer => self.link_timer(now),
        }
    }

    /// Hands the machine's outputs on.
    async fn apply_outputs(&mut self) {
        while let Some(out) = self.machine.poll_output() {
            match out {
                Output::Event(e) => {
                    if e.code < 0 || (3001..=3005).contains(&e.code) {
                        warn!(code = e.code, "{}", e.message);
                    } else {
                        info!(code = e.code, "{}", e.message);
                    }
                    self.emit(PusherEvent::Status(e));
                }
                Output::Action(Action::Connect) => {
                    let dial = dial(
                        self.url.host.clone(),
                        self.url.port,
                        self.opts.connect_timeout,
                    );
                    self.link = Link::Dialing(Box::pin(dial));
                }
                Output::Action(Action::Close) => self.close().await,
                Output::Action(Action::GiveUp) => {
                    self.end.get_or_insert(PushEnd::GaveUp);
                }
            }
        }
    }

    /// Unpublishes and closes the connection, sending the frames still queued first.
    async fn close(&mut self) {
        let Link::Open(mut conn) = std::mem::replace(&mut self.link, Link::Idle) else {
            return;
        };
        if conn.publishing {
            while let Some(f) = self.queue.pop() {
                conn.session.send_media(f.kind, f.timestamp, &f.payload);
            }
        }
        conn.session.close();
        conn.close_gracefully(CLOSE_LIMIT).await;
        self.queue.clear();
    }

    async fn finish(&mut self, end: PushEnd) {
        self.close().await;
        self.source_task.abort();
        info!(stream = %self.url.path(), "push ended: {end}");
        // The last event waits a little for room: the application needs it to know the push is over.
        let _ = timeout(
            Duration::from_secs(1),
            self.events.send(PusherEvent::Ended(end)),
        )
        .await;
    }

    fn emit(&mut self, event: PusherEvent) {
        match self.events.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(event)) => {
                self.events_dropped += 1;
                if matches!(event, PusherEvent::Status(_)) || self.events_dropped.is_power_of_two()
                {
                    warn!(
                        dropped = self.events_dropped,
                        "the application does not read push events: {event:?} dropped"
                    );
                }
            }
            // Nobody listens: the push goes on without reporting.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    fn source_ended(&mut self, result: Result<(), String>, now: Instant) {
        self.source_open = false;
        let end = match result {
            Ok(()) => PushEnd::SourceEnded,
            Err(e) => PushEnd::SourceFailed(e),
        };
        self.machine.handle_input(Input::Stop, now);
        self.end.get_or_insert(end);
    }

    fn on_tag(&mut self, tag: SourceTag, now: Instant) {
        if std::mem::take(&mut self.encoder_pending) {
            // The test pattern is the one source with an encoder we drive: its first output means the "camera"
            // (ffmpeg's picture source) opened, the encoder started and the first frame was captured.
            for (code, message) in [
                (
                    status::CAMERA_STARTED,
                    "the test-pattern source (ffmpeg) started",
                ),
                (
                    status::ENCODER_STARTED,
                    "the encoder (ffmpeg libx264/aac) started",
                ),
                (status::FIRST_FRAME, "the first encoded frame arrived"),
            ] {
                self.emit(PusherEvent::Status(StatusEvent::new(code, message)));
            }
        }
        let class = Class::of(tag.kind, &tag.body);
        self.last_ts = tag.timestamp;
        match class {
            Class::VideoKey => self.meter.video(tag.body.len(), Some(tag.timestamp)),
            Class::VideoInter => self.meter.video(tag.body.len(), None),
            Class::Audio => self.meter.audio(tag.body.len()),
            Class::Metadata | Class::VideoHeader | Class::AudioHeader => {
                self.on_header(class, tag.body);
                return;
            }
            Class::Data => {}
        }
        let Link::Open(conn) = &self.link else {
            return;
        };
        if conn.publishing && !self.machine.is_paused() {
            let frame = Queued {
                kind: tag.kind,
                class,
                timestamp: tag.timestamp,
                payload: tag.body,
                arrived: now,
            };
            self.queue.push(frame, now);
        }
    }

    /// A new header or metadata replaces the stored one and, when publishing, is sent at once: the queued frames
    /// belong to the old configuration and go, and video waits for a keyframe of the new one.
    fn on_header(&mut self, class: Class, body: Bytes) {
        let (slot, kind) = match class {
            Class::Metadata => (&mut self.headers.metadata, MediaKind::Script),
            Class::VideoHeader => (&mut self.headers.video, MediaKind::Video),
            _ => (&mut self.headers.audio, MediaKind::Audio),
        };
        if slot.as_ref() == Some(&body) {
            return;
        }
        *slot = Some(body.clone());
        if class == Class::VideoHeader {
            self.video = VideoConfig::from_header(&body);
            let (w, h) = self.video.map_or((0, 0), |v| (v.width, v.height));
            self.meter.picture(w, h);
            debug!(width = w, height = h, "video sequence header");
        }
        if let Link::Open(conn) = &mut self.link {
            if conn.publishing {
                self.queue.clear();
                let body = if kind == MediaKind::Script {
                    flv::script::add_set_data_frame(&body)
                } else {
                    body
                };
                conn.session.send_media(kind, self.last_ts, &body);
            }
        }
    }

    fn tick(&mut self, now: Instant) {
        let publishing = matches!(&self.link, Link::Open(c) if c.publishing);
        let delay = self.queue.delay(now);
        if publishing && !self.machine.is_paused() && delay >= self.opts.congestion_threshold {
            self.congested = true;
            let queued_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
            self.machine
                .handle_input(Input::Congested { queued_ms }, now);
        } else if self.congested {
            self.congested = false;
            self.machine.handle_input(Input::Uncongested, now);
        }
        let snapshot = Snapshot {
            state: self.machine.state(),
            ever_connected: self.ever_connected,
            queue_delay: delay,
            congestion_threshold: self.opts.congestion_threshold,
            dropped_total: self.queue.dropped(),
            video_cache: self.queue.video_frames(),
            audio_cache: self.queue.audio_frames(),
        };
        let status = self.meter.report(now, snapshot);
        self.emit(PusherEvent::NetStatus(status));
    }

    /// The connection failed: drop it (and what waited for it), then tell the machine.
    fn fail(&mut self, failure: Input, now: Instant) {
        self.link = Link::Idle;
        self.queue.clear();
        self.congested = false;
        if self.machine.state() != PusherState::Stopped {
            self.machine.handle_input(failure, now);
        }
    }
}
