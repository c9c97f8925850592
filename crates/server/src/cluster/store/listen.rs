//! The control channel's listener: a task with its own pub/sub connection (a subscribed connection can run no
//! other command) that hands each [`ControlMessage`] to a handler and outlives Redis restarts.
//!
//! Pub/sub delivers only to those subscribed at the time, so messages sent during an outage are lost: the
//! messages are hints (kick, reload the catalog), and the state they hint at is in Redis or PostgreSQL anyway.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{control_channel, ControlMessage, Store, CONNECTION_TIMEOUT, RESPONSE_TIMEOUT};
use crate::ops::log_value::clip;

/// The first delay before reconnecting; doubled after each failure up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// The longest delay between reconnect attempts: a restarted Redis is back in use within this.
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How often an idle subscription is pinged: a connection whose peer vanished without closing it (a host down, a
/// network cut) shows no error until written to, and would otherwise miss every message silently.
const PING_EVERY: Duration = Duration::from_secs(5);
/// A connection that lasted this long was healthy: the next loss starts again from [`BACKOFF_MIN`].
const HEALTHY_AFTER: Duration = Duration::from_secs(10);

/// The handler of [`Store::listen`].
type Handler = Arc<dyn Fn(ControlMessage) + Send + Sync>;

impl Store {
    /// Starts a task that calls `handler` with every control message (those this node sends too) until
    /// `shutdown`. The handler runs on the listening task: it must not block (spawn or send to a channel).
    ///
    /// Redis going away is logged once per outage (warn) and its return once (info); in between the task retries
    /// with a backoff from 100 ms doubling to 2 s. A message that does not parse is logged (clipped) and skipped.
    pub(crate) fn listen(&self, handler: Handler, shutdown: CancellationToken) -> JoinHandle<()> {
        let client = self.client.clone();
        let url = self.url.clone();
        tokio::spawn(async move {
            let channel = control_channel();
            let mut backoff = BACKOFF_MIN;
            // Whether an outage is under way (and logged already). Set when a connection fails; a working
            // connection ends only by shutdown (return) or by a new outage, so it is never reset to false.
            let mut in_outage = false;
            loop {
                let subscribed = tokio::select! {
                    () = shutdown.cancelled() => return,
                    subscribed = subscribe(&client, &channel) => subscribed,
                };
                match subscribed {
                    Ok((sink, stream)) => {
                        if in_outage {
                            info!("cluster: control channel {channel} on {url} is back");
                        } else {
                            debug!("cluster: listening on {channel} at {url}");
                        }
                        let since = Instant::now();
                        let Some(why) = receive(sink, stream, &handler, &shutdown).await else {
                            return;
                        };
                        warn!("cluster: control channel {channel} on {url} lost ({why}); reconnecting");
                        in_outage = true;
                        if since.elapsed() >= HEALTHY_AFTER {
                            backoff = BACKOFF_MIN;
                        }
                    }
                    Err(why) if in_outage => {
                        debug!("cluster: control channel {channel} on {url} still down: {why}");
                    }
                    Err(why) => {
                        warn!("cluster: cannot listen on {channel} at {url} ({why}); retrying");
                        in_outage = true;
                    }
                }
                // Also after a loss: a connection that drops right after each subscribe must not spin.
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        })
    }
}

/// Opens a pub/sub connection subscribed to `channel`, or says why not.
async fn subscribe(
    client: &redis::Client,
    channel: &str,
) -> Result<(PubSubSink, PubSubStream), String> {
    let attempt = async {
        let (mut sink, stream) = client.get_async_pubsub().await?.split();
        sink.subscribe(channel).await?;
        Ok::<_, redis::RedisError>((sink, stream))
    };
    match tokio::time::timeout(CONNECTION_TIMEOUT + RESPONSE_TIMEOUT, attempt).await {
        Ok(Ok(subscribed)) => Ok(subscribed),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "no answer within {:?}",
            CONNECTION_TIMEOUT + RESPONSE_TIMEOUT
        )),
    }
}

/// Hands messages to `handler` until `shutdown` (returns `None`) or until the connection fails (returns why).
async fn receive(
    mut sink: PubSubSink,
    mut stream: PubSubStream,
    handler: &Handler,
    shutdown: &CancellationToken,
) -> Option<String> {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return None,
            msg = stream.next() => {
                let Some(msg) = msg else {
                    return Some("the connection closed".to_owned());
                };
                let payload = msg.get_payload_bytes();
                match serde_json::from_slice::<ControlMessage>(payload) {
                    Ok(message) => handler(message),
                    Err(e) => warn!(
                        "cluster: skipping a control message that does not parse ({e}): {}",
                        clip(&String::from_utf8_lossy(payload))
                    ),
                }
            }
            _ = ping.tick() => {
                match tokio::time::timeout(RESPONSE_TIMEOUT, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Some(format!("ping failed: {e}")),
                    Err(_) => return Some(format!("no answer to a ping within {RESPONSE_TIMEOUT:?}")),
                }
            }
        }
    }
}
