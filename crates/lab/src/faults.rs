//! The `faults:` list, pure: each fault with an `at` expanded into timed
//! actions relative to lab start ([`timeline`]), and a named fault's
//! actions for firing it on request ([`named`]). The supervisor applies
//! both to the lab's wires and logs each action to the run's events file.

use crate::restart::NodeAction;
use std::time::Duration;
use warren_topology::model::{Fault, FaultAction, Impair};

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

/// A fault's actions with their offsets from the moment it fires: the
/// action itself at zero, then its undoing after `down:` or `for:`.
pub fn actions(fault: &Fault) -> Vec<(Duration, Action)> {
    match &fault.action {
        FaultAction::LinkDown { link, down } => {
            let link = link.value.clone();
            let mut out = vec![(
                Duration::ZERO,
                Action::Carrier {
                    link: link.clone(),
                    up: false,
                },
            )];
            if let Some(d) = down {
                out.push((d.to_std(), Action::Carrier { link, up: true }));
            }
            out
        }
        FaultAction::Impair {
            impair,
            on,
            duration,
        } => {
            let on = on.value.clone();
            let mut out = vec![(
                Duration::ZERO,
                Action::Impair {
                    on: on.clone(),
                    impair: impair.clone(),
                },
            )];
            if let Some(d) = duration {
                out.push((d.to_std(), Action::Restore { on }));
            }
            out
        }
        FaultAction::NodeRestart { node, down: None } => vec![(
            Duration::ZERO,
            Action::Node {
                node: node.value.clone(),
                action: NodeAction::Restart,
            },
        )],
        FaultAction::NodeRestart {
            node,
            down: Some(d),
        } => {
            let node = node.value.clone();
            vec![
                (
                    Duration::ZERO,
                    Action::Node {
                        node: node.clone(),
                        action: NodeAction::Stop,
                    },
                ),
                (
                    d.to_std(),
                    Action::Node {
                        node,
                        action: NodeAction::Start,
                    },
                ),
            ]
        }
    }
}

/// The name a fault is logged under: its `name:`, or its index in `faults:`.
pub fn label(index: usize, fault: &Fault) -> String {
    fault
        .name
        .as_ref()
        .map_or_else(|| format!("faults[{index}]"), |n| n.value.clone())
}

/// The actions of the fault called `name`, as [`actions`] gives them.
pub fn named(faults: &[Fault], name: &str) -> Option<Vec<(Duration, Action)>> {
    faults
        .iter()
        .find(|f| f.name.as_ref().is_some_and(|n| n.value == name))
        .map(actions)
}

/// Every scheduled action, in time order (faults without `at` fire only
/// from test steps, so they are left out).
pub fn timeline(faults: &[Fault]) -> Vec<Timed> {
    let mut out = Vec::new();
    for (i, f) in faults.iter().enumerate() {
        let Some(at) = f.at else { continue };
        let at = at.to_std();
        let fault = label(i, f);
        out.extend(actions(f).into_iter().map(|(after, action)| Timed {
            at: at + after,
            fault: fault.clone(),
            action,
        }));
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
        let manual = named(&lab.faults, "manual").expect("named fault");
        assert_eq!(
            manual.iter().map(|(d, _)| d.as_secs()).collect::<Vec<_>>(),
            [0, 1]
        );
        assert!(named(&lab.faults, "nope").is_none());
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
