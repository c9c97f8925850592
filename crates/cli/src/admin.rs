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
    #[arg(long, env = "MPLIVE_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Database URL (postgres://...) [default: SQLite in the data directory]
    #[arg(long, env = "MPLIVE_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// TOML configuration file (see docs/configuration.md)
    #[arg(long, env = "MPLIVE_CONFIG", global = true)]
    config: Option<PathBuf>,
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

    /// Opens the database (creating it and the default app on first use).
    pub(crate) async fn open(&self) -> Result<(Store, Settings)> {
        let settings = self.settings()?;
        let store = Store::open(&settings.database_url()).await?;
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
    /// Change an app's policy or callbacks; a running server applies it within a second.
    Set {
        /// Name or id.
        app: String,
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
pub struct UrlArgs {
    /// push or play
    #[arg(value_parser = ["push", "play"])]
    kind: String,
    /// Stream name
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
    #[arg(long, env = "MPLIVE_RTMP_ADDR")]
    rtmp_addr: Option<std::net::SocketAddr>,
    /// The server's HTTP address, for its port (as `serve --http-addr`) [default: the config's]
    #[arg(long, env = "MPLIVE_HTTP_ADDR")]
    http_addr: Option<std::net::SocketAddr>,
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
            AppCommand::Create { name, policy } => {
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
            AppCommand::Set { app, policy } => {
                find_app(&store, &app).await?;
                print_json(&server::app_json(
                    &store.update_app(&app, &policy.patch()).await?,
                ))?;
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
        let (store, settings) = args.store.open().await?;
        let app = find_app(&store, &args.app).await?;
        control::store::validate_stream_name(&args.stream)
            .map_err(|e| anyhow::anyhow!("stream name: {e}"))?;
        let expires = expiry(args.ttl.as_deref(), args.expires_at)?;
        let now = now_unix();
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
            rtmp_port: args.rtmp_addr.unwrap_or(settings.rtmp_addr).port(),
            http_port: args.http_addr.unwrap_or(settings.http_addr).port(),
            https: args.https || settings.tls_cert.is_some(),
        };
        let set = urls::app_urls(&base, &app, &args.stream, expires);
        if args.kind == "push" {
            println!("{}", set.push);
        } else {
            println!("{}", set.play.rtmp);
            println!("{}", set.play.flv);
            println!("{}", set.play.hls);
            println!("{}", set.play.ll_hls);
        }
        store.close().await;
        Ok(())
    })
}

/// Runs `mplive token`: prints one HS256 JWT.
pub fn run_token(args: TokenArgs) -> Result<()> {
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
