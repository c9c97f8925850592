//! Who may publish and play: the app's policy, its signed URLs, forbids and limits, decided from the in-memory
//! catalog without waiting on the database, before a stream is touched.
//!
//! Every refusal has a stable reason name (`signature_missing`, `signature_bad`, `signature_expired`,
//! `forbidden`, `unknown_app`, `stream_busy`, `too_many_streams`, `too_many_players`). The RTMP client gets it as
//! the start of its status description, the log and `/metrics` count it, and the `push_refused` webhook carries
//! its errcode.

use std::sync::Arc;
use std::time::Duration;

use control::{now_ms, now_unix, txsecret, App};
use media::StartPolicy;

pub(crate) use crate::stream::refusal::{Reason, Refusal};
use crate::stream::Streams;

/// How a player of an app starts and is written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlayMode {
    /// Low-latency (`RTC`) mode: shortest start, every frame written at once.
    pub(crate) rtc: bool,
    /// Where the player starts.
    pub(crate) start: StartPolicy,
}

impl PlayMode {
    /// The same play in the low-latency mode: every frame at once, the cached GOP restamped to the live edge
    /// (still waiting for the next keyframe when the app keeps no GOP cache).
    pub(crate) fn low_latency(self) -> PlayMode {
        let start = match self.start {
            StartPolicy::NextKeyframe => StartPolicy::NextKeyframe,
            _ => StartPolicy::FastGop,
        };
        PlayMode { rtc: true, start }
    }
}

/// The query that carries the signature: the stream name's when it has one, else the tcUrl's.
pub(crate) fn signed_query<'a>(
    name_query: Option<&'a str>,
    connect_query: Option<&'a str>,
) -> Option<&'a str> {
    let has_secret = |q: &&str| q.split('&').any(|kv| kv.starts_with("txSecret="));
    name_query
        .filter(has_secret)
        .or(connect_query.filter(has_secret))
        .or(name_query)
        .or(connect_query)
}

/// The app name and, when given, the stream name follow the control plane's rules (`[A-Za-z0-9_-]{1,64}`,
/// `[A-Za-z0-9_.-]{1,128}`). Checked before a name is logged, stored or sent anywhere, so a client cannot make
/// the server write megabytes of name; the refusal says which rule broke without echoing the name.
pub(crate) fn check_names(app: &str, stream: Option<&str>) -> Result<(), Refusal> {
    let why = |e: control::StoreError| match e {
        control::StoreError::InvalidName { why, .. } => why,
        other => other.to_string(),
    };
    control::store::validate_app_name(app)
        .map_err(|e| Refusal::new(Reason::BadName, format!("bad app name: {}", why(e))))?;
    if let Some(stream) = stream {
        control::store::validate_stream_name(stream)
            .map_err(|e| Refusal::new(Reason::BadName, format!("bad stream name: {}", why(e))))?;
    }
    Ok(())
}

/// Publishing or playing: which key signs the URL, and which `mplive url` command makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signed {
    Push,
    Play,
}

/// The `txSecret`/`txTime` pair of `query` signs `stream` with the app's push or play key, and expires within
/// `max_url_ttl_secs`. A refusal says how to get a good URL: a missing or bad signature names the `mplive url`
/// command, and a bad one adds its most common cause, a URL signed with another key (made from another data
/// directory, or before the key was rotated).
fn verify_signature(
    streams: &Streams,
    app: &App,
    kind: Signed,
    stream: &str,
    query: Option<&str>,
) -> Result<(), Refusal> {
    let key = match kind {
        Signed::Push => &app.push_key,
        Signed::Play => &app.play_key,
    };
    txsecret::verify(key, stream, query, now_unix(), streams.max_url_ttl_secs).map_err(|e| {
        let command = match kind {
            Signed::Push => format!("mplive url push --app {} STREAM", app.name),
            Signed::Play => format!("mplive url play --app {} STREAM", app.name),
        };
        let mut refusal = Refusal::from(e);
        match e {
            txsecret::SignatureError::Missing => {
                refusal.message = format!("{} (get one with `{command}`)", refusal.message);
            }
            txsecret::SignatureError::BadSecret => {
                refusal.message = format!(
                    "{}; the URL may have been signed with another key (made from another data directory or \
                     database, or before the {} key was rotated): get a fresh one with `{command}` on this \
                     server's data directory",
                    refusal.message,
                    if kind == Signed::Push { "push" } else { "play" },
                );
            }
            _ => {}
        }
        refusal
    })
}

