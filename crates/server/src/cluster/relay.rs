//! The relay: a player on this node asks for a stream another node holds, so this node plays it from that node
//! over RTMP (with the cluster credential) and publishes it into its own hub, where every local reader (RTMP,
//! HTTP-FLV, the HLS segmenter) subscribes as if it were published here: one relay per stream per node, and the
//! GOP cache of the local hub gives the first frame at once.
//!
//! A relay is one more publisher to this node's hub (marked `relay`: any real publish replaces it, it sends no
//! webhooks and starts no followers) and one more reader to the origin's (marked `relay`: not a viewer). It ends
//! `relay_linger_ms` after its last local reader left. When the origin goes away (node killed, publisher moved),
//! the local stream waits in its republish grace with its players attached while the relay looks up the stream's
//! new node in Redis and plays from there; the hub keeps the timeline monotonic across the switch.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use media::{Frame, PublisherInfo, StreamKey};
use rtmp::{ClientEvent, ClientSession};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{sleep, timeout, Instant};
use tracing::{debug, info, warn};

use super::{credential, Cluster};
use crate::stream::access::{Reason, Refusal};

/// The protocol name of relays, on both sides: the publisher on the edge, the subscriber on the origin.
pub(crate) const PROTOCOL: &str = "relay";

/// A relay's start, as the players waiting for it see it: `None` while starting, then whether it started.
pub(super) struct Handle {
    id: u64,
    started: watch::Receiver<Option<Result<(), String>>>,
}

/// How one connection to an origin ended.
enum Ended {
    /// A publisher on this node took the stream: the relay is not needed.
    Replaced,
    /// No local reader for `relay_linger_ms`.
    Idle,
    /// The node is shutting down.
    Shutdown,
    /// The origin could not be reached, refused, or went away; `playing` when it had been relaying.
    Failed { why: String, playing: bool },
}

impl Cluster {
    /// Makes `key` playable on this node: at once when a client publishes it here or a relay of it runs;
    /// otherwise finds the node that holds it and starts a relay, waiting (at most `relay_start_timeout_ms`) for
    /// the relay's first answer. A stream live nowhere is `not_found`, as on one node.
    pub(crate) async fn pull(self: &Arc<Self>, key: &StreamKey) -> Result<(), Refusal> {
        let local = self.registry.get(key);
        if local
            .as_ref()
            .and_then(|s| s.publisher.as_ref())
            .is_some_and(|p| p.protocol != PROTOCOL)
        {
            return Ok(());
        }
        // A stream in its grace here, with no other node to pull it from, is waited for as on one node.
        let in_grace = local.is_some();
        let running = self.relays.lock().get(key).map(|h| h.started.clone());
        let mut started = match running {
            Some(started) => started,
            None => match self.start_relay(key).await {
                Ok(started) => started,
                Err(_) if in_grace => return Ok(()),
                Err(refusal) => return Err(refusal),
            },
        };
        let wait = Duration::from_millis(self.settings.relay_start_timeout_ms);
        let answer = match timeout(wait, started.wait_for(Option::is_some)).await {
            Ok(Ok(answer)) => Ok(answer.clone()),
            Ok(Err(e)) => Err(Some(e)),
            Err(_) => Err(None),
        };
        match answer {
            Ok(Some(Err(why))) => Err(Refusal::new(Reason::ClusterUnavailable, why)),
            Ok(_) => Ok(()),
            // The relay ended before it answered: it found a local publisher, so the stream is here.
            Err(Some(_)) => Ok(()),
            Err(None) => Err(Refusal::new(
                Reason::ClusterUnavailable,
                format!(
                    "the relay of {key} from its node did not start within {} ms (cluster.relay_start_timeout_ms)",
                    self.settings.relay_start_timeout_ms
                ),
            )),
        }
    }

