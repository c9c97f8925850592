//! Signed links to recording files: `GET /recordings/{path}?expires=UNIX&sig=HEX[&download=1]`, made by the
//! admin API's `POST /v1/recordings/url` so that a `<video>` element or a download link (which cannot send the
//! admin bearer token) can read one file for a while.
//!
//! `sig` is the hex HMAC-SHA256 over `recording\n{path}\n{expires}` (`path` as listed by `GET /v1/recordings`,
//! relative, `/`-separated, not percent-encoded) with a key derived from the admin token's hash
//! ([`control::AdminAuth::derived_key`]): no new secret to keep, and changing the admin token revokes every link.
//! `download=1` only turns `Content-Disposition` from `inline` into `attachment`; it is not signed (anyone holding
//! a link can save the bytes anyway), so one signed link serves both the player and the download button.
//!
//! The prefix `/recordings/` is shared with the playback routes of an app that would be named `recordings`: a
//! request there that carries neither `sig` nor `expires` is handed to the playback routes unchanged (HLS and
//! HTTP-FLV plays use `txSecret`/`txTime`, never these names), so such an app keeps working.
//!
//! The file is streamed from disk (never read whole), with `Accept-Ranges: bytes` and single `Range`s.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tower::ServiceExt;

use crate::http::api::error::{code, ApiError};
use crate::Shared;

/// Where the links point.
pub(crate) const PREFIX: &str = "/recordings/";
/// What the signing key is derived for (changing it revokes every link).
const KEY_LABEL: &str = "mplive recording links v1";
/// Default validity of a link, seconds.
pub(crate) const TTL_DEFAULT: u64 = 3600;
/// Longest validity of a link, seconds.
pub(crate) const TTL_MAX: u64 = 86_400;

/// The key the links are signed with.
pub(crate) fn key(shared: &Shared) -> [u8; 32] {
    shared.admin.derived_key(KEY_LABEL)
}

/// Seconds since the Unix epoch.
pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn mac(key: &[u8], path: &str, expires: u64) -> Hmac<Sha256> {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(format!("recording\n{path}\n{expires}").as_bytes());
    mac
}

/// The hex signature of `path` until `expires`.
pub(crate) fn sign(key: &[u8], path: &str, expires: u64) -> String {
    mac(key, path, expires)
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The URL (path and query) of a signed link.
pub(crate) fn link(key: &[u8], path: &str, expires: u64) -> String {
    format!(
        "{PREFIX}{}?expires={expires}&sig={}",
        encode_path(path),
        sign(key, path, expires)
    )
}

/// Why a link is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkError {
    /// No `expires` or no `sig`.
    Missing,
    /// `expires` is not a number or `sig` not 64 hex digits.
    Malformed,
    /// The signature is not this server's for this path and expiry.
    BadSignature,
    /// The link's time is over.
    Expired,
}

impl LinkError {
    fn message(self) -> &'static str {
        match self {
            LinkError::Missing => "the recording link has no `expires` and `sig`: get one from POST /v1/recordings/url",
            LinkError::Malformed => "the recording link's `expires` or `sig` is malformed",
            LinkError::BadSignature => "the recording link's signature is wrong (changed, or the admin token changed)",
            LinkError::Expired => "the recording link has expired: get a new one from POST /v1/recordings/url",
        }
    }
}

/// Checks `sig` (hex) for `path` and `expires` (its query text) at `now`: signature first, in constant time.
pub(crate) fn verify(
    key: &[u8],
    path: &str,
    expires: Option<&str>,
    sig: Option<&str>,
    now: u64,
) -> Result<(), LinkError> {
    let (Some(expires), Some(sig)) = (expires, sig) else {
        return Err(LinkError::Missing);
    };
    if expires.is_empty() || !expires.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LinkError::Malformed);
    }
    let expires: u64 = expires.parse().map_err(|_| LinkError::Malformed)?;
    let sig = decode_hex(sig).ok_or(LinkError::Malformed)?;
    if sig.len() != 32 {
        return Err(LinkError::Malformed);
    }
    mac(key, path, expires)
        .verify_slice(&sig)
        .map_err(|_| LinkError::BadSignature)?;
    if expires < now {
        return Err(LinkError::Expired);
    }
    Ok(())
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A recording's format, from its file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    Mp4,
    Flv,
}

