//! The URLs the client connects to: `rtmp://host[:port]/app[/instance]/stream[?query]` and
//! `http://host[:port]/path[?query]`, split the way a publisher, a player and the load tool need them.
//!
//! One parser for every caller: the pusher, the player and `mplive bench` all take their URLs through
//! [`RtmpUrl::parse`] and [`HttpUrl::parse`]. `rtmps://` and `https://` are refused with a clear reason (the client
//! has no TLS yet), as are user info (`user@host`), port 0 and an RTMP path without both an app and a stream.

use std::fmt;

/// Port of an `rtmp://` URL without one.
pub const DEFAULT_RTMP_PORT: u16 = 1935;
/// Port of an `http://` URL without one.
pub const DEFAULT_HTTP_PORT: u16 = 80;

/// Why a URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad URL {url}: {reason}")]
pub struct UrlError {
    /// The URL without its query (which may carry a signature).
    pub url: String,
    /// What is wrong with it.
    pub reason: String,
}

impl UrlError {
    fn new(url: &str, reason: impl Into<String>) -> Self {
        Self {
            url: url.split('?').next().unwrap_or_default().to_string(),
            reason: reason.into(),
        }
    }
}

/// A parsed `rtmp://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmpUrl {
    /// Host as written, without IPv6 brackets.
    pub host: String,
    /// TCP port ([`DEFAULT_RTMP_PORT`] when the URL has none).
    pub port: u16,
    /// `connect`'s app: everything between the authority and the last path segment (`live`, `live/instance`).
    pub app: String,
    /// The last path segment.
    pub stream: String,
    /// The query after the stream name (e.g. the signature `txSecret=..&txTime=..`), without the `?`; `None` when
    /// empty.
    pub query: Option<String>,
}

impl RtmpUrl {
    /// Parses `rtmp://host[:port]/app[/...]/stream[?query]` (the scheme in any case).
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let bad = |reason: &str| UrlError::new(url, reason);
        let (scheme, rest) = split_scheme(url).ok_or_else(|| bad("no scheme: expected rtmp://"))?;
        match scheme.as_str() {
            "rtmp" => {}
            "rtmps" => return Err(bad("rtmps is not supported: use rtmp://")),
            _ => return Err(bad("not an rtmp:// URL")),
        }
        let (rest, query) = split_query(rest);
        let (authority, path) = rest
            .split_once('/')
            .ok_or_else(|| bad("no /app/stream path after the host"))?;
        let (host, port) = split_authority(authority, DEFAULT_RTMP_PORT).map_err(|r| bad(&r))?;
        let path = path.trim_end_matches('/');
        let (app, stream) = path
            .rsplit_once('/')
            .filter(|(a, s)| !a.is_empty() && !s.is_empty() && !a.starts_with('/'))
            .ok_or_else(|| {
                bad("the path must name an app and a stream: rtmp://host[:port]/app/stream")
            })?;
        Ok(Self {
            host,
            port,
            app: app.to_string(),
            stream: stream.to_string(),
            query: query.map(str::to_string),
        })
    }

    /// The `tcUrl` sent in `connect`: `rtmp://host:port/app`.
    pub fn tc_url(&self) -> String {
        format!("rtmp://{}:{}/{}", bracket(&self.host), self.port, self.app)
    }

    /// The name sent in `publish` or `play`: the stream with its query, where the server looks for the signature.
    pub fn stream_name(&self) -> String {
        self.stream_name_with(None)
    }

    /// [`stream_name`](Self::stream_name) with `extra` (e.g. `mode=rtc`) appended to the query.
    pub fn stream_name_with(&self, extra: Option<&str>) -> String {
        match join_query(self.query.as_deref(), extra) {
            Some(q) => format!("{}?{q}", self.stream),
            None => self.stream.clone(),
        }
    }

    /// `app/stream`, for logs (no signature).
    pub fn path(&self) -> String {
        format!("{}/{}", self.app, self.stream)
    }

    /// The HTTP-FLV URL of the same stream on the same host: `http://host:http_port/app/stream.flv[?query]`, with
    /// `extra` appended to the query.
    pub fn http_flv_url(&self, http_port: u16, extra: Option<&str>) -> HttpUrl {
        let mut target = format!("/{}/{}.flv", self.app, self.stream);
        if let Some(q) = join_query(self.query.as_deref(), extra) {
            target.push('?');
            target.push_str(&q);
        }
        HttpUrl {
            host: self.host.clone(),
            port: http_port,
            target,
        }
    }

    /// The WHEP URL of the same stream on the same host: `http://host:http_port/app/stream/whep[?query]`, with
    /// `extra` appended to the query.
    pub fn whep_url(&self, http_port: u16, extra: Option<&str>) -> HttpUrl {
        let mut target = format!("/{}/{}/whep", self.app, self.stream);
        if let Some(q) = join_query(self.query.as_deref(), extra) {
            target.push('?');
            target.push_str(&q);
        }
        HttpUrl {
            host: self.host.clone(),
            port: http_port,
            target,
        }
    }
}

