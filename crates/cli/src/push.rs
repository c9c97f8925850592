//! `mplive push`: the headless live-pusher of `client::pusher` on the command line.
//!
//! On a terminal one status line is redrawn in place; with `--json` every event is one JSON object per line
//! (`{"type":"status","code":1002,"message":"..."}`, `{"type":"netStatus","videoBitrate":...}`, and last
//! `{"type":"ended","reason":"stopped"}`); otherwise status events are printed one per line.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use client::managed::{
    InstanceParams, ManagedConfig, ManagedEvent, ManagedPublisher, ManagedUpdate,
};
use client::pusher::{
    AudioQuality, MachineConfig, Mode, NetStatus, PublishOptions, Publisher, PushEnd, PusherEvent,
    Source,
};
use client::status::{pusher as code, StatusEvent};
use serde::Serialize;

/// Flags of `mplive push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Push URL: rtmp://host[:port]/app/stream[?txSecret=...&txTime=...] (`mplive url push` prints one). Or give
    /// the instance parameters (--api, --app, --channel, --account, --token) to push like the Vhall SDK.
    #[arg(required_unless_present = "api")]
    url: Option<String>,
    /// Vhall SDK mode: the mplive server's HTTP(S) address (createInstance, and a fresh URL on every reconnect)
    #[arg(long, requires_all = ["app", "channel", "account", "token"], conflicts_with = "url")]
    api: Option<String>,
    /// Vhall SDK mode: the app's id or name
    #[arg(long)]
    app: Option<String>,
    /// Vhall SDK mode: the channel (stream) to publish
    #[arg(long)]
    channel: Option<String>,
    /// Vhall SDK mode: the publishing account
    #[arg(long)]
    account: Option<String>,
    /// Vhall SDK mode: the access token from the app's backend (`mplive token`)
    #[arg(long)]
    token: Option<String>,
    /// Vhall SDK mode: seconds between reconnect attempts (the SDK's 5 s)
    #[arg(long, default_value_t = 5.0)]
    reconnect_every: f64,
    /// What to push: an FLV file (looped in real time), `-` (FLV on stdin, e.g. `ffmpeg ... -f flv -`) or
    /// `testsrc` (ffmpeg's test pattern encoded live; a file named testsrc needs a path: ./testsrc)
    #[arg(long, default_value = "testsrc")]
    source: String,
    /// live-pusher mode of the test pattern: QVGA, HVGA, SD, HD, FHD or RTC [default: RTC]
    #[arg(long)]
    mode: Option<Mode>,
    /// Test pattern without a picture (audio-only live)
    #[arg(long)]
    audio_only: bool,
    /// Audio of the test pattern: high (48 kHz) or low (16 kHz) [default: high]
    #[arg(long)]
    audio_quality: Option<AudioQuality>,
    /// One JSON object per event on stdout
    #[arg(long)]
    json: bool,
    /// Stop after this many seconds [default: run until interrupted or the source ends]
    #[arg(long)]
    seconds: Option<f64>,
    /// Reconnects after failures in a row before giving up with -1307
    #[arg(long, default_value_t = 3)]
    retries: u32,
    /// Wait before each reconnect, in milliseconds
    #[arg(long, default_value_t = 1000)]
    retry_interval_ms: u64,
}

impl PushArgs {
    fn source(&self) -> Result<Source> {
        let test_pattern = self.source == "testsrc";
        if !test_pattern && (self.mode.is_some() || self.audio_only || self.audio_quality.is_some())
        {
            bail!("--mode, --audio-only and --audio-quality shape the test pattern: use them with --source testsrc");
        }
        Ok(match self.source.as_str() {
            "testsrc" => Source::TestPattern {
                mode: self.mode.unwrap_or_default(),
                audio_only: self.audio_only,
                audio_quality: self.audio_quality.unwrap_or_default(),
            },
            "-" => Source::Stdin,
            path => {
                let path = PathBuf::from(path);
                std::fs::metadata(&path)
                    .with_context(|| format!("cannot read the source file {}", path.display()))?;
                Source::File(path)
            }
        })
    }

    fn options(&self) -> Result<PublishOptions> {
        if let Some(s) = self.seconds {
            if !(s.is_finite() && s > 0.0) {
                bail!("--seconds must be a positive number, not {s}");
            }
        }
        Ok(PublishOptions {
            machine: MachineConfig {
                max_retries: self.retries,
                retry_interval: Duration::from_millis(self.retry_interval_ms),
                ..MachineConfig::default()
            },
            ..PublishOptions::default()
        })
    }
}

/// Runs `mplive push`. Exits with an error after -1307 or when the source fails.
pub fn run(args: PushArgs) -> Result<()> {
    let source = args.source()?;
    let options = args.options()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(push(&args, source, options));
    // Reading stdin blocks a thread that cannot be interrupted: do not wait for it.
    runtime.shutdown_background();
    result
}

