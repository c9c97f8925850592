//! The URLs mplive hands out: push URLs signed Tencent-style (see [`crate::txsecret`]) and play URLs for RTMP,
//! HTTP-FLV and HLS, plus [`parse_duration`] for the lifetimes people type (`--expires 2h`). Pure; expiry times
//! are arguments.
//!
//! App and stream names are put into URLs as they are: the catalog only admits URL-safe names, and the signature
//! covers the stream name exactly as written, so escaping it here would break the check.
//!
//! ```
//! use control::urls::{push_url, UrlBase};
//!
//! let base = UrlBase { host: "live.example.com".into(), rtmp_port: 1935, http_port: 8080, https: false };
//! let url = push_url(&base, "live", "cam-1", "push key", 0x6553_f100);
//! assert!(url.starts_with("rtmp://live.example.com/live/cam-1?txSecret="));
//! assert!(url.ends_with("&txTime=6553f100"));
//! ```

use std::time::Duration;

use serde::Serialize;

use crate::txsecret::sign_query;

/// The RTMP port players and encoders assume when a URL names none.
const DEFAULT_RTMP_PORT: u16 = 1935;
const DEFAULT_HTTP_PORT: u16 = 80;
const DEFAULT_HTTPS_PORT: u16 = 443;

/// Where clients reach this server from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlBase {
    /// The public host name or IP address, without a port. A bare IPv6 address is bracketed in URLs.
    pub host: String,
    /// The public RTMP port; left out of URLs when it is 1935.
    pub rtmp_port: u16,
    /// The public HTTP(S) port; left out of URLs when it is the scheme's default (80 or 443).
    pub http_port: u16,
    /// Whether HTTP-FLV and HLS URLs use `https`.
    pub https: bool,
}

impl UrlBase {
    fn host(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }

    fn rtmp_authority(&self) -> String {
        authority(self.host(), self.rtmp_port, DEFAULT_RTMP_PORT)
    }

    fn http_origin(&self) -> String {
        let (scheme, default) = if self.https {
            ("https", DEFAULT_HTTPS_PORT)
        } else {
            ("http", DEFAULT_HTTP_PORT)
        };
        format!(
            "{scheme}://{}",
            authority(self.host(), self.http_port, default)
        )
    }
}

fn authority(host: String, port: u16, default: u16) -> String {
    if port == default {
        host
    } else {
        format!("{host}:{port}")
    }
}

/// `rtmp://host[:port]/app/stream?txSecret=...&txTime=HEX`, signed with the app's `push_key` and valid until
/// `expires_unix` (Unix seconds).
pub fn push_url(
    base: &UrlBase,
    app: &str,
    stream: &str,
    push_key: &str,
    expires_unix: u64,
) -> String {
    format!(
        "{}?{}",
        unsigned_push_url(base, app, stream),
        sign_query(push_key, stream, expires_unix)
    )
}

/// `rtmp://host[:port]/app/stream` without a signature, for apps that do not require one.
pub fn unsigned_push_url(base: &UrlBase, app: &str, stream: &str) -> String {
    format!("rtmp://{}/{app}/{stream}", base.rtmp_authority())
}

/// WHIP (a browser publishing over WebRTC): `http(s)://host[:port]/app/stream/whip`, with the push signature of
/// `push_url` when `push_key = Some((key, expires_unix))` (the app's push auth is on). A page may instead send an
/// app token as `Authorization: Bearer` to the unsigned URL.
pub fn whip_url(base: &UrlBase, app: &str, stream: &str, push_key: Option<(&str, u64)>) -> String {
    let query = push_key
        .map(|(key, expires)| format!("?{}", sign_query(key, stream, expires)))
        .unwrap_or_default();
    format!("{}/{app}/{stream}/whip{query}", base.http_origin())
}

/// The play URLs of one stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlayUrls {
    /// `rtmp://host[:port]/app/stream`.
    pub rtmp: String,
    /// HTTP-FLV: `http(s)://host[:port]/app/stream.flv`.
    pub flv: String,
    /// HLS: `http(s)://host[:port]/app/stream.m3u8`.
    pub hls: String,
    /// Low-latency HLS: `http(s)://host[:port]/app/stream/ll.m3u8`.
    #[serde(rename = "llHls")]
    pub ll_hls: String,
    /// WebRTC (WHEP): `http(s)://host[:port]/app/stream/whep`, where a browser `POST`s its SDP offer (served
    /// while the server's `[webrtc]` is enabled, the default).
    pub whep: String,
}

