//! containerlab node definitions (`defaults`, `kinds.K`, `groups.G` and the
//! nodes themselves) and their inheritance: node, then group, then kind,
//! then defaults, as containerlab resolves each field.

use super::ignored;
use crate::decode::Cx;
use crate::model::{Bind, Command, Ready, StartAfter};
use crate::span::{Span, Spanned};
use crate::values::Duration;
use crate::yaml::{Node, Value};

/// Keys of a node definition that warren applies.
const APPLIED: &[&str] = &[
    "kind",
    "group",
    "image",
    "cmd",
    "entrypoint",
    "exec",
    "binds",
    "env",
    "user",
    "network-mode",
    "sysctls",
    "ports",
    "mgmt-ipv4",
    "mgmt-ipv6",
    "cap-add",
    "privileged",
    "env-files",
    "wait-for",
    "stages",
    "startup-delay",
    "healthcheck",
];

/// What a privileged node (containerlab's default for `linux`) keeps on top
/// of warren's default capabilities: routing daemons such as FRR's zebra
/// ask for SYS_ADMIN, and warren's runtime has no privileged mode.
pub(super) const PRIVILEGED_CAPS: &[&str] = &["SYS_ADMIN", "NET_BROADCAST", "IPC_LOCK"];

/// Keys of a node definition that warren reads but does not apply, with why
/// (docs/containerlab.md lists the same).
pub(super) const NOT_APPLIED: &[(&str, &str)] = &[
    (
        "type",
        "a vendor kind's hardware type; warren runs no vendor kinds",
    ),
    (
        "startup-config",
        "a vendor kind's configuration; bind the file into a linux node instead",
    ),
    ("enforce-startup-config", "a vendor kind's configuration"),
    ("suppress-startup-config", "a vendor kind's configuration"),
    ("license", "a vendor kind's license file"),
    ("config", "containerlab's configuration templates"),
    ("credentials", "a vendor kind's login"),
    ("username", "a vendor kind's login"),
    ("password", "a vendor kind's login"),
    ("identity-file", "a vendor kind's login"),
    ("components", "a vendor kind's line cards"),
    ("auto-remove", "warren removes every node with the lab"),
    (
        "restart-policy",
        "warren restarts nodes with `warren node`, not by policy",
    ),
    (
        "image-pull-policy",
        "warren pulls an image when its store lacks it",
    ),
    ("position", "graph layout for containerlab's GUI"),
    (
        "labels",
        "container labels are Docker metadata; warren has no Docker engine",
    ),
    ("hostname", "a node's host name is its name"),
    ("volumes", "named Docker volumes; use `binds`"),
    ("devices", "warren passes no host devices into containers"),
    ("cgroupns-mode", "warren sets up cgroups itself"),
    ("cgroup-parent", "warren sets up cgroups itself"),
    ("pid-mode", "every node has its own PID namespace"),
    ("tmpfs", "not supported by warren's runtime"),
    (
        "security-opts",
        "no seccomp or AppArmor profiles in warren's runtime",
    ),
    ("shm-size", "not supported by warren's runtime"),
    ("runtime", "warren is the runtime"),
    ("cpu", "no resource limits in warren's runtime"),
    ("cpu-set", "no resource limits in warren's runtime"),
    ("memory", "no resource limits in warren's runtime"),
    ("extras", "vendor kind extras"),
    ("dns", "nodes resolve through the lab's /etc/hosts"),
    ("certificate", "containerlab's certificate authority"),
    ("aliases", "a vendor kind's interface aliases"),
    ("link-apply-mode", "warren wires links before nodes start"),
];

/// One definition as written, read once (so that a problem in `defaults`
/// is reported once, not per node).
#[derive(Debug, Clone, Default)]
pub(super) struct Def {
    pub kind: Option<Spanned<String>>,
    pub group: Option<Spanned<String>>,
    pub image: Option<Spanned<String>>,
    pub cmd: Option<Spanned<String>>,
    pub entrypoint: Option<Spanned<String>>,
    pub user: Option<Spanned<String>>,
    pub network_mode: Option<Spanned<String>>,
    pub mgmt_ipv4: Option<Spanned<String>>,
    pub mgmt_ipv6: Option<Spanned<String>>,
    pub ports: Option<Vec<Spanned<String>>>,
    pub privileged: Option<bool>,
    pub exec: Vec<Command>,
    pub binds: Vec<Bind>,
    pub cap_add: Vec<String>,
    pub env_files: Vec<Spanned<String>>,
    pub env: Vec<(String, String)>,
    pub sysctls: Vec<(String, String)>,
    /// `wait-for` and `stages.create.wait-for`: the nodes this one starts after.
    pub wait_for: Vec<(Spanned<String>, StartAfter)>,
    /// `startup-delay`, in seconds.
    pub startup_delay: Option<u64>,
    /// `healthcheck`, as the node's `ready`.
    pub healthcheck: Option<Ready>,
}

