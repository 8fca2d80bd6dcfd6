//! Decoding of the `tests:` and `faults:` sections. They are parsed and
//! their references checked now; running them is the test runner's job.

use crate::decode::Cx;
use crate::model::{
    CaptureCheck, ConsoleStep, CountOp, ExecCheck, Fault, FaultAction, HttpCheck, PingCheck,
    StepAction, Test, TestStep, UploadStep, WaitStep,
};
use crate::raw::{command, duration, impair, regex_text};
use crate::span::Spanned;
use crate::values::{Duration, Percent};
use crate::yaml::{Node, Value};

/// Keys of a test step.
pub const STEP_KEYS: &[&str] = &[
    "name", "timeout", "exec", "ping", "http", "console", "wait", "fault", "capture",
];
/// Keys of a `parallel` group.
pub const PARALLEL_KEYS: &[&str] = &["parallel"];
/// The step kinds, one of which each step names.
pub const STEP_KINDS: &[&str] = &[
    "exec", "ping", "http", "console", "wait", "fault", "capture",
];
/// Keys of an `exec` check.
pub const EXEC_KEYS: &[&str] = &["node", "cmd", "exit", "stdout", "stderr"];
/// Keys of a `ping` check.
pub const PING_KEYS: &[&str] = &["from", "to", "count", "loss"];
/// Keys of an `http` check.
pub const HTTP_KEYS: &[&str] = &["from", "url", "status", "body"];
/// Keys of a `console` step.
pub const CONSOLE_STEP_KEYS: &[&str] =
    &["node", "expect", "send", "run", "exit", "stdout", "upload"];
/// Keys of a console step's `upload`.
pub const UPLOAD_KEYS: &[&str] = &["src", "dst", "mode"];
/// Keys of a `wait` step.
pub const WAIT_KEYS: &[&str] = &[
    "exec", "ping", "http", "console", "capture", "retries", "interval",
];
/// Keys of a `capture` check.
pub const CAPTURE_KEYS: &[&str] = &["link", "filter", "count"];
/// Keys of a fault.
pub const FAULT_KEYS: &[&str] = &[
    "name", "at", "link", "down", "impair", "on", "for", "node", "restart",
];

/// Default time a test step may take.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration(30_000_000_000);

/// Decodes `tests:`.
pub(crate) fn tests(cx: &mut Cx<'_>, v: &Node) -> Vec<Test> {
    let Some(items) = cx.list(v, "tests") else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            if let Value::Map(entries) = &item.value
                && entries.iter().any(|(k, _)| k.as_str() == Some("parallel"))
            {
                let f = cx.fields(item, "a parallel group", PARALLEL_KEYS)?;
                let steps = cx.list(f.get("parallel")?, "parallel")?;
                let steps = steps.iter().filter_map(|s| step(cx, s)).collect();
                return Some(Test::Parallel { parallel: steps });
            }
            step(cx, item).map(Test::Step)
        })
        .collect()
}

fn step(cx: &mut Cx<'_>, v: &Node) -> Option<TestStep> {
    let f = cx.fields(v, "a test", STEP_KEYS)?;
    let kinds: Vec<&str> = STEP_KINDS
        .iter()
        .copied()
        .filter(|k| f.get(k).is_some())
        .collect();
    let name = match f.get("name") {
        Some(n) => cx.string(n, "test name")?,
        None => {
            cx.error(
                "warren::missing-key",
                v.span,
                "every test needs a `name`",
                "this test",
            );
            return None;
        }
    };
    let kind = match kinds.as_slice() {
        [k] => *k,
        [] => {
            cx.error(
                "warren::missing-key",
                name.span,
                format!("test `{}` does nothing", name.value),
                "no step kind",
            );
            return None;
        }
        _ => {
            cx.error(
                "warren::bad-value",
                name.span,
                format!(
                    "test `{}` has several step kinds: {}",
                    name.value,
                    kinds.join(", ")
                ),
                "one step kind per test",
            );
            return None;
        }
    };
    let timeout = duration(cx, &f, "timeout").unwrap_or(DEFAULT_STEP_TIMEOUT);
    let action = action(cx, kind, f.get(kind)?)?;
    Some(TestStep {
        name,
        timeout,
        action,
    })
}

/// A console step's `upload: {src, dst, mode}`.
fn upload(cx: &mut Cx<'_>, v: &Node) -> Option<UploadStep> {
    let f = cx.fields(v, "upload", UPLOAD_KEYS)?;
    let mode = match f.get("mode") {
        Some(n) => {
            let m = cx.string(n, "upload.mode")?;
            let parsed = u32::from_str_radix(&m.value, 8)
                .ok()
                .filter(|x| *x <= 0o7777);
            if parsed.is_none() {
                cx.error(
                    "warren::bad-value",
                    m.span,
                    format!("mode {:?} is not octal digits up to 7777", m.value),
                    "octal digits, quoted, as in \"0755\"",
                );
                return None;
            }
            parsed
        }
        None => None,
    };
    Some(UploadStep {
        src: required_string(cx, &f, v, "src", "upload")?,
        dst: required_string(cx, &f, v, "dst", "upload")?.value,
        mode,
    })
}

