//! The stream lifecycle every protocol driver goes through: a driver asks [`publish`] or [`play`] with what it
//! knows and gets a session or one typed [`Refusal`]; the driver only speaks its wire format.
//!
//! Here, once for every protocol: access (names, catalog, signature, forbids, limits), the hub's one-publisher
//! rule, the log line, `/metrics` refusals, the webhooks (`push_start` / `republish`, `push_refused`,
//! `play_start`), the readers that follow a publish ([`followers`](crate::stream::followers): the HLS muxer
//! when always on, the recorder, the rooms), and, when a session handle is dropped, its end (`push_end` with
//! the errcode of its [`End`] and the push's interruption record, the followers told, `play_stop`).
//! MediaMTX's path manager is the model: drivers depend on this narrow interface, not on each other.

use std::net::SocketAddr;
use std::sync::Arc;

use control::store::InterruptReason;
use control::webhook_event::{errcode, EventKind, StreamEvent};
use control::App;
use media::{Frame, PublishError, Publisher, PublisherInfo, StreamKey, Subscriber};
use tracing::info;

use crate::ops::interruptions;
use crate::ops::webhooks::{self, Change, Owed, Webhooks};
use crate::stream::access::{self, PlayMode, Reason, Refusal};
use crate::stream::entry::{self, StreamEntry};
use crate::stream::followers::Published;
use crate::stream::health::{self, Watch};
use crate::stream::Streams;

/// The protocol a session speaks, as webhooks (`player_type`), metrics and logs name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// RTMP publish or play.
    Rtmp,
    /// HTTP-FLV play.
    Flv,
    /// A classic HLS viewer.
    Hls,
    /// A low-latency HLS viewer.
    LlHls,
    /// A WebRTC (WHEP) player.
    Webrtc,
    /// A WebRTC (WHIP) publisher.
    Whip,
}

impl Protocol {
    /// `rtmp`, `flv`, `hls`, `ll-hls`, `webrtc`, `whip`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Protocol::Rtmp => "rtmp",
            Protocol::Flv => "flv",
            Protocol::Hls => "hls",
            Protocol::LlHls => "ll-hls",
            Protocol::Webrtc => "webrtc",
            Protocol::Whip => "whip",
        }
    }
}

/// What a driver knows when a client asks to publish or play.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    /// The app (RTMP application) name.
    pub(crate) app: &'a str,
    /// The stream name, without its query.
    pub(crate) stream: &'a str,
    /// The query that carries the signature (and `mode=`), if any.
    pub(crate) query: Option<&'a str>,
    /// The client.
    pub(crate) peer: SocketAddr,
    /// How the client speaks.
    pub(crate) protocol: Protocol,
}

/// Why a publish ended, for its `push_end` webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    /// The publisher stopped (unpublish, or closed its connection).
    Normal,
    /// The server is shutting down.
    Shutdown,
    /// Kicked through the API, forbidden, or taken over by another publisher.
    Kicked,
    /// The publisher went silent (`publisher_timeout_secs`) or another timeout.
    Timeout(String),
    /// A protocol or socket error.
    Error(String),
}

impl End {
    /// The `errcode` and `errmsg` of the `push_end` webhook.
    fn errcode(&self) -> (i64, String) {
        match self {
            End::Normal => (errcode::OK, String::new()),
            End::Shutdown => (errcode::SHUTDOWN, "server shutting down".into()),
            End::Kicked => (errcode::KICKED, "kicked or taken over".into()),
            End::Timeout(why) => (errcode::TIMEOUT, why.clone()),
            End::Error(why) => (errcode::CONNECTION_ERROR, why.clone()),
        }
    }

    /// Why the push ended, for its interruption record: `taken_over` when the kick was another publisher taking
    /// the idle stream (here or on another node).
    fn reason(&self, taken_over: bool) -> InterruptReason {
        match self {
            End::Normal => InterruptReason::Closed,
            End::Shutdown => InterruptReason::Shutdown,
            End::Kicked if taken_over => InterruptReason::Takeover,
            End::Kicked => InterruptReason::Kicked,
            End::Timeout(_) => InterruptReason::NoData,
            End::Error(_) => InterruptReason::Error,
        }
    }
}