/// Reads one definition; unknown keys are errors (containerlab reads its
/// files strictly too), keys warren does not apply are warnings.
pub(super) fn def(cx: &mut Cx<'_>, v: &Node, what: &str) -> Def {
    let mut d = Def::default();
    let Some(entries) = cx.mapping(v, what) else {
        return d;
    };
    for (k, val) in entries {
        let Some(key) = k.as_str() else { continue };
        if let Some((_, why)) = NOT_APPLIED.iter().find(|(n, _)| *n == key) {
            ignored(cx, k.span, &format!("`{key}` in {what}"), why);
            continue;
        }
        if !APPLIED.contains(&key) {
            let known: Vec<&str> = APPLIED
                .iter()
                .copied()
                .chain(NOT_APPLIED.iter().map(|(n, _)| *n))
                .collect();
            let mut diag = crate::Diagnostic::error(
                "warren::unknown-key",
                k.span,
                format!("unknown key `{key}` in {what}"),
                "unknown key",
            );
            if let Some(s) = crate::diag::did_you_mean(key, known.iter().copied()) {
                diag = diag.with_help(format!("did you mean `{s}`?"));
            }
            cx.push(diag);
            continue;
        }
        let text = |cx: &mut Cx<'_>| cx.string(val, key);
        match key {
            "kind" => d.kind = text(cx),
            "group" => d.group = text(cx),
            "image" => d.image = text(cx),
            "cmd" => d.cmd = text(cx),
            "entrypoint" => d.entrypoint = text(cx),
            "user" => d.user = text(cx),
            "network-mode" => d.network_mode = text(cx),
            "mgmt-ipv4" => d.mgmt_ipv4 = text(cx),
            "mgmt-ipv6" => d.mgmt_ipv6 = text(cx),
            "ports" => {
                d.ports = cx.list(val, "ports").map(|items| {
                    items
                        .iter()
                        .filter_map(|i| cx.string(i, "a port"))
                        .collect()
                });
            }
            "exec" => {
                d.exec = match &val.value {
                    Value::Seq(items) => items
                        .iter()
                        .filter_map(|i| cx.string(i, "an exec command"))
                        .map(|s| Command::Shell(s.value))
                        .collect(),
                    _ => crate::raw::commands(cx, val, "exec").unwrap_or_default(),
                };
            }
            "binds" => d.binds = crate::raw::binds(cx, val).unwrap_or_default(),
            "privileged" => d.privileged = cx.boolean(val, "privileged"),
            "env-files" => {
                d.env_files = cx
                    .list(val, "env-files")
                    .map(|items| {
                        items
                            .iter()
                            .filter_map(|i| cx.string(i, "an env file"))
                            .collect()
                    })
                    .unwrap_or_default();
            }
            "cap-add" => d.cap_add = cx.strings(val, "cap-add").unwrap_or_default(),
            "env" => d.env = cx.string_map(val, "env").unwrap_or_default(),
            "sysctls" => d.sysctls = cx.string_map(val, "sysctls").unwrap_or_default(),
            "wait-for" => {
                let items = cx.list(val, "wait-for").unwrap_or_default();
                let names = items.iter().filter_map(|i| cx.string(i, "a node name"));
                d.wait_for
                    .extend(names.map(|n| (n, StartAfter::Ready)).collect::<Vec<_>>());
            }
            "stages" => stages(cx, val, &mut d.wait_for),
            "startup-delay" => d.startup_delay = cx.uint(val, "startup-delay", 0, 86_400),
            "healthcheck" => d.healthcheck = healthcheck(cx, val),
            _ => {}
        }
    }
    d
}

/// containerlab's stages of a node, and what waiting for each means in
/// warren: links exist before any node starts, and `exec` runs once
/// every node has started, so a node has started once it is created,
/// has its links, or is configured as far as another node can wait for.
const STAGES: &[(&str, StartAfter)] = &[
    ("create", StartAfter::Started),
    ("create-links", StartAfter::Started),
    ("configure", StartAfter::Started),
    ("healthy", StartAfter::Ready),
    ("exit", StartAfter::Completed),
];

