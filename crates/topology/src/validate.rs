//! Rules over the resolved lab: address families, duplicate addresses,
//! subnets of a segment, route gateways, interface `nat` and `ethtool`
//! settings, and the references that tests, faults, tunnels and the
//! capture list make.

use crate::decode::Cx;
use crate::diag::{Diagnostic, did_you_mean};
use crate::model::{Attachment, FaultAction, Lab, NodeKind, StepAction, Test, TestStep};
use crate::span::{Span, Spanned};
use crate::values::IfAddr;
use std::collections::HashMap;
use std::net::IpAddr;

/// Checks every rule and records what fails.
pub(crate) fn validate(cx: &mut Cx<'_>, lab: &Lab) {
    families(cx, lab);
    duplicate_addresses(cx, lab);
    segment_subnets(cx, lab);
    routes(cx, lab);
    references(cx, lab);
    names(cx, lab);
    sysctls(cx, lab);
    host_tools(cx, lab);
    crate::order::validate(cx, lab);
    host_links(cx, lab);
    patches(cx, lab);
}

/// A host link's host end is a new interface of the host's namespace: a
/// kernel name (at most 15 bytes, no `/`, `:` or spaces), used once, on a
/// node with a namespace of its own. (Whether the host has one of that
/// name already is checked when the lab comes up.)
fn host_links(cx: &mut Cx<'_>, lab: &Lab) {
    let mut seen: HashMap<&str, String> = HashMap::new();
    for node in &lab.nodes {
        for iface in &node.interfaces {
            let Attachment::Host { peer } = &iface.attach else {
                continue;
            };
            let owner = format!("{}:{}", node.name.value, iface.name);
            let bad = peer.is_empty()
                || peer.len() > 15
                || peer.contains(['/', ':', ' ', '\t', '\n'])
                || peer == "."
                || peer == "..";
            if bad {
                cx.error(
                    "warren::bad-value",
                    iface.span,
                    format!("{owner}: host interface name `{peer}` is not a kernel interface name"),
                    "expected at most 15 bytes without `/`, `:` or spaces",
                );
            } else if node.kind == NodeKind::Vm {
                cx.error(
                    "warren::key-not-for-kind",
                    iface.span,
                    format!("{owner}: a host link needs a node with a network namespace; a vm's NICs are taps"),
                    "on a vm",
                );
            } else if let Some(other) = seen.insert(peer, owner.clone()) {
                cx.error(
                    "warren::duplicate",
                    iface.span,
                    format!("{owner}: host interface `{peer}` is also {other}'s peer"),
                    "used twice",
                );
            }
        }
    }
}

/// `nat` SNATs to the interface's IPv4 address, so it needs one; `nat` and
/// `ethtool` run in the node's network namespace, which a vm has not.
/// A patch network joins exactly two members, and no tunnel: each side's
/// frames are redirected to the other, so a third member or a tunnel has
/// nothing to be joined to.
fn patches(cx: &mut Cx<'_>, lab: &Lab) {
    for net in lab.networks.iter().filter(|n| n.patch) {
        if net.members.len() != 2 {
            cx.push(
                Diagnostic::error(
                    "warren::bad-value",
                    net.name.span,
                    format!(
                        "network `{}` is a patch with {} members; a patch joins exactly two",
                        net.name.value,
                        net.members.len()
                    ),
                    "mode: patch",
                )
                .with_help(
                    "a patch redirects each member's frames to the other with tc mirred, \
                     so there is no third port to send to; use `mode: bridge` for more",
                ),
            );
        }
        if let Some(t) = lab
            .tunnels
            .iter()
            .find(|t| t.network.value == net.name.value)
        {
            cx.error(
                "warren::bad-value",
                t.network.span,
                format!(
                    "network `{}` is a patch: a tunnel needs a bridge to join",
                    net.name.value
                ),
                "a patch network",
            );
        }
    }
}