/// A running publish. The driver pushes frames through [`PublishSession::push`]; dropping the session
/// ends the publish and sends `push_end` (normal unless [`PublishSession::end`] said otherwise).
pub(crate) struct PublishSession {
    streams: Arc<Streams>,
    publisher: Publisher,
    entry: Arc<StreamEntry>,
    app: Arc<App>,
    peer: SocketAddr,
    /// Pairs the push start and end webhooks.
    sequence: String,
    started: std::time::Instant,
    /// When the publish started, Unix ms (its interruption record).
    started_ms: i64,
    /// The query the publisher sent, for webhooks (credentials masked there).
    param: Option<String>,
    end: End,
    /// The session's row in `open_sessions` (`push:{sequence}`), written with its `push_start` and deleted with
    /// its `push_end`; `None` when none was queued (an app without callback URLs, a full queue).
    open: Option<String>,
    /// The health rules watching this publish (`None` with `[health] enabled = false`).
    health: Option<Arc<Watch>>,
    /// The stream's claim in the cluster, released when the publish ends (after the hub's publisher, by field
    /// order: a new publish on another node must not find the stream still published here).
    _claim: Option<crate::cluster::claims::ClaimGuard>,
}

impl PublishSession {
    /// Publishes a frame that arrived at `now`, watched by the health rules on its way into the hub.
    pub(crate) fn push(&mut self, frame: Frame, now: tokio::time::Instant) {
        if let Some(watch) = &self.health {
            watch.frame(&self.streams, &self.entry, now.into_std(), &frame);
        }
        self.publisher.push(frame);
    }

    /// The stream published.
    pub(crate) fn key(&self) -> &StreamKey {
        self.publisher.key()
    }

    /// What the server keeps for the stream (its players' group, segmenter, recording).
    pub(crate) fn entry(&self) -> &Arc<StreamEntry> {
        &self.entry
    }

    /// Resolves when another publisher takes the stream over or the API kicks this one.
    pub(crate) fn kicked(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.publisher.kicked()
    }

    /// Sets why the publish ends; the `push_end` webhook sent on drop carries it.
    pub(crate) fn set_end(&mut self, end: End) {
        self.end = end;
    }

    fn event(&self, kind: EventKind) -> StreamEvent {
        let key = self.publisher.key();
        let mut event =
            webhooks::stream_event(kind, &key.app, &key.name, self.peer, self.param.as_deref());
        event.sequence = self.sequence.clone();
        if let Some(stats) = self.streams.registry.get(key) {
            event.width = stats.video_width;
            event.height = stats.video_height;
        }
        event
    }

    /// The `push_end` sent for this session if the server dies before it ends: stored with the start, sent by the
    /// next start of the server (see `webhooks::recover`), which cannot know when the push really ended.
    fn end_if_cut(&self) -> StreamEvent {
        let mut end = self.event(EventKind::PushEnd).with_error(
            errcode::RESTARTED,
            "the server was killed or crashed during the push; sent when it started again",
        );
        end.push_duration_ms = None;
        end
    }
}

impl Drop for PublishSession {
    fn drop(&mut self) {
        // A publisher that was taken over leaves a stream that is still published: its followers go on. One
        // that was kicked through the API leaves a stream without a publisher, like one that stops.
        let replaced = self.publisher.is_kicked()
            && self
                .streams
                .registry
                .get(self.publisher.key())
                .is_some_and(|s| s.publisher.is_some());
        // Taken over by a publisher on another node: this node's claim went to it before the kick.
        let taken_elsewhere = self._claim.as_ref().is_some_and(|c| c.taken_over());
        if !replaced {
            for follower in self.streams.followers() {
                follower.unpublished(self.publisher.key());
            }
        }
        // Its open anomalies end before its push_end is queued.
        if let Some(watch) = self.health.take() {
            watch.finish(&self.streams, &self.entry);
        }
        let (code, message) = self.end.errcode();
        let mut event = self.event(EventKind::PushEnd).with_error(code, &message);
        event.push_duration_ms =
            Some(u64::try_from(self.started.elapsed().as_millis()).unwrap_or(0));
        let record = interruptions::record(
            &event,
            self.peer.to_string(),
            self.started_ms,
            self.end.reason(replaced || taken_elsewhere),
        );
        // Cannot wait here; if the server dies before this is stored, the session's row makes the next start send
        // a push_end (errcode 1019) and write the record (`restart`) instead.
        let change = Change {
            event: Some(event),
            open: None,
            close: self.open.take(),
            interruption: Some(record),
        };
        self.streams.webhooks.change(&self.app, change);
    }
}

