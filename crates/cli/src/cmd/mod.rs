//! One module per command; `run` dispatches.

mod graph;
mod validate;

use crate::Failure;
use crate::args::{Cli, Command};
use clap::CommandFactory;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Validate(a) => validate::run(&a),
        Command::Graph(a) => graph::run(&a),
        Command::Schema => {
            println!("{}", warren_topology::schema::SCHEMA.trim_end());
            Ok(())
        }
        Command::Completions(a) => {
            let mut cmd = Cli::command();
            clap_complete::generate(a.shell, &mut cmd, "warren", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => {
            let man = clap_mangen::Man::new(Cli::command());
            man.render(&mut std::io::stdout())
                .map_err(|e| Failure::Error(miette::miette!("writing the man page: {e}")))
        }
    }
}
