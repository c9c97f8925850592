//! Webhook payloads: the JSON bodies mplive POSTs to an app's callback URL when streams start, stop, are played or
//! refused. Pure: the clock is an argument and nothing is sent from here (delivery is the outbox's job).
//!
//! Push start and push end bodies carry the fields of Tencent CSS's stream callbacks (`event_type` 1 and 0,
//! `stream_id`, `sequence`, `t`, `sign`, ...), so a receiver written for Tencent works unchanged; stream anomalies carry
//! those of Tencent's push anomaly callback (`event_type` 321, `abnormal_event`, see [`Anomaly`]); mplive's own events
//! use `event_type` 1001 and up and the same fields. Every body also has `event`, the event's name. The full
//! description for receivers is `docs/webhooks.md`.
//!
//! ```
//! use control::webhook_event::{body, verify_sign, EventKind, StreamEvent};
//!
//! let mut event = StreamEvent::new(EventKind::PushStart, "live", "cam-1", 1_700_000_000);
//! event.stream_param = "txSecret=0123abcd&txTime=6553f100".into();
//! let json = body(&event, "callback key", 1_700_000_000);
//! assert_eq!(json["event_type"], 1);
//! assert_eq!(json["stream_param"], "txSecret=***&txTime=6553f100");
//! let (sign, t) = (json["sign"].as_str().unwrap_or_default(), json["t"].as_u64().unwrap_or_default());
//! assert!(verify_sign("callback key", sign, t, 1_700_000_000));
//! ```

use std::fmt;

use serde_json::{Map, Value};

use crate::txsecret::{eq_ignore_case_constant_time, md5_hex};

mod anomaly;
pub use anomaly::{abnormal_type, type_desc, Anomaly, AnomalyState};

/// How long a body's `sign` stays valid: `t` is the send time plus this many seconds, as Tencent does.
pub const SIGN_VALIDITY_SECS: u64 = 600;

/// Query parameters whose values are credentials and are replaced by `***` in `stream_param`: the URL signature
/// (valid until `txTime`, and the receiver has no use for it) and an SDK access token passed in the URL. Compared
/// without regard to case, since over-redacting is harmless and leaking is not.
const REDACTED_PARAMS: [&str; 2] = ["txSecret", "token"];

/// Longest `stream_param` kept and sent, in bytes. A URL query is the client's to choose, and every event stores
/// and posts it to every callback URL: unbounded, one 30 KB query makes every `play_start` a 30 KB row.
pub const STREAM_PARAM_MAX_BYTES: usize = 1024;

/// What happened to a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A publisher started pushing (Tencent `event_type` 1).
    PushStart,
    /// A publisher stopped pushing, for any reason (Tencent `event_type` 0).
    PushEnd,
    /// A player started playing (1001).
    PlayStart,
    /// A player stopped playing (1002).
    PlayStop,
    /// A new publisher replaced the current one on the same stream (1003).
    Republish,
    /// An operator or the API kicked a publisher off (1004).
    Kick,
    /// A publish attempt was refused before it started; `errcode` says why (1005).
    PushRefused,
    /// A recording file was closed (Tencent `event_type` 100); the body carries [`RecordFile`]'s fields.
    RecordDone,
    /// A health rule's episode started or ended (Tencent's push anomaly, `event_type` 321); the body carries
    /// [`Anomaly`]'s fields.
    StreamAnomaly,
}

