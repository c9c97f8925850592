//! `mplive app`, `mplive url` and `mplive token`: manage apps and issue signed URLs and SDK tokens straight from
//! the database, with or without a running server (a running server sees app changes within a second).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use control::jwt::{self, Claims, Role};
use control::store::{AppPatch, KeyKind, NewApp};
use control::urls::{self, UrlBase};
use control::{now_unix, App, AppPolicy, RecordFormat, Store};
use server::Settings;

/// Where the data lives: the same flags as `mplive serve`.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Data directory [default: ./mplive-data]
    #[arg(long, env = "MPLIVE_DATA_DIR", global = true, help_heading = "Data")]
    data_dir: Option<PathBuf>,
    /// Database URL (postgres://...) [default: SQLite in the data directory]
    #[arg(
        long,
        env = "MPLIVE_DATABASE_URL",
        global = true,
        help_heading = "Data"
    )]
    database_url: Option<String>,
    /// TOML configuration file (see docs/configuration.md)
    #[arg(long, env = "MPLIVE_CONFIG", global = true, help_heading = "Data")]
    config: Option<PathBuf>,
    /// Create the data directory and its database when there is none (only `mplive serve` does so by itself)
    #[arg(long, global = true, help_heading = "Data")]
    init: bool,
}

impl StoreArgs {
    pub(crate) fn settings(&self) -> Result<Settings> {
        let mut settings = crate::serve::load_config(self.config.as_deref())?;
        if let Some(d) = &self.data_dir {
            settings.data_dir = d.clone();
        }
        if let Some(u) = &self.database_url {
            settings.database_url = Some(u.clone());
        }
        Ok(settings)
    }

    /// Opens the database. Says on stderr (one line) which data directory or database it uses. A SQLite database
    /// that does not exist yet is created only with `--init`: otherwise a command run from the wrong directory
    /// would make a second data directory with new keys, whose URLs the running server refuses.
    pub(crate) async fn open(&self) -> Result<(Store, Settings)> {
        let settings = self.settings()?;
        let url = settings.database_url();
        match control::store::sqlite_file(&url) {
            Some(file) => {
                let shown = if settings.database_url.is_some() {
                    format!("database {}", file.display())
                } else {
                    format!("data directory {}", absolute(&settings.data_dir).display())
                };
                if !file.exists() {
                    if !self.init {
                        bail!("{}", missing_data_dir(&settings, &file));
                    }
                    eprintln!("mplive: creating {shown} (--init)");
                } else {
                    eprintln!("mplive: using {shown}");
                }
            }
            None => eprintln!(
                "mplive: using database {}",
                control::store::redact_db_url(&url)
            ),
        }
        let store = Store::open(&url).await?;
        let boot = control::bootstrap(
            &store,
            &settings.data_dir,
            std::env::var("MPLIVE_ADMIN_TOKEN").ok().as_deref(),
        )
        .await?;
        if boot.new_admin_token.is_some() {
            eprintln!(
                "first use of {}: created the app `live` and an admin token in {}",
                settings.data_dir.display(),
                settings.data_dir.join("admin-token").display()
            );
        }
        Ok((store, settings))
    }
}

/// `path` made absolute against the working directory, so that the line names the place unambiguously.
fn absolute(path: &std::path::Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The refusal of a command that found no database: where it looked and the four ways to point it right.
fn missing_data_dir(settings: &Settings, file: &std::path::Path) -> String {
    let dir = absolute(&settings.data_dir);
    let looked = if settings.database_url.is_some() {
        format!("no database at {}", absolute(file).display())
    } else if dir.is_dir() {
        format!(
            "no mplive database in the data directory {} (no {})",
            dir.display(),
            file.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        )
    } else {
        format!("no data directory at {}", dir.display())
    };
    format!(
        "{looked}. Point this command at the server's data: pass --data-dir PATH (or set MPLIVE_DATA_DIR) to the \
         directory `mplive serve` uses, or run it from the directory where `mplive serve` ran; or pass --init to \
         create a new data directory with new keys (URLs signed with them work only on a server using it)"
    )
}

/// `mplive app ...`
#[derive(Debug, Args)]
pub struct AppArgs {
    #[command(subcommand)]
    command: AppCommand,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, Subcommand)]
