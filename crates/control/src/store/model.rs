//! The rows of the control plane as Rust values. Plain data; the queries live next to [`Store`](super::Store).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::webhook_event::callback_url_for_log;

/// One application: an RTMP application name (`rtmp://host/{name}/{stream}`) with its keys and policy.
///
/// `Debug` prints the keys as `<redacted>` so that an app can be logged safely; `Serialize` does include them
/// (the admin API hands them to the operator).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    /// Stable id, `app_` and 16 lowercase hex digits.
    pub id: String,
    /// The RTMP application name, unique, 1–64 characters of `[A-Za-z0-9_-]`.
    pub name: String,
    /// Key that signs push URLs (`txSecret`).
    pub push_key: String,
    /// Key that signs play URLs (`txSecret`).
    pub play_key: String,
    /// HS256 key for the access tokens the SDK presents.
    pub secret: String,
    /// Key that signs the webhooks sent to `callback_urls`, so receivers can check they come from us.
    pub callback_key: String,
    /// Where webhooks of this app go, each `http://` or `https://`.
    pub callback_urls: Vec<String>,
    /// What is allowed and how streams behave.
    pub policy: AppPolicy,
    /// When the app was created (Unix milliseconds).
    pub created_ms: i64,
    /// When the app last changed (Unix milliseconds), including key rotations.
    pub updated_ms: i64,
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The keys are written by hand as redacted so that `?app` in a log line can never leak them.
        f.debug_struct("App")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("push_key", &"<redacted>")
            .field("play_key", &"<redacted>")
            .field("secret", &"<redacted>")
            .field("callback_key", &"<redacted>")
            // Receivers put credentials in the userinfo and the query of their URLs.
            .field(
                "callback_urls",
                &self
                    .callback_urls
                    .iter()
                    .map(|u| callback_url_for_log(u))
                    .collect::<Vec<_>>(),
            )
            .field("policy", &self.policy)
            .field("created_ms", &self.created_ms)
            .field("updated_ms", &self.updated_ms)
            .finish()
    }
}

/// What an app allows. Missing fields in JSON take the defaults of [`AppPolicy::default`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppPolicy {
    /// Publishing needs a signed URL or token (default `true`).
    pub push_auth: bool,
    /// Playing needs a signed URL or token (default `false`).
    pub play_auth: bool,
    /// New players start from the last keyframe (default `true`).
    pub gop_cache: bool,
    /// Trade smoothness for delay: smaller buffers, no GOP cache burst (default `false`).
    pub low_latency: bool,
    /// How long a stream stays reserved for its publisher after a disconnect; `None` uses the server's setting.
    pub republish_grace_ms: Option<i64>,
    /// At most this many streams published at once in this app; `None` means no limit.
    pub max_streams: Option<i64>,
    /// At most this many players at once in this app; `None` means no limit.
    pub max_players: Option<i64>,
    /// Formats every stream of the app is recorded in while it is published; empty (the default) records
    /// nothing. Kept sorted and without duplicates by the store.
    pub record: Vec<RecordFormat>,
}

impl Default for AppPolicy {
    fn default() -> Self {
        AppPolicy {
            push_auth: true,
            play_auth: false,
            gop_cache: true,
            low_latency: false,
            republish_grace_ms: None,
            max_streams: None,
            max_players: None,
            record: Vec::new(),
        }
    }
}

/// A file format a stream can be recorded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordFormat {
    /// FLV, the tags as received.
    Flv,
    /// Fragmented MP4 (H.264, H.265, AAC).
    Mp4,
}

impl RecordFormat {
    /// Every format, in the order they are stored.
    pub const ALL: [RecordFormat; 2] = [RecordFormat::Flv, RecordFormat::Mp4];

    /// `flv` or `mp4`, as stored and as the file extension.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordFormat::Flv => "flv",
            RecordFormat::Mp4 => "mp4",
        }
    }

    /// Sorts and deduplicates a list of formats, the shape the store keeps.
    pub fn normalize(formats: &mut Vec<RecordFormat>) {
        formats.sort_unstable();
        formats.dedup();
    }

    /// The comma-separated column value for `formats` (empty for none).
    pub fn join(formats: &[RecordFormat]) -> String {
        let mut sorted = formats.to_vec();
        RecordFormat::normalize(&mut sorted);
        sorted
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Parses a comma-separated list such as `mp4,flv`; empty and `off` mean none.
    pub fn parse_list(s: &str) -> Result<Vec<RecordFormat>, UnknownRecordFormat> {
        let s = s.trim();
        if s.is_empty() || s.eq_ignore_ascii_case("off") {
            return Ok(Vec::new());
        }
        let mut formats = s
            .split(',')
            .map(|part| part.trim().parse())
            .collect::<Result<Vec<_>, _>>()?;
        RecordFormat::normalize(&mut formats);
        Ok(formats)
    }
}

impl fmt::Display for RecordFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record format that is neither `mp4` nor `flv`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown record format `{0}`: expected mp4 or flv")]
pub struct UnknownRecordFormat(pub String);

