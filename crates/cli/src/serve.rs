//! `mplive serve`: start the server with embedded defaults, print ready-to-use URLs, stop on SIGINT/SIGTERM.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use server::Settings;

/// Flags of `mplive serve`. Each overrides the same setting of the `--config` file.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// RTMP listen address [default: 0.0.0.0:1935]
    #[arg(long, env = "MPLIVE_RTMP_ADDR", value_parser = server::parse_listen_addr)]
    rtmp_addr: Option<SocketAddr>,
    /// HTTP listen address (HTTP-FLV, API) [default: 0.0.0.0:8080]
    #[arg(long, env = "MPLIVE_HTTP_ADDR", value_parser = server::parse_listen_addr)]
    http_addr: Option<SocketAddr>,
    /// Data directory [default: ./mplive-data]
    #[arg(long, env = "MPLIVE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// TOML configuration file (see docs/configuration.md)
    #[arg(long, env = "MPLIVE_CONFIG")]
    config: Option<PathBuf>,
    /// Host name to print in URLs [default: 127.0.0.1]
    #[arg(long, env = "MPLIVE_PUBLIC_HOST")]
    public_host: Option<String>,
    /// Tokio worker threads [default: one per core]
    #[arg(long, env = "MPLIVE_WORKERS")]
    workers: Option<usize>,
    /// Database URL, e.g. postgres://user:pass@host/db [default: SQLite file in the data directory]
    #[arg(long, env = "MPLIVE_DATABASE_URL")]
    database_url: Option<String>,
    /// Redis URL, e.g. redis://127.0.0.1:6379: cluster mode (needs a postgres:// --database-url shared by the
    /// nodes) [default: one node, no Redis]
    #[arg(long, env = "MPLIVE_REDIS_URL")]
    redis_url: Option<String>,
    /// This node's id in the cluster [default: host name and HTTP port]
    #[arg(long, env = "MPLIVE_NODE_ID")]
    node_id: Option<String>,
    /// Host name or IP other nodes and clients reach this node at [default: --public-host]
    #[arg(long, env = "MPLIVE_ADVERTISE_HOST")]
    advertise_host: Option<String>,
    /// PEM certificate chain: serve HTTPS instead of HTTP (needs --tls-key)
    #[arg(long, value_name = "FILE", env = "MPLIVE_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1)
    #[arg(long, value_name = "FILE", env = "MPLIVE_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Most connections one client address (an IPv6 /64) may hold on each listener; 0 = no bound (benchmarks
    /// opening thousands of players from one host) [default: 500]
    #[arg(long, env = "MPLIVE_MAX_CONNECTIONS_PER_ADDRESS")]
    max_connections_per_address: Option<usize>,
    /// Write {"rtmp": "IP:PORT", "http": "IP:PORT"} to this file once both listeners are bound
    #[arg(long, env = "MPLIVE_READY_FILE")]
    ready_file: Option<PathBuf>,
}

/// The settings of `--config FILE`, or the defaults.
pub(crate) fn load_config(path: Option<&std::path::Path>) -> Result<Settings> {
    let Some(path) = path else {
        return Ok(Settings::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read configuration file {}", path.display()))?;
    Settings::from_toml(&text).with_context(|| format!("in {}", path.display()))
}

impl ServeArgs {
    fn settings(&self) -> Result<Settings> {
        let mut settings = load_config(self.config.as_deref())?;
        if let Some(u) = &self.database_url {
            settings.database_url = Some(u.clone());
        }
        settings.admin_token = std::env::var("MPLIVE_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.is_empty());
        if let Some(a) = self.rtmp_addr {
            settings.rtmp_addr = a;
        }
        if let Some(a) = self.http_addr {
            settings.http_addr = a;
        }
        if let Some(d) = &self.data_dir {
            settings.data_dir = d.clone();
        }
        if let Some(h) = &self.public_host {
            settings.public_host = h.clone();
        }
        if self.workers.is_some() {
            settings.workers = self.workers;
        }
        if let Some(n) = self.max_connections_per_address {
            settings.max_connections_per_address = n;
        }
        if let Some(c) = &self.tls_cert {
            settings.tls_cert = Some(c.clone());
        }
        if let Some(k) = &self.tls_key {
            settings.tls_key = Some(k.clone());
        }
        if let Some(u) = &self.redis_url {
            settings.cluster.redis_url = Some(u.clone());
        }
        if let Some(n) = &self.node_id {
            settings.cluster.node_id = Some(n.clone());
        }
        if let Some(h) = &self.advertise_host {
            settings.cluster.advertise_host = Some(h.clone());
        }
        settings.cluster.secret = std::env::var("MPLIVE_CLUSTER_SECRET")
            .ok()
            .filter(|s| !s.is_empty());
        settings.validate()?;
        Ok(settings)
    }
}

/// Runs the server until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> Result<()> {
    let settings = args.settings()?;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(n) = settings.workers {
        anyhow::ensure!(n > 0, "--workers must be at least 1");
        builder.worker_threads(n);
    }
    let runtime = builder.build().context("cannot start the async runtime")?;
    runtime.block_on(serve(settings, args.ready_file))
}

async fn serve(settings: Settings, ready_file: Option<PathBuf>) -> Result<()> {
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "cannot create data directory {}",
            settings.data_dir.display()
        )
    })?;
    let data_dir = settings.data_dir.clone();
    let running = server::start(settings).await?;
    let rtmp = running.rtmp_addr();
    let http = running.http_addr();
    if let Some(path) = ready_file {
        let text = serde_json::json!({
            "rtmp": reachable(rtmp).to_string(),
            "http": reachable(http).to_string(),
        })
        .to_string();
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    }
    print_urls(&running, &data_dir);
    wait_for_signal().await;
    eprintln!("shutting down...");
    running.shutdown().await;
    Ok(())
}