/// A parsed `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// Host as written, without IPv6 brackets.
    pub host: String,
    /// TCP port ([`DEFAULT_HTTP_PORT`] when the URL has none).
    pub port: u16,
    /// The request target: path and query, starting with `/`.
    pub target: String,
}

impl HttpUrl {
    /// Parses `http://host[:port]/path[?query]` (the scheme in any case; a path is required).
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let bad = |reason: &str| UrlError::new(url, reason);
        let (scheme, rest) = split_scheme(url).ok_or_else(|| bad("no scheme: expected http://"))?;
        match scheme.as_str() {
            "http" => {}
            "https" => return Err(bad("https is not supported: use http://")),
            _ => return Err(bad("not an http:// URL")),
        }
        let (rest, query) = split_query(rest);
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, port) = split_authority(authority, DEFAULT_HTTP_PORT).map_err(|r| bad(&r))?;
        if path.is_empty() {
            return Err(bad(
                "no path after the host: expected http://host[:port]/app/stream.flv",
            ));
        }
        let mut target = format!("/{path}");
        if let Some(q) = query {
            target.push('?');
            target.push_str(q);
        }
        Ok(Self { host, port, target })
    }

    /// This URL with `extra` (e.g. `mode=rtc`) appended to its query.
    pub fn with_query(mut self, extra: Option<&str>) -> Self {
        if let Some(extra) = extra {
            let sep = if self.target.contains('?') { '&' } else { '?' };
            self.target.push(sep);
            self.target.push_str(extra);
        }
        self
    }

    /// The value of the `Host` header: `host[:port]`, the port left out when it is 80.
    pub fn host_header(&self) -> String {
        if self.port == DEFAULT_HTTP_PORT {
            bracket(&self.host)
        } else {
            format!("{}:{}", bracket(&self.host), self.port)
        }
    }
}

impl fmt::Display for HttpUrl {
    /// `http://host:port/target`, the port always written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "http://{}:{}{}",
            bracket(&self.host),
            self.port,
            self.target
        )
    }
}

/// The scheme (lowercased) and what follows `://`.
fn split_scheme(url: &str) -> Option<(String, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    Some((scheme.to_ascii_lowercase(), rest))
}

