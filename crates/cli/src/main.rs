//! `mplive`: the command-line front of the mplive live-streaming server. Thin: it parses arguments and calls the
//! crates.

mod bench;
mod serve;

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
    /// Load-test a server: publish a fixture and run many players, report latency and CPU.
    Bench(bench::BenchArgs),
}

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("MPLIVE_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Bench(args) => bench::run(args),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
