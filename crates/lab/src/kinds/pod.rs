//! A node's `containers:`: application containers that run in the node's
//! network namespace beside what the node's kind runs (a netns node's
//! nothing, a container's entrypoint, a system node's systemd), each from
//! its own image, with its own root, pid namespace (or the node's, with
//! `pid: node`), log, exit code and `ready.exec` probe.
//!
//! They belong to the node rather than to its kind: [`prepare`] resolves
//! their images with the node's, and [`start`] starts them once the
//! node's own process has started and wraps both in one [`NodeHandle`],
//! so `warren node … stop/start/restart`, node faults and teardown stop
//! and start all of them with the node. Each one is a
//! `NODE/CONTAINER` target for `warren exec` and the control protocol's
//! `exec`; its log is `logs/NODE/CONTAINER.log` in the lab's results.

use super::oci::{self, App, OciProcess};
use super::{
    ExecCommand, ExecError, ExecSpec, HandleInfo, Kind, NodeError, NodeHandle, Prepared, ReadyCx,
    StartCx, Stop,
};
use crate::images;
use std::path::Path;
use warren_runtime::vm::{Console, Qmp};
use warren_topology::model::{Member, Node, PidMode, Ready};

/// The `exec`/`warren exec` target of `member` of `node`.
pub fn target(node: &str, member: &str) -> String {
    format!("{node}/{member}")
}

/// Resolves what `node`'s kind needs, then each of its containers' images
/// (pulled into the store if missing), so a missing one fails `up` before
/// the network exists.
pub fn prepare(
    kind: &dyn Kind,
    node: &Node,
    program: &Path,
    resolved: &crate::saved::Images,
) -> Result<Prepared, NodeError> {
    // What `up` resolved is used as it is; the client library's labs
    // (which `up` did not see) are resolved here, once.
    let image = node
        .container
        .as_ref()
        .and_then(|c| resolved.get(&c.image).cloned());
    let mut prepared = kind.prepare(node, program, image)?;
    prepared.members = node
        .containers
        .iter()
        .map(|m| match resolved.get(&m.container.image) {
            Some(image) => Ok(image.clone()),
            None => images::resolve(&m.container.image, false).map_err(|source| NodeError::Image {
                node: target(&node.name.value, &m.name.value),
                image: m.container.image.clone(),
                source: Box::new(source),
            }),
        })
        .collect::<Result<_, _>>()?;
    Ok(prepared)
}

/// Starts `node` as its kind does, then each of its containers in its
/// network namespace. A container that fails to start stops the ones
/// started before it and the node (their handles are dropped).
pub fn start(
    kind: &dyn Kind,
    cx: &mut StartCx<'_>,
    node: &Node,
    prepared: &Prepared,
) -> Result<Box<dyn NodeHandle>, NodeError> {
    let own = kind.start(cx, node, prepared)?;
    if node.containers.is_empty() {
        return Ok(own);
    }
    // `pid: node` joins the node's init's pid namespace, or the lab's for
    // a node without a process of its own (netns).
    let node_pidns = own
        .inspect()
        .init
        .map(|i| i.pid)
        .or_else(|| cx.state.init.map(|i| i.pid))
        .map(warren_runtime::pidns::pidns_path);
    let mut pod = Pod {
        own,
        members: Vec::with_capacity(node.containers.len()),
    };
    for (i, m) in node.containers.iter().enumerate() {
        match start_member(cx, node, m, prepared.members.get(i), node_pidns.as_deref()) {
            Ok(running) => pod.members.push(running),
            Err(e) => {
                // What started ends with it, the node's own process too.
                let _ = pod.stop(Stop::End {
                    grace: std::time::Duration::ZERO,
                });
                return Err(e);
            }
        }
    }
    Ok(Box::new(pod))
}

/// Starts container `m` of `node` in the node's network namespace (and
/// in `node_pidns` with `pid: node`).
fn start_member(
    cx: &StartCx<'_>,
    node: &Node,
    m: &Member,
    image: Option<&images::Resolved>,
    node_pidns: Option<&Path>,
) -> Result<Running, NodeError> {
    let name = target(&node.name.value, &m.name.value);
    let err = |source| NodeError::Start {
        node: name.clone(),
        source,
    };
    let image = image.ok_or_else(|| {
        err(std::io::Error::other(
            "its image was not resolved before it started",
        ))
    })?;
    let app = App {
        c: &m.container,
        env: &m.env,
        node: &node.name.value,
        member: Some(&m.name.value),
    };
    let dir = oci::node_dir(cx.dir, &name);
    let mut spec = oci::app_spec(cx.lab, &app, image, cx.state, &dir).map_err(err)?;
    if m.pid == PidMode::Node {
        spec.pidns = node_pidns.map(Path::to_path_buf);
    }
    let process = oci::launch(cx, &name, &spec, libc::SIGTERM).map_err(err)?;
    Ok(Running {
        name,
        ready: m.ready.clone(),
        process,
    })
}

/// How `cmd` runs in container `member` of `node`: as in a container
/// node, with the container's `env:` and its names.
pub(super) fn exec(
    lab: &str,
    node: &Node,
    member: &str,
    cmd: &ExecCommand<'_>,
) -> Result<ExecSpec, ExecError> {
    let Some(m) = node.member(member) else {
        let known: Vec<&str> = node
            .containers
            .iter()
            .map(|m| m.name.value.as_str())
            .collect();
        return Err(ExecError::NoContainer {
            node: node.name.value.clone(),
            container: member.to_string(),
            known: if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            },
        });
    };
    Ok(ExecSpec {
        argv: super::netns::shared_root_argv(cmd),
        env: member_env(lab, node, m, cmd.env),
    })
}