fn action(cx: &mut Cx<'_>, kind: &str, v: &Node) -> Option<StepAction> {
    Some(match kind {
        "exec" => {
            let f = cx.fields(v, "exec", EXEC_KEYS)?;
            StepAction::Exec(ExecCheck {
                node: required_string(cx, &f, v, "node", "exec")?,
                cmd: match f.get("cmd") {
                    Some(c) => command(cx, c, "cmd")?,
                    None => return missing(cx, v, "cmd", "exec"),
                },
                exit: f.get("exit").and_then(|n| cx.int(n, "exit")).unwrap_or(0),
                stdout: f.get("stdout").and_then(|n| regex_text(cx, n, "stdout")),
                stderr: f.get("stderr").and_then(|n| regex_text(cx, n, "stderr")),
            })
        }
        "ping" => {
            let f = cx.fields(v, "ping", PING_KEYS)?;
            StepAction::Ping(PingCheck {
                from: required_string(cx, &f, v, "from", "ping")?,
                to: required_string(cx, &f, v, "to", "ping")?,
                count: f
                    .get("count")
                    .and_then(|n| cx.uint(n, "count", 1, 100_000))
                    .map_or(3, |c| u32::try_from(c).unwrap_or(3)),
                loss: f
                    .get("loss")
                    .and_then(|n| cx.parse::<Percent>(n, "loss"))
                    .map_or(Percent(0.0), |p| p.value),
            })
        }
        "http" => {
            let f = cx.fields(v, "http", HTTP_KEYS)?;
            StepAction::Http(HttpCheck {
                from: required_string(cx, &f, v, "from", "http")?,
                url: required_string(cx, &f, v, "url", "http")?.value,
                status: f
                    .get("status")
                    .and_then(|n| cx.uint(n, "status", 100, 599))
                    .map_or(200, |s| u16::try_from(s).unwrap_or(200)),
                body: f.get("body").and_then(|n| regex_text(cx, n, "body")),
            })
        }
        "console" => {
            let f = cx.fields(v, "console", CONSOLE_STEP_KEYS)?;
            let text =
                |cx: &mut Cx<'_>, k: &str| f.get(k).and_then(|n| cx.string(n, k)).map(|s| s.value);
            let step = ConsoleStep {
                node: required_string(cx, &f, v, "node", "console")?,
                expect: f.get("expect").and_then(|n| regex_text(cx, n, "expect")),
                send: text(cx, "send"),
                run: text(cx, "run"),
                exit: f.get("exit").and_then(|n| cx.int(n, "exit")),
                stdout: f.get("stdout").and_then(|n| regex_text(cx, n, "stdout")),
                upload: match f.get("upload") {
                    Some(u) => Some(Box::new(upload(cx, u)?)),
                    None => None,
                },
            };
            if step.expect.is_none()
                && step.send.is_none()
                && step.run.is_none()
                && step.upload.is_none()
            {
                cx.error(
                    "warren::missing-key",
                    v.span,
                    "a console step needs `expect`, `send`, `run` or `upload`",
                    "this step",
                );
                return None;
            }
            StepAction::Console(step)
        }
        "wait" => {
            let f = cx.fields(v, "wait", WAIT_KEYS)?;
            let inner: Vec<&str> = STEP_KINDS
                .iter()
                .copied()
                .filter(|k| f.get(k).is_some())
                .collect();
            let [k] = inner.as_slice() else {
                cx.error(
                    "warren::bad-value",
                    v.span,
                    "`wait` retries exactly one step",
                    "expected one of exec, ping, http, console, capture",
                );
                return None;
            };
            StepAction::Wait(WaitStep {
                step: Box::new(action(cx, k, f.get(k)?)?),
                retries: f
                    .get("retries")
                    .and_then(|n| cx.uint(n, "retries", 1, 1_000_000))
                    .map_or(30, |r| u32::try_from(r).unwrap_or(30)),
                interval: duration(cx, &f, "interval").unwrap_or(Duration(1_000_000_000)),
            })
        }
        "fault" => StepAction::Fault(cx.string(v, "fault")?),
        "capture" => {
            let f = cx.fields(v, "capture", CAPTURE_KEYS)?;
            let count = required_string(cx, &f, v, "count", "capture")?;
            let (op, n) = count_expr(&count.value).or_else(|| {
                cx.error(
                    "warren::bad-value",
                    count.span,
                    format!("invalid count `{}`", count.value),
                    "expected N, == N, >= N or <= N",
                );
                None
            })?;
            StepAction::Capture(CaptureCheck {
                link: required_string(cx, &f, v, "link", "capture")?,
                filter: f
                    .get("filter")
                    .and_then(|n| cx.string(n, "filter"))
                    .map(|s| s.value)
                    .unwrap_or_default(),
                op,
                count: n,
            })
        }
        _ => return None,
    })
}

