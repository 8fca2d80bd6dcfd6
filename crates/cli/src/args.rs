//! The command line, as clap definitions. Help texts here are what
//! `--help`, the man page and shell completions show.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// warren builds network labs and appliance test beds on one Linux host from
/// one declarative file, runs tests in them, keeps the evidence, and tears
/// them down leaving nothing behind.
#[derive(Debug, Parser)]
#[command(
    name = "warren",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Every warren command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check lab files and report every problem with its place in the file.
    Validate(ValidateArgs),
    /// Draw a lab as Graphviz dot, Mermaid, or the resolved lab as JSON.
    Graph(GraphArgs),
    /// Print the JSON Schema of the lab file, for editors.
    Schema,
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Print the man page (roff).
    Man,
}

/// `warren validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Lab files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Output formats of `warren graph`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz dot.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
    /// The resolved lab: defaults applied, addresses assigned.
    Json,
}

/// `warren graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The lab file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "dot")]
    pub format: GraphFormat,
}

/// `warren completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
