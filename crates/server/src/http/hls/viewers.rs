//! HLS viewers: HTTP requests are not sessions, so a viewer is a client (address + `User-Agent`) that keeps asking.
//! A new one is admitted against the app's `max_players` and sends `play_start`; the stream's task expires the
//! ones that stopped asking, with `play_stop`.
//!
//! A viewer is someone being served: [`check`] runs before a request is answered and only refuses (a new client
//! over a limit); [`admit`] counts the client once its answer is a success with a body about to be sent. A 404
//! for a segment that is not there, or any other error, counts nobody and sends no webhook, so requests that get
//! nothing cannot fill `max_players`. And one address (see [`address_key`]) holds at most
//! `hls.max_viewers_per_address` viewers, so changing the `User-Agent` cannot either.

use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::http::{header, HeaderMap};
use control::{now_ms, App};
use media::StreamKey;
use tracing::debug;

use super::Hls;
use super::HlsStream;
use crate::ops::address::address_key;
use crate::settings::HlsSettings;
use crate::stream::access;
use crate::stream::lifecycle::{self, PlaySession, Protocol};

/// Who is asking: HTTP requests are not sessions, so an HLS viewer is a client address and `User-Agent` that keep
/// asking for the stream. Two players in one browser on one address count as one viewer.
pub(crate) struct Client {
    pub(crate) peer: SocketAddr,
    pub(crate) user_agent: String,
}

impl Client {
    pub(crate) fn new(peer: SocketAddr, headers: &HeaderMap) -> Client {
        let user_agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        Client { peer, user_agent }
    }

    pub(super) fn id(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.peer.ip().hash(&mut h);
        self.user_agent.hash(&mut h);
        h.finish()
    }
}

/// One HLS viewer: when it last asked, and its play session (dropped when it stops asking: `play_stop`).
pub(super) struct Viewer {
    last_seen_ms: i64,
    _session: PlaySession,
    /// The address key it counts under for `hls.max_viewers_per_address`.
    address: IpAddr,
    /// It asked for the low-latency playlist (LL-HLS) when it was admitted.
    pub(super) low_latency: bool,
}

/// A viewer counts until it has not asked for this long: players reload the playlist at least every target
/// duration (LL-HLS players keep a request open), so three target durations, and at least 10 s, is a player gone.
fn viewer_timeout_ms(settings: &HlsSettings) -> i64 {
    i64::try_from(settings.target_duration_ms.saturating_mul(3).max(10_000)).unwrap_or(i64::MAX)
}

fn over_address_limit(address: IpAddr, viewers: usize, max: usize) -> access::Refusal {
    access::Refusal {
        reason: access::Reason::TooManyViewersPerAddress,
        message: format!(
            "{address} already has {viewers} HLS viewers (a viewer is an address and User-Agent; \
             hls.max_viewers_per_address is {max}); reuse one player, or ask the operator to raise the limit"
        ),
    }
}

/// Whether `address` has room for one more viewer; `count` is its viewers now.
fn address_room(hls: &Hls, address: IpAddr, count: usize) -> Result<(), access::Refusal> {
    let max = hls.settings.max_viewers_per_address;
    if max != 0 && count >= max {
        return Err(over_address_limit(address, count, max));
    }
    Ok(())
}

/// Before a request is answered: refuses a client that is not a viewer yet when there is no room for it (the
/// app's `max_players`, `hls.max_viewers_per_address`). Counts nothing; see [`admit`].
pub(super) fn check(
    hls: &Hls,
    stream: &HlsStream,
    app: &App,
    client: &Client,
) -> Result<(), access::Refusal> {
    if stream.viewers.lock().contains_key(&client.id()) {
        return Ok(());
    }
    let address = address_key(client.peer.ip());
    let count = hls.addresses.lock().get(&address).copied().unwrap_or(0);
    address_room(hls, address, count)?;
    access::check_player_limit(&hls.streams, app)
}

/// Counts the request's client as a viewer of `stream`; called only when a successful answer is about to be sent.
/// A new one must fit in the app's `max_players` and its address's `hls.max_viewers_per_address`, and gets a
/// `play_start` webhook (its `play_stop` follows once it stops asking, or when the stream ends).
pub(super) fn admit(
    hls: &Hls,
    stream: &HlsStream,
    app: Arc<App>,
    key: &StreamKey,
    client: &Client,
    variant: Protocol,
    query: Option<&str>,
) -> Result<(), access::Refusal> {
    let id = client.id();
    let now = now_ms();
    if let Some(v) = stream.viewers.lock().get_mut(&id) {
        v.last_seen_ms = now;
        return Ok(());
    }
    // Not under the viewers lock: counting the app's viewers takes the streams' locks.
    access::check_player_limit(&hls.streams, &app)?;
    let address = address_key(client.peer.ip());
    let mut viewers = stream.viewers.lock();
    if viewers.contains_key(&id) {
        return Ok(());
    }
    {
        // Checked and counted under the viewers lock (always taken before this one), so two first requests of
        // one address cannot both take its last place.
        let mut addresses = hls.addresses.lock();
        let count = addresses.entry(address).or_insert(0);
        address_room(hls, address, *count)?;
        *count += 1;
    }
    let request = lifecycle::Request {
        app: &key.app,
        stream: &key.name,
        query,
        peer: client.peer,
        protocol: variant,
    };
    viewers.insert(
        id,
        Viewer {
            last_seen_ms: now,
            _session: lifecycle::viewer(&hls.streams, app, request),
            address,
            low_latency: variant == Protocol::LlHls,
        },
    );
    Ok(())
}

/// Ends the viewers that have not asked within the timeout (all of them with `all`), with their `play_stop`.
pub(super) fn expire_viewers(hls: &Hls, key: &StreamKey, stream: &HlsStream, all: bool) {
    let limit = now_ms() - viewer_timeout_ms(&hls.settings);
    let gone: Vec<Viewer> = {
        let mut viewers = stream.viewers.lock();
        let ids: Vec<u64> = viewers
            .iter()
            .filter(|(_, v)| all || v.last_seen_ms < limit)
            .map(|(id, _)| *id)
            .collect();
        ids.iter().filter_map(|id| viewers.remove(id)).collect()
    };
    if !gone.is_empty() {
        let mut addresses = hls.addresses.lock();
        for v in &gone {
            if let Some(count) = addresses.get_mut(&v.address) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    addresses.remove(&v.address);
                }
            }
        }
    }
    for v in gone {
        debug!(stream = %key, "HLS viewer gone");
        // Dropping the viewer drops its play session: `play_stop`.
        drop(v);
    }
}
