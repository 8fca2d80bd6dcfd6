//! The `warren` binary (minimal until the other commands land).

mod netconf;

use clap::{Parser, Subcommand};

/// warren builds network labs on one Linux host.
#[derive(Debug, Parser)]
#[command(name = "warren", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a bare-metal host's network configuration from Equinix Metal
    /// metadata (a drop-in for packet-networking).
    Netconf(netconf::NetconfArgs),
}

fn main() {
    let cli = Cli::parse();
    let code = match &cli.command {
        Command::Netconf(args) => netconf::run(args),
    };
    std::process::exit(code);
}