/// `stages`: the `create` stage's `wait-for` entries (`node`, `stage`)
/// become what the node starts after; other stages' waits and per-stage
/// `exec` are noted, as warren starts a node in one step.
fn stages(cx: &mut Cx<'_>, v: &Node, wait_for: &mut Vec<(Spanned<String>, StartAfter)>) {
    let Some(entries) = cx.mapping(v, "stages") else {
        return;
    };
    for (k, stage) in entries {
        let Some(name) = cx
            .choice(k, "stage", STAGES)
            .map(|_| k.as_str().unwrap_or_default())
        else {
            continue;
        };
        let Some(f) = cx.fields(stage, "a stage", &["wait-for", "exec"]) else {
            continue;
        };
        if let Some((_, span)) = f.keys().find(|(k, _)| *k == "exec") {
            ignored(
                cx,
                span,
                &format!("`stages.{name}.exec`"),
                "warren runs a node's commands once every node has started (`exec`)",
            );
        }
        let Some(w) = f.get("wait-for") else { continue };
        if name != "create" {
            ignored(
                cx,
                k.span,
                &format!("`stages.{name}.wait-for`"),
                "warren starts a node in one step, so only the create stage waits (`stages.create.wait-for`)",
            );
            continue;
        }
        for item in cx.list(w, "wait-for").unwrap_or_default() {
            let Some(e) = cx.fields(item, "a wait-for entry", &["node", "stage"]) else {
                continue;
            };
            let Some(node) = e.get("node").and_then(|n| cx.string(n, "node")) else {
                cx.error(
                    "warren::missing-key",
                    item.span,
                    "a wait-for entry needs `node`",
                    "no node",
                );
                continue;
            };
            // containerlab's default stage to wait for is `create`.
            let when = match e.get("stage") {
                Some(s) => match cx.choice(s, "stage", STAGES) {
                    Some(w) => w,
                    None => continue,
                },
                None => StartAfter::Started,
            };
            wait_for.push((node, when));
        }
    }
}

/// `healthcheck` (containerlab's, with seconds as numbers): the node's
/// `ready`, its test the probe, retried every `interval` for
/// `start-period` plus `interval` times `retries`, as Docker does.
fn healthcheck(cx: &mut Cx<'_>, v: &Node) -> Option<Ready> {
    let f = cx.fields(
        v,
        "healthcheck",
        &["test", "start-period", "interval", "timeout", "retries"],
    )?;
    let Some(test) = f.get("test") else {
        cx.error(
            "warren::missing-key",
            v.span,
            "a healthcheck needs `test`",
            "no test",
        );
        return None;
    };
    let words = match &test.value {
        // A string is run by a shell, as Docker runs it.
        Value::Scalar { text, .. } => vec!["CMD-SHELL".to_string(), text.clone()],
        _ => cx.strings(test, "healthcheck test")?,
    };
    let probe = match words.split_first() {
        Some((first, rest)) if first == "CMD" && !rest.is_empty() => Command::Argv(rest.to_vec()),
        Some((first, [cmd])) if first == "CMD-SHELL" => Command::Shell(cmd.clone()),
        _ => {
            cx.error(
                "warren::bad-value",
                test.span,
                "a healthcheck test is [CMD, ARG...] or [CMD-SHELL, COMMAND]",
                "invalid test",
            );
            return None;
        }
    };
    if let Some((_, span)) = f.keys().find(|(k, _)| *k == "timeout") {
        ignored(
            cx,
            span,
            "`healthcheck.timeout`",
            "warren runs each probe to its end",
        );
    }
    let secs = |cx: &mut Cx<'_>, key: &str, default: u64| {
        f.get(key)
            .and_then(|n| cx.uint(n, key, 0, 86_400))
            .unwrap_or(default)
    };
    // Docker's defaults: every 30 s, 3 retries, no start period.
    let interval = secs(cx, "interval", 30).max(1);
    let start = secs(cx, "start-period", 0);
    let retries = secs(cx, "retries", 3).max(1);
    const NS: u64 = 1_000_000_000;
    Some(Ready {
        exec: Some(probe),
        interval: Some(Duration(interval * NS)),
        timeout: Some(Duration((start + interval * retries) * NS)),
        ..Ready::default()
    })
}

/// A node's definition after inheritance.
#[derive(Debug, Clone)]
pub(super) struct Resolved {
    pub def: Def,
    /// Where the kind came from (the node's name when no level sets one).
    pub kind_span: Span,
}

/// The definitions a node inherits from, most specific first.
pub(super) struct Levels<'a> {
    pub defaults: &'a Def,
    pub kinds: &'a [(Spanned<String>, Def)],
    pub groups: &'a [(Spanned<String>, Def)],
}

