//! A file sent through a console's shell: nothing on the far side but a
//! POSIX shell (busybox `sh` will do) and what it is found to have.
//!
//! A probe first asks the shell what works: `base64 -d` (else `printf`
//! with octal escapes carries the bytes) and `sha256sum` or `cksum` (else
//! `od` feeds an Adler-32 computed in shell arithmetic). Then each chunk is one
//! [`Console::run`] command: decode into `DST.warren-chunk` (base64 from a
//! here-document of 3 KiB, or one `printf` line), print its checksum, which
//! must equal the one computed here; the next command first appends the
//! chunk to `DST.warren-part`. The last line moves the part to
//! `DST` (after `chmod`) and checks the whole file's checksum. A mismatch or
//! a failed line removes both temporary files and is an error.

use super::ConsoleError;
use super::cursor::Console;
use base64::Engine;
use std::time::{Duration, Instant};

/// The longest line typed for one chunk: busybox `sh` with line editing
/// takes lines of up to 1024 bytes, and [`Console::run`] adds its markers.
const LINE_BUDGET: usize = 880;
/// Bytes per base64 chunk: carried in a here-document of 76-character
/// lines (4 KiB of text), so a chunk is not bound by the line length and
/// the round trips and processes per chunk are spread over more bytes.
/// Far below the 4 KiB a terminal's line discipline buffers plus the
/// 64 KiB of its flip buffers, so nothing typed ahead is dropped.
const BASE64_CHUNK: usize = 3072;
/// Ends the here-document; base64 never holds `_`.
const HERE_END: &str = "__WUP";

/// How the bytes are carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `base64 -d` decodes them: 4 characters for 3 bytes.
    Base64,
    /// `printf` with `\ooo` escapes for all but plain characters.
    Printf,
}

impl Encoding {
    /// Its name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Base64 => "base64",
            Encoding::Printf => "printf",
        }
    }
}

/// How the far side checks a chunk, the first that works in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    /// `sha256sum` (busybox has it, not `cksum`).
    Sha256,
    /// POSIX `cksum` (CRC-32 and length).
    Cksum,
    /// Adler-32 computed by the shell over `od -An -v -tu1`.
    ShellAdler32,
}

impl Checksum {
    /// Its name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Checksum::Sha256 => "sha256sum",
            Checksum::Cksum => "cksum",
            Checksum::ShellAdler32 => "sh-adler32",
        }
    }

    /// What the far side prints for `data`.
    fn expected(self, data: &[u8]) -> String {
        match self {
            Checksum::Sha256 => {
                use sha2::Digest;
                sha2::Sha256::digest(data)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            }
            Checksum::Cksum => format!("{} {}", posix_cksum(data), data.len()),
            Checksum::ShellAdler32 => adler32(data).to_string(),
        }
    }

    /// The shell command that prints the checksum of file `path` (quoted).
    fn command(self, path: &str) -> String {
        match self {
            Checksum::Sha256 => format!("sha256sum < {path}"),
            Checksum::Cksum => format!("cksum < {path}"),
            Checksum::ShellAdler32 => format!(
                "od -An -v -tu1 {path} | {{ a=1; b=0; while read -r l; do for x in $l; do a=$(((a+x)%65521)); b=$(((b+a)%65521)); done; done; echo $((b*65536+a)); }}"
            ),
        }
    }

    /// The far side's answer reduced to what [`Checksum::expected`] gives.
    fn answer(self, output: &str) -> String {
        let fields: Vec<&str> = output.split_whitespace().collect();
        match self {
            Checksum::Sha256 => fields.first().map(|f| (*f).to_owned()).unwrap_or_default(),
            Checksum::Cksum => fields.get(..2).map(|f| f.join(" ")).unwrap_or_default(),
            Checksum::ShellAdler32 => fields.last().map(|f| (*f).to_owned()).unwrap_or_default(),
        }
    }
}

