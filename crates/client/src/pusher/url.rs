//! Push URLs: `rtmp://host[:port]/app[/instance]/stream[?query]`, split the way an RTMP publisher needs it.

use crate::pusher::PushError;

/// Port of an `rtmp://` URL without one.
pub const DEFAULT_RTMP_PORT: u16 = 1935;

/// A parsed push URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushUrl {
    /// Host as written, without IPv6 brackets.
    pub host: String,
    /// TCP port (1935 when the URL has none).
    pub port: u16,
    /// Everything between the authority and the last path segment: `live`, or `live/instance`.
    pub app: String,
    /// The last path segment.
    pub stream: String,
    /// The query after the stream name (the signature `txSecret=..&txTime=..`), without the `?`.
    pub query: Option<String>,
}

impl PushUrl {
    /// Parses `rtmp://host[:port]/app[/...]/stream[?query]`.
    pub fn parse(url: &str) -> Result<Self, PushError> {
        // The query carries the signature: errors show the URL without it.
        let shown = url.split('?').next().unwrap_or_default();
        let bad = |reason: &str| PushError::BadUrl {
            url: shown.to_string(),
            reason: reason.to_string(),
        };
        let rest = url
            .strip_prefix("rtmp://")
            .ok_or_else(|| bad("only rtmp:// URLs can be pushed"))?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q.to_string()).filter(|q| !q.is_empty())),
            None => (rest, None),
        };
        let (authority, path) = rest
            .split_once('/')
            .ok_or_else(|| bad("no /app/stream path after the host"))?;
        let (host, port) =
            crate::authority::split(authority, DEFAULT_RTMP_PORT).map_err(|r| bad(&r))?;
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
            query,
        })
    }

    /// The `tcUrl` sent in `connect`: `rtmp://host:port/app`.
    pub fn tc_url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("rtmp://{host}:{}/{}", self.port, self.app)
    }

    /// The name sent in `publish`: the stream with its query, where the server looks for the signature.
    pub fn publish_name(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.stream),
            None => self.stream.clone(),
        }
    }

    /// `app/stream`, for logs (no signature).
    pub fn path(&self) -> String {
        format!("{}/{}", self.app, self.stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_of_a_signed_url() {
        let u = PushUrl::parse("rtmp://127.0.0.1:19350/live/s1?txSecret=ab&txTime=FF").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", 19350));
        assert_eq!((u.app.as_str(), u.stream.as_str()), ("live", "s1"));
        assert_eq!(u.tc_url(), "rtmp://127.0.0.1:19350/live");
        assert_eq!(u.publish_name(), "s1?txSecret=ab&txTime=FF");
        assert_eq!(u.path(), "live/s1");
    }

    #[test]
    fn defaults_instances_and_ipv6() {
        let u = PushUrl::parse("rtmp://example.com/live/inst/s1/").unwrap();
        assert_eq!(
            (u.port, u.app.as_str(), u.stream.as_str()),
            (1935, "live/inst", "s1")
        );
        assert_eq!(u.publish_name(), "s1");
        let v6 = PushUrl::parse("rtmp://[::1]:1936/live/s?").unwrap();
        assert_eq!(
            (v6.host.as_str(), v6.port, v6.query.as_deref()),
            ("::1", 1936, None)
        );
        assert_eq!(v6.tc_url(), "rtmp://[::1]:1936/live");
    }

    #[test]
    fn errors_name_the_problem_without_the_signature() {
        for (bad, why) in [
            ("http://h/live/s", "rtmp://"),
            ("rtmp://h", "path"),
            ("rtmp://h/live", "app and a stream"),
            ("rtmp://h:x/live/s", "bad port"),
            ("rtmp://h:0/live/s", "bad port"),
            ("rtmp://h//s", "app and a stream"),
            ("rtmp:///a/s", "empty host"),
            ("rtmp://u@h/a/s", "user info"),
        ] {
            let e = PushUrl::parse(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let e = PushUrl::parse("rtmp://h/live?txSecret=SECRET")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("SECRET"), "{e}");
    }
}
