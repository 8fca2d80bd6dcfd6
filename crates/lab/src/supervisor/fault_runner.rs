//! Runs the lab's `faults:` against the live lab: the schedule (times
//! relative to the lab being up) on a thread of its own, and a named
//! fault fired by a control request. Each action is appended to the run's
//! events file.

use super::live::{Live, Replaced, Shared, lock};
use crate::faults::Action;
use crate::proto::Reply;
use crate::state::Status;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

/// What faults replaced, by link or endpoint, until they restore it.
type Saved = std::collections::HashMap<String, Replaced>;

/// Why a fault action failed.
type FaultError = Box<dyn std::error::Error>;

/// Applies one action of the fault called `fault` to the running lab;
/// returns what it did, as logged, and whether that worked.
fn apply(
    r: &mut Live,
    saved: &mut Saved,
    fault: &str,
    action: &Action,
) -> (String, Result<(), FaultError>) {
    match action {
        Action::Carrier { link, up } => (
            format!("link {link} {}", if *up { "up" } else { "down" }),
            r.set_link(link, *up).map(|_| ()).map_err(Into::into),
        ),
        Action::Impair { on, impair } => {
            let res = r.impair(on, impair).map(|(_, _, before)| {
                saved.entry(on.clone()).or_insert(before);
            });
            (format!("impair {on}"), res.map_err(Into::into))
        }
        Action::Restore { on } => {
            let res = match saved.remove(on) {
                Some(before) => r.put_back(on, before),
                None => Ok(()),
            };
            (format!("impair {on} restored"), res.map_err(Into::into))
        }
        Action::Node { node, action } => (
            format!("node {node} {}", action.as_str()),
            r.node(node, *action, fault).map(|_| ()).map_err(Into::into),
        ),
    }
}

/// Runs `actions` (offsets from now) in order against the lab, logging each
/// as a `fault` event with `extra` fields in the run's evidence folder
/// `results`, until the lab stops running.
/// Returns the first action that failed, if any.
fn run_actions(
    fault_of: &dyn Fn(usize) -> String,
    actions: &[(Duration, Action)],
    results: &Path,
    shared: &Shared,
    extra: &serde_json::Value,
) -> Option<(String, FaultError)> {
    let start = Instant::now();
    let mut saved = Saved::new();
    let mut first_err = None;
    for (i, (at, action)) in actions.iter().enumerate() {
        if let Some(wait) = at.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        let mut r = lock(shared);
        if r.state.status != Status::Running {
            break;
        }
        let fault = fault_of(i);
        let (what, result) = apply(&mut r, &mut saved, &fault, action);
        drop(r);
        tracing::info!(fault = %fault, action = %what, ok = result.is_ok(), "fault");
        let mut line = serde_json::json!({
            "fault": fault,
            "at": at.as_secs_f64(),
            "elapsed": start.elapsed().as_secs_f64(),
            "action": what,
        });
        if let (Some(line), Some(extra)) = (line.as_object_mut(), extra.as_object()) {
            line.extend(extra.clone());
        }
        if let Err(e) = result {
            line["error"] = serde_json::Value::String(warren_kernel::error_chain(&*e));
            first_err.get_or_insert((what, e));
        }
        crate::events::append(results, "fault", line);
    }
    first_err
}

/// Applies the `faults:` schedule, times relative to now (the lab is up),
/// and appends each action, with its time, to the run's events file.
pub(super) fn run_schedule(timeline: &[crate::faults::Timed], results: &Path, shared: &Shared) {
    crate::events::append(
        results,
        "faults-start",
        serde_json::json!({ "scheduled": timeline.len() }),
    );
    let actions: Vec<_> = timeline.iter().map(|t| (t.at, t.action.clone())).collect();
    let fault_of = |i: usize| timeline[i].fault.clone();
    run_actions(&fault_of, &actions, results, shared, &serde_json::json!({}));
}

/// Fires the fault called `name` now and answers once its last action is done.
pub(super) fn fire(name: &str, shared: &Shared) -> Reply {
    let (actions, results) = {
        let r = lock(shared);
        (
            crate::faults::named(&r.lab.faults, name),
            r.state.results.clone(),
        )
    };
    let Some(actions) = actions else {
        let e = io::Error::new(
            io::ErrorKind::NotFound,
            format!("the lab has no fault called {name}"),
        );
        return Reply::err("not-found", &e);
    };
    let fault_of = |_| name.to_string();
    let extra = serde_json::json!({ "trigger": "request" });
    match run_actions(&fault_of, &actions, &results, shared, &extra) {
        None => Reply::ok(serde_json::json!({ "fault": name, "actions": actions.len() })),
        Some((what, e)) => {
            let e = io::Error::other(format!(
                "fault {name}: {what}: {}",
                warren_kernel::error_chain(&*e)
            ));
            Reply::err("fault", &e)
        }
    }
}
