//! `mplive stream list|show|kick|forbid|unforbid` and `mplive forbids`: thin over the running server's admin API
//! (`/v1/streams`, `/v1/forbids`), since live streams exist only in the server. The server is the configuration's
//! `http_addr` (or `--server`), the admin token `MPLIVE_ADMIN_TOKEN` or `DATA_DIR/admin-token`.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::admin::{print_json, runtime, StoreArgs};

/// How to reach the server's admin API.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The server's HTTP address, e.g. http://127.0.0.1:8080 [default: the configuration's http_addr]
    #[arg(long, env = "MPLIVE_SERVER", global = true)]
    server: Option<String>,
    #[command(flatten)]
    store: StoreArgs,
}

/// `mplive stream ...`
#[derive(Debug, Args)]
pub struct StreamArgs {
    #[command(subcommand)]
    command: StreamCommand,
    #[command(flatten)]
    api: ApiArgs,
}

#[derive(Debug, Subcommand)]
enum StreamCommand {
    /// List live streams (and those waiting for their publisher): viewers, bitrate, codecs.
    List {
        /// Only this app's streams.
        #[arg(long)]
        app: Option<String>,
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one live stream's statistics, as JSON (the API's names).
    Show {
        /// APP/STREAM
        stream: String,
    },
    /// Drop a stream's publisher now (it may publish again; see forbid).
    Kick {
        /// APP/STREAM
        stream: String,
    },
    /// Drop a stream's publisher and refuse it until a time.
    Forbid {
        /// APP/STREAM
        stream: String,
        /// How long from now (90s, 15m, 2h, 7d) or until when (Unix seconds) [default: 1d]
        #[arg(long)]
        until: Option<String>,
        /// Why, for the refused publisher's error message
        #[arg(long)]
        reason: Option<String>,
    },
    /// Lift a forbid.
    Unforbid {
        /// APP/STREAM
        stream: String,
    },
}

/// `mplive forbids`
#[derive(Debug, Args)]
pub struct ForbidsArgs {
    /// Only this app's forbids.
    #[arg(long)]
    app: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    api: ApiArgs,
}

/// The admin API of one server.
struct Api {
    base: String,
    token: String,
    client: reqwest::Client,
}

impl Api {
    fn new(args: &ApiArgs) -> Result<Api> {
        let settings = args.store.settings()?;
        let base = match &args.server {
            Some(s) if s.contains("://") => s.trim_end_matches('/').to_owned(),
            Some(s) => format!("http://{}", s.trim_end_matches('/')),
            None => {
                let mut addr = settings.http_addr;
                if addr.ip().is_unspecified() {
                    addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                let scheme = if settings.tls_cert.is_some() {
                    "https"
                } else {
                    "http"
                };
                format!("{scheme}://{addr}")
            }
        };
        let token = match std::env::var("MPLIVE_ADMIN_TOKEN") {
            Ok(t) if !t.trim().is_empty() => t.trim().to_owned(),
            _ => {
                let file: PathBuf = settings.data_dir.join("admin-token");
                std::fs::read_to_string(&file)
                    .with_context(|| {
                        format!(
                            "no admin token: set MPLIVE_ADMIN_TOKEN or point --data-dir at the server's data \
                             directory (cannot read {})",
                            file.display()
                        )
                    })?
                    .trim()
                    .to_owned()
            }
        };
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Api {
            base,
            token,
            client,
        })
    }

    /// Sends the request; the JSON answer (`Value::Null` for 204), or the API's `{code, message}` as the error.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut req = self
            .client
            .request(method.clone(), &url)
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.map_err(|e| {
            anyhow!(
                "cannot reach the server at {}: {e} (is `mplive serve` running? give its address with --server or \
                 MPLIVE_SERVER)",
                self.base
            )
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            match (v["code"].as_u64(), v["message"].as_str()) {
                (Some(code), Some(message)) => bail!("{message} (HTTP {status}, code {code})"),
                _ => bail!("{method} {path}: HTTP {status}: {text}"),
            }
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).with_context(|| format!("{method} {path}: not JSON: {text}"))
    }
}

/// `APP/STREAM` -> the URL path `APP/STREAM` (each part checked to be one path segment).
fn stream_path(s: &str) -> Result<(String, String)> {
    match s.split_once('/') {
        Some((app, stream)) if !app.is_empty() && !stream.is_empty() && !stream.contains('/') => {
            Ok((app.to_owned(), stream.to_owned()))
        }
        _ => bail!("{s:?}: expected APP/STREAM, e.g. live/cam1"),
    }
}

