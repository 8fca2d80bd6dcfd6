//! Start order, run as root with busybox from the local registry fixture:
//! containerlab's `wait-for`, `stages` and `startup-delay`, and compose's
//! `depends_on` with its three conditions, start nodes in the order asked.
//! Each node appends its name and the host's uptime to a file in a folder
//! every node binds, so the order is read from what the nodes did.

mod common;

use common::*;
use std::path::Path;

/// A node's shell command that appends `NAME UPTIME` to /order/log.
fn record(name: &str) -> String {
    format!("echo {name} $(cut -d' ' -f1 /proc/uptime) >> /order/log")
}

/// The log's lines as (name, seconds), in the order written.
fn log(dir: &Path) -> Vec<(String, f64)> {
    let text = std::fs::read_to_string(dir.join("order/log")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (name, t) = l.split_once(' ')?;
            Some((name.to_string(), t.trim().parse().ok()?))
        })
        .collect()
}

/// The time `name` wrote, failing with the whole log when it did not.
fn at(log: &[(String, f64)], name: &str) -> f64 {
    log.iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| *t)
        .unwrap_or_else(|| panic!("{name} wrote nothing: {log:?}"))
}

/// Brings `file` up as lab `name` and returns the log once `last` wrote.
fn up_and_read(dir: &Path, file: &Path, name: &str, last: &str) -> Vec<(String, f64)> {
    let env = registry_env(&dir.join("store"));
    let out = warren(dir)
        .args(["up", "-q", file.to_str().expect("path")])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("warren up");
    let lab = LabGuard {
        name: name.into(),
        cwd: dir.into(),
        netns: lab_netns(name),
    };
    assert!(
        out.status.success(),
        "up failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `up` returns once every node has started; the last one's line follows.
    for _ in 0..50 {
        if log(dir).iter().any(|(n, _)| n == last) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let entries = log(dir);
    drop(lab);
    entries
}

#[test]
fn containerlab_wait_for_stages_and_startup_delay_order_the_starts() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(tmp.path().join("order")).expect("mkdir");
    let file = tmp.path().join("order.clab.yml");
    // web comes first in the file, so without ordering it would start first.
    let text = format!(
        r#"name: clab-ord
topology:
  defaults:
    kind: linux
    image: busybox
    binds: [order:/order]
  nodes:
    web:
      wait-for: [db]
      stages:
        create:
          wait-for:
            - node: seed
              stage: exit
      cmd: sh -c "{web}; exec sleep 86400"
    db:
      healthcheck:
        test: [CMD-SHELL, "test -e /tmp/up"]
        interval: 1
        retries: 20
      cmd: sh -c "{db}; sleep 2; touch /tmp/up; {db_up}; exec sleep 86400"
    seed:
      startup-delay: 2
      cmd: sh -c "{seed}; sleep 1; {seed_done}"
"#,
        web = record("web"),
        db = record("db"),
        db_up = record("db-healthy"),
        seed = record("seed"),
        seed_done = record("seed-done"),
    );
    std::fs::write(&file, text).expect("write");
    let dry = ok(
        tmp.path(),
        &["up", "--dry-run", file.to_str().expect("path")],
    );
    assert!(
        dry.contains("start container node web (after db ready, seed completed)"),
        "{dry}"
    );
    assert!(dry.contains("wait 2s before starting node seed"), "{dry}");
    let log = up_and_read(tmp.path(), &file, "clab-ord", "web");
    let names: Vec<&str> = log.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.last(), Some(&"web"), "web starts last: {log:?}");
    // seed waited its startup delay after db had started.
    assert!(at(&log, "seed") - at(&log, "db") >= 1.5, "{log:?}");
    // web waited for db's healthcheck and for seed's exit.
    assert!(at(&log, "web") >= at(&log, "db-healthy"), "{log:?}");
    assert!(at(&log, "web") >= at(&log, "seed-done"), "{log:?}");
}

#[test]
fn compose_depends_on_orders_the_starts_by_condition() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(tmp.path().join("order")).expect("mkdir");
    let file = tmp.path().join("compose.yaml");
    let text = format!(
        r#"name: cmp-ord
services:
  web:
    image: busybox
    volumes: [./order:/order]
    command: sh -c "{web}; exec sleep 86400"
    depends_on:
      db: {{condition: service_healthy}}
      seed: {{condition: service_completed_successfully}}
      log: {{condition: service_started}}
  db:
    image: busybox
    volumes: [./order:/order]
    command: sh -c "{db}; sleep 2; touch /tmp/up; {db_up}; exec sleep 86400"
    healthcheck: {{test: [CMD-SHELL, "test -e /tmp/up"], interval: 500ms, retries: 20}}
  seed:
    image: busybox
    volumes: [./order:/order]
    command: sh -c "{seed}; sleep 1; {seed_done}"
    depends_on: [log]
  log:
    image: busybox
    volumes: [./order:/order]
    command: sh -c "sleep 1; {log}; exec sleep 86400"
"#,
        web = record("web"),
        db = record("db"),
        db_up = record("db-healthy"),
        seed = record("seed"),
        seed_done = record("seed-done"),
        log = record("log"),
    );
    std::fs::write(&file, text).expect("write");
    let log = up_and_read(tmp.path(), &file, "cmp-ord", "web");
    let names: Vec<&str> = log.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.last(), Some(&"web"), "web starts last: {log:?}");
    assert!(at(&log, "web") >= at(&log, "db-healthy"), "{log:?}");
    assert!(at(&log, "web") >= at(&log, "seed-done"), "{log:?}");
    // service_started waits for the start only: log's own line comes a
    // second after its start, yet seed (which starts after log) is not
    // held back by it.
    assert!(at(&log, "seed") < at(&log, "log"), "{log:?}");
}

#[test]
fn a_failed_dependency_stops_up_naming_the_node_and_its_log() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("compose.yaml");
    std::fs::write(
        &file,
        "name: cmp-fail\nservices:\n  web:\n    image: busybox\n    command: [sleep, '86400']\n    depends_on:\n      seed: {condition: service_completed_successfully}\n  seed:\n    image: busybox\n    command: [sh, -c, 'exit 3']\n",
    )
    .expect("write");
    let env = registry_env(&tmp.path().join("store"));
    let out = warren(tmp.path())
        .args(["up", "-q", file.to_str().expect("path")])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("warren up");
    // Down first, so that a lab that came up after all is not left behind.
    let _ = run(tmp.path(), &["down", "cmp-fail"]);
    assert_gone("cmp-fail", &Default::default());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("node seed_1 ended with exit status 3") && err.contains("seed_1.log"),
        "{err}"
    );
}