impl FileKind {
    fn content_type(self) -> &'static str {
        match self {
            FileKind::Mp4 => "video/mp4",
            FileKind::Flv => "video/x-flv",
        }
    }
}

/// Checks a relative recording path as `GET /v1/recordings` lists it: not empty, not absolute, no `.`/`..`/empty
/// component, no backslash or NUL, and a `.mp4` or `.flv` file (what the recorder writes).
pub(crate) fn check_path(path: &str) -> Result<FileKind, &'static str> {
    if path.is_empty() {
        return Err("is empty");
    }
    if path.starts_with('/') {
        return Err(
            "must be relative to the recordings directory (as GET /v1/recordings lists it)",
        );
    }
    if path.contains('\\') || path.contains('\0') {
        return Err("must not contain a backslash or NUL");
    }
    if path.split('/').any(|c| c == "..") {
        return Err("must not contain `..`");
    }
    if path.split('/').any(|c| c.is_empty() || c == ".") {
        return Err("must not contain empty or `.` components");
    }
    if path.ends_with(".mp4") {
        Ok(FileKind::Mp4)
    } else if path.ends_with(".flv") {
        Ok(FileKind::Flv)
    } else {
        Err("is not a recording file (`.mp4` or `.flv`)")
    }
}

/// Where resolving a recording path ends.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// The file, canonical, inside the recordings directory.
    File(PathBuf),
    /// No such file.
    Missing,
    /// It resolves (through a symlink) outside the recordings directory.
    Outside,
}

/// Resolves `relative` (already [`check_path`]ed) under `dir`, symlinks followed, and makes sure it stays inside.
pub(crate) async fn resolve(dir: &Path, relative: &str) -> Resolved {
    let Ok(root) = tokio::fs::canonicalize(dir).await else {
        return Resolved::Missing;
    };
    let Ok(full) = tokio::fs::canonicalize(root.join(relative)).await else {
        return Resolved::Missing;
    };
    if !full.starts_with(&root) {
        return Resolved::Outside;
    }
    match tokio::fs::metadata(&full).await {
        Ok(meta) if meta.is_file() => Resolved::File(full),
        _ => Resolved::Missing,
    }
}

/// Percent-encodes everything but unreserved characters and `/`.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; `None` for a broken escape or bytes that are not UTF-8.
fn decode_path(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The value of the query parameter `name` (the first one).
fn param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then_some(v)
    })
}

/// Whether a request for `path?query` is for a recording link rather than an app named `recordings`.
pub(crate) fn is_signed_link(path: &str, query: Option<&str>) -> bool {
    path.starts_with(PREFIX) && (param(query, "sig").is_some() || param(query, "expires").is_some())
}

/// What a `Range` header asks of a file of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByteRange {
    /// The whole file (no header, a multi-range or a header this server ignores).
    Full,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// Nothing of the file: 416.
    Unsatisfiable,
}

/// Parses a single `bytes=a-b`, `bytes=a-` or `bytes=-n`. Anything else (other units, several ranges, bad
/// syntax) is ignored and the whole file is served, as RFC 9110 allows.
pub(crate) fn parse_range(header: Option<&str>, len: u64) -> ByteRange {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return ByteRange::Full;
    };
    if spec.contains(',') {
        return ByteRange::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return ByteRange::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return ByteRange::Full;
        };
        if n == 0 || len == 0 {
            return ByteRange::Unsatisfiable;
        }
        return ByteRange::Part(len - n.min(len), len - 1);
    }
    let Ok(start) = a.parse::<u64>() else {
        return ByteRange::Full;
    };
    let end = if b.is_empty() {
        u64::MAX
    } else {
        match b.parse::<u64>() {
            Ok(end) if end >= start => end,
            _ => return ByteRange::Full,
        }
    };
    if start >= len {
        return ByteRange::Unsatisfiable;
    }
    ByteRange::Part(start, end.min(len - 1))
}

fn refuse(code: u32, message: impl Into<String>) -> Response {
    ApiError::new(code, message).into_response()
}