/// What an app hands out for one stream: the push URL (signed when the app's push auth is on) and the play URLs
/// (signed when its play auth is on), valid until `expires_unix`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppUrls {
    /// The RTMP push URL.
    pub push: String,
    /// The play URLs.
    pub play: PlayUrls,
}

/// The URLs of `stream` of `app`, signed as the app's policy asks.
pub fn app_urls(base: &UrlBase, app: &crate::App, stream: &str, expires_unix: u64) -> AppUrls {
    let push = if app.policy.push_auth {
        push_url(base, &app.name, stream, &app.push_key, expires_unix)
    } else {
        unsigned_push_url(base, &app.name, stream)
    };
    let play_key = app
        .policy
        .play_auth
        .then_some((app.play_key.as_str(), expires_unix));
    AppUrls {
        push,
        play: play_urls(base, &app.name, stream, play_key),
    }
}

/// The RTMP, HTTP-FLV, HLS, LL-HLS and WHEP URLs of `stream`. With `play_key = Some((key, expires_unix))` each carries
/// `?txSecret=...&txTime=...` signed for the stream name (without `.flv` or `.m3u8`, as Tencent signs play URLs).
pub fn play_urls(
    base: &UrlBase,
    app: &str,
    stream: &str,
    play_key: Option<(&str, u64)>,
) -> PlayUrls {
    let query = play_key
        .map(|(key, expires)| format!("?{}", sign_query(key, stream, expires)))
        .unwrap_or_default();
    let http = base.http_origin();
    PlayUrls {
        rtmp: format!("rtmp://{}/{app}/{stream}{query}", base.rtmp_authority()),
        flv: format!("{http}/{app}/{stream}.flv{query}"),
        hls: format!("{http}/{app}/{stream}.m3u8{query}"),
        ll_hls: format!("{http}/{app}/{stream}/ll.m3u8{query}"),
        whep: format!("{http}/{app}/{stream}/whep{query}"),
    }
}

