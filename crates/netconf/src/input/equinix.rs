//! Equinix Metal metadata into the model (same NIC matching, bonds and
//! address selection as the packet-networking builders).

use std::collections::BTreeMap;

use crate::Error;
use crate::context::{Context, NetworkBuilder};
use crate::metadata::AddressFields;
use crate::model::{
    Bond, BondOption, Cidr, Dns, Interface, Kind, NetworkModel, ParamValue, Physical, Route,
    RouteTo,
};

/// The model of the matched host: NICs by MAC under their host names, bonds
/// with the
/// packet-networking parameters, and the selected addresses on the primary
/// device (bond0, or the first NIC); with DHCP, every NIC runs DHCPv4.
pub(crate) fn model(ctx: &Context) -> Result<NetworkModel, Error> {
    let bonded = ctx.network_builder != Some(NetworkBuilder::Individual);
    let nics: Vec<_> = if bonded {
        ctx.interfaces.iter().collect()
    } else {
        vec![&ctx.iface0]
    };
    let mut model = NetworkModel {
        dns: Dns {
            nameservers: ctx
                .resolvers
                .iter()
                .flatten()
                .map(|r| {
                    r.parse().map_err(|_| {
                        Error::key("--resolvers", format!("{r:?} is not an IP address"))
                    })
                })
                .collect::<Result<_, _>>()?,
            search: Vec::new(),
        },
        ..NetworkModel::default()
    };
    for nic in &nics {
        // Pinned by MAC under the host's name, as packet-networking's udev
        // rules do.
        let physical = Physical {
            mac: Some(nic.mac.to_ascii_lowercase()),
            set_name: Some(nic.name.clone()),
            ..Physical::default()
        };
        let mut iface = Interface::new(&nic.name, Kind::Physical(physical));
        iface.dhcp4 = ctx.dhcp && !bonded;
        model.interfaces.push(iface);
    }
    if bonded {
        let members: BTreeMap<&str, Vec<String>> = nics
            .iter()
            .filter_map(|n| Some((n.bond.as_deref()?, n.name.clone())))
            .fold(BTreeMap::new(), |mut m, (b, n)| {
                m.entry(b).or_insert_with(Vec::new).push(n);
                m
            });
        for (bond, members) in members {
            let mut params = BTreeMap::from([
                (BondOption::MiiMon, ParamValue::Number(100)),
                (BondOption::UpDelay, ParamValue::Number(200)),
                (BondOption::DownDelay, ParamValue::Number(200)),
                (
                    BondOption::XmitHashPolicy,
                    ParamValue::Word("layer3+4".into()),
                ),
            ]);
            if let Some(mode) = &ctx.net.bonding.mode {
                let v = serde_json::Value::String(mode.clone());
                params.insert(
                    BondOption::Mode,
                    super::bond_value(BondOption::Mode, &v, "network.bonding.mode")?,
                );
            }
            if ctx.net.bonding.lacp {
                params.insert(BondOption::LacpRate, ParamValue::Word("fast".into()));
            }
            let mut iface = Interface::new(bond, Kind::Bond(Bond { members, params }));
            iface.dhcp4 = ctx.dhcp;
            // packet-networking gives bond0 the first NIC's MAC
            // (`hwaddress`, ifup-pre-local).
            if bond == "bond0" {
                iface.macaddress = nics.first().map(|n| n.mac.to_ascii_lowercase());
            }
            model.interfaces.push(iface);
        }
    }
    if !ctx.dhcp {
        let primary = model
            .interfaces
            .iter_mut()
            .find(|i| i.id == ctx.primary_dev)
            .ok_or_else(|| {
                Error::key(
                    "network.interfaces",
                    format!("no interface carries {}", ctx.primary_dev),
                )
            })?;
        let public4 = ctx.ip4pub.is_some();
        for (a, key) in [
            (&ctx.ip4pub, "ip4pub"),
            (&ctx.ip6pub, "ip6pub"),
            (&ctx.ip4priv, "ip4priv"),
        ] {
            let Some(a) = a else { continue };
            let (cidr, gw) = address(a, key)?;
            primary.addresses.push(cidr);
            let default = key != "ip4priv" || !public4;
            if default {
                primary.routes.push(Route {
                    to: RouteTo::Default,
                    via: Some(gw),
                    ..Route::default()
                });
            } else {
                for net in &ctx.private_subnets {
                    let to = net
                        .parse()
                        .map_err(|e: String| Error::key("private_subnets", e))?;
                    primary.routes.push(Route {
                        to: RouteTo::Net(to),
                        via: Some(gw),
                        ..Route::default()
                    });
                }
            }
        }
    }
    model.validate()?;
    Ok(model)
}

/// A selected address as a prefix and its gateway.
fn address(a: &AddressFields, key: &str) -> Result<(Cidr, std::net::IpAddr), Error> {
    let bad = |m: String| Error::key(format!("ip_addresses ({key})"), m);
    let prefix = match (a.cidr, &a.netmask) {
        (Some(c), _) => c.to_string(),
        (None, Some(m)) => m.clone(),
        (None, None) => return Err(bad("no cidr or netmask".into())),
    };
    let cidr = super::cidr(&a.address, Some(&prefix), key).map_err(|e| bad(e.to_string()))?;
    let gw = a
        .gateway
        .parse()
        .map_err(|_| bad(format!("gateway {:?} is not an IP address", a.gateway)))?;
    Ok((cidr, gw))
}
