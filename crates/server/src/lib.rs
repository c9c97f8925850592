//! The I/O half of mplive: tokio listeners for RTMP and HTTP around the sans-IO `rtmp` sessions and the `media` hub.
//!
//! This is the only crate that owns sockets for serving. It binds an RTMP listener (publish and play) and an HTTP
//! listener (HTTP-FLV playback at `/{app}/{stream}.flv`, HLS at `/{app}/{stream}.m3u8` and the JSON API under `/v1`; HTTPS when `tls_cert` and
//! `tls_key` are set, with the files reloaded when they change). Each connection is one task; a publisher's task
//! also writes each frame to the stream's players (publisher-driven fan-out), so players are not woken per frame.
//! Every socket gets `TCP_NODELAY`: replies are written whole, in one call, so Nagle's algorithm would only add
//! delay. `docs/architecture.md` follows one frame from socket to socket.
//!
//! ```no_run
//! # async fn demo() -> Result<(), server::ServerError> {
//! let running = server::start(server::Settings::default()).await?;
//! println!("RTMP on {}, HTTP on {}", running.rtmp_addr(), running.http_addr());
//! running.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Errors: binding failures and unusable TLS files come back from [`start`]; everything a peer does wrong ends that
//! peer's connection with a logged reason and never affects other connections.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod cluster;
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod ops;
mod output;
mod rooms_ws;
mod rtmp_conn;
mod settings;
mod stream;
mod webrtc;

use futures_util::FutureExt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use media::Registry;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

pub use cluster::{ClusterSettings, JoinError};
pub use http::tls::TlsError;
pub use ops::webhooks::WebhookSettings;
pub use output::batch::WritePolicy;
pub use output::record::RecordSettings;
pub use rooms_ws::RoomsSettings;
pub use settings::{parse_listen_addr, HlsSettings, RtmpSettings, Settings, SettingsError};
pub use webrtc::{BFrames, TranscodeSettings, VideoTimestamps, WebrtcSettings, WhipSettings};

/// What the entry points (the RTMP and HTTP connection drivers, the HTTP handlers) are handed: the services they
/// call and their own settings. The services themselves (streams, HLS, recording, rooms) hold only the handles
/// they use, never this.
pub(crate) struct Shared {
    /// The stream service: hub, access, webhooks, metrics, the followers of a publish.
    streams: Arc<stream::Streams>,
    /// HLS playback (each stream's segmenter is in its entry).
    hls: Arc<http::hls::Hls>,
    /// Running recordings and where files go.
    recordings: Arc<output::record::Recordings>,
    /// Multi-party rooms at `/rooms/v1/ws`.
    rooms: Arc<rooms_ws::RoomService>,
    /// WebRTC playback (WHEP); `None` with `[webrtc] enabled = false`.
    webrtc: Option<Arc<webrtc::Webrtc>>,
    session_config: rtmp::SessionConfig,
    publisher_timeout: Duration,
    idle_timeout: Duration,
    http_header_timeout: Duration,
    flv_players: Arc<Semaphore>,
    max_flv_players: usize,
    shutdown: CancellationToken,
    send_buffer: usize,
    admin: control::AdminAuth,
    /// Host and ports of the URLs handed out.
    url_base: control::urls::UrlBase,
    sdk_url_ttl: Duration,
    max_body_bytes: usize,
}