/// A member's `env:`, `extra`, and the lab, node and container it is.
fn member_env(
    lab: &str,
    node: &Node,
    m: &Member,
    extra: &[(String, String)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> =
        m.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    env.extend(extra.iter().cloned());
    env.push(("WARREN_LAB".into(), lab.to_string()));
    env.push(("WARREN_NODE".into(), node.name.value.clone()));
    env.push(("WARREN_CONTAINER".into(), m.name.value.clone()));
    env
}

/// A running member container.
#[derive(Debug)]
struct Running {
    /// `NODE/CONTAINER`.
    name: String,
    ready: Option<Ready>,
    process: OciProcess,
}

/// A node with containers: the node's own handle and its containers'.
#[derive(Debug)]
struct Pod {
    own: Box<dyn NodeHandle>,
    members: Vec<Running>,
}

impl NodeHandle for Pod {
    fn ready(&self, node: &Node, cx: &ReadyCx<'_>) -> Result<(), NodeError> {
        self.own.ready(node, cx)?;
        self.members
            .iter()
            .try_for_each(|m| super::exec::probe_until_ready(&m.name, m.ready.as_ref(), cx))
    }

    /// The containers stop first, all at once (each with its own
    /// grace), then the node's own process, whose namespaces they use.
    fn stop(&mut self, how: Stop) -> Result<Vec<i32>, NodeError> {
        let (Stop::End { grace } | Stop::Node { grace }) = how;
        let mut pids: Vec<i32> = std::thread::scope(|s| {
            let stopping: Vec<_> = self
                .members
                .iter_mut()
                .map(|m| s.spawn(move || m.process.stop(grace)))
                .collect();
            stopping
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        pids.extend(self.own.stop(how)?);
        Ok(pids)
    }

    fn resume(&mut self) -> Result<(), NodeError> {
        self.own.resume()
    }

    fn console(&self) -> Option<Console> {
        self.own.console()
    }

    fn qmp(&self) -> Option<&Qmp> {
        self.own.qmp()
    }

    fn inspect(&self) -> HandleInfo {
        let mut info = self.own.inspect();
        for m in &self.members {
            info.pids.push(m.process.init.pid);
            info.members.push((m.name.clone(), m.process.init));
        }
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab() -> warren_topology::Lab {
        warren_topology::load(
            "name: p\nnodes:\n  a:\n    env: {NODE: a}\n    containers:\n      - {name: web, image: /srv/w, env: {ROLE: server}}\n      - {name: cli, image: /srv/c}\n",
            "p",
        )
        .lab
        .expect("valid lab")
    }

    #[test]
    fn a_member_command_gets_its_own_env_and_names_not_the_nodes() {
        let lab = lab();
        let a = vec!["id".to_string()];
        let cmd = ExecCommand {
            argv: &a,
            ..Default::default()
        };
        let spec = super::super::exec_spec(&lab, "a/web", &cmd).expect("a/web runs commands");
        assert_eq!(spec.argv, a);
        assert!(spec.env.contains(&("ROLE".into(), "server".into())));
        assert!(spec.env.contains(&("WARREN_NODE".into(), "a".into())));
        assert!(
            spec.env
                .contains(&("WARREN_CONTAINER".into(), "web".into()))
        );
        assert!(
            !spec.env.iter().any(|(k, _)| k == "NODE"),
            "the node's env is not the member's: {:?}",
            spec.env
        );
    }

    #[test]
    fn an_unknown_member_is_named_with_the_nodes_containers() {
        let lab = lab();
        let cmd = ExecCommand::default();
        let e = super::super::exec_spec(&lab, "a/db", &cmd).expect_err("no container db");
        let text = e.to_string();
        assert!(matches!(e, ExecError::NoContainer { .. }), "{text}");
        assert!(text.contains("db") && text.contains("web, cli"), "{text}");
        let e = super::super::exec_spec(&lab, "b/web", &cmd).expect_err("no node b");
        assert!(matches!(e, ExecError::NoNode(ref n) if n == "b"), "{e}");
    }

    #[test]
    fn a_member_spec_runs_in_the_nodes_network_namespace_under_its_own_names() {
        let lab = lab();
        let node = lab.node("a").expect("node a");
        let m = node.member("web").expect("member web");
        let image = images::Resolved {
            layers: vec![std::path::PathBuf::from("/l0")],
            entrypoint: vec![],
            cmd: vec!["httpd".into()],
            env: vec![("ROLE".into(), "image".into())],
            workdir: "/".into(),
            user: None,
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let mut st = crate::state::LabState::for_tests(dir.path());
        st.netns.insert("a".into(), 7);
        let app = App {
            c: &m.container,
            env: &m.env,
            node: "a",
            member: Some("web"),
        };
        let spec = oci::app_spec(&lab, &app, &image, &st, dir.path()).expect("spec");
        assert_eq!(spec.netns, st.netns_path("a"));
        assert_eq!(spec.hostname, "a");
        assert_eq!(spec.argv, ["httpd"]);
        assert!(spec.env.contains(&("ROLE".into(), "server".into())));
        assert!(!spec.env.contains(&("ROLE".into(), "image".into())));
        assert!(
            spec.env
                .contains(&("WARREN_CONTAINER".into(), "web".into()))
        );
        assert!(spec.pidns.is_none(), "its own pid namespace by default");
    }
}