fn host_tools(cx: &mut Cx<'_>, lab: &Lab) {
    for node in &lab.nodes {
        for iface in &node.interfaces {
            let owner = format!("{}:{}", node.name.value, iface.name);
            if node.kind == NodeKind::Vm && (iface.nat.is_some() || !iface.ethtool.is_empty()) {
                cx.error(
                    "warren::key-not-for-kind",
                    iface.nat.map_or(iface.span, |n| n.span),
                    format!(
                        "{owner}: `nat` and `ethtool` apply to netns, container and system nodes"
                    ),
                    "on a vm's interface",
                );
                continue;
            }
            if let Some(nat) = iface.nat
                && iface.ipv4.is_empty()
            {
                cx.push(
                    Diagnostic::error(
                        "warren::missing-key",
                        nat.span,
                        format!("`nat` on {owner} needs an IPv4 address on that interface"),
                        "no IPv4 address to SNAT to",
                    )
                    .with_help("give the interface `ipv4:`; traffic leaving it is SNATed to its first IPv4 address"),
                );
            }
        }
    }
}

/// Names that files and references use must be unique and usable as file names.
fn names(cx: &mut Cx<'_>, lab: &Lab) {
    let mut seen: HashMap<String, Span> = HashMap::new();
    let mut claim = |cx: &mut Cx<'_>, name: &str, span: Span, what: &str| {
        if name.contains('/') || name.is_empty() || name == "." || name == ".." {
            cx.error(
                "warren::bad-name",
                span,
                format!("{what} name `{name}` cannot be a file name"),
                "names become capture file names",
            );
        }
        if let Some(first) = seen.insert(name.to_string(), span) {
            let line = cx.line_of(first);
            cx.push(
                Diagnostic::error(
                    "warren::duplicate-name",
                    span,
                    format!("the name `{name}` is used twice"),
                    "second use",
                )
                .with_help(format!(
                    "first used on line {line}; links and networks need distinct names"
                )),
            );
        }
    };
    for l in &lab.links {
        claim(cx, &l.name, l.endpoints[0].span, "link");
    }
    for n in &lab.networks {
        claim(cx, &n.name.value, n.name.span, "network");
    }
    let mut tests: HashMap<&str, Span> = HashMap::new();
    let steps = lab.tests.iter().flat_map(|t| match t {
        Test::Step(s) => std::slice::from_ref(s),
        Test::Parallel { parallel } => parallel.as_slice(),
    });
    let named = steps.map(|s| (&s.name, "test")).chain(
        lab.faults
            .iter()
            .filter_map(|f| f.name.as_ref())
            .map(|n| (n, "fault")),
    );
    let mut faults: HashMap<&str, Span> = HashMap::new();
    for (name, what) in named {
        let table = if what == "test" {
            &mut tests
        } else {
            &mut faults
        };
        if let Some(first) = table.insert(name.value.as_str(), name.span) {
            let line = cx.line_of(first);
            cx.push(
                Diagnostic::error(
                    "warren::duplicate-name",
                    name.span,
                    format!("two {what}s are called `{}`", name.value),
                    "second use",
                )
                .with_help(format!("first used on line {line}")),
            );
        }
    }
}

/// Only `net.*` sysctls are per network namespace; others would change the host.
fn sysctls(cx: &mut Cx<'_>, lab: &Lab) {
    for n in &lab.nodes {
        for key in n.sysctls.keys().filter(|k| !k.starts_with("net.")) {
            cx.error(
                "warren::host-sysctl",
                n.name.span,
                format!(
                    "sysctl `{key}` on node `{}` is not per network namespace",
                    n.name.value
                ),
                "would change the host",
            );
        }
    }
}