/// A server that could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr} for {what}: {}", bind_cause(error, *addr))]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The system's error: in the message, said once (not a `source` too).
        error: std::io::Error,
    },
    /// The settings are not usable.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] control::StoreError),
    /// First-start setup (default app, admin token) failed.
    #[error("first-start setup: {0}")]
    Bootstrap(#[from] control::BootstrapError),
    /// HTTPS is configured but its certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// Cluster mode is on but Redis could not be used.
    #[error(transparent)]
    Cluster(#[from] JoinError),
}

/// Why a listener could not be bound, with what to do about the usual causes.
fn bind_cause(error: &std::io::Error, addr: SocketAddr) -> String {
    match error.kind() {
        std::io::ErrorKind::PermissionDenied if addr.port() < 1024 => format!(
            "permission denied: port {} is below 1024, which needs root or the capability CAP_NET_BIND_SERVICE \
             (docs/deploy.md); or use a port from 1024 up",
            addr.port()
        ),
        std::io::ErrorKind::PermissionDenied => format!("permission denied on port {}", addr.port()),
        std::io::ErrorKind::AddrInUse => format!(
            "port {} is in use (is another server running? try another address, or port 0 for a free one)",
            addr.port()
        ),
        std::io::ErrorKind::AddrNotAvailable => format!(
            "{} is not an address of this machine (use 0.0.0.0 for every interface, or one of its own addresses)",
            addr.ip()
        ),
        _ => error.to_string(),
    }
}

/// A started server: its bound addresses, its hub, and a handle to stop it.
pub struct RunningServer {
    rtmp_addr: SocketAddr,
    http_addr: SocketAddr,
    shared: Arc<Shared>,
    tracker: TaskTracker,
    /// The webhook outbox writer and delivery worker: stopped after everything else, so the events raised while
    /// shutting down (a push's end, a recording's `record_done`) are still stored.
    webhook_tasks: (CancellationToken, TaskTracker),
    shutdown_timeout: Duration,
    new_admin_token: Option<String>,
}

impl RunningServer {
    /// The admin token, when this start created it (first start): show it once, it is not logged.
    pub fn new_admin_token(&self) -> Option<&str> {
        self.new_admin_token.as_deref()
    }

    /// Apps and keys as the server sees them.
    pub fn catalog(&self) -> &control::Catalog {
        &self.shared.streams.catalog
    }

    /// The host and ports this server puts in the URLs it hands out.
    pub fn url_base(&self) -> &control::urls::UrlBase {
        &self.shared.url_base
    }

    /// The bound RTMP address (with the real port when port 0 was asked for).
    pub fn rtmp_addr(&self) -> SocketAddr {
        self.rtmp_addr
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The bound WebRTC UDP address; `None` when WHEP is off.
    pub fn webrtc_addr(&self) -> Option<SocketAddr> {
        self.shared.webrtc.as_ref().map(|w| w.udp_addr())
    }

    /// The bound ICE-TCP address (WebRTC where UDP is blocked); `None` when WHEP or its TCP listener is off.
    pub fn webrtc_tcp_addr(&self) -> Option<SocketAddr> {
        self.shared.webrtc.as_ref().and_then(|w| w.tcp_addr())
    }

    /// The stream hub.
    pub fn registry(&self) -> &Registry {
        &self.shared.streams.registry
    }

    /// Stops accepting, closes every connection and recording and waits for them, at most the shutdown timeout;
    /// then stores the webhooks they raised.
    pub async fn shutdown(self) {
        self.shared.shutdown.cancel();
        self.tracker.close();
        let store = self.shared.streams.catalog.store().clone();
        if tokio::time::timeout(self.shutdown_timeout, self.tracker.wait())
            .await
            .is_err()
        {
            warn!(
                "shutdown: connections still open after {} s (shutdown_timeout_secs); leaving them",
                self.shutdown_timeout.as_secs()
            );
        }
        // The followers hold the stream service and it holds them: let both go.
        self.shared.streams.unfollow_all();
        let (stop, webhook_tasks) = self.webhook_tasks;
        stop.cancel();
        webhook_tasks.close();
        if tokio::time::timeout(self.shutdown_timeout, webhook_tasks.wait())
            .await
            .is_err()
        {
            warn!(
                "shutdown: webhooks not all stored after {} s (shutdown_timeout_secs)",
                self.shutdown_timeout.as_secs()
            );
        }
        store.close().await;
    }
}

/// Binds both listeners and starts serving in the current tokio runtime.
///
/// With `tls_cert` and `tls_key` set, the HTTP listener speaks HTTPS; their files are loaded before anything is bound,
/// so a bad file fails here, and are checked for changes every `tls_reload_secs`.
pub async fn start(settings: Settings) -> Result<RunningServer, ServerError> {
    settings.validate()?;
    settings
        .cluster
        .require_shared_database(settings.database_url.as_deref())?;
    let store = control::Store::open(&settings.database_url()).await?;
    let boot =
        control::bootstrap(&store, &settings.data_dir, settings.admin_token.as_deref()).await?;
    if let Some(app) = &boot.created_app {
        info!(app = %app.name, "first start: created the default app");
    }
    if let Some(app) =
        control::bootstrap::ensure_media_app(&store, &settings.rooms.media_app).await?
    {
        info!(app = %app.name, "created the app that carries room members' streams (rooms.media_app)");
    }
    let catalog = control::Catalog::load(store).await?;
    let certificates = match (&settings.tls_cert, &settings.tls_key) {
        (Some(cert), Some(key)) => Some(http::tls::Certificates::load(cert.clone(), key.clone())?),
        _ => None,
    };
    let acceptor = certificates.as_ref().map(|c| c.acceptor()).transpose()?;
    let listeners = Listeners::bind(&settings).await?;

    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    tracker.spawn({
        let refresh = catalog.spawn_refresh(
            Duration::from_millis(settings.catalog_refresh_ms),
            shutdown.clone(),
        );
        async move {
            let _ = refresh.await;
        }
    });
    let webhook_tasks = (CancellationToken::new(), TaskTracker::new());
    let url_base = control::urls::UrlBase {
        host: settings.public_host.clone(),
        rtmp_port: settings
            .public_rtmp_port
            .unwrap_or(listeners.rtmp_addr.port()),
        http_port: settings
            .public_http_port
            .unwrap_or(listeners.http_addr.port()),
        https: settings.public_https.unwrap_or(certificates.is_some()),
    };
    let shared = Arc::new(
        services(
            &settings,
            &listeners,
            catalog,
            boot.admin,
            url_base,
            &shutdown,
            &tracker,
            &webhook_tasks,
        )
        .await?,
    );
    let (rtmp_addr, http_addr) = (listeners.rtmp_addr, listeners.http_addr);
    listeners.serve(&settings, &shared, &tracker, acceptor);
    if let Some(certificates) = certificates.filter(|_| settings.tls_reload_secs > 0) {
        tracker.spawn(http::tls::watch(
            certificates,
            Duration::from_secs(settings.tls_reload_secs),
            shared.shutdown.clone(),
        ));
    }
    info!(%rtmp_addr, %http_addr, https = settings.tls_cert.is_some(), webrtc = ?shared.webrtc.as_ref().map(|w| w.udp_addr()), webrtc_tcp = ?shared.webrtc.as_ref().and_then(|w| w.tcp_addr()), "listening");
    Ok(RunningServer {
        rtmp_addr,
        http_addr,
        shared,
        tracker,
        webhook_tasks,
        shutdown_timeout: Duration::from_secs(settings.shutdown_timeout_secs),
        new_admin_token: boot.new_admin_token,
    })
}

/// Builds the services, each with the handles it uses, and the state the entry points are handed. In cluster
/// mode this node joins the cluster first (a Redis that does not answer fails the start).
#[allow(clippy::too_many_arguments)] // one call site; each argument is a distinct service handle
async fn services(
    settings: &Settings,
    listeners: &Listeners,
    catalog: control::Catalog,
    admin: control::AdminAuth,
    url_base: control::urls::UrlBase,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
    webhook_tasks: &(CancellationToken, TaskTracker),
) -> Result<Shared, ServerError> {
    let metrics = Arc::new(ops::metrics::Metrics::default());
    // Stable across restarts when the ports are (cluster.node_id overrides): the key of this server's open
    // sessions, whose ends a restart sends.
    let node = settings
        .cluster
        .node_id_or_default(listeners.http_addr.port());
    let webhooks = ops::webhooks::Webhooks::start(
        &settings.webhooks,
        catalog.clone(),
        metrics.clone(),
        &node,
        webhook_tasks.0.clone(),
        &webhook_tasks.1,
    );
    ops::interruptions::start_pruning(
        &settings.interruptions,
        catalog.clone(),
        shutdown.clone(),
        tracker,
    );
    let registry = Registry::new(settings.hub.clone());
    // Where other nodes and clients reach this node, in cluster mode.
    let advertised = settings.cluster.enabled().then(|| {
        let host = settings
            .cluster
            .advertise_host
            .clone()
            .unwrap_or_else(|| settings.public_host.clone());
        if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host
        }
    });
    let cluster = match &advertised {
        Some(host) => Some(
            cluster::Cluster::join(cluster::Join {
                settings: &settings.cluster,
                node: node.clone(),
                rtmp: format!("{host}:{}", listeners.rtmp_addr.port()),
                http: format!("{host}:{}", listeners.http_addr.port()),
                registry: registry.clone(),
                catalog: catalog.clone(),
                metrics: metrics.clone(),
                session_config: settings.rtmp.session_config(),
                merge_window: settings.merge_window(),
                shutdown: shutdown.clone(),
                tracker: tracker.clone(),
            })
            .await?,
        ),
        None => None,
    };
    let streams = Arc::new(
        stream::Streams::new(
            registry.clone(),
            catalog.clone(),
            webhooks,
            metrics,
            settings.merge_window(),
            settings.max_url_ttl_secs,
            cluster,
        )
        .with_health(settings.health.clone()),
    );
    tracker.spawn(stream::history::run(streams.clone(), shutdown.clone()));
    tracker.spawn(stream::health::run(streams.clone(), shutdown.clone()));
    ops::allocator::fix_mmap_threshold(settings.memory_mmap_threshold);
    tracker.spawn(ops::allocator::trim_every(
        Duration::from_secs(settings.memory_trim_secs),
        shutdown.clone(),
    ));
    let hls = http::hls::Hls::new(settings.hls.clone(), streams.clone(), shutdown.clone());
    let recordings = output::record::Recordings::new(
        &settings.record,
        &settings.data_dir,
        streams.clone(),
        shutdown.clone(),
        tracker.clone(),
    );
    end_cut_sessions(&catalog, &node, settings.cluster.enabled(), &recordings).await;
    // In cluster mode members push to the node hosting their room (its advertised address), where the room sees
    // their streams start and stop.
    let room_urls = match advertised {
        Some(host) => control::urls::UrlBase {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            ..url_base.clone()
        },
        None => url_base.clone(),
    };
    let rooms = rooms_ws::RoomService::start(
        settings.rooms.clone(),
        catalog,
        room_urls,
        registry,
        streams.cluster.clone(),
        shutdown.clone(),
        tracker,
    );
    // The order in which a publish is followed: HLS first (its segmenter wants the stream's first frames), then
    // the recorder, then the rooms (which only tell members).
    streams.follow(Arc::new(hls.clone()));
    streams.follow(Arc::new(recordings.clone()));
    streams.follow(rooms.clone());
    let webrtc = webrtc::Webrtc::start(
        &settings.webrtc,
        settings.http_addr,
        &settings.public_host,
        shutdown,
        tracker,
    )
    .await?;
    Ok(Shared {
        streams,
        hls,
        recordings,
        rooms,
        webrtc,
        session_config: settings.rtmp.session_config(),
        publisher_timeout: Duration::from_secs(settings.publisher_timeout_secs),
        idle_timeout: Duration::from_secs(settings.idle_timeout_secs),
        http_header_timeout: Duration::from_secs(settings.http_header_timeout_secs.max(1)),
        flv_players: Arc::new(Semaphore::new(settings.max_flv_players)),
        max_flv_players: settings.max_flv_players,
        shutdown: shutdown.clone(),
        send_buffer: settings.socket_send_buffer,
        admin,
        url_base,
        sdk_url_ttl: Duration::from_secs(settings.sdk_url_ttl_secs),
        max_body_bytes: settings.max_body_bytes,
    })
}

/// Sends the ends (`push_end`, `record_done`, errcode 1019) of the sessions a previous run of this server left
/// open by dying, before the listeners accept anyone. A SQLite file belongs to one server, so all its rows are
/// this server's; on PostgreSQL (servers may share it) only the rows of this node id are.
async fn end_cut_sessions(
    catalog: &control::Catalog,
    node: &str,
    cluster: bool,
    recordings: &output::record::Recordings,
) {
    let shared = cluster || catalog.store().backend() == control::Backend::Postgres;
    // Finishing a cut file reads it whole (and may truncate and sync it): blocking file I/O, so the worker says
    // so to the runtime and its other tasks move elsewhere meanwhile. A current-thread runtime (some tests) has
    // nowhere to move them and runs it in place.
    let multi_thread = tokio::runtime::Handle::current().runtime_flavor()
        == tokio::runtime::RuntimeFlavor::MultiThread;
    let finish = |event: &str, body: &mut serde_json::Map<String, serde_json::Value>| {
        if event == control::webhook_event::EventKind::RecordDone.as_str() {
            if multi_thread {
                tokio::task::block_in_place(|| recordings.finish_cut(body));
            } else {
                recordings.finish_cut(body);
            }
        }
    };
    match ops::webhooks::recover(catalog, shared.then_some(node), finish).await {
        Ok(0) => {}
        Ok(n) => warn!(
            sessions = n,
            "the last run ended without closing these sessions (killed or crashed): their ends are sent now"
        ),
        // The rows stay: the next start tries again. Serving matters more than telling late.
        Err(e) => warn!("cannot read the sessions the last run left open: {e}"),
    }
}

/// The two bound listeners.
struct Listeners {
    rtmp: TcpListener,
    http: TcpListener,
    rtmp_addr: SocketAddr,
    http_addr: SocketAddr,
}

impl Listeners {
    async fn bind(settings: &Settings) -> Result<Listeners, ServerError> {
        let bind = |what: &'static str, addr: SocketAddr| async move {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|error| ServerError::Bind { what, addr, error })?;
            let bound =
                listener
                    .local_addr()
                    .map_err(|error| ServerError::Bind { what, addr, error })?;
            Ok::<_, ServerError>((listener, bound))
        };
        let (rtmp, rtmp_addr) = bind("RTMP", settings.rtmp_addr).await?;
        let (http, http_addr) = bind("HTTP", settings.http_addr).await?;
        Ok(Listeners {
            rtmp,
            http,
            rtmp_addr,
            http_addr,
        })
    }

    /// Spawns both accept loops.
    fn serve(
        self,
        settings: &Settings,
        shared: &Arc<Shared>,
        tracker: &TaskTracker,
        acceptor: Option<tokio_rustls::TlsAcceptor>,
    ) {
        tracker.spawn(accept_loop(
            self.rtmp,
            shared.clone(),
            tracker.clone(),
            ConnectionLimit {
                what: "RTMP",
                listener: "rtmp",
                setting: "max_rtmp_connections",
                max: settings.max_rtmp_connections,
                per_address: settings.max_connections_per_address,
                // RTMP has no way to say why before its handshake: the client sees the connection closed.
                refuse: Refuse::Close,
            },
            rtmp_conn::serve,
        ));
        let router = router(shared.clone());
        let http_limit = ConnectionLimit {
            what: "HTTP",
            listener: "http",
            setting: "max_http_connections",
            max: settings.max_http_connections,
            per_address: settings.max_connections_per_address,
            // A plain-text answer means nothing to a TLS client, and a TLS handshake is the work being refused.
            refuse: if acceptor.is_some() {
                Refuse::Close
            } else {
                Refuse::TooManyRequests
            },
        };
        // Two loops rather than one branching per connection: a plain-HTTP connection's task then stays the size
        // it was, without room for a TLS handshake it never does.
        match acceptor {
            Some(acceptor) => tracker.spawn(accept_loop(
                self.http,
                shared.clone(),
                tracker.clone(),
                http_limit,
                move |socket, peer, shared| {
                    http::conn::serve_tls(socket, peer, shared, router.clone(), acceptor.clone())
                },
            )),
            None => tracker.spawn(accept_loop(
                self.http,
                shared.clone(),
                tracker.clone(),
                http_limit,
                move |socket, peer, shared| http::conn::serve(socket, peer, shared, router.clone()),
            )),
        };
    }
}

