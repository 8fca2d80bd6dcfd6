//! A cursor on a console: a handle with its own read position that
//! expects patterns, sends input and runs shell commands; and the pure
//! search it is built on.

use super::hub::Hub;
use super::{ConsoleError, lock};
use regex::bytes::Regex;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Searches `re` in `data` (the kept output, whose first byte is at
/// absolute offset `base`) from absolute offset `pos`; returns the match
/// and the offset just past it. A `pos` before `base` (output dropped from
/// memory) searches from the first kept byte.
pub(crate) fn search(data: &[u8], base: u64, re: &Regex, pos: u64) -> Option<(ConsoleMatch, u64)> {
    let from = pos.saturating_sub(base).min(data.len() as u64) as usize;
    let caps = re.captures(&data[from..])?;
    let whole = caps.get(0).expect("group 0 always exists");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let m = ConsoleMatch {
        before: text(&data[from..from + whole.start()]),
        matched: text(whole.as_bytes()),
        groups: caps
            .iter()
            .skip(1)
            .map(|g| g.map(|g| text(g.as_bytes())))
            .collect(),
        offset: base + (from + whole.start()) as u64,
    };
    Some((m, base + (from + whole.end()) as u64))
}

/// What [`Console::expect`] matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleMatch {
    /// The matched text (lossy UTF-8).
    pub matched: String,
    /// Capture groups 1.., `None` where a group did not take part.
    pub groups: Vec<Option<String>>,
    /// Output between the search start and the match.
    pub before: String,
    /// Absolute offset of the match in the console stream.
    pub offset: u64,
}

/// The result of [`Console::run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// The command's exit code (`$?`).
    pub code: i32,
    /// What it printed, `\r` removed, without the trailing newline.
    pub output: String,
}

/// A handle on a console with its own read position. Clone it for
/// another independent cursor; all handles share one reader.
#[derive(Clone)]
pub struct Console {
    hub: Arc<Hub>,
    pos: Arc<Mutex<u64>>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("pos", &*lock(&self.pos))
            .finish()
    }
}

impl Console {
    pub(crate) fn new(hub: Arc<Hub>, pos: u64) -> Console {
        Console {
            hub,
            pos: Arc::new(Mutex::new(pos)),
        }
    }

    /// The read position: absolute offset in the console stream.
    pub fn position(&self) -> u64 {
        *lock(&self.pos)
    }

    /// Moves the read position to the end of the output seen so far.
    pub fn skip_to_end(&self) {
        *lock(&self.pos) = self.hub.end();
    }

    /// Waits until `pattern` (a regex over the raw bytes, UTF-8 aware)
    /// appears after the read position, then moves the position past the
    /// match. On timeout or when QEMU exits, the error shows the console's
    /// tail.
    pub fn expect(&self, pattern: &str, timeout: Duration) -> Result<ConsoleMatch, ConsoleError> {
        let re = Regex::new(pattern).map_err(|source| ConsoleError::Pattern {
            pattern: pattern.to_owned(),
            source,
        })?;
        self.expect_re(&re, timeout)
    }

    /// [`Console::expect`] with a compiled regex.
    pub fn expect_re(&self, re: &Regex, timeout: Duration) -> Result<ConsoleMatch, ConsoleError> {
        let deadline = Instant::now() + timeout;
        let mut pos = lock(&self.pos);
        match self.hub.expect(re, &mut pos, deadline) {
            Ok(m) => Ok(m),
            Err(Some(())) => Err(ConsoleError::Timeout {
                pattern: re.as_str().to_owned(),
                timeout,
                tail: self.hub.tail(),
            }),
            Err(None) => Err(ConsoleError::Closed {
                pattern: re.as_str().to_owned(),
                tail: self.hub.tail(),
            }),
        }
    }

    /// Writes raw bytes to the guest's serial port.
    pub fn send(&self, bytes: &[u8]) -> Result<(), ConsoleError> {
        self.hub.send(bytes).map_err(ConsoleError::Send)
    }

    /// Writes `line` and a newline.
    pub fn send_line(&self, line: &str) -> Result<(), ConsoleError> {
        let mut b = line.as_bytes().to_vec();
        b.push(b'\n');
        self.send(&b)
    }

    /// Runs a one-line shell command on the console's shell and returns its
    /// exit code and output. The command is wrapped in unique markers that
    /// the shell's echo of the typed line cannot match (the marker is
    /// printed by `printf` from two halves), and followed by `echo $?`.
    /// Needs a POSIX shell at a prompt; the command is typed on one line
    /// (no newline, no trailing `&` or comment) and must not read stdin.
    pub fn run(&self, command: &str, timeout: Duration) -> Result<CommandOutput, ConsoleError> {
        self.run_with_body(command, "", timeout)
    }