enum AppCommand {
    /// Create an app (an RTMP application name) with random keys; prints it as JSON.
    Create {
        /// RTMP application name: 1-64 of A-Z a-z 0-9 _ -
        name: String,
        #[command(flatten)]
        policy: PolicyFlags,
    },
    /// List apps.
    List,
    /// Show one app with its keys, as JSON (the admin API's names: pushAuth, callbackUrls, ...).
    Show {
        /// Name or id.
        app: String,
    },
    /// Replace one key with a new random one (URLs or tokens signed with the old one stop working).
    RotateKey {
        /// Name or id.
        app: String,
        /// push, play, callback or secret
        #[arg(long, default_value = "push")]
        key: String,
    },
    /// Change an app's policy or callbacks; a running server applies it within a second. Prints what changed.
    Set {
        /// Name or id.
        app: String,
        /// Print callback URLs whole (their queries often hold credentials; masked by default)
        #[arg(long)]
        show_secrets: bool,
        #[command(flatten)]
        policy: PolicyFlags,
    },
    /// Delete an app with its channels and forbids.
    Delete {
        /// Name or id.
        app: String,
    },
}

#[derive(Debug, Args)]
#[command(next_help_heading = "App policy")]
struct PolicyFlags {
    /// Publishing needs a signed URL (on by default)
    #[arg(long, value_name = "on|off", value_parser = parse_switch)]
    push_auth: Option<bool>,
    /// Playing needs a signed URL (off by default)
    #[arg(long, value_name = "on|off", value_parser = parse_switch)]
    play_auth: Option<bool>,
    /// New players start with the cached GOP (on by default)
    #[arg(long, value_name = "on|off", value_parser = parse_switch)]
    gop_cache: Option<bool>,
    /// Players without mode= get the low-latency mode (off by default)
    #[arg(long, value_name = "on|off", value_parser = parse_switch)]
    low_latency: Option<bool>,
    /// Republish grace in milliseconds, or `default`
    #[arg(long, value_name = "MS|default", value_parser = parse_limit)]
    republish_grace_ms: Option<Limit>,
    /// Most live streams of the app, or `none`
    #[arg(long, value_name = "N|none", value_parser = parse_limit)]
    max_streams: Option<Limit>,
    /// Most players of the app, or `none`
    #[arg(long, value_name = "N|none", value_parser = parse_limit)]
    max_players: Option<Limit>,
    /// Record every stream in these formats (files under DATA_DIR/recordings), or `off`
    #[arg(long, value_name = "mp4|flv|mp4,flv|off", value_parser = parse_record)]
    record: Option<RecordFlag>,
    /// Webhook receiver (repeat for several); replaces the current list
    #[arg(long = "callback-url", value_name = "URL")]
    callback_urls: Vec<String>,
    /// Remove every webhook receiver
    #[arg(long, conflicts_with = "callback_urls")]
    no_callbacks: bool,
}

fn parse_switch(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err(format!("{s:?}: expected on or off")),
    }
}

/// The `--record` value: a newtype, since clap would read a bare `Vec` as a repeated flag.
#[derive(Debug, Clone)]
struct RecordFlag(Vec<RecordFormat>);

fn parse_record(s: &str) -> Result<RecordFlag, String> {
    RecordFormat::parse_list(s)
        .map(RecordFlag)
        .map_err(|e| format!("{s:?}: {e}, or off"))
}

/// A limit flag's value: a number, or `none`/`default` to remove the app's own limit.
#[derive(Debug, Clone, Copy)]
struct Limit(Option<i64>);

fn parse_limit(s: &str) -> Result<Limit, String> {
    match s {
        "none" | "default" => Ok(Limit(None)),
        _ => s
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| Limit(Some(n)))
            .ok_or_else(|| format!("{s:?}: expected a non-negative number, `none` or `default`")),
    }
}

impl PolicyFlags {
    fn patch(&self) -> AppPatch {
        AppPatch {
            push_auth: self.push_auth,
            play_auth: self.play_auth,
            gop_cache: self.gop_cache,
            low_latency: self.low_latency,
            republish_grace_ms: self.republish_grace_ms.map(|l| l.0),
            max_streams: self.max_streams.map(|l| l.0),
            max_players: self.max_players.map(|l| l.0),
            record: self.record.as_ref().map(|r| r.0.clone()),
            callback_urls: if self.no_callbacks {
                Some(Vec::new())
            } else if self.callback_urls.is_empty() {
                None
            } else {
                Some(self.callback_urls.clone())
            },
        }
    }
}