impl EventKind {
    /// The `event` field: `push_start`, `push_end`, `play_start`, `play_stop`, `republish`, `kick`, `push_refused`,
    /// `record_done`, `stream_anomaly`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::PushStart => "push_start",
            EventKind::PushEnd => "push_end",
            EventKind::PlayStart => "play_start",
            EventKind::PlayStop => "play_stop",
            EventKind::Republish => "republish",
            EventKind::Kick => "kick",
            EventKind::PushRefused => "push_refused",
            EventKind::RecordDone => "record_done",
            EventKind::StreamAnomaly => "stream_anomaly",
        }
    }

    /// The `event_type` field: Tencent's numbers for push start (1), end (0), record done (100) and stream anomaly
    /// (321), 1001 to 1005 for mplive's own.
    pub fn event_type(self) -> u32 {
        match self {
            EventKind::PushStart => 1,
            EventKind::PushEnd => 0,
            EventKind::PlayStart => 1001,
            EventKind::PlayStop => 1002,
            EventKind::Republish => 1003,
            EventKind::Kick => 1004,
            EventKind::PushRefused => 1005,
            EventKind::RecordDone => 100,
            EventKind::StreamAnomaly => 321,
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event about one stream, as the server reports it. [`body`] turns it into the JSON that is sent.
///
/// `Debug` shows `stream_param` with its credentials masked, like the body does.
#[derive(Clone, PartialEq, Eq)]
pub struct StreamEvent {
    /// What happened.
    pub kind: EventKind,
    /// The app name (`appname` and `app` in the body).
    pub app: String,
    /// The stream name (`stream_id` and `channel_id`).
    pub stream: String,
    /// When it happened, Unix seconds.
    pub event_time: u64,
    /// Identifies one publish session: the same on its push start, push end and anything between, so a receiver can
    /// pair them.
    pub sequence: String,
    /// The publisher's IP address (for play events, still the publisher's if known, else empty).
    pub user_ip: String,
    /// The URL query as the client sent it, cut to [`STREAM_PARAM_MAX_BYTES`] by [`body`] (see
    /// [`cap_stream_param`]); [`body`] and `Debug` mask credential values (`txSecret`, `token`) as `***`.
    pub stream_param: String,
    /// How long the push lasted, milliseconds; sent on push end only (0 there if `None`).
    pub push_duration_ms: Option<u64>,
    /// 0 for a normal event, else a code from [`errcode`].
    pub errcode: i64,
    /// A human-readable explanation of `errcode`; empty when it is 0.
    pub errmsg: String,
    /// Video width in pixels, when known (sent as 0 otherwise).
    pub width: Option<u32>,
    /// Video height in pixels, when known (sent as 0 otherwise).
    pub height: Option<u32>,
    /// For play events: `rtmp`, `flv` or `hls`; sent only when set.
    pub protocol: Option<String>,
    /// For play events: the player's IP address; sent only when set.
    pub player_ip: Option<String>,
    /// For record done: the file; its fields are sent only when set.
    pub record: Option<RecordFile>,
    /// For a stream anomaly: the episode; its fields are sent only when set.
    pub anomaly: Option<Anomaly>,
}

/// A closed recording file, as reported by [`EventKind::RecordDone`] (Tencent's recording callback fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFile {
    /// Path relative to the recordings directory, `/`-separated.
    pub file_path: String,
    /// `mp4` or `flv`.
    pub file_format: String,
    /// Seconds of media in the file.
    pub duration: u64,
    /// Bytes.
    pub file_size: u64,
    /// When the file was started, Unix seconds.
    pub start_time: u64,
    /// When the file was closed, Unix seconds.
    pub end_time: u64,
}

impl StreamEvent {
    /// An event with the given kind, app, stream and time, and every other field empty, zero or `None`.
    pub fn new(kind: EventKind, app: &str, stream: &str, event_time: u64) -> Self {
        StreamEvent {
            kind,
            app: app.to_owned(),
            stream: stream.to_owned(),
            event_time,
            sequence: String::new(),
            user_ip: String::new(),
            stream_param: String::new(),
            push_duration_ms: None,
            errcode: errcode::OK,
            errmsg: String::new(),
            width: None,
            height: None,
            protocol: None,
            player_ip: None,
            record: None,
            anomaly: None,
        }
    }
}

impl StreamEvent {
    /// With `errcode` and `errmsg` set.
    pub fn with_error(mut self, errcode: i64, errmsg: &str) -> Self {
        self.errcode = errcode;
        self.errmsg = errmsg.to_owned();
        self
    }

    /// For a play event: the protocol and the player's address (the publisher's `user_ip` is left empty).
    pub fn with_player(mut self, protocol: &str, player_ip: &str) -> Self {
        self.protocol = Some(protocol.to_owned());
        self.player_ip = Some(player_ip.to_owned());
        self.user_ip.clear();
        self
    }
}

impl fmt::Debug for StreamEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamEvent")
            .field("kind", &self.kind)
            .field("app", &self.app)
            .field("stream", &self.stream)
            .field("event_time", &self.event_time)
            .field("sequence", &self.sequence)
            .field("user_ip", &self.user_ip)
            .field("stream_param", &redact_stream_param(&self.stream_param))
            .field("push_duration_ms", &self.push_duration_ms)
            .field("errcode", &self.errcode)
            .field("errmsg", &self.errmsg)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("protocol", &self.protocol)
            .field("player_ip", &self.player_ip)
            .field("record", &self.record)
            .field("anomaly", &self.anomaly)
            .finish()
    }
}

