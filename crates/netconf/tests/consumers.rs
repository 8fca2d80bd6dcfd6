//! The real consumers accept warren's output: `netplan generate` accepts
//! every netplan file and the networkd units it generates match warren's
//! own networkd output in meaning; `ifquery` parses every ENI file;
//! NetworkManager's keyfile format (GLib key files) holds for every keyfile.
//!
//! The tools come from Debian 12's netplan.io, ifupdown and python3-gi
//! (scripts/setup installs them); a missing tool fails the test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::models;
use warren_netconf::model::Control;
use warren_netconf::{NetworkModel, Renderer, Task, render};

/// The path of `cmd`, or a failure naming the Debian package to install.
fn need(cmd: &str, package: &str) -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin"])
        .map(|d| Path::new(d).join(cmd))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{cmd} is missing: install Debian's {package} (scripts/setup does)")
        })
}

/// Writes the tasks under `root` (what the CLI's writer does, minus its
/// symlink checks: the root is fresh).
fn write_tree(root: &Path, tasks: &[Task]) {
    for t in tasks {
        let p = root.join(&t.path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, t.content.as_deref().unwrap_or("")).expect("write");
        if let Some(mode) = t.mode {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        }
    }
}

/// Renders, or `None` when the renderer refuses a combination (the golden
/// files of tests/renderers.rs pin which). Each test runs over the part of
/// every model its renderer supports (every key the keys table lets
/// through), so every supported key reaches a real consumer.
fn try_render(model: &NetworkModel, r: Renderer) -> Option<Vec<Task>> {
    render(model, r).ok()
}

/// A networkd unit's meaning: its settings as `Section/Key=value`, with
/// repeatable sections (`[Route]`) kept whole, and netplan's own defaults
/// (settings not in the config) and spelling differences normalized.
fn unit_meaning(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut section = String::new();
    let mut block: Vec<String> = Vec::new();
    // `[Route]` sections repeat: each is kept whole.
    // netplan gives an IPv6 route without a gateway `Scope=link`, which
    // networkd ignores (and says so); warren leaves it out.
    let flush = |block: &mut Vec<String>, out: &mut BTreeSet<String>| {
        let v6 = block
            .iter()
            .any(|kv| kv.starts_with("Destination=") && kv.contains(':'));
        if v6 {
            block.retain(|kv| kv != "Scope=link");
        }
        if !block.is_empty() {
            block.sort();
            out.insert(format!("Route{{{}}}", block.join(",")));
        }
        block.clear();
    };
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            flush(&mut block, &mut out);
            section = s.to_owned();
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let k = if k == "PermanentMACAddress" {
            "MACAddress"
        } else {
            k
        };
        // netplan spells keep-configuration with the deprecated
        // `[DHCP] CriticalConnection=`, which networkd reads as
        // `KeepConfiguration=yes`; it writes the DHCP overrides into the
        // common `[DHCP]` section (equal for both clients), warren into
        // `[DHCPv4]` and `[DHCPv6]`.
        let (sec, k) = if section == "DHCP" && k == "CriticalConnection" {
            ("Network", "KeepConfiguration")
        } else if section.starts_with("DHCP") {
            ("DHCP", k)
        } else {
            (section.as_str(), k)
        };
        // systemd booleans: 1/true/yes and 0/false/no are the same.
        let boolean = matches!(
            k,
            "AllSlavesActive" | "STP" | "PrimarySlave" | "IPv6AcceptRA"
        );
        let v = match v {
            "true" => "yes",
            "false" => "no",
            "1" if boolean => "yes",
            "0" if boolean => "no",
            v => v,
        };
        let netplan_default = matches!(
            (sec, k, v),
            ("Network", "LinkLocalAddressing", "ipv6")
                | ("Network", "ConfigureWithoutCarrier", _)
                | ("Link", "WakeOnLan", "off")
                | ("Bond", "AllSlavesActive", "no")
                | ("DHCP", "RouteMetric", "100")
                | ("DHCP", "UseMTU" | "SendHostname", "yes")
        );
        if netplan_default {
            continue;
        }
        if sec == "Route" {
            block.push(format!("{k}={v}"));
        } else {
            out.insert(format!("{sec}/{k}={v}"));
        }
    }
    flush(&mut block, &mut out);
    out
}

