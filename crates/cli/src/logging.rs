//! Logs: `tracing` events of every warren crate, filtered by `WARREN_LOG`
//! (env-filter syntax) or else by the global `-v`/`-q`. The CLI writes them
//! to stderr (above any progress display); a lab's supervisor writes them
//! to its stderr, which `warren up` points at the run's evidence folder
//! (`supervisor.log`), and turns its progress events into lines of the
//! run's `events.jsonl` for `warren up` to show (see [`crate::progress`]).
//!
//! The helpers the supervisor starts inside nodes (`__spawn`, `__init`,
//! `__container`, `__netexec`) log nothing: their stderr is a node
//! command's.

use crate::Failure;
use crate::progress;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::OnceLock;
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// The variable that selects what is logged, in env-filter syntax
/// (`debug`, `warren_kernel=trace,info`).
pub const ENV: &str = "WARREN_LOG";

/// What a supervisor logs when `WARREN_LOG` says nothing: its lifecycle
/// phases, node starts and readiness, pulls.
const SUPERVISOR_DEFAULT: &str = "warn,warren=info";

/// Whether the user asked for logs (`WARREN_LOG` or `-v`): then `warren up`
/// also relays its supervisor's log to stderr.
static REQUESTED: OnceLock<bool> = OnceLock::new();

/// The directives `-v` (counted) and `-q` stand for. Targets are crate
/// paths, so `warren` covers every warren crate (`warren_kernel`, ...).
pub fn directives(verbose: u8, quiet: bool) -> &'static str {
    match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "warn,warren=info",
        (false, 2) => "warn,warren=debug",
        (false, _) => "info,warren=trace",
    }
}

/// `WARREN_LOG` when set and not empty.
fn env_value() -> Option<String> {
    std::env::var(ENV).ok().filter(|v| !v.trim().is_empty())
}

/// Parses `WARREN_LOG`, or falls back to `default`.
fn filter(default: &str) -> Result<EnvFilter, String> {
    match env_value() {
        Some(v) => {
            EnvFilter::try_new(&v).map_err(|e| format!("{ENV}={v:?} is not a valid filter: {e}"))
        }
        None => Ok(EnvFilter::new(default)),
    }
}

/// Hands `-v` on to the processes warren starts (the supervisor reads
/// `WARREN_LOG`), unless `WARREN_LOG` is set already. Must run before any
/// thread exists.
pub fn export(verbose: u8) {
    if verbose > 0 && env_value().is_none() {
        // SAFETY: called first thing in `main`, while the process has a
        // single thread, so no other thread reads the environment.
        unsafe { std::env::set_var(ENV, directives(verbose, false)) };
    }
}

/// Logs of a CLI command to stderr. A bad `WARREN_LOG` is an error before
/// the command changes anything.
pub fn init_cli(verbose: u8, quiet: bool) -> Result<(), Failure> {
    let _ = REQUESTED.set(verbose > 0 || env_value().is_some());
    let filter = filter(directives(verbose, quiet)).map_err(|e| miette::miette!("{e}"))?;
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(AboveProgress)
        .with_ansi(std::io::stderr().is_terminal())
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .with_filter(filter);
    // Fails only if a subscriber exists already; then that one logs.
    let _ = tracing_subscriber::registry().with(layer).try_init();
    Ok(())
}

/// Whether the user asked for logs ([`init_cli`] saw `WARREN_LOG` or `-v`).
pub fn requested() -> bool {
    REQUESTED.get().copied().unwrap_or(false)
}

/// Logs of a lab's supervisor (state folder `dir`): to stderr, without
/// colour, at [`SUPERVISOR_DEFAULT`] unless `WARREN_LOG` says otherwise
/// (a bad value is reported in the log and the default used); progress
/// events also go to the run's `events.jsonl`.
pub fn init_supervisor(dir: &Path) {
    let (filter, bad) = match filter(SUPERVISOR_DEFAULT) {
        Ok(f) => (f, None),
        Err(e) => (EnvFilter::new(SUPERVISOR_DEFAULT), Some(e)),
    };
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_filter(filter);
    let results = warren_lab::state::LabState::read(dir)
        .ok()
        .flatten()
        .map(|st| st.results);
    let events = results.map(|r| {
        progress::EventsLayer::new(r).with_filter(filter_fn(|m| {
            m.is_event() && m.fields().field(progress::FIELD).is_some()
        }))
    });
    let _ = tracing_subscriber::registry()
        .with(log)
        .with(events)
        .try_init();
    if let Some(e) = bad {
        tracing::warn!("{e}; logging at {SUPERVISOR_DEFAULT}");
    }
}

/// Writes each log record to stderr in one piece, above the progress
/// display when one is drawn.
struct AboveProgress;

impl<'a> MakeWriter<'a> for AboveProgress {
    type Writer = Record;

    fn make_writer(&'a self) -> Record {
        Record(Vec::new())
    }
}

/// One log record, written out when dropped.
struct Record(Vec<u8>);

impl std::io::Write for Record {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        progress::print_stderr(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_map_to_levels_of_warren_crates() {
        assert_eq!(directives(0, false), "warn");
        assert_eq!(directives(1, false), "warn,warren=info");
        assert_eq!(directives(2, false), "warn,warren=debug");
        assert_eq!(directives(7, false), "info,warren=trace");
        assert_eq!(directives(3, true), "error", "-q wins over -v");
    }

    #[test]
    fn every_directive_parses() {
        for v in 0..4 {
            for q in [false, true] {
                EnvFilter::try_new(directives(v, q)).expect("valid directives");
            }
        }
        EnvFilter::try_new(SUPERVISOR_DEFAULT).expect("valid default");
    }
}
