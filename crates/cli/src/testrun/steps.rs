//! What each kind of test step does. Commands run through this binary
//! (`warren exec`, `warren __netexec`) in child processes, so a step that
//! runs over its time can be killed, and steps of a `parallel:` group run
//! side by side; console, fault and capture steps talk to the supervisor.

use super::Context;
use super::process::{Ran, run_until};
use regex::Regex;
use std::process::Command;
use std::time::{Duration, Instant};
use warren_lab::proto::Request;
use warren_topology::model::{
    CaptureCheck, ConsoleStep, CountOp, ExecCheck, HttpCheck, NodeKind, PingCheck, StepAction,
    UploadStep, WaitStep,
};

/// What a passing step saw, for the report.
#[derive(Debug, Default)]
pub struct Passed {
    /// Output worth keeping (command output, counts).
    pub output: String,
}

/// Why a step failed, with what it saw.
#[derive(Debug)]
pub struct Failed {
    /// One line: what was expected and what happened.
    pub message: String,
    /// Output worth keeping.
    pub output: String,
}

impl Failed {
    fn new(message: impl Into<String>) -> Failed {
        Failed {
            message: message.into(),
            output: String::new(),
        }
    }

    fn with_output(message: impl Into<String>, output: impl Into<String>) -> Failed {
        Failed {
            message: message.into(),
            output: output.into(),
        }
    }
}

/// A step's outcome.
pub type Outcome = Result<Passed, Failed>;

/// Runs one step action, giving up at `deadline`.
pub fn run(cx: &Context, action: &StepAction, deadline: Instant) -> Outcome {
    match action {
        StepAction::Exec(c) => exec(cx, c, deadline),
        StepAction::Ping(p) => ping(cx, p, deadline),
        StepAction::Http(h) => http(cx, h, deadline),
        StepAction::Console(c) => console(cx, c, deadline),
        StepAction::Wait(w) => wait(cx, w, deadline),
        StepAction::Fault(name) => fault(cx, &name.value, deadline),
        StepAction::Capture(c) => capture(cx, c, deadline),
    }
}