/// What [`Console::upload`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadReport {
    /// Bytes written to the destination.
    pub bytes: u64,
    /// Chunks sent, each checked.
    pub chunks: usize,
    /// How the bytes were carried.
    pub encoding: Encoding,
    /// How they were checked.
    pub checksum: Checksum,
    /// From the probe to the final check.
    pub elapsed: Duration,
}

impl UploadReport {
    /// Bytes per second.
    pub fn throughput(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl Console {
    /// Writes `data` to `dst` on the far side of the console, through its
    /// shell (which must sit at a prompt), with file mode `mode` (octal
    /// digits, as `chmod` takes them) if given. The whole upload must end
    /// within `timeout`.
    pub fn upload(
        &self,
        data: &[u8],
        dst: &str,
        mode: Option<u32>,
        timeout: Duration,
    ) -> Result<UploadReport, ConsoleError> {
        let started = Instant::now();
        let deadline = started + timeout;
        let fail = |why: String| ConsoleError::Upload {
            dst: dst.to_owned(),
            why,
        };
        if dst.is_empty() || dst.contains('\n') {
            return Err(fail("the destination must be one non-empty line".into()));
        }
        let (encoding, checksum) = self.probe(left(deadline)).map_err(|e| match e {
            Probe::Console(e) => e,
            Probe::Missing(why) => fail(why),
        })?;
        let part = quote(&format!("{dst}.warren-part"));
        let chunk_file = quote(&format!("{dst}.warren-chunk"));
        let target = quote(dst);
        let line = |prefix: &str, chunk: &[u8]| {
            let (write, body) = encoding.write(chunk, &chunk_file);
            let command = format!("{prefix} && {write} && {}", checksum.command(&chunk_file));
            (command, body)
        };
        let mut prefix = format!(": > {part}");
        let appended = format!("cat {chunk_file} >> {part}");
        // What a chunk's line holds besides its data, the markers included.
        let overhead = line(&appended, &[]).0.len()
            + super::cursor::wrap_command("", &format!("{}x{}", u32::MAX, u64::MAX)).len();
        let size = chunk_size(encoding, overhead).ok_or_else(|| {
            fail(format!(
                "the path is too long for a {LINE_BUDGET}-byte console line"
            ))
        })?;
        let result = (|| {
            let mut chunks = 0;
            for chunk in data.chunks(size) {
                let (command, body) = line(&prefix, chunk);
                self.check(&command, &body, checksum, chunk, deadline)
                    .map_err(|e| e.in_chunk(chunks))?;
                chunks += 1;
                prefix.clone_from(&appended);
            }
            let chmod = mode.map_or_else(String::new, |m| format!("chmod {m:o} {part} && "));
            let last = format!(
                "{prefix} && rm -f {chunk_file} && {chmod}mv -f {part} {target} && {}",
                checksum.command(&target)
            );
            self.check(&last, "", checksum, data, deadline)
                .map_err(Failure::whole)?;
            Ok(chunks)
        })();
        match result {
            Ok(chunks) => Ok(UploadReport {
                bytes: data.len() as u64,
                chunks,
                encoding,
                checksum,
                elapsed: started.elapsed(),
            }),
            Err(Failure::Console(e)) => Err(e),
            Err(Failure::Check(why)) => {
                // Leave nothing half-written behind; a failure here only
                // hides the first one.
                let _ = self.run(
                    &format!("rm -f {part} {chunk_file}"),
                    left(deadline).max(Duration::from_secs(5)),
                );
                Err(fail(why))
            }
        }
    }

    /// Runs `line` (with its here-document `body`) and compares the
    /// checksum it prints with `data`'s.
    fn check(
        &self,
        line: &str,
        body: &str,
        checksum: Checksum,
        data: &[u8],
        deadline: Instant,
    ) -> Result<(), Failure> {
        let out = self
            .run_with_body(line, body, left(deadline))
            .map_err(Failure::Console)?;
        if out.code != 0 {
            return Err(Failure::Check(format!(
                "exit code {}; output: {}",
                out.code, out.output
            )));
        }
        let want = checksum.expected(data);
        let got = checksum.answer(&out.output);
        if got != want {
            return Err(Failure::Check(format!(
                "{} mismatch: the far side computed {got:?}, expected {want:?}",
                checksum.as_str()
            )));
        }
        Ok(())
    }

    /// Finds what the far side's shell can decode and check with.
    fn probe(&self, timeout: Duration) -> Result<(Encoding, Checksum), Probe> {
        // `aGk=` is "hi"; `ab` has known checksums. Each answer on its own
        // line, empty when the tool is missing or wrong.
        let out = self
            .run(
                "printf %s aGk= | base64 -d 2>/dev/null; echo; for c in sha256sum cksum; do printf ab | $c 2>/dev/null; echo; done; printf ab | od -An -tu1 2>/dev/null; echo",
                timeout,
            )
            .map_err(Probe::Console)?;
        let lines: Vec<&str> = out.output.lines().map(str::trim).collect();
        let line = |i: usize| lines.get(i).copied().unwrap_or_default();
        let encoding = if line(0) == "hi" {
            Encoding::Base64
        } else {
            Encoding::Printf
        };
        let works = |c: Checksum, l: &str| c.answer(l) == c.expected(b"ab");
        let checksum = if works(Checksum::Sha256, line(1)) {
            Checksum::Sha256
        } else if works(Checksum::Cksum, line(2)) {
            Checksum::Cksum
        } else if line(3).split_whitespace().eq(["97", "98"]) {
            Checksum::ShellAdler32
        } else {
            return Err(Probe::Missing(
                "the far side has none of sha256sum, cksum and od to check the chunks with".into(),
            ));
        };
        Ok((encoding, checksum))
    }
}

enum Probe {
    Console(ConsoleError),
    Missing(String),
}

/// Why a line of the upload failed.
enum Failure {
    /// The console itself (timeout, closed).
    Console(ConsoleError),
    /// The line ran but failed or printed the wrong checksum.
    Check(String),
}

impl Failure {
    fn in_chunk(self, n: usize) -> Failure {
        match self {
            Failure::Check(why) => Failure::Check(format!("chunk {n}: {why}")),
            other => other,
        }
    }

    fn whole(self) -> Failure {
        match self {
            Failure::Check(why) => Failure::Check(format!("the whole file: {why}")),
            other => other,
        }
    }
}

impl Encoding {
    /// The command that writes `chunk`'s bytes to `file` (quoted), and the
    /// here-document that follows it.
    fn write(self, chunk: &[u8], file: &str) -> (String, String) {
        match self {
            Encoding::Base64 => {
                let text = base64::engine::general_purpose::STANDARD.encode(chunk);
                let mut body = String::with_capacity(text.len() + text.len() / 76 + 8);
                for line in text.as_bytes().chunks(76) {
                    body.push_str(&String::from_utf8_lossy(line));
                    body.push('\n');
                }
                body.push_str(HERE_END);
                body.push('\n');
                (format!("base64 -d > {file} <<'{HERE_END}'"), body)
            }
            Encoding::Printf => (
                format!("printf '{}' > {file}", printf_escape(chunk)),
                String::new(),
            ),
        }
    }
}

/// Bytes per chunk: [`BASE64_CHUNK`], or for `printf` as many as keep the
/// line within [`LINE_BUDGET`], given the length of the line with no data;
/// `None` when the line is too long even so.
fn chunk_size(encoding: Encoding, overhead: usize) -> Option<usize> {
    let room = LINE_BUDGET.checked_sub(overhead)?;
    let size = match encoding {
        Encoding::Base64 => BASE64_CHUNK,
        // Worst case: every byte an escape of 4 characters.
        Encoding::Printf => room / 4,
    };
    (size >= 16).then_some(size)
}

/// `data` as a `printf` format inside single quotes: letters, digits and a
/// few safe marks as themselves, every other byte as a three-digit octal
/// escape (so a following digit is never read as part of it).
fn printf_escape(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len() * 2);
    for &b in data {
        if b.is_ascii_alphanumeric() || b" ,.:/=_+-@".contains(&b) {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("\\{b:03o}"));
        }
    }
    s
}

