//! The `faults:` schedule: each fault with an `at` expanded into timed
//! actions relative to lab start ([`timeline`], pure), and a thread that
//! applies them to the lab's wires and logs each to the run's events file.

use crate::restart::NodeAction;
use std::time::Duration;
use warren_topology::model::{Fault, FaultAction, Impair};

/// Appends one event as a JSON line to the run's events file `events`.
/// Losing an event line must not stop what it records, so a file that
/// cannot be written is skipped.
pub fn append_event(events: &std::path::Path, value: serde_json::Value) {
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(events)
    {
        let _ = writeln!(f, "{value}");
    }
}

/// Seconds since the epoch, the `t` of every event.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One timed action of the schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Timed {
    /// Time after lab start.
    pub at: Duration,
    /// The fault's name, or its index in `faults:`.
    pub fault: String,
    /// What happens.
    pub action: Action,
}

/// What a timed action does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Carrier of a link off (`up: false`) or back on.
    Carrier {
        /// Link name or endpoint.
        link: String,
        /// On or off.
        up: bool,
    },
    /// Impairments on a link or endpoint, saving what was there.
    Impair {
        /// Link name or endpoint.
        on: String,
        /// The impairments.
        impair: Impair,
    },
    /// Put back what [`Action::Impair`] replaced.
    Restore {
        /// Link name or endpoint.
        on: String,
    },
    /// Stop, start or restart a node (see [`crate::restart`]).
    Node {
        /// The node.
        node: String,
        /// What happens to it.
        action: NodeAction,
    },
}

/// Every scheduled action, in time order (faults without `at` fire only
/// from test steps, so they are left out).
pub fn timeline(faults: &[Fault]) -> Vec<Timed> {
    let mut out = Vec::new();
    for (i, f) in faults.iter().enumerate() {
        let Some(at) = f.at else { continue };
        let at = at.to_std();
        let fault = f
            .name
            .as_ref()
            .map_or_else(|| format!("faults[{i}]"), |n| n.value.clone());
        let mut push = |at, action| {
            out.push(Timed {
                at,
                fault: fault.clone(),
                action,
            });
        };
        match &f.action {
            FaultAction::LinkDown { link, down } => {
                let link = link.value.clone();
                push(
                    at,
                    Action::Carrier {
                        link: link.clone(),
                        up: false,
                    },
                );
                if let Some(d) = down {
                    push(at + d.to_std(), Action::Carrier { link, up: true });
                }
            }
            FaultAction::Impair {
                impair,
                on,
                duration,
            } => {
                let on = on.value.clone();
                push(
                    at,
                    Action::Impair {
                        on: on.clone(),
                        impair: impair.clone(),
                    },
                );
                if let Some(d) = duration {
                    push(at + d.to_std(), Action::Restore { on });
                }
            }
            FaultAction::NodeRestart { node, down: None } => push(
                at,
                Action::Node {
                    node: node.value.clone(),
                    action: NodeAction::Restart,
                },
            ),
            FaultAction::NodeRestart {
                node,
                down: Some(d),
            } => {
                let node = node.value.clone();
                push(
                    at,
                    Action::Node {
                        node: node.clone(),
                        action: NodeAction::Stop,
                    },
                );
                push(
                    at + d.to_std(),
                    Action::Node {
                        node,
                        action: NodeAction::Start,
                    },
                );
            }
        }
    }
    // Stable: actions at the same time keep the file's order.
    out.sort_by_key(|t| t.at);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_expand_into_timed_actions_in_order() {
        let lab = warren_topology::load(
            "
nodes: {a: {}, b: {}}
links:
  - endpoints: [a:eth1, b:eth1]
faults:
  - {at: 10s, link: a:eth1, down: 5s}
  - {name: slow, at: 2s, impair: {delay: 50ms}, on: a:eth1, for: 30s}
  - {at: 30s, node: b, restart: true}
  - {name: manual, link: a:eth1, down: 1s}
  - {name: nap, at: 40s, node: a, down: 5s}
",
            "t",
        )
        .lab
        .expect("valid lab");
        let t = timeline(&lab.faults);
        let s = |t: &Timed| (t.at.as_secs(), t.fault.clone());
        assert_eq!(
            t.iter().map(s).collect::<Vec<_>>(),
            [
                (2, "slow".to_string()),
                (10, "faults[0]".to_string()),
                (15, "faults[0]".to_string()),
                (30, "faults[2]".to_string()),
                (32, "slow".to_string()),
                (40, "nap".to_string()),
                (45, "nap".to_string()),
            ]
        );
        let node = |t: &Timed| match &t.action {
            Action::Node { node, action } => (node.clone(), *action),
            other => panic!("{other:?}"),
        };
        assert_eq!(node(&t[3]), ("b".to_string(), NodeAction::Restart));
        assert_eq!(node(&t[5]), ("a".to_string(), NodeAction::Stop));
        assert_eq!(node(&t[6]), ("a".to_string(), NodeAction::Start));
        assert_eq!(
            t[1].action,
            Action::Carrier {
                link: "a:eth1".into(),
                up: false
            }
        );
        assert_eq!(
            t[4].action,
            Action::Restore {
                on: "a:eth1".into()
            }
        );
    }
}
