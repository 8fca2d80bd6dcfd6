//! A run's evidence folder, read for the report: the resolved lab
//! (`lab.json`), the events (`events.jsonl`), the steps' results
//! (`steps.json`, else the `step-end` events), every capture
//! (`capture/*.pcapng`), the consoles (`console/<node>.txt`) and the list
//! of files.

use crate::traffic::Traffic;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Largest part of a console log the report embeds; the rest is in the
/// file, which the report links.
pub const CONSOLE_LIMIT: usize = 256 * 1024;

/// Why an evidence folder could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvidenceError {
    /// A file could not be read.
    #[error("reading {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file is not the JSON it should be.
    #[error("{}:{line}: not valid JSON", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// Line (1 for a whole-file document).
        line: usize,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A capture file is not readable pcapng.
    #[error("reading capture {}", path.display())]
    Capture {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: warren_capture::ReadError,
    },
}

/// One line of `events.jsonl`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Event {
    /// Seconds since the epoch.
    pub t: f64,
    /// What happened.
    pub event: String,
    /// The other fields.
    #[serde(flatten)]
    pub fields: serde_json::Map<String, Value>,
}

impl Event {
    /// The field `key` as text (empty when absent; numbers written out).
    pub fn text(&self, key: &str) -> String {
        match self.fields.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(v) => v.to_string(),
        }
    }
}

/// One step's result, as `warren test` writes it to `steps.json`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Step {
    /// The step's name.
    pub name: String,
    /// Its kind (`exec`, `ping`, ...); empty when only the events had it.
    #[serde(default)]
    pub kind: String,
    /// `passed`, `failed` or `skipped`.
    pub verdict: String,
    /// Seconds it took.
    #[serde(default)]
    pub seconds: f64,
    /// Why it failed.
    #[serde(default)]
    pub message: String,
    /// What it saw.
    #[serde(default)]
    pub output: String,
}

/// A node's console log.
#[derive(Debug, Clone, PartialEq)]
pub struct Console {
    /// The node.
    pub node: String,
    /// The file, relative to the evidence folder.
    pub file: String,
    /// Its text (the end of it when longer than [`CONSOLE_LIMIT`]).
    pub text: String,
    /// Bytes left out at the start.
    pub cut: usize,
}

/// Everything the report shows.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// The folder.
    pub dir: PathBuf,
    /// The resolved lab.
    pub lab: Value,
    /// The events, in file order.
    pub events: Vec<Event>,
    /// The steps' results.
    pub steps: Vec<Step>,
    /// Each capture file, by name.
    pub captures: Vec<Traffic>,
    /// Each console log, by node.
    pub consoles: Vec<Console>,
    /// Every file but report.html, relative to the folder, sorted.
    pub files: Vec<String>,
}

impl Evidence {
    /// Reads the evidence folder `dir`. `lab.json` must be there; the rest
    /// is shown when present.
    pub fn read(dir: &Path) -> Result<Evidence, EvidenceError> {
        let read = |path: PathBuf| {
            std::fs::read_to_string(&path).map_err(|source| EvidenceError::Read { path, source })
        };
        let lab_path = dir.join("lab.json");
        let lab: Value = json(lab_path.clone(), &read(lab_path)?, 1)?;
        let events_path = dir.join("events.jsonl");
        let mut events = Vec::new();
        if events_path.exists() {
            let text = read(events_path.clone())?;
            let last = text.lines().count();
            for (i, line) in text.lines().enumerate() {
                // A line cut short by a crash is the last one; skip it
                // rather than lose the report.
                if line.trim().is_empty() || (i + 1 == last && !line.ends_with('}')) {
                    continue;
                }
                events.push(json(events_path.clone(), line, i + 1)?);
            }
        }
        let steps_path = dir.join("steps.json");
        let steps = if steps_path.exists() {
            json(steps_path.clone(), &read(steps_path)?, 1)?
        } else {
            steps_from_events(&events)
        };
        let files = walk(dir);
        let mut captures = Vec::new();
        for f in files
            .iter()
            .filter(|f| f.starts_with("capture/") && f.ends_with(".pcapng"))
        {
            let path = dir.join(f);
            captures.push(
                Traffic::read(&path, f)
                    .map_err(|source| EvidenceError::Capture { path, source })?,
            );
        }
        let mut consoles = Vec::new();
        for f in files
            .iter()
            .filter(|f| f.starts_with("console/") && f.ends_with(".txt"))
        {
            let path = dir.join(f);
            let bytes =
                std::fs::read(&path).map_err(|source| EvidenceError::Read { path, source })?;
            let cut = bytes.len().saturating_sub(CONSOLE_LIMIT);
            consoles.push(Console {
                node: f["console/".len()..f.len() - ".txt".len()].to_string(),
                file: f.clone(),
                text: String::from_utf8_lossy(&bytes[cut..]).into_owned(),
                cut,
            });
        }
        Ok(Evidence {
            dir: dir.to_path_buf(),
            lab,
            events,
            steps,
            captures,
            consoles,
            files,
        })
    }