async fn push(args: &PushArgs, source: Source, options: PublishOptions) -> Result<()> {
    let Some(url) = &args.url else {
        return push_managed(args, source, options).await;
    };
    let (handle, mut events) = Publisher::start(url, source, options)?;
    let mut out = Output::new(args.json);
    let stop_after = async {
        match args.seconds {
            Some(s) => tokio::time::sleep(Duration::from_secs_f64(s)).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stop_after);
    let interrupted = interrupted();
    tokio::pin!(interrupted);
    let mut stopping = false;
    let end = loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(PusherEvent::Ended(end)) => break end,
                Some(event) => out.event(&event)?,
                None => bail!("the push ended without saying why"),
            },
            _ = &mut stop_after, if !stopping => {
                stopping = true;
                handle.stop();
            }
            _ = &mut interrupted, if !stopping => {
                stopping = true;
                handle.stop();
            }
        }
    };
    out.ended(&end)?;
    match end {
        PushEnd::Stopped | PushEnd::SourceEnded => Ok(()),
        PushEnd::SourceFailed(why) => bail!("the source failed: {why}"),
        PushEnd::GaveUp => bail!(
            "gave up after {} reconnects (-1307); last failure: {}",
            args.retries,
            out.last_failure.as_deref().unwrap_or("unknown")
        ),
        other => bail!("the push ended: {other}"),
    }
}

