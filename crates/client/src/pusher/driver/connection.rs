//! The driver's side of the open connection: reading and the session's events, the publish start, moving
//! queued frames to the socket, and the connection's deadlines.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use rtmp::{ClientEvent, MediaKind};
use tracing::{debug, warn};

use super::{Driver, Link};
use crate::pusher::machine::Input;
use crate::pusher::media::{empty_metadata, with_sei, VideoConfig};

/// Bytes handed to the session ahead of the socket: the rest waits in the send queue, where it can be dropped.
const WRITE_AHEAD: usize = 64 * 1024;

impl Driver {
    /// Moves queued frames to the session while the socket keeps up, and writes without waiting.
    pub(super) fn pump(&mut self) {
        let now = Instant::now();
        let Link::Open(conn) = &mut self.link else {
            return;
        };
        loop {
            if conn.publishing && !self.machine.is_paused() {
                while conn.pending() < WRITE_AHEAD {
                    let Some(mut f) = self.queue.pop() else {
                        break;
                    };
                    self.meter
                        .dequeued(now.saturating_duration_since(f.arrived));
                    if f.class.is_video_frame() && !self.messages.is_empty() {
                        f.payload = embed_messages(&mut self.messages, self.video, f.payload);
                    }
                    conn.session.send_media(f.kind, f.timestamp, &f.payload);
                    conn.collect(now);
                }
            }
            conn.collect(now);
            match conn.try_write(now) {
                Ok(0) => return,
                Ok(n) => self.meter.sent(n),
                Err(e) => {
                    let failure =
                        socket_failure(conn.handshake_done, "cannot write to the server", e);
                    self.fail(failure, now);
                    return;
                }
            }
        }
    }

    pub(super) fn read(&mut self, now: Instant) {
        let Link::Open(conn) = &mut self.link else {
            return;
        };
        let failure = match conn.stream.try_read(&mut self.read_buf) {
            Ok(0) if conn.handshake_done => Some(Input::ServerClosed {
                detail: "the server closed the connection".into(),
            }),
            Ok(0) => Some(Input::HandshakeFailed {
                detail: "the server closed the connection during the RTMP handshake".into(),
            }),
            Ok(n) => conn
                .session
                .handle_input(&self.read_buf[..n], now)
                .err()
                .map(|e| {
                    let detail = format!("bad RTMP data from the server: {e}");
                    if conn.publishing {
                        Input::IoFailed { detail }
                    } else {
                        Input::HandshakeFailed { detail }
                    }
                }),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
            Err(e) => Some(socket_failure(
                conn.handshake_done,
                "cannot read from the server",
                e,
            )),
        };
        if let Some(failure) = failure {
            self.fail(failure, now);
            return;
        }
        self.session_events(now);
    }

    pub(super) fn session_events(&mut self, now: Instant) {
        loop {
            let Link::Open(conn) = &mut self.link else {
                return;
            };
            let Some(event) = conn.session.poll_output() else {
                conn.collect(now);
                return;
            };
            let refused = |code: String, description: String| Input::Refused {
                description: if description.is_empty() {
                    code
                } else {
                    description
                },
            };
            match event {
                ClientEvent::HandshakeDone => conn.handshake_done = true,
                ClientEvent::Connected => debug!("connect accepted"),
                ClientEvent::Publishing { .. } => {
                    conn.publishing = true;
                    self.on_publishing(now);
                }
                ClientEvent::ConnectRejected { code, description }
                | ClientEvent::PublishRejected { code, description } => {
                    self.fail(refused(code, description), now);
                }
                ClientEvent::Status {
                    level,
                    code,
                    description,
                } if level == "error" => self.fail(refused(code, description), now),
                other => debug!("from the server: {other:?}"),
            }
        }
    }

