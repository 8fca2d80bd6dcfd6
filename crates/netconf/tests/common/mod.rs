//! The models the renderer tests run over: every `network-configs/*.yaml`
//! a lab node built with `NetworkModel::from_lab`, and Equinix cases.

use std::path::{Path, PathBuf};

use warren_netconf::keys::{Feature, Support};
use warren_netconf::model::{Cidr, DhcpOverride, Dns, Interface, Kind, Route, RouteTo};
use warren_netconf::{
    HostNic, Input, LabInterface, NetworkModel, Renderer, equinix_model, parse_network_config,
};

/// The directory of the configs and golden files.
pub fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/network-configs")
}

/// `(name, model)` for every config, then the lab model.
pub fn models() -> Vec<(String, NetworkModel)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(configs_dir())
        .expect("network-configs dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    let mut out: Vec<(String, NetworkModel)> = paths
        .into_iter()
        .map(|p| {
            let name = p
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("name")
                .to_owned();
            let text = std::fs::read_to_string(&p).expect("read");
            let model = parse_network_config(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, model)
        })
        .collect();
    out.push(("lab-node".to_owned(), lab_model()));
    for case in [
        "01-debian11-mlag-bonded",
        "02-debian12-individual",
        "04-debian12-dhcp",
    ] {
        out.push((format!("equinix-{case}"), equinix(case)));
    }
    out
}

/// The model of one of the Equinix cases in `tests/cases`.
pub fn equinix(case: &str) -> NetworkModel {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases")
        .join(case);
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect("case file");
    let metadata: serde_json::Value =
        serde_json::from_str(&read("metadata.json")).expect("metadata");
    let nics: Vec<HostNic> = serde_json::from_str(&read("interfaces.json")).expect("nics");
    equinix_model(&Input {
        metadata: &metadata,
        operating_system: None,
        nics: &nics,
        resolvers: Some("147.75.207.207,147.75.207.208"),
        host_resolv_conf: None,
    })
    .expect("equinix model")
}

/// A lab node: one NIC known by MAC with two addresses and a route, one
/// by name only with an MTU, and a host-wide resolver.
pub fn lab_model() -> NetworkModel {
    let cidr = |s: &str| s.parse::<Cidr>().expect("cidr");
    NetworkModel::from_lab(
        &[
            LabInterface {
                name: "eth0".into(),
                mac: Some("02:00:00:00:00:01".into()),
                addresses: vec![cidr("10.0.0.2/24"), cidr("2001:db8:fd00::2/64")],
                routes: vec![Route {
                    to: RouteTo::Default,
                    via: Some("10.0.0.1".parse().expect("ip")),
                    ..Route::default()
                }],
                mtu: None,
            },
            LabInterface {
                name: "eth1".into(),
                mac: None,
                addresses: vec![cidr("10.1.0.2/24")],
                routes: vec![Route {
                    to: RouteTo::Net(cidr("10.2.0.0/16")),
                    via: Some("10.1.0.1".parse().expect("ip")),
                    metric: Some(10),
                    ..Route::default()
                }],
                mtu: Some(1400),
            },
        ],
        Dns {
            nameservers: vec!["10.0.0.53".parse().expect("ip")],
            search: vec!["lab.test".into()],
        },
    )
    .expect("lab model")
}

/// `model` minus every key `r` refuses (per the keys table): what that
/// renderer is tested on, so each renderer's consumers see every key it
/// supports. An InfiniBand port a renderer refuses goes altogether.
pub fn supported_part(model: &NetworkModel, r: Renderer) -> NetworkModel {
    let mut m = model.clone();
    let refused: Vec<Feature> = Feature::all()
        .into_iter()
        .filter(|f| matches!(f.support(r), Support::No(_)))
        .collect();
    m.interfaces
        .retain(|i| !(refused.contains(&Feature::Infiniband) && Feature::Infiniband.used_by(i)));
    for i in &mut m.interfaces {
        for f in &refused {
            if f.used_by(i) {
                strip(i, *f);
            }
        }
    }
    m
}

/// Removes feature `f` from `i`.
fn strip(i: &mut Interface, f: Feature) {
    match (f, &mut i.kind) {
        (Feature::MatchGlob | Feature::MatchDriver, Kind::Physical(p)) => {
            p.match_name = None;
            p.driver = None;
        }
        (Feature::InfinibandMac, Kind::Physical(p)) => {
            p.mac = None;
            p.set_name = None;
        }
        (Feature::Optional, _) => i.optional = false,
        (Feature::Critical, _) => i.critical = false,
        (Feature::LinkLocal, _) => i.link_local = None,
        (Feature::Ipv6Privacy, _) => i.ipv6_privacy = false,
        (Feature::Override(v6, o), _) => {
            let ov = if v6 {
                &mut i.dhcp6_overrides
            } else {
                &mut i.dhcp4_overrides
            };
            match o {
                DhcpOverride::UseDns => ov.use_dns = None,
                DhcpOverride::UseNtp => ov.use_ntp = None,
                DhcpOverride::SendHostname => ov.send_hostname = None,
                DhcpOverride::UseHostname => ov.use_hostname = None,
                DhcpOverride::UseMtu => ov.use_mtu = None,
                DhcpOverride::Hostname => ov.hostname = None,
                DhcpOverride::UseRoutes => ov.use_routes = None,
                DhcpOverride::RouteMetric => ov.route_metric = None,
                DhcpOverride::UseDomains => ov.use_domains = None,
            }
        }
        (Feature::RouteScope, _) => i.routes.iter_mut().for_each(|r| r.scope = None),
        (Feature::BondParam(o), Kind::Bond(b)) => {
            b.params.remove(&o);
        }
        (Feature::BridgeParam(o), Kind::Bridge(b)) => {
            b.params.remove(&o);
        }
        _ => {}
    }
}
