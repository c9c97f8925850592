//! A publisher the test drives tag by tag: a fixture's FLV tags sent over RTMP with `rtmp::ClientSession`, so the
//! test decides what the server has received, and when (no keyframe, or nothing at all, until it says so).

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtmp::{ClientEvent, ClientSession, MediaKind, SessionConfig};

/// One tag of the fixture, with its timestamp on the pushed timeline.
#[derive(Debug, Clone)]
pub struct Tag {
    pub kind: MediaKind,
    pub ts: u32,
    pub body: Bytes,
}

impl Tag {
    /// A video keyframe (not a sequence header).
    pub fn is_keyframe(&self) -> bool {
        flv::FrameClass::of(self.kind, &self.body).is_keyframe()
    }
}

/// A publishing RTMP connection fed from a fixture, looped with time going on.
pub struct TagPusher {
    socket: TcpStream,
    session: ClientSession,
    tags: Vec<Tag>,
    /// Index of the next tag in `tags`.
    next: usize,
    /// Indexes after `next` already sent by [`TagPusher::send_audio_ahead`].
    ahead: HashSet<usize>,
    /// Added to the fixture's timestamps from the second loop on.
    offset: u32,
    /// Wall-clock time of timestamp 0, for pacing.
    epoch: Instant,
    /// Media milliseconds sent per wall-clock millisecond when paced.
    speed: u32,
    /// Added to the timestamps of audio tags as they are sent (an audio clock running ahead).
    audio_shift: u32,
}

impl TagPusher {
    /// Connects to `rtmp_addr` and publishes `app/stream`; nothing is sent yet.
    pub fn publish(rtmp_addr: &str, app: &str, stream: &str, fixture: &Path) -> TagPusher {
        let tags = super::read_flv(fixture)
            .into_iter()
            .map(|(kind, ts, body)| Tag { kind, ts, body })
            .collect();
        let socket = TcpStream::connect(rtmp_addr).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut session = ClientSession::new(SessionConfig::default(), Instant::now());
        session.connect(app, &format!("rtmp://{rtmp_addr}/{app}"));
        session.publish(stream);
        let mut pusher = TagPusher {
            socket,
            session,
            tags,
            next: 0,
            ahead: HashSet::new(),
            offset: 0,
            epoch: Instant::now(),
            speed: 1,
            audio_shift: 0,
        };
        pusher.until_publishing();
        pusher
    }

    fn until_publishing(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            self.flush();
            while let Some(event) = self.session.poll_output() {
                match event {
                    ClientEvent::Publishing { .. } => return,
                    ClientEvent::ConnectRejected { description, .. }
                    | ClientEvent::PublishRejected { description, .. } => {
                        panic!("publish refused: {description}")
                    }
                    _ => {}
                }
            }
            assert!(Instant::now() < deadline, "no NetStream.Publish.Start");
            match self.socket.read(&mut buf) {
                Ok(0) => panic!("the server closed the publishing connection"),
                Ok(n) => self
                    .session
                    .handle_input(&buf[..n], Instant::now())
                    .unwrap(),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => panic!("publishing connection: {e}"),
            }
        }
    }

    fn flush(&mut self) {
        while let Some(out) = self.session.take_transmit() {
            self.socket.write_all(&out).unwrap();
        }
    }

    /// The tag that goes next.
    pub fn peek(&self) -> Tag {
        let mut tag = self.tags[self.next].clone();
        tag.ts += self.offset;
        tag
    }

    /// Moves past the next tag without sending it; from the second loop on, the script tag and the sequence
    /// headers are not repeated.
    pub fn skip(&mut self) {
        loop {
            self.next += 1;
            if self.next == self.tags.len() {
                let last = self.tags.last().map_or(0, |t| t.ts);
                self.offset += last + 40;
                self.next = self
                    .tags
                    .iter()
                    .position(|t| t.is_keyframe())
                    .expect("a keyframe in the fixture");
                self.ahead.clear();
            }
            if !self.ahead.remove(&self.next) {
                return;
            }
        }
    }

    /// Paces at `speed` times real time from the next tag on (the server segments by timestamps, not by the clock).
    pub fn set_speed(&mut self, speed: u32) {
        self.speed = speed.max(1);
        self.resume_now();
    }

    /// Sends the next tag, at its time when `paced` (timestamps as milliseconds since the first tag).
    pub fn send_next(&mut self, paced: bool) -> Tag {
        let tag = self.peek();
        self.send(&tag, paced);
        self.skip();
        tag
    }

    /// Sends the next audio tag not sent yet, ahead of the video before it (which stays next): the server gets a
    /// frame, and no picture, let alone a keyframe.
    pub fn send_audio_ahead(&mut self) {
        let at = (self.next..self.tags.len())
            .find(|i| self.tags[*i].kind == MediaKind::Audio && !self.ahead.contains(i))
            .expect("audio before the end of the fixture");
        let mut tag = self.tags[at].clone();
        tag.ts += self.offset;
        self.send(&tag, true);
        if at == self.next {
            self.skip();
        } else {
            self.ahead.insert(at);
        }
    }

    fn send(&mut self, tag: &Tag, paced: bool) {
        if paced {
            let due = self.epoch + Duration::from_millis(u64::from(tag.ts / self.speed));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let ts = match tag.kind {
            MediaKind::Audio => tag.ts + self.audio_shift,
            _ => tag.ts,
        };
        self.session.send_media(tag.kind, ts, &tag.body);
        self.flush();
    }

    /// Sends tags, paced, while `go` says so for the next one (which is then not sent).
    pub fn send_while(&mut self, mut go: impl FnMut(&Tag) -> bool) {
        while go(&self.peek()) {
            self.send_next(true);
        }
    }

    /// Writes `bytes` on the connection as they are, outside the RTMP session (to break the protocol on purpose).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.socket.write_all(bytes).unwrap();
    }

    /// From now on, audio tags are sent `ms` later on the timeline than the video beside them.
    pub fn set_audio_shift(&mut self, ms: u32) {
        self.audio_shift = ms;
    }

    /// Starts the timeline over, as an encoder restarted on the same connection: the next tag is the fixture's
    /// first keyframe with its own timestamp, due now.
    pub fn rewind(&mut self) {
        self.next = self
            .tags
            .iter()
            .position(|t| t.is_keyframe())
            .expect("a keyframe in the fixture");
        self.offset = 0;
        self.ahead.clear();
        self.resume_now();
    }

    /// Restarts the pacing clock so that the next tag is due now (after a pause, no burst to catch up).
    pub fn resume_now(&mut self) {
        let ts = Duration::from_millis(u64::from(self.peek().ts / self.speed));
        let now = Instant::now();
        self.epoch = now.checked_sub(ts).unwrap_or(now);
    }
}
