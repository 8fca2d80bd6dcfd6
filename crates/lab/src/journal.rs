//! The journal: one JSON line per completed step of bring-up (the step
//! itself, see [`crate::steps::Phase`]) and teardown, appended before the
//! next starts, and one [`Undo`] line, synced, *before* anything is made
//! that does not die with the lab's namespaces. After a crash, `warren
//! down` reads the undo records back ([`undos`]) and undoes them in
//! reverse; what lives in the namespaces the kernel frees with the
//! supervisor.

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Environment variable naming a journal record count after which the
/// process kills itself with SIGKILL: fault injection for the crash-safety
/// tests, which kill a bring-up after each of its steps in turn.
pub const CRASH_AFTER_ENV: &str = "WARREN_CRASH_AFTER_RECORD";

/// An open journal.
#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
    written: u64,
    crash_after: Option<u64>,
}

#[derive(Serialize)]
struct Record<'a> {
    /// Milliseconds since the epoch.
    t: u128,
    event: &'a str,
    #[serde(flatten)]
    body: Body<'a>,
}

/// What a record carries besides its time and event.
#[derive(Serialize)]
#[serde(untagged)]
enum Body<'a> {
    Detail { detail: &'a str },
    Step { step: serde_json::Value },
    Undo { undo: &'a Undo },
}

/// Something made outside the lab's namespaces, to undo at `down` if the
/// supervisor could not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Undo {
    /// A node's cgroup in one hierarchy (a system node's): removed once its
    /// processes are gone, then the lab's and warren's folders above it
    /// when empty.
    Cgroup {
        /// The node's cgroup folder.
        path: PathBuf,
    },
    /// The host's end of a host link (a veth into the host's namespace),
    /// deleted if it is still there: it goes with its node's namespace,
    /// but only once the kernel has cleaned that namespace up.
    HostLink {
        /// Its name in the host's namespace.
        name: String,
    },
}

/// A journal line as read back: only undo records matter then.
#[derive(Deserialize)]
struct ReadBack {
    #[serde(default)]
    undo: Option<Undo>,
}

/// The undo records of the journal in `dir`, in the order they were
/// written (none when there is no journal).
pub fn undos(dir: &Path) -> Vec<Undo> {
    let Ok(text) = std::fs::read_to_string(dir.join("journal.jsonl")) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<ReadBack>(l).ok()?.undo)
        .collect()
}

impl Journal {
    /// Opens (creating or appending to) `journal.jsonl` in `dir`.
    pub fn open(dir: &Path) -> io::Result<Journal> {
        let path = dir.join("journal.jsonl");
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let crash_after = std::env::var(CRASH_AFTER_ENV)
            .ok()
            .and_then(|v| v.parse().ok());
        Ok(Journal {
            file,
            path,
            written: 0,
            crash_after,
        })
    }

    /// Where the journal is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record of `event` per detail in one write: a lab's
    /// line per capture at teardown took seconds with a sync each.
    pub fn record_all<'d>(
        &mut self,
        event: &str,
        details: impl IntoIterator<Item = &'d str>,
    ) -> io::Result<()> {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let mut buf = Vec::new();
        for detail in details {
            serde_json::to_writer(
                &mut buf,
                &Record {
                    t,
                    event,
                    body: Body::Detail { detail },
                },
            )
            .map_err(io::Error::other)?;
            buf.push(b'\n');
        }
        if buf.is_empty() {
            return Ok(());
        }
        self.append(&buf)
    }

    /// Appends one record.
    pub fn record(&mut self, event: &str, detail: &str) -> io::Result<()> {
        self.write(event, Body::Detail { detail })
    }

    /// Records a completed step of bring-up.
    pub fn step(&mut self, step: &impl Serialize) -> io::Result<()> {
        let step = serde_json::to_value(step).map_err(io::Error::other)?;
        self.write("step", Body::Step { step })
    }

    /// Records something about to be made that does not die with the
    /// lab's namespaces.
    pub fn undo(&mut self, undo: &Undo) -> io::Result<()> {
        self.write("undo", Body::Undo { undo })
    }

    fn write(&mut self, event: &str, body: Body<'_>) -> io::Result<()> {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let sync = matches!(body, Body::Undo { .. });
        let mut line = serde_json::to_vec(&Record { t, event, body }).map_err(io::Error::other)?;
        line.push(b'\n');
        if sync {
            self.append_synced(&line)
        } else {
            self.append(&line)
        }
    }

    /// Writes whole lines: one write counts as one record for the
    /// crash-safety fault injection. A write is in the page cache before
    /// the next step starts, so a supervisor that dies leaves it for `warren
    /// down`; a host that crashes takes the namespaces with it. Syncing
    /// each step cost a 10,000-node lab its 20,000 steps' disk flushes.
    fn append(&mut self, lines: &[u8]) -> io::Result<()> {
        self.file.write_all(lines)?;
        self.count_record();
        Ok(())
    }

    /// Like [`Journal::append`], and synced to disk: an undo record names
    /// something outside the namespaces, so it must outlive the page cache.
    fn append_synced(&mut self, lines: &[u8]) -> io::Result<()> {
        self.file.write_all(lines)?;
        self.file.sync_data()?;
        self.count_record();
        Ok(())
    }

    fn count_record(&mut self) {
        self.written += 1;
        if self.crash_after == Some(self.written) {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undo_records_read_back_in_order_among_the_other_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut j = Journal::open(dir.path()).expect("journal");
        j.record("namespaces", "3 created").expect("write");
        let a = Undo::Cgroup {
            path: PathBuf::from("/sys/fs/cgroup/warren/l/a"),
        };
        let b = Undo::Cgroup {
            path: PathBuf::from("/sys/fs/cgroup/warren/l/b"),
        };
        j.undo(&a).expect("write");
        j.step(&crate::steps::Phase::Init).expect("write");
        j.undo(&b).expect("write");
        assert_eq!(undos(dir.path()), [a, b]);
        let text = std::fs::read_to_string(j.path()).expect("read");
        assert!(
            text.contains(r#""event":"step","step":{"step":"init"}"#),
            "{text}"
        );
    }

    #[test]
    fn no_journal_means_nothing_to_undo() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(undos(&dir.path().join("missing")).is_empty());
    }

    #[test]
    fn record_all_appends_one_line_per_detail() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        j.record("teardown", "start").unwrap();
        j.record_all(
            "capture",
            ["a: 1 frames, 0 dropped", "b: 2 frames, 1 dropped"],
        )
        .unwrap();
        j.record_all("capture", []).unwrap();
        let text = std::fs::read_to_string(j.path()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[1]["event"], "capture");
        assert_eq!(lines[1]["detail"], "a: 1 frames, 0 dropped");
        assert_eq!(lines[2]["detail"], "b: 2 frames, 1 dropped");
    }
}
