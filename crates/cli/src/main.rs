//! The `warren` binary: parses the command line, runs one command, and
//! turns its outcome into an exit code.

mod args;
mod cmd;
mod compose;
mod labfile;
mod logging;
mod netconf;
mod pipe;
mod progress;
mod report;
mod table;
mod testrun;

use clap::Parser;
use std::process::ExitCode;

/// How a command can end other than in success.
#[derive(Debug)]
pub enum Failure {
    /// A lab file has problems; they are already rendered.
    Invalid {
        /// The rendered problems.
        report: String,
        /// The file.
        file: String,
        /// How many problems.
        count: usize,
    },
    /// The command failed for another reason.
    Error(miette::Report),
    /// The command has already reported; exit with this code.
    Exit(u8),
}

impl Failure {
    /// Wraps any error, keeping its chain of causes for the report.
    pub fn error<E: std::error::Error + Send + Sync + 'static>(e: E) -> Failure {
        Failure::Error(Failure::report(e))
    }

    /// A miette report of any error, keeping its chain of causes.
    pub fn report<E: std::error::Error + Send + Sync + 'static>(e: E) -> miette::Report {
        use miette::IntoDiagnostic;
        Err::<(), E>(e)
            .into_diagnostic()
            .expect_err("an error was given")
    }
}

impl From<miette::Report> for Failure {
    fn from(e: miette::Report) -> Self {
        Failure::Error(e)
    }
}

impl Failure {
    /// Prints what went wrong (nothing for [`Failure::Exit`]) and returns
    /// the exit code: 1 unless the command chose its own.
    pub fn print(self) -> u8 {
        match self {
            Failure::Invalid {
                report,
                file,
                count,
            } => {
                eprint!("{report}");
                let s = if count == 1 { "" } else { "s" };
                eprintln!("error: {file} is not a valid lab file ({count} problem{s})");
                1
            }
            Failure::Error(e) => {
                eprintln!("{e:?}");
                1
            }
            Failure::Exit(code) => code,
        }
    }
}

fn main() -> ExitCode {
    if let Some(code) = netconf::as_packet_networking() {
        return ExitCode::from(code);
    }
    let cli = args::Cli::parse();
    // The supervisor's stdout is its log; only commands talk to a pipe.
    if !matches!(cli.command, args::Command::Supervise { .. }) {
        pipe::exit_quietly_on_closed_stdout();
    }
    let (verbose, quiet) = cli.verbosity();
    logging::export(verbose);
    match &cli.command {
        args::Command::Supervise { dir } => logging::init_supervisor(dir),
        // Their stderr is a node command's: nothing of warren's goes there.
        args::Command::Init
        | args::Command::Spawn(_)
        | args::Command::Container { .. }
        | args::Command::NetExec(_) => {}
        _ => {
            if let Err(f) = logging::init_cli(verbose, quiet) {
                return ExitCode::from(f.print());
            }
        }
    }
    match cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Error(e)) if pipe::is_closed_pipe(&e) => ExitCode::SUCCESS,
        Err(f) => ExitCode::from(f.print()),
    }
}
