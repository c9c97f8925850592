//! The rules for names and URLs, checked before anything is written.
//!
//! App names are RTMP application names and channel/stream names end up in URLs, file names and log lines, so
//! both are restricted to characters that need no escaping anywhere.

use super::{AppPolicy, StoreError};
use crate::webhook_event::callback_url_for_log;

/// Longest app name.
pub(crate) const APP_NAME_MAX: usize = 64;
/// Longest channel or stream name.
pub(crate) const STREAM_NAME_MAX: usize = 128;
/// Longest channel title or forbid reason.
pub(crate) const TEXT_MAX: usize = 256;
/// Longest callback URL.
const URL_MAX: usize = 2048;
/// Most callback URLs per app: each event is sent to every one of them.
const URLS_MAX: usize = 16;

/// Checks an app name: 1–64 characters of `[A-Za-z0-9_-]`, and not shaped like an app id.
pub(crate) fn app_name(name: &str) -> Result<(), StoreError> {
    name_chars("app name", name, APP_NAME_MAX, |c| {
        c.is_ascii_alphanumeric() || c == '_' || c == '-'
    })?;
    // Lookups accept a name or an id; forbidding id-shaped names keeps that unambiguous.
    if looks_like_app_id(name) {
        return Err(invalid(
            "app name",
            name,
            "it has the form of an app id (app_ and 16 hex digits), which would make lookups ambiguous".into(),
        ));
    }
    Ok(())
}

/// Checks a channel or stream name: 1–128 characters of `[A-Za-z0-9_.-]`.
pub(crate) fn stream_name(what: &'static str, name: &str) -> Result<(), StoreError> {
    name_chars(what, name, STREAM_NAME_MAX, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
    })?;
    // `.` and `..` would be path components wherever a stream name becomes a file name (recordings, HLS).
    if name.chars().all(|c| c == '.') {
        return Err(invalid(what, name, "it consists of dots only".into()));
    }
    Ok(())
}

