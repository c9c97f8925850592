//! What a connection does with the session's events: `connect`, `publish`, `play` (each through the stream
//! lifecycle), media, unpublish and play stop.

use std::sync::Arc;

use control::webhook_event::redact_stream_param;
use media::{Frame, StreamKey};
use rtmp::ServerEvent;
use tokio::time::Instant;
use tracing::{debug, info};

use super::{Close, Conn, Playing, Publishing};
use crate::ops::log_value::clip;
use crate::output::batch::WritePolicy;
use crate::output::fanout::{DirectPlayer, OutputFormat};
use crate::stream::access;
use crate::stream::lifecycle::{self, Protocol};

/// A `publish` or `play` the connection has to answer.
pub(super) enum Pending {
    Publish {
        stream_id: u32,
        name: String,
        query: Option<String>,
    },
    Play {
        stream_id: u32,
        name: String,
        query: Option<String>,
    },
}

impl Conn {
    /// Acts on what the session decoded.
    // Long on purpose: one arm per session event; each arm that does more than a line calls a method below.
    pub(super) fn handle_events(&mut self) {
        while self.pending.is_none() {
            let Some(event) = self.session.poll_output() else {
                return;
            };
            match event {
                ServerEvent::Connect { app, tc_url, query } => {
                    self.connect_query = query;
                    if app.is_empty() {
                        self.session
                            .reject_connect("empty application name: use rtmp://host/APP/STREAM");
                        self.closing = Some(Close::Refused("empty application name".into()));
                        continue;
                    }
                    // Checked before the name is logged: a client may send megabytes of it.
                    if let Err(refusal) = access::check_names(&app, None) {
                        self.shared
                            .streams
                            .metrics
                            .refused("connect", refusal.reason.as_str());
                        self.session.reject_connect(&refusal.description());
                        self.closing = Some(Close::Refused(format!(
                            "connect {}: {}",
                            clip(&app),
                            refusal.description()
                        )));
                        continue;
                    }
                    // The tcUrl may carry a signature: logged masked, and cut.
                    let tc_url = match tc_url.as_deref().unwrap_or("").split_once('?') {
                        Some((base, query)) => format!("{base}?{}", redact_stream_param(query)),
                        None => tc_url.clone().unwrap_or_default(),
                    };
                    debug!(peer = %self.peer, %app, tc_url = %clip(&tc_url), "connect");
                    self.app = Some(app);
                    self.session.accept_connect();
                }
                ServerEvent::Publish {
                    stream_id,
                    name,
                    query,
                    ..
                } => {
                    self.pending = Some(Pending::Publish {
                        stream_id,
                        name,
                        query,
                    })
                }
                ServerEvent::Play {
                    stream_id,
                    name,
                    query,
                    ..
                } => {
                    self.pending = Some(Pending::Play {
                        stream_id,
                        name,
                        query,
                    })
                }
                ServerEvent::Media {
                    stream_id,
                    kind,
                    timestamp,
                    payload,
                } => {
                    if let Some(p) = &mut self.publishing {
                        if p.stream_id == stream_id {
                            p.session
                                .push(Frame::new(kind, timestamp, payload), self.last_input);
                            p.last_media = self.last_input;
                            p.pushed = true;
                        }
                    }
                }
                ServerEvent::Unpublish { stream_id } => {
                    if self
                        .publishing
                        .as_ref()
                        .is_some_and(|p| p.stream_id == stream_id)
                    {
                        if let Some(p) = self.publishing.take() {
                            info!(peer = %self.peer, stream = %p.session.key(), "unpublish");
                        }
                    }
                }
                ServerEvent::PlayStop { stream_id } => {
                    if self
                        .playing
                        .as_ref()
                        .is_some_and(|p| p.stream_id == stream_id)
                    {
                        self.playing = None;
                    }
                }
                ServerEvent::Unhandled {
                    description,
                    malformed: false,
                } => {
                    debug!(peer = %self.peer, description = %clip(&description), "answered with _error");
                }
                ServerEvent::Unhandled {
                    description,
                    malformed: true,
                } => {
                    // A peer that sends what RTMP does not define is broken or hostile; staying lenient here
                    // would only hide the bug.
                    self.closing = Some(Close::Error(clip(&description).to_string()));
                }
            }
        }
    }