fn count_expr(text: &str) -> Option<(CountOp, u64)> {
    let t = text.trim();
    let (op, rest) = [
        ("==", CountOp::Eq),
        (">=", CountOp::Ge),
        ("<=", CountOp::Le),
    ]
    .into_iter()
    .find_map(|(p, op)| t.strip_prefix(p).map(|r| (op, r)))
    .unwrap_or((CountOp::Eq, t));
    rest.trim().parse().ok().map(|n| (op, n))
}

fn required_string(
    cx: &mut Cx<'_>,
    f: &crate::decode::Fields<'_>,
    v: &Node,
    key: &str,
    what: &str,
) -> Option<Spanned<String>> {
    match f.get(key) {
        Some(n) => cx.string(n, key),
        None => missing(cx, v, key, what),
    }
}

fn missing<T>(cx: &mut Cx<'_>, v: &Node, key: &str, what: &str) -> Option<T> {
    cx.error(
        "warren::missing-key",
        v.span,
        format!("`{what}` needs `{key}`"),
        format!("no `{key}` here"),
    );
    None
}

/// Decodes `faults:`.
pub(crate) fn faults(cx: &mut Cx<'_>, v: &Node) -> Vec<Fault> {
    let Some(items) = cx.list(v, "faults") else {
        return Vec::new();
    };
    items.iter().filter_map(|item| fault(cx, item)).collect()
}

fn fault(cx: &mut Cx<'_>, v: &Node) -> Option<Fault> {
    let f = cx.fields(v, "a fault", FAULT_KEYS)?;
    let name = f.get("name").and_then(|n| cx.string(n, "fault name"));
    let at = duration(cx, &f, "at");
    // Each action has its own keys; a fault does exactly one thing.
    let actions: [(&str, &[&str]); 3] = [
        ("link", &["down"]),
        ("impair", &["on", "for"]),
        ("node", &["restart", "down"]),
    ];
    let present: Vec<&str> = actions
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| f.get(k).is_some())
        .collect();
    if present.len() > 1 {
        cx.error(
            "warren::bad-value",
            v.span,
            format!(
                "a fault does one thing, this one has {}",
                present.join(" and ")
            ),
            "several actions",
        );
        return None;
    }
    // A key is out of place when no action that takes it is present.
    let mut checked: Vec<&str> = Vec::new();
    for key in actions.iter().flat_map(|(_, keys)| keys.iter().copied()) {
        if checked.contains(&key) || f.get(key).is_none() {
            continue;
        }
        checked.push(key);
        let owners: Vec<&str> = actions
            .iter()
            .filter(|(_, keys)| keys.contains(&key))
            .map(|(a, _)| *a)
            .collect();
        if owners.iter().all(|a| f.get(a).is_none()) {
            let span = f.get(key).map_or(v.span, |n| n.span);
            let owners: Vec<String> = owners.iter().map(|a| format!("`{a}`")).collect();
            cx.error(
                "warren::bad-value",
                span,
                format!("`{key}` belongs to {} faults", owners.join(" or ")),
                "key of another action",
            );
        }
    }
    let action = if let Some(l) = f.get("link") {
        FaultAction::LinkDown {
            link: cx.string(l, "link")?,
            down: duration(cx, &f, "down"),
        }
    } else if let Some(i) = f.get("impair") {
        FaultAction::Impair {
            impair: impair(cx, i)?,
            on: required_string(cx, &f, v, "on", "an impair fault")?,
            duration: duration(cx, &f, "for"),
        }
    } else if let Some(n) = f.get("node") {
        let node = cx.string(n, "node")?;
        if let Some(r) = f.get("restart")
            && !cx.boolean(r, "restart")?
        {
            cx.error(
                "warren::bad-value",
                r.span,
                "a node fault restarts the node",
                "expected `restart: true`",
            );
            return None;
        }
        FaultAction::NodeRestart {
            node,
            down: duration(cx, &f, "down"),
        }
    } else {
        cx.error(
            "warren::missing-key",
            v.span,
            "a fault needs `link`, `impair` or `node`",
            "this fault",
        );
        return None;
    };
    if name.is_none() && at.is_none() {
        cx.error(
            "warren::missing-key",
            v.span,
            "a fault needs `at` (a time after lab start) or a `name` for test steps to fire it",
            "this fault",
        );
    }
    Some(Fault { name, at, action })
}