/// Parses a lifetime: a whole number with an optional unit `s`, `m`, `h` or `d` (`90s`, `15m`, `2h`, `1d`); a bare
/// number is seconds (`3600`). The error names the value and the accepted forms.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let text = s.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let unit_secs: u64 = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 60 * 60,
        "d" => 24 * 60 * 60,
        _ => 0,
    };
    if digits.is_empty() || unit_secs == 0 {
        return Err(format!(
            "invalid duration {s:?}: expected a whole number with an optional unit s, m, h or d \
             (e.g. 90s, 15m, 2h, 1d; a bare number is seconds)"
        ));
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_secs))
        .map(Duration::from_secs)
        .ok_or_else(|| format!("duration {s:?} is too long: at most {} seconds", u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txsecret;

    fn base(rtmp_port: u16, http_port: u16, https: bool) -> UrlBase {
        UrlBase {
            host: "live.example.com".into(),
            rtmp_port,
            http_port,
            https,
        }
    }

    /// The stream name and query of an mplive URL, as the server would see them.
    fn stream_and_query(url: &str) -> (&str, Option<&str>) {
        let (path, query) = match url.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (url, None),
        };
        let name = path.rsplit('/').next().unwrap_or_default();
        let name = name.split_once('.').map_or(name, |(n, _)| n);
        (name, query)
    }

    #[test]
    fn push_url_omits_the_default_port_and_verifies() {
        let url = push_url(&base(1935, 80, false), "live", "cam-1", "key", 1_000);
        assert_eq!(
            url,
            format!(
                "rtmp://live.example.com/live/cam-1?{}",
                txsecret::sign_query("key", "cam-1", 1_000)
            )
        );
        assert!(url.ends_with("&txTime=000003e8"));
        let (stream, query) = stream_and_query(&url);
        assert_eq!(stream, "cam-1");
        assert_eq!(
            txsecret::verify("key", stream, query, 1_000, u64::MAX),
            Ok(())
        );
        assert!(txsecret::verify("other key", stream, query, 0, u64::MAX).is_err());
        assert!(txsecret::verify("key", "cam-2", query, 0, u64::MAX).is_err());

        let url = push_url(&base(19350, 80, false), "live", "cam-1", "key", 1_000);
        assert!(
            url.starts_with("rtmp://live.example.com:19350/live/cam-1?txSecret="),
            "{url}"
        );
    }

    #[test]
    fn unsigned_push_url_and_ipv6() {
        assert_eq!(
            unsigned_push_url(&base(1935, 80, false), "live", "s"),
            "rtmp://live.example.com/live/s"
        );
        let v6 = UrlBase {
            host: "2001:db8::1".into(),
            ..base(1936, 8080, false)
        };
        assert_eq!(
            unsigned_push_url(&v6, "a", "s"),
            "rtmp://[2001:db8::1]:1936/a/s"
        );
        let bracketed = UrlBase {
            host: "[2001:db8::1]".into(),
            ..v6
        };
        assert_eq!(
            play_urls(&bracketed, "a", "s", None).flv,
            "http://[2001:db8::1]:8080/a/s.flv"
        );
    }

    #[test]
    fn play_urls_unsigned_and_default_ports() {
        assert_eq!(
            play_urls(&base(1935, 80, false), "live", "cam-1", None),
            PlayUrls {
                rtmp: "rtmp://live.example.com/live/cam-1".into(),
                flv: "http://live.example.com/live/cam-1.flv".into(),
                hls: "http://live.example.com/live/cam-1.m3u8".into(),
                ll_hls: "http://live.example.com/live/cam-1/ll.m3u8".into(),
                whep: "http://live.example.com/live/cam-1/whep".into(),
            }
        );
        let https = play_urls(&base(1935, 443, true), "live", "cam-1", None);
        assert_eq!(https.flv, "https://live.example.com/live/cam-1.flv");
        // 80 is not the default of https, nor 443 of http.
        assert_eq!(
            play_urls(&base(1935, 80, true), "a", "s", None).hls,
            "https://live.example.com:80/a/s.m3u8"
        );
        assert_eq!(
            play_urls(&base(1935, 443, false), "a", "s", None).hls,
            "http://live.example.com:443/a/s.m3u8"
        );
    }

    #[test]
    fn signed_play_urls_verify_for_the_stream_name() {
        let urls = play_urls(
            &base(1936, 8080, false),
            "live",
            "cam-1",
            Some(("play key", 5_000)),
        );
        assert!(urls
            .rtmp
            .starts_with("rtmp://live.example.com:1936/live/cam-1?txSecret="));
        assert!(urls
            .flv
            .starts_with("http://live.example.com:8080/live/cam-1.flv?txSecret="));
        assert!(urls
            .hls
            .starts_with("http://live.example.com:8080/live/cam-1.m3u8?txSecret="));
        assert!(urls
            .whep
            .starts_with("http://live.example.com:8080/live/cam-1/whep?txSecret="));
        // The WHEP URL names the stream before `/whep`, signed as the others.
        assert_eq!(
            urls.whep.split_once('?').map(|(_, q)| q),
            urls.flv.split_once('?').map(|(_, q)| q)
        );
        for url in [&urls.rtmp, &urls.flv, &urls.hls] {
            let (stream, query) = stream_and_query(url);
            assert_eq!(stream, "cam-1");
            assert_eq!(
                txsecret::verify("play key", stream, query, 5_000, u64::MAX),
                Ok(()),
                "{url}"
            );
        }
    }

    #[test]
    fn play_urls_serialize_with_plain_field_names() {
        let json = serde_json::to_value(play_urls(&base(1935, 80, false), "a", "s", None)).unwrap();
        assert_eq!(json["rtmp"], "rtmp://live.example.com/a/s");
        assert_eq!(json["flv"], "http://live.example.com/a/s.flv");
        assert_eq!(json["hls"], "http://live.example.com/a/s.m3u8");
        assert_eq!(json["llHls"], "http://live.example.com/a/s/ll.m3u8");
    }

    #[test]
    fn durations() {
        for (text, secs) in [
            ("90s", 90),
            ("15m", 900),
            ("2h", 7_200),
            ("1d", 86_400),
            ("3600", 3_600),
            ("0", 0),
            (" 5m ", 300),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
        for bad in [
            "", "s", "1.5h", "-1s", "10 m", "10M", "1w", "1h30m", "abc", "ms",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
            assert!(err.contains("90s, 15m, 2h, 1d"), "{err}");
        }
        let err = parse_duration("99999999999999999999d").unwrap_err();
        assert!(err.contains("too long"), "{err}");
        assert!(parse_duration("213503982334602d")
            .unwrap_err()
            .contains("too long"));
        assert_eq!(
            parse_duration("18446744073709551615"),
            Ok(Duration::from_secs(u64::MAX))
        );
    }
}
