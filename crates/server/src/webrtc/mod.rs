//! WebRTC playback (WHEP) of the streams in the hub: a browser `POST`s an SDP offer to `/{app}/{stream}/whep` and
//! gets the answer; media then flows over one UDP socket shared by every session, or over ICE-TCP where UDP is
//! blocked (docs/webrtc.md).
//!
//! - [`offer`]: the offer becomes a `str0m::Rtc` (ICE-lite, H.264 + Opus) and its answer, or a typed refusal;
//!   [`profile`] picks the H.264 payload type by the stream's profile, which [`probe`] reads from its snapshot.
//! - [`http`]: the WHEP resource (`POST`, `DELETE`, `PATCH`, `OPTIONS`, CORS); a session is one more player of
//!   the stream lifecycle (`stream::lifecycle::play`, protocol `webrtc`): same access, limits, webhooks.
//! - [`driver`]: the one task owning the UDP socket and every session's `Rtc` (sans-IO: it is polled).
//! - [`tcp`]: the ICE-TCP listener and its connections, whose packets ([`framing`]: RFC 4571) the driver takes too.
//! - [`feeder`]: per session, hub frames to the driver once the browser is connected.
//! - [`source`]: what a stream's WebRTC viewers share (Annex B conversion once per frame, AAC -> Opus once per stream).
//! - [`h264`]: FLV AVC tags to Annex B access units with SPS/PPS before every keyframe.
//! - [`rendition`]: a stream with B-frames re-encoded without them (once per stream, on its own thread, into a
//!   private hub) for its WebRTC viewers.
//! - [`whip`]: WebRTC publishing (WHIP): the resource; a session is one more publisher of the stream lifecycle
//!   (protocol `whip`). [`publish`]: its two halves, in the UDP task and in its own task; [`ingest`]: what it
//!   receives turned into hub frames (H.264 Annex B to FLV AVC, Opus to AAC, one timeline), pure.

mod bframes;
mod driver;
mod feeder;
pub(crate) mod framing;
mod h264;
pub(crate) mod http;
pub(crate) mod ingest;
pub(crate) mod offer;
mod probe;
mod profile;
mod publish;
mod rendition;
mod settings;
pub(crate) mod source;
mod tcp;
pub(crate) mod whip;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use media::StreamKey;
use parking_lot::Mutex;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

pub use settings::{BFrames, TranscodeSettings, VideoTimestamps, WebrtcSettings, WhipSettings};

/// Commands waiting for the UDP task (opens and closes; media has its own queue).
const COMMAND_QUEUE: usize = 256;

/// The WHEP service: the UDP task's queues, the sessions' resources, and what new sessions are built with.
pub(crate) struct Webrtc {
    settings: WebrtcSettings,
    setup: offer::RtcSetup,
    commands: mpsc::Sender<driver::Command>,
    media: mpsc::Sender<(u64, feeder::Item)>,
    sessions: Arc<Sessions>,
    udp_addr: SocketAddr,
    /// The ICE-TCP listener's bound address; `None` with `webrtc.tcp_enabled = false`.
    tcp_addr: Option<SocketAddr>,
    /// Streams with B-frames re-encoded for their WebRTC viewers.
    renditions: Arc<rendition::Renditions>,
    tracker: TaskTracker,
}

/// The live sessions' resources (`/{app}/{stream}/whep/{token}`), shared by the HTTP handlers and the UDP task.
#[derive(Default)]
pub(crate) struct Sessions {
    by_token: Mutex<HashMap<String, (u64, StreamKey)>>,
    next_id: std::sync::atomic::AtomicU64,
    /// Offers past the `max_sessions` check and not yet added or refused: counted with the open sessions, so
    /// concurrent offers cannot all pass the check before any of them is added.
    reserved: Mutex<usize>,
}

/// A place among `webrtc.max_sessions` held for an offer being answered; given back when dropped unless
/// [`Reservation::add`] turned it into a session.
pub(crate) struct Reservation {
    sessions: Arc<Sessions>,
    taken: bool,
}

