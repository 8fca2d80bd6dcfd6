//! The waits of the start order that are not a node's readiness: a
//! node's `start_delay`, and a node that starts after another has
//! `completed` (see [`crate::steps::Phase::WaitCompleted`]).

use crate::kinds::NodeError;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long bring-up waits for a node to complete before giving up.
const COMPLETE_TIMEOUT: Duration = Duration::from_secs(600);

/// Waits until container node `node` has ended, as its helper records in
/// `RESULTS/logs/NODE.exit`; fails unless its exit status is 0.
pub(crate) fn wait_completed(results: &Path, node: &str) -> Result<(), NodeError> {
    let exit_file = results.join("logs").join(format!("{node}.exit"));
    let started = Instant::now();
    tracing::info!(
        progress = "start",
        step = "ready",
        node,
        "waiting for it to complete"
    );
    loop {
        if let Ok(text) = std::fs::read_to_string(&exit_file)
            && let Ok(code) = text.trim().parse::<i32>()
        {
            if code == 0 {
                tracing::info!(progress = "done", step = "ready", node, "completed");
                return Ok(());
            }
            return Err(NodeError::Failed {
                node: node.to_string(),
                code,
                log: results.join("logs").join(format!("{node}.log")),
            });
        }
        if started.elapsed() >= COMPLETE_TIMEOUT {
            return Err(NodeError::NotReady {
                node: node.to_string(),
                secs: COMPLETE_TIMEOUT.as_secs(),
                why: "it is still running, and other nodes start after it completes".into(),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
