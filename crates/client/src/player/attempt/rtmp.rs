//! An RTMP play: `crate::connection::RtmpConnection` over the attempt's TCP connection.

use std::sync::atomic::Ordering;

use rtmp::{ClientEvent, ClientSession, MediaKind, SessionConfig};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, Instant};

use super::tracks::Tracks;
use super::{far_future, Ctx, CLOSE_WAIT, READ_BUF};
use crate::connection::{ConnectionError, ReadOutcome, RtmpConnection};
use crate::player::machine::Input;
use crate::url::RtmpUrl;

/// Where the play stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Handshake,
    /// Handshake done; waiting for `connect`'s and `play`'s answers.
    Requested,
    Playing,
}

/// How the loop ended.
enum End {
    /// The driver asked to close (or went away): say goodbye to the server.
    Close,
    /// The attempt reported its end; the connection is dropped.
    Done,
}

/// Plays `name` on `url` until the driver closes the attempt or the play ends.
pub(super) async fn play(stream: TcpStream, url: &RtmpUrl, name: &str, mut ctx: Ctx) {
    let started = Instant::now();
    let tc_url = url.tc_url();
    let now = std::time::Instant::now();
    let mut conn = RtmpConnection::start(stream, &url.app, &tc_url, SessionConfig::default(), now);
    conn.session().play(name);
    match run(&mut conn, &mut ctx, started).await {
        // deleteStream, so the server logs an orderly end of play.
        End::Close => conn.close(CLOSE_WAIT).await,
        End::Done => conn.abandon(CLOSE_WAIT).await,
    }
}

async fn run(conn: &mut RtmpConnection, ctx: &mut Ctx, started: Instant) -> End {
    let mut buf = vec![0u8; READ_BUF];
    let mut stage = Stage::Handshake;
    let mut tracks = Tracks::default();
    let mut last_data = Instant::now();
    loop {
        if let Err(e) = conn.flush().await {
            ctx.report(failure(stage, detail(e))).await;
            return End::Done;
        }
        let deadline = match stage {
            Stage::Playing => ctx.idle_deadline(last_data),
            _ => Some(started + ctx.limits.request),
        };
        let session_deadline = conn.session().poll_timeout().map(Instant::from_std);
        let wake = [deadline, session_deadline].into_iter().flatten().min();
        tokio::select! {
            _ = &mut ctx.close => return End::Close,
            ready = conn.readable() => {
                let read = ready.and_then(|()| conn.try_read(&mut buf));
                match read {
                    Ok(ReadOutcome::Data(n)) => {
                        ctx.received.fetch_add(n as u64, Ordering::Relaxed);
                        last_data = Instant::now();
                        if let Err(e) = conn.handle_input(&buf[..n], last_data.into_std()) {
                            ctx.report(failure(stage, detail(e))).await;
                            return End::Done;
                        }
                    }
                    Ok(ReadOutcome::WouldBlock) => continue,
                    Ok(ReadOutcome::Closed) => {
                        let detail = "the server closed the connection".to_string();
                        ctx.report(failure(stage, detail)).await;
                        return End::Done;
                    }
                    Err(e) => {
                        ctx.report(failure(stage, detail(e))).await;
                        return End::Done;
                    }
                }
                if let Some(end) = events(conn.session(), &mut stage, &mut tracks, ctx).await {
                    return end;
                }
            }
            _ = sleep_until(wake.unwrap_or_else(far_future)), if wake.is_some() => {
                let now = Instant::now();
                if let Err(e) = conn.session().handle_timeout(now.into_std()) {
                    ctx.report(failure(stage, format!("RTMP: {e}"))).await;
                    return End::Done;
                }
                if deadline.is_some_and(|d| now >= d) {
                    let detail = match stage {
                        Stage::Playing => format!("no data for {:?}", ctx.limits.idle.unwrap_or_default()),
                        _ => format!("no answer to play within {:?}", ctx.limits.request),
                    };
                    ctx.report(failure(stage, detail)).await;
                    return End::Done;
                }
            }
        }
    }
}

/// The words the player has always used for a connection failure.
fn detail(e: ConnectionError) -> String {
    match e {
        ConnectionError::Io { what, source } => format!("{what} failed: {source}"),
        ConnectionError::Rtmp(e) => format!("RTMP: {e}"),
        other => other.to_string(),
    }
}

/// Turns the session's events into reports; `Some` when the attempt is over.
async fn events(
    session: &mut ClientSession,
    stage: &mut Stage,
    tracks: &mut Tracks,
    ctx: &Ctx,
) -> Option<End> {
    while let Some(event) = session.poll_output() {
        let input = match event {
            ClientEvent::HandshakeDone => {
                *stage = Stage::Requested;
                continue;
            }
            ClientEvent::Playing { .. } => {
                *stage = Stage::Playing;
                Input::PlayStarted
            }
            ClientEvent::Media {
                kind,
                timestamp,
                payload,
            } if *stage == Stage::Playing => {
                let media = match kind {
                    MediaKind::Video => tracks.video(timestamp, &payload),
                    MediaKind::Audio => tracks.audio(timestamp, &payload),
                    MediaKind::Script => None,
                };
                if let Some(m) = media {
                    if !ctx.media(m).await {
                        return Some(End::Close);
                    }
                }
                continue;
            }
            ClientEvent::ConnectRejected { code, description } => Input::HandshakeFailed {
                detail: format!("the server refused connect: {code}: {description}"),
            },
            ClientEvent::PlayRejected { code, description }
                if code == "NetStream.Play.StreamNotFound" =>
            {
                Input::NotFound {
                    detail: format!("{code}: {description}"),
                }
            }
            ClientEvent::PlayRejected { code, description } => Input::HandshakeFailed {
                detail: format!("the server refused play: {code}: {description}"),
            },
            ClientEvent::Status {
                code, description, ..
            } if code == "NetStream.Play.UnpublishNotify" => Input::StreamEnded {
                detail: format!("{code}: {description}"),
            },
            ClientEvent::StreamEof if *stage == Stage::Playing => Input::StreamEnded {
                detail: "StreamEOF".into(),
            },
            ClientEvent::Status {
                level,
                code,
                description,
            } if level == "error" => failure(*stage, format!("{code}: {description}")),
            _ => continue,
        };
        let over = !matches!(input, Input::PlayStarted);
        if !ctx.report(input).await {
            return Some(End::Close);
        }
        if over {
            return Some(End::Done);
        }
    }
    None
}

/// The input for a failure at `stage`: before the handshake and play are through it is the handshake's.
fn failure(stage: Stage, detail: String) -> Input {
    match stage {
        Stage::Playing => Input::IoFailed { detail },
        Stage::Handshake | Stage::Requested => Input::HandshakeFailed { detail },
    }
}