/// The address a local client can connect to: a wildcard bind is reached over loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::from(([127, 0, 0, 1], addr.port())),
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}

fn print_urls(running: &server::RunningServer, data_dir: &std::path::Path) {
    println!(
        "mplive {} is running (Ctrl-C stops it)",
        env!("CARGO_PKG_VERSION")
    );
    println!();
    if let Some(token) = running.new_admin_token() {
        let file = data_dir.join("admin-token");
        // A terminal is a person reading; anything else (a service manager's journal, a log file, CI output) would
        // keep the token for anyone who can read the logs.
        if std::io::stdout().is_terminal() {
            println!("admin token (shown once; also in {}):", file.display());
            println!("  {token}");
        } else {
            println!(
                "admin token: created in {} (printed only when stdout is a terminal)",
                file.display()
            );
        }
        println!();
    }
    let Some(app) = running.catalog().app("live") else {
        println!("no app `live`: create apps with `mplive app create NAME`");
        return;
    };
    let expires = control::now_unix() + 86_400;
    let urls = control::urls::app_urls(running.url_base(), &app, "demo", expires);
    println!(
        "push (OBS, ffmpeg, live-pusher), valid for 24 h; more with `mplive url push STREAM`:"
    );
    println!("  {}", urls.push);
    println!("play (live-player, ffplay, VLC, flv.js):");
    println!("  {}", urls.play.rtmp);
    println!("  {}", urls.play.flv);
    println!("  add mode=rtc to the query for the low-latency mode");
    println!("play in a browser (hls.js, Safari), classic and low-latency HLS:");
    println!("  {}", urls.play.hls);
    println!("  {}", urls.play.ll_hls);
    if let Some(udp) = running.webrtc_addr() {
        let tcp = running
            .webrtc_tcp_addr()
            .map(|a| format!(", or TCP port {} where UDP is blocked", a.port()))
            .unwrap_or_default();
        println!(
            "play in a browser over WebRTC (WHEP: POST an SDP offer; media over UDP port {}{tcp}):",
            udp.port()
        );
        println!("  {}", urls.play.whep);
        let push_key = app
            .policy
            .push_auth
            .then_some((app.push_key.as_str(), expires));
        println!(
            "publish from a browser over WebRTC (WHIP: POST an SDP offer sending H.264 + Opus):"
        );
        println!(
            "  {}",
            control::urls::whip_url(running.url_base(), &app.name, "demo", push_key)
        );
    }
    println!("admin API (Authorization: Bearer ADMIN_TOKEN):");
    let http = running.http_addr();
    let scheme = if running.url_base().https {
        "https"
    } else {
        "http"
    };
    println!(
        "  {scheme}://{}:{}/v1/streams",
        running.url_base().host,
        http.port()
    );
    println!("console (sign in with the admin token):");
    println!(
        "  {scheme}://{}:{}/console/",
        running.url_base().host,
        http.port()
    );
    println!();
    println!("try: ffmpeg -re -f lavfi -i testsrc=size=540x960:rate=25 -f lavfi -i sine=frequency=440 \\");
    println!(
        "       -c:v libx264 -preset veryfast -tune zerolatency -g 25 -b:v 1M -c:a aac -f flv '{}'",
        urls.push
    );
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