impl Reservation {
    /// The session: its id and the token of its resource.
    pub(crate) fn add(mut self, key: StreamKey) -> (u64, String) {
        self.taken = true;
        self.sessions.add(key)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.taken {
            let mut reserved = self.sessions.reserved.lock();
            *reserved = reserved.saturating_sub(1);
        }
    }
}

impl Sessions {
    /// A place for one more session when fewer than `max` are open or being set up.
    pub(crate) fn reserve(self: &Arc<Self>, max: usize) -> Option<Reservation> {
        // Lock order: `reserved`, then `by_token` (as in `add`).
        let mut reserved = self.reserved.lock();
        if self.by_token.lock().len() + *reserved >= max {
            return None;
        }
        *reserved += 1;
        Some(Reservation {
            sessions: self.clone(),
            taken: false,
        })
    }

    fn add(&self, key: StreamKey) -> (u64, String) {
        use rand::Rng;
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let token: String = (0..16)
            .map(|_| format!("{:02x}", rand::thread_rng().gen::<u8>()))
            .collect();
        // The reservation becomes the session in one step under the lock, so no check sees both or neither.
        let mut reserved = self.reserved.lock();
        *reserved = reserved.saturating_sub(1);
        self.by_token.lock().insert(token.clone(), (id, key));
        drop(reserved);
        (id, token)
    }

    fn find(&self, token: &str, key: &StreamKey) -> Option<u64> {
        self.by_token
            .lock()
            .get(token)
            .filter(|(_, k)| k == key)
            .map(|(id, _)| *id)
    }

    pub(crate) fn remove(&self, id: u64) {
        self.by_token.lock().retain(|_, (i, _)| *i != id);
    }
}

impl Webrtc {
    /// Binds the UDP socket (and the ICE-TCP listener) and starts their tasks; `None` when WHEP is off.
    /// `public_host` gives the candidates' address unless `webrtc.candidate_ips` does.
    pub(crate) async fn start(
        settings: &WebrtcSettings,
        http_addr: SocketAddr,
        public_host: &str,
        shutdown: &CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<Option<Arc<Webrtc>>, crate::ServerError> {
        if !settings.enabled {
            return Ok(None);
        }
        let what = "WebRTC (UDP)";
        let addr = settings.udp_addr(http_addr);
        let explicit = settings.udp_addr.is_some();
        let (socket, udp_addr) = bind(what, "udp_addr", addr, explicit, |a| async move {
            let socket = UdpSocket::bind(a).await?;
            let bound = socket.local_addr()?;
            Ok((socket, bound))
        })
        .await?;
        let tcp = if settings.tcp_enabled {
            let addr = settings.tcp_addr(http_addr);
            let explicit = settings.tcp_addr.is_some();
            Some(
                bind(
                    "WebRTC (ICE-TCP)",
                    "tcp_addr",
                    addr,
                    explicit,
                    |a| async move {
                        let listener = TcpListener::bind(a).await?;
                        let bound = listener.local_addr()?;
                        Ok((listener, bound))
                    },
                )
                .await?,
            )
        } else {
            None
        };
        let tcp_addr = tcp.as_ref().map(|(_, a)| *a);
        let ips = candidate_ips(settings, public_host, udp_addr).await;
        let on = |port: u16| -> Vec<SocketAddr> {
            ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect()
        };
        let udp_port = settings.public_udp_port.unwrap_or(udp_addr.port());
        // str0m's ICE agent takes a STUN check only when it names one of the answer's candidates as the address
        // it arrived on, so packets are handed over as received on the candidate rather than the bound address.
        let udp_local = tcp::candidate_for(&on(udp_port), udp_addr.ip())
            .unwrap_or(SocketAddr::new(udp_addr.ip(), udp_port));
        let candidates = if settings.udp_candidates {
            on(udp_port)
        } else {
            Vec::new()
        };
        let tcp_candidates = tcp_addr
            .map(|a| on(settings.public_tcp_port.unwrap_or(a.port())))
            .unwrap_or_default();
        let crypto = str0m::crypto::from_feature_flags();
        let cert = crypto.dtls_provider.generate_certificate().ok_or_else(|| {
            crate::ServerError::Bind {
                what,
                addr,
                error: std::io::Error::other("cannot generate the DTLS certificate"),
            }
        })?;
        let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
        let (media, media_rx) = mpsc::channel(settings.session_queue);
        let sessions = Arc::new(Sessions::default());
        let tcp_events = tcp.map(|(listener, _)| {
            // Frames from every connection wait here for the UDP task, bounded like the feeders' queue: when it is
            // full a connection's task waits, so it stops reading and TCP's flow control slows the browser down.
            let (events, events_rx) = mpsc::channel(settings.session_queue);
            tracker.spawn(tcp::listen(
                listener,
                tcp_candidates.clone(),
                events,
                settings.tcp_limits(),
                shutdown.clone(),
                tracker.clone(),
            ));
            events_rx
        });
        tracker.spawn(driver::run(
            driver::Net {
                socket,
                udp_local,
                tcp: tcp_events,
            },
            command_rx,
            media_rx,
            sessions.clone(),
            driver::Timeouts {
                connect: Duration::from_secs(settings.connect_timeout_secs),
                disconnect: Duration::from_secs(settings.disconnect_timeout_secs),
            },
            shutdown.clone(),
        ));
        info!(%udp_addr, ?tcp_addr, ?candidates, ?tcp_candidates, "WebRTC (WHEP) listening");
        Ok(Some(Arc::new(Webrtc {
            settings: settings.clone(),
            setup: offer::RtcSetup {
                crypto: Arc::new(crypto),
                cert,
                candidates,
                tcp_candidates,
                nack_history: Duration::from_millis(settings.nack_history_ms),
            },
            commands,
            media,
            sessions,
            udp_addr,
            tcp_addr,
            renditions: Arc::new(rendition::Renditions::new(
                settings.transcode.clone(),
                shutdown.clone(),
                tracker.clone(),
            )),
            tracker: tracker.clone(),
        })))
    }

    /// Streams re-encoded for their WebRTC viewers now (B-frames).
    pub(crate) fn reencodes(&self) -> usize {
        self.renditions.running()
    }

    /// The bound UDP address (with the real port when port 0 was asked for).
    pub(crate) fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    /// The bound ICE-TCP address, when TCP is on.
    pub(crate) fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }
}

