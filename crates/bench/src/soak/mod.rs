//! `mplive bench soak` and `mplive bench churn`: long-running checks that the server keeps its players through
//! publisher drops, keeps timestamps monotonic, sends exact webhooks, and leaves nothing behind (descriptors,
//! tokio tasks, memory, players in the API) after many sessions. Not run in CI: `bench/soak.sh` drives them.
//!
//! Pieces: [`publish`] (stream A that drops and comes back, stream B that is kicked and forbidden), [`players`]
//! (RTMP and HTTP-FLV slots) and [`hls`] (HLS and LL-HLS pollers), [`hooks`] (the webhook receiver), [`api`]
//! (the admin API), [`run`] (the soak), [`churn`] (connect / play / disconnect cycles), [`report`].

mod api;
mod churn;
mod hls;
mod hooks;
mod players;
mod publish;
mod report;
mod run;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{ensure, Result};
use clap::Args;

/// Flags of `mplive bench soak`.
#[derive(Debug, Clone, Args)]
pub struct SoakArgs {
    /// RTMP URL of stream A (the one that drops): `rtmp://host:port/app/stream` (local addresses only)
    #[arg(long)]
    pub url: String,
    /// Stream B's name, in the same app (kicked and forbidden)
    #[arg(long, default_value = "soak-b")]
    pub stream_b: String,
    /// The server's HTTP base URL: `http://host:port/` (HTTP-FLV, HLS, LL-HLS, the admin API)
    #[arg(long)]
    pub http_url: String,
    /// Admin token for the API (kicks, forbids, /metrics)
    #[arg(long, env = "MPLIVE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: String,
    /// The server's process id: RSS and open descriptors from /proc
    #[arg(long)]
    pub server_pid: u32,
    /// FLV file both publishers loop in real time
    #[arg(long)]
    pub fixture: PathBuf,
    /// Length of the load, in minutes
    #[arg(long, default_value_t = 60)]
    pub minutes: u32,
    /// Players of stream A, split evenly over RTMP, HTTP-FLV, HLS and LL-HLS
    #[arg(long, default_value_t = 200)]
    pub players: u32,
    /// Percent of the players that leave and rejoin every second
    #[arg(long, default_value_t = 3.0)]
    pub churn_percent: f64,
    /// Stream A drops and comes back this often (alternately a TCP close and a clean unpublish)
    #[arg(long, default_value_t = 30)]
    pub drop_every_secs: u64,
    /// Time between stream A's drop and its reconnect (must be well within the server's republish grace)
    #[arg(long, default_value_t = 500)]
    pub reconnect_delay_ms: u64,
    /// Stream B is kicked or forbidden (alternately) this often
    #[arg(long, default_value_t = 30)]
    pub b_every_secs: u64,
    /// How long each forbid of stream B lasts before it is lifted
    #[arg(long, default_value_t = 5)]
    pub forbid_secs: u64,
    /// Where the webhook receiver listens (the app's callback URL must point here)
    #[arg(long, default_value = "127.0.0.1:18999")]
    pub webhook_listen: SocketAddr,
    /// Seconds between samples of RSS, descriptors and tasks
    #[arg(long, default_value_t = 60)]
    pub sample_secs: u64,
    /// After the players stop: time for HLS viewers to expire (3 target durations, at least 10 s) and for
    /// webhooks to arrive
    #[arg(long, default_value_t = 20)]
    pub settle_secs: u64,
    /// Largest RSS growth from the first to the last sample that counts as flat, in percent
    #[arg(long, default_value_t = 10.0)]
    pub rss_growth_percent: f64,
    /// Time a player has from connect to playing
    #[arg(long, default_value_t = 10_000)]
    pub connect_timeout_ms: u64,
    /// Print the report as JSON on stdout (the table goes to stderr)
    #[arg(long)]
    pub json: bool,
}

