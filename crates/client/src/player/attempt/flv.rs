//! An HTTP-FLV play: one GET, the response head, then the body through `flv::FlvDemuxer`.

use ::flv::{FlvDemuxer, MediaKind};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{sleep_until, Instant};

use super::tracks::{MediaInfo, Tracks};
use super::{close_gracefully, far_future, read_counted, Ctx, READ_BUF};
use crate::player::http::{head_end, parse_head, request, Dechunker, Framing, MAX_HEAD};
use crate::player::machine::Input;

/// Largest FLV tag accepted (the FLV format's own limit is 16 MiB).
const MAX_TAG: usize = 16 << 20;
/// Most bytes of an error response's body quoted in the message.
const MAX_QUOTE: usize = 200;

/// Plays the FLV stream at `target` until the driver closes the attempt or the response ends.
pub(super) async fn play(mut stream: TcpStream, target: &str, host_header: &str, mut ctx: Ctx) {
    run(&mut stream, target, host_header, &mut ctx).await;
    close_gracefully(stream, None).await;
}

async fn run(stream: &mut TcpStream, target: &str, host_header: &str, ctx: &mut Ctx) {
    let deadline = Instant::now() + ctx.limits.request;
    if let Err(e) = stream
        .write_all(request(target, host_header).as_bytes())
        .await
    {
        ctx.report(Input::HandshakeFailed {
            detail: format!("sending the request failed: {e}"),
        })
        .await;
        return;
    }
    let mut buf = vec![0u8; READ_BUF];
    let mut head = Vec::new();
    let end = loop {
        let read = tokio::select! {
            _ = &mut ctx.close => return,
            r = read_counted(stream, &mut buf, &ctx.received) => r,
            _ = sleep_until(deadline) => {
                let detail = format!("no HTTP response within {:?}", ctx.limits.request);
                ctx.report(Input::HandshakeFailed { detail }).await;
                return;
            }
        };
        let detail = match read {
            Ok(0) => "the server closed the connection before answering".to_string(),
            Ok(n) => {
                head.extend_from_slice(&buf[..n]);
                if let Some(end) = head_end(&head) {
                    break end;
                }
                if head.len() <= MAX_HEAD {
                    continue;
                }
                format!("response head over {MAX_HEAD} bytes")
            }
            Err(e) => format!("reading the response failed: {e}"),
        };
        ctx.report(Input::HandshakeFailed { detail }).await;
        return;
    };
    let parsed = match parse_head(&head[..end]) {
        Ok(h) => h,
        Err(detail) => {
            ctx.report(Input::HandshakeFailed { detail }).await;
            return;
        }
    };
    let rest = &head[end..];
    let answer = match parsed.status {
        200 => Input::PlayStarted,
        404 => Input::NotFound {
            detail: parsed.status_line,
        },
        _ => {
            let quote = String::from_utf8_lossy(&rest[..rest.len().min(MAX_QUOTE)]);
            let quote = quote.trim();
            let detail = if quote.is_empty() {
                parsed.status_line
            } else {
                format!("{}: {quote}", parsed.status_line)
            };
            Input::HandshakeFailed { detail }
        }
    };
    let playing = answer == Input::PlayStarted;
    if !ctx.report(answer).await || !playing {
        return;
    }
    let mut body = Body::new(parsed.framing);
    let mut frames = Vec::new();
    let mut input = rest.to_vec();
    loop {
        let done = match body.feed(&input, &mut frames) {
            Ok(done) => done,
            Err(detail) => {
                ctx.report(Input::IoFailed { detail }).await;
                return;
            }
        };
        for m in frames.drain(..) {
            if !ctx.media(m).await {
                return;
            }
        }
        if done {
            let detail = "the server ended the HTTP-FLV response".to_string();
            ctx.report(Input::StreamEnded { detail }).await;
            return;
        }
        let idle = ctx.idle_deadline(Instant::now());
        let read = tokio::select! {
            _ = &mut ctx.close => return,
            r = read_counted(stream, &mut buf, &ctx.received) => r,
            _ = sleep_until(idle.unwrap_or_else(far_future)), if idle.is_some() => {
                let detail = format!("no data for {:?}", ctx.limits.idle.unwrap_or_default());
                ctx.report(Input::IoFailed { detail }).await;
                return;
            }
        };
        let report = match read {
            Ok(0) => body.at_eof(),
            Ok(n) => {
                input.clear();
                input.extend_from_slice(&buf[..n]);
                continue;
            }
            Err(e) => Input::IoFailed {
                detail: format!("read failed: {e}"),
            },
        };
        ctx.report(report).await;
        return;
    }
}

/// The response body: its framing, the FLV demuxer and the codec state.
struct Body {
    framing: BodyFraming,
    demuxer: FlvDemuxer,
    tracks: Tracks,
}

enum BodyFraming {
    Close,
    Length { left: u64 },
    Chunked(Dechunker),
}

impl Body {
    fn new(framing: Framing) -> Self {
        Self {
            framing: match framing {
                Framing::Close => BodyFraming::Close,
                Framing::Length(n) => BodyFraming::Length { left: n },
                Framing::Chunked => BodyFraming::Chunked(Dechunker::default()),
            },
            // Unknown tag types are skipped: they carry nothing a player shows.
            demuxer: FlvDemuxer::new(MAX_TAG).skip_unknown(true),
            tracks: Tracks::default(),
        }
    }

    /// Feeds received bytes; the frames they complete go to `out`. `Ok(true)` when the body is complete.
    fn feed(&mut self, data: &[u8], out: &mut Vec<MediaInfo>) -> Result<bool, String> {
        let demuxer = &mut self.demuxer;
        let mut flv = |bytes: &[u8]| {
            demuxer
                .handle_input(bytes)
                .map_err(|e| format!("bad FLV data: {e}"))
        };
        let done = match &mut self.framing {
            BodyFraming::Close => {
                flv(data)?;
                false
            }
            BodyFraming::Length { left } => {
                let take = usize::try_from(*left).unwrap_or(usize::MAX).min(data.len());
                flv(&data[..take])?;
                *left -= take as u64;
                *left == 0
            }
            BodyFraming::Chunked(d) => {
                d.feed(data, flv)?;
                d.is_done()
            }
        };
        while let Some(tag) = self.demuxer.poll_tag() {
            let m = match tag.tag_type {
                MediaKind::Video => self.tracks.video(tag.timestamp, &tag.body),
                MediaKind::Audio => self.tracks.audio(tag.timestamp, &tag.body),
                MediaKind::Script => None,
            };
            out.extend(m);
        }
        Ok(done)
    }

    /// What the end of the connection means: a close-delimited body ends there; a framed one was cut short.
    fn at_eof(&self) -> Input {
        match &self.framing {
            BodyFraming::Close => Input::StreamEnded {
                detail: "the server ended the HTTP-FLV response".into(),
            },
            BodyFraming::Length { left } => Input::IoFailed {
                detail: format!(
                    "the connection closed {left} bytes before the end of the response"
                ),
            },
            BodyFraming::Chunked(_) => Input::IoFailed {
                detail: "the connection closed inside a chunked response".into(),
            },
        }
    }
}