/// Binds `addr` with `bind`, which returns the bound thing and its address. The default port is a convenience:
/// when something else holds it (another server on this host), a free port serves as well, since every answer
/// carries the bound port. An address that is set (`explicit`) is a promise to the firewall and fails instead.
async fn bind<T, F, Fut>(
    what: &'static str,
    setting: &'static str,
    addr: SocketAddr,
    explicit: bool,
    bind: F,
) -> Result<(T, SocketAddr), crate::ServerError>
where
    F: Fn(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = std::io::Result<(T, SocketAddr)>>,
{
    match bind(addr).await {
        Ok(bound) => Ok(bound),
        Err(error) if !explicit && error.kind() == std::io::ErrorKind::AddrInUse => {
            let free = SocketAddr::new(addr.ip(), 0);
            let bound = bind(free).await.map_err(|error| crate::ServerError::Bind {
                what,
                addr: free,
                error,
            })?;
            warn!(
                default = %addr,
                bound = %bound.1,
                "the default {what} port is in use: bound a free one; set [webrtc] {setting} to fix the port"
            );
            Ok(bound)
        }
        Err(error) => Err(crate::ServerError::Bind { what, addr, error }),
    }
}

/// The candidates' addresses: `webrtc.candidate_ips`, else `public_host` as an address or resolved, else the
/// bound address (loopback when bound to every interface).
async fn candidate_ips(
    settings: &WebrtcSettings,
    public_host: &str,
    bound: SocketAddr,
) -> Vec<IpAddr> {
    if !settings.candidate_ips.is_empty() {
        return settings.candidate_ips.clone();
    }
    let host = public_host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return vec![ip];
    }
    match tokio::net::lookup_host((host, bound.port())).await {
        Ok(addrs) => {
            let ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
            if !ips.is_empty() {
                return ips;
            }
        }
        Err(e) => warn!(
            "public_host {host:?} does not resolve ({e}); WebRTC candidates use the bound address: set \
             webrtc.candidate_ips"
        ),
    }
    if bound.ip().is_unspecified() {
        vec![IpAddr::from([127, 0, 0, 1])]
    } else {
        vec![bound.ip()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Another socket on the default UDP port: the default gives way to a free port, an explicit address fails.
    #[tokio::test]
    async fn a_taken_default_port_gives_way_and_an_explicit_one_fails() {
        let holder = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let taken = holder.local_addr().unwrap();
        let Some(http_port) = taken.port().checked_sub(109) else {
            return; // the kernel gave a port below 109: nothing to test with
        };
        let http = SocketAddr::new(taken.ip(), http_port);
        let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
        let defaults = WebrtcSettings::default();
        assert_eq!(
            defaults.udp_addr(http),
            taken,
            "the default is the HTTP port + 109"
        );
        let webrtc = Webrtc::start(&defaults, http, "127.0.0.1", &shutdown, &tracker)
            .await
            .expect("the default port gives way")
            .expect("enabled by default");
        assert_ne!(webrtc.udp_addr(), taken);
        let explicit = WebrtcSettings {
            udp_addr: Some(taken),
            ..WebrtcSettings::default()
        };
        let error = Webrtc::start(&explicit, http, "127.0.0.1", &shutdown, &tracker)
            .await
            .err()
            .expect("an explicit address in use fails");
        assert!(error.to_string().contains("in use"), "{error}");
        shutdown.cancel();
    }

    /// The same for the ICE-TCP listener: a taken default TCP port gives way, an explicit `tcp_addr` fails; and
    /// with TCP off there is no listener.
    #[tokio::test]
    async fn a_taken_default_tcp_port_gives_way_and_an_explicit_one_fails() {
        let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = holder.local_addr().unwrap();
        let Some(http_port) = taken.port().checked_sub(109) else {
            return; // the kernel gave a port below 109: nothing to test with
        };
        let http = SocketAddr::new(taken.ip(), http_port);
        let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
        let defaults = WebrtcSettings {
            udp_addr: Some(SocketAddr::new(taken.ip(), 0)),
            ..WebrtcSettings::default()
        };
        assert_eq!(
            defaults.tcp_addr(http),
            taken,
            "the default is the HTTP port + 109"
        );
        let webrtc = Webrtc::start(&defaults, http, "127.0.0.1", &shutdown, &tracker)
            .await
            .expect("the default port gives way")
            .expect("enabled by default");
        let bound = webrtc.tcp_addr().expect("TCP on by default");
        assert_ne!(bound, taken);
        assert!(
            webrtc.setup.tcp_candidates.contains(&bound),
            "the answer's TCP candidate has the bound port: {:?}",
            webrtc.setup.tcp_candidates
        );
        let explicit = WebrtcSettings {
            tcp_addr: Some(taken),
            ..defaults.clone()
        };
        let error = Webrtc::start(&explicit, http, "127.0.0.1", &shutdown, &tracker)
            .await
            .err()
            .expect("an explicit address in use fails");
        assert!(error.to_string().contains("ICE-TCP"), "{error}");
        let off = WebrtcSettings {
            tcp_enabled: false,
            ..defaults
        };
        let webrtc = Webrtc::start(&off, http, "127.0.0.1", &shutdown, &tracker)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(webrtc.tcp_addr(), None);
        assert!(webrtc.setup.tcp_candidates.is_empty());
        shutdown.cancel();
    }

    #[test]
    fn reservations_count_against_max_sessions() {
        let sessions = Arc::new(Sessions::default());
        let key = StreamKey::new("live".to_string(), "s".to_string());
        let a = sessions.reserve(2).expect("first place");
        let b = sessions.reserve(2).expect("second place");
        // Two offers being answered fill the two places before either is a session.
        assert!(sessions.reserve(2).is_none());
        let (id, _) = a.add(key.clone());
        assert!(sessions.reserve(2).is_none());
        drop(b); // refused later (a bad offer, a play refusal): its place comes back
        let c = sessions.reserve(2).expect("the place given back");
        assert!(sessions.reserve(2).is_none());
        sessions.remove(id);
        drop(c.add(key));
        assert!(sessions.reserve(2).is_some());
    }
}
