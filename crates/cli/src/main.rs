//! `mplive`: the command-line front of the mplive live-streaming server. Thin: it parses arguments and calls the
//! crates.

mod admin;
mod play;
mod push;
mod room;
mod serve;
mod stream;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// mplive: a self-hosted live-streaming server for RTMP, HTTP-FLV and mini-program clients.
#[derive(Debug, Parser)]
#[command(name = "mplive", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the server (RTMP on :1935, HTTP on :8080 by default).
    Serve(serve::ServeArgs),
    /// Load-test a server: publish a fixture and run many players, report latency and CPU; `bench soak` and
    /// `bench churn` for long-running checks.
    Bench(BenchCommand),
    /// Manage apps: create, list, show, rotate-key, set, delete.
    App(admin::AppArgs),
    /// Print a signed push URL (one line) or the play URLs of a stream (rtmp, flv, m3u8, LL-HLS ll.m3u8, WHEP).
    Url(admin::UrlArgs),
    /// Print an SDK access token (HS256 JWT signed with the app's secret).
    Token(admin::TokenArgs),
    /// Push a file, stdin or a test pattern like live-pusher: status codes, net status, reconnects.
    Push(push::PushArgs),
    /// Rooms: sign a join for testing, create or register a member's session key.
    Room(room::RoomArgs),
    /// Play a stream headless like WeChat's live-player: status codes, net status, a summary.
    Play(play::PlayArgs),
    /// Live streams on a running server: list, show, kick, forbid, unforbid (through its admin API).
    Stream(stream::StreamArgs),
    /// List the forbids in force on a running server (through its admin API).
    Forbids(stream::ForbidsArgs),
}

/// `mplive bench [FLAGS]`, or `mplive bench soak|churn [FLAGS]`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct BenchCommand {
    #[command(subcommand)]
    tool: Option<BenchTool>,
    #[command(flatten)]
    args: Option<bench::BenchArgs>,
}

#[derive(Debug, Subcommand)]
enum BenchTool {
    /// Soak: a publisher that drops and comes back, 200 players over RTMP, HTTP-FLV, HLS and LL-HLS with churn,
    /// a second stream kicked and forbidden; checks drops, timestamps, webhooks, RSS / fds / tasks per minute.
    Soak(bench::SoakArgs),
    /// Churn: connect / play / disconnect cycles against a live stream, then checks nothing is left behind.
    Churn(bench::ChurnArgs),
}

fn run_bench(cmd: BenchCommand) -> anyhow::Result<()> {
    match (cmd.tool, cmd.args) {
        (Some(BenchTool::Soak(args)), _) => bench::run_soak(args),
        (Some(BenchTool::Churn(args)), _) => bench::run_churn(args),
        (None, Some(args)) => bench::run(args),
        (None, None) => anyhow::bail!("mplive bench needs --url (see mplive bench --help)"),
    }
}

fn main() {
    let cli = Cli::parse();
    // Commands whose output is read by scripts keep stderr quiet unless MPLIVE_LOG asks.
    let default_log = match cli.command {
        Command::Serve(_) | Command::Bench(_) => "info",
        // The status events already say what the warnings would.
        Command::Push(_) | Command::Play(_) => "error",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("MPLIVE_LOG").unwrap_or_else(|_| EnvFilter::new(default_log)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Bench(cmd) => run_bench(cmd),
        Command::App(args) => admin::run_app(args),
        Command::Url(args) => admin::run_url(args),
        Command::Token(args) => admin::run_token(args),
        Command::Push(args) => push::run(args),
        Command::Play(args) => play::run(args),
        Command::Room(args) => room::run(args),
        Command::Stream(args) => stream::run(args),
        Command::Forbids(args) => stream::run_forbids(args),
    };
    if let Err(e) = result {
        // Each cause once: many errors repeat their source in their own message.
        eprintln!(
            "error: {}",
            client::join_causes(e.chain().map(|c| c.to_string()))
        );
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Clap's own checks of every subcommand (unique argument and group names, ...), which otherwise run only
    /// when that subcommand is used.
    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