/// Splits off the query; an empty query is none.
fn split_query(rest: &str) -> (&str, Option<&str>) {
    match rest.split_once('?') {
        Some((r, q)) => (r, Some(q).filter(|q| !q.is_empty())),
        None => (rest, None),
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

/// `host`, in brackets when it is an IPv6 address.
pub(crate) fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port` into the host (brackets removed) and the port, `default_port`
/// when none is given.
fn split_authority(authority: &str, default_port: u16) -> Result<(String, u16), String> {
    if authority.contains('@') {
        return Err("user info (user@host) is not supported".into());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| "unterminated [IPv6] host".to_string())?;
        match after.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if after.is_empty() => (host, None),
            None => return Err(format!("unexpected {after:?} after the IPv6 host")),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("empty host".into());
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("bad port {p:?}"))?,
        None => default_port,
    };
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_of_a_signed_rtmp_url() {
        let u = RtmpUrl::parse("rtmp://127.0.0.1:19350/live/s1?txSecret=ab&txTime=FF").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", 19350));
        assert_eq!((u.app.as_str(), u.stream.as_str()), ("live", "s1"));
        assert_eq!(u.tc_url(), "rtmp://127.0.0.1:19350/live");
        assert_eq!(u.stream_name(), "s1?txSecret=ab&txTime=FF");
        assert_eq!(
            u.stream_name_with(Some("mode=rtc")),
            "s1?txSecret=ab&txTime=FF&mode=rtc"
        );
        assert_eq!(u.path(), "live/s1");
        assert_eq!(
            u.http_flv_url(8080, Some("mode=rtc")).to_string(),
            "http://127.0.0.1:8080/live/s1.flv?txSecret=ab&txTime=FF&mode=rtc"
        );
    }

    #[test]
    fn rtmp_defaults_instances_and_ipv6() {
        let u = RtmpUrl::parse("RTMP://example.com/live/inst/s1/").unwrap();
        assert_eq!(
            (u.port, u.app.as_str(), u.stream.as_str()),
            (1935, "live/inst", "s1")
        );
        assert_eq!(u.stream_name(), "s1");
        assert_eq!(u.stream_name_with(Some("mode=rtc")), "s1?mode=rtc");
        let v6 = RtmpUrl::parse("rtmp://[::1]:1936/live/s?").unwrap();
        assert_eq!(
            (v6.host.as_str(), v6.port, v6.query.as_deref()),
            ("::1", 1936, None)
        );
        assert_eq!(v6.tc_url(), "rtmp://[::1]:1936/live");
    }

    #[test]
    fn rtmp_errors_name_the_problem_without_the_signature() {
        for (bad, why) in [
            ("http://h/live/s", "rtmp://"),
            ("rtmps://h/live/s", "rtmps is not supported"),
            ("live/s", "no scheme"),
            ("rtmp://h", "path"),
            ("rtmp://h?x=/a/b", "path"),
            ("rtmp://h/live", "app and a stream"),
            ("rtmp://h:x/live/s", "bad port"),
            ("rtmp://h:0/live/s", "bad port"),
            ("rtmp://h:99999/live/s", "bad port"),
            ("rtmp://h//s", "app and a stream"),
            ("rtmp://h//live/s", "app and a stream"),
            ("rtmp:///a/s", "empty host"),
            ("rtmp://[::1/a/s", "unterminated"),
            ("rtmp://u@h/a/s", "user info"),
        ] {
            let e = RtmpUrl::parse(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let e = RtmpUrl::parse("rtmp://h/live?txSecret=SECRET")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("SECRET"), "{e}");
    }

    #[test]
    fn http_urls_keep_path_and_query() {
        let u = HttpUrl::parse("http://127.0.0.1:8081/live/s.flv")
            .unwrap()
            .with_query(Some("mode=rtc"));
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("127.0.0.1", 8081, "/live/s.flv?mode=rtc")
        );
        assert_eq!(u.host_header(), "127.0.0.1:8081");
        let u = HttpUrl::parse("http://h/live/s.flv?a=1")
            .unwrap()
            .with_query(Some("mode=rtc"));
        assert_eq!(
            (u.port, u.target.as_str(), u.host_header().as_str()),
            (80, "/live/s.flv?a=1&mode=rtc", "h")
        );
        assert_eq!(u.to_string(), "http://h:80/live/s.flv?a=1&mode=rtc");
        let v6 = HttpUrl::parse("http://[::1]:8080/a.flv?").unwrap();
        assert_eq!(
            (v6.target.as_str(), v6.host_header().as_str()),
            ("/a.flv", "[::1]:8080")
        );
    }

    #[test]
    fn http_errors() {
        for (bad, why) in [
            ("https://h/x", "https is not supported"),
            ("rtmp://h/a/s", "http://"),
            ("http://h", "no path"),
            ("http://h/", "no path"),
            ("http://h:0/x", "bad port"),
        ] {
            let e = HttpUrl::parse(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
