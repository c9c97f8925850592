//! [`ManagedPublisher`]: the Tokio driver of the Vhall SDK's reconnect machine around a [`Publisher`].

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::machine::{
    ManagedAction, ManagedConfig, ManagedEvent, ManagedInput, ManagedMachine, ManagedOutput,
};
use crate::pusher::{PublishOptions, Publisher, PublisherHandle, PushError, PusherEvent, Source};

/// `createInstance` options, as the Vhall SDK takes them, plus the server's address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceParams {
    /// The mplive server's HTTP(S) base URL, e.g. `https://live.example.com`.
    #[serde(skip)]
    pub api: String,
    /// The app's id or name.
    pub app_id: String,
    /// The channel to publish.
    pub channel_id: String,
    /// The publishing account.
    pub account_id: String,
    /// The access token the app's backend minted (role `publisher`).
    pub token: String,
    /// Audio only.
    pub single_audio: bool,
    /// The live-pusher mode (`SD`, `HD`, `FHD`, `RTC`), passed on to the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// Why `createInstance` failed (the SDK's `fail` callback).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManagedError {
    /// The API could not be reached or answered with an error (`{code, message}` when the server sent one).
    #[error("createInstance failed: {0}")]
    Api(String),
    /// The push could not start (a malformed URL from the server, no runtime).
    #[error(transparent)]
    Push(#[from] PushError),
    /// Standard input cannot be replayed from the start after a reconnect.
    #[error("a managed push restarts its source on every reconnect: use a file or the test pattern, not stdin")]
    StdinSource,
}

/// What a managed push reports: the SDK's events and the pusher's own.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ManagedUpdate {
    /// An SDK event (`connected`, `reconnecting`, `reconnectReady`, `reconnected`, `reconnectFail`).
    Sdk(ManagedEvent),
    /// A pusher event (status codes, net status).
    Pusher(PusherEvent),
    /// `destroy()` finished; nothing follows.
    Destroyed,
}

/// Controls a managed push. Dropping it destroys the instance.
#[derive(Debug)]
pub struct ManagedHandle {
    destroy: Option<tokio::sync::oneshot::Sender<()>>,
    url: String,
}

impl ManagedHandle {
    /// The push URL `createInstance` returned.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops the push and the reconnect cycle (the SDK's `destroy`).
    pub fn destroy(mut self) {
        if let Some(tx) = self.destroy.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for ManagedHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.destroy.take() {
            let _ = tx.send(());
        }
    }
}

/// Creates managed pushes. See [`ManagedPublisher::create`].
#[derive(Debug)]
pub struct ManagedPublisher;

#[derive(Debug, Deserialize)]
struct InstanceAnswer {
    url: String,
}

#[derive(Debug, Deserialize)]
struct ApiError {
    code: u32,
    message: String,
}

/// One call of `/sdk/v1/publisher/{what}`; `Err` is what the SDK hands to `fail` / `reconnectFail`.
async fn call(
    client: &reqwest::Client,
    params: &InstanceParams,
    what: &str,
) -> Result<String, String> {
    let url = format!(
        "{}/sdk/v1/publisher/{what}",
        params.api.trim_end_matches('/')
    );
    let resp = client
        .post(&url)
        .json(params)
        .send()
        .await
        .map_err(|e| format!("POST {url}: {}", crate::error_chain(&e)))?;
    let status = resp.status();
    let body = resp
        .bytes()
        .await
        .map_err(|e| format!("POST {url}: reading the answer: {}", crate::error_chain(&e)))?;
    if status.is_success() {
        let answer: InstanceAnswer = serde_json::from_slice(&body)
            .map_err(|e| format!("POST {url}: unexpected answer: {e}"))?;
        return Ok(answer.url);
    }
    match serde_json::from_slice::<ApiError>(&body) {
        Ok(e) => Err(format!("{} {}: {}", status.as_u16(), e.code, e.message)),
        Err(_) => Err(format!("POST {url}: HTTP {status}")),
    }
}