/// May `req` publish? On success the stream is the caller's until the session is dropped: `push_start` (or
/// `republish` within the grace) is sent, and the readers that follow a publish are started. A refusal is counted,
/// sent to the app's webhooks (`push_refused`, not for a bad name) and returned for the driver to answer.
pub(crate) async fn publish(
    streams: &Arc<Streams>,
    req: Request<'_>,
) -> Result<PublishSession, Refusal> {
    let result = start_publish(streams, req).await;
    if let Err(refusal) = &result {
        refused_publish(streams, req, refusal);
    }
    result
}

async fn start_publish(
    streams: &Arc<Streams>,
    req: Request<'_>,
) -> Result<PublishSession, Refusal> {
    let app = access::check_publish(streams, req.app, req.stream, req.query)?;
    let key = StreamKey::new(req.app, req.stream);
    let sequence = webhooks::new_sequence();
    // Cluster-wide first: the local hub is touched only by the publish that holds the stream's claim.
    let (claim, orphan) = match &streams.cluster {
        Some(cluster) => {
            // Boxed for the same reason as the play's pull: the connection task keeps its size.
            let (claim, orphan) = Box::pin(cluster.claim(&key, &sequence)).await?;
            (Some(claim), orphan)
        }
        None => (None, None),
    };
    let info = PublisherInfo {
        remote_addr: req.peer.to_string(),
        protocol: req.protocol.as_str(),
        republish_grace: access::republish_grace(&app),
        started_at_ms: u64::try_from(control::now_ms()).unwrap_or(0),
        relay: false,
    };
    let in_grace = streams
        .registry
        .get(&key)
        .is_some_and(|s| s.publisher.is_none());
    let publisher = streams.registry.publish(key, info).map_err(|e| {
        let reason = match e {
            PublishError::AlreadyPublishing { .. } => Reason::StreamBusy,
            _ => Reason::TooManyStreams,
        };
        Refusal::new(reason, e.to_string())
    })?;
    let key = publisher.key().clone();
    info!(peer = %req.peer, stream = %key, protocol = req.protocol.as_str(), "publish");
    let entry = entry::of_publisher(streams, &publisher);
    let mut session = PublishSession {
        streams: streams.clone(),
        publisher,
        entry,
        app,
        peer: req.peer,
        sequence,
        started: std::time::Instant::now(),
        started_ms: control::now_ms(),
        param: req.query.map(str::to_owned),
        end: End::Normal,
        open: None,
        health: None,
        _claim: claim,
    };
    if let Some(orphan) = orphan {
        end_orphan(streams, &session.app, &key, &orphan);
    }
    let kind = if in_grace {
        EventKind::Republish
    } else {
        EventKind::PushStart
    };
    // Stored before the driver tells the publisher it may publish (NetStream.Publish.Start), with the push_end
    // owed if the server dies first: a kill -9 at any moment leaves either neither or both (docs/webhooks.md).
    let id = format!("push:{}", session.sequence);
    let change = Change {
        event: Some(session.event(kind)),
        open: Some(Owed {
            id: id.clone(),
            end: session.end_if_cut(),
        }),
        close: None,
        interruption: None,
    };
    // Set before waiting: if this future is dropped after the change was queued, the session's drop must still
    // close the row (a close that finds no row stores nothing, so setting it early is harmless).
    session.open = Some(id);
    // Boxed: the wait (its queue entry, channel and timer) would otherwise be inlined into every RTMP
    // connection's task for the task's whole life, players' included.
    let durable = Box::pin(streams.webhooks.emit_durable(&session.app, change)).await;
    if !durable.queued {
        session.open = None;
    }
    let watched = health::Publish {
        app: &session.app,
        key: &key,
        sequence: &session.sequence,
        peer: req.peer,
        param: req.query,
    };
    session.health = Watch::start(&streams.health, &session.entry, watched);
    let published = Published {
        key: &key,
        app: &session.app,
        entry: &session.entry,
    };
    for follower in streams.followers() {
        follower.published(&published);
    }
    Ok(session)
}

/// Sends the `push_end` of a session whose node died (its claim was taken over here): exactly one per session,
/// even when the node that held it cannot send it.
fn end_orphan(
    streams: &Streams,
    app: &App,
    key: &StreamKey,
    orphan: &crate::cluster::store::Claim,
) {
    let mut event = StreamEvent::new(EventKind::PushEnd, &key.app, &key.name, control::now_unix())
        .with_error(
            errcode::CONNECTION_ERROR,
            &format!("node {} that held the publish is gone", orphan.node),
        );
    event.sequence = orphan.session.clone();
    event.push_duration_ms = u64::try_from(control::now_ms() - orphan.claimed_at_ms).ok();
    info!(stream = %key, node = %orphan.node, "push_end sent for the publish of a node that is gone");
    // The publisher's address comes from the dead node's row (the store fills it in); its node is the dead one.
    let mut record = interruptions::record(
        &event,
        String::new(),
        orphan.claimed_at_ms,
        InterruptReason::NodeLost,
    );
    record.node = orphan.node.clone();
    // Closes the dead node's row: if that node starts again, it does not send a second push_end for it (and if
    // it already did, this one is not stored, nor is this record).
    let change = Change {
        close: Some(format!("push:{}", orphan.session)),
        event: Some(event),
        open: None,
        interruption: Some(record),
    };
    streams.webhooks.change(app, change);
}

