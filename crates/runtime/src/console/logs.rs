//! A console's logs: the text log (`N.txt`: one escaped line per line of
//! output, stamped with the seconds since the console started) and the
//! escaping that makes untrusted guest output safe to print and grep.

use std::io::Write;
use std::time::{Duration, Instant};

/// Writes the escaped, timestamped text log line by line.
pub(crate) struct TextLog<W: Write> {
    out: W,
    line: Vec<u8>,
    started: Instant,
    line_start: Option<Duration>,
}

impl<W: Write> TextLog<W> {
    pub(crate) fn new(out: W, started: Instant) -> Self {
        TextLog {
            out,
            line: Vec::new(),
            started,
            line_start: None,
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.line_start.is_none() {
                self.line_start = Some(self.started.elapsed());
            }
            if b == b'\n' {
                self.flush_line();
            } else {
                self.line.push(b);
            }
        }
        let _ = self.out.flush();
    }

    fn flush_line(&mut self) {
        let at = self.line_start.take().unwrap_or_default();
        // A tty's output processing turns a "\r\n" written by the guest
        // into "\r\r\n": every CR at the end belongs to the line break.
        while self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        let _ = writeln!(
            self.out,
            "[{:>4}.{:06}] {}",
            at.as_secs(),
            at.subsec_micros(),
            escape(&self.line)
        );
        self.line.clear();
    }

    pub(crate) fn finish(&mut self) {
        if !self.line.is_empty() {
            self.flush_line();
        }
        let _ = self.out.flush();
    }
}

/// Escapes one line: printable ASCII as is, `\\`, `\t`, `\r`, others `\xNN`.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'\t' => s.push_str("\\t"),
            b'\r' => s.push_str("\\r"),
            0x20..=0x7e => s.push(char::from(b)),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

/// Escapes each line of `bytes` (a `\r` before a line break dropped),
/// joined by `\n`: a console's tail for error messages.
pub(crate) fn escape_lines(bytes: &[u8]) -> String {
    bytes
        .split(|&b| b == b'\n')
        .map(|l| escape(l.strip_suffix(b"\r").unwrap_or(l)))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_bytes() {
        assert_eq!(escape(b"a\\b\tc\x1b[6n\xff"), "a\\\\b\\tc\\x1b[6n\\xff");
    }

    #[test]
    fn escapes_utf8_bytewise_and_keeps_printable_ascii() {
        assert_eq!(escape("é ~".as_bytes()), "\\xc3\\xa9 ~");
        assert_eq!(escape(b"\x00\x7f\n"), "\\x00\\x7f\\x0a");
    }

    #[test]
    fn escaped_lines_drop_the_cr_of_crlf_only() {
        assert_eq!(escape_lines(b"a\r\nb\rc\n"), "a\nb\\rc\n");
        assert_eq!(escape_lines(b"\x1b[0m"), "\\x1b[0m");
    }

    #[test]
    fn text_log_timestamps_each_line() {
        let mut out = Vec::new();
        {
            let mut t = TextLog::new(&mut out, Instant::now());
            t.push(b"one\r\r\ntw");
            t.push(b"o\nthree");
            t.finish();
        }
        let s = String::from_utf8(out).expect("utf8");
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].ends_with("] one"), "{s}");
        assert!(lines[1].ends_with("] two"), "{s}");
        assert!(lines[2].ends_with("] three"), "{s}");
        assert!(lines[0].starts_with("[   0."), "{s}");
    }

    #[test]
    fn text_log_escapes_what_the_guest_wrote() {
        let mut out = Vec::new();
        {
            let mut t = TextLog::new(&mut out, Instant::now());
            t.push(b"\x1b[2Jlogin:\tx\n");
            t.finish();
        }
        let s = String::from_utf8(out).expect("utf8");
        assert!(s.ends_with("] \\x1b[2Jlogin:\\tx\n"), "{s}");
    }
}