/// `GET /recordings/{*path}`: a signed link's file, or (without `sig` and `expires`) the playback routes of an
/// app named `recordings`.
pub(crate) async fn serve(shared: Arc<Shared>, req: Request, playback: Router) -> Response {
    let query = req.uri().query().map(str::to_owned);
    let raw = req.uri().path().to_owned();
    if !is_signed_link(&raw, query.as_deref()) {
        return match playback.oneshot(fresh(req)).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        };
    }
    let query = query.as_deref();
    let Some(path) = raw.strip_prefix(PREFIX).and_then(decode_path) else {
        return refuse(
            code::BAD_JSON,
            "the recording path is not valid percent-encoded UTF-8",
        );
    };
    let kind = match check_path(&path) {
        Ok(kind) => kind,
        Err(why) => return refuse(code::FORBIDDEN, format!("the recording path {why}")),
    };
    if let Err(e) = verify(
        &key(&shared),
        &path,
        param(query, "expires"),
        param(query, "sig"),
        now_unix(),
    ) {
        return refuse(code::FORBIDDEN, e.message());
    }
    let full = match resolve(shared.recordings.dir(), &path).await {
        Resolved::File(full) => full,
        Resolved::Missing => {
            return refuse(code::NOT_FOUND, "the recording no longer exists");
        }
        Resolved::Outside => {
            return refuse(
                code::FORBIDDEN,
                "the recording path leads outside the recordings directory",
            );
        }
    };
    let download = param(query, "download") == Some("1");
    send_file(&full, kind, download, req.headers()).await
}

/// `req` without what this route's match left in it (its `{*path}` parameter would be added to the playback
/// route's own): the same method, URI, version, headers, body and peer address.
fn fresh(req: Request) -> Request {
    let (parts, body) = req.into_parts();
    let mut out = Request::new(body);
    *out.method_mut() = parts.method;
    *out.uri_mut() = parts.uri;
    *out.version_mut() = parts.version;
    *out.headers_mut() = parts.headers;
    if let Some(peer) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        out.extensions_mut().insert(*peer);
    }
    out
}