    /// [`Console::run`] of a command whose here-document follows it:
    /// `command` ends in `<<'END'`, and `body` holds the document's lines
    /// and the `END` line, each ending in a newline.
    pub(crate) fn run_with_body(
        &self,
        command: &str,
        body: &str,
        timeout: Duration,
    ) -> Result<CommandOutput, ConsoleError> {
        if let Some(gate) = &self.hub.shell_gate
            && !self.hub.shell_up.load(Ordering::Acquire)
        {
            // Typed before the shell is up, the line would be flushed.
            Console::new(Arc::clone(&self.hub), 0).expect_re(gate, timeout)?;
            self.hub.shell_up.store(true, Ordering::Release);
        }
        let n = self.hub.seq.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}x{n}", std::process::id());
        let mut line = wrap_command(command, &tag);
        line.push_str(body);
        self.skip_to_end();
        self.send(line.as_bytes())?;
        let deadline = Instant::now() + timeout;
        let begin = format!(r"__WB{tag}\r?\n");
        self.expect(&begin, remaining(deadline))?;
        let end = format!(r"(?s)(.*?)\r?\n?__WE{tag} (\d+)\r?\n");
        let m = self.expect(&end, remaining(deadline))?;
        let mut output = m.groups[0].clone().unwrap_or_default().replace('\r', "");
        if output.ends_with('\n') {
            output.pop();
        }
        let code = m.groups[1]
            .as_deref()
            .and_then(|c| c.parse().ok())
            .unwrap_or(-1);
        if let Some(prompt) = self.prompt() {
            self.expect_re(&prompt, remaining(deadline))?;
        }
        Ok(CommandOutput { code, output })
    }

    /// Sets the shell's prompt for every handle on this console: from now
    /// on [`Console::run`] waits for it after each command's end marker,
    /// so that the next command is typed at a prompt, not into the tail of
    /// the last one.
    pub fn set_prompt(&self, pattern: &str) -> Result<(), ConsoleError> {
        let re = Regex::new(pattern).map_err(|source| ConsoleError::Pattern {
            pattern: pattern.to_owned(),
            source,
        })?;
        *lock(&self.hub.prompt) = Some(re);
        Ok(())
    }

    /// Waits, up to `grace`, until the console's output ends in the prompt
    /// [`Console::set_prompt`] set: the shell is reading a line. A line
    /// typed before that is echoed by the terminal ahead of the prompt, so
    /// a wait for "the echo, then the prompt" would end at that prompt,
    /// before the answer. Returns whether the prompt was there (at once
    /// when no prompt is set: there is nothing to wait for).
    pub fn wait_at_prompt(&self, grace: Duration) -> bool {
        let Some(prompt) = self.prompt() else {
            return true;
        };
        let Ok(at_end) = Regex::new(&format!(r"(?:{})\z", prompt.as_str())) else {
            return false;
        };
        self.hub.wait_tail(&at_end, Instant::now() + grace)
    }

    /// The prompt [`Console::set_prompt`] set, if any.
    pub fn prompt(&self) -> Option<Regex> {
        lock(&self.hub.prompt).clone()
    }

    /// Escaped last part of the console output, for error messages.
    pub fn tail(&self) -> String {
        self.hub.tail()
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// The line typed for [`Console::run`].
pub(crate) fn wrap_command(command: &str, tag: &str) -> String {
    format!("printf '\\n%s%s\\n' __WB '{tag}'; {command}; printf '\\n%s%s %d\\n' __WE '{tag}' $?\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(p: &str) -> Regex {
        Regex::new(p).expect("regex")
    }

    #[test]
    fn search_moves_past_the_match_in_absolute_offsets() {
        let data = b"boot\nlogin: x\nlogin: y\n";
        let (m, next) = search(data, 100, &re(r"login: (\w)"), 100).expect("first");
        assert_eq!(
            (m.before.as_str(), m.matched.as_str()),
            ("boot\n", "login: x")
        );
        assert_eq!(m.groups, vec![Some("x".to_owned())]);
        assert_eq!((m.offset, next), (105, 113));
        let (m, next) = search(data, 100, &re(r"login: (\w)"), next).expect("second");
        assert_eq!(
            (m.groups[0].as_deref(), m.offset, next),
            (Some("y"), 114, 122)
        );
        assert!(search(data, 100, &re("login"), next).is_none());
    }

    #[test]
    fn search_from_dropped_output_starts_at_the_first_kept_byte() {
        let (m, _) = search(b"abc", 50, &re("a"), 10).expect("match");
        assert_eq!((m.offset, m.before.as_str()), (50, ""));
        // A position past the end finds nothing, even a match of nothing.
        assert!(search(b"abc", 50, &re("c"), 90).is_none());
    }

    #[test]
    fn search_reports_groups_that_did_not_take_part() {
        let (m, _) = search(b"x=1", 0, &re(r"x=(\d)|y=(\d)"), 0).expect("match");
        assert_eq!(m.groups, vec![Some("1".to_owned()), None]);
    }

    #[test]
    fn search_is_lossy_on_invalid_utf8() {
        let (m, _) = search(b"\xffok", 0, &re("ok"), 0).expect("match");
        assert_eq!(m.before, "\u{fffd}");
    }

    #[test]
    fn wrapped_command_does_not_contain_its_markers() {
        let line = wrap_command("false", "9x1");
        assert!(!line.contains("__WB9x1"));
        assert!(!line.contains("__WE9x1"));
        assert!(line.ends_with("$?\n"));
    }
}