    /// Looks up the node that holds `key` and starts a relay from it (or joins one another player started
    /// meanwhile).
    async fn start_relay(
        self: &Arc<Self>,
        key: &StreamKey,
    ) -> Result<watch::Receiver<Option<Result<(), String>>>, Refusal> {
        let unavailable = |e: super::store::StoreError| {
            Refusal::new(
                Reason::ClusterUnavailable,
                format!("cannot look up stream {key} in the cluster: {e}"),
            )
        };
        let holder = self
            .store
            .holder(&key.to_string())
            .await
            .map_err(unavailable)?;
        let Some(holder) = holder.filter(|h| h.node != self.node) else {
            return Err(Refusal::new(
                Reason::NotFound,
                format!("stream {key} is not live on any node"),
            ));
        };
        let Some(origin) = self.store.node(&holder.node).await.map_err(unavailable)? else {
            return Err(Refusal::new(
                Reason::NotFound,
                format!(
                    "stream {key} was published on node {}, which is gone; its publisher has not come back yet",
                    holder.node
                ),
            ));
        };
        let mut relays = self.relays.lock();
        if let Some(running) = relays.get(key) {
            return Ok(running.started.clone());
        }
        let (tx, rx) = watch::channel(None);
        let id = rand::random();
        relays.insert(
            key.clone(),
            Handle {
                id,
                started: rx.clone(),
            },
        );
        drop(relays);
        info!(stream = %key, origin = %holder.node, addr = %origin.rtmp, "cluster: relay starting");
        self.tracker
            .spawn(run(self.clone(), key.clone(), origin.rtmp, id, tx));
        Ok(rx)
    }