async fn send_file(full: &Path, kind: FileKind, download: bool, headers: &HeaderMap) -> Response {
    let Ok(mut file) = tokio::fs::File::open(full).await else {
        return refuse(code::NOT_FOUND, "the recording no longer exists");
    };
    let len = match file.metadata().await {
        Ok(meta) => meta.len(),
        Err(_) => return refuse(code::NOT_FOUND, "the recording no longer exists"),
    };
    let range = parse_range(
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        len,
    );
    let (status, start, count) = match range {
        ByteRange::Full => (StatusCode::OK, 0, len),
        ByteRange::Part(start, end) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        ByteRange::Unsatisfiable => {
            let mut resp = refuse(
                code::RANGE_NOT_SATISFIABLE,
                format!("the range is outside the file's {len} bytes"),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return resp;
        }
    };
    if start > 0 && file.seek(std::io::SeekFrom::Start(start)).await.is_err() {
        return refuse(code::INTERNAL, "cannot read the recording");
    }
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file.take(count)));
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(kind.content_type()),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", start + count - 1))
        {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    let name: String = full
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = if download { "attachment" } else { "inline" };
    if let Ok(v) = HeaderValue::from_str(&format!("{disposition}; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn signatures_check_path_expiry_and_key() {
        let sig = sign(KEY, "live/cam/a.mp4", 1000);
        assert_eq!(sig.len(), 64);
        let ok =
            |path: &str, exp: &str, sig: &str, now| verify(KEY, path, Some(exp), Some(sig), now);
        assert_eq!(ok("live/cam/a.mp4", "1000", &sig, 999), Ok(()));
        assert_eq!(ok("live/cam/a.mp4", "1000", &sig, 1000), Ok(()));
        assert_eq!(
            ok("live/cam/a.mp4", "1000", &sig, 1001),
            Err(LinkError::Expired)
        );
        assert_eq!(
            ok("live/cam/b.mp4", "1000", &sig, 0),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            ok("live/cam/a.mp4", "1001", &sig, 0),
            Err(LinkError::BadSignature)
        );
        assert_eq!(ok("live/cam/a.mp4", "1000", &sig.to_uppercase(), 0), Ok(()));
        let mut tampered = sig.clone().into_bytes();
        tampered[0] = if tampered[0] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(
            ok("live/cam/a.mp4", "1000", &tampered, 0),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            verify(
                b"another key",
                "live/cam/a.mp4",
                Some("1000"),
                Some(&sig),
                0
            ),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            ok("live/cam/a.mp4", "1000", &sig[..62], 0),
            Err(LinkError::Malformed)
        );
        assert_eq!(
            ok("live/cam/a.mp4", "-1", &sig, 0),
            Err(LinkError::Malformed)
        );
        assert_eq!(
            ok("live/cam/a.mp4", "1000", "zz", 0),
            Err(LinkError::Malformed)
        );
        assert_eq!(
            verify(KEY, "a.mp4", None, Some(&sig), 0),
            Err(LinkError::Missing)
        );
        assert_eq!(
            verify(KEY, "a.mp4", Some("1"), None, 0),
            Err(LinkError::Missing)
        );
    }

    #[test]
    fn links_encode_the_path_and_are_recognized() {
        let url = link(KEY, "live/c m/a.mp4", 5);
        assert!(
            url.starts_with("/recordings/live/c%20m/a.mp4?expires=5&sig="),
            "{url}"
        );
        assert_eq!(
            decode_path("live/c%20m/a.mp4").as_deref(),
            Some("live/c m/a.mp4")
        );
        assert_eq!(decode_path("a%2"), None);
        assert_eq!(decode_path("a%zz"), None);
        assert!(is_signed_link(
            "/recordings/a.flv",
            Some("expires=1&sig=ab")
        ));
        assert!(is_signed_link("/recordings/a.flv", Some("sig=ab")));
        assert!(!is_signed_link("/recordings/a.flv", None));
        assert!(!is_signed_link(
            "/recordings/a.flv",
            Some("txSecret=a&txTime=b")
        ));
        assert!(!is_signed_link("/live/a.flv", Some("expires=1&sig=ab")));
        assert_eq!(param(Some("download=1&sig=x"), "download"), Some("1"));
    }

    #[test]
    fn paths_are_relative_recording_files() {
        assert_eq!(
            check_path("live/cam/20260101-000000.mp4"),
            Ok(FileKind::Mp4)
        );
        assert_eq!(check_path("cam.flv"), Ok(FileKind::Flv));
        for bad in [
            "",
            "/etc/passwd.mp4",
            "../x.mp4",
            "live/../../x.mp4",
            "live/..",
            "a\\b.mp4",
            "a\0.mp4",
            "live//a.mp4",
            "./a.mp4",
            "live/a.txt",
            "live/a.mp4/",
            "durations.json",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ranges() {
        use ByteRange::*;
        assert_eq!(parse_range(None, 10), Full);
        assert_eq!(parse_range(Some("bytes=0-4"), 10), Part(0, 4));
        assert_eq!(parse_range(Some("bytes=5-"), 10), Part(5, 9));
        assert_eq!(parse_range(Some("bytes=5-100"), 10), Part(5, 9));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Part(7, 9));
        assert_eq!(parse_range(Some("bytes=-30"), 10), Part(0, 9));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=4-2"), 10), Full);
        assert_eq!(parse_range(Some("bytes=0-1,3-4"), 10), Full);
        assert_eq!(parse_range(Some("items=0-1"), 10), Full);
        assert_eq!(parse_range(Some("bytes=x-1"), 10), Full);
    }

    #[tokio::test]
    async fn symlinks_out_of_the_directory_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.mp4"), b"x").unwrap();
        std::fs::create_dir(dir.path().join("live")).unwrap();
        std::fs::write(dir.path().join("live/in.mp4"), b"y").unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.mp4"),
            dir.path().join("live/out.mp4"),
        )
        .unwrap();
        assert!(matches!(
            resolve(dir.path(), "live/in.mp4").await,
            Resolved::File(_)
        ));
        assert_eq!(resolve(dir.path(), "live/out.mp4").await, Resolved::Outside);
        assert_eq!(
            resolve(dir.path(), "live/none.mp4").await,
            Resolved::Missing
        );
        assert_eq!(resolve(dir.path(), "live").await, Resolved::Missing);
    }
}