fn families(cx: &mut Cx<'_>, lab: &Lab) {
    for node in &lab.nodes {
        for iface in &node.interfaces {
            for (list, v4) in [(&iface.ipv4, true), (&iface.ipv6, false)] {
                for a in list.iter().filter(|a| a.value.is_ipv4() != v4) {
                    cx.error(
                        "warren::wrong-family",
                        a.span,
                        format!(
                            "`{}` is an {} address in an `{}` field",
                            a.value,
                            if v4 { "IPv6" } else { "IPv4" },
                            if v4 { "ipv4" } else { "ipv6" }
                        ),
                        "wrong address family",
                    );
                }
            }
        }
    }
}

fn duplicate_addresses(cx: &mut Cx<'_>, lab: &Lab) {
    let mut seen: HashMap<IpAddr, (String, Span)> = HashMap::new();
    for node in &lab.nodes {
        for iface in &node.interfaces {
            let owner = format!("{}:{}", node.name.value, iface.name);
            for a in iface.addresses() {
                match seen.get(&a.value.addr) {
                    Some((first, span)) => {
                        let line = cx.line_of(*span);
                        cx.push(
                            Diagnostic::error(
                                "warren::duplicate-address",
                                a.span,
                                format!(
                                    "address {} is given to both {first} and {owner}",
                                    a.value.addr
                                ),
                                "used twice",
                            )
                            .with_help(format!("first given on line {line}")),
                        );
                    }
                    None => {
                        seen.insert(a.value.addr, (owner.clone(), a.span));
                    }
                }
            }
        }
    }
}

/// Every address on a link or network must share a subnet with an address
/// of another member of the same segment, or the members cannot talk.
fn segment_subnets(cx: &mut Cx<'_>, lab: &Lab) {
    let mut segments: HashMap<String, Vec<(String, &Spanned<IfAddr>)>> = HashMap::new();
    for node in &lab.nodes {
        for iface in &node.interfaces {
            let segment = match &iface.attach {
                Attachment::Link { link, .. } => format!("link `{}`", lab.links[*link].name),
                Attachment::Network { network } => format!("network `{network}`"),
                Attachment::Loopback | Attachment::Macvlan(_) | Attachment::Host { .. } => continue,
            };
            let owner = format!("{}:{}", node.name.value, iface.name);
            let entry = segments.entry(segment).or_default();
            entry.extend(iface.addresses().map(|a| (owner.clone(), a)));
        }
    }
    let mut names: Vec<&String> = segments.keys().collect();
    names.sort();
    for seg in names {
        let addrs = &segments[seg];
        for (owner, a) in addrs {
            let others: Vec<&(String, &Spanned<IfAddr>)> = addrs
                .iter()
                .filter(|(o, b)| o != owner && b.value.is_ipv4() == a.value.is_ipv4())
                .collect();
            if others.is_empty()
                || others
                    .iter()
                    .any(|(_, b)| b.value.network() == a.value.network())
            {
                continue;
            }
            let (o, b) = others[0];
            cx.push(
                Diagnostic::error(
                    "warren::subnet-mismatch",
                    a.span,
                    format!(
                        "{} on {owner} is in no subnet of the other addresses on {seg}",
                        a.value
                    ),
                    format!("subnet {}", a.value.network()),
                )
                .with_help(format!(
                    "{o} has {} (subnet {})",
                    b.value,
                    b.value.network()
                )),
            );
        }
    }
}

