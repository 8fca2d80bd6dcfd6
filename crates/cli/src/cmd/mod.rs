//! One module per command; `run` dispatches.

mod capture;
mod console;
mod curated;
mod down;
mod exec;
mod graph;
pub mod image;
mod impair;
mod inspect;
mod node;
mod probe;
mod ps;
mod report;
mod run;
mod scale;
mod system_lab;
mod test;
mod up;
mod validate;
mod view;

use crate::Failure;
use crate::args::{Cli, Command};
use clap::CommandFactory;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<(), Failure> {
    // A command's own -q/-v and the global ones mean the same.
    let (verbose, quiet) = cli.verbosity();
    match cli.command {
        Command::Up(mut a) => {
            a.quiet = quiet;
            up::run(&a)
        }
        Command::Down(a) => down::run(&a),
        Command::Test(mut a) => {
            a.quiet = quiet;
            test::run(&a)
        }
        Command::NetExec(a) => crate::testrun::netexec::run(&a),
        Command::Ps(a) => ps::run(&a),
        Command::Inspect(a) => inspect::run(&a),
        Command::Exec(a) => exec::run(&a),
        Command::Capture(a) => capture::run(&a),
        Command::Impair(a) => impair::run(&a),
        Command::Link(a) => impair::link(&a),
        Command::Node(a) => node::run(&a),
        Command::Scale(a) => scale::run(&a),
        Command::Console(a) => console::run(&a),
        Command::Vm(a) => console::vm(&a),
        Command::Supervise { dir } => warren_lab::helpers::supervise(&dir).map_err(Failure::error),
        Command::Init => warren_lab::helpers::init(),
        Command::Container {
            spec,
            pid_file,
            exit_file,
        } => {
            let code = warren_lab::helpers::container(&spec, &pid_file, &exit_file)
                .map_err(Failure::error)?;
            Err(Failure::Exit(u8::try_from(code.clamp(0, 255)).unwrap_or(1)))
        }
        Command::Spawn(a) => {
            let within = match a.container {
                Some(pid) => warren_lab::helpers::SpawnIn::Container(pid),
                None => warren_lab::helpers::SpawnIn::Netns {
                    net: a.netns,
                    pid: a.pidns,
                },
            };
            let code = warren_lab::helpers::spawn(within, &a.command).map_err(Failure::error)?;
            Err(Failure::Exit(u8::try_from(code.clamp(0, 255)).unwrap_or(1)))
        }
        Command::Run(a) => run::run(&a),
        Command::Probe(a) => probe::run(&a),
        Command::Validate(a) => validate::run(&a),
        Command::Netconf(mut a) => match crate::netconf::run({
            a.verbose = verbose;
            a.quiet = quiet;
            &a
        }) {
            0 => Ok(()),
            code => Err(Failure::Exit(u8::try_from(code).unwrap_or(1))),
        },
        Command::Graph(a) => graph::run(&a),
        Command::Report(a) => report::run(&a),
        Command::View(a) => view::run(&a),
        Command::Image(mut a) => {
            if let image::ImageCommand::Pull { quiet: q, .. } = &mut a.command {
                *q |= quiet;
            }
            image::run(&a)
        }
        Command::Schema => {
            println!("{}", warren_topology::schema::SCHEMA.trim_end());
            Ok(())
        }
        Command::Completions(a) => {
            let mut cmd = Cli::command();
            let mut out = Vec::new();
            clap_complete::generate(a.shell, &mut cmd, "warren", &mut out);
            crate::pipe::write_stdout(&out)
        }
        Command::Man => {
            let man = clap_mangen::Man::new(Cli::command());
            let mut out = Vec::new();
            man.render(&mut out)
                .map_err(|e| Failure::Error(miette::miette!("writing the man page: {e}")))?;
            crate::pipe::write_stdout(&out)
        }
    }
}