/// Time left until `deadline`, at least a millisecond.
fn left(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

/// Compiles a step's regex; `^` and `$` match at line starts and ends,
/// since command output ends in a newline.
fn regex(pattern: &str, what: &str) -> Result<Regex, Failed> {
    regex::RegexBuilder::new(pattern)
        .multi_line(true)
        .build()
        .map_err(|e| Failed::new(format!("{what} regex `{pattern}`: {e}")))
}

/// Fails unless `text` matches the optional `pattern`.
fn expect_match(pattern: Option<&str>, what: &str, text: &str, output: &str) -> Outcome {
    if let Some(p) = pattern
        && !regex(p, what)?.is_match(text)
    {
        return Err(Failed::with_output(
            format!("{what} does not match `{p}`"),
            output,
        ));
    }
    Ok(Passed {
        output: output.to_string(),
    })
}

/// Runs this binary with `args`, ending at `deadline`.
fn warren(cx: &Context, args: &[String], deadline: Instant) -> Result<Ran, Failed> {
    let mut cmd = Command::new(&cx.program);
    cmd.args(args);
    let ran = run_until(cmd, deadline)
        .map_err(|e| Failed::new(format!("starting {}: {e}", cx.program.display())))?;
    if ran.timed_out {
        return Err(Failed::with_output("timed out", ran.output()));
    }
    Ok(ran)
}

/// Runs a command on a node: in its namespaces, or at a vm's console.
fn run_on(cx: &Context, node: &str, argv: &[String], deadline: Instant) -> Result<Ran, Failed> {
    if cx.kind(node) == Some(NodeKind::Vm) {
        let command = argv.iter().map(|a| shell_quote(a)).collect::<Vec<_>>();
        return console_run(cx, node, &command.join(" "), deadline);
    }
    let mut args = vec!["exec".into(), cx.lab_name.clone(), node.into(), "--".into()];
    args.extend(argv.iter().cloned());
    warren(cx, &args, deadline)
}

/// Runs a network tool in only the node's network namespace, so the host's
/// tool runs whatever the node's image holds (vm: at its console).
fn run_net(cx: &Context, node: &str, argv: &[String], deadline: Instant) -> Result<Ran, Failed> {
    if cx.kind(node) == Some(NodeKind::Vm) {
        return run_on(cx, node, argv, deadline);
    }
    let mut args = vec![
        "__netexec".into(),
        cx.lab_name.clone(),
        node.into(),
        "--".into(),
    ];
    args.extend(argv.iter().cloned());
    warren(cx, &args, deadline)
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn exec(cx: &Context, c: &ExecCheck, deadline: Instant) -> Outcome {
    let ran = run_on(cx, &c.node.value, &c.cmd.argv(), deadline)?;
    let output = ran.output();
    match ran.code {
        Some(code) if code == c.exit => {}
        Some(code) => {
            return Err(Failed::with_output(
                format!("exit code {code}, expected {}", c.exit),
                output,
            ));
        }
        None => return Err(Failed::with_output("killed by a signal", output)),
    }
    expect_match(c.stdout.as_deref(), "stdout", &ran.stdout, &output)?;
    expect_match(c.stderr.as_deref(), "stderr", &ran.stderr, &output)
}

fn ping(cx: &Context, p: &PingCheck, deadline: Instant) -> Outcome {
    let addr = cx.address_of(&p.to.value).ok_or_else(|| {
        Failed::new(format!(
            "`{}` is not a node, interface or address with an address",
            p.to.value
        ))
    })?;
    let argv: Vec<String> = [
        "ping",
        "-c",
        &p.count.to_string(),
        "-i",
        "0.2",
        "-W",
        "1",
        &addr.to_string(),
    ]
    .map(String::from)
    .to_vec();
    let ran = run_net(cx, &p.from.value, &argv, deadline)?;
    let output = ran.output();
    let (sent, received) = ping_counts(&ran.stdout).ok_or_else(|| {
        Failed::with_output(
            format!("no replies from {addr}: {}", last_line(&output)),
            output.clone(),
        )
    })?;
    let lost = sent.saturating_sub(received);
    let loss = if sent == 0 {
        100.0
    } else {
        f64::from(lost) * 100.0 / f64::from(sent)
    };
    if loss > p.loss.0 {
        return Err(Failed::with_output(
            format!(
                "{lost} of {sent} echo requests to {addr} unanswered ({loss:.1}% loss, at most {}% allowed)",
                p.loss.0
            ),
            output,
        ));
    }
    Ok(Passed {
        output: format!("{received} of {sent} replies from {addr}"),
    })
}

/// `(transmitted, received)` from the statistics line of iputils or
/// busybox ping.
fn ping_counts(out: &str) -> Option<(u32, u32)> {
    let re = Regex::new(r"(\d+) packets transmitted, (\d+) (?:packets )?received").ok()?;
    let c = re.captures(out)?;
    Some((c[1].parse().ok()?, c[2].parse().ok()?))
}

fn http(cx: &Context, h: &HttpCheck, deadline: Instant) -> Outcome {
    if cx.kind(&h.from.value) == Some(NodeKind::Vm) {
        return Err(Failed::new(
            "http steps run from nodes with a network namespace; from a vm, use a console `run` with the vm's own client",
        ));
    }
    let args = [
        "__netexec".to_string(),
        cx.lab_name.clone(),
        h.from.value.clone(),
        "--http".into(),
        h.url.clone(),
        "--timeout".into(),
        left(deadline).as_secs().max(1).to_string(),
    ];
    let ran = warren(cx, &args, deadline)?;
    if ran.code != Some(0) {
        return Err(Failed::with_output(
            format!("GET {} failed: {}", h.url, ran.stderr.trim()),
            ran.output(),
        ));
    }
    let answer: serde_json::Value = serde_json::from_str(ran.stdout.trim())
        .map_err(|e| Failed::with_output(format!("unreadable answer: {e}"), ran.output()))?;
    let status = answer["status"].as_u64().unwrap_or(0);
    let body = answer["body"].as_str().unwrap_or_default();
    let output = format!("HTTP {status}\n{body}");
    if status != u64::from(h.status) {
        return Err(Failed::with_output(
            format!("GET {} answered {status}, expected {}", h.url, h.status),
            output,
        ));
    }
    expect_match(h.body.as_deref(), "body", body, &output)
}

fn console_run(cx: &Context, node: &str, command: &str, deadline: Instant) -> Result<Ran, Failed> {
    let result = cx
        .call(
            Request::ConsoleRun {
                node: node.into(),
                command: command.into(),
                timeout_secs: left(deadline).as_secs().max(1),
            },
            left(deadline) + Duration::from_secs(2),
        )
        .map_err(Failed::new)?;
    Ok(Ran {
        code: result["code"].as_i64().and_then(|c| i32::try_from(c).ok()),
        stdout: result["output"].as_str().unwrap_or_default().to_string(),
        ..Ran::default()
    })
}

fn console(cx: &Context, c: &ConsoleStep, deadline: Instant) -> Outcome {
    let node = &c.node.value;
    let mut seen = String::new();
    if let Some(up) = &c.upload {
        seen.push_str(&upload(cx, node, up, deadline)?);
    }
    // After a send, a vm with `console.prompt` waits for its prompt
    // unless the step names what to expect.
    let prompt = c.send.as_deref().and_then(|sent| {
        let prompt = cx
            .lab
            .node(node)?
            .vm
            .as_ref()?
            .console
            .as_ref()?
            .prompt
            .as_deref()?;
        Some(prompt_after(sent, prompt))
    });
    if let Some(text) = &c.send {
        cx.call(
            Request::ConsoleSend {
                node: node.clone(),
                text: text.clone(),
                // Typed ahead of the last command's prompt, the line's echo
                // would come before that prompt, and the wait below would
                // end there, before the answer.
                at_prompt: prompt.is_some() && c.expect.is_none(),
            },
            left(deadline),
        )
        .map_err(Failed::new)?;
    }
    if let Some(pattern) = c.expect.as_ref().or(prompt.as_ref()) {
        regex(pattern, "expect")?;
        let result = cx
            .call(
                Request::ConsoleExpect {
                    node: node.clone(),
                    pattern: pattern.clone(),
                    timeout_secs: left(deadline).as_secs().max(1),
                },
                left(deadline) + Duration::from_secs(2),
            )
            .map_err(|e| Failed::new(format!("waiting for `{pattern}`: {e}")))?;
        seen.push_str(result["before"].as_str().unwrap_or_default());
        seen.push_str(result["matched"].as_str().unwrap_or_default());
    }
    if let Some(command) = &c.run {
        let ran = console_run(cx, node, command, deadline)?;
        let expected = c.exit.unwrap_or(0);
        if ran.code != Some(expected) {
            return Err(Failed::with_output(
                format!(
                    "`{command}` exited {}, expected {expected}",
                    ran.code
                        .map_or_else(|| "without a code".into(), |c| c.to_string())
                ),
                ran.stdout,
            ));
        }
        seen.push_str(&ran.stdout);
        return expect_match(c.stdout.as_deref(), "output", &ran.stdout, &seen);
    }
    Ok(Passed { output: seen })
}

/// The prompt that follows the echo of the last line of `sent`: a prompt
/// still due from before the send (the cursor may sit before it) must not
/// count.
fn prompt_after(sent: &str, prompt: &str) -> String {
    match sent.lines().rev().map(str::trim).find(|l| !l.is_empty()) {
        Some(line) => format!("(?s){}.*?(?:{prompt})", regex::escape(line)),
        None => prompt.to_string(),
    }
}

/// Sends a local file through the node's console; says what it did.
fn upload(cx: &Context, node: &str, up: &UploadStep, deadline: Instant) -> Result<String, Failed> {
    let src = cx.lab_dir.join(&up.src.value);
    let data =
        std::fs::read(&src).map_err(|e| Failed::new(format!("reading {}: {e}", src.display())))?;
    let request = Request::console_upload(
        node,
        &up.dst,
        &data,
        up.mode.map(|m| format!("{m:o}")),
        left(deadline).as_secs().max(1),
    );
    let v = cx
        .call(request, left(deadline) + Duration::from_secs(2))
        .map_err(|e| Failed::new(format!("uploading {} to {}: {e}", up.src.value, up.dst)))?;
    let done: warren_lab::Uploaded = serde_json::from_value(v)
        .map_err(|e| Failed::new(format!("the supervisor's answer: {e}")))?;
    Ok(format!(
        "uploaded {} to {node}:{}: {done}\n",
        up.src.value, up.dst
    ))
}

fn wait(cx: &Context, w: &WaitStep, deadline: Instant) -> Outcome {
    let interval = w.interval.to_std();
    let mut last = Failed::new("never tried");
    for attempt in 1..=w.retries {
        match run(cx, &w.step, deadline) {
            Ok(mut p) => {
                p.output = format!("passed on attempt {attempt}\n{}", p.output);
                return Ok(p);
            }
            Err(e) => last = e,
        }
        if Instant::now() + interval >= deadline {
            return Err(Failed::with_output(
                format!(
                    "still failing when time ran out after {attempt} attempts: {}",
                    last.message
                ),
                last.output,
            ));
        }
        std::thread::sleep(interval);
    }
    Err(Failed::with_output(
        format!(
            "still failing after {} attempts: {}",
            w.retries, last.message
        ),
        last.output,
    ))
}

fn fault(cx: &Context, name: &str, deadline: Instant) -> Outcome {
    let result = cx
        .call(Request::Fault { name: name.into() }, left(deadline))
        .map_err(Failed::new)?;
    Ok(Passed {
        output: result.to_string(),
    })
}

fn capture(cx: &Context, c: &CaptureCheck, deadline: Instant) -> Outcome {
    let file = cx.capture_file(&c.link.value).map_err(Failed::new)?;
    settle(&file, deadline);
    let mut cmd = Command::new("tshark");
    // No personal profile: counts must not depend on whose preferences
    // (or unreadable $HOME) the run happens to see.
    cmd.env("WIRESHARK_CONFIG_DIR", "/nonexistent/warren-tshark-profile");
    cmd.arg("-r")
        .arg(&file)
        .args(["-T", "fields", "-e", "frame.number"]);
    if !c.filter.is_empty() {
        cmd.args(["-Y", &c.filter]);
    }
    let ran = run_until(cmd, deadline)
        .map_err(|e| Failed::new(format!("running tshark (scripts/setup installs it): {e}")))?;
    let count = ran.stdout.lines().filter(|l| !l.trim().is_empty()).count() as u64;
    // A capture still being written may end in a cut-off block; tshark
    // says so and fails, but what it read counts. Anything else (a bad
    // filter) is an error.
    if ran.code != Some(0) && count == 0 && !ran.stderr.contains("cut short") {
        return Err(Failed::with_output(
            format!("tshark failed: {}", last_line(&ran.stderr)),
            ran.stderr,
        ));
    }
    let ok = match c.op {
        CountOp::Eq => count == c.count,
        CountOp::Ge => count >= c.count,
        CountOp::Le => count <= c.count,
    };
    let op = match c.op {
        CountOp::Eq => "==",
        CountOp::Ge => ">=",
        CountOp::Le => "<=",
    };
    let what = format!(
        "{count} frames on {} match `{}`, expected {op} {}",
        c.link.value, c.filter, c.count
    );
    if ok {
        Ok(Passed { output: what })
    } else {
        Err(Failed::new(what))
    }
}

/// Waits until the capture file stops growing (the supervisor writes what
/// the kernel hands it in blocks), at most until `deadline`.
fn settle(file: &std::path::Path, deadline: Instant) {
    let size = || std::fs::metadata(file).map_or(0, |m| m.len());
    let mut last = size();
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let now = size();
        if now == last || Instant::now() >= deadline {
            return;
        }
        last = now;
    }
}

fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_after_a_send_is_the_one_after_its_echo() {
        let re = regex::Regex::new(&prompt_after("echo $((6*7))\n", r"op@dut \$ ")).expect("regex");
        // The prompt before the echo does not count; the one after it does.
        let console = "x\r\nop@dut $ echo $((6*7))\r\n42\r\nop@dut $ ";
        let m = re.find(console).expect("match");
        assert_eq!(m.end(), console.len());
        assert!(!re.is_match("x\r\nop@dut $ "));
        assert_eq!(prompt_after("\n", "p> "), "p> ");
    }

    #[test]
    fn reads_iputils_and_busybox_statistics() {
        let iputils = "--- 10.0.0.1 ping statistics ---\n5 packets transmitted, 4 received, 20% packet loss, time 812ms\n";
        assert_eq!(ping_counts(iputils), Some((5, 4)));
        let busybox = "--- 10.0.0.1 ping statistics ---\n3 packets transmitted, 3 packets received, 0% packet loss\n";
        assert_eq!(ping_counts(busybox), Some((3, 3)));
        assert_eq!(ping_counts("ping: sendmsg: Network is unreachable\n"), None);
    }

    #[test]
    fn quotes_only_what_the_shell_would_split() {
        assert_eq!(shell_quote("ip"), "ip");
        assert_eq!(shell_quote("10.0.0.1/24"), "10.0.0.1/24");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