/// A query value: what the names allow needs no escaping, anything else is refused by the server anyway.
fn query_value(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `--until`: a duration from now, or Unix seconds.
fn forbid_body(until: Option<&str>, reason: Option<String>) -> Result<Value> {
    let mut body = serde_json::Map::new();
    match until {
        Some(u) if !u.is_empty() && u.bytes().all(|b| b.is_ascii_digit()) => {
            let at: i64 = u.parse().map_err(|_| anyhow!("--until {u:?}: too large"))?;
            body.insert("until".into(), at.into());
        }
        other => {
            let d = control::urls::parse_duration(other.unwrap_or("1d"))
                .map_err(|e| anyhow!("--until: {e} (or give Unix seconds)"))?;
            body.insert("seconds".into(), d.as_secs().into());
        }
    }
    if let Some(r) = reason {
        body.insert("reason".into(), r.into());
    }
    Ok(Value::Object(body))
}

/// Runs `mplive stream ...`.
pub fn run(args: StreamArgs) -> Result<()> {
    let api = Api::new(&args.api)?;
    runtime()?.block_on(async move {
        match args.command {
            StreamCommand::List { app, json } => {
                let v = api.call(reqwest::Method::GET, "/v1/streams", None).await?;
                let streams: Vec<&Value> = v["streams"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter(|s| app.as_ref().is_none_or(|want| s["app"] == want.as_str()))
                            .collect()
                    })
                    .unwrap_or_default();
                if json {
                    return print_json(&serde_json::json!({ "streams": streams }));
                }
                println!(
                    "{:<30} {:<6} {:>8} {:>10} {:>10} {:>9}",
                    "STREAM", "STATE", "VIEWERS", "VIDEO", "AUDIO", "KBIT/S"
                );
                for s in streams {
                    let kbps = s["videoBitrate"].as_f64().unwrap_or(0.0)
                        + s["audioBitrate"].as_f64().unwrap_or(0.0);
                    println!(
                        "{:<30} {:<6} {:>8} {:>10} {:>10} {:>9.0}",
                        format!(
                            "{}/{}",
                            s["app"].as_str().unwrap_or("?"),
                            s["stream"].as_str().unwrap_or("?")
                        ),
                        s["state"].as_str().unwrap_or("?"),
                        s["players"]["total"].as_u64().unwrap_or(0),
                        s["videoCodec"].as_str().unwrap_or("-"),
                        s["audioCodec"].as_str().unwrap_or("-"),
                        kbps
                    );
                }
                Ok(())
            }
            StreamCommand::Show { stream } => {
                let (app, name) = stream_path(&stream)?;
                let v = api
                    .call(
                        reqwest::Method::GET,
                        &format!("/v1/streams/{app}/{name}"),
                        None,
                    )
                    .await?;
                print_json(&v)
            }
            StreamCommand::Kick { stream } => {
                let (app, name) = stream_path(&stream)?;
                api.call(
                    reqwest::Method::POST,
                    &format!("/v1/streams/{app}/{name}/kick"),
                    None,
                )
                .await?;
                println!("kicked the publisher of {app}/{name}");
                Ok(())
            }
            StreamCommand::Forbid {
                stream,
                until,
                reason,
            } => {
                let (app, name) = stream_path(&stream)?;
                let v = api
                    .call(
                        reqwest::Method::POST,
                        &format!("/v1/streams/{app}/{name}/forbid"),
                        Some(forbid_body(until.as_deref(), reason)?),
                    )
                    .await?;
                println!(
                    "forbade {app}/{name} until {}{}",
                    v["until"],
                    if v["kicked"] == true {
                        " (its publisher was dropped)"
                    } else {
                        ""
                    }
                );
                Ok(())
            }
            StreamCommand::Unforbid { stream } => {
                let (app, name) = stream_path(&stream)?;
                api.call(
                    reqwest::Method::DELETE,
                    &format!("/v1/streams/{app}/{name}/forbid"),
                    None,
                )
                .await?;
                println!("lifted the forbid of {app}/{name}");
                Ok(())
            }
        }
    })
}

/// Runs `mplive forbids`.
pub fn run_forbids(args: ForbidsArgs) -> Result<()> {
    let api = Api::new(&args.api)?;
    runtime()?.block_on(async move {
        let path = match &args.app {
            Some(app) => format!("/v1/forbids?app={}", query_value(app)),
            None => "/v1/forbids".to_owned(),
        };
        let v = api.call(reqwest::Method::GET, &path, None).await?;
        if args.json {
            return print_json(&v);
        }
        println!("{:<30} {:>12} REASON", "STREAM", "UNTIL");
        for f in v["forbids"].as_array().into_iter().flatten() {
            println!(
                "{:<30} {:>12} {}",
                format!(
                    "{}/{}",
                    f["app"].as_str().unwrap_or("?"),
                    f["stream"].as_str().unwrap_or("?")
                ),
                f["until"],
                f["reason"].as_str().unwrap_or("")
            );
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_paths_and_forbid_bodies() {
        assert_eq!(
            stream_path("live/cam1").unwrap(),
            ("live".into(), "cam1".into())
        );
        assert!(stream_path("cam1").is_err());
        assert!(stream_path("live/a/b").is_err());
        assert_eq!(
            forbid_body(Some("2h"), None).unwrap(),
            serde_json::json!({"seconds": 7200})
        );
        assert_eq!(
            forbid_body(Some("1900000000"), Some("spam".into())).unwrap(),
            serde_json::json!({"until": 1_900_000_000, "reason": "spam"})
        );
        assert_eq!(
            forbid_body(None, None).unwrap(),
            serde_json::json!({"seconds": 86400})
        );
        assert_eq!(query_value("a b"), "a%20b");
    }
}
