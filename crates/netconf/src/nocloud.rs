//! The files of a cloud-init NoCloud seed (`meta-data`, `user-data`,
//! `network-config`), as a cloud image reads them from a volume labelled
//! `cidata` at its first boot. Writing the volume is the caller's (a vfat
//! or ISO 9660 image, see warren-runtime).

use crate::model::{BondOption, Kind};
use crate::render::netplan;
use crate::{Error, NetworkModel};

/// Bond parameters cloud-init's v2 reader does not map (a `KeyError`):
/// `arp-ip-targets` in every version (it expects `arp-ip-target`), the
/// other two in Debian 12's 22.4.
const UNREAD_BY_CLOUD_INIT: &[BondOption] = &[
    BondOption::ArpIpTarget,
    BondOption::AllSlavesActive,
    BondOption::LpInterval,
];

/// The volume label cloud-init's NoCloud data source looks for.
pub const LABEL: &str = "cidata";

/// What goes on the seed.
#[derive(Debug, Clone, Copy)]
pub struct Seed<'a> {
    /// `instance-id`: cloud-init runs its once-per-instance modules again
    /// when it changes.
    pub instance_id: &'a str,
    /// `local-hostname`.
    pub hostname: &'a str,
    /// The network configuration, written as `network-config` (v2); `None`
    /// leaves the file out (cloud-init then falls back to DHCP on the first
    /// NIC).
    pub network: Option<&'a NetworkModel>,
    /// The `user-data` as given; `None` writes an empty `#cloud-config`.
    pub user_data: Option<&'a str>,
}

/// The seed's files, `(name, content)`, in a fixed order.
pub fn files(seed: &Seed<'_>) -> Result<Vec<(&'static str, String)>, Error> {
    for (key, v) in [
        ("instance-id", seed.instance_id),
        ("local-hostname", seed.hostname),
    ] {
        // Written as a plain YAML scalar.
        if v.is_empty()
            || !v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        {
            return Err(Error::model(v, format!("is not a usable {key}")));
        }
    }
    let mut out = vec![
        (
            "meta-data",
            format!(
                "instance-id: {}\nlocal-hostname: {}\n",
                seed.instance_id, seed.hostname
            ),
        ),
        (
            "user-data",
            seed.user_data
                .map_or_else(|| "#cloud-config\n{}\n".to_owned(), str::to_owned),
        ),
    ];
    if let Some(model) = seed.network {
        model.validate()?;
        crate::keys::check(model, crate::Renderer::Netplan)?;
        for i in &model.interfaces {
            if let Kind::Bond(b) = &i.kind
                && let Some(o) = b.params.keys().find(|o| UNREAD_BY_CLOUD_INIT.contains(o))
            {
                return Err(Error::model(
                    &i.id,
                    format!(
                        "bond parameter {} cannot go on a NoCloud seed: cloud-init's v2 reader fails on it",
                        o.netplan_name()
                    ),
                ));
            }
        }
        out.push(("network-config", netplan::document(model, false)?));
    }
    Ok(out)
}
