//! Every model feature through every renderer: the rendered files of each
//! `tests/network-configs/*.yaml` are compared with
//! `tests/network-configs/out/<config>/<renderer>.txt` (the files, or the
//! error when the renderer cannot express the config), and likewise for
//! the lab model (`out/lab-node/`).
//! `WARREN_BLESS=1 cargo test -p warren-netconf --test renderers` rewrites them.

mod common;

use warren_netconf::{Renderer, Task, render};

/// The tasks as one text: each path, mode and content.
fn dump(tasks: &[Task]) -> String {
    tasks
        .iter()
        .map(|t| {
            format!(
                "==> {} ({})\n{}",
                t.path,
                t.mode
                    .map_or("default mode".to_owned(), |m| format!("{m:04o}")),
                t.content.as_deref().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn matrix_matches_golden_files() {
    let bless = std::env::var_os("WARREN_BLESS").is_some();
    let mut failures = Vec::new();
    for (stem, model) in common::models() {
        for r in Renderer::ALL {
            let got = match render(&model, r) {
                Ok(tasks) => dump(&tasks),
                Err(e) => format!("error: {e}\n"),
            };
            let golden = common::configs_dir().join(format!("out/{stem}/{}.txt", r.name()));
            if bless {
                std::fs::create_dir_all(golden.parent().expect("parent")).expect("mkdir");
                std::fs::write(&golden, &got).expect("write golden");
            } else if std::fs::read_to_string(&golden).ok().as_deref() != Some(got.as_str()) {
                failures.push(format!(
                    "{stem} × {r}: differs from {}\n{got}",
                    golden.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The configs together cover every model feature, so the matrix above
/// and the consumer tests exercise each one through every renderer.
#[test]
fn the_configs_cover_every_feature() {
    use warren_netconf::model::{BondOption, BridgeOption, Interface, Kind, RouteTo};

    let models = common::models();
    let ifaces: Vec<&Interface> = models.iter().flat_map(|(_, m)| &m.interfaces).collect();
    let any = |f: &dyn Fn(&Interface) -> bool| ifaces.iter().any(|i| f(i));
    let physical = |f: &dyn Fn(&warren_netconf::model::Physical) -> bool| {
        any(&|i| matches!(&i.kind, Kind::Physical(p) if f(p)))
    };
    let features: Vec<(&str, bool)> = vec![
        ("match by MAC", physical(&|p| p.mac.is_some())),
        ("match by name", physical(&|p| p.match_name.is_some())),
        ("match by driver", physical(&|p| p.driver.is_some())),
        ("set-name", physical(&|p| p.set_name.is_some())),
        ("wake-on-LAN", physical(&|p| p.wakeonlan)),
        ("MTU", any(&|i| i.mtu.is_some())),
        (
            "several IPv4 addresses",
            any(&|i| i.addresses.iter().filter(|a| a.is_v4()).count() > 1),
        ),
        (
            "several IPv6 addresses",
            any(&|i| i.addresses.iter().filter(|a| !a.is_v4()).count() > 1),
        ),
        ("DHCPv4", any(&|i| i.dhcp4)),
        ("DHCPv6", any(&|i| i.dhcp6)),
        ("SLAAC", any(&|i| i.accept_ra == Some(true) && !i.dhcp6)),
        ("RA refused", any(&|i| i.accept_ra == Some(false))),
        (
            "default routes",
            any(&|i| i.routes.iter().any(|r| r.to == RouteTo::Default)),
        ),
        (
            "route metric",
            any(&|i| i.routes.iter().any(|r| r.metric.is_some())),
        ),
        (
            "route table",
            any(&|i| i.routes.iter().any(|r| r.table.is_some())),
        ),
        (
            "on-link route",
            any(&|i| i.routes.iter().any(|r| r.via.is_none())),
        ),
        ("IPv6 route", any(&|i| i.routes.iter().any(|r| !r.is_v4()))),
        (
            "interface nameservers",
            any(&|i| !i.dns.nameservers.is_empty()),
        ),
        (
            "interface search domains",
            any(&|i| !i.dns.search.is_empty()),
        ),
        (
            "global nameservers",
            models.iter().any(|(_, m)| !m.dns.nameservers.is_empty()),
        ),
        (
            "global search domains",
            models.iter().any(|(_, m)| !m.dns.search.is_empty()),
        ),
        ("VLAN", any(&|i| matches!(i.kind, Kind::Vlan(_)))),
        (
            "bridge port priority",
            any(&|i| matches!(&i.kind, Kind::Bridge(b) if !b.port_priority.is_empty())),
        ),
        (
            "bridge path cost",
            any(&|i| matches!(&i.kind, Kind::Bridge(b) if !b.path_cost.is_empty())),
        ),
    ];
    let mut missing: Vec<String> = features
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| (*n).to_owned())
        .collect();
    for o in BondOption::ALL {
        if !any(&|i| matches!(&i.kind, Kind::Bond(b) if b.params.contains_key(o))) {
            missing.push(format!("bond {}", o.netplan_name()));
        }
    }
    for o in BridgeOption::ALL {
        if !any(&|i| matches!(&i.kind, Kind::Bridge(b) if b.params.contains_key(o))) {
            missing.push(format!("bridge {}", o.netplan_name()));
        }
    }
    assert!(missing.is_empty(), "no config covers: {missing:?}");
}
