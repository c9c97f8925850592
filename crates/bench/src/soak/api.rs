//! The server's admin API as the soak uses it: kicks and forbids, the stream's player count, and the task count
//! of `/metrics`. One request per connection (no pool), so the tool's own idle sockets never show in the
//! server's descriptor count.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use reqwest::{Client, StatusCode};

/// One API call's limit.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of `http://HOST:PORT/v1/...` with the admin token.
#[derive(Clone)]
pub(super) struct Api {
    client: Client,
    base: String,
    token: String,
}

/// The figures of `/metrics` the soak follows.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ServerMetrics {
    pub tokio_tasks: Option<u64>,
    pub open_fds: Option<u64>,
    /// `mplive_heap_in_use_bytes`: the heap allocated and not freed (glibc servers only).
    pub heap_in_use: Option<u64>,
}

impl Api {
    /// `base` is `http://host:port/` (a trailing slash or not).
    pub(super) fn new(base: &str, token: &str) -> Result<Self> {
        let client = Client::builder()
            .timeout(CALL_TIMEOUT)
            .pool_max_idle_per_host(0)
            .build()
            .context("cannot build the API's HTTP client")?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&str>,
    ) -> Result<(StatusCode, String)> {
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_owned());
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .with_context(|| format!("{method} {path}: body"))?;
        if status == StatusCode::UNAUTHORIZED {
            bail!("{method} {path}: 401: check --admin-token (MPLIVE_ADMIN_TOKEN)");
        }
        Ok((status, text))
    }

    /// `POST /v1/streams/{app}/{stream}/kick`.
    pub(super) async fn kick(&self, app: &str, stream: &str) -> Result<()> {
        let path = format!("/v1/streams/{app}/{stream}/kick");
        let (status, text) = self.call(reqwest::Method::POST, &path, None).await?;
        if !status.is_success() {
            bail!("POST {path}: {status} {text}");
        }
        Ok(())
    }

    /// `POST /v1/streams/{app}/{stream}/forbid` for `seconds`.
    pub(super) async fn forbid(&self, app: &str, stream: &str, seconds: u64) -> Result<()> {
        let path = format!("/v1/streams/{app}/{stream}/forbid");
        let body = format!(r#"{{"seconds": {seconds}, "reason": "soak"}}"#);
        let (status, text) = self.call(reqwest::Method::POST, &path, Some(&body)).await?;
        if !status.is_success() {
            bail!("POST {path}: {status} {text}");
        }
        Ok(())
    }

    /// `DELETE /v1/streams/{app}/{stream}/forbid`.
    pub(super) async fn unforbid(&self, app: &str, stream: &str) -> Result<()> {
        let path = format!("/v1/streams/{app}/{stream}/forbid");
        let (status, text) = self.call(reqwest::Method::DELETE, &path, None).await?;
        if !status.is_success() {
            bail!("DELETE {path}: {status} {text}");
        }
        Ok(())
    }

    /// `players.total` of `GET /v1/streams/{app}/{stream}`; `None` when the stream is not live.
    pub(super) async fn players(&self, app: &str, stream: &str) -> Result<Option<u64>> {
        let path = format!("/v1/streams/{app}/{stream}");
        let (status, text) = self.call(reqwest::Method::GET, &path, None).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            bail!("GET {path}: {status} {text}");
        }
        let v: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("GET {path}: not JSON"))?;
        Ok(v["players"]["total"].as_u64())
    }

    /// `GET /metrics`.
    pub(super) async fn metrics(&self) -> Result<ServerMetrics> {
        let (status, text) = self.call(reqwest::Method::GET, "/metrics", None).await?;
        if !status.is_success() {
            bail!("GET /metrics: {status}");
        }
        Ok(parse_metrics(&text))
    }
}

/// Picks the gauges the soak follows out of the exposition text.
pub(super) fn parse_metrics(text: &str) -> ServerMetrics {
    let value = |name: &str| {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| {
                l.strip_prefix(name)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .map(|v| v.max(0.0) as u64)
    };
    ServerMetrics {
        tokio_tasks: value("mplive_tokio_tasks"),
        open_fds: value("process_open_fds"),
        heap_in_use: value("mplive_heap_in_use_bytes"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn metrics_gauges() {
        let text =
            "# HELP mplive_tokio_tasks x\n# TYPE mplive_tokio_tasks gauge\nmplive_tokio_tasks 42\n\
                    mplive_tokio_tasks_other 7\nprocess_open_fds 19\n";
        let m = super::parse_metrics(text);
        assert_eq!((m.tokio_tasks, m.open_fds), (Some(42), Some(19)));
        let m = super::parse_metrics("process_open_fds nope\n");
        assert_eq!((m.tokio_tasks, m.open_fds), (None, None));
    }
}
