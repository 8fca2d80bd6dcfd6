//! Progress of a bring-up, from the detached supervisor to the terminal of
//! `warren up` and `warren test`.
//!
//! The supervisor marks its phases with `tracing` events that carry a
//! [`FIELD`] field (`"start"` or `"done"`), a `step` (`links`, `boot`, ...),
//! and for a node its `node` and the text log of its `console`.
//! [`EventsLayer`] appends each to the run's `events.jsonl` as a
//! `progress` event. The CLI already knows where the lab's state folder
//! is; [`Watch`] finds this run's evidence folder there and tails two
//! files while `up` waits for the supervisor's ready line:
//! `events.jsonl`, whose progress events become indicatif spinners (a
//! booting node's spinner shows the last line of its console), and, when
//! the user asked for logs, `supervisor.log`, relayed to stderr.
//!
//! Files rather than the ready pipe: the events are evidence anyway, a
//! reader that falls behind or goes away never blocks the supervisor, and
//! the ready protocol stays one line.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer};

/// The field that makes a `tracing` event a progress event.
pub const FIELD: &str = "progress";

/// The progress display being drawn, if any; log lines are printed above it.
static DRAWN: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// Writes `bytes` to stderr, above the progress display when one is drawn.
pub fn print_stderr(bytes: &[u8]) {
    let drawn = DRAWN.lock().unwrap_or_else(PoisonError::into_inner);
    let write = || {
        let _ = std::io::stderr().lock().write_all(bytes);
    };
    match drawn.as_ref() {
        Some(m) => m.suspend(write),
        None => write(),
    }
}

/// The supervisor's layer that appends progress events to the run's
/// `events.jsonl` (install it filtered to events with [`FIELD`]).
pub struct EventsLayer {
    results: PathBuf,
}

impl EventsLayer {
    /// Appends to the events file of the evidence folder `results`.
    pub fn new(results: PathBuf) -> Self {
        EventsLayer { results }
    }
}

impl<S: tracing::Subscriber> Layer<S> for EventsLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _cx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        warren_lab::events::append(
            &self.results,
            "progress",
            serde_json::Value::Object(fields.0),
        );
    }
}

/// An event's fields as JSON: numbers and booleans as such, the rest as text.
#[derive(Default)]
struct Fields(serde_json::Map<String, serde_json::Value>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

/// One progress event as the supervisor wrote it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
struct Mark {
    /// `start` or `done`.
    progress: String,
    /// The phase: `links`, `containers`, `boot`, ...
    step: String,
    /// The node, for a node's step.
    #[serde(default)]
    node: Option<String>,
    /// The node's console text log, to show its last line.
    #[serde(default)]
    console: Option<PathBuf>,
    /// What the step does (start) or did (done).
    #[serde(default)]
    message: String,
}

impl Mark {
    /// Parses one `events.jsonl` line; `None` for other events.
    fn parse(line: &str) -> Option<Mark> {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        if v["event"] != "progress" {
            return None;
        }
        serde_json::from_value(v).ok()
    }

    fn key(&self) -> String {
        match &self.node {
            Some(n) => format!("{} {n}", self.step),
            None => self.step.clone(),
        }
    }
}

/// Reads the lines appended to a file since the last look.
#[derive(Default)]
struct Tail {
    pos: u64,
    partial: Vec<u8>,
}

impl Tail {
    /// The complete lines added to `path` since the last call.
    fn lines(&mut self, path: &Path) -> Vec<String> {
        let Ok(mut f) = File::open(path) else {
            return Vec::new();
        };
        let mut new = Vec::new();
        if f.seek(SeekFrom::Start(self.pos)).is_err() || f.read_to_end(&mut new).is_err() {
            return Vec::new();
        }
        self.pos += new.len() as u64;
        self.partial.extend_from_slice(&new);
        let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') else {
            return Vec::new();
        };
        let done: Vec<u8> = self.partial.drain(..=end).collect();
        String::from_utf8_lossy(&done)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// The last non-empty line of a console text log, without its timestamp.
/// The log holds escaped text, safe to print.
fn last_console_line(path: &Path) -> Option<String> {
    let mut f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(4096))).ok()?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    let line = text
        .lines()
        .rev()
        .map(strip_stamp)
        .find(|l| !l.trim().is_empty())?;
    Some(line.trim().to_owned())
}