impl FromStr for RecordFormat {
    type Err = UnknownRecordFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RecordFormat::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownRecordFormat(s.to_owned()))
    }
}

/// What [`Store::create_app`](super::Store::create_app) needs; the id and keys are generated.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NewApp {
    /// The RTMP application name.
    pub name: String,
    /// The app's policy.
    pub policy: AppPolicy,
    /// Webhook receivers.
    pub callback_urls: Vec<String>,
}

/// A partial change of an app; `None` leaves a field as it is. For the optional limits, `Some(None)` clears the
/// limit and `Some(Some(n))` sets it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AppPatch {
    /// New [`AppPolicy::push_auth`].
    pub push_auth: Option<bool>,
    /// New [`AppPolicy::play_auth`].
    pub play_auth: Option<bool>,
    /// New [`AppPolicy::gop_cache`].
    pub gop_cache: Option<bool>,
    /// New [`AppPolicy::low_latency`].
    pub low_latency: Option<bool>,
    /// New [`AppPolicy::republish_grace_ms`].
    pub republish_grace_ms: Option<Option<i64>>,
    /// New [`AppPolicy::max_streams`].
    pub max_streams: Option<Option<i64>>,
    /// New [`AppPolicy::max_players`].
    pub max_players: Option<Option<i64>>,
    /// New [`AppPolicy::record`] (replaces the whole set; empty turns recording off).
    pub record: Option<Vec<RecordFormat>>,
    /// New [`App::callback_urls`] (replaces the whole list).
    pub callback_urls: Option<Vec<String>>,
}

impl AppPatch {
    /// `true` when the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == AppPatch::default()
    }

    /// Applies the patch to `policy` and `urls` in place.
    pub fn apply(&self, policy: &mut AppPolicy, urls: &mut Vec<String>) {
        fn set<T: Clone>(field: &mut T, new: &Option<T>) {
            if let Some(v) = new {
                *field = v.clone();
            }
        }
        set(&mut policy.push_auth, &self.push_auth);
        set(&mut policy.play_auth, &self.play_auth);
        set(&mut policy.gop_cache, &self.gop_cache);
        set(&mut policy.low_latency, &self.low_latency);
        set(&mut policy.republish_grace_ms, &self.republish_grace_ms);
        set(&mut policy.max_streams, &self.max_streams);
        set(&mut policy.max_players, &self.max_players);
        set(&mut policy.record, &self.record);
        RecordFormat::normalize(&mut policy.record);
        set(urls, &self.callback_urls);
    }
}

/// Which key of an app [`Store::rotate_key`](super::Store::rotate_key) replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    /// [`App::push_key`].
    Push,
    /// [`App::play_key`].
    Play,
    /// [`App::callback_key`].
    Callback,
    /// [`App::secret`].
    Secret,
}

impl KeyKind {
    /// Every kind, in the order the CLI lists them.
    pub const ALL: [KeyKind; 4] = [
        KeyKind::Push,
        KeyKind::Play,
        KeyKind::Callback,
        KeyKind::Secret,
    ];

    /// The lowercase name: `push`, `play`, `callback` or `secret`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Push => "push",
            KeyKind::Play => "play",
            KeyKind::Callback => "callback",
            KeyKind::Secret => "secret",
        }
    }

    /// The column that holds this key. A fixed string, so it is safe to splice into SQL.
    pub(crate) fn column(self) -> &'static str {
        match self {
            KeyKind::Push => "push_key",
            KeyKind::Play => "play_key",
            KeyKind::Callback => "callback_key",
            KeyKind::Secret => "secret",
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key kind that is none of `push`, `play`, `callback`, `secret`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key kind `{0}`: expected push, play, callback or secret")]
pub struct UnknownKeyKind(pub String);

impl FromStr for KeyKind {
    type Err = UnknownKeyKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownKeyKind(s.to_owned()))
    }
}

/// A named stream of an app (the Vhall SDK's `channelId`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Channel {
    /// The owning app's id.
    pub app_id: String,
    /// The channel name, 1–128 characters of `[A-Za-z0-9_.-]`.
    pub channel: String,
    /// A free-form title for humans.
    pub title: Option<String>,
    /// When the channel was created (Unix milliseconds).
    pub created_ms: i64,
}

/// A stream that may not publish until `until_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Forbid {
    /// The app's id.
    pub app_id: String,
    /// The stream name.
    pub stream: String,
    /// Publishing is refused while now < `until_ms` (Unix milliseconds).
    pub until_ms: i64,
    /// Why, for the operator and the refused publisher.
    pub reason: Option<String>,
    /// When this forbid was last set (Unix milliseconds); setting it again restarts it.
    pub created_ms: i64,
}

/// A webhook to put in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewWebhook {
    /// The app the event belongs to.
    pub app_id: String,
    /// Where to POST it.
    pub url: String,
    /// The event name, e.g. `push_start`.
    pub event: String,
    /// The request body, exactly as it will be sent.
    pub body: String,
    /// When the event happened (Unix milliseconds); the first attempt is due then.
    pub created_ms: i64,
}