fn routes(cx: &mut Cx<'_>, lab: &Lab) {
    for node in &lab.nodes {
        for iface in &node.interfaces {
            for r in &iface.routes {
                let route = &r.value;
                if let Some(dev) = &route.dev
                    && node.interface(dev).is_none()
                {
                    cx.error(
                        "warren::unknown-interface",
                        r.span,
                        format!(
                            "route `{route}`: node `{}` has no interface `{dev}`",
                            node.name.value
                        ),
                        "unknown interface",
                    );
                    continue;
                }
                if let Some(src) = route.src
                    && !node
                        .interfaces
                        .iter()
                        .flat_map(|i| i.addresses())
                        .any(|a| a.value.addr == src)
                {
                    cx.error(
                        "warren::bad-value",
                        r.span,
                        format!(
                            "route `{route}` on {}: source {src} is not an address of the node",
                            node.name.value
                        ),
                        "not the node's address",
                    );
                    continue;
                }
                // A route straight out of an interface, or through a
                // gateway declared on the link, needs no subnet to hold it.
                let Some(via) = route.via.filter(|_| !route.onlink) else {
                    continue;
                };
                let link_local =
                    matches!(via, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
                if link_local && route.dev.is_some() {
                    continue;
                }
                let candidates: Vec<_> = node
                    .interfaces
                    .iter()
                    .filter(|i| route.dev.as_deref().is_none_or(|d| d == i.name))
                    .flat_map(|i| i.addresses())
                    .collect();
                if candidates.iter().any(|a| a.value.network().contains(via)) {
                    continue;
                }
                let help = if link_local {
                    "a link-local gateway needs `dev`".to_string()
                } else {
                    let subnets: Vec<String> = candidates
                        .iter()
                        .filter(|a| a.value.is_ipv4() == route.is_ipv4())
                        .map(|a| a.value.network().to_string())
                        .collect();
                    if subnets.is_empty() {
                        "the node has no address of this family".to_string()
                    } else {
                        format!("the node's subnets are {}", subnets.join(", "))
                    }
                };
                cx.push(
                    Diagnostic::error(
                        "warren::unreachable-gateway",
                        r.span,
                        format!(
                            "route `{route}` on {}: gateway {via} is on none of the node's subnets",
                            node.name.value
                        ),
                        "gateway not reachable",
                    )
                    .with_help(help),
                );
            }
        }
    }
}

/// The names a link or network can be referred to by: its name, or for a
/// link either of its endpoints.
fn segment_names(lab: &Lab) -> Vec<String> {
    let mut names: Vec<String> = lab.links.iter().map(|l| l.name.clone()).collect();
    names.extend(
        lab.links
            .iter()
            .flat_map(|l| l.endpoints.iter().map(|e| e.value.to_string())),
    );
    // An endpoint is also named by its interface's name as written.
    names.extend(lab.links.iter().flat_map(|l| {
        l.endpoints.iter().filter_map(|e| {
            let e = &e.value;
            e.altname.as_ref().map(|a| format!("{}:{a}", e.node))
        })
    }));
    names.extend(lab.networks.iter().map(|n| n.name.value.clone()));
    names
}

struct Refs<'a, 'c, 's> {
    cx: &'c mut Cx<'s>,
    lab: &'a Lab,
    segments: Vec<String>,
}