fn app_of(streams: &Streams, app: &str) -> Result<Arc<App>, Refusal> {
    streams.catalog.app(app).ok_or_else(|| {
        Refusal::new(
            Reason::UnknownApp,
            format!("no app named {app:?}: create it with `mplive app create {app}` or use an existing app"),
        )
    })
}

/// May this connection publish `app/stream`? Checks the app, the signature (when the app's push auth is on),
/// forbids and the app's stream limit. The hub still refuses a second publisher (`stream_busy`).
pub(crate) fn check_publish(
    streams: &Streams,
    app: &str,
    stream: &str,
    query: Option<&str>,
) -> Result<Arc<App>, Refusal> {
    check_names(app, Some(stream))?;
    let app = app_of(streams, app)?;
    if app.policy.push_auth {
        verify_signature(streams, &app, Signed::Push, stream, query)?;
    }
    if let Some(forbid) = streams.catalog.forbidden(&app.id, stream, now_ms()) {
        let secs = (forbid.until_ms - now_ms()).max(0) / 1000;
        return Err(Refusal::new(
            Reason::Forbidden,
            format!(
                "publishing {}/{stream} is forbidden for {secs} more seconds{}",
                app.name,
                forbid
                    .reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
        ));
    }
    if let Some(max) = app.policy.max_streams {
        let live = streams
            .registry
            .list()
            .iter()
            .filter(|s| s.app == app.name && s.stream != stream)
            .count();
        if i64::try_from(live).unwrap_or(i64::MAX) >= max {
            return Err(Refusal::new(
                Reason::TooManyStreams,
                format!(
                    "app {} already has {live} streams (its max_streams is {max})",
                    app.name
                ),
            ));
        }
    }
    Ok(app)
}

/// May this client play `app/stream`? Checks the app, the signature (when play auth is on) and the app's player
/// limit, and picks the play mode from the query (`mode=rtc|live`) or the app's low-latency policy.
pub(crate) fn check_play(
    streams: &Streams,
    app: &str,
    stream: &str,
    query: Option<&str>,
) -> Result<(Arc<App>, PlayMode), Refusal> {
    let app = check_play_signature(streams, app, stream, query)?;
    check_player_limit(streams, &app)?;
    let mode = play_mode(&app.policy, query);
    Ok((app, mode))
}

/// The app exists and, when its play auth is on, the query carries a valid signature for `stream`. HLS checks
/// this on every request (a signature that expires ends segment requests too), and the player limit only when a
/// new viewer appears.
pub(crate) fn check_play_signature(
    streams: &Streams,
    app: &str,
    stream: &str,
    query: Option<&str>,
) -> Result<Arc<App>, Refusal> {
    check_names(app, Some(stream))?;
    let app = app_of(streams, app)?;
    if app.policy.play_auth {
        verify_signature(streams, &app, Signed::Play, stream, query)?;
    }
    Ok(app)
}

/// The app's `max_players` leaves room for one more: RTMP and HTTP-FLV players on the hub, and HLS viewers.
pub(crate) fn check_player_limit(streams: &Streams, app: &App) -> Result<(), Refusal> {
    let Some(max) = app.policy.max_players else {
        return Ok(());
    };
    let players: u64 = streams
        .registry
        .list()
        .iter()
        .filter(|s| s.app == app.name)
        .map(|s| s.players.rtmp + s.players.flv)
        .sum::<u64>()
        + crate::http::hls::viewers_of_app(streams, &app.name);
    if i64::try_from(players).unwrap_or(i64::MAX) >= max {
        return Err(Refusal::new(
            Reason::TooManyPlayers,
            format!(
                "app {} already has {players} players (its max_players is {max})",
                app.name
            ),
        ));
    }
    Ok(())
}

/// The play mode: `mode=rtc|live` in the query, else the app's low-latency policy; the start from its GOP cache
/// policy (off: wait for the next keyframe).
fn play_mode(policy: &control::AppPolicy, query: Option<&str>) -> PlayMode {
    let rtc = Latency::from_query(query).map_or(policy.low_latency, |l| l == Latency::Rtc);
    let start = match (rtc, policy.gop_cache) {
        (_, false) => StartPolicy::NextKeyframe,
        (true, true) => StartPolicy::FastGop,
        (false, true) => StartPolicy::Gop,
    };
    PlayMode { rtc, start }
}

/// The latency a play asks for with `mode=` in its URL query: the one parser of `mode=rtc|live`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Latency {
    /// `mode=live`: frames merged over the write window, the cached GOP as it was.
    Live,
    /// `mode=rtc`: every frame written at once, the shortest start.
    Rtc,
}