/// Flags of `mplive bench churn`.
#[derive(Debug, Clone, Args)]
pub struct ChurnArgs {
    /// RTMP URL of the stream the tool publishes and the cycles play: `rtmp://host:port/app/stream`
    #[arg(long)]
    pub url: String,
    /// The server's HTTP base URL: `http://host:port/`
    #[arg(long)]
    pub http_url: String,
    /// Admin token for the API (/metrics, the stream's players)
    #[arg(long, env = "MPLIVE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: String,
    /// The server's process id: RSS and open descriptors from /proc
    #[arg(long)]
    pub server_pid: u32,
    /// FLV file published in real time during the cycles
    #[arg(long)]
    pub fixture: PathBuf,
    /// Connect / play / disconnect cycles, RTMP and HTTP-FLV alternating
    #[arg(long, default_value_t = 100_000)]
    pub cycles: u64,
    /// Cycles in flight at once
    #[arg(long, default_value_t = 16)]
    pub concurrency: u32,
    /// Time one cycle has to get its first frame
    #[arg(long, default_value_t = 10_000)]
    pub cycle_timeout_ms: u64,
    /// Longest wait after the last cycle for the server to be back at its baseline
    #[arg(long, default_value_t = 30)]
    pub settle_secs: u64,
    /// Largest RSS growth over the baseline that counts as nothing left behind, in MiB
    #[arg(long, default_value_t = 32)]
    pub rss_bound_mib: u64,
    /// Print the report as JSON on stdout (the table goes to stderr)
    #[arg(long)]
    pub json: bool,
}

impl SoakArgs {
    fn validate(&self) -> Result<()> {
        ensure!(
            (1..=600).contains(&self.minutes),
            "--minutes must be within 1..=600"
        );
        ensure!(
            (4..=5000).contains(&self.players),
            "--players must be within 4..=5000"
        );
        ensure!(
            (0.0..=50.0).contains(&self.churn_percent),
            "--churn-percent must be within 0..=50"
        );
        ensure!(self.drop_every_secs >= 5, "--drop-every-secs is at least 5");
        ensure!(
            self.reconnect_delay_ms <= 60_000,
            "--reconnect-delay-ms is at most 60000"
        );
        ensure!(self.b_every_secs >= 10, "--b-every-secs is at least 10");
        ensure!(
            (1..=600).contains(&self.forbid_secs),
            "--forbid-secs must be within 1..=600"
        );
        ensure!(
            (5..=3600).contains(&self.sample_secs),
            "--sample-secs must be within 5..=3600"
        );
        ensure!(
            (11..=600).contains(&self.settle_secs),
            "--settle-secs must be within 11..=600 (HLS viewers expire after 10 s at least)"
        );
        ensure!(
            (100..=60_000).contains(&self.connect_timeout_ms),
            "--connect-timeout-ms must be within 100..=60000"
        );
        ensure!(
            self.webhook_listen.ip().is_loopback(),
            "--webhook-listen must be a loopback address"
        );
        Ok(())
    }
}

impl ChurnArgs {
    fn validate(&self) -> Result<()> {
        ensure!(
            (1..=10_000_000).contains(&self.cycles),
            "--cycles must be within 1..=10000000"
        );
        ensure!(
            (1..=1000).contains(&self.concurrency),
            "--concurrency must be within 1..=1000"
        );
        ensure!(
            (100..=60_000).contains(&self.cycle_timeout_ms),
            "--cycle-timeout-ms must be within 100..=60000"
        );
        ensure!(
            (1..=600).contains(&self.settle_secs),
            "--settle-secs must be within 1..=600"
        );
        Ok(())
    }
}

/// Runs `mplive bench soak`: prints the report, and fails when a verdict fails.
pub fn run_soak(args: SoakArgs) -> Result<()> {
    args.validate()?;
    let report = crate::runtime(None)?.block_on(run::soak(&args))?;
    print_and_judge(
        &report,
        args.json,
        report::Soak::to_table,
        report::Soak::passed,
    )
}

/// Runs `mplive bench churn`: prints the report, and fails when a verdict fails.
pub fn run_churn(args: ChurnArgs) -> Result<()> {
    args.validate()?;
    let report = crate::runtime(None)?.block_on(churn::run(&args))?;
    print_and_judge(
        &report,
        args.json,
        report::Churn::to_table,
        report::Churn::passed,
    )
}

fn print_and_judge<R: serde::Serialize>(
    report: &R,
    json: bool,
    table: impl Fn(&R) -> String,
    passed: impl Fn(&R) -> bool,
) -> Result<()> {
    if json {
        // The table too, on stderr: a script keeps both from one run.
        eprint!("{}", table(report));
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", table(report));
    }
    ensure!(passed(report), "some verdicts failed (see the report)");
    Ok(())
}
