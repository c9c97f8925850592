//! `mplive play URL`: play a stream headless with the SDK's live-player and show what a viewer would get.
//!
//! On a terminal: status events as lines and one live status line redrawn in place. With `--json`: one JSON
//! object per line per event (`{"type":"status",...}`, `{"type":"netStatus",...}`) and a final
//! `{"type":"summary",...}`. Exits 0 after `--seconds` or when the stream ended, 1 when the player gave up
//! (-2301) or no media arrived at all.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use client::player::{NetStatus, PlayMode, PlayOptions, Player, PlayerEvent, Recording};
use client::status::{player as code, StatusEvent};
use serde::Serialize;
use tokio::time::{sleep_until, Instant};

/// Flags of `mplive play`.
#[derive(Debug, Args)]
pub struct PlayArgs {
    /// rtmp://host[:port]/app/stream or http://host[:port]/app/stream.flv (with ?query as needed)
    url: String,
    /// live: smooth playback through a jitter buffer; rtc: lowest latency, no buffer
    #[arg(long, value_enum, default_value = "live")]
    mode: ModeArg,
    /// Seconds buffered before playback begins or resumes (live mode)
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    min_cache: f64,
    /// Seconds buffered above which old frames are dropped (live mode)
    #[arg(long, value_name = "S", default_value_t = 3.0)]
    max_cache: f64,
    /// Stop after this many seconds [default: until the stream ends or the player gives up]
    #[arg(long, value_name = "N")]
    seconds: Option<f64>,
    /// One JSON object per line per event, then a summary
    #[arg(long)]
    json: bool,
    /// Reconnects after failures in a row before giving up (-2301)
    #[arg(long, value_name = "N", default_value_t = 3)]
    retries: u32,
    /// Seconds before a reconnect, and between asks for a stream that is not live yet
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    retry_interval: f64,
    /// Give up on a stream that is not live after this many seconds [default: keep waiting]
    #[arg(long, value_name = "S")]
    max_wait: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ModeArg {
    Live,
    Rtc,
}

fn seconds(flag: &str, s: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(s).with_context(|| format!("--{flag} {s}: not a number of seconds"))
}

impl PlayArgs {
    fn options(&self) -> Result<PlayOptions> {
        Ok(PlayOptions {
            mode: match self.mode {
                ModeArg::Live => PlayMode::Live,
                ModeArg::Rtc => PlayMode::Rtc,
            },
            min_cache: seconds("min-cache", self.min_cache)?,
            max_cache: seconds("max-cache", self.max_cache)?,
            retries: self.retries,
            retry_interval: seconds("retry-interval", self.retry_interval)?,
            max_wait: self.max_wait.map(|s| seconds("max-wait", s)).transpose()?,
            ..PlayOptions::default()
        })
    }
}

/// Plays until `--seconds`, the end of the stream, the player giving up, or Ctrl-C.
pub fn run(args: PlayArgs) -> Result<()> {
    let options = args.options()?;
    let limit = args.seconds.map(|s| seconds("seconds", s)).transpose()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut out = Display::new(args.json);
    let (recording, gave_up) = runtime.block_on(play(&args.url, options, limit, &mut out))?;
    out.summary(&recording)?;
    if let Some(why) = gave_up {
        bail!("{why} (-2301)");
    }
    if recording.video_frames + recording.audio_frames == 0 {
        // The status events said what happened; without media the play did not do its job, and scripts must see it.
        bail!(
            "no media arrived in {:.1} s, playback never began: is the stream live, and is the URL right (its app, \
             stream and signature; `mplive url play --app APP STREAM` prints the URLs)?",
            recording.duration_ms as f64 / 1000.0
        );
    }
    Ok(())
}

async fn play(
    url: &str,
    options: PlayOptions,
    limit: Option<Duration>,
    out: &mut Display,
) -> Result<(Recording, Option<String>)> {
    let (player, mut events) = Player::start(url, options)?;
    let deadline = limit.map(|d| Instant::now() + d);
    // One listener for the whole play, so a Ctrl-C between two loop turns is not missed.
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut gave_up = None;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => {
                    if let PlayerEvent::Status(s) = &event {
                        if s.code == code::GAVE_UP {
                            gave_up = Some(s.message.clone());
                        }
                    }
                    out.event(&event)?;
                }
                // The player ended by itself (2006 or -2301).
                None => break,
            },
            _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => break,
            _ = &mut ctrl_c => break,
        }
    }
    let recording = player.stop().await?;
    Ok((recording, gave_up))
}