impl Latency {
    /// The first `mode=rtc` or `mode=live` of a play query (key and value in any case); `None` when it has
    /// neither, and the app's policy decides.
    pub(crate) fn from_query(query: Option<&str>) -> Option<Latency> {
        query?.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            if !k.eq_ignore_ascii_case("mode") {
                return None;
            }
            if v.eq_ignore_ascii_case("rtc") {
                Some(Latency::Rtc)
            } else if v.eq_ignore_ascii_case("live") {
                Some(Latency::Live)
            } else {
                None
            }
        })
    }
}

/// The app's republish grace, when its policy sets one.
pub(crate) fn republish_grace(app: &App) -> Option<Duration> {
    app.policy
        .republish_grace_ms
        .map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_query_is_found_on_the_name_or_the_tcurl() {
        let signed = Some("txSecret=ab&txTime=5c2acacc");
        assert_eq!(signed_query(signed, Some("x=1")), signed);
        assert_eq!(signed_query(Some("mode=rtc"), signed), signed);
        assert_eq!(signed_query(Some("mode=rtc"), None), Some("mode=rtc"));
        assert_eq!(signed_query(None, None), None);
    }

    #[test]
    fn the_app_policy_picks_the_mode_and_the_start() {
        let mut policy = control::AppPolicy::default();
        let live = play_mode(&policy, None);
        assert_eq!((live.rtc, live.start), (false, StartPolicy::Gop));
        policy.low_latency = true;
        let rtc = play_mode(&policy, None);
        assert_eq!((rtc.rtc, rtc.start), (true, StartPolicy::FastGop));
        assert!(!play_mode(&policy, Some("mode=live")).rtc, "the query wins");
        policy.gop_cache = false;
        assert_eq!(play_mode(&policy, None).start, StartPolicy::NextKeyframe);
    }

    #[test]
    fn play_mode_comes_from_the_query_first() {
        assert_eq!(
            Latency::from_query(Some("a=1&mode=rtc")),
            Some(Latency::Rtc)
        );
        assert_eq!(
            Latency::from_query(Some("txSecret=a&mode=RTC")),
            Some(Latency::Rtc)
        );
        assert_eq!(Latency::from_query(Some("MODE=Live")), Some(Latency::Live));
        assert_eq!(
            Latency::from_query(Some("mode=other&mode=live")),
            Some(Latency::Live)
        );
        assert_eq!(Latency::from_query(Some("mode=other")), None);
        assert_eq!(Latency::from_query(Some("moderate=rtc")), None);
        assert_eq!(Latency::from_query(None), None);
    }
}
