//! The control protocol as a wire format (docs/control-protocol.md): raw
//! JSON lines on a lab's `control.sock`, against the real supervisor —
//! `exec` in netns, container and system nodes, its frames, its timeout
//! and what a vanished client does, the `events` stream following new
//! lines, and version refusal. Needs root; the system node needs the
//! registry fixture's debian:systemd image.

mod common;
use common::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// Sends one request line to lab `lab`; returns the connection and the answer.
fn request(lab: &str, req: &Value) -> (BufReader<UnixStream>, Value) {
    let sock = format!("/run/warren/{lab}/control.sock");
    let mut s = UnixStream::connect(&sock).expect("connect to control.sock");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    writeln!(s, "{req}").expect("send");
    let mut r = BufReader::new(s);
    let answer = line(&mut r).expect("an answer line");
    (r, answer)
}

fn line(r: &mut BufReader<UnixStream>) -> Option<Value> {
    let mut l = String::new();
    match r.read_line(&mut l) {
        Ok(n) if n > 0 => Some(serde_json::from_str(&l).expect("a JSON line")),
        _ => None,
    }
}

/// The next `n` fault events of an events stream (the stream also carries
/// the lab's own events, such as `created` and `ready`).
fn faults(r: &mut BufReader<UnixStream>, n: usize) -> Vec<Value> {
    std::iter::from_fn(|| line(r))
        .take(50)
        .filter(|e| e["event"] == "fault")
        .take(n)
        .collect()
}

/// Runs an `exec` and returns its frames, exit frame last.
fn exec(lab: &str, node: &str, argv: &[&str], extra: Value) -> Vec<Value> {
    let mut req = json!({"v": 1, "op": "exec", "node": node, "argv": argv});
    if let (Some(r), Some(e)) = (req.as_object_mut(), extra.as_object()) {
        r.extend(e.clone());
    }
    let (mut r, answer) = request(lab, &req);
    assert_eq!(
        answer,
        json!({"ok": true, "result": {"streaming": "exec", "node": node}})
    );
    let mut frames = Vec::new();
    while let Some(f) = line(&mut r) {
        let last = f.get("exit").is_some();
        frames.push(f);
        if last {
            break;
        }
    }
    assert!(
        frames.last().is_some_and(|f| f.get("exit").is_some()),
        "the stream ends with an exit frame: {frames:?}"
    );
    frames
}

/// The text of every `key` frame, concatenated.
fn text(frames: &[Value], key: &str) -> String {
    frames.iter().filter_map(|f| f[key].as_str()).collect()
}

fn lab_text(name: &str) -> String {
    format!(
        "name: {name}
nodes:
  a: {{}}
  b: {{}}
links:
  - endpoints: [a:eth1, b:eth1]
    ipv4: [10.81.0.1/24, 10.81.0.2/24]
    impair: {{}}
faults:
  - {{name: blip, link: a:eth1, down: 1s}}
"
    )
}

#[test]
fn exec_frames_carry_text_base64_exit_and_timeout_and_a_gone_client_kills_the_command() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = write_lab(tmp.path(), "ctl-exec", &lab_text("ctl-exec"));
    let _lab = LabGuard::up(tmp.path(), &file, "ctl-exec");

    let frames = exec(
        "ctl-exec",
        "a",
        &[
            "sh",
            "-c",
            "echo \"$WARREN_NODE $X\"; printf 'ok\\377' ; cat; echo bad >&2; exit 5",
        ],
        json!({"env": {"X": "y"}, "stdin": "fed\n"}),
    );
    assert_eq!(frames.last(), Some(&json!({"exit": 5})));
    let out = text(&frames, "stdout");
    assert!(out.starts_with("a y\nok"), "{frames:?}");
    assert!(
        frames.iter().any(|f| f["stdout_b64"].is_string()),
        "the byte 0xff goes as base64: {frames:?}"
    );
    assert_eq!(text(&frames, "stderr"), "bad\n");
    for f in &frames {
        assert_eq!(f.as_object().map(|o| o.len()), Some(1), "one key: {f}");
    }

    let started = Instant::now();
    let frames = exec(
        "ctl-exec",
        "b",
        &["sleep", "30"],
        json!({"timeout_secs": 1}),
    );
    assert_eq!(frames, [json!({"timed_out": 1}), json!({"exit": 137})]);
    assert!(started.elapsed() < Duration::from_secs(5));

    // The client goes away mid-command: the command dies with it.
    let (mut r, _) = request(
        "ctl-exec",
        &json!({"v": 1, "op": "exec", "node": "a", "argv": ["sh", "-c", "echo started; exec sleep 3117"]}),
    );
    assert_eq!(line(&mut r), Some(json!({"stdout": "started\n"})));
    // The helper that joined the node (`warren __spawn … sleep 3117`) and the
    // command. The shell may be exec'ing `sleep` right now, when its command
    // line reads empty for a moment: look again until both show.
    let deadline = Instant::now() + Duration::from_secs(3);
    while processes_with("sleep 3117").len() != 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(processes_with("sleep 3117").len(), 2);
    drop(r);
    let deadline = Instant::now() + Duration::from_secs(3);
    while !processes_with("sleep 3117").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(processes_with("sleep 3117"), Vec::<String>::new());

    for (req, code) in [
        (
            json!({"v": 1, "op": "exec", "node": "zz", "argv": ["true"]}),
            "not-found",
        ),
        (
            json!({"v": 1, "op": "exec", "node": "a", "argv": []}),
            "bad-request",
        ),
        (json!({"v": 1, "op": "frobnicate"}), "bad-request"),
        (json!({"op": "ping"}), "bad-request"),
        (json!({"v": 2, "op": "ping"}), "version"),
        (json!({"v": 1, "op": "fault", "name": "zz"}), "not-found"),
        (
            json!({"v": 1, "op": "console_send", "node": "a", "text": "x"}),
            "not-found",
        ),
        (
            json!({"v": 1, "op": "qmp", "node": "a", "command": "query-status"}),
            "not-found",
        ),
    ] {
        let (_, answer) = request("ctl-exec", &req);
        assert_eq!(answer["ok"], false, "{req} -> {answer}");
        assert_eq!(answer["error"]["code"], code, "{req} -> {answer}");
    }
}

