//! Command messages received by the client.

use super::{ClientEvent, ClientSession, Mode, PLAY_BUFFER_MS};
use crate::amf0::Value;
use crate::message::{parse_command, Command, UserControl};

impl ClientSession {
    pub(super) fn on_command_body(&mut self, stream_id: u32, body: &[u8]) {
        // A malformed command from the server is ignored: there is nothing useful to answer.
        if let Ok(cmd) = parse_command(body, stream_id) {
            self.on_command(cmd);
        }
    }

    fn on_command(&mut self, cmd: Command) {
        let info = cmd
            .args
            .first()
            .filter(|v| v.properties().is_some())
            .unwrap_or(&cmd.object);
        let field = |k: &str| {
            info.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let (level, code, description) = (field("level"), field("code"), field("description"));
        let tid = cmd.transaction_id;
        let is_connect = self.connect_tid == Some(tid) && !self.connected;
        match cmd.name.as_str() {
            "_result" if is_connect => {
                self.connected = true;
                self.events.push_back(ClientEvent::Connected);
                self.start_job();
            }
            "_error" if is_connect => {
                self.connect_tid = None;
                self.events
                    .push_back(ClientEvent::ConnectRejected { code, description });
            }
            "_result" => {
                let id = cmd
                    .args
                    .first()
                    .and_then(Value::as_number)
                    .or(cmd.object.as_number());
                let Some(job) = self
                    .job
                    .as_mut()
                    .filter(|j| j.create_tid == tid && j.stream_id.is_none())
                else {
                    return;
                };
                let Some(id) = id.filter(|n| *n >= 0.0 && *n <= f64::from(u32::MAX)) else {
                    return;
                };
                job.stream_id = Some(id as u32);
                self.send_job_command(id as u32);
            }
            "_error" => {
                let pending = self
                    .job
                    .as_ref()
                    .filter(|j| !j.active && (j.create_tid == tid || j.job_tid == tid))
                    .map(|j| j.mode);
                match pending {
                    Some(mode) => self.job_rejected(mode, code, description),
                    None => self.events.push_back(ClientEvent::Status {
                        level,
                        code,
                        description,
                    }),
                }
            }
            "onStatus" => self.on_status(level, code, description),
            _ => {}
        }
    }

    fn send_job_command(&mut self, stream_id: u32) {
        let t = self.tid();
        let Some(job) = self.job.as_mut() else {
            return;
        };
        job.job_tid = t;
        let name = Value::string(job.name.as_str());
        match job.mode {
            Mode::Publish => {
                self.conn.send_command(
                    stream_id,
                    "publish",
                    t,
                    &Value::Null,
                    &[name, Value::string("live")],
                );
            }
            Mode::Play => {
                self.conn.send_command(
                    stream_id,
                    "play",
                    t,
                    &Value::Null,
                    &[name, Value::Number(-2.0)],
                );
                self.conn.send_user_control(UserControl::SetBufferLength {
                    stream_id,
                    millis: PLAY_BUFFER_MS,
                });
            }
        }
    }

    fn job_rejected(&mut self, mode: Mode, code: String, description: String) {
        self.job = None;
        self.events.push_back(match mode {
            Mode::Publish => ClientEvent::PublishRejected { code, description },
            Mode::Play => ClientEvent::PlayRejected { code, description },
        });
    }

    fn on_status(&mut self, level: String, code: String, description: String) {
        let pending = self
            .job
            .as_mut()
            .filter(|j| !j.active && j.stream_id.is_some());
        if let Some(job) = pending {
            let start = match job.mode {
                Mode::Publish => "NetStream.Publish.Start",
                Mode::Play => "NetStream.Play.Start",
            };
            if code == start {
                job.active = true;
                // Invariant: `pending` requires a stream id.
                let stream_id = job.stream_id.unwrap_or_default();
                self.events.push_back(match job.mode {
                    Mode::Publish => ClientEvent::Publishing { stream_id },
                    Mode::Play => ClientEvent::Playing { stream_id },
                });
                return;
            }
            if level == "error" {
                let mode = job.mode;
                self.job_rejected(mode, code, description);
                return;
            }
        }
        self.events.push_back(ClientEvent::Status {
            level,
            code,
            description,
        });
    }
}