/// An app as the admin API shows it (`GET /v1/apps/{app}`, camelCase): the CLI prints the same.
pub fn app_json(app: &control::App) -> serde_json::Value {
    serde_json::to_value(http::api::AppView::from(app)).unwrap_or_default()
}

/// The HTTP routes: HTTP-FLV and HLS playback, the JSON API and the console.
fn router(shared: Arc<Shared>) -> Router {
    let playback = Router::new()
        .route("/{app}/{file}", get(http::flv_router::play))
        .route("/{app}/{stream}/{file}", get(http::hls::segment))
        .route("/{app}/{stream}/ll/{file}", get(http::hls::ll_file))
        .route(
            "/{app}/{stream}/whep",
            axum::routing::post(webrtc::http::offer).options(webrtc::http::preflight),
        )
        .route(
            "/{app}/{stream}/whep/{session}",
            axum::routing::delete(webrtc::http::delete)
                .patch(webrtc::http::patch)
                .options(webrtc::http::preflight),
        )
        .route(
            "/{app}/{stream}/whip",
            axum::routing::post(webrtc::whip::offer).options(webrtc::http::preflight),
        )
        // A session's DELETE, PATCH and OPTIONS are WHEP's: the session is found by its token either way.
        .route(
            "/{app}/{stream}/whip/{session}",
            axum::routing::delete(webrtc::http::delete)
                .patch(webrtc::http::patch)
                .options(webrtc::http::preflight),
        );
    // `/recordings/...` with `sig`/`expires` is a signed recording link; without, the playback routes of an app
    // named `recordings` (see `http::recording_files`).
    let recordings_playback = playback.clone().with_state(shared.clone());
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/rooms/v1/ws", get(rooms_ws::upgrade))
        .merge(http::api::routes(shared.clone()))
        .merge(http::console::routes())
        .merge(playback)
        .route(
            "/recordings/{*path}",
            get(
                move |axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
                      req: axum::extract::Request| {
                    http::recording_files::serve(shared, req, recordings_playback.clone())
                },
            ),
        )
        .layer(axum::middleware::from_fn(http::api::api_shape))
        .with_state(shared)
}