impl Refs<'_, '_, '_> {
    fn unknown(&mut self, what: &str, r: &Spanned<String>, candidates: &[String]) {
        let mut d = Diagnostic::error(
            "warren::unknown-reference",
            r.span,
            format!("no {what} called `{}`", r.value),
            format!("unknown {what}"),
        );
        if let Some(s) = did_you_mean(&r.value, candidates.iter().map(String::as_str)) {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
        self.cx.push(d);
    }

    fn node(&mut self, r: &Spanned<String>) -> Option<NodeKind> {
        if let Some(n) = self.lab.node(&r.value) {
            return Some(n.kind);
        }
        let names: Vec<String> = self
            .lab
            .nodes
            .iter()
            .map(|n| n.name.value.clone())
            .collect();
        self.unknown("node", r, &names);
        None
    }

    /// Where a command runs: a node, or `NODE/CONTAINER`, one of its
    /// `containers:`.
    fn exec_target(&mut self, r: &Spanned<String>) {
        let Some((node, member)) = r.value.split_once('/') else {
            self.node(r);
            return;
        };
        let Some(n) = self.lab.node(node) else {
            self.node(&Spanned::new(node.to_string(), r.span));
            return;
        };
        if n.member(member).is_none() {
            let names: Vec<String> = n
                .containers
                .iter()
                .map(|m| format!("{node}/{}", m.name.value))
                .collect();
            self.unknown("container", r, &names);
        }
    }

    fn segment(&mut self, r: &Spanned<String>) {
        if !self.segments.contains(&r.value) {
            let segments = self.segments.clone();
            self.unknown("link or network", r, &segments);
        }
    }

    /// A node, a `node:if` of the lab, or an IP address.
    fn target(&mut self, r: &Spanned<String>) {
        if r.value.parse::<IpAddr>().is_ok() {
            return;
        }
        match r.value.split_once(':') {
            Some((node, iface)) => {
                let found = self
                    .lab
                    .node(node)
                    .is_some_and(|n| n.interface(iface).is_some());
                if !found {
                    let all: Vec<String> = self
                        .lab
                        .nodes
                        .iter()
                        .flat_map(|n| {
                            n.interfaces
                                .iter()
                                .map(move |i| format!("{}:{}", n.name.value, i.name))
                        })
                        .collect();
                    self.unknown("interface", r, &all);
                }
            }
            None => {
                self.node(r);
            }
        }
    }

    fn interface(&mut self, r: &Spanned<String>) {
        if r.value.contains(':') {
            self.target(r);
        } else {
            self.segment(r);
        }
    }

    fn step(&mut self, step: &TestStep, faults: &[String]) {
        self.action(&step.action, faults);
    }

    fn action(&mut self, action: &StepAction, faults: &[String]) {
        match action {
            StepAction::Exec(e) => {
                self.exec_target(&e.node);
            }
            StepAction::Ping(p) => {
                self.node(&p.from);
                self.target(&p.to);
            }
            StepAction::Http(h) => {
                self.node(&h.from);
            }
            StepAction::Console(c) => {
                if let Some(kind) = self.node(&c.node)
                    && !matches!(kind, NodeKind::Vm | NodeKind::System)
                {
                    self.cx.error(
                        "warren::no-console",
                        c.node.span,
                        format!(
                            "node `{}` is a {} node and has no console",
                            c.node.value,
                            kind.as_str()
                        ),
                        "console steps need a vm or system node",
                    );
                }
            }
            StepAction::Wait(w) => self.action(&w.step, faults),
            StepAction::Fault(f) => {
                if !faults.contains(&f.value) {
                    self.unknown("fault", f, faults);
                }
            }
            StepAction::Capture(c) => self.segment(&c.link),
        }
    }
}

fn references(cx: &mut Cx<'_>, lab: &Lab) {
    let mut refs = Refs {
        cx,
        lab,
        segments: segment_names(lab),
    };
    let fault_names: Vec<String> = lab
        .faults
        .iter()
        .filter_map(|f| f.name.as_ref().map(|n| n.value.clone()))
        .collect();
    for test in &lab.tests {
        match test {
            Test::Step(s) => refs.step(s, &fault_names),
            Test::Parallel { parallel } => parallel.iter().for_each(|s| refs.step(s, &fault_names)),
        }
    }
    for fault in &lab.faults {
        match &fault.action {
            FaultAction::LinkDown { link, .. } => refs.interface(link),
            FaultAction::Impair { on, .. } => refs.interface(on),
            FaultAction::NodeRestart { node, .. } => {
                refs.node(node);
            }
        }
    }
    let networks: Vec<String> = lab.networks.iter().map(|n| n.name.value.clone()).collect();
    for t in &lab.tunnels {
        if !networks.contains(&t.network.value) {
            refs.unknown("network", &t.network, &networks);
        }
    }
}

/// Checks the names listed under `capture:`.
pub(crate) fn capture_names(cx: &mut Cx<'_>, lab: &Lab, names: &[Spanned<String>]) {
    let mut refs = Refs {
        cx,
        lab,
        segments: segment_names(lab),
    };
    for n in names {
        refs.segment(n);
    }
}
