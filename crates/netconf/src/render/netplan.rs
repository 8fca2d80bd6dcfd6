//! netplan YAML (`etc/netplan/50-cloud-init.yaml`, mode 0600).
//!
//! netplan has no global DNS: the global nameservers and search domains go
//! to every interface with layer-3 configuration.

use std::fmt::Write as _;

use super::{HEADER, Renderer, unsupported, write};
use crate::model::{Control, Kind, NetworkModel, OverrideValue, ParamValue, RouteTo, Unit};
use crate::{Error, Task};

/// Where cloud-init's netplan renderer writes.
const PATH: &str = "etc/netplan/50-cloud-init.yaml";

/// Renders the model as one netplan file.
pub(crate) fn render(model: &NetworkModel) -> Result<Vec<Task>, Error> {
    Ok(vec![write(
        PATH.into(),
        Some(0o600),
        document(model, true)?,
    )])
}

/// The model as a version 2 document: under a top-level `network:` key
/// (`wrapped`, as netplan's files have it) or with `version:` at the top
/// (as cloud-init's NoCloud `network-config` has it; default routes are
/// then written `0.0.0.0/0` and `::/0`, which cloud-init reads).
pub(crate) fn document(model: &NetworkModel, wrapped: bool) -> Result<String, Error> {
    for i in &model.interfaces {
        if i.dhcp4 && i.dhcp6 && i.dhcp4_overrides != i.dhcp6_overrides {
            // `netplan generate` refuses it for its networkd backend, which
            // has one set of DHCP settings for both clients.
            return Err(unsupported(
                Renderer::Netplan,
                format!(
                    "interface {}: dhcp4-overrides and dhcp6-overrides that differ while both DHCP clients run (netplan's networkd backend needs them equal)",
                    i.id
                ),
            ));
        }
    }
    let mut out = format!("{HEADER}network:\n  version: 2\n");
    for (section, wanted) in [
        ("ethernets", 0u8),
        ("bonds", 1),
        ("bridges", 2),
        ("vlans", 3),
    ] {
        let ifaces: Vec<_> = model
            .interfaces
            .iter()
            .filter(|i| section_of(&i.kind) == wanted)
            .collect();
        if ifaces.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  {section}:");
        for i in ifaces {
            let start = out.len();
            device(&mut out, &i.kind);
            let mut w = |k: &str, v: String| {
                let _ = writeln!(out, "      {k}: {v}");
            };
            if let Some(mtu) = i.mtu {
                w("mtu", mtu.to_string());
            }
            if let Some(mac) = &i.macaddress {
                w("macaddress", q(mac));
            }
            if i.optional {
                w("optional", "true".into());
            }
            if i.critical {
                w("critical", "true".into());
            }
            if i.control == Control::Manual {
                w("activation-mode", "manual".into());
            }
            if let Some(ll) = i.link_local {
                let fams = [("ipv4", ll.ipv4), ("ipv6", ll.ipv6)]
                    .into_iter()
                    .filter_map(|(f, on)| on.then_some(f));
                w("link-local", list(fams));
            }
            if i.ipv6_privacy {
                w("ipv6-privacy", "true".into());
            }
            if i.dhcp4 {
                w("dhcp4", "true".into());
            }
            if i.dhcp6 {
                w("dhcp6", "true".into());
            }
            if let Some(ra) = i.accept_ra {
                w("accept-ra", ra.to_string());
            }
            for (key, o) in [
                ("dhcp4-overrides", &i.dhcp4_overrides),
                ("dhcp6-overrides", &i.dhcp6_overrides),
            ] {
                let items: Vec<String> = o
                    .set()
                    .into_iter()
                    .map(|(k, v)| {
                        let v = match v {
                            OverrideValue::Text(t) => q(&t),
                            v => v.to_string(),
                        };
                        format!("{}: {v}", k.netplan_name())
                    })
                    .collect();
                if !items.is_empty() {
                    w(key, format!("{{{}}}", items.join(", ")));
                }
            }
            if !i.addresses.is_empty() {
                w("addresses", list(i.addresses.iter()));
            }
            if !i.routes.is_empty() {
                let _ = writeln!(out, "      routes:");
                for r in &i.routes {
                    // cloud-init (22.4) reads no `default`: its network
                    // config gets the network of the family.
                    let to = match r.to {
                        RouteTo::Default if wrapped => "default".to_owned(),
                        RouteTo::Default | RouteTo::Net(_) => q(&r.to_cidr()),
                    };
                    let _ = writeln!(out, "        - to: {to}");
                    if let Some(via) = r.via {
                        let _ = writeln!(out, "          via: {}", q(&via.to_string()));
                    }
                    if let Some(m) = r.metric {
                        let _ = writeln!(out, "          metric: {m}");
                    }
                    if let Some(t) = r.table {
                        let _ = writeln!(out, "          table: {t}");
                    }
                    if r.on_link {
                        let _ = writeln!(out, "          on-link: true");
                    }
                    if let Some(sc) = &r.scope {
                        let _ = writeln!(out, "          scope: {sc}");
                    }
                    if let Some(ty) = &r.kind {
                        let _ = writeln!(out, "          type: {ty}");
                    }
                    if let Some(src) = r.from {
                        let _ = writeln!(out, "          from: {}", q(&src.to_string()));
                    }
                }
            }
            if !i.routing_policy.is_empty() {
                let _ = writeln!(out, "      routing-policy:");
                for rule in &i.routing_policy {
                    let mut items = Vec::new();
                    if let Some(f) = rule.from {
                        items.push(format!("from: {}", q(&f.to_string())));
                    }
                    if let Some(t) = rule.to {
                        items.push(format!("to: {}", q(&t.to_string())));
                    }
                    for (k, v) in [
                        ("table", rule.table),
                        ("priority", rule.priority),
                        ("mark", rule.mark),
                        ("type-of-service", rule.type_of_service.map(u32::from)),
                    ] {
                        if let Some(v) = v {
                            items.push(format!("{k}: {v}"));
                        }
                    }
                    let _ = writeln!(out, "        - {{{}}}", items.join(", "));
                }
            }
            let dns = model.effective_dns(i);
            if !dns.is_empty() {
                let _ = writeln!(out, "      nameservers:");
                if !dns.nameservers.is_empty() {
                    let _ = writeln!(out, "        addresses: {}", list(dns.nameservers.iter()));
                }
                if !dns.search.is_empty() {
                    let _ = writeln!(out, "        search: {}", list(dns.search.iter()));
                }
            }
            let empty = if out.len() == start { " {}" } else { "" };
            out.insert_str(start, &format!("    {}:{empty}\n", q(&i.id)));
        }
    }
    if wrapped {
        return Ok(out);
    }
    // Everything under `network:` is indented by two spaces.
    let body = out
        .strip_prefix(HEADER)
        .and_then(|b| b.strip_prefix("network:\n"))
        .unwrap_or_default();
    let mut unwrapped = HEADER.to_owned();
    for line in body.lines() {
        unwrapped.push_str(line.strip_prefix("  ").unwrap_or(line));
        unwrapped.push('\n');
    }
    Ok(unwrapped)
}