/// The bounds on one listener's simultaneous connections, and its names for the log and the metrics.
struct ConnectionLimit {
    what: &'static str,
    /// The `listener` label of `mplive_connections_refused_total`.
    listener: &'static str,
    setting: &'static str,
    max: usize,
    /// `max_connections_per_address` (0: no bound).
    per_address: usize,
    refuse: Refuse,
}

/// How a listener refuses a connection over `max_connections_per_address`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refuse {
    /// Close the socket at once.
    Close,
    /// Answer `429 Too Many Requests` with a line naming the setting, then close (plain HTTP).
    TooManyRequests,
}

/// Most 429 answers one listener writes at once; beyond, refused connections are just closed. Bounds the tasks a
/// flood from one address can start.
const MAX_REFUSAL_ANSWERS: usize = 64;

/// Accepts connections until shutdown, each served by its own task while its address is under
/// `max_connections_per_address` and a place under the listener's limit is free.
async fn accept_loop<F, Fut>(
    listener: TcpListener,
    shared: Arc<Shared>,
    tracker: TaskTracker,
    limit: ConnectionLimit,
    serve: F,
) where
    F: Fn(TcpStream, SocketAddr, Arc<Shared>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let places = Arc::new(Semaphore::new(limit.max));
    let addresses = ops::address::AddressCounts::new(limit.per_address);
    let answers = Arc::new(Semaphore::new(MAX_REFUSAL_ANSWERS));
    let mut full_log = RefusalLog::default();
    let mut address_log = RefusalLog::default();
    let metrics = shared.streams.metrics.clone();
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (socket, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Usually EMFILE: back off instead of spinning.
                warn!("{} accept failed: {e}", limit.what);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(address_place) = addresses.enter(peer.ip()) else {
            metrics.connection_refused(limit.listener, "per_address");
            let address = ops::address::address_key(peer.ip());
            if let Some(more) = address_log.due() {
                warn!(%peer, %address, "refusing {} connection: max_connections_per_address ({}) reached for {address}{}",
                    limit.what, limit.per_address, more_since(more));
            }
            match (limit.refuse, answers.clone().try_acquire_owned()) {
                (Refuse::TooManyRequests, Ok(answering)) => {
                    let (per_address, stop) = (limit.per_address, shared.shutdown.clone());
                    tracker.spawn(async move {
                        tokio::select! {
                            _ = answer_too_many(socket, address, per_address) => {}
                            _ = stop.cancelled() => {}
                        }
                        drop(answering);
                    });
                }
                _ => drop(socket),
            }
            continue;
        };
        let Ok(permit) = places.clone().try_acquire_owned() else {
            metrics.connection_refused(limit.listener, "listener_full");
            if let Some(more) = full_log.due() {
                warn!(%peer, "refusing {} connection: {} ({}) reached{}", limit.what, limit.setting, limit.max,
                    more_since(more));
            }
            drop(socket);
            continue;
        };
        tune_socket(&socket, shared.send_buffer);
        // `map`, not `async move { conn.await; ... }`: an async block holds the connection's future twice (the
        // captured value and the awaited one), which doubled every connection task (2.6 KiB more per player).
        let conn = serve(socket, peer, shared.clone()).map(move |()| {
            drop(permit);
            drop(address_place);
        });
        tracker.spawn(conn);
    }
}