/// `mplive url push|play STREAM`
#[derive(Debug, Args)]
#[command(after_help = "Output:\n  \
    push: one line, the rtmp:// push URL (signed when the app's push auth is on)\n  \
    play: four lines, signed when the app's play auth is on:\n    \
    rtmp://HOST:RTMP_PORT/APP/STREAM          RTMP (live-player, ffplay, VLC)\n    \
    http://HOST:HTTP_PORT/APP/STREAM.flv      HTTP-FLV (flv.js, live-player)\n    \
    http://HOST:HTTP_PORT/APP/STREAM.m3u8     HLS (Safari, hls.js)\n    \
    http://HOST:HTTP_PORT/APP/STREAM/ll.m3u8  LL-HLS, low-latency HLS (hls.js, Safari)")]
pub struct UrlArgs {
    /// push or play
    #[arg(value_parser = ["push", "play"])]
    kind: String,
    /// Stream name: letters, digits, `_`, `-` and `.` (without .flv or .m3u8)
    stream: String,
    /// App name
    #[arg(long, default_value = "live")]
    app: String,
    /// Validity from now: 90s, 15m, 2h, 1d [default: 1d]
    #[arg(long, conflicts_with = "expires_at")]
    ttl: Option<String>,
    /// Expiry as Unix seconds
    #[arg(long)]
    expires_at: Option<u64>,
    /// Host name in the URLs [default: the config's public_host]
    #[arg(long, env = "MPLIVE_PUBLIC_HOST")]
    public_host: Option<String>,
    /// Use https:// for the HTTP URLs [default: when the config sets tls_cert]
    #[arg(long)]
    https: bool,
    /// The server's RTMP address, for its port (as `serve --rtmp-addr`) [default: the config's]
    #[arg(long, env = "MPLIVE_RTMP_ADDR", value_parser = server::parse_listen_addr)]
    rtmp_addr: Option<std::net::SocketAddr>,
    /// The server's HTTP address, for its port (as `serve --http-addr`) [default: the config's]
    #[arg(long, env = "MPLIVE_HTTP_ADDR", value_parser = server::parse_listen_addr)]
    http_addr: Option<std::net::SocketAddr>,
    /// push: print the WHIP URL (a browser publishing over WebRTC) instead of the RTMP one
    #[arg(long)]
    whip: bool,
    #[command(flatten)]
    store: StoreArgs,
}

/// `mplive token`
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// App name or id
    #[arg(long, default_value = "live")]
    app: String,
    /// Channel (or room) id
    #[arg(long, alias = "room")]
    channel: String,
    /// Account id
    #[arg(long)]
    account: String,
    /// publisher, viewer or member
    #[arg(long, default_value = "publisher")]
    role: String,
    /// Validity from now: 90s, 15m, 2h, 1d [default: 1d]
    #[arg(long, conflicts_with = "expires_at")]
    ttl: Option<String>,
    /// Expiry as Unix seconds
    #[arg(long)]
    expires_at: Option<u64>,
    #[command(flatten)]
    store: StoreArgs,
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub(crate) async fn find_app(store: &Store, app: &str) -> Result<App> {
    match store.app(app).await? {
        Some(a) => Ok(a),
        None => {
            let names: Vec<String> = store.apps().await?.into_iter().map(|a| a.name).collect();
            bail!(
                "no app {app:?}; the apps are: {} (create one with `mplive app create NAME`)",
                names.join(", ")
            )
        }
    }
}

pub(crate) fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Runs `mplive app ...`.
pub fn run_app(args: AppArgs) -> Result<()> {
    runtime()?.block_on(async move {
        let (store, _) = args.store.open().await?;
        match args.command {
            AppCommand::Create { name, policy, .. } => {
                let (mut p, mut callback_urls) = (AppPolicy::default(), Vec::new());
                policy.patch().apply(&mut p, &mut callback_urls);
                let new = NewApp {
                    name,
                    policy: p,
                    callback_urls,
                };
                print_json(&server::app_json(&store.create_app(&new).await?))?;
            }
            AppCommand::List => {
                println!(
                    "{:<20} {:<22} {:>9} {:>9} {:>9}",
                    "NAME", "ID", "PUSHAUTH", "PLAYAUTH", "CALLBACKS"
                );
                for a in store.apps().await? {
                    println!(
                        "{:<20} {:<22} {:>9} {:>9} {:>9}",
                        a.name,
                        a.id,
                        on_off(a.policy.push_auth),
                        on_off(a.policy.play_auth),
                        a.callback_urls.len()
                    );
                }
            }
            AppCommand::Show { app } => {
                print_json(&server::app_json(&find_app(&store, &app).await?))?
            }
            AppCommand::RotateKey { app, key } => {
                let which: KeyKind = key.parse().map_err(|_| {
                    anyhow::anyhow!("--key {key:?}: expected push, play, callback or secret")
                })?;
                find_app(&store, &app).await?;
                let a = store.rotate_key(&app, which).await?;
                eprintln!("rotated the {which} key of {}", a.name);
                print_json(&server::app_json(&a))?;
            }
            AppCommand::Set {
                app,
                policy,
                show_secrets,
            } => {
                let before = find_app(&store, &app).await?;
                let after = store.update_app(&app, &policy.patch()).await?;
                for line in changes(&before, &after, show_secrets)? {
                    println!("{line}");
                }
            }
            AppCommand::Delete { app } => {
                find_app(&store, &app).await?;
                store.delete_app(&app).await?;
                eprintln!("deleted app {app}");
            }
        }
        store.close().await;
        Ok(())
    })
}