impl ManagedPublisher {
    /// `createInstance`: asks the server for a push URL, starts pushing `source` with it, and keeps the push
    /// alive as the Vhall SDK does. Errors are the `fail` callback's; later failures are events.
    pub async fn create(
        params: InstanceParams,
        source: Source,
        opts: PublishOptions,
        config: ManagedConfig,
    ) -> Result<(ManagedHandle, mpsc::Receiver<ManagedUpdate>), ManagedError> {
        if matches!(source, Source::Stdin) {
            return Err(ManagedError::StdinSource);
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ManagedError::Api(crate::error_chain(&e)))?;
        let url = call(&client, &params, "instance")
            .await
            .map_err(ManagedError::Api)?;
        let (pusher, pusher_events) = Publisher::start(&url, source.clone(), opts.clone())?;
        let (tx, rx) = mpsc::channel(256);
        let (destroy_tx, destroy_rx) = tokio::sync::oneshot::channel();
        let driver = Driver {
            params,
            source,
            opts,
            client,
            machine: ManagedMachine::new(config),
            pusher: Some(pusher),
            pusher_events,
            updates: tx,
        };
        tokio::spawn(driver.run(destroy_rx));
        Ok((
            ManagedHandle {
                destroy: Some(destroy_tx),
                url,
            },
            rx,
        ))
    }
}

struct Driver {
    params: InstanceParams,
    source: Source,
    opts: PublishOptions,
    client: reqwest::Client,
    machine: ManagedMachine,
    pusher: Option<PublisherHandle>,
    pusher_events: mpsc::Receiver<PusherEvent>,
    updates: mpsc::Sender<ManagedUpdate>,
}

/// Sleeps until `deadline` (an hour when there is none: the caller's guard disables the branch then).
async fn sleep_until(deadline: Option<Instant>) {
    let at = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
    tokio::time::sleep_until(at.into()).await;
}

impl Driver {
    async fn run(mut self, mut destroy: tokio::sync::oneshot::Receiver<()>) {
        let (fetched_tx, mut fetched) = mpsc::channel::<Result<String, String>>(4);
        self.machine
            .handle_input(ManagedInput::Start, Instant::now());
        loop {
            if !self.apply(&fetched_tx).await {
                let _ = self.updates.send(ManagedUpdate::Destroyed).await;
                return;
            }
            let deadline = self.machine.poll_timeout();
            tokio::select! {
                _ = &mut destroy => self.machine.handle_input(ManagedInput::Destroy, Instant::now()),
                event = self.pusher_events.recv() => match event {
                    Some(event) => {
                        if let PusherEvent::Status(s) = &event {
                            self.machine.handle_input(ManagedInput::Status { code: s.code }, Instant::now());
                        }
                        let _ = self.updates.send(ManagedUpdate::Pusher(event)).await;
                    }
                    // The pusher ended by itself (gave up): the reconnect cycle restarts it.
                    None => self.pusher_events = mpsc::channel(1).1,
                },
                Some(result) = fetched.recv() => {
                    let input = match result {
                        Ok(url) => ManagedInput::UrlFetched { url },
                        Err(err) => ManagedInput::UrlFailed { err },
                    };
                    self.machine.handle_input(input, Instant::now());
                }
                _ = sleep_until(deadline), if deadline.is_some() => {
                    self.machine.handle_timeout(Instant::now());
                }
            }
        }
    }

    /// Carries out the machine's outputs; `false` once destroyed.
    async fn apply(&mut self, fetched: &mpsc::Sender<Result<String, String>>) -> bool {
        while let Some(out) = self.machine.poll_output() {
            match out {
                ManagedOutput::Event(e) => {
                    info!(event = ?e, "managed publisher");
                    let _ = self.updates.send(ManagedUpdate::Sdk(e)).await;
                }
                ManagedOutput::Action(ManagedAction::FetchUrl) => {
                    let (client, params, tx) =
                        (self.client.clone(), self.params.clone(), fetched.clone());
                    tokio::spawn(async move {
                        let _ = tx.send(call(&client, &params, "refresh").await).await;
                    });
                }
                ManagedOutput::Action(ManagedAction::Restart { url }) => {
                    if let Some(old) = self.pusher.take() {
                        old.stop();
                    }
                    match Publisher::start(&url, self.source.clone(), self.opts.clone()) {
                        Ok((handle, events)) => {
                            self.pusher = Some(handle);
                            self.pusher_events = events;
                        }
                        Err(e) => {
                            warn!("the refreshed URL cannot be pushed: {e}");
                            self.machine.handle_input(
                                ManagedInput::UrlFailed { err: e.to_string() },
                                Instant::now(),
                            );
                        }
                    }
                }
                ManagedOutput::Action(ManagedAction::Stop) => {
                    if let Some(old) = self.pusher.take() {
                        old.stop();
                    }
                    return false;
                }
            }
        }
        true
    }
}