/// The units under `dir` by interface id (the file name after `prefix`).
fn units(dir: &Path, prefix: &str) -> BTreeMap<String, BTreeSet<String>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .map(|e| e.expect("entry").path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.strip_prefix(prefix)?.to_owned();
            let meaning = unit_meaning(&std::fs::read_to_string(&p).ok()?);
            // A .network/.link with nothing left but [Match] says nothing.
            let says_something = meaning.iter().any(|l| !l.starts_with("Match/"));
            says_something.then_some((name, meaning))
        })
        .collect()
}

#[test]
fn netplan_generate_accepts_netplan_output_and_matches_networkd_output() {
    let netplan = need("netplan", "netplan.io");
    let mut failures = Vec::new();
    let mut validated = 0;
    for (name, model) in models() {
        // What both express, so the two outputs can be compared.
        let model = common::supported_part(
            &common::supported_part(&model, Renderer::Netplan),
            Renderer::Networkd,
        );
        let Some(tasks) = try_render(&model, Renderer::Netplan) else {
            continue;
        };
        let root = tempfile::tempdir().expect("tempdir");
        write_tree(root.path(), &tasks);
        let out = Command::new(&netplan)
            .arg("generate")
            .arg("--root-dir")
            .arg(root.path())
            .output()
            .expect("run netplan");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || !stderr.trim().is_empty() {
            failures.push(format!(
                "{name}: netplan generate: {}\n{stderr}",
                out.status
            ));
            continue;
        }
        validated += 1;
        let Some(ours) = try_render(&model, Renderer::Networkd) else {
            failures.push(format!(
                "{name}: netplan renders it but networkd refuses it"
            ));
            continue;
        };
        let ours_root = tempfile::tempdir().expect("tempdir");
        write_tree(ours_root.path(), &ours);
        let mut theirs = units(&root.path().join("run/systemd/network"), "10-netplan-");
        let mine = units(
            &ours_root.path().join("etc/systemd/network"),
            "10-cloud-init-",
        );
        // netplan always writes link-local addressing (off on members);
        // it is compared where the config sets it, i.e. warren writes it.
        for (file, set) in &mut theirs {
            let ours_has = mine.get(file).is_some_and(|m| {
                m.iter()
                    .any(|l| l.starts_with("Network/LinkLocalAddressing="))
            });
            if !ours_has {
                set.retain(|l| !l.starts_with("Network/LinkLocalAddressing="));
            }
        }
        for file in theirs.keys().chain(mine.keys()).collect::<BTreeSet<_>>() {
            let (a, b) = (theirs.get(file), mine.get(file));
            if a != b {
                let empty = BTreeSet::new();
                let (a, b) = (a.unwrap_or(&empty), b.unwrap_or(&empty));
                failures.push(format!(
                    "{name}: {file}: netplan only {:?}; warren only {:?}",
                    a.difference(b).collect::<Vec<_>>(),
                    b.difference(a).collect::<Vec<_>>()
                ));
            }
        }
    }
    assert!(validated > 0, "no netplan output was validated");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn ifquery_parses_every_eni_output() {
    let ifquery = need("ifquery", "ifupdown");
    let mut failures = Vec::new();
    let mut validated = 0;
    for (name, model) in models() {
        let model = common::supported_part(&model, Renderer::Eni);
        let Some(tasks) = try_render(&model, Renderer::Eni) else {
            continue;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        write_tree(dir.path(), &tasks);
        let file = dir.path().join("etc/network/interfaces.d/50-cloud-init");
        let query = |args: &[&str]| {
            let out = Command::new(&ifquery)
                .arg("--interfaces")
                .arg(&file)
                .arg("--state-dir")
                .arg(dir.path())
                .args(args)
                .output()
                .expect("run ifquery");
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            (
                out.status.success() && stderr.trim().is_empty(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr,
            )
        };
        let (ok, listed, stderr) = query(&["--list", "--all"]);
        if !ok {
            failures.push(format!("{name}: ifquery --list: {stderr}"));
            continue;
        }
        let listed: Vec<&str> = listed.lines().collect();
        let mut expected = vec!["lo"];
        expected.extend(
            model
                .interfaces
                .iter()
                .filter(|i| i.control == Control::Auto)
                .filter_map(|i| i.device_name()),
        );
        if listed.iter().collect::<BTreeSet<_>>() != expected.iter().collect::<BTreeSet<_>>() {
            failures.push(format!(
                "{name}: ifquery lists {listed:?}, the model has {expected:?}"
            ));
        }
        let (_, hotplug, _) = query(&["--list", "--allow", "hotplug"]);
        let hotplug: BTreeSet<&str> = hotplug.lines().collect();
        let expected: BTreeSet<&str> = model
            .interfaces
            .iter()
            .filter(|i| i.control == Control::Hotplug)
            .filter_map(|i| i.device_name())
            .collect();
        if hotplug != expected {
            failures.push(format!(
                "{name}: ifquery lists {hotplug:?} as hotplug, the model has {expected:?}"
            ));
        }
        for iface in &model.interfaces {
            let dev = iface
                .device_name()
                .expect("eni rendered it, so it has a name");
            let (ok, shown, stderr) = query(&[dev]);
            if !ok {
                failures.push(format!("{name}: ifquery {dev}: {stderr}"));
                continue;
            }
            for a in &iface.addresses {
                if !shown.lines().any(|l| l == format!("address: {}", a.addr)) {
                    failures.push(format!(
                        "{name}: ifquery {dev} does not show address {a}:\n{shown}"
                    ));
                }
            }
            if let Some(mtu) = iface.mtu
                && !shown.lines().any(|l| l == format!("mtu: {mtu}"))
            {
                failures.push(format!("{name}: ifquery {dev} does not show mtu {mtu}"));
            }
        }
        validated += 1;
    }
    assert!(validated > 0, "no ENI output was validated");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A keyfile's settings as `section/key=value` (comments and blanks
/// dropped).
fn keyfile_settings(text: &str) -> BTreeSet<String> {
    let mut section = String::new();
    let mut out = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_owned();
        } else if let Some((k, v)) = line.split_once('=') {
            out.insert(format!("{section}/{k}={v}"));
        }
    }
    out
}

/// Settings at NetworkManager's default value, which its keyfile writer
/// leaves out.
const NM_DEFAULTS: &[&str] = &[
    "ipv4/dhcp-send-hostname=true",
    "ipv6/dhcp-send-hostname=true",
    "bridge/stp=true",
    "bridge/priority=32768",
    "bridge/forward-delay=15",
    "bridge/hello-time=2",
    "bridge/max-age=20",
    "bridge/ageing-time=300",
    "bridge-port/priority=32",
    "bridge-port/path-cost=100",
];

#[test]
fn nmcli_offline_loads_every_keyfile_unchanged() {
    // Debian 12's nmcli (1.42) has --offline: `connection modify` reads a
    // keyfile on stdin, verifies the connection as the daemon would and
    // prints it back. A no-op modification (the same id) must succeed and
    // every setting warren wrote must come back (NM drops keys it does not
    // know, so a misspelt key shows up as missing).
    let nmcli = need("nmcli", "network-manager");
    let mut failures = Vec::new();
    let mut validated = 0;
    for (name, model) in models() {
        let model = common::supported_part(&model, Renderer::NetworkManager);
        let Some(tasks) = try_render(&model, Renderer::NetworkManager) else {
            continue;
        };
        for t in tasks.iter().filter(|t| t.path.ends_with(".nmconnection")) {
            let text = t.content.as_deref().unwrap_or("");
            let ours = keyfile_settings(text);
            let id = ours
                .iter()
                .find_map(|l| l.strip_prefix("connection/id="))
                .expect("keyfile has an id")
                .to_owned();
            let mut child = Command::new(&nmcli)
                .args(["--offline", "connection", "modify", "connection.id", &id])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("run nmcli");
            std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), text.as_bytes())
                .expect("feed nmcli");
            let out = child.wait_with_output().expect("nmcli output");
            if !out.status.success() {
                failures.push(format!(
                    "{name}: {}: nmcli: {}",
                    t.path,
                    String::from_utf8_lossy(&out.stderr)
                ));
                continue;
            }
            let back = keyfile_settings(&String::from_utf8_lossy(&out.stdout));
            // nmcli folds `gateway=` into `address1=ADDR,GW`.
            let gateways: Vec<(String, String)> = ours
                .iter()
                .filter_map(|l| {
                    let (sec, gw) = l.split_once("/gateway=")?;
                    Some((sec.to_owned(), gw.to_owned()))
                })
                .collect();
            for l in &ours {
                if NM_DEFAULTS.contains(&l.as_str()) {
                    // nmcli leaves out settings at their default value.
                    continue;
                }
                let folded = gateways.iter().any(|(sec, gw)| {
                    l.starts_with(&format!("{sec}/gateway="))
                        || (l.starts_with(&format!("{sec}/address1="))
                            && back.contains(&format!("{l},{gw}")))
                });
                if !back.contains(l) && !folded {
                    failures.push(format!("{name}: {}: nmcli dropped or changed {l}", t.path));
                }
            }
            validated += 1;
        }
    }
    assert!(validated > 0, "no keyfile was validated");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The ifcfg keys warren may write (initscripts' sysconfig.txt and
/// NetworkManager's ifcfg-rh), numbered keys by their stem.
const IFCFG_KEYS: &[&str] = &[
    "DEVICE",
    "TYPE",
    "HWADDR",
    "ETHTOOL_OPTS",
    "BONDING_MASTER",
    "BONDING_OPTS",
    "STP",
    "DELAY",
    "BRIDGING_OPTS",
    "VLAN",
    "PHYSDEV",
    "VLAN_ID",
    "ONBOOT",
    "MASTER",
    "SLAVE",
    "BRIDGE",
    "BOOTPROTO",
    "IPADDR",
    "PREFIX",
    "GATEWAY",
    "IPV6INIT",
    "IPV6ADDR",
    "IPV6ADDR_SECONDARIES",
    "IPV6_DEFAULTGW",
    "IPV6_AUTOCONF",
    "DHCPV6C",
    "MTU",
    "DNS",
    "DOMAIN",
    "MACADDR",
    "PEERDNS",
    "PEERROUTES",
    "DHCP_HOSTNAME",
    "DHCP_SEND_HOSTNAME",
    "IPV4_ROUTE_METRIC",
    "IPV6_PRIVACY",
];

#[test]
fn ifcfg_files_source_cleanly_in_bash() {
    // Debian 12 packages neither initscripts nor NetworkManager's ifcfg-rh
    // plugin, so the files are read the way initscripts reads them: sourced
    // by bash. Sourcing must be silent, every variable must be a known
    // ifcfg key, DEVICE must match the file name and the addresses must
    // come back as the model has them.
    let bash = need("bash", "bash");
    let mut failures = Vec::new();
    let mut validated = 0;
    for (name, model) in models() {
        let model = common::supported_part(&model, Renderer::Sysconfig);
        let Some(tasks) = try_render(&model, Renderer::Sysconfig) else {
            continue;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        write_tree(dir.path(), &tasks);
        for t in tasks.iter().filter(|t| t.path.contains("/ifcfg-")) {
            let dev = t.path.rsplit_once("/ifcfg-").expect("ifcfg path").1;
            let out = Command::new(&bash)
                .env_clear()
                .arg("-c")
                .arg("set -eu; . \"$1\"; set -o posix; set")
                .arg("bash")
                .arg(dir.path().join(&t.path))
                .output()
                .expect("run bash");
            if !out.status.success() || !out.stderr.is_empty() {
                failures.push(format!(
                    "{name}: {}: {}",
                    t.path,
                    String::from_utf8_lossy(&out.stderr)
                ));
                continue;
            }
            let written: Vec<(String, String)> = t
                .content
                .as_deref()
                .unwrap_or("")
                .lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| {
                    l.split_once('=')
                        .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
                })
                .collect();
            let vars: BTreeMap<String, String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| {
                    l.split_once('=')
                        .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
                })
                .collect();
            for (k, v) in &written {
                let stem = k.trim_end_matches(|c: char| c.is_ascii_digit());
                if !IFCFG_KEYS.contains(&stem) {
                    failures.push(format!("{name}: {}: unknown ifcfg key {k}", t.path));
                }
                if vars.get(k) != Some(v) {
                    failures.push(format!(
                        "{name}: {}: bash reads {k} as {:?}, not {v:?}",
                        t.path,
                        vars.get(k)
                    ));
                }
            }
            if vars.get("DEVICE").map(String::as_str) != Some(dev) {
                failures.push(format!("{name}: {}: DEVICE is not {dev}", t.path));
            }
            let iface = model
                .interfaces
                .iter()
                .find(|i| i.device_name() == Some(dev))
                .expect("interface of file");
            let mut v4 = iface.addresses.iter().filter(|a| a.is_v4());
            for n in 0.. {
                let suffix = if n == 0 { String::new() } else { n.to_string() };
                match (
                    vars.get(&format!("IPADDR{suffix}")),
                    vars.get(&format!("PREFIX{suffix}")),
                    v4.next(),
                ) {
                    (None, None, None) => break,
                    (Some(a), Some(p), Some(want))
                        if *a == want.addr.to_string() && *p == want.prefix.to_string() => {}
                    other => {
                        failures.push(format!(
                            "{name}: {}: IPADDR{suffix}/PREFIX{suffix} {other:?}",
                            t.path
                        ));
                        break;
                    }
                }
            }
            validated += 1;
        }
    }
    assert!(validated > 0, "no ifcfg file was validated");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What one networkd run logged, and the .link files it was given.
type NetworkdRun = (String, Vec<String>);

#[test]
fn networkd_parses_every_unit_without_a_complaint() {
    // systemd-networkd's own parser (and udev's, for the .link files): the
    // daemon is started on the units in
    // a throwaway mount and network namespace (`unshare`; a tmpfs over /run
    // hides the host's D-Bus and journal, so it touches nothing outside),
    // logs every key it does not know or cannot parse as
    // `FILE:LINE: ...`, and is stopped by `timeout` after it has loaded
    // them.
    let networkd = Path::new("/lib/systemd/systemd-networkd");
    assert!(
        networkd.is_file(),
        "{} is missing: install Debian's systemd",
        networkd.display()
    );
    let unshare = need("unshare", "util-linux");
    let timeout = need("timeout", "coreutils");
    let models: Vec<(String, NetworkModel)> = models()
        .into_iter()
        .map(|(n, m)| (n, common::supported_part(&m, Renderer::Networkd)))
        .collect();
    // One networkd per model, all at once (each waits out its timeout).
    let results: Vec<(String, Option<NetworkdRun>)> = std::thread::scope(|s| {
        let handles: Vec<_> = models
            .iter()
            .map(|(name, model)| {
                let (unshare, timeout) = (&unshare, &timeout);
                let log = s.spawn(move || {
                    let tasks = try_render(model, Renderer::Networkd)?;
                    let dir = tempfile::tempdir().expect("tempdir");
                    write_tree(dir.path(), &tasks);
                    let units = dir.path().join("etc/systemd/network");
                    // udev parses the .link files (net_setup_link, on the
                    // namespace's own lo), networkd the rest.
                    let script = format!(
                        "mount -t tmpfs tmpfs /run && mount --bind '{}' /etc/systemd/network && mount -t sysfs sysfs /sys && udevadm test-builtin net_setup_link /sys/class/net/lo; exec '{}' 3 {}",
                        units.display(),
                        timeout.display(),
                        networkd.display()
                    );
                    let out = Command::new(unshare)
                        .args(["--mount", "--net", "--fork", "sh", "-c", &script])
                        .env("SYSTEMD_LOG_TARGET", "console")
                        .env("SYSTEMD_LOG_LEVEL", "debug")
                        .output()
                        .expect("run networkd");
                    let links = tasks
                        .iter()
                        .filter(|t| t.path.ends_with(".link"))
                        .map(|t| t.path.rsplit('/').next().unwrap_or_default().to_owned())
                        .collect();
                    Some((String::from_utf8_lossy(&out.stderr).into_owned(), links))
                });
                (name.clone(), log)
            })
            .collect();
        handles
            .into_iter()
            .map(|(name, h)| (name, h.join().expect("thread")))
            .collect()
    });
    let mut failures = Vec::new();
    let mut validated = 0;
    for (name, log) in results {
        let Some((log, links)) = log else { continue };
        for link in links {
            let parsed = format!("Parsed configuration file \"/etc/systemd/network/{link}\"");
            if !log.contains(&parsed) {
                failures.push(format!("{name}: udev did not load {link}"));
            }
        }
        // It got as far as reading the units.
        if !log.contains("Enumeration completed") {
            failures.push(format!("{name}: networkd did not start:\n{log}"));
            continue;
        }
        for line in log
            .lines()
            .filter(|l| l.starts_with("/etc/systemd/network/"))
        {
            failures.push(format!("{name}: {line}"));
        }
        validated += 1;
    }
    assert!(validated > 5, "only {validated} models validated");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn cloud_init_reads_every_network_config_warren_puts_on_a_seed() {
    // Debian's cloud-init parses each model's NoCloud network-config (v2)
    // and renders it again (`cloud-init devel net-convert`): it must accept
    // it, and its networkd output must carry every static address.
    let cloud_init = need("cloud-init", "cloud-init");
    let mut failures = Vec::new();
    let mut validated = 0;
    for (name, model) in models() {
        let model = common::supported_part(&model, Renderer::Netplan);
        let Ok(files) = warren_netconf::nocloud::files(&warren_netconf::nocloud::Seed {
            instance_id: "i",
            hostname: "h",
            network: Some(&model),
            user_data: None,
        }) else {
            continue;
        };
        let (_, config) = files
            .iter()
            .find(|(n, _)| *n == "network-config")
            .expect("network-config");
        let dir = tempfile::tempdir().expect("tempdir");
        let input = dir.path().join("network-config");
        std::fs::write(&input, config).expect("write");
        let out = Command::new(&cloud_init)
            .args([
                "devel",
                "net-convert",
                "-k",
                "yaml",
                "-D",
                "debian",
                "-O",
                "networkd",
                "-p",
            ])
            .arg(&input)
            .arg("-d")
            .arg(dir.path().join("out"))
            .output()
            .expect("run cloud-init");
        if !out.status.success() {
            failures.push(format!(
                "{name}: cloud-init net-convert: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
            continue;
        }
        let units: String = std::fs::read_dir(dir.path().join("out/etc/systemd/network"))
            .map(|d| {
                d.flatten()
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .collect()
            })
            .unwrap_or_default();
        for i in &model.interfaces {
            for a in &i.addresses {
                if !units.lines().any(|l| l.trim() == format!("Address={a}")) {
                    failures.push(format!("{name}: cloud-init lost {} address {a}", i.id));
                }
            }
        }
        validated += 1;
    }
    assert!(validated > 5, "only {validated} configs validated");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The bond parameters cloud-init cannot read are refused by name.
    let bond = models()
        .into_iter()
        .find(|(n, _)| n == "v2-bond")
        .expect("v2-bond")
        .1;
    let err = warren_netconf::nocloud::files(&warren_netconf::nocloud::Seed {
        instance_id: "i",
        hostname: "h",
        network: Some(&bond),
        user_data: None,
    })
    .expect_err("v2-bond has arp-ip-targets");
    assert!(
        err.to_string().contains("cannot go on a NoCloud seed"),
        "{err}"
    );
}