/// The Vhall SDK's semantics: createInstance, then reconnect with a fresh URL every few seconds after a failure.
async fn push_managed(args: &PushArgs, source: Source, options: PublishOptions) -> Result<()> {
    let every = args.reconnect_every;
    if !(every.is_finite() && every > 0.0) {
        bail!("--reconnect-every must be a positive number of seconds, not {every}");
    }
    let params = InstanceParams {
        api: args.api.clone().unwrap_or_default(),
        app_id: args.app.clone().unwrap_or_default(),
        channel_id: args.channel.clone().unwrap_or_default(),
        account_id: args.account.clone().unwrap_or_default(),
        token: args.token.clone().unwrap_or_default(),
        single_audio: args.audio_only,
        profile: args.mode.map(|m| m.to_string()),
    };
    let config = ManagedConfig {
        interval: Duration::from_millis((every * 1000.0) as u64),
    };
    let (handle, mut updates) = ManagedPublisher::create(params, source, options, config).await?;
    let mut out = Output::new(args.json);
    out.sdk(&ManagedEvent::ReconnectReady {
        url: handle.url().to_string(),
    })?;
    let stop_after = async {
        match args.seconds {
            Some(s) => tokio::time::sleep(Duration::from_secs_f64(s)).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stop_after);
    let interrupted = interrupted();
    tokio::pin!(interrupted);
    let mut handle = Some(handle);
    loop {
        tokio::select! {
            update = updates.recv() => match update {
                Some(ManagedUpdate::Sdk(e)) => out.sdk(&e)?,
                Some(ManagedUpdate::Pusher(PusherEvent::Ended(_))) => {}
                Some(ManagedUpdate::Pusher(event)) => out.event(&event)?,
                Some(ManagedUpdate::Destroyed) | None => {
                    out.ended(&PushEnd::Stopped)?;
                    return Ok(());
                }
                Some(_) => {}
            },
            _ = &mut stop_after, if handle.is_some() => {
                if let Some(h) = handle.take() { h.destroy(); }
            }
            _ = &mut interrupted, if handle.is_some() => {
                if let Some(h) = handle.take() { h.destroy(); }
            }
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// One `--json` line.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum JsonLine<'a> {
    Status {
        code: i32,
        message: &'a str,
    },
    NetStatus(&'a NetStatus),
    Ended {
        reason: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
}

/// Where events go: JSON lines, the live terminal line, or plain status lines.
struct Output {
    mode: OutputMode,
    state: &'static str,
    reconnects: u64,
    last: Option<StatusEvent>,
    net: NetStatus,
    /// The message of the last 3001-3005 event, for the error after -1307.
    last_failure: Option<String>,
}

#[derive(PartialEq)]
enum OutputMode {
    Json,
    Terminal,
    Lines,
}

impl Output {
    fn new(json: bool) -> Self {
        let mode = if json {
            OutputMode::Json
        } else if std::io::stdout().is_terminal() {
            OutputMode::Terminal
        } else {
            OutputMode::Lines
        };
        Self {
            mode,
            state: "connecting",
            reconnects: 0,
            last: None,
            net: NetStatus::default(),
            last_failure: None,
        }
    }

    fn event(&mut self, event: &PusherEvent) -> Result<()> {
        match event {
            PusherEvent::Status(s) => {
                self.state = match s.code {
                    code::CONNECTED => "connected",
                    code::PUSHING | code::NET_BUSY => "publishing",
                    code::RECONNECTING => {
                        self.reconnects += 1;
                        "reconnecting"
                    }
                    code::GAVE_UP => "gave up",
                    _ => self.state,
                };
                if (code::DNS_FAILED..=code::IO_FAILED).contains(&s.code) {
                    self.last_failure = Some(format!("{} {}", s.code, s.message));
                }
                self.last = Some(s.clone());
                match self.mode {
                    OutputMode::Json => line(&JsonLine::Status {
                        code: s.code,
                        message: &s.message,
                    }),
                    OutputMode::Terminal => self.redraw(),
                    OutputMode::Lines => {
                        println!("{} {}", s.code, s.message);
                        Ok(())
                    }
                }
            }
            PusherEvent::NetStatus(n) => {
                self.net = *n;
                match self.mode {
                    OutputMode::Json => line(&JsonLine::NetStatus(n)),
                    OutputMode::Terminal => self.redraw(),
                    OutputMode::Lines => Ok(()),
                }
            }
            PusherEvent::Ended(end) => self.ended(end),
            _ => Ok(()),
        }
    }

    /// A Vhall SDK event: `{"type":"sdk","event":"reconnectReady","url":...}` in JSON (the JS SDK's event
    /// names), a line otherwise.
    fn sdk(&mut self, e: &ManagedEvent) -> Result<()> {
        let mut v = serde_json::to_value(e)?;
        if let Some(obj) = v.as_object_mut() {
            let name = obj.remove("type").unwrap_or_default();
            obj.insert(
                "event".into(),
                sdk_event_name(name.as_str().unwrap_or("")).into(),
            );
            if self.mode == OutputMode::Json {
                obj.insert("type".into(), "sdk".into());
            }
        }
        if self.mode == OutputMode::Json {
            println!("{v}");
            return Ok(());
        }
        if self.mode == OutputMode::Terminal {
            eprintln!();
        }
        println!("sdk: {v}");
        Ok(())
    }

    fn ended(&mut self, end: &PushEnd) -> Result<()> {
        let (reason, message) = match end {
            PushEnd::Stopped => ("stopped", None),
            PushEnd::SourceEnded => ("source_ended", None),
            PushEnd::SourceFailed(why) => ("source_failed", Some(why.clone())),
            PushEnd::GaveUp => ("gave_up", self.last_failure.clone()),
            _ => ("ended", Some(end.to_string())),
        };
        match self.mode {
            OutputMode::Json => line(&JsonLine::Ended { reason, message }),
            OutputMode::Terminal => {
                self.state = if matches!(end, PushEnd::GaveUp) {
                    "gave up"
                } else {
                    "stopped"
                };
                self.redraw()?;
                println!();
                Ok(())
            }
            OutputMode::Lines => Ok(()),
        }
    }

    /// Redraws the status line in place: state, bitrates, frame rate, reconnects, last status.
    fn redraw(&self) -> Result<()> {
        let n = &self.net;
        let mut text = format!(
            "{:<12} sent {:>5} kbit/s | video {} kbit/s {:.1} fps {}x{} | audio {} kbit/s | reconnects {}",
            self.state,
            n.net_speed,
            n.video_bitrate,
            n.video_fps,
            n.video_width,
            n.video_height,
            n.audio_bitrate,
            self.reconnects
        );
        if let Some(s) = &self.last {
            text.push_str(&format!("  [{} {}]", s.code, s.message));
        }
        // Past the terminal's width the line would wrap and no longer redraw in place.
        let width = rustix::termios::tcgetwinsize(std::io::stdout())
            .map(|w| usize::from(w.ws_col))
            .ok()
            .filter(|w| *w > 0)
            .unwrap_or(80);
        let text: String = text.chars().take(width.saturating_sub(1)).collect();
        let mut stdout = std::io::stdout().lock();
        write!(stdout, "\r\x1b[2K{text}")?;
        stdout.flush()?;
        Ok(())
    }
}

/// The JS SDK's name of a managed-publisher event (`reconnect_ready` -> `reconnectReady`, as
/// sdk/miniprogram/src/publisher.js emits it).
fn sdk_event_name(machine_name: &str) -> String {
    let mut out = String::with_capacity(machine_name.len());
    let mut upper = false;
    for c in machine_name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn line(value: &JsonLine<'_>) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, value)?;
    writeln!(stdout)?;
    stdout.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sdk_events_have_the_js_sdk_names() {
        for (machine, sdk) in [
            ("connected", "connected"),
            ("reconnecting", "reconnecting"),
            ("reconnect_ready", "reconnectReady"),
            ("reconnected", "reconnected"),
            ("reconnect_fail", "reconnectFail"),
        ] {
            assert_eq!(super::sdk_event_name(machine), sdk);
        }
    }
}