impl Levels<'_> {
    fn kind(&self, name: &str) -> Option<&Def> {
        self.kinds
            .iter()
            .find(|(k, _)| k.value == name)
            .map(|(_, d)| d)
    }

    fn group(&self, name: &str) -> Option<&Def> {
        self.groups
            .iter()
            .find(|(k, _)| k.value == name)
            .map(|(_, d)| d)
    }

    /// Merges `own` with its group, kind and defaults the way containerlab
    /// does: a single value from the most specific level that sets it,
    /// lists joined from the least specific level on (without repeats),
    /// maps merged with the most specific level winning, and binds keyed
    /// by their target.
    pub fn resolve(&self, cx: &mut Cx<'_>, name: &Spanned<String>, own: &Def) -> Resolved {
        // The kind: the node's, its group's, then the defaults'.
        let own_group = own.group.as_ref().and_then(|g| {
            let found = self.group(&g.value);
            if found.is_none() {
                cx.error(
                    "warren::unknown-reference",
                    g.span,
                    format!("no group called `{}` under topology.groups", g.value),
                    "unknown group",
                );
            }
            found
        });
        let kind = own
            .kind
            .clone()
            .or_else(|| own_group.and_then(|g| g.kind.clone()))
            .or_else(|| self.defaults.kind.clone());
        // The group: the node's, its kind's, then the defaults'.
        let kind_def = kind.as_ref().and_then(|k| self.kind(&k.value));
        let group = own_group.or_else(|| {
            kind_def
                .and_then(|k| k.group.as_ref())
                .or(self.defaults.group.as_ref())
                .and_then(|g| self.group(&g.value))
        });
        let levels: Vec<&Def> = [Some(own), group, kind_def, Some(self.defaults)]
            .into_iter()
            .flatten()
            .collect();
        let first =
            |f: fn(&Def) -> &Option<Spanned<String>>| levels.iter().find_map(|d| f(d).clone());
        let mut def = Def {
            kind: kind.clone(),
            group: None,
            image: first(|d| &d.image),
            cmd: first(|d| &d.cmd),
            entrypoint: first(|d| &d.entrypoint),
            user: first(|d| &d.user),
            network_mode: first(|d| &d.network_mode),
            // Addresses are one node's own.
            mgmt_ipv4: own.mgmt_ipv4.clone(),
            mgmt_ipv6: own.mgmt_ipv6.clone(),
            ports: levels.iter().find_map(|d| d.ports.clone()),
            privileged: levels.iter().find_map(|d| d.privileged),
            startup_delay: levels.iter().find_map(|d| d.startup_delay),
            healthcheck: levels.iter().find_map(|d| d.healthcheck.clone()),
            ..Def::default()
        };
        for d in levels.iter().rev() {
            for c in &d.exec {
                if !def.exec.contains(c) {
                    def.exec.push(c.clone());
                }
            }
            for w in &d.wait_for {
                if !def.wait_for.iter().any(|o| o.0.value == w.0.value) {
                    def.wait_for.push(w.clone());
                }
            }
            for c in &d.cap_add {
                if !def.cap_add.contains(c) {
                    def.cap_add.push(c.clone());
                }
            }
            for f in &d.env_files {
                if !def.env_files.iter().any(|o| o.value == f.value) {
                    def.env_files.push(f.clone());
                }
            }
            for b in &d.binds {
                def.binds.retain(|o| o.target != b.target);
                def.binds.push(b.clone());
            }
            for (map, own) in [(&mut def.env, &d.env), (&mut def.sysctls, &d.sysctls)] {
                for (k, v) in own {
                    map.retain(|(o, _)| o != k);
                    map.push((k.clone(), v.clone()));
                }
            }
        }
        Resolved {
            kind_span: kind.as_ref().map_or(name.span, |k| k.span),
            def,
        }
    }
}

/// Splits `cmd` and `entrypoint` strings into words as a POSIX shell
/// would (quotes and backslashes), which is how containerlab passes them.
pub(super) fn words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = cur.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("an unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                let w = cur.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err("an unterminated double quote".into()),
                        },
                        Some(c) => w.push(c),
                        None => return Err("an unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                if let Some(c) = chars.next() {
                    cur.get_or_insert_with(String::new).push(c);
                }
            }
            c if c.is_whitespace() => {
                if let Some(w) = cur.take() {
                    out.push(w);
                }
            }
            c => cur.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(cur);
    Ok(out)
}