/// The fields `app set` changed, one line each: `NAME.FIELD: OLD -> NEW` (JSON values), or one line saying that
/// nothing changed. Keys never change here and are left out; callback URLs are shown without their query and
/// credentials unless `show_secrets`.
fn changes(before: &App, after: &App, show_secrets: bool) -> Result<Vec<String>> {
    let (mut old, mut new) = (Vec::new(), Vec::new());
    flatten("", &server::app_json(before), &mut old);
    flatten("", &server::app_json(after), &mut new);
    let secret = |field: &str| {
        let f = field.to_ascii_lowercase();
        f.contains("key") || f.contains("secret")
    };
    let shown = |field: &str, v: &serde_json::Value| -> String {
        if secret(field) && !show_secrets {
            return "\"***\"".to_string();
        }
        let callbacks = field.to_ascii_lowercase().contains("callback");
        match v {
            serde_json::Value::Array(urls) if callbacks && !show_secrets => {
                let masked: Vec<serde_json::Value> = urls
                    .iter()
                    .map(|u| {
                        u.as_str()
                            .map(control::webhook_event::callback_url_for_log)
                            .map_or(serde_json::Value::Null, serde_json::Value::from)
                    })
                    .collect();
                serde_json::Value::Array(masked).to_string()
            }
            _ => v.to_string(),
        }
    };
    let mut lines = Vec::new();
    for (field, value) in &new {
        // The update time changes on every write; it says nothing.
        if field.to_ascii_lowercase().contains("updated") {
            continue;
        }
        let was = old
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, v)| v.clone())
            .unwrap_or(serde_json::Value::Null);
        if &was != value {
            lines.push(format!(
                "{}.{field}: {} -> {}",
                after.name,
                shown(field, &was),
                shown(field, value)
            ));
        }
    }
    if lines.is_empty() {
        lines.push(format!("{}: nothing changed", after.name));
    }
    Ok(lines)
}

/// The leaves of a JSON object as (dotted path, value); arrays are leaves.
fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, serde_json::Value)>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&path, v, out);
            }
        }
        _ => out.push((prefix.to_string(), v.clone())),
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

fn expiry(ttl: Option<&str>, expires_at: Option<u64>) -> Result<u64> {
    if let Some(at) = expires_at {
        return Ok(at);
    }
    let ttl = match ttl {
        Some(t) => urls::parse_duration(t).map_err(|e| anyhow::anyhow!("--ttl: {e}"))?,
        None => Duration::from_secs(86_400),
    };
    Ok(now_unix() + ttl.as_secs())
}

