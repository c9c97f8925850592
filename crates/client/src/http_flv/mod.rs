//! The HTTP-FLV reader: the one way the client and the load tool read an `http://host/app/stream.flv` response.
//!
//! Sans-IO, like `flv::FlvDemuxer` under it: send [`request`] on a connection, feed what arrives to
//! [`HttpFlvReader::handle_input`] (any split), and take [`Event`]s out with [`HttpFlvReader::poll_output`] until it
//! returns `None`: the response head first ([`Event::Playing`] for 200, [`Event::Refused`] for anything else), then
//! the body's FLV tags, then [`Event::Ended`] when the body ends where its framing says (the last chunk, or
//! `Content-Length` bytes). When the connection closes, [`HttpFlvReader::handle_eof`] says whether that was the
//! body's end (a close-delimited body) or a cut.
//!
//! Bounds: the response head is at most [`MAX_HEAD`] bytes; buffered body bytes are at most one FLV tag (the
//! `max_tag` given to [`HttpFlvReader::new`]) plus one input. Tags of unknown type are skipped. After an error
//! every later call returns it again. Nothing here panics on input.
//!
//! ```
//! use client::http_flv::{Event, HttpFlvReader};
//!
//! let mut reader = HttpFlvReader::new(1 << 20);
//! reader.handle_input(b"HTTP/1.1 200 OK\r\n\r\nFLV\x01\x05\0\0\0\x09\0\0\0\0").unwrap();
//! assert!(matches!(reader.poll_output(), Some(Event::Playing(_))));
//! assert_eq!(reader.poll_output(), None);
//! reader.handle_eof().unwrap();
//! assert_eq!(reader.poll_output(), Some(Event::Ended));
//! ```

mod chunked;
mod head;

use ::flv::{FlvDemuxer, FlvError, Tag};

use chunked::Dechunker;
use head::{head_end, parse_head};
pub use head::{request, Framing, ResponseHead, MAX_HEAD};

/// Most bytes of a refusal's body quoted in [`Event::Refused`].
const MAX_EXCERPT: usize = 200;

/// What the reader found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The response head with status 200: the FLV body follows.
    Playing(ResponseHead),
    /// The response head with another status. The reader takes no more input.
    Refused {
        /// The head.
        head: ResponseHead,
        /// The start of the body that came with the head (at most 200 bytes, trimmed), for the message.
        excerpt: String,
    },
    /// One FLV tag of the body (audio, video or script data).
    Tag(Tag),
    /// The body ended: its last chunk, its `Content-Length`, or (after [`HttpFlvReader::handle_eof`]) the close
    /// of a close-delimited body.
    Ended,
}

/// Why a response cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpFlvError {
    /// The connection closed before the response head was complete.
    #[error("the server closed the connection before answering")]
    NoResponse,
    /// The response head is longer than [`MAX_HEAD`].
    #[error("response head over {max} bytes")]
    HeadTooLarge {
        /// The limit.
        max: usize,
    },
    /// The response head is not HTTP/1 or has a bad status line or Content-Length.
    #[error("{0}")]
    BadHead(String),
    /// The chunked encoding is broken.
    #[error("{0}")]
    BadChunk(String),
    /// The body is not FLV, or a tag is over the limit.
    #[error("bad FLV data: {0}")]
    Flv(FlvError),
    /// The connection closed before `Content-Length` bytes of body arrived.
    #[error("the connection closed {left} bytes before the end of the response")]
    CutShort {
        /// Body bytes missing.
        left: u64,
    },
    /// The connection closed inside a chunked body.
    #[error("the connection closed inside a chunked response")]
    CutInChunk,
}

/// Where the response stands.
#[derive(Debug)]
enum Stage {
    /// Collecting the head.
    Head(Vec<u8>),
    Body(Body),
    /// Refused, or the body ended: later input is ignored.
    Done,
    Failed(HttpFlvError),
}

#[derive(Debug)]
enum Body {
    Close,
    Length { left: u64 },
    Chunked(Dechunker),
}

/// A sans-IO reader of one HTTP-FLV response (see the [module](self) documentation).
#[derive(Debug)]
pub struct HttpFlvReader {
    stage: Stage,
    demuxer: FlvDemuxer,
    /// The head's event, not polled yet.
    head: Option<Event>,
    /// The body ended; [`Event::Ended`] follows the tags.
    ended: bool,
    /// The head said 200.
    playing: bool,
}

