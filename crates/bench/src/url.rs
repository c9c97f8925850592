//! The URLs a bench run talks to: the RTMP stream URL and the HTTP-FLV URL derived from it.

use anyhow::{bail, Context, Result};

/// `rtmp://host[:port]/app[/instance]/stream[?query]`, split the way an RTMP client needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RtmpUrl {
    /// Host as written, without IPv6 brackets.
    pub host: String,
    pub port: u16,
    /// Everything between the authority and the last path segment (`live`, or `live/instance`).
    pub app: String,
    /// The last path segment.
    pub stream: String,
    /// Query after the stream name, without the `?`.
    pub query: Option<String>,
}

impl RtmpUrl {
    pub(super) fn parse(url: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("rtmp://")
            .with_context(|| format!("{url:?} is not an rtmp:// URL"))?;
        let (authority, path) = rest
            .split_once('/')
            .with_context(|| format!("{url:?} has no /app/stream path"))?;
        let (host, port) =
            split_authority(authority, 1935).with_context(|| format!("in {url:?}"))?;
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string()).filter(|q| !q.is_empty())),
            None => (path, None),
        };
        let path = path.trim_end_matches('/');
        let Some((app, stream)) = path.rsplit_once('/') else {
            bail!("{url:?} must name an app and a stream: rtmp://host[:port]/app/stream");
        };
        if app.is_empty() || stream.is_empty() {
            bail!("{url:?} must name an app and a stream: rtmp://host[:port]/app/stream");
        }
        Ok(Self {
            host,
            port,
            app: app.to_string(),
            stream: stream.to_string(),
            query,
        })
    }

    /// The `tcUrl` sent in `connect`.
    pub(super) fn tc_url(&self) -> String {
        format!("rtmp://{}:{}/{}", bracket(&self.host), self.port, self.app)
    }

    /// The stream name for `publish`/`play`, with the URL's query and `extra` (e.g. `mode=rtc`) appended.
    pub(super) fn stream_name(&self, extra: Option<&str>) -> String {
        match join_query(self.query.as_deref(), extra) {
            Some(q) => format!("{}?{q}", self.stream),
            None => self.stream.clone(),
        }
    }

    /// The HTTP-FLV URL of the same stream on `http_port`: `http://host:port/app/stream.flv[?query]`.
    pub(super) fn http_flv_url(&self, http_port: u16, extra: Option<&str>) -> String {
        let mut url = format!(
            "http://{}:{http_port}/{}/{}.flv",
            bracket(&self.host),
            self.app,
            self.stream
        );
        if let Some(q) = join_query(self.query.as_deref(), extra) {
            url.push('?');
            url.push_str(&q);
        }
        url
    }
}

/// `http://host[:port]/path[?query]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HttpUrl {
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub target: String,
}

impl HttpUrl {
    pub(super) fn parse(url: &str) -> Result<Self> {
        let rest = url.strip_prefix("http://").with_context(|| {
            format!("{url:?} is not an http:// URL (https is not supported by the bench)")
        })?;
        let (authority, target) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let (host, port) = split_authority(authority, 80).with_context(|| format!("in {url:?}"))?;
        Ok(Self { host, port, target })
    }

    /// This URL with `extra` appended to its query.
    pub(super) fn with_query(mut self, extra: Option<&str>) -> Self {
        if let Some(extra) = extra {
            let sep = if self.target.contains('?') { '&' } else { '?' };
            self.target.push(sep);
            self.target.push_str(extra);
        }
        self
    }

    /// The value of the `Host` header.
    pub(super) fn host_header(&self) -> String {
        format!("{}:{}", bracket(&self.host), self.port)
    }
}

fn join_query(base: Option<&str>, extra: Option<&str>) -> Option<String> {
    match (base, extra) {
        (Some(b), Some(e)) => Some(format!("{b}&{e}")),
        (Some(b), None) => Some(b.to_string()),
        (None, Some(e)) => Some(e.to_string()),
        (None, None) => None,
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

fn split_authority(authority: &str, default_port: u16) -> Result<(String, u16)> {
    if authority.contains('@') {
        bail!("user info in the URL is not supported");
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').context("unterminated [IPv6] host")?;
        match after.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if after.is_empty() => (host, None),
            None => bail!("unexpected {after:?} after the IPv6 host"),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        bail!("empty host");
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .with_context(|| format!("bad port {p:?}"))?,
        None => default_port,
    };
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtmp_url_parts() {
        let u = RtmpUrl::parse("rtmp://127.0.0.1:19350/live/bench?txSecret=ab&txTime=FF").unwrap();
        assert_eq!(u.host, "127.0.0.1");
        assert_eq!(u.port, 19350);
        assert_eq!(u.app, "live");
        assert_eq!(u.stream, "bench");
        assert_eq!(u.tc_url(), "rtmp://127.0.0.1:19350/live");
        assert_eq!(u.stream_name(None), "bench?txSecret=ab&txTime=FF");
        assert_eq!(
            u.stream_name(Some("mode=rtc")),
            "bench?txSecret=ab&txTime=FF&mode=rtc"
        );
        assert_eq!(
            u.http_flv_url(8080, Some("mode=rtc")),
            "http://127.0.0.1:8080/live/bench.flv?txSecret=ab&txTime=FF&mode=rtc"
        );
    }

    #[test]
    fn rtmp_url_defaults_and_instances() {
        let u = RtmpUrl::parse("rtmp://localhost/live/inst/s1").unwrap();
        assert_eq!(
            (u.port, u.app.as_str(), u.stream.as_str()),
            (1935, "live/inst", "s1")
        );
        assert_eq!(u.stream_name(Some("mode=rtc")), "s1?mode=rtc");
        let v6 = RtmpUrl::parse("rtmp://[::1]:1936/live/s").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 1936));
        assert_eq!(v6.tc_url(), "rtmp://[::1]:1936/live");
    }

    #[test]
    fn rtmp_url_errors() {
        for bad in [
            "http://h/live/s",
            "rtmp://h",
            "rtmp://h/live",
            "rtmp://h:x/live/s",
            "rtmp://h//s",
            "rtmp:///a/s",
        ] {
            assert!(RtmpUrl::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn http_url_parts() {
        let u = HttpUrl::parse("http://127.0.0.1:8081/live/s.flv")
            .unwrap()
            .with_query(Some("mode=rtc"));
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("127.0.0.1", 8081, "/live/s.flv?mode=rtc")
        );
        let u = HttpUrl::parse("http://h/live/s.flv?a=1")
            .unwrap()
            .with_query(Some("mode=rtc"));
        assert_eq!(
            (u.port, u.target.as_str(), u.host_header().as_str()),
            (80, "/live/s.flv?a=1&mode=rtc", "h:80")
        );
        assert!(HttpUrl::parse("https://h/x").is_err());
    }
}
