//! Child processes with a deadline: output collected while they run, the
//! whole process group killed when the deadline passes.

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a finished (or killed) child left.
#[derive(Debug, Default)]
pub struct Ran {
    /// Exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
    /// The deadline passed and the child was killed.
    pub timed_out: bool,
}

impl Ran {
    /// Stdout and stderr, for a report.
    pub fn output(&self) -> String {
        match (self.stdout.is_empty(), self.stderr.is_empty()) {
            (_, true) => self.stdout.clone(),
            (true, false) => self.stderr.clone(),
            (false, false) => format!("{}\n--- stderr ---\n{}", self.stdout, self.stderr),
        }
    }
}

/// How long readers may drain pipes after the child exited: a background
/// grandchild may hold them open forever.
const DRAIN_GRACE: Duration = Duration::from_millis(300);

/// Runs `cmd` with stdin closed until it exits or `deadline` passes. The
/// child leads a process group of its own, so a timeout also kills what it
/// started (`warren exec` forks the command into the node).
pub fn run_until(mut cmd: Command, deadline: Instant) -> std::io::Result<Ran> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn()?;
    let pgid = child.id().cast_signed();
    let out = collect(child.stdout.take());
    let err = collect(child.stderr.take());
    let mut ran = Ran::default();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            ran.timed_out = true;
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if ran.timed_out {
        // Whatever else is still in the group goes too.
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
    ran.code = status.code();
    let until = Instant::now() + DRAIN_GRACE;
    ran.stdout = take(&out, until);
    ran.stderr = take(&err, until);
    Ok(ran)
}

type Sink = (Arc<Mutex<Vec<u8>>>, Arc<Mutex<bool>>);

/// Reads `pipe` to its end on a thread of its own.
fn collect<R: Read + Send + 'static>(pipe: Option<R>) -> Sink {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(Mutex::new(pipe.is_none()));
    if let Some(mut pipe) = pipe {
        let (b, d) = (Arc::clone(&buf), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                lock(&b).extend_from_slice(&chunk[..n]);
            }
            *lock(&d) = true;
        });
    }
    (buf, done)
}

/// What a reader collected, waiting until it finished or `until`.
fn take(sink: &Sink, until: Instant) -> String {
    while !*lock(&sink.1) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    String::from_utf8_lossy(&lock(&sink.0)).into_owned()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_output_and_exit_code() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let ran = run_until(cmd, Instant::now() + Duration::from_secs(10)).unwrap();
        assert_eq!(ran.code, Some(3));
        assert_eq!(ran.stdout, "out\n");
        assert_eq!(ran.stderr, "err\n");
        assert!(!ran.timed_out);
    }

    #[test]
    fn kills_the_group_at_the_deadline() {
        let mut cmd = Command::new("sh");
        // The grandchild holds stdout open; the deadline must still end it.
        cmd.args(["-c", "sleep 30 & echo started; wait"]);
        let t = Instant::now();
        let ran = run_until(cmd, Instant::now() + Duration::from_millis(300)).unwrap();
        assert!(ran.timed_out);
        assert_eq!(ran.code, None);
        assert_eq!(ran.stdout, "started\n");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }
}
