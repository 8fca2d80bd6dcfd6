//! A compose lab scaled from Rust: `warren up` brings
//! examples/compose/live-scale/ up (the client library's `Lab::up` reads
//! lab files), `Lab::attach` takes it, and `Lab::scale_with` adds and
//! removes replicas through `warren scale` and the supervisor's `scale`
//! operation. Needs root and the fixture registry, like every test that
//! builds container labs.

use std::path::Path;
use std::process::Command;
use warren_lab::{Lab, LabError, Scaled};

use warren_fixtures::require_root;

/// The lab's nodes by name, sorted, without warren's own (`#hub`).
fn nodes(lab: &Lab) -> Vec<String> {
    let mut names: Vec<String> = lab
        .inspect()
        .expect("inspect")
        .nodes
        .into_iter()
        .map(|n| n.name)
        .filter(|n| !n.starts_with('#'))
        .collect();
    names.sort();
    names
}

fn ping(lab: &Lab, to: &str) -> bool {
    lab.node("a_1")
        .exec(&["ping", "-c", "1", "-W", "2", to])
        .expect("exec")
        .success()
}

#[test]
fn a_compose_lab_scales_from_rust() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let env = warren_fixtures::registry_env(&tmp.path().join("store"), "busybox");
    let compose = Path::new(env!("CARGO_MANIFEST_DIR")).join("../compose/live-scale/compose.yaml");
    let warren = warren_lab::binary::warren().expect("the warren binary");
    let up = Command::new(&warren)
        .args(["up", "-q", "--replace", "--name", "wscale"])
        .arg(&compose)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(tmp.path())
        .output()
        .expect("warren runs");
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let lab = Lab::attach("wscale").expect("attach");
    let result = std::panic::catch_unwind(|| {
        assert_eq!(nodes(&lab), ["a_1", "b_1", "node_1", "node_2"]);
        let grown = lab
            .scale_with(&[("node", 3)], env.clone())
            .expect("scale to 3");
        assert_eq!(
            grown,
            Scaled {
                removed: vec![],
                added: vec!["node_3".into()],
            }
        );
        assert_eq!(nodes(&lab), ["a_1", "b_1", "node_1", "node_2", "node_3"]);
        assert!(
            ping(&lab, "10.77.0.13"),
            "node_3 answers at its offset address"
        );
        let shrunk = lab
            .scale_with(&[("node", 1)], env.clone())
            .expect("scale to 1");
        assert_eq!(shrunk.removed, ["node_2", "node_3"]);
        assert!(shrunk.added.is_empty());
        assert_eq!(nodes(&lab), ["a_1", "b_1", "node_1"]);
        assert!(!ping(&lab, "10.77.0.13"), "node_3's address still answers");
        assert!(ping(&lab, "10.77.0.11"), "node_1 kept running");
        let e = lab.scale(&[("nosuch", 2)]).expect_err("an unknown service");
        assert!(
            matches!(&e, LabError::Scale { lab, message }
                if lab == "wscale" && message.contains("no service called nosuch")),
            "{e}"
        );
        assert_eq!(nodes(&lab), ["a_1", "b_1", "node_1"], "nothing changed");
    });
    lab.down().expect("down");
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