impl HttpFlvReader {
    /// A reader for a response whose FLV tags are at most `max_tag` bytes (the FLV format allows 16 MiB).
    pub fn new(max_tag: usize) -> Self {
        Self {
            stage: Stage::Head(Vec::new()),
            // Unknown tag types are skipped: they carry nothing a player shows.
            demuxer: FlvDemuxer::new(max_tag).skip_unknown(true),
            head: None,
            ended: false,
            playing: false,
        }
    }

    /// Whether the head said 200 (the body is being read, or was: this stays true after the end or an error).
    pub fn is_playing(&self) -> bool {
        self.playing
    }

    /// Feeds bytes received on the connection; take what they complete with [`poll_output`](Self::poll_output).
    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), HttpFlvError> {
        let result = self.input(data);
        if let Err(e) = &result {
            self.stage = Stage::Failed(e.clone());
        }
        result
    }

    /// The connection closed. `Ok` when that ends the body (close-delimited: [`Event::Ended`] follows the
    /// tags) or nothing more was expected; an error when the response was cut short.
    pub fn handle_eof(&mut self) -> Result<(), HttpFlvError> {
        let result = match &self.stage {
            Stage::Head(_) => Err(HttpFlvError::NoResponse),
            Stage::Body(Body::Close) => {
                self.ended = true;
                self.stage = Stage::Done;
                Ok(())
            }
            Stage::Body(Body::Length { left }) => Err(HttpFlvError::CutShort { left: *left }),
            Stage::Body(Body::Chunked(_)) => Err(HttpFlvError::CutInChunk),
            Stage::Done => Ok(()),
            Stage::Failed(e) => Err(e.clone()),
        };
        if let Err(e) = &result {
            self.stage = Stage::Failed(e.clone());
        }
        result
    }

    /// The next event, if any: the head's, then tags, then [`Event::Ended`].
    pub fn poll_output(&mut self) -> Option<Event> {
        if let Some(head) = self.head.take() {
            return Some(head);
        }
        if let Some(tag) = self.demuxer.poll_tag() {
            return Some(Event::Tag(tag));
        }
        if self.ended {
            self.ended = false;
            return Some(Event::Ended);
        }
        None
    }

    fn input(&mut self, data: &[u8]) -> Result<(), HttpFlvError> {
        let body = match &mut self.stage {
            Stage::Head(buf) => {
                let before = buf.len();
                buf.extend_from_slice(data);
                let Some(end) = head_end(buf) else {
                    if buf.len() > MAX_HEAD {
                        return Err(HttpFlvError::HeadTooLarge { max: MAX_HEAD });
                    }
                    return Ok(());
                };
                let head = parse_head(&buf[..end]).map_err(HttpFlvError::BadHead)?;
                // The head ends within `data`: what follows it there is the body's start.
                let rest = &data[end.saturating_sub(before)..];
                if head.status != 200 {
                    let excerpt = String::from_utf8_lossy(&rest[..rest.len().min(MAX_EXCERPT)])
                        .trim()
                        .to_string();
                    self.head = Some(Event::Refused { head, excerpt });
                    self.stage = Stage::Done;
                    return Ok(());
                }
                self.stage = Stage::Body(match head.framing {
                    Framing::Close => Body::Close,
                    Framing::Length(left) => Body::Length { left },
                    Framing::Chunked => Body::Chunked(Dechunker::default()),
                });
                self.head = Some(Event::Playing(head));
                self.playing = true;
                rest
            }
            Stage::Body(_) => data,
            Stage::Done => return Ok(()),
            Stage::Failed(e) => return Err(e.clone()),
        };
        self.body(body)
    }

    /// Feeds body bytes through the framing to the demuxer.
    fn body(&mut self, data: &[u8]) -> Result<(), HttpFlvError> {
        let Stage::Body(body) = &mut self.stage else {
            return Ok(());
        };
        let demuxer = &mut self.demuxer;
        let mut flv = |bytes: &[u8]| demuxer.handle_input(bytes).map_err(HttpFlvError::Flv);
        let done = match body {
            Body::Close => {
                flv(data)?;
                false
            }
            Body::Length { left } => {
                let take = usize::try_from(*left).unwrap_or(usize::MAX).min(data.len());
                flv(&data[..take])?;
                *left -= take as u64;
                *left == 0
            }
            Body::Chunked(d) => {
                d.feed(data, flv)?;
                d.is_done()
            }
        };
        if done {
            self.stage = Stage::Done;
            self.ended = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