/// Counts a refused publish and tells the app's webhooks (`push_refused`). [`publish`] does it for its own
/// refusals; a driver that refuses before asking (WHIP's bearer token) calls it itself.
pub(crate) fn refused_publish(streams: &Streams, req: Request<'_>, refusal: &Refusal) {
    streams.metrics.refused("publish", refusal.reason.as_str());
    // A name that breaks the rules is stored nowhere, not even in a webhook.
    if !refusal.reason.has_webhook() {
        return;
    }
    if let Some(app) = streams.catalog.app(req.app) {
        let mut event = webhooks::stream_event(
            EventKind::PushRefused,
            &app.name,
            req.stream,
            req.peer,
            req.query,
        )
        .with_error(refusal.reason.errcode(), &refusal.description());
        // No session started: the refused attempt gets a sequence of its own, so each is its own dedup key.
        event.sequence = webhooks::new_sequence();
        streams.webhooks.emit(&app, event);
    }
}

/// An admitted play: the hub subscription to read from, how to write it, and the session whose drop sends
/// `play_stop`.
pub(crate) struct Play {
    /// The player's cursor into the stream.
    pub(crate) subscriber: Subscriber,
    /// Where it starts and how it is written.
    pub(crate) mode: PlayMode,
    /// What the server keeps for the stream (the group its player joins).
    pub(crate) entry: Arc<StreamEntry>,
    /// Ends the play when dropped.
    pub(crate) session: PlaySession,
}

/// A running play; dropping it sends `play_stop`.
pub(crate) struct PlaySession {
    webhooks: Webhooks,
    app: Arc<App>,
    stop: Option<PlayStop>,
}

/// What a `play_stop` needs, kept small: every player holds one for its whole play, and the event itself (a dozen
/// strings) is built when the play ends, stamped with that time.
struct PlayStop {
    stream: Box<str>,
    /// Shared with the play's `play_start`: pairs them, and lets a receiver deduplicate deliveries.
    sequence: Box<str>,
    peer: SocketAddr,
    protocol: Protocol,
    /// Set when the server ended the play because the stream cannot be played this way: its errcode and errmsg.
    error: Option<Box<(i64, String)>>,
}

impl PlaySession {
    /// The server ends this play because the stream cannot be played this way (`reason`, a refusal reason such
    /// as `b_frames`; `message` says why): `play_stop` carries its errcode and the message.
    pub(crate) fn set_error(&mut self, reason: &str, message: &str) {
        if let Some(stop) = self.stop.as_mut() {
            stop.error = Some(Box::new((errcode::for_reason(reason), message.to_owned())));
        }
    }
}

impl Drop for PlaySession {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let ip = stop.peer.ip().to_string();
            let mut event = webhooks::stream_event(
                EventKind::PlayStop,
                &self.app.name,
                &stop.stream,
                stop.peer,
                None,
            )
            .with_player(stop.protocol.as_str(), &ip);
            if let Some(error) = stop.error {
                event = event.with_error(error.0, &error.1);
            }
            event.sequence = stop.sequence.into();
            self.webhooks.emit(&self.app, event);
        }
    }
}

/// May `req` play? Checks access and the player limit, subscribes to the live stream and sends `play_start`.
/// A refusal (or a stream that is not live) is counted and returned for the driver to answer.
pub(crate) async fn play(streams: &Streams, req: Request<'_>) -> Result<Play, Refusal> {
    let result = start_play(streams, req).await;
    if let Err(refusal) = &result {
        streams.metrics.refused("play", refusal.reason.as_str());
    }
    result
}