#[test]
fn the_events_stream_replays_then_follows_faults_fired_on_request() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = write_lab(tmp.path(), "ctl-events", &lab_text("ctl-events"));
    let _lab = LabGuard::up(tmp.path(), &file, "ctl-events");

    let (mut events, answer) = request("ctl-events", &json!({"v": 1, "op": "events"}));
    assert_eq!(
        answer,
        json!({"ok": true, "result": {"streaming": "events"}})
    );
    let started = Instant::now();
    let (_, fired) = request(
        "ctl-events",
        &json!({"v": 1, "op": "fault", "name": "blip"}),
    );
    assert_eq!(
        fired,
        json!({"ok": true, "result": {"fault": "blip", "actions": 2}})
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "answered once the link is back"
    );
    let seen = faults(&mut events, 2);
    let actions: Vec<&str> = seen.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["link a:eth1 down", "link a:eth1 up"], "{seen:?}");
    for e in &seen {
        assert_eq!(
            (&e["event"], &e["fault"], &e["trigger"]),
            (&json!("fault"), &json!("blip"), &json!("request"))
        );
    }
    // A second subscriber gets the same lines replayed from the start.
    let (mut again, _) = request("ctl-events", &json!({"v": 1, "op": "events"}));
    let replay = faults(&mut again, 2);
    assert_eq!(replay, seen);
}

#[test]
fn exec_runs_inside_container_and_system_nodes() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = systemd_env(&tmp.path().join("store"));
    let file = write_lab(
        tmp.path(),
        "ctl-kinds",
        "name: ctl-kinds
nodes:
  ct: {kind: container, image: busybox, cmd: [sleep, '3600']}
  os: {kind: system, image: 'debian:systemd'}
links:
  - endpoints: [ct:eth0, os:eth0]
",
    );
    up_with(tmp.path(), &file, &env);
    let _lab = LabGuard {
        name: "ctl-kinds".into(),
        cwd: tmp.path().into(),
        netns: lab_netns("ctl-kinds"),
    };
    // A container's own pid namespace and host name.
    let frames = exec(
        "ctl-kinds",
        "ct",
        &["sh", "-c", "hostname; cat /proc/1/cmdline | tr '\\0' ' '"],
        json!({}),
    );
    assert_eq!(text(&frames, "stdout"), "ct\nsleep 3600 ", "{frames:?}");
    // A system node: systemd is pid 1, the environment is clean but for
    // PATH and what the request gives.
    let frames = exec(
        "ctl-kinds",
        "os",
        &["sh", "-c", "cat /proc/1/comm; env | sort"],
        json!({"env": {"X": "y"}}),
    );
    let out = text(&frames, "stdout");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"systemd"), "{out}");
    assert!(lines.contains(&"X=y"), "{out}");
    assert!(lines.iter().any(|l| l.starts_with("PATH=")), "{out}");
    assert!(!out.contains("WARREN_") && !out.contains("CARGO"), "{out}");
    assert_eq!(frames.last(), Some(&json!({"exit": 0})));
}