/// A webhook in the outbox with its delivery state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Webhook {
    /// Outbox id, increasing.
    pub id: i64,
    /// The app the event belongs to (not a foreign key: the log outlives deleted apps).
    pub app_id: String,
    /// Where it is POSTed.
    pub url: String,
    /// The event name.
    pub event: String,
    /// The request body.
    pub body: String,
    /// Pending, delivered or failed.
    pub state: WebhookState,
    /// Attempts made so far.
    pub attempts: i64,
    /// HTTP status of the last attempt, when there was a response.
    pub last_status: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the next attempt is due (Unix milliseconds); while a worker holds it, the end of its lease.
    pub next_attempt_ms: i64,
    /// When the event happened (Unix milliseconds).
    pub created_ms: i64,
    /// When it was delivered (Unix milliseconds).
    pub delivered_ms: Option<i64>,
    /// When the last attempt finished (Unix milliseconds).
    pub last_attempt_ms: Option<i64>,
}

/// Where a webhook is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookState {
    /// Waiting for its next attempt.
    Pending,
    /// A receiver answered 2xx.
    Delivered,
    /// Given up after the last retry.
    Failed,
}

impl WebhookState {
    /// `pending`, `delivered` or `failed`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookState::Pending => "pending",
            WebhookState::Delivered => "delivered",
            WebhookState::Failed => "failed",
        }
    }

    /// The state spelled `s`, as stored.
    pub fn parse(s: &str) -> Option<WebhookState> {
        [
            WebhookState::Pending,
            WebhookState::Delivered,
            WebhookState::Failed,
        ]
        .into_iter()
        .find(|w| w.as_str() == s)
    }
}

impl fmt::Display for WebhookState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_app_hides_keys() {
        let app = App {
            id: "app_0123456789abcdef".into(),
            name: "live".into(),
            push_key: "pushpushpush".into(),
            play_key: "playplayplay".into(),
            secret: "secretsecret".into(),
            callback_key: "cbcbcbcb".into(),
            callback_urls: vec!["https://u:hookpass@h.example/in?apikey=hookkey".into()],
            policy: AppPolicy::default(),
            created_ms: 1,
            updated_ms: 2,
        };
        let s = format!("{app:?}");
        for key in [
            "pushpushpush",
            "playplayplay",
            "secretsecret",
            "cbcbcbcb",
            "hookpass",
            "hookkey",
        ] {
            assert!(!s.contains(key), "{s}");
        }
        assert!(s.contains("<redacted>"));
        assert!(s.contains("https://h.example/in"), "{s}");
    }

    #[test]
    fn key_kind_round_trips() {
        for k in KeyKind::ALL {
            assert_eq!(k.to_string().parse::<KeyKind>(), Ok(k));
        }
        assert_eq!("PUSH".parse::<KeyKind>(), Ok(KeyKind::Push));
        assert!("publish".parse::<KeyKind>().is_err());
    }

    #[test]
    fn record_formats_parse_and_join() {
        use RecordFormat::*;
        assert_eq!(RecordFormat::parse_list("mp4,flv,mp4"), Ok(vec![Flv, Mp4]));
        assert_eq!(RecordFormat::parse_list(" MP4 "), Ok(vec![Mp4]));
        assert_eq!(RecordFormat::parse_list("off"), Ok(vec![]));
        assert_eq!(RecordFormat::parse_list(""), Ok(vec![]));
        assert!(RecordFormat::parse_list("mp4,hls").is_err());
        assert_eq!(RecordFormat::join(&[Mp4, Flv]), "flv,mp4");
        assert_eq!(RecordFormat::join(&[]), "");
        let p: AppPolicy = serde_json::from_str(r#"{"record":["mp4"]}"#).unwrap();
        assert_eq!(p.record, [Mp4]);
        assert!(serde_json::from_str::<AppPolicy>(r#"{"record":["avi"]}"#).is_err());
    }

    #[test]
    fn policy_defaults_fill_missing_json_fields() {
        let p: AppPolicy = serde_json::from_str(r#"{"play_auth":true}"#).unwrap();
        assert_eq!(
            p,
            AppPolicy {
                play_auth: true,
                ..AppPolicy::default()
            }
        );
    }

    #[test]
    fn patch_applies_only_what_it_names() {
        let mut policy = AppPolicy {
            max_streams: Some(3),
            ..AppPolicy::default()
        };
        let mut urls = vec!["http://a".to_owned()];
        AppPatch {
            max_streams: Some(None),
            gop_cache: Some(false),
            ..AppPatch::default()
        }
        .apply(&mut policy, &mut urls);
        assert_eq!(
            policy,
            AppPolicy {
                max_streams: None,
                gop_cache: false,
                ..AppPolicy::default()
            }
        );
        assert_eq!(urls, ["http://a"]);
    }
}