async fn start_play(streams: &Streams, req: Request<'_>) -> Result<Play, Refusal> {
    if let Some(cluster) = &streams.cluster {
        if let Some(credential) = crate::cluster::credential::find(req.query) {
            return relay_play(streams, cluster, req, credential);
        }
    }
    let (app, mode) = access::check_play(streams, req.app, req.stream, req.query)?;
    // A WebRTC player has a jitter buffer of a few frames, not seconds: it always starts like `mode=rtc`, from
    // the cached GOP restamped to the live edge.
    let mode = if req.protocol == Protocol::Webrtc {
        mode.low_latency()
    } else {
        mode
    };
    let key = StreamKey::new(req.app, req.stream);
    // On a node that does not hold the stream, a relay from the node that does brings it into the local hub.
    // Boxed: the pull's future (Redis calls, a relay's start) is large and rarely awaited; inline, it would grow
    // every player's connection task by its size for the task's whole life.
    if let Some(cluster) = &streams.cluster {
        Box::pin(cluster.pull(&key)).await?;
    }
    let opts = media::SubscribeOptions {
        start: mode.start,
        protocol: req.protocol.as_str(),
    };
    let subscriber = streams
        .registry
        .subscribe(&key, opts)
        .map_err(|e| Refusal::new(Reason::NotFound, e.to_string()))?;
    info!(peer = %req.peer, stream = %key, protocol = req.protocol.as_str(), rtc = mode.rtc, "play");
    let entry = entry::of_subscriber(streams, &subscriber);
    Ok(Play {
        subscriber,
        mode,
        entry,
        session: play_session(streams, app, req),
    })
}

/// Another node's relay of a stream held here: admitted on the cluster credential instead of the app's play key,
/// served every frame at once from the cached GOP (the edge's hub caches it again), and no viewer: no webhooks,
/// outside `max_players` and the player counts.
fn relay_play(
    streams: &Streams,
    cluster: &crate::cluster::Cluster,
    req: Request<'_>,
    credential: &str,
) -> Result<Play, Refusal> {
    access::check_names(req.app, Some(req.stream))?;
    if !cluster.verify_relay(credential, req.app, req.stream) {
        return Err(Refusal::new(
            Reason::SignatureBad,
            "the cluster credential (mplive_relay) is not valid: only the cluster's nodes can make one",
        ));
    }
    let app = streams
        .catalog
        .app(req.app)
        .ok_or_else(|| Refusal::new(Reason::UnknownApp, format!("no app named {}", req.app)))?;
    let key = StreamKey::new(req.app, req.stream);
    let opts = media::SubscribeOptions {
        start: media::StartPolicy::Gop,
        protocol: crate::cluster::relay::PROTOCOL,
    };
    let subscriber = streams
        .registry
        .subscribe(&key, opts)
        .map_err(|e| Refusal::new(Reason::NotFound, e.to_string()))?;
    info!(peer = %req.peer, stream = %key, "relay to another node");
    let entry = entry::of_subscriber(streams, &subscriber);
    Ok(Play {
        subscriber,
        mode: PlayMode {
            rtc: true,
            start: media::StartPolicy::Gop,
        },
        entry,
        session: PlaySession {
            webhooks: streams.webhooks.clone(),
            app,
            stop: None,
        },
    })
}

/// An HLS viewer, admitted by the HLS server (which checked access and limits when the client's first answer
/// was a success): the log line, `play_start` now, and the session whose drop sends `play_stop`. The hub does
/// not serve it: the stream's segmenter does.
pub(crate) fn viewer(streams: &Streams, app: Arc<App>, req: Request<'_>) -> PlaySession {
    info!(
        peer = %req.peer,
        stream = %format_args!("{}/{}", req.app, req.stream),
        protocol = req.protocol.as_str(),
        "play"
    );
    play_session(streams, app, req)
}

fn play_session(streams: &Streams, app: Arc<App>, req: Request<'_>) -> PlaySession {
    let ip = req.peer.ip().to_string();
    let mut start = webhooks::stream_event(
        EventKind::PlayStart,
        req.app,
        req.stream,
        req.peer,
        req.query,
    )
    .with_player(req.protocol.as_str(), &ip);
    // One sequence per play, like a publish's: two players from one address in the same second would otherwise
    // send identical bodies, which a receiver deduplicating deliveries could not tell apart.
    let sequence = webhooks::new_sequence();
    start.sequence = sequence.clone();
    streams.webhooks.emit(&app, start);
    // Nothing to keep for an app without callback URLs (its snapshot is what `emit` would look at).
    let stop = (!app.callback_urls.is_empty()).then(|| PlayStop {
        stream: req.stream.into(),
        sequence: sequence.into(),
        peer: req.peer,
        protocol: req.protocol,
        error: None,
    });
    PlaySession {
        webhooks: streams.webhooks.clone(),
        app,
        stop,
    }
}