    /// After the origin went away: the address of the stream's node once Redis names a live one, while this
    /// node still has readers waiting in the grace. `None` when there is nothing left to relay. The address just
    /// lost is tried again only a second after the loss, and lookups are 200 ms apart: a dead origin whose record
    /// has not expired yet must not be hammered.
    async fn find_origin(&self, key: &StreamKey, lost: &str) -> Option<String> {
        let lost_at = Instant::now();
        let deadline = lost_at + self.registry.config().republish_grace;
        loop {
            if Instant::now() >= deadline {
                return None;
            }
            let stream = self.registry.get(key)?;
            if stream
                .publisher
                .as_ref()
                .is_some_and(|p| p.protocol != PROTOCOL)
            {
                return None;
            }
            match self.store.holder(&key.to_string()).await {
                Ok(Some(holder)) if holder.node == self.node => return None,
                Ok(Some(holder)) => {
                    if let Ok(Some(node)) = self.store.node(&holder.node).await {
                        if node.rtmp != lost || lost_at.elapsed() >= Duration::from_secs(1) {
                            return Some(node.rtmp);
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    debug!(stream = %key, "cluster: relay cannot look up the stream ({e}); retrying");
                }
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return None,
                _ = sleep(Duration::from_millis(200)) => {}
            }
        }
    }

    /// Players on this node that read `key` (relays of other nodes included, though they pull from origins).
    fn local_readers(&self, key: &StreamKey) -> u64 {
        self.registry
            .get(key)
            .map_or(0, |s| s.players.total + s.players.relays)
    }
}

/// Runs the relay of `key` until it is not needed, following the stream from node to node.
async fn run(
    cluster: Arc<Cluster>,
    key: StreamKey,
    mut origin: String,
    id: u64,
    started: watch::Sender<Option<Result<(), String>>>,
) {
    cluster.metrics.relay_running(true);
    loop {
        let ended = relay_once(&cluster, &key, &origin, &started).await;
        match ended {
            Ended::Replaced => {
                debug!(stream = %key, "cluster: relay ends, the stream is published on this node now");
                break;
            }
            Ended::Idle => {
                info!(stream = %key, "cluster: relay ends, no local reader");
                break;
            }
            Ended::Shutdown => break,
            Ended::Failed { why, playing } => {
                if started.borrow().is_none() {
                    warn!(stream = %key, %origin, "cluster: relay could not start: {why}");
                    started.send_replace(Some(Err(format!(
                        "cannot play {key} from node at {origin}: {why}"
                    ))));
                    break;
                }
                if playing {
                    warn!(stream = %key, %origin, "cluster: relay lost its origin ({why}); players wait in the grace while the stream's node is looked up");
                } else {
                    debug!(stream = %key, %origin, "cluster: relay could not reach the stream's node again ({why}); looking it up");
                }
                match cluster.find_origin(&key, &origin).await {
                    Some(next) => {
                        info!(stream = %key, from = %origin, to = %next, "cluster: relay follows the stream");
                        origin = next;
                    }
                    None => break,
                }
            }
        }
    }
    {
        let mut relays = cluster.relays.lock();
        if relays.get(&key).is_some_and(|h| h.id == id) {
            relays.remove(&key);
        }
    }
    cluster.metrics.relay_running(false);
}

fn failed(why: String, playing: bool) -> Ended {
    Ended::Failed { why, playing }
}

/// One connection to the origin: connect, play with the credential, publish what arrives into the local hub.
// Long on purpose: one receive loop with its four wake-ups (data, kicked, linger tick, session timer), as the
// RTMP connection driver has.
async fn relay_once(
    cluster: &Cluster,
    key: &StreamKey,
    origin: &str,
    started: &watch::Sender<Option<Result<(), String>>>,
) -> Ended {
    let wait = Duration::from_millis(cluster.settings.relay_start_timeout_ms);
    let mut socket = match timeout(wait, TcpStream::connect(origin)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return failed(format!("connect: {e}"), false),
        Err(_) => return failed("connect: timed out".into(), false),
    };
    let _ = socket.set_nodelay(true);
    let mut session = ClientSession::new(cluster.session_config.clone(), std::time::Instant::now());
    session.connect(&key.app, &format!("rtmp://{origin}/{}", key.app));
    let credential = credential::sign(&cluster.secret, &key.app, &key.name, control::now_unix());
    session.play(&format!("{}?{credential}", key.name));
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut publisher = None;
    // The stream's RTMP and HTTP-FLV players, written after each batch of pushes (publisher-driven fan-out, as
    // the RTMP connection driver does): without it they would wait for their own fallback timer.
    let mut players = None;
    let deadline = Instant::now() + wait;
    let mut linger = tokio::time::interval(Duration::from_millis(250));
    let mut idle_since: Option<Instant> = None;
    let linger_for = Duration::from_millis(cluster.settings.relay_linger_ms);
    loop {
        if let Some(out) = session.take_transmit() {
            if let Err(e) = socket.write_all(&out).await {
                return failed(format!("write: {e}"), publisher.is_some());
            }
        }
        let timer = session
            .poll_timeout()
            .map(Instant::from_std)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let kicked = publisher.as_ref().map(media::Publisher::kicked);
        let kicked = async move {
            match kicked {
                Some(kicked) => kicked.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = cluster.shutdown.cancelled() => return Ended::Shutdown,
            _ = kicked => return Ended::Replaced,
            read = tokio::io::AsyncReadExt::read_buf(&mut socket, &mut buf) => {
                match read {
                    Ok(0) => return failed("the origin closed the connection".into(), publisher.is_some()),
                    Ok(_) => {}
                    Err(e) => return failed(format!("read: {e}"), publisher.is_some()),
                }
                if let Err(e) = session.handle_input(&buf, std::time::Instant::now()) {
                    return failed(format!("rtmp: {e}"), publisher.is_some());
                }
                buf.clear();
            }
            _ = linger.tick() => {
                if publisher.is_none() {
                    if Instant::now() >= deadline {
                        return failed(format!("no answer to play within {} ms", wait.as_millis()), publisher.is_some());
                    }
                    continue;
                }
                if cluster.local_readers(key) > 0 {
                    idle_since = None;
                } else if idle_since.get_or_insert_with(Instant::now).elapsed() >= linger_for {
                    return Ended::Idle;
                }
                continue;
            }
            _ = tokio::time::sleep_until(timer) => {
                if let Err(e) = session.handle_timeout(std::time::Instant::now()) {
                    return failed(format!("rtmp: {e}"), publisher.is_some());
                }
            }
        }
        let mut pushed = false;
        while let Some(event) = session.poll_output() {
            match event {
                ClientEvent::Media {
                    kind,
                    timestamp,
                    payload,
                } => {
                    if let Some(p) = publisher.as_mut() {
                        p.push(Frame::new(kind, timestamp, payload));
                        pushed = true;
                    }
                }
                ClientEvent::Playing { .. } => {
                    let info = PublisherInfo {
                        remote_addr: origin.to_string(),
                        protocol: PROTOCOL,
                        republish_grace: None,
                        started_at_ms: u64::try_from(control::now_ms()).unwrap_or(0),
                        relay: true,
                    };
                    match cluster.registry.publish(key.clone(), info) {
                        Ok(p) => {
                            players = Some(
                                crate::stream::entry::of_relay(cluster.merge_window, &p)
                                    .players
                                    .clone(),
                            );
                            publisher = Some(p);
                        }
                        Err(_) => return Ended::Replaced,
                    }
                    started.send_replace(Some(Ok(())));
                }
                ClientEvent::ConnectRejected { code, description }
                | ClientEvent::PlayRejected { code, description } => {
                    return failed(
                        format!("refused: {code} {description}"),
                        publisher.is_some(),
                    );
                }
                ClientEvent::Status {
                    level,
                    code,
                    description,
                } if level == "error" => {
                    return failed(format!("{code} {description}"), publisher.is_some());
                }
                _ => {}
            }
        }
        if pushed {
            if let Some(players) = &players {
                players.on_push(Instant::now());
            }
        }
    }
}