    /// When the run began: its first event, or an earlier first frame
    /// (captures start before the `created` event).
    pub fn start(&self) -> f64 {
        let first_event = self.events.first().map_or(f64::INFINITY, |e| e.t);
        let first_frame = self
            .captures
            .iter()
            .filter_map(|c| c.times.iter().copied().reduce(f64::min))
            .fold(f64::INFINITY, f64::min);
        let t = first_event.min(first_frame);
        if t.is_finite() { t } else { 0.0 }
    }

    /// When the run ended: its last event or last frame.
    pub fn end(&self) -> f64 {
        let last_event = self
            .events
            .iter()
            .map(|e| e.t)
            .fold(f64::NEG_INFINITY, f64::max);
        let last_frame = self
            .captures
            .iter()
            .flat_map(|c| c.times.iter().copied())
            .fold(f64::NEG_INFINITY, f64::max);
        let t = last_event.max(last_frame);
        if t.is_finite() { t } else { self.start() }
    }
}

/// `text` (line `line` of `path`) parsed as JSON.
fn json<T: serde::de::DeserializeOwned>(
    path: PathBuf,
    text: &str,
    line: usize,
) -> Result<T, EvidenceError> {
    serde_json::from_str(text).map_err(|source| EvidenceError::Json { path, line, source })
}

/// Steps as the events tell them, for a run without `steps.json`.
fn steps_from_events(events: &[Event]) -> Vec<Step> {
    events
        .iter()
        .filter(|e| e.event == "step-end")
        .map(|e| Step {
            name: e.text("name"),
            kind: String::new(),
            verdict: e.text("result"),
            seconds: e
                .fields
                .get("seconds")
                .and_then(Value::as_f64)
                .unwrap_or(0.0),
            message: e.text("message"),
            output: String::new(),
        })
        .collect()
}

/// Every file under `dir`, relative, sorted.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                // The page itself is not evidence, and leaving it out makes
                // `warren report` write the same page again.
                if rel != Path::new("report.html") {
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_folder_and_takes_steps_from_the_events_when_needed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(d.join("lab.json"), r#"{"name":"x","nodes":[]}"#).expect("write");
        std::fs::write(
            d.join("events.jsonl"),
            "{\"t\":5.0,\"event\":\"ready\"}\n{\"t\":6.5,\"event\":\"step-end\",\"name\":\"s\",\"result\":\"failed\",\"message\":\"boom\",\"seconds\":1.5}\n{\"t\":7,\"ev",
        )
        .expect("write");
        std::fs::create_dir(d.join("console")).expect("mkdir");
        std::fs::write(d.join("console/dut.txt"), "login:\n").expect("write");
        std::fs::write(d.join("console/dut.log"), "raw").expect("write");
        std::fs::write(d.join("report.html"), "old").expect("write");
        let e = Evidence::read(d).expect("read");
        assert_eq!(e.events.len(), 2);
        assert_eq!(e.steps.len(), 1);
        assert_eq!(
            (e.steps[0].verdict.as_str(), e.steps[0].message.as_str()),
            ("failed", "boom")
        );
        assert_eq!(e.consoles.len(), 1);
        assert_eq!(e.consoles[0].node, "dut");
        assert_eq!(
            e.files,
            [
                "console/dut.log",
                "console/dut.txt",
                "events.jsonl",
                "lab.json"
            ]
        );
        assert_eq!((e.start(), e.end()), (5.0, 6.5));
    }

    #[test]
    fn a_folder_without_lab_json_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = Evidence::read(dir.path()).expect_err("no lab.json");
        assert!(err.to_string().contains("lab.json"), "{err}");
        std::fs::write(dir.path().join("lab.json"), "{").expect("write");
        let err = Evidence::read(dir.path()).expect_err("bad lab.json");
        assert!(
            err.to_string().ends_with("lab.json:1: not valid JSON"),
            "{err}"
        );
    }
}
