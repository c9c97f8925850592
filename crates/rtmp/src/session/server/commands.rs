//! Command messages received by the server.

use super::{
    ConnectState, MsgStream, ServerEvent, ServerSession, StreamState, MAX_MESSAGE_STREAMS,
};
use crate::amf0::{self, Value};
use crate::error::Error;
use crate::message::{parse_command, status_info, Command};
use crate::split_query;

mod fields;

fn owned_query(q: Option<&str>) -> Option<String> {
    q.map(str::to_owned)
}

impl ServerSession {
    pub(super) fn on_command_body(&mut self, stream_id: u32, body: &[u8]) -> Result<(), Error> {
        match parse_command(body, stream_id) {
            Ok(cmd) => return self.on_command(stream_id, cmd),
            Err(e) => {
                // Answer politely when at least the name and transaction id are readable.
                if let Ok((Value::String(name), n)) = amf0::decode_one(body) {
                    if let Ok((Value::Number(tid), _)) =
                        amf0::decode_one(body.get(n..).unwrap_or_default())
                    {
                        if tid != 0.0 {
                            self.call_failed(
                                stream_id,
                                tid,
                                &format!("Malformed arguments to {name}."),
                            );
                        }
                    }
                }
                self.unhandled(format!("malformed command on stream {stream_id}: {e}"));
            }
        }
        Ok(())
    }

    fn result(&mut self, tid: f64, value: Value) {
        self.conn
            .send_command(0, "_result", tid, &Value::Null, &[value]);
    }

    fn call_failed(&mut self, stream_id: u32, tid: f64, description: &str) {
        let info = status_info("error", "NetConnection.Call.Failed", description);
        self.conn
            .send_command(stream_id, "_error", tid, &Value::Null, &[info]);
    }

    /// Handles one command. A string of `connect`, `publish` or `play` over `max_field_bytes` is answered with
    /// an error status naming it, then returned as the session's error.
    fn on_command(&mut self, stream_id: u32, cmd: Command) -> Result<(), Error> {
        if let Some(e) = fields::too_long(&cmd, self.conn.config.max_field_bytes) {
            let description = e.to_string();
            match cmd.name.as_str() {
                "connect" if self.connect == ConnectState::Waiting => {
                    self.connect = ConnectState::Pending {
                        transaction_id: cmd.transaction_id,
                        object_encoding: 0.0,
                    };
                    self.reject_connect(&description);
                }
                "publish" => self.send_status(
                    stream_id,
                    "error",
                    "NetStream.Publish.BadName",
                    &description,
                ),
                _ => self.send_status(stream_id, "error", "NetStream.Play.Failed", &description),
            }
            return Err(e);
        }
        let tid = cmd.transaction_id;
        let arg_str = |i: usize| cmd.args.get(i).and_then(Value::as_str).map(str::to_owned);
        match cmd.name.as_str() {
            "connect" if self.connect == ConnectState::Waiting => self.on_connect(&cmd),
            "releaseStream" | "_checkbw" => {
                if tid != 0.0 {
                    self.result(tid, Value::Undefined);
                }
            }
            "FCPublish" => {
                let name = arg_str(0).unwrap_or_default();
                let info = status_info("status", "NetStream.Publish.Start", &name);
                self.conn
                    .send_command(0, "onFCPublish", 0.0, &Value::Null, &[info]);
                if tid != 0.0 {
                    self.result(tid, Value::Undefined);
                }
            }
            "FCUnpublish" => {
                let name = arg_str(0).unwrap_or_default();
                self.on_fc_unpublish(&name);
                let info = status_info("status", "NetStream.Unpublish.Success", &name);
                self.conn
                    .send_command(0, "onFCUnpublish", 0.0, &Value::Null, &[info]);
                if tid != 0.0 {
                    self.result(tid, Value::Undefined);
                }
            }
            "createStream" => {
                if self.streams.len() >= MAX_MESSAGE_STREAMS {
                    self.call_failed(stream_id, tid, "Too many streams.");
                    return Ok(());
                }
                let id = self.next_stream_id;
                self.next_stream_id = self.next_stream_id.wrapping_add(1).max(1);
                self.streams.push(MsgStream {
                    id,
                    state: StreamState::Idle,
                });
                self.result(tid, Value::Number(f64::from(id)));
            }
            "publish" => self.on_publish(stream_id, arg_str(0), arg_str(1)),
            "play" => {
                let num =
                    |i: usize, d: f64| cmd.args.get(i).and_then(Value::as_number).unwrap_or(d);
                let reset = match cmd.args.get(3) {
                    Some(Value::Boolean(b)) => *b,
                    Some(Value::Number(n)) => *n != 0.0,
                    _ => true,
                };
                self.on_play(stream_id, arg_str(0), num(1, -2.0), num(2, -1.0), reset);
            }
            "closeStream" => self.close_stream(stream_id, false),
            "deleteStream" => {
                let id = cmd.args.first().and_then(Value::as_number).unwrap_or(0.0);
                if id >= 1.0 && id <= f64::from(u32::MAX) {
                    self.close_stream(id as u32, true);
                }
            }
            "getStreamLength" => self.result(tid, Value::Number(0.0)),
            "receiveAudio" | "receiveVideo" | "_result" | "_error" | "onStatus" | "onBWDone" => {}
            name => {
                if tid != 0.0 {
                    self.call_failed(stream_id, tid, &format!("Method not found ({name})."));
                }
                self.unknown_command(format!("unknown command {name:?} on stream {stream_id}"));
            }
        }
        Ok(())
    }