    /// Answers a publish or play: events after it wait in the session until this is done.
    pub(super) async fn answer(&mut self, request: Pending) {
        match request {
            Pending::Publish {
                stream_id,
                name,
                query,
            } => self.on_publish(stream_id, name, query).await,
            Pending::Play {
                stream_id,
                name,
                query,
            } => self.on_play(stream_id, name, query).await,
        }
    }

    async fn on_publish(&mut self, stream_id: u32, name: String, query: Option<String>) {
        let Some(app_name) = self.app.clone() else {
            self.session.reject_publish(
                stream_id,
                "NetStream.Publish.Rejected",
                "publish before connect",
            );
            self.closing = Some(Close::Refused("publish before connect".into()));
            return;
        };
        if name.is_empty() {
            self.session.reject_publish(
                stream_id,
                "NetStream.Publish.BadName",
                "empty stream name: use rtmp://host/APP/STREAM",
            );
            self.closing = Some(Close::Refused("empty stream name".into()));
            return;
        }
        if self.publishing.is_some() || self.playing.is_some() {
            self.session.reject_publish(
                stream_id,
                "NetStream.Publish.Rejected",
                "this connection is already in use",
            );
            return;
        }
        let request = self.request(&app_name, &name, query.as_deref());
        match lifecycle::publish(&self.shared.streams, request).await {
            Ok(session) => {
                let kicked = Box::pin(session.kicked());
                let group = session.entry().players.clone();
                self.publishing = Some(Box::new(Publishing {
                    stream_id,
                    session,
                    kicked,
                    last_media: Instant::now(),
                    group,
                    pushed: false,
                }));
                self.session.accept_publish(stream_id);
            }
            Err(refusal) => {
                let description = refusal.description();
                self.session.reject_publish(
                    stream_id,
                    refusal.reason.rtmp_publish_code(),
                    &description,
                );
                self.closing = Some(Close::Refused(format!(
                    "publish {}/{}: {description}",
                    clip(&app_name),
                    clip(&name)
                )));
            }
        }
    }

    async fn on_play(&mut self, stream_id: u32, name: String, query: Option<String>) {
        let Some(app_name) = self.app.clone() else {
            self.session
                .reject_play(stream_id, "NetStream.Play.Failed", "play before connect");
            self.closing = Some(Close::Refused("play before connect".into()));
            return;
        };
        if self.publishing.is_some() || self.playing.is_some() {
            self.session.reject_play(
                stream_id,
                "NetStream.Play.Failed",
                "this connection is already in use",
            );
            return;
        }
        let request = self.request(&app_name, &name, query.as_deref());
        let play = match lifecycle::play(&self.shared.streams, request).await {
            Ok(play) => play,
            Err(refusal) => {
                let description = refusal.description();
                self.session
                    .reject_play(stream_id, refusal.reason.rtmp_play_code(), &description);
                self.closing = Some(Close::Refused(format!(
                    "play {}/{}: {description}",
                    clip(&app_name),
                    clip(&name)
                )));
                return;
            }
        };
        let key = StreamKey::new(app_name, name);
        let policy = WritePolicy::new(play.mode.rtc, self.shared.streams.merge_window);
        let player = Arc::new(DirectPlayer::new(
            self.writer.clone(),
            play.subscriber,
            OutputFormat::Rtmp {
                stream_id,
                chunk_size: self.session.out_chunk_size(),
            },
            policy,
            self.peer,
        ));
        self.session.accept_play(stream_id);
        // The play status goes first; the cached GOP follows when the loop services the player.
        if let Some(out) = self.session.take_transmit() {
            self.batch.push(out);
        }
        let earlier = std::mem::take(&mut self.batch);
        player.lock().queue_batch(earlier);
        let membership = play.entry.players.join(player.clone());
        self.playing = Some(Playing {
            stream_id,
            key,
            player,
            _membership: membership,
            _session: play.session,
        });
    }

    /// The lifecycle request of a `publish` or `play` on this connection: the signature is on the stream name's
    /// query, else on the tcUrl's.
    fn request<'a>(
        &'a self,
        app: &'a str,
        stream: &'a str,
        query: Option<&'a str>,
    ) -> lifecycle::Request<'a> {
        lifecycle::Request {
            app,
            stream,
            query: access::signed_query(query, self.connect_query.as_deref()),
            peer: self.peer,
            protocol: Protocol::Rtmp,
        }
    }
}