/// The JSON body for `event`, signed with the app's `callback_key` at `now_unix`: `t` is `now_unix +`
/// [`SIGN_VALIDITY_SECS`] and `sign` is lowercase hex `md5(callback_key + t)` with `t` in decimal.
pub fn body(event: &StreamEvent, callback_key: &str, now_unix: u64) -> Value {
    let t = now_unix.saturating_add(SIGN_VALIDITY_SECS);
    let mut map = Map::new();
    let mut put = |key: &str, value: Value| {
        map.insert(key.to_owned(), value);
    };
    put("event_type", event.kind.event_type().into());
    put("event", event.kind.as_str().into());
    put("appname", event.app.clone().into());
    // Tencent puts the push domain in `app`; mplive has no per-app domain, so it repeats the app name.
    put("app", event.app.clone().into());
    put("stream_id", event.stream.clone().into());
    put("channel_id", event.stream.clone().into());
    put("event_time", event.event_time.into());
    put("sequence", event.sequence.clone().into());
    put("user_ip", event.user_ip.clone().into());
    // Redacted before the cut, so a credential cut in half is still masked, then cut, so the result is bounded
    // whatever the masking does to the length.
    let param = redact_stream_param(&event.stream_param);
    put("stream_param", cap_stream_param(&param).into());
    if event.kind == EventKind::PushEnd {
        put("push_duration", event.push_duration_ms.unwrap_or(0).into());
    }
    put("errcode", event.errcode.into());
    put("errmsg", event.errmsg.clone().into());
    put("width", event.width.unwrap_or(0).into());
    put("height", event.height.unwrap_or(0).into());
    if let Some(protocol) = &event.protocol {
        put("protocol", protocol.clone().into());
    }
    if let Some(ip) = &event.player_ip {
        put("player_ip", ip.clone().into());
    }
    if let Some(file) = &event.record {
        put("file_path", file.file_path.clone().into());
        put("file_format", file.file_format.clone().into());
        put("duration", file.duration.into());
        put("file_size", file.file_size.into());
        put("start_time", file.start_time.into());
        put("end_time", file.end_time.into());
    }
    if let Some(anomaly) = &event.anomaly {
        anomaly::put_fields(&mut map, &event.app, anomaly);
    }
    map.insert("t".to_owned(), t.into());
    map.insert("sign".to_owned(), sign(callback_key, t).into());
    Value::Object(map)
}

/// For receivers (and tests): whether `sign` is `md5(callback_key + t)` and `t` is not before `now_unix`.
/// Case-insensitive and constant-time in the comparison.
pub fn verify_sign(callback_key: &str, sign: &str, t: u64, now_unix: u64) -> bool {
    // Both checks always run, so the time taken does not tell an expired body from a forged one.
    let matches =
        eq_ignore_case_constant_time(sign.as_bytes(), self::sign(callback_key, t).as_bytes());
    matches & (t >= now_unix)
}