/// `s` in single quotes for a POSIX shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// POSIX `cksum`'s CRC: CRC-32 (polynomial 0x04C11DB7, MSB first) over the
/// data and then its length, least significant byte first, inverted.
pub fn posix_cksum(data: &[u8]) -> u32 {
    fn feed(crc: u32, b: u8) -> u32 {
        let mut crc = crc ^ (u32::from(b) << 24);
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
        crc
    }
    let mut crc = data.iter().fold(0, |c, &b| feed(c, b));
    let mut len = data.len();
    while len > 0 {
        crc = feed(crc, (len & 0xff) as u8);
        len >>= 8;
    }
    !crc
}

/// Adler-32, as the shell computes it in [`Checksum::ShellAdler32`].
pub fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    b * 65536 + a
}

fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cksum_matches_the_posix_tool() {
        // Values printed by GNU coreutils' `cksum`.
        assert_eq!(posix_cksum(b""), 4_294_967_295);
        assert_eq!(posix_cksum(b"ab"), 2_072_780_115);
        assert_eq!(posix_cksum(b"hello\n"), 3_015_617_425);
    }

    #[test]
    fn sha256_answers_compare_as_sha256sum_prints_them() {
        let want = Checksum::Sha256.expected(b"ab");
        assert_eq!(
            want,
            "fb8e20fc2e4c3f248c60c39bd652f3c1347298bb977b8b4d5903b85055620603"
        );
        assert_eq!(Checksum::Sha256.answer(&format!("{want}  -\n")), want);
    }

    #[test]
    fn adler32_matches_the_reference_values() {
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        assert_eq!(adler32(b""), 1);
    }

    #[test]
    fn printf_escapes_keep_quotes_backslashes_and_percent_out() {
        let e = printf_escape(b"a'b\\c%d\n7\x00");
        assert_eq!(e, r"a\047b\134c\045d\0127\000");
        assert!(!e.contains('\''));
    }

    #[test]
    fn chunk_lines_stay_within_the_budget() {
        for enc in [Encoding::Base64, Encoding::Printf] {
            let overhead = 300 + enc.write(&[], "'/f'").0.len();
            let size = chunk_size(enc, overhead).expect("room");
            let worst = vec![0xffu8; size];
            let (line, body) = enc.write(&worst, "'/f'");
            let line = 300 + line.len();
            assert!(line <= LINE_BUDGET, "{enc:?}: {line}");
            assert!(body.lines().all(|l| l.len() <= 76), "{enc:?}");
            if enc == Encoding::Printf {
                assert!(line + 8 > LINE_BUDGET, "printf wastes room: {line}");
            }
        }
        assert_eq!(chunk_size(Encoding::Base64, LINE_BUDGET + 1), None);
    }

    #[test]
    fn a_base64_chunk_is_a_here_document_the_data_cannot_end() {
        let (line, body) = Encoding::Base64.write(&[0xfb; 100], "'/tmp/c'");
        assert_eq!(line, "base64 -d > '/tmp/c' <<'__WUP'");
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines.last(), Some(&"__WUP"));
        assert_eq!(
            lines.len(),
            3,
            "136 characters in lines of 76, then the end"
        );
        assert!(lines[..2].iter().all(|l| !l.contains('_')));
    }

    #[test]
    fn answers_reduce_to_the_expected_form() {
        assert_eq!(Checksum::Cksum.answer("2072780115 2\n"), "2072780115 2");
        assert_eq!(Checksum::Cksum.answer("2072780115 2 -"), "2072780115 2");
        assert_eq!(Checksum::Cksum.answer(""), "");
        assert_eq!(Checksum::ShellAdler32.answer(" 300286872\n"), "300286872");
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(quote("/tmp/it's"), r"'/tmp/it'\''s'");
    }
}