/// Checks free text (a title, a reason): at most 256 characters, no control characters.
pub(crate) fn text(what: &'static str, value: &str) -> Result<(), StoreError> {
    let len = value.chars().count();
    if len > TEXT_MAX {
        return Err(invalid(
            what,
            value,
            format!("it is {len} characters long; the limit is {TEXT_MAX}"),
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(invalid(
            what,
            value,
            format!("it contains the control character {c:?}"),
        ));
    }
    Ok(())
}

fn name_chars(
    what: &'static str,
    name: &str,
    max: usize,
    ok: impl Fn(char) -> bool,
) -> Result<(), StoreError> {
    if name.is_empty() {
        return Err(invalid(what, name, "it is empty".into()));
    }
    let len = name.chars().count();
    if len > max {
        return Err(invalid(
            what,
            name,
            format!("it is {len} characters long; the limit is {max}"),
        ));
    }
    if let Some((i, c)) = name.chars().enumerate().find(|&(_, c)| !ok(c)) {
        let allowed = if what == "app name" {
            "letters, digits, `_` and `-`"
        } else {
            "letters, digits, `_`, `-` and `.`"
        };
        return Err(invalid(
            what,
            name,
            format!("character {} is {c:?}; only {allowed} are allowed", i + 1),
        ));
    }
    Ok(())
}

/// `true` for `app_` followed by 16 lowercase hex digits.
pub(crate) fn looks_like_app_id(s: &str) -> bool {
    s.strip_prefix("app_").is_some_and(|hex| {
        hex.len() == 16 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Checks a list of callback URLs.
pub(crate) fn callback_urls(urls: &[String]) -> Result<(), StoreError> {
    if urls.len() > URLS_MAX {
        return Err(StoreError::InvalidUrl {
            url: shorten(&callback_url_for_log(&urls[URLS_MAX])),
            why: format!(
                "an app has at most {URLS_MAX} callback URLs; {} were given",
                urls.len()
            ),
        });
    }
    for (i, url) in urls.iter().enumerate() {
        callback_url(url)?;
        if urls[..i].contains(url) {
            return Err(StoreError::InvalidUrl {
                url: shorten(&callback_url_for_log(url)),
                why: "it is listed twice, so every event would be sent to it twice".into(),
            });
        }
    }
    Ok(())
}

fn callback_url(url: &str) -> Result<(), StoreError> {
    let bad = |why: String| StoreError::InvalidUrl {
        url: shorten(&callback_url_for_log(url)),
        why,
    };
    let lower = url.to_ascii_lowercase();
    let rest = if let Some(rest) = lower.strip_prefix("http://") {
        rest
    } else if let Some(rest) = lower.strip_prefix("https://") {
        rest
    } else {
        return Err(bad("it must start with http:// or https://".into()));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(bad("it has no host after the scheme".into()));
    }
    if url.len() > URL_MAX {
        return Err(bad(format!(
            "it is {} bytes long; the limit is {URL_MAX}",
            url.len()
        )));
    }
    if let Some(c) = url.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(format!("it contains {c:?}; percent-encode it")));
    }
    Ok(())
}

/// Checks the numbers of a policy.
pub(crate) fn policy(p: &AppPolicy) -> Result<(), StoreError> {
    let checks = [
        (
            "republish_grace_ms",
            p.republish_grace_ms,
            "expected 0 or more milliseconds, or unset for the server default",
        ),
        (
            "max_streams",
            p.max_streams,
            "expected 0 or more streams, or unset for no limit",
        ),
        (
            "max_players",
            p.max_players,
            "expected 0 or more players, or unset for no limit",
        ),
    ];
    for (field, value, why) in checks {
        if let Some(value) = value.filter(|v| *v < 0) {
            return Err(StoreError::InvalidPolicy { field, value, why });
        }
    }
    Ok(())
}

fn invalid(what: &'static str, value: &str, why: String) -> StoreError {
    StoreError::InvalidName {
        what,
        value: shorten(value),
        why,
    }
}

/// `s` cut to 80 characters, so that a megabyte of garbage does not end up in an error message.
fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// A database URL fit for messages and logs: the password in the authority and any `password=` query
/// parameter are replaced by `***`.
pub fn redact_db_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = url.find("://") {
        let start = scheme_end + 3;
        let authority_end = url[start..]
            .find(['/', '?', '#'])
            .map_or(url.len(), |i| start + i);
        let authority = &url[start..authority_end];
        if let Some(at) = authority.rfind('@') {
            if let Some(colon) = authority[..at].find(':') {
                out = format!("{}***{}", &url[..start + colon + 1], &url[start + at..]);
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _))
                    if k.eq_ignore_ascii_case("password")
                        || k.eq_ignore_ascii_case("sslpassword") =>
                {
                    format!("{k}=***")
                }
                _ => kv.to_owned(),
            })
            .collect();
        out = format!("{head}{}", query.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names() {
        for ok in ["live", "a", "Live_2-x", &"a".repeat(64), "app_0123"] {
            assert!(app_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a/b",
            "a.b",
            "ü",
            &"a".repeat(65),
            "app_0123456789abcdef",
            "a b",
        ] {
            let err = app_name(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    StoreError::InvalidName {
                        what: "app name",
                        ..
                    }
                ),
                "{bad}: {err}"
            );
        }
        let msg = app_name("a/b").unwrap_err().to_string();
        assert_eq!(msg, "invalid app name `a/b`: character 2 is '/'; only letters, digits, `_` and `-` are allowed");
    }

    #[test]
    fn stream_names() {
        for ok in ["s", "room-1.hd", "A_b", &"x".repeat(128)] {
            assert!(stream_name("stream name", ok).is_ok(), "{ok}");
        }
        for bad in ["", "..", ".", "a/b", "a?b", &"x".repeat(129)] {
            assert!(stream_name("stream name", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls() {
        assert!(callback_urls(&["https://h.example/hook".into(), "HTTP://h:8080".into()]).is_ok());
        for bad in [
            "ftp://h",
            "https://",
            "http:///x",
            "http://a b",
            "h.example/hook",
        ] {
            assert!(callback_urls(&[bad.into()]).is_err(), "{bad}");
        }
        let dup = callback_urls(&["http://a".into(), "http://a".into()]).unwrap_err();
        assert!(dup.to_string().contains("listed twice"), "{dup}");
        let err = callback_urls(&["ftp://user:hunter2@h/x".into()])
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn policy_numbers() {
        assert!(policy(&AppPolicy {
            max_players: Some(0),
            ..AppPolicy::default()
        })
        .is_ok());
        let err = policy(&AppPolicy {
            republish_grace_ms: Some(-1),
            ..AppPolicy::default()
        })
        .unwrap_err();
        assert!(matches!(
            err,
            StoreError::InvalidPolicy {
                field: "republish_grace_ms",
                value: -1,
                ..
            }
        ));
    }

    #[test]
    fn db_urls_lose_their_passwords() {
        assert_eq!(
            redact_db_url("postgres://u:hunter2@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_db_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact_db_url("postgres://h/db?user=u&password=hunter2&x=1"),
            "postgres://h/db?user=u&password=***&x=1"
        );
        assert_eq!(
            redact_db_url("sqlite:///tmp/a.db?mode=rwc"),
            "sqlite:///tmp/a.db?mode=rwc"
        );
        assert_eq!(
            redact_db_url("postgres://u:p@ss:w@h/db"),
            "postgres://u:***@h/db"
        );
    }

    #[test]
    fn long_values_are_shortened() {
        let err = app_name(&"x".repeat(1000)).unwrap_err().to_string();
        assert!(err.len() < 200, "{err}");
    }
}