    fn on_connect(&mut self, cmd: &Command) {
        let obj = &cmd.object;
        let app_full = obj.get("app").and_then(Value::as_str).unwrap_or_default();
        let tc_url = obj.get("tcUrl").and_then(Value::as_str).map(str::to_owned);
        let (app, app_query) = split_query(app_full);
        let query = app_query.or_else(|| tc_url.as_deref().and_then(|t| split_query(t).1));
        let query = owned_query(query);
        let object_encoding = obj
            .get("objectEncoding")
            .and_then(Value::as_number)
            .unwrap_or(0.0);
        self.connect = ConnectState::Pending {
            transaction_id: cmd.transaction_id,
            object_encoding,
        };
        self.events.push_back(ServerEvent::Connect {
            app: app.to_owned(),
            tc_url,
            query,
        });
    }

    /// The stream a publish/play names, created implicitly if the client skipped createStream.
    fn stream_for(&mut self, stream_id: u32) -> Option<&mut MsgStream> {
        if stream_id == 0 {
            return None;
        }
        if self.stream(stream_id).is_none() {
            if self.streams.len() >= MAX_MESSAGE_STREAMS {
                return None;
            }
            self.streams.push(MsgStream {
                id: stream_id,
                state: StreamState::Idle,
            });
        }
        self.stream_mut(stream_id)
    }

    fn on_publish(&mut self, stream_id: u32, name: Option<String>, publish_type: Option<String>) {
        let Some(full) = name.filter(|n| !n.is_empty()) else {
            self.send_status(
                stream_id,
                "error",
                "NetStream.Publish.BadName",
                "Missing stream name.",
            );
            return;
        };
        let (bare, query) = split_query(&full);
        let (bare, query) = (bare.to_owned(), owned_query(query));
        match self.stream_for(stream_id) {
            Some(s) if s.state == StreamState::Idle => {
                s.state = StreamState::PublishPending { name: bare.clone() };
            }
            _ => {
                self.send_status(
                    stream_id,
                    "error",
                    "NetStream.Publish.BadConnection",
                    "Stream is busy.",
                );
                return;
            }
        }
        // Clients send media once publish is accepted; from here on it may come.
        self.conn.set_media_allowed(true);
        self.events.push_back(ServerEvent::Publish {
            stream_id,
            name: bare,
            query,
            publish_type: publish_type.unwrap_or_else(|| "live".to_owned()),
        });
    }

    fn on_play(
        &mut self,
        stream_id: u32,
        name: Option<String>,
        start: f64,
        duration: f64,
        reset: bool,
    ) {
        let Some(full) = name.filter(|n| !n.is_empty()) else {
            self.send_status(
                stream_id,
                "error",
                "NetStream.Play.StreamNotFound",
                "Missing stream name.",
            );
            return;
        };
        let (bare, query) = split_query(&full);
        let (bare, query) = (bare.to_owned(), owned_query(query));
        match self.stream_for(stream_id) {
            Some(s) if s.state == StreamState::Idle => {
                s.state = StreamState::PlayPending {
                    name: bare.clone(),
                    reset,
                };
            }
            _ => {
                self.send_status(
                    stream_id,
                    "error",
                    "NetStream.Play.Failed",
                    "Stream is busy.",
                );
                return;
            }
        }
        self.events.push_back(ServerEvent::Play {
            stream_id,
            name: bare,
            query,
            start,
            duration,
            reset,
        });
    }

    fn on_fc_unpublish(&mut self, name: &str) {
        let (bare, _) = split_query(name);
        let publishing = |s: &&MsgStream| {
            matches!(
                &s.state,
                StreamState::Publishing { .. } | StreamState::PublishPending { .. }
            )
        };
        let named = self.streams.iter().filter(publishing).find(|s| {
            matches!(&s.state, StreamState::Publishing { name } | StreamState::PublishPending { name } if name == bare)
        });
        // Some clients send a different name (or none) in FCUnpublish: fall back to the only publishing stream.
        let id = named.map(|s| s.id).or_else(|| {
            let mut it = self.streams.iter().filter(publishing);
            match (it.next(), it.next()) {
                (Some(s), None) => Some(s.id),
                _ => None,
            }
        });
        if let Some(id) = id {
            self.close_stream(id, false);
        }
    }

    /// End whatever `stream_id` does (Unpublish / PlayStop event); `remove` for deleteStream.
    fn close_stream(&mut self, stream_id: u32, remove: bool) {
        let Some(s) = self.stream_mut(stream_id) else {
            return;
        };
        let event = match std::mem::replace(&mut s.state, StreamState::Idle) {
            StreamState::Publishing { .. } | StreamState::PublishPending { .. } => {
                Some(ServerEvent::Unpublish { stream_id })
            }
            StreamState::Playing { .. } | StreamState::PlayPending { .. } => {
                Some(ServerEvent::PlayStop { stream_id })
            }
            StreamState::Idle => None,
        };
        if remove {
            self.streams.retain(|s| s.id != stream_id);
        }
        if let Some(e) = event {
            self.events.push_back(e);
        }
    }
}