    /// The server accepted the publish: metadata and sequence headers first, then video from a keyframe.
    pub(super) fn on_publishing(&mut self, now: Instant) {
        let Link::Open(conn) = &mut self.link else {
            return;
        };
        conn.session.set_chunk_size(self.opts.chunk_size);
        if let Some(m) = &self.headers.metadata {
            conn.session.send_media(
                MediaKind::Script,
                self.last_ts,
                &flv::script::add_set_data_frame(m),
            );
        }
        for (kind, header) in [
            (MediaKind::Video, &self.headers.video),
            (MediaKind::Audio, &self.headers.audio),
        ] {
            if let Some(h) = header {
                conn.session.send_media(kind, self.last_ts, h);
            }
        }
        conn.last_media = now;
        conn.collect(now);
        self.queue.clear();
        self.meter.reconnected();
        self.congested = false;
        self.machine.handle_input(Input::Publishing, now);
    }

    /// The next time the connection needs attention without socket readiness.
    pub(super) fn link_deadline(&self) -> Option<Instant> {
        let Link::Open(conn) = &self.link else {
            return None;
        };
        if !conn.publishing {
            return Some(conn.publish_deadline);
        }
        let stall = conn.stalled_since().map(|t| t + self.opts.write_timeout);
        let keepalive = self
            .machine
            .is_paused()
            .then(|| conn.last_media + self.opts.paused_keepalive);
        [stall, keepalive].into_iter().flatten().min()
    }

    pub(super) fn link_timer(&mut self, now: Instant) {
        let paused = self.machine.is_paused();
        let Link::Open(conn) = &mut self.link else {
            return;
        };
        if !conn.publishing {
            if now >= conn.publish_deadline {
                let secs = self.opts.publish_timeout.as_secs_f64();
                let detail = if conn.handshake_done {
                    format!("the server did not answer connect/publish within {secs} s")
                } else {
                    format!("the RTMP handshake did not complete within {secs} s")
                };
                self.fail(Input::HandshakeFailed { detail }, now);
            }
            return;
        }
        if conn
            .stalled_since()
            .is_some_and(|t| now >= t + self.opts.write_timeout)
        {
            let secs = self.opts.write_timeout.as_secs_f64();
            let detail = format!("the server took no data for {secs} s");
            self.fail(Input::IoFailed { detail }, now);
            return;
        }
        if paused && now >= conn.last_media + self.opts.paused_keepalive {
            // Paused: no audio or video, but the metadata again, so the server's no-data timeout keeps away.
            let meta = self.headers.metadata.clone().unwrap_or_else(empty_metadata);
            conn.session.send_media(
                MediaKind::Script,
                self.last_ts,
                &flv::script::add_set_data_frame(&meta),
            );
            conn.last_media = now;
            conn.collect(now);
        }
    }
}

/// Puts the waiting messages into `frame` when the stream is legacy H.264, else drops them with a warning.
fn embed_messages(
    messages: &mut VecDeque<Bytes>,
    video: Option<VideoConfig>,
    frame: Bytes,
) -> Bytes {
    let Some(size) = video.and_then(|v| v.avc_nalu_length_size) else {
        warn!(
            count = messages.len(),
            "messages dropped: only H.264 video (FLV codec id 7) can carry them"
        );
        messages.clear();
        return frame;
    };
    let mut frame = frame;
    while let Some(m) = messages.pop_front() {
        match with_sei(&frame, size, &m) {
            Some(f) => frame = f,
            None => warn!(
                len = m.len(),
                "a message could not be put into the video frame: dropped"
            ),
        }
    }
    frame
}

/// The input for a failed socket call. Before the handshake is done, 3003. After it, the server ending the
/// connection (a reset or a broken pipe, as a server that closes with our data unread causes) is 3004 like an
/// orderly close: live-pusher's "the server disconnected"; any other error (unreachable network, timeout) is
/// 3005, the read/write failure.
pub(super) fn socket_failure(handshake_done: bool, what: &str, e: std::io::Error) -> Input {
    use std::io::ErrorKind as K;
    match e.kind() {
        _ if !handshake_done => Input::HandshakeFailed {
            detail: format!("RTMP handshake failed: {what}: {e}"),
        },
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            Input::ServerClosed {
                detail: format!("the server closed the connection ({what}: {e})"),
            }
        }
        _ => Input::IoFailed {
            detail: format!("{what}: {e}"),
        },
    }
}