/// One JSON line: `type` first, then the event's own fields.
#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "elapsedMs")]
    elapsed_ms: u64,
    #[serde(flatten)]
    body: &'a T,
}

/// Where events go: JSON lines, a terminal with a live line, or plain lines.
struct Display {
    json: bool,
    terminal: bool,
    started: std::time::Instant,
    /// The live line's content, redrawn after each status line.
    live: Option<String>,
}

impl Display {
    fn new(json: bool) -> Self {
        Self {
            json,
            terminal: !json && std::io::stdout().is_terminal(),
            started: std::time::Instant::now(),
            live: None,
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn json_line<T: Serialize>(&self, kind: &'static str, body: &T) -> Result<()> {
        let line = serde_json::to_string(&Line {
            kind,
            elapsed_ms: self.elapsed_ms(),
            body,
        })?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}")?;
        // Readers act on each event as it comes (tests, scripts): no block buffering.
        stdout.flush()?;
        Ok(())
    }

    fn event(&mut self, event: &PlayerEvent) -> Result<()> {
        match (event, self.json) {
            (PlayerEvent::Status(s), true) => self.json_line("status", s),
            (PlayerEvent::NetStatus(n), true) => self.json_line("netStatus", n),
            (PlayerEvent::Status(s), false) => self.status(s),
            (PlayerEvent::NetStatus(n), false) => self.net_status(n),
        }
    }

    fn status(&mut self, s: &StatusEvent) -> Result<()> {
        let line = format!(
            "[{:7.2}s] {:>5} {}",
            self.elapsed_ms() as f64 / 1000.0,
            s.code,
            s.message
        );
        let mut stdout = std::io::stdout().lock();
        if self.terminal {
            // Replace the live line by the status line, then draw the live line again below it.
            write!(stdout, "\r\x1b[2K{line}\n")?;
            if let Some(live) = &self.live {
                write!(stdout, "{live}")?;
            }
        } else {
            writeln!(stdout, "{line}")?;
        }
        stdout.flush()?;
        Ok(())
    }

    fn net_status(&mut self, n: &NetStatus) -> Result<()> {
        let state = serde_json::to_value(n.state)?;
        let live = format!(
            "{:<12} {:>6} kbit/s  {:>5.1} fps  {}x{}  buffer {:>5} ms  stalls {}  dropped {}",
            state.as_str().unwrap_or("?"),
            n.video_bitrate + n.audio_bitrate,
            n.video_fps,
            n.video_width,
            n.video_height,
            n.video_cache.max(n.audio_cache),
            n.stalls,
            n.dropped_frames
        );
        let mut stdout = std::io::stdout().lock();
        if self.terminal {
            write!(stdout, "\r\x1b[2K{live}")?;
        } else {
            writeln!(stdout, "{live}")?;
        }
        stdout.flush()?;
        self.live = Some(live);
        Ok(())
    }

    fn summary(&mut self, r: &Recording) -> Result<()> {
        if self.json {
            return self.json_line("summary", r);
        }
        let mut stdout = std::io::stdout().lock();
        if self.terminal && self.live.is_some() {
            writeln!(stdout)?;
        }
        let state = serde_json::to_value(r.final_state)?;
        writeln!(
            stdout,
            "played {} for {:.1} s: {}",
            r.url,
            r.duration_ms as f64 / 1000.0,
            state.as_str().unwrap_or("?")
        )?;
        let startup = r
            .startup_ms
            .map_or("playback never began".to_string(), |ms| {
                format!("playback began after {:.2} s", ms as f64 / 1000.0)
            });
        writeln!(
            stdout,
            "  {startup}; {} video frames ({} keyframes), {} audio frames, {:.1} MB",
            r.video_frames,
            r.keyframes,
            r.audio_frames,
            r.bytes_received as f64 / 1e6
        )?;
        let size = match (r.width, r.height) {
            (Some(w), Some(h)) => format!("{w}x{h}"),
            _ => "size unknown".to_string(),
        };
        writeln!(
            stdout,
            "  {} stalls ({:.2} s), {} dropped frames, {} reconnects, {size}",
            r.stalls,
            r.stalled_ms as f64 / 1000.0,
            r.dropped_frames,
            r.reconnects
        )?;
        if r.sei_count > 0 {
            write!(stdout, "  {} SEI messages", r.sei_count)?;
            if let Some(l) = &r.latency {
                write!(
                    stdout,
                    "; latency {:.0} ms on average ({}..{} ms, {} samples)",
                    l.avg_ms, l.min_ms, l.max_ms, l.samples
                )?;
            }
            writeln!(stdout)?;
        }
        Ok(())
    }
}
