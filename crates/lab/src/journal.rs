//! The journal: one JSON line per completed phase of bring-up and teardown,
//! appended and synced before the next phase starts. Everything a netns lab
//! creates lives inside namespaces that die with the supervisor, so the
//! journal is the record `warren down` reads to know how far a crashed
//! bring-up got, and where host-side objects would be listed.

use serde::Serialize;
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
    detail: &'a str,
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

    /// Appends one record of `event` per detail and syncs once: a lab's
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
            serde_json::to_writer(&mut buf, &Record { t, event, detail })
                .map_err(io::Error::other)?;
            buf.push(b'\n');
        }
        if buf.is_empty() {
            return Ok(());
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()?;
        self.written += 1;
        if self.crash_after == Some(self.written) {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        }
        Ok(())
    }

    /// Appends one record and syncs it to disk.
    pub fn record(&mut self, event: &str, detail: &str) -> io::Result<()> {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let mut line =
            serde_json::to_vec(&Record { t, event, detail }).map_err(io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()?;
        self.written += 1;
        if self.crash_after == Some(self.written) {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