/// The warnings of one kind of refusal: the first at once, then at most one a second saying how many went
/// unlogged in between, so a flood of connections does not become a flood of log lines.
#[derive(Debug, Default)]
struct RefusalLog {
    last: Option<std::time::Instant>,
    unlogged: u64,
}

impl RefusalLog {
    /// `Some(refusals not logged since the last warning)` when a warning is due now.
    fn due(&mut self) -> Option<u64> {
        let now = std::time::Instant::now();
        match self.last {
            Some(last) if now.duration_since(last) < Duration::from_secs(1) => {
                self.unlogged += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.unlogged))
            }
        }
    }
}

/// The tail of a refusal warning that counts the ones not logged.
fn more_since(unlogged: u64) -> String {
    if unlogged == 0 {
        String::new()
    } else {
        format!(" ({unlogged} more refused since the last warning)")
    }
}

/// Answers `429 Too Many Requests` with one line naming the bound, then closes gracefully: the client's request is
/// read to its end (at most 2 s), so closing does not reset the connection before the client reads the answer.
async fn answer_too_many(mut socket: TcpStream, address: std::net::IpAddr, max: usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = format!(
        "too many connections from {address}: max_connections_per_address ({max}) reached\n"
    );
    let answer = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        socket.write_all(answer.as_bytes()).await?;
        socket.shutdown().await?;
        let mut sink = [0u8; 1024];
        while socket.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

fn tune_socket(socket: &TcpStream, send_buffer: usize) {
    if let Err(e) = socket.set_nodelay(true) {
        warn!("cannot set TCP_NODELAY: {e}");
    }
    if send_buffer > 0 {
        if let Err(e) = socket2::SockRef::from(socket).set_send_buffer_size(send_buffer) {
            warn!("cannot set the socket send buffer to {send_buffer} bytes: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As root (CI containers) EACCES cannot be caused, so the wording is checked here.
    #[test]
    fn bind_errors_say_their_cause_once_with_what_to_do() {
        let denied = ServerError::Bind {
            what: "RTMP",
            addr: SocketAddr::from(([0, 0, 0, 0], 80)),
            error: std::io::ErrorKind::PermissionDenied.into(),
        }
        .to_string();
        assert!(denied.contains("permission denied: port 80"), "{denied}");
        assert!(denied.contains("CAP_NET_BIND_SERVICE"), "{denied}");
        let in_use = ServerError::Bind {
            what: "HTTP",
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            error: std::io::ErrorKind::AddrInUse.into(),
        };
        let text = in_use.to_string();
        assert!(text.contains("port 8080 is in use"), "{text}");
        // Said in the message only: no source repeats it.
        assert!(std::error::Error::source(&in_use).is_none());
    }
}
