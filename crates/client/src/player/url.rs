//! Play URLs: `rtmp://host[:port]/app[/instance]/stream[?query]` and `http://host[:port]/path[?query]`.

use super::machine::PlayMode;
use super::PlayError;
use crate::url::{HttpUrl, RtmpUrl};

/// Where and how one attempt connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// RTMP play of `name` (the stream with its query, `mode=rtc` added as asked).
    Rtmp { url: RtmpUrl, name: String },
    /// HTTP-FLV GET (`mode=rtc` added to the query as asked).
    Flv(HttpUrl),
}

impl Target {
    /// Host and port to connect to.
    pub(crate) fn authority(&self) -> (&str, u16) {
        match self {
            Target::Rtmp { url, .. } => (&url.host, url.port),
            Target::Flv(url) => (&url.host, url.port),
        }
    }
}

/// Parses a play URL. In rtc mode `mode=rtc` is added to the query (unless it names a mode already), which is
/// how mplive's server picks its low-latency delivery.
pub(crate) fn parse(url: &str, mode: PlayMode) -> Result<Target, PlayError> {
    let bad = |why: String| PlayError::BadUrl {
        url: url.to_string(),
        why,
    };
    let scheme = url
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .ok_or_else(|| bad("no scheme: expected rtmp:// or http://".into()))?;
    match scheme.as_str() {
        "rtmp" => {
            let u = RtmpUrl::parse(url).map_err(|e| bad(e.reason))?;
            let rtc = mode == PlayMode::Rtc && !names_mode(u.query.as_deref());
            let name = u.stream_name_with(rtc.then_some("mode=rtc"));
            Ok(Target::Rtmp { url: u, name })
        }
        "http" => {
            let u = HttpUrl::parse(url).map_err(|e| bad(e.reason))?;
            let query = u.target.split_once('?').map(|(_, q)| q);
            let rtc = mode == PlayMode::Rtc && !names_mode(query);
            Ok(Target::Flv(u.with_query(rtc.then_some("mode=rtc"))))
        }
        "https" => Err(bad(
            "https is not supported by the player yet: use http:// or rtmp://".into(),
        )),
        other => Err(bad(format!(
            "unsupported scheme {other:?}: expected rtmp:// or http://"
        ))),
    }
}

/// Whether `query` names a `mode` already.
fn names_mode(query: Option<&str>) -> bool {
    query.is_some_and(|q| q.split('&').any(|kv| kv.split('=').next() == Some("mode")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtmp_urls_split_into_app_and_stream() {
        let Target::Rtmp { url, name } =
            parse("rtmp://example.com/live/s?txSecret=a", PlayMode::Live).unwrap()
        else {
            panic!("not rtmp");
        };
        assert_eq!(url.tc_url(), "rtmp://example.com:1935/live");
        assert_eq!(name, "s?txSecret=a");
        let Target::Rtmp { url, name } =
            parse("rtmp://[::1]:1940/live/inst/s", PlayMode::Rtc).unwrap()
        else {
            panic!("not rtmp");
        };
        assert_eq!(
            (url.app.as_str(), name.as_str()),
            ("live/inst", "s?mode=rtc")
        );
        let Target::Rtmp { name, .. } = parse("rtmp://h/live/s?mode=live", PlayMode::Rtc).unwrap()
        else {
            panic!("not rtmp");
        };
        assert_eq!(name, "s?mode=live", "an explicit mode wins");
    }

    #[test]
    fn http_urls_keep_path_and_query_and_add_rtc() {
        let t = parse("http://127.0.0.1:8080/live/s.flv?a=1", PlayMode::Rtc).unwrap();
        let Target::Flv(url) = t else {
            panic!("not flv");
        };
        assert_eq!(url.target, "/live/s.flv?a=1&mode=rtc");
        assert_eq!(url.host_header(), "127.0.0.1:8080");
        let Target::Flv(url) = parse("http://h/live/s.flv?mode=live", PlayMode::Rtc).unwrap()
        else {
            panic!("not flv");
        };
        assert_eq!(url.target, "/live/s.flv?mode=live", "an explicit mode wins");
        assert_eq!(url.host_header(), "h");
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
