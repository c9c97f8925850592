//! Play URLs: `rtmp://host[:port]/app[/instance]/stream[?query]` and `http://host[:port]/path[?query]`.

use super::machine::PlayMode;
use super::PlayError;

/// Where and how one attempt connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// RTMP play.
    Rtmp {
        /// Host as written, without IPv6 brackets.
        host: String,
        port: u16,
        /// `connect`'s app: everything between the authority and the last path segment.
        app: String,
        /// `connect`'s tcUrl.
        tc_url: String,
        /// `play`'s stream name, with the query.
        stream: String,
    },
    /// HTTP-FLV GET.
    Flv {
        host: String,
        port: u16,
        /// Path and query, starting with `/`.
        target: String,
        /// The `Host` header.
        host_header: String,
    },
}

impl Target {
    /// Host and port to connect to.
    pub(crate) fn authority(&self) -> (&str, u16) {
        match self {
            Target::Rtmp { host, port, .. } | Target::Flv { host, port, .. } => (host, *port),
        }
    }
}

/// Parses a play URL. In rtc mode `mode=rtc` is added to the query (unless it names a mode already), which is
/// how mplive's server picks its low-latency delivery.
pub(crate) fn parse(url: &str, mode: PlayMode) -> Result<Target, PlayError> {
    let bad = |why: &str| PlayError::BadUrl {
        url: url.to_string(),
        why: why.to_string(),
    };
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("no scheme: expected rtmp:// or http://"))?;
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q).filter(|q| !q.is_empty())),
        None => (rest, None),
    };
    let query = with_mode(query, mode);
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    match scheme.to_ascii_lowercase().as_str() {
        "rtmp" => {
            let (host, port) = crate::authority::split(authority, 1935).map_err(|w| bad(&w))?;
            let path = path.trim_end_matches('/');
            let (app, stream) = path
                .rsplit_once('/')
                .filter(|(a, s)| !a.is_empty() && !s.is_empty())
                .ok_or_else(|| bad("expected rtmp://host[:port]/app/stream"))?;
            let tc_url = format!("rtmp://{}:{port}/{app}", bracket(&host));
            let stream = match query {
                Some(q) => format!("{stream}?{q}"),
                None => stream.to_string(),
            };
            Ok(Target::Rtmp {
                host,
                port,
                app: app.to_string(),
                tc_url,
                stream,
            })
        }
        "http" => {
            let (host, port) = crate::authority::split(authority, 80).map_err(|w| bad(&w))?;
            if path.is_empty() {
                return Err(bad("expected http://host[:port]/app/stream.flv"));
            }
            let mut target = format!("/{path}");
            if let Some(q) = query {
                target.push('?');
                target.push_str(&q);
            }
            let host_header = if port == 80 {
                bracket(&host)
            } else {
                format!("{}:{port}", bracket(&host))
            };
            Ok(Target::Flv {
                host,
                port,
                target,
                host_header,
            })
        }
        "https" => Err(bad(
            "https is not supported by the player yet: use http:// or rtmp://",
        )),
        other => Err(bad(&format!(
            "unsupported scheme {other:?}: expected rtmp:// or http://"
        ))),
    }
}

fn with_mode(query: Option<&str>, mode: PlayMode) -> Option<String> {
    let names_mode =
        query.is_some_and(|q| q.split('&').any(|kv| kv.split('=').next() == Some("mode")));
    match (query, mode) {
        (q, PlayMode::Rtc) if !names_mode => Some(match q {
            Some(q) => format!("{q}&mode=rtc"),
            None => "mode=rtc".to_string(),
        }),
        (q, _) => q.map(str::to_string),
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtmp_urls_split_into_app_and_stream() {
        let t = parse("rtmp://example.com/live/s?txSecret=a", PlayMode::Live).unwrap();
        assert_eq!(
            t,
            Target::Rtmp {
                host: "example.com".into(),
                port: 1935,
                app: "live".into(),
                tc_url: "rtmp://example.com:1935/live".into(),
                stream: "s?txSecret=a".into(),
            }
        );
        let Target::Rtmp { app, stream, .. } =
            parse("rtmp://[::1]:1940/live/inst/s", PlayMode::Rtc).unwrap()
        else {
            panic!("not rtmp");
        };
        assert_eq!((app.as_str(), stream.as_str()), ("live/inst", "s?mode=rtc"));
    }

    #[test]
    fn http_urls_keep_path_and_query_and_add_rtc() {
        let t = parse("http://127.0.0.1:8080/live/s.flv?a=1", PlayMode::Rtc).unwrap();
        assert_eq!(
            t,
            Target::Flv {
                host: "127.0.0.1".into(),
                port: 8080,
                target: "/live/s.flv?a=1&mode=rtc".into(),
                host_header: "127.0.0.1:8080".into(),
            }
        );
        let Target::Flv { target, .. } =
            parse("http://h/live/s.flv?mode=live", PlayMode::Rtc).unwrap()
        else {
            panic!("not flv");
        };
        assert_eq!(target, "/live/s.flv?mode=live", "an explicit mode wins");
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        for (url, part) in [
            ("https://h/live/s.flv", "https is not supported"),
            ("rtmp://h/live", "app/stream"),
            ("rtmp://h:99999/live/s", "bad port"),
            ("srt://h/x", "unsupported scheme"),
            ("live/s", "no scheme"),
        ] {
            let e = parse(url, PlayMode::Live).unwrap_err().to_string();
            assert!(e.contains(part), "{url}: {e}");
        }
    }
}