/// Runs `mplive url ...`: exactly one line for push, one per protocol for play.
pub fn run_url(args: UrlArgs) -> Result<()> {
    runtime()?.block_on(async move {
        control::store::validate_app_name(&args.app).map_err(|e| anyhow::anyhow!("--app: {e}"))?;
        let stream = stream_name(&args.stream)?;
        let (store, settings) = args.store.open().await?;
        let app = find_app(&store, &args.app).await?;
        let expires = expiry(args.ttl.as_deref(), args.expires_at)?;
        let now = now_unix();
        let signed = if args.kind == "push" {
            app.policy.push_auth
        } else {
            app.policy.play_auth
        };
        if signed && expires <= now {
            eprintln!(
                "warning: this URL expired {} s ago (--expires-at {expires} is before now, {now}): the server \
                 refuses it as signature_expired; use --ttl (e.g. --ttl 2h) or a later --expires-at",
                now - expires
            );
        }
        if expires > now.saturating_add(settings.max_url_ttl_secs) {
            anyhow::bail!(
                "the URL would be valid for {} s, but the server refuses URLs valid for more than {} s \
                 (max_url_ttl_secs in its configuration); use a shorter --ttl or raise max_url_ttl_secs",
                expires.saturating_sub(now),
                settings.max_url_ttl_secs
            );
        }
        let base = UrlBase {
            host: args
                .public_host
                .clone()
                .unwrap_or_else(|| settings.public_host.clone()),
            // An address given on the command line names the server's port; else the configuration's public
            // port (a proxy in front), else its bound one.
            rtmp_port: args.rtmp_addr.map(|a| a.port()).unwrap_or_else(|| {
                settings
                    .public_rtmp_port
                    .unwrap_or(settings.rtmp_addr.port())
            }),
            http_port: args.http_addr.map(|a| a.port()).unwrap_or_else(|| {
                settings
                    .public_http_port
                    .unwrap_or(settings.http_addr.port())
            }),
            https: args.https
                || settings
                    .public_https
                    .unwrap_or(settings.tls_cert.is_some()),
        };
        let ports: &[(&str, u16, &str)] = if args.kind == "push" && args.whip {
            &[("HTTP", base.http_port, "http-addr")]
        } else if args.kind == "push" {
            &[("RTMP", base.rtmp_port, "rtmp-addr")]
        } else {
            &[
                ("RTMP", base.rtmp_port, "rtmp-addr"),
                ("HTTP", base.http_port, "http-addr"),
            ]
        };
        for (what, port, flag) in ports {
            if *port == 0 {
                eprintln!(
                    "warning: the {what} port is 0 in the configuration (the server picks a free port at each \
                     start), so this URL has port 0; pass --{flag} with the address the server printed (or the \
                     one in its --ready-file)"
                );
            }
        }
        let set = urls::app_urls(&base, &app, &stream, expires);
        if args.kind == "push" && args.whip {
            let key = signed.then_some((app.push_key.as_str(), expires));
            println!("{}", urls::whip_url(&base, &app.name, &stream, key));
        } else if args.kind == "push" {
            println!("{}", set.push);
        } else {
            println!("{}", set.play.rtmp);
            println!("{}", set.play.flv);
            println!("{}", set.play.hls);
            println!("{}", set.play.ll_hls);
            println!("{}", set.play.whep);
        }
        store.close().await;
        Ok(())
    })
}

/// The stream name of `mplive url`: as the server checks it, without a `.flv` or `.m3u8` (those belong to the
/// play URLs, which add them; the name itself would then end twice).
fn stream_name(given: &str) -> Result<String> {
    let mut stream = given;
    for suffix in [".flv", ".m3u8"] {
        if let Some(bare) = given.strip_suffix(suffix).filter(|b| !b.is_empty()) {
            eprintln!(
                "note: using the stream name {bare:?}: the play URLs add {suffix} themselves (stream names are \
                 given without it)"
            );
            stream = bare;
        }
    }
    control::store::validate_stream_name(stream).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(stream.to_string())
}

/// Runs `mplive token`: prints one HS256 JWT.
pub fn run_token(args: TokenArgs) -> Result<()> {
    // The SDK endpoints check these: a token for a name they refuse would never be accepted.
    control::store::validate_app_name(&args.app).map_err(|e| anyhow::anyhow!("--app: {e}"))?;
    control::store::validate_channel_name(&args.channel)
        .map_err(|e| anyhow::anyhow!("--channel: {e}"))?;
    control::store::validate_account(&args.account)
        .map_err(|e| anyhow::anyhow!("--account: {e}"))?;
    runtime()?.block_on(async move {
        let (store, _) = args.store.open().await?;
        let app = find_app(&store, &args.app).await?;
        let role: Role = args.role.parse().map_err(|_| {
            anyhow::anyhow!(
                "--role {:?}: expected publisher, viewer or member",
                args.role
            )
        })?;
        let now = now_unix();
        let claims = Claims {
            app: app.id.clone(),
            channel: args.channel,
            account: args.account,
            role,
            exp: expiry(args.ttl.as_deref(), args.expires_at)?,
            iat: Some(now),
        };
        println!("{}", jwt::mint(app.secret.as_bytes(), &claims));
        store.close().await;
        Ok(())
    })
}
