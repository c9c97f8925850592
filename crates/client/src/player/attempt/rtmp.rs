//! An RTMP play: `rtmp::ClientSession` over the attempt's TCP connection.

use rtmp::{ClientEvent, ClientSession, MediaKind, SessionConfig};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{sleep_until, Instant};

use super::tracks::Tracks;
use super::{close_gracefully, far_future, read_counted, Ctx, READ_BUF};
use crate::player::machine::Input;

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

/// Plays `name` on `app` until the driver closes the attempt or the play ends.
pub(super) async fn play(mut stream: TcpStream, app: &str, tc_url: &str, name: &str, mut ctx: Ctx) {
    let started = Instant::now();
    let mut session = ClientSession::new(SessionConfig::default(), std::time::Instant::now());
    session.connect(app, tc_url);
    session.play(name);
    let end = run(&mut stream, &mut session, &mut ctx, started).await;
    let last = match end {
        End::Close => {
            // deleteStream, so the server logs an orderly end of play.
            session.close();
            session.take_transmit()
        }
        End::Done => None,
    };
    close_gracefully(stream, last).await;
}

async fn run(
    stream: &mut TcpStream,
    session: &mut ClientSession,
    ctx: &mut Ctx,
    started: Instant,
) -> End {
    let mut buf = vec![0u8; READ_BUF];
    let mut stage = Stage::Handshake;
    let mut tracks = Tracks::default();
    let mut last_data = Instant::now();
    loop {
        if let Some(out) = session.take_transmit() {
            if let Err(e) = stream.write_all(&out).await {
                let detail = format!("write failed: {e}");
                ctx.report(failure(stage, detail)).await;
                return End::Done;
            }
        }
        let deadline = match stage {
            Stage::Playing => ctx.idle_deadline(last_data),
            _ => Some(started + ctx.limits.request),
        };
        let session_deadline = session.poll_timeout().map(Instant::from_std);
        let wake = [deadline, session_deadline].into_iter().flatten().min();
        tokio::select! {
            _ = &mut ctx.close => return End::Close,
            read = read_counted(stream, &mut buf, &ctx.received) => {
                let n = match read {
                    Ok(0) => {
                        let detail = "the server closed the connection".to_string();
                        ctx.report(failure(stage, detail)).await;
                        return End::Done;
                    }
                    Ok(n) => n,
                    Err(e) => {
                        ctx.report(failure(stage, format!("read failed: {e}"))).await;
                        return End::Done;
                    }
                };
                last_data = Instant::now();
                if let Err(e) = session.handle_input(&buf[..n], std::time::Instant::now()) {
                    ctx.report(failure(stage, format!("RTMP: {e}"))).await;
                    return End::Done;
                }
                if let Some(end) = events(session, &mut stage, &mut tracks, ctx).await {
                    return end;
                }
            }
            _ = sleep_until(wake.unwrap_or_else(far_future)), if wake.is_some() => {
                let now = Instant::now();
                if let Err(e) = session.handle_timeout(now.into_std()) {
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