/// The webhook signature: lowercase hex `md5(callback_key + t)`, `t` in decimal.
pub fn sign(callback_key: &str, t: u64) -> String {
    md5_hex(&[callback_key.as_bytes(), t.to_string().as_bytes()])
}

/// `query` with the values of credential parameters (`txSecret`, `token`, any case) replaced by `***`; everything
/// else, order and encoding included, is kept as the client sent it.
pub fn redact_stream_param(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if REDACTED_PARAMS.iter().any(|p| p.eq_ignore_ascii_case(key)) => {
                format!("{key}=***")
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `param` cut to at most [`STREAM_PARAM_MAX_BYTES`] bytes: at the last `&` before the limit, so receivers see
/// whole `key=value` pairs, or at a character boundary when the first pair alone is too long.
pub fn cap_stream_param(param: &str) -> &str {
    if param.len() <= STREAM_PARAM_MAX_BYTES {
        return param;
    }
    let mut cut = STREAM_PARAM_MAX_BYTES;
    while !param.is_char_boundary(cut) {
        cut -= 1;
    }
    if param.as_bytes().get(cut) == Some(&b'&') {
        return &param[..cut];
    }
    match param[..cut].rfind('&') {
        Some(amp) => &param[..amp],
        None => &param[..cut],
    }
}

/// A callback URL fit for logs and error texts: `scheme://host:port/path`, without the `user:password@` and the
/// query and fragment, which is where receivers put their credentials (`?apikey=...`).
pub fn callback_url_for_log(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!("{scheme}{host}{path}")
}

/// The `errcode` of a webhook body: 0 for a normal event, else why the server refused or ended a stream.
///
/// | code | reason (as the server logs it) | meaning |
/// |------|--------------------------------|---------|
/// | 0    | `""`, `ok`, `normal`           | no error |
/// | 1001 | `signature_missing`            | the push URL has no `txSecret`/`txTime` |
/// | 1002 | `signature_bad`                | `txSecret` does not match, or `txTime` is not hex |
/// | 1003 | `signature_expired`            | `txTime` is in the past |
/// | 1004 | `forbidden`                    | the app or stream is disabled, or the key lacks the right |
/// | 1005 | `unknown_app`                  | no such app |
/// | 1006 | `stream_busy`                  | another publisher holds the stream |
/// | 1007 | `too_many_streams`             | the app or server stream limit is reached |
/// | 1008 | `too_many_players`             | the player limit is reached |
/// | 1009 | `token_malformed`, `token_alg`, `token_bad_signature`, `token_missing_claim`, `token_too_long` | the access token is invalid |
/// | 1010 | `token_expired`                | the access token has expired |
/// | 1011 | `token_wrong_role`, `token_wrong_app`, `token_wrong_channel`, `token_wrong_account` | the token is valid but for something else |
/// | 1012 | `kicked`                       | (push end) kicked through the API, forbidden, or taken over |
/// | 1013 | `timeout`                      | (push end) no media for `publisher_timeout_secs` |
/// | 1014 | `error`                        | (push end) a protocol or socket error |
/// | 1015 | `shutdown`                     | (push end) the server shut down |
/// | 1016 | `record_error`                 | (record done) writing the file failed; the recording stopped |
/// | 1099 | anything else                  | refused for a reason without its own code; see `errmsg` |
pub mod errcode {
    /// No error.
    pub const OK: i64 = 0;
    /// The push URL has no `txSecret`/`txTime`.
    pub const SIGNATURE_MISSING: i64 = 1001;
    /// `txSecret` does not match the key, stream and `txTime`, or `txTime` is not hexadecimal.
    pub const SIGNATURE_BAD: i64 = 1002;
    /// `txTime` is in the past.
    pub const SIGNATURE_EXPIRED: i64 = 1003;
    /// The app or stream is disabled, or the credential does not allow this.
    pub const FORBIDDEN: i64 = 1004;
    /// The URL names an app that does not exist.
    pub const UNKNOWN_APP: i64 = 1005;
    /// Another publisher holds the stream.
    pub const STREAM_BUSY: i64 = 1006;
    /// The app's or the server's stream limit is reached.
    pub const TOO_MANY_STREAMS: i64 = 1007;
    /// The player limit is reached.
    pub const TOO_MANY_PLAYERS: i64 = 1008;
    /// The access token is malformed, badly signed, uses another algorithm, lacks a claim or is too long.
    pub const TOKEN_INVALID: i64 = 1009;
    /// The access token has expired.
    pub const TOKEN_EXPIRED: i64 = 1010;
    /// The access token is valid but for another app, channel, account or role.
    pub const TOKEN_MISMATCH: i64 = 1011;
    /// A push ended because it was kicked (API kick or forbid) or taken over by an idle-takeover publish.
    pub const KICKED: i64 = 1012;
    /// A push ended because the publisher sent no media for `publisher_timeout_secs`.
    pub const TIMEOUT: i64 = 1013;
    /// A push ended on a protocol or socket error.
    pub const CONNECTION_ERROR: i64 = 1014;
    /// A push ended because the server shut down.
    pub const SHUTDOWN: i64 = 1015;
    /// (record done) Writing the recording failed (disk full, permissions); that recording stopped, the stream
    /// goes on.
    pub const RECORD_ERROR: i64 = 1016;
    /// The signed URL expires further ahead than the server's `max_url_ttl_secs` allows.
    pub const SIGNATURE_TTL_TOO_LONG: i64 = 1017;
    /// The app or stream name breaks the naming rules (characters, length); the name itself is not echoed.
    pub const BAD_NAME: i64 = 1018;
    /// (`push_end`, `record_done`) The server was killed or crashed while the publish or the recording ran; the
    /// event is sent when it starts again (the publish's or file's real end time is not known).
    pub const RESTARTED: i64 = 1019;
    /// Any other refusal; `errmsg` explains it.
    pub const OTHER: i64 = 1099;

    /// The code for a refusal reason, as given by `SignatureError::reason`, `TokenError::reason` and the server.
    /// Unknown reasons get [`OTHER`], never 0, so a new refusal is never reported as success.
    pub fn for_reason(reason: &str) -> i64 {
        match reason {
            "" | "ok" | "normal" => OK,
            "signature_missing" => SIGNATURE_MISSING,
            "signature_bad" => SIGNATURE_BAD,
            "signature_expired" => SIGNATURE_EXPIRED,
            "signature_ttl_too_long" => SIGNATURE_TTL_TOO_LONG,
            "bad_name" => BAD_NAME,
            "forbidden" => FORBIDDEN,
            "unknown_app" => UNKNOWN_APP,
            "stream_busy" => STREAM_BUSY,
            "too_many_streams" => TOO_MANY_STREAMS,
            "too_many_players" => TOO_MANY_PLAYERS,
            "token_malformed"
            | "token_invalid"
            | "token_alg"
            | "token_bad_signature"
            | "token_missing_claim"
            | "token_too_long" => TOKEN_INVALID,
            "token_expired" => TOKEN_EXPIRED,
            "token_wrong_role"
            | "token_mismatch"
            | "token_wrong_app"
            | "token_wrong_channel"
            | "token_wrong_account" => TOKEN_MISMATCH,
            "kicked" => KICKED,
            "timeout" => TIMEOUT,
            "error" => CONNECTION_ERROR,
            "shutdown" => SHUTDOWN,
            "record_error" => RECORD_ERROR,
            "restart" => RESTARTED,
            _ => OTHER,
        }
    }
}

#[cfg(test)]
mod tests;
