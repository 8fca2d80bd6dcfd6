//! The files of a cloud-init NoCloud seed (`meta-data`, `user-data`,
//! `network-config`), as a cloud image reads them from a volume labelled
//! `cidata` at its first boot. Writing the volume is the caller's (a vfat
//! or ISO 9660 image, see warren-runtime).

use crate::render::netplan;
use crate::{Error, NetworkModel};

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
        out.push(("network-config", netplan::document(model, false)?));
    }
    Ok(out)
}
