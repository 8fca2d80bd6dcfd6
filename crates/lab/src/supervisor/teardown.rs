//! Tearing a live lab down: nodes first, then captures (so their last
//! frames are in the files), wires, the lab's init (and with it every
//! process of its pid namespace), the namespaces, and the state folder.

use super::SupervisorError;
use super::live::Live;
use crate::journal::Journal;
use crate::state;
use std::path::Path;
use std::time::Duration;

/// How long nodes get between being asked to stop and being killed.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Tears `live` down and removes its state folder `dir`.
pub(super) fn teardown(dir: &Path, live: &mut Live) -> Result<(), SupervisorError> {
    tracing::info!(lab = %live.lab.name, "teardown");
    if let Ok(mut j) = Journal::open(dir) {
        let _ = j.record("teardown", "start");
    }
    let results = live.state.results.clone();
    crate::events::append(
        &results,
        "teardown",
        serde_json::json!({ "lab": live.lab.name }),
    );
    live.nodes.stop_all(STOP_GRACE);
    // Captures end after the nodes, so their last frames are in the files.
    // Every capture and wire is asked to stop before any is waited for, so
    // their waits overlap: a capture's for the frames its rings still
    // retire, then for closing them and writing its statistics blocks; a
    // wire's for its poll tick, then for closing its taps.
    live.captures.request_stop();
    for w in &live.wires {
        w.wire.request_stop();
    }
    let finals = live.captures.stop();
    live.wires.clear();
    if let Ok(mut j) = Journal::open(dir) {
        let lines: Vec<String> = finals
            .iter()
            .map(|c| format!("{}: {} frames, {} dropped", c.name, c.captured, c.dropped))
            .collect();
        let _ = j.record_all("capture", lines.iter().map(String::as_str));
    }
    // Dropping the init kills every process of the lab's pid namespace.
    drop(live.init.take());
    // Closing the namespace fds lets the kernel free the namespaces and
    // every interface in them.
    live.built.namespaces.clear();
    crate::events::append(
        &results,
        "down",
        serde_json::json!({ "lab": live.lab.name, "captures": finals }),
    );
    tracing::info!(lab = %live.lab.name, "down");
    state::remove_dir(dir)?;
    Ok(())
}
