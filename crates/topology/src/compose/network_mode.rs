//! `network_mode: "service:X"` and `"container:X"`: a service that shares
//! another's network namespace runs as `containers:` entries of that
//! service's node (named `SERVICE_N`, as its nodes would be), with its
//! own root, pid namespace, log and readiness, which is what Docker gives
//! it. It has no interfaces of its own, so links name the node it joins.

use super::{Cx, Out, Service, pointer_key};
use crate::raw::MEMBER_KEYS;
use serde_json::{Map, Value};

/// Moves each service that shares another's network into that service's
/// node as containers: its own nodes (already built) leave the lab.
pub(super) fn join(cx: &mut Cx<'_>, services: &[Service], project: &str, out: &mut Out) {
    for svc in services {
        let Some(mode) = &svc.joins else {
            continue;
        };
        let base = format!("/services/{}", pointer_key(&svc.name));
        let at = format!("{base}/network_mode");
        let own: Vec<(String, Option<Value>)> = (1..=svc.replicas)
            .map(|i| format!("{}_{i}", svc.name))
            .map(|n| {
                let node = out.nodes.remove(&n);
                (n, node)
            })
            .collect();
        let Some(host) = host_node(cx, services, project, svc, mode, &at) else {
            continue;
        };
        let mut members = Vec::new();
        for (name, node) in own {
            let Some(Value::Object(node)) = node else {
                continue;
            };
            let mut m = Map::new();
            m.insert("name".into(), Value::String(name));
            for (k, v) in node {
                if MEMBER_KEYS.contains(&k.as_str()) {
                    m.insert(k, v);
                } else if k == "sysctls" && has_own_sysctls(&v) {
                    cx.note(
                        &format!("{base}/sysctls"),
                        &format!("service {}: `sysctls` ignored: it shares {host}'s network namespace; set them on that service", svc.name),
                    );
                } else if !matches!(k.as_str(), "kind" | "sysctls") {
                    cx.note(
                        &base,
                        &format!("service {}: `{k}` ignored: it runs as a container in {host}'s namespaces", svc.name),
                    );
                }
            }
            members.push(Value::Object(m));
        }
        // A host service that could not be converted has its errors
        // reported already.
        let Some(Value::Object(h)) = out.nodes.get_mut(&host) else {
            continue;
        };
        let Value::Array(list) = h
            .entry("containers")
            .or_insert_with(|| Value::Array(Vec::new()))
        else {
            continue;
        };
        let first = list.len();
        list.extend(members);
        let last = list.len();
        for k in first..last {
            let pointer = format!("/nodes/{host}/containers/{k}");
            out.origin(&pointer, &cx.at(&base));
            out.origin(&format!("{pointer}/name"), &cx.at(&at));
        }
    }
}

/// Sysctls beyond the forwarding ones every compose node gets.
fn has_own_sysctls(v: &Value) -> bool {
    v.as_object().is_some_and(|m| {
        m.keys()
            .any(|k| !super::service::FORWARDING.contains(&k.as_str()))
    })
}

/// The node `svc` joins: `service:X` is X's first node (X_1), and
/// `container:C` the node of the container Compose would call C.
fn host_node(
    cx: &mut Cx<'_>,
    services: &[Service],
    project: &str,
    svc: &Service,
    mode: &str,
    at: &str,
) -> Option<String> {
    let (host, node) = if let Some(x) = mode.strip_prefix("service:") {
        let Some(h) = services.iter().find(|s| s.name == x) else {
            cx.error(
                at,
                &format!(
                    "service {}: network_mode {mode}: no service called {x}",
                    svc.name
                ),
            );
            return None;
        };
        if h.replicas > 1 {
            cx.note(
                at,
                &format!("service {}: network_mode {mode}: joins {x}_1, the first of {x}'s {} replicas, as Compose does", svc.name, h.replicas),
            );
        }
        (h, format!("{x}_1"))
    } else {
        let c = mode.strip_prefix("container:").unwrap_or(mode);
        let Some((h, i)) = super::container(services, project, c) else {
            cx.error(
                at,
                &format!(
                    "service {}: network_mode {mode}: no container called {c}",
                    svc.name
                ),
            );
            return None;
        };
        (h, format!("{}_{i}", h.name))
    };
    if host.name == svc.name {
        cx.error(
            at,
            &format!(
                "service {}: network_mode {mode} names the service itself",
                svc.name
            ),
        );
        return None;
    }
    if let Some(other) = &host.joins {
        cx.error(
            at,
            &format!("service {}: network_mode {mode}: {} itself has network_mode {other}; name the service whose network it is", svc.name, host.name),
        );
        return None;
    }
    Some(node)
}