/// `[  12.345678] text` -> `text`.
fn strip_stamp(line: &str) -> &str {
    match line.strip_prefix('[').and_then(|r| r.split_once("] ")) {
        Some((stamp, rest)) if stamp.trim().parse::<f64>().is_ok() => rest,
        _ => line,
    }
}

/// The spinners of one bring-up.
struct Spinners {
    multi: MultiProgress,
    running: HashMap<String, (ProgressBar, Mark, Instant)>,
}

impl Spinners {
    fn new() -> Spinners {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        *DRAWN.lock().unwrap_or_else(PoisonError::into_inner) = Some(multi.clone());
        Spinners {
            multi,
            running: HashMap::new(),
        }
    }

    fn mark(&mut self, m: Mark) {
        let key = m.key();
        match m.progress.as_str() {
            "start" => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner:.cyan} {prefix:.bold} {wide_msg} {elapsed:>4}",
                    )
                    .expect("a valid template"),
                );
                bar.set_prefix(key.clone());
                bar.set_message(m.message.clone());
                bar.enable_steady_tick(Duration::from_millis(120));
                if let Some((old, _, _)) = self.running.insert(key, (bar, m, Instant::now())) {
                    old.finish_and_clear();
                }
            }
            "done" => {
                if let Some((bar, _, started)) = self.running.remove(&key) {
                    bar.set_style(
                        ProgressStyle::with_template("✓ {prefix:.bold} {wide_msg}")
                            .expect("a valid template"),
                    );
                    bar.finish_with_message(format!(
                        "{} ({:.1} s)",
                        m.message,
                        started.elapsed().as_secs_f64()
                    ));
                }
            }
            _ => {}
        }
    }

    /// Shows each booting node's last console line.
    fn tick(&self) {
        for (bar, mark, _) in self.running.values() {
            if let Some(line) = mark.console.as_deref().and_then(last_console_line) {
                bar.set_message(format!("{}: {line}", mark.message));
            }
        }
    }

    fn finish(self, ok: bool) {
        for (_, (bar, mark, _)) in self.running {
            if ok {
                bar.finish_and_clear();
            } else {
                bar.abandon_with_message(format!("{}: failed", mark.message));
            }
        }
        *DRAWN.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// Follows a bring-up from the CLI (see the module docs).
pub struct Watch {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watch {
    /// Starts following lab `lab`: spinners when `spinners`, the
    /// supervisor's log relayed to stderr when `relay`; `None` when neither.
    pub fn start(lab: &str, spinners: bool, relay: bool) -> Option<Watch> {
        if !spinners && !relay {
            return None;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicBool::new(false));
        let dir = warren_lab::state::lab_dir(lab);
        let since = now_secs();
        let (s, o) = (Arc::clone(&stop), Arc::clone(&ok));
        let thread = std::thread::Builder::new()
            .name("warren-progress".into())
            .spawn(move || follow(&dir, since, spinners, relay, &s, &o))
            .ok()?;
        Some(Watch {
            stop,
            ok,
            thread: Some(thread),
        })
    }

    /// Reads what is left and ends the display (`ok`: the lab came up).
    pub fn finish(mut self, ok: bool) {
        self.ok.store(ok, Ordering::Release);
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The evidence folder of the run that `up` is preparing in `dir`: the
/// state must have been created since `since` (not a lab being replaced).
fn this_run(dir: &Path, since: u64) -> Option<PathBuf> {
    let st = warren_lab::state::LabState::read(dir).ok().flatten()?;
    (st.created >= since).then_some(st.results)
}

fn follow(dir: &Path, since: u64, spinners: bool, relay: bool, stop: &AtomicBool, ok: &AtomicBool) {
    let mut shown = spinners.then(Spinners::new);
    let (mut events, mut log) = (Tail::default(), Tail::default());
    let mut results = None;
    loop {
        // Read once more after the stop, so nothing written before the
        // ready line is lost.
        let last = stop.load(Ordering::Acquire);
        if results.is_none() {
            results = this_run(dir, since);
        }
        if let Some(r) = &results {
            if let Some(s) = shown.as_mut() {
                for m in events
                    .lines(&warren_lab::events::path(r))
                    .iter()
                    .filter_map(|l| Mark::parse(l))
                {
                    s.mark(m);
                }
                s.tick();
            }
            if relay {
                for line in log.lines(&r.join("supervisor.log")) {
                    print_stderr(format!("[supervisor] {line}\n").as_bytes());
                }
            }
        }
        if last {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if let Some(s) = shown {
        s.finish(ok.load(Ordering::Acquire));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_events_parse_and_others_do_not() {
        let m = Mark::parse(
            r#"{"t":1.0,"event":"progress","progress":"start","step":"boot","node":"dut","console":"/r/console/dut.txt","message":"booting"}"#,
        )
        .expect("a progress event");
        assert_eq!(m.key(), "boot dut");
        assert_eq!(m.console.as_deref(), Some(Path::new("/r/console/dut.txt")));
        let m = Mark::parse(r#"{"t":1.0,"event":"progress","progress":"done","step":"links"}"#)
            .expect("minimal");
        assert_eq!((m.key().as_str(), m.message.as_str()), ("links", ""));
        assert!(Mark::parse(r#"{"t":1.0,"event":"ready","lab":"x"}"#).is_none());
        assert!(Mark::parse("not json").is_none());
    }

    #[test]
    fn tail_returns_only_complete_new_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        let mut t = Tail::default();
        assert!(t.lines(&p).is_empty(), "a missing file has no lines");
        std::fs::write(&p, "one\ntw").expect("write");
        assert_eq!(t.lines(&p), vec!["one"]);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .expect("open");
        f.write_all(b"o\nthree\n").expect("append");
        assert_eq!(t.lines(&p), vec!["two", "three"]);
        assert!(t.lines(&p).is_empty());
    }

    #[test]
    fn console_line_is_the_last_non_empty_one_without_its_stamp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("dut.txt");
        std::fs::write(
            &p,
            "[   0.000100] Linux version 6.1\n[   1.250000] Run /init as init process\n[   1.300000] \n",
        )
        .expect("write");
        assert_eq!(
            last_console_line(&p).as_deref(),
            Some("Run /init as init process")
        );
        assert_eq!(strip_stamp("[warren] note"), "[warren] note");
        assert_eq!(last_console_line(&dir.path().join("none")), None);
    }

    #[test]
    fn events_layer_writes_progress_events_with_their_fields() {
        use tracing_subscriber::prelude::*;
        let dir = tempfile::tempdir().expect("tempdir");
        let layer = EventsLayer::new(dir.path().to_path_buf()).with_filter(
            tracing_subscriber::filter::filter_fn(|m| {
                m.is_event() && m.fields().field(FIELD).is_some()
            }),
        );
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(progress = "start", step = "boot", node = "dut", console = %"/x/dut.txt", "booting");
            tracing::info!(step = "boot", "not a progress event");
            tracing::info!(progress = "done", step = "boot", node = "dut", "ready");
        });
        let text = std::fs::read_to_string(warren_lab::events::path(dir.path())).expect("events");
        let marks: Vec<Mark> = text.lines().filter_map(Mark::parse).collect();
        assert_eq!(marks.len(), 2, "{text}");
        assert_eq!(
            marks[0],
            Mark {
                progress: "start".into(),
                step: "boot".into(),
                node: Some("dut".into()),
                console: Some("/x/dut.txt".into()),
                message: "booting".into(),
            }
        );
        assert_eq!(
            (marks[1].progress.as_str(), marks[1].message.as_str()),
            ("done", "ready")
        );
    }
}