/// 0 ethernets, 1 bonds, 2 bridges, 3 vlans.
fn section_of(kind: &Kind) -> u8 {
    match kind {
        Kind::Physical(_) => 0,
        Kind::Bond(_) => 1,
        Kind::Bridge(_) => 2,
        Kind::Vlan(_) => 3,
    }
}

/// The kind-specific keys.
fn device(out: &mut String, kind: &Kind) {
    match kind {
        Kind::Physical(p) => {
            let matches: Vec<String> = [
                ("macaddress", &p.mac),
                ("name", &p.match_name),
                ("driver", &p.driver),
            ]
            .into_iter()
            .filter_map(|(k, v)| Some(format!("{k}: {}", q(v.as_ref()?))))
            .collect();
            if !matches.is_empty() {
                let _ = writeln!(out, "      match: {{{}}}", matches.join(", "));
            }
            if let Some(n) = &p.set_name {
                let _ = writeln!(out, "      set-name: {}", q(n));
            }
            if p.wakeonlan {
                let _ = writeln!(out, "      wakeonlan: true");
            }
        }
        Kind::Bond(b) => {
            let _ = writeln!(out, "      interfaces: {}", list(b.members.iter()));
            if !b.params.is_empty() {
                let _ = writeln!(out, "      parameters:");
                for (opt, v) in &b.params {
                    let text = match (v, opt.unit()) {
                        (ParamValue::Number(n), Unit::Seconds) => q(&format!("{n}s")),
                        (ParamValue::Number(n), _) => n.to_string(),
                        (ParamValue::Word(w), _) => q(w),
                        (ParamValue::Flag(f), _) => f.to_string(),
                        (ParamValue::Addresses(a), _) => list(a.iter()),
                    };
                    let _ = writeln!(out, "        {}: {text}", opt.netplan_name());
                }
            }
        }
        Kind::Bridge(b) => {
            let _ = writeln!(out, "      interfaces: {}", list(b.members.iter()));
            if !b.params.is_empty() || !b.port_priority.is_empty() || !b.path_cost.is_empty() {
                let _ = writeln!(out, "      parameters:");
                for (opt, v) in &b.params {
                    let text = match opt.unit() {
                        Unit::Flag => (*v != 0).to_string(),
                        _ => v.to_string(),
                    };
                    let _ = writeln!(out, "        {}: {text}", opt.netplan_name());
                }
                for (key, ports) in [
                    ("port-priority", &b.port_priority),
                    ("path-cost", &b.path_cost),
                ] {
                    if !ports.is_empty() {
                        let items: Vec<String> = ports
                            .iter()
                            .map(|(p, v)| format!("{}: {v}", q(p)))
                            .collect();
                        let _ = writeln!(out, "        {key}: {{{}}}", items.join(", "));
                    }
                }
            }
        }
        Kind::Vlan(v) => {
            let _ = writeln!(out, "      id: {}\n      link: {}", v.id, q(&v.link));
        }
    }
}

/// A double-quoted YAML scalar (names and addresses hold no quotes or
/// backslashes: the model refuses them).
fn q(s: &str) -> String {
    format!("\"{s}\"")
}

/// A flow list of quoted items.
fn list<T: ToString>(items: impl Iterator<Item = T>) -> String {
    let items: Vec<String> = items.map(|i| q(&i.to_string())).collect();
    format!("[{}]", items.join(", "))
}
