//! The template context: matched NICs, bonds, selected addresses, OS info.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::metadata::{AddressFields, Metadata};
use crate::{Error, HostNic, OsOverride, hooks};

/// Which network builder applies, from `network.bonding.link_aggregation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum NetworkBuilder {
    /// `bonded`, `mlag_ha` (or missing): NICs enslaved to bonds.
    Bonded,
    /// `individual`: the first NIC carries the addresses.
    Individual,
}

impl NetworkBuilder {
    fn for_aggregation(link_aggregation: &str) -> Option<Self> {
        match link_aggregation {
            "bonded" | "mlag_ha" => Some(Self::Bonded),
            "individual" => Some(Self::Individual),
            _ => None,
        }
    }
}

/// A metadata interface matched to a host NIC.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Nic {
    /// The name the OS gives it (udev predictable name).
    pub name: String,
    /// The name in the metadata (`eth0`…), used by Alpine.
    pub meta_name: String,
    /// The host's MAC address.
    pub mac: String,
    pub driver: Option<String>,
    pub bond: Option<String>,
    pub dhcp: bool,
    pub names: Names,
}

/// Alternative names of a NIC.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Names {
    /// The kernel name.
    pub logical: String,
}

/// A host NIC that no metadata interface matched.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OtherNic {
    pub name: String,
    pub mac: String,
}

/// Distro information as the templates see it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OsInfo {
    /// As given (case kept); lowercased only to pick the builder.
    pub distro: String,
    pub version: Option<String>,
    /// Always the metadata's slug: `-o` never changes it.
    pub slug: Option<String>,
}

/// `net.bonding` in the templates.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Net {
    pub bonding: BondingCtx,
}

/// `net.bonding` fields.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BondingCtx {
    pub mode: Option<String>,
    pub lacp: bool,
    pub link_aggregation: String,
}

/// Everything a template can refer to.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Context {
    pub hostname: String,
    pub interfaces: Vec<Nic>,
    pub iface0: Nic,
    pub bonds: BTreeMap<String, Vec<Nic>>,
    pub ip4pub: Option<AddressFields>,
    pub ip6pub: Option<AddressFields>,
    pub ip4priv: Option<AddressFields>,
    pub net: Net,
    pub osinfo: OsInfo,
    pub private_subnets: Vec<String>,
    pub resolvers: Option<Vec<String>>,
    /// Whether any interface asks for DHCP.
    pub dhcp: bool,
    pub network_builder: Option<NetworkBuilder>,
    /// The device carrying the primary address: bond0, or the first NIC.
    pub primary_dev: String,
    pub other_nics: Vec<OtherNic>,
}

impl Context {
    /// Matches the metadata against the host and selects what the templates use.
    pub fn build(
        md: Metadata,
        os: &OsOverride,
        host_nics: &[HostNic],
        resolvers: Option<Vec<String>>,
    ) -> Result<Self, Error> {
        let candidates: Vec<&HostNic> = host_nics.iter().filter(|n| n.is_candidate()).collect();
        let mut interfaces: Vec<Nic> = md
            .interfaces
            .iter()
            .filter_map(|mi| {
                let host = candidates
                    .iter()
                    .find(|h| h.mac.eq_ignore_ascii_case(&mi.mac))?;
                Some(Nic {
                    name: host.name().to_owned(),
                    meta_name: mi.name.clone(),
                    mac: host.mac.clone(),
                    driver: host.driver.clone(),
                    bond: mi.bond.clone(),
                    dhcp: mi.dhcp,
                    names: Names {
                        logical: host.logicalname.clone(),
                    },
                })
            })
            .collect();
        if interfaces.is_empty() {
            return Err(Error::key(
                "network.interfaces",
                "no interface matches a host NIC by MAC address",
            ));
        }
        hooks::use_logical_names(md.plan.as_deref(), &mut interfaces);
        let mut bonds: BTreeMap<String, Vec<Nic>> = BTreeMap::new();
        for nic in &interfaces {
            if let Some(bond) = &nic.bond {
                bonds.entry(bond.clone()).or_default().push(nic.clone());
            }
        }
        hooks::keep_single_interface(md.plan.as_deref(), &mut interfaces);
        let iface0 = interfaces[0].clone();

        let other_nics = candidates
            .iter()
            .filter(|h| {
                !interfaces
                    .iter()
                    .any(|n| n.mac.eq_ignore_ascii_case(&h.mac))
            })
            .map(|h| OtherNic {
                name: h.name().to_owned(),
                mac: h.mac.clone(),
            })
            .collect();

        let select = |family: i64, public: bool| {
            md.addresses
                .iter()
                .find(|a| a.management && a.public == public && a.family == Some(family))
                .map(|a| a.fields())
                .transpose()
        };
        let network_builder = NetworkBuilder::for_aggregation(&md.bonding.link_aggregation);
        let distro = os
            .distro
            .clone()
            .or(md.distro)
            .ok_or_else(|| Error::key("operating_system.distro", "missing"))?;
        Ok(Self {
            hostname: md.hostname,
            dhcp: interfaces.iter().any(|n| n.dhcp),
            primary_dev: match network_builder {
                Some(NetworkBuilder::Individual) => iface0.name.clone(),
                _ => "bond0".to_owned(),
            },
            iface0,
            interfaces,
            bonds,
            ip4pub: select(4, true)?,
            ip6pub: select(6, true)?,
            ip4priv: select(4, false)?,
            net: Net {
                bonding: BondingCtx {
                    mode: md.bonding.mode,
                    lacp: md.bonding.lacp,
                    link_aggregation: md.bonding.link_aggregation,
                },
            },
            osinfo: OsInfo {
                distro,
                version: os.version.clone().or(md.version),
                slug: md.slug,
            },
            private_subnets: md.private_subnets,
            resolvers,
            network_builder,
            other_nics,
        })
    }
}
