//! `warren netconf`, the pure part: from Equinix Metal metadata, the distro
//! and the host's NICs to the list of files to write into a root filesystem.
//!
//! This crate reads no files and touches no network: the caller hands in the
//! metadata document, the NICs and the host's resolv.conf text, and gets back
//! ordered [`Task`]s (or an [`Error`] naming the metadata key at fault). The
//! command side (flags, fetching, discovery, the rootfs writer) lives in the
//! `warren` binary. The behaviour mirrors Equinix Metal's packet-networking;
//! see docs/netconf.md.
//!
//! Beyond that drop-in, a [`NetworkModel`] (physical NICs, bonds, bridges,
//! VLANs, addresses, DHCP, SLAAC, routes, DNS) is built from a cloud-init
//! network config ([`parse_network_config`]), from Equinix metadata
//! ([`equinix_model`]) or from a lab node's interfaces
//! ([`NetworkModel::from_lab`]), and [`render`]ed by one of five
//! [`Renderer`]s (ifupdown, ifcfg, netplan, systemd-networkd,
//! NetworkManager) into tasks; what a renderer cannot express is an
//! [`Error::Unsupported`], decided for every cloud-init key by the table in
//! [`keys`]. [`nocloud`] gives the files of a cloud-init NoCloud seed for
//! a lab vm.
#![forbid(unsafe_code)]

mod context;
mod distro;
mod error;
mod hooks;
mod input;
pub mod keys;
mod metadata;
pub mod model;
mod nic;
pub mod nocloud;
mod os;
mod render;
mod resolvers;
mod task;

pub use error::Error;
pub use input::parse_network_config;
pub use model::{LabInterface, NetworkModel};
pub use nic::HostNic;
pub use os::OsOverride;
pub use render::{Renderer, render};
pub use task::{Action, Task};

use context::Context;
use metadata::Metadata;

/// Everything a plan is made from.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The metadata document (as served by the metadata service).
    pub metadata: &'a serde_json::Value,
    /// The `-o/--operating-system` value, if given.
    pub operating_system: Option<&'a str>,
    /// The host's network devices (software devices are skipped here).
    pub nics: &'a [HostNic],
    /// The `--resolvers`/`PACKET_RESOLVERS` value, if given.
    pub resolvers: Option<&'a str>,
    /// The host's resolv.conf text, the fallback source of resolvers.
    pub host_resolv_conf: Option<&'a str>,
}

/// Plans the files to write for this input, in write order.
///
/// Fails without side effects: [`Error::OperatingSystemArg`] for a bad `-o`,
/// [`Error::NoNetworkTasks`] when no network builder applies, and otherwise
/// an error naming the metadata key at fault.
pub fn plan(input: &Input<'_>) -> Result<Vec<Task>, Error> {
    let ctx = context(input)?;
    let family = distro::family_for(&ctx.osinfo.distro)
        .ok_or_else(|| Error::UnknownDistro(ctx.osinfo.distro.clone()))?;
    render::templates::tasks(family, &ctx)
}

/// Builds the network model from Equinix metadata (the same NIC matching,
/// bonds and address selection as [`plan`]), for the model renderers.
pub fn equinix_model(input: &Input<'_>) -> Result<NetworkModel, Error> {
    input::equinix::model(&context(input)?)
}

/// The template context of an input: `-o`, the metadata, the resolvers
/// (the override, else the host's resolv.conf) and the matched NICs.
fn context(input: &Input<'_>) -> Result<Context, Error> {
    let os = input
        .operating_system
        .map(OsOverride::parse)
        .transpose()?
        .unwrap_or_default();
    let md = Metadata::from_value(input.metadata)?;
    let resolvers = input
        .resolvers
        .and_then(resolvers::parse_override)
        .or_else(|| input.host_resolv_conf.and_then(resolvers::from_resolv_conf));
    Context::build(md, &os, input.nics, resolvers)
}

/// The distro strings that have a builder (lowercase), in table order.
pub fn supported_distros() -> impl Iterator<Item = &'static str> {
    distro::FAMILIES
        .iter()
        .flat_map(|f| f.distros.iter().copied())
}
