//! `network-mode: container:NODE`: a linux node that shares another
//! node's network namespace runs as one of that node's `containers:`
//! (named as the node was), with its own root, pid namespace, log and
//! exit code, as Docker runs it. It has no interfaces of its own: no
//! management address, no links, no ports.

use super::node::Def;
use super::{Built, ignored};
use crate::decode::Cx;
use crate::diag::Diagnostic;
use crate::raw::{RawMember, RawNode};
use crate::span::Spanned;

/// A node written with `network-mode: container:HOST`, waiting for its host.
pub(super) struct Joiner {
    name: Spanned<String>,
    /// The host's name, spanned where `network-mode` names it.
    host: Spanned<String>,
    raw: RawNode,
}

/// The host `d` names with `network-mode: container:HOST`, if it does.
pub(super) fn host_of(d: &Def) -> Option<Spanned<String>> {
    let mode = d.network_mode.as_ref()?;
    let host = mode.value.strip_prefix("container:")?;
    Some(Spanned::new(host.to_string(), mode.span))
}

/// A node that joins `host`, with what of it does not apply to a
/// container in another node's namespace noted.
pub(super) fn joiner(
    cx: &mut Cx<'_>,
    name: Spanned<String>,
    host: Spanned<String>,
    d: &Def,
    raw: RawNode,
) -> Joiner {
    let why = format!("the node shares {}'s network namespace", host.value);
    if let Some(p) = d.ports.as_ref().and_then(|p| p.first()) {
        ignored(cx, p.span, "`ports`", &why);
    }
    // Commands have no span of their own: they are noted at the node.
    if !d.exec.is_empty() {
        let run = format!(
            "{why}; run them with `warren exec LAB {}/{}`",
            host.value, name.value
        );
        ignored(cx, name.span, "`exec`", &run);
    }
    if !d.sysctls.is_empty() {
        ignored(
            cx,
            name.span,
            "`sysctls`",
            &format!("{why}; set them on {}", host.value),
        );
    }
    Joiner { name, host, raw }
}

/// Moves each joiner into its host's `containers:`. The host must be a
/// node of the lab that runs in a namespace of its own.
pub(super) fn join(cx: &mut Cx<'_>, joiners: Vec<Joiner>, out: &mut Built) {
    let names: Vec<String> = joiners.iter().map(|j| j.name.value.clone()).collect();
    for j in joiners {
        if names.contains(&j.host.value) {
            cx.push(
                Diagnostic::error(
                    "warren::clab-network-mode",
                    j.host.span,
                    format!(
                        "node `{}` joins `{}`, which itself shares another node's network namespace",
                        j.name.value, j.host.value
                    ),
                    "a joined node",
                )
                .with_help("name the node whose namespace it is"),
            );
            continue;
        }
        let Some((_, host)) = out.nodes.iter_mut().find(|(n, _)| n.value == j.host.value) else {
            cx.error(
                "warren::unknown-reference",
                j.host.span,
                format!(
                    "node `{}`: network-mode container:{} names no node of the topology",
                    j.name.value, j.host.value
                ),
                "unknown node",
            );
            continue;
        };
        let r = j.raw;
        host.containers
            .get_or_insert_with(Vec::new)
            .push(RawMember {
                span: j.name.span,
                name: Some(j.name),
                image: r.image,
                cmd: r.cmd,
                entrypoint: r.entrypoint,
                workdir: r.workdir,
                user: r.user,
                env: r.env,
                binds: r.binds.unwrap_or_default(),
                capabilities: r.capabilities.unwrap_or_default(),
                cap_drop: r.cap_drop.unwrap_or_default(),
                privileged: r.privileged.unwrap_or(false),
                ready: r.ready,
                ready_console: None,
                pid: crate::model::PidMode::Own,
            });
    }
}
