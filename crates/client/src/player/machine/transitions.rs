//! The player machine's transitions: what each input and timer does to the phase, the buffer and the counters.

use std::time::Instant;

use super::{
    Action, AttemptState, Frame, MediaKind, Output, Phase, PlayMode, PlayerMachine,
    AUDIO_ONLY_START,
};
use crate::status::{player as code, StatusEvent};

impl PlayerMachine {
    pub(super) fn start(&mut self) {
        if !(self.phase == Phase::Idle || self.is_finished()) {
            return;
        }
        let config = self.config.clone();
        *self = Self::new(config);
        self.phase = Phase::Connecting;
        self.action(Action::Connect);
    }

    pub(super) fn attempt_open(&self) -> bool {
        matches!(
            self.phase,
            Phase::Connecting | Phase::Requesting | Phase::Streaming
        )
    }

    pub(super) fn play_started(&mut self) {
        self.phase = Phase::Streaming;
        self.waiting_since = None;
        self.attempt = AttemptState::default();
        self.buffer.clear();
        self.playing = false;
        self.status(code::STREAM_BEGIN, "the server began sending the stream");
    }

    pub(super) fn not_found(&mut self, detail: String, now: Instant) {
        self.close();
        let since = *self.waiting_since.get_or_insert(now);
        if since == now {
            self.status(
                code::LOADING,
                format!("loading: the stream is not live yet ({detail})"),
            );
        }
        if let Some(max) = self.config.max_wait {
            if now.saturating_duration_since(since) >= max {
                self.give_up(format!(
                    "the stream was not published within {} ms ({detail})",
                    max.as_millis()
                ));
                return;
            }
        }
        self.phase = Phase::Backoff;
        self.retry_at = Some(now + self.config.retry_interval);
    }

    pub(super) fn frame(&mut self, frame: Frame, now: Instant) {
        if !self.attempt.got_frame {
            self.attempt.got_frame = true;
            // The connection works end to end: later failures start a new count.
            self.failures = 0;
        }
        if let (Some(w), Some(h)) = (frame.width, frame.height) {
            match self.resolution {
                Some((ow, oh)) if (ow, oh) != (w, h) => self.status(
                    code::RESOLUTION_CHANGED,
                    format!("resolution changed from {ow}x{oh} to {w}x{h}"),
                ),
                _ => {}
            }
            self.resolution = Some((w, h));
        }
        let is_key = frame.kind == MediaKind::Video && frame.keyframe;
        if is_key && !self.attempt.keyframe_seen {
            self.attempt.keyframe_seen = true;
            self.status(code::FIRST_I_FRAME, "first video keyframe received");
        }
        if frame.kind == MediaKind::Video && !self.attempt.keyframe_seen {
            // Nothing can be decoded before the first keyframe.
            self.dropped += 1;
            return;
        }
        match self.config.mode {
            PlayMode::Live => self.buffer_frame(frame, now),
            PlayMode::Rtc => self.rtc_frame(frame, now),
        }
    }

    pub(super) fn buffer_frame(&mut self, frame: Frame, now: Instant) {
        self.dropped += self
            .buffer
            .push(frame.kind, frame.timestamp_ms, now)
            .dropped;
        if !self.playing {
            if self.buffer.level(now) >= self.config.min_cache {
                self.begin(now, "playback begins: min-cache buffered");
            }
        } else if self.buffer.level(now) > self.config.max_cache {
            self.dropped += self.buffer.skip_to(self.config.min_cache, now);
        }
    }

    pub(super) fn rtc_frame(&mut self, frame: Frame, now: Instant) {
        self.attempt.last_arrival = Some(now);
        if self.playing {
            return;
        }
        let audio_only_ready = frame.kind == MediaKind::Audio && !self.attempt.keyframe_seen && {
            let first = *self
                .attempt
                .first_audio_ts
                .get_or_insert(frame.timestamp_ms);
            let span = frame.timestamp_ms.wrapping_sub(first);
            u128::from(span) >= AUDIO_ONLY_START.as_millis()
        };
        if self.attempt.keyframe_seen || audio_only_ready {
            self.begin(now, "playback begins (rtc)");
        }
    }

    pub(super) fn begin(&mut self, now: Instant, why: &str) {
        self.playing = true;
        self.end_stall(now);
        if self.config.mode == PlayMode::Live {
            self.buffer.run(now);
        }
        self.status(code::PLAY_BEGIN, why);
    }

    pub(super) fn stream_ended(&mut self, detail: String, now: Instant) {
        self.close();
        if self.playing && self.config.mode == PlayMode::Live {
            // What is buffered still plays; 2006 comes when it ran out.
            self.phase = Phase::Draining;
            return;
        }
        self.end_stall(now);
        self.playing = false;
        self.phase = Phase::Ended;
        self.status(
            code::PLAY_END,
            format!("playback ended: the stream ended ({detail})"),
        );
    }

    /// A failure of the current attempt: report it, then reconnect or give up.
    pub(super) fn fail(&mut self, failure: i32, message: String, now: Instant) {
        self.end_stall(now);
        self.playing = false;
        self.buffer.clear();
        self.status(failure, message.clone());
        self.failures += 1;
        if self.failures > self.config.retries {
            self.give_up(format!(
                "gave up after {} failed attempts in a row; the last: {message}",
                self.failures
            ));
            return;
        }
        self.reconnects += 1;
        self.connected_reported = false;
        self.phase = Phase::Backoff;
        self.retry_at = Some(now + self.config.retry_interval);
        self.status(
            code::RECONNECTING,
            format!(
                "reconnecting in {} ms (reconnect {} of {})",
                self.config.retry_interval.as_millis(),
                self.failures,
                self.config.retries
            ),
        );
    }

    pub(super) fn give_up(&mut self, message: String) {
        self.phase = Phase::GaveUp;
        self.retry_at = None;
        self.status(code::GAVE_UP, message);
        self.action(Action::GiveUp);
    }

    pub(super) fn end_stall(&mut self, now: Instant) {
        if let Some(since) = self.stall_since.take() {
            self.stalled += now.saturating_duration_since(since);
        }
    }

    pub(super) fn close(&mut self) {
        self.action(Action::Close);
    }

    pub(super) fn status(&mut self, code: i32, message: impl Into<String>) {
        self.outputs
            .push_back(Output::Status(StatusEvent::new(code, message)));
    }

    pub(super) fn action(&mut self, action: Action) {
        self.outputs.push_back(Output::Action(action));
    }
}
