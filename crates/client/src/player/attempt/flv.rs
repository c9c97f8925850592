//! An HTTP-FLV play: one GET, then the response through `crate::http_flv::HttpFlvReader`.

use ::flv::MediaKind;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{sleep_until, Instant};

use super::tracks::Tracks;
use super::{far_future, read_counted, Ctx, CLOSE_WAIT, READ_BUF};
use crate::connection::close_gracefully;
use crate::http_flv::{request, Event, HttpFlvReader};
use crate::player::machine::Input;
use crate::url::HttpUrl;

/// Largest FLV tag accepted (the FLV format's own limit is 16 MiB).
const MAX_TAG: usize = 16 << 20;
/// What the player says it is.
const USER_AGENT: &str = "mplive-player";

/// Plays the FLV stream at `url` until the driver closes the attempt or the response ends.
pub(super) async fn play(mut stream: TcpStream, url: &HttpUrl, mut ctx: Ctx) {
    run(&mut stream, url, &mut ctx).await;
    close_gracefully(stream, None, CLOSE_WAIT).await;
}

async fn run(stream: &mut TcpStream, url: &HttpUrl, ctx: &mut Ctx) {
    let deadline = Instant::now() + ctx.limits.request;
    if let Err(e) = stream.write_all(request(url, USER_AGENT).as_bytes()).await {
        let detail = format!("sending the request failed: {e}");
        ctx.report(Input::HandshakeFailed { detail }).await;
        return;
    }
    let mut buf = vec![0u8; READ_BUF];
    let mut reader = HttpFlvReader::new(MAX_TAG);
    let mut tracks = Tracks::default();
    loop {
        let playing = reader.is_playing();
        // Before the head: the request's deadline; after it, the idle limit.
        let wake = if playing {
            ctx.idle_deadline(Instant::now())
        } else {
            Some(deadline)
        };
        let read = tokio::select! {
            _ = &mut ctx.close => return,
            r = read_counted(stream, &mut buf, &ctx.received) => r,
            _ = sleep_until(wake.unwrap_or_else(far_future)), if wake.is_some() => {
                let detail = if playing {
                    format!("no data for {:?}", ctx.limits.idle.unwrap_or_default())
                } else {
                    format!("no HTTP response within {:?}", ctx.limits.request)
                };
                ctx.report(failure(playing, detail)).await;
                return;
            }
        };
        let (fed, eof) = match read {
            Ok(0) => (reader.handle_eof().map_err(|e| e.to_string()), true),
            Ok(n) => (
                reader.handle_input(&buf[..n]).map_err(|e| e.to_string()),
                false,
            ),
            Err(e) if playing => (Err(format!("read failed: {e}")), false),
            Err(e) => (Err(format!("reading the response failed: {e}")), false),
        };
        // What the input completed before any error is reported first.
        if !events(&mut reader, &mut tracks, ctx).await {
            return;
        }
        if let Err(detail) = fed {
            ctx.report(failure(reader.is_playing(), detail)).await;
            return;
        }
        if eof {
            return;
        }
    }
}

/// Reports what the reader has; `false` when the attempt is over (the response ended or was refused, or the
/// driver went away).
async fn events(reader: &mut HttpFlvReader, tracks: &mut Tracks, ctx: &Ctx) -> bool {
    while let Some(event) = reader.poll_output() {
        let input = match event {
            Event::Playing(_) => {
                if !ctx.report(Input::PlayStarted).await {
                    return false;
                }
                continue;
            }
            Event::Tag(tag) => {
                let m = match tag.tag_type {
                    MediaKind::Video => tracks.video(tag.timestamp, &tag.body),
                    MediaKind::Audio => tracks.audio(tag.timestamp, &tag.body),
                    MediaKind::Script => None,
                };
                if let Some(m) = m {
                    if !ctx.media(m).await {
                        return false;
                    }
                }
                continue;
            }
            Event::Refused { head, .. } if head.status == 404 => Input::NotFound {
                detail: head.status_line,
            },
            Event::Refused { head, excerpt } if excerpt.is_empty() => Input::HandshakeFailed {
                detail: head.status_line,
            },
            Event::Refused { head, excerpt } => Input::HandshakeFailed {
                detail: format!("{}: {excerpt}", head.status_line),
            },
            Event::Ended => Input::StreamEnded {
                detail: "the server ended the HTTP-FLV response".into(),
            },
        };
        ctx.report(input).await;
        return false;
    }
    true
}

/// The input for a failure: before the answer it is the request's, after it the connection's.
fn failure(playing: bool, detail: String) -> Input {
    if playing {
        Input::IoFailed { detail }
    } else {
        Input::HandshakeFailed { detail }
    }
}
