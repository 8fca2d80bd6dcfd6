//! Renderers: the packet-networking templates ([`templates`]) and the five
//! model renderers, one module each.

mod eni;
pub(crate) mod netplan;
mod networkd;
mod nm;
mod sysconfig;
pub(crate) mod templates;

use std::fmt::{self, Write as _};
use std::str::FromStr;

use crate::model::{Interface, Kind, NetworkModel, Route, RouteTo};
use crate::{Action, Error, Task};

/// The first line of every file a model renderer writes (`#` comments are
/// valid in all five formats).
pub(crate) const HEADER: &str =
    "# Written by warren netconf. Running warren netconf again replaces it.\n";

/// An output format for the [`NetworkModel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Renderer {
    /// Debian ifupdown: `etc/network/interfaces.d/50-cloud-init`.
    Eni,
    /// RHEL initscripts: `etc/sysconfig/network-scripts/ifcfg-*`.
    Sysconfig,
    /// netplan: `etc/netplan/50-cloud-init.yaml`.
    Netplan,
    /// systemd-networkd: `etc/systemd/network/10-cloud-init-*.{network,netdev,link}`.
    Networkd,
    /// NetworkManager keyfiles: `etc/NetworkManager/system-connections/cloud-init-*.nmconnection`.
    NetworkManager,
}

impl Renderer {
    /// Every renderer.
    pub const ALL: [Renderer; 5] = [
        Renderer::Eni,
        Renderer::Sysconfig,
        Renderer::Netplan,
        Renderer::Networkd,
        Renderer::NetworkManager,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Renderer::Eni => "eni",
            Renderer::Sysconfig => "sysconfig",
            Renderer::Netplan => "netplan",
            Renderer::Networkd => "networkd",
            Renderer::NetworkManager => "network-manager",
        }
    }

    /// The renderer a distro uses by default (`--renderer auto`): netplan on
    /// Ubuntu 17.10 and later, ifupdown on older Ubuntu, Debian and Alpine,
    /// NetworkManager on RHEL-likes from 9 and Fedora, ifcfg on older
    /// RHEL-likes, networkd on Arch, Flatcar and Container Linux.
    pub fn for_distro(distro: &str, version: Option<&str>) -> Result<Self, Error> {
        let major = version
            .and_then(|v| v.split('.').next())
            .and_then(|m| m.parse::<u32>().ok());
        let minor = version
            .and_then(|v| v.split('.').nth(1))
            .and_then(|m| m.parse::<u32>().ok())
            .unwrap_or(0);
        Ok(match distro.to_ascii_lowercase().as_str() {
            "ubuntu" if major.is_some_and(|m| m < 17 || (m == 17 && minor < 10)) => Renderer::Eni,
            "ubuntu" => Renderer::Netplan,
            "debian" | "alpine" => Renderer::Eni,
            "fedora" => Renderer::NetworkManager,
            "almalinux"
            | "centos"
            | "rhel"
            | "redhatenterprise"
            | "redhatenterpriseserver"
            | "rocky"
            | "scientific"
            | "scientificcernslc"
            | "ol"
            | "oraclelinux" => match major {
                Some(m) if m < 9 => Renderer::Sysconfig,
                _ => Renderer::NetworkManager,
            },
            "arch" | "flatcar" | "coreos" => Renderer::Networkd,
            other => return Err(Error::NoRenderer(other.to_owned())),
        })
    }
}

impl fmt::Display for Renderer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Renderer {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|r| r.name() == s || (s == "nm" && *r == Renderer::NetworkManager))
            .ok_or_else(|| {
                format!(
                    "unknown renderer {s:?} (known: {}, auto)",
                    Self::ALL.map(Renderer::name).join(", ")
                )
            })
    }
}

/// Renders the model into the files of `renderer`, in write order.
///
/// Fails with [`Error::Unsupported`] naming the first setting the renderer
/// cannot express, and with [`Error::Model`] for an inconsistent model.
pub fn render(model: &NetworkModel, renderer: Renderer) -> Result<Vec<Task>, Error> {
    model.validate()?;
    crate::keys::check(model, renderer)?;
    match renderer {
        Renderer::Eni => eni::render(model),
        Renderer::Sysconfig => sysconfig::render(model),
        Renderer::Netplan => netplan::render(model),
        Renderer::Networkd => networkd::render(model),
        Renderer::NetworkManager => nm::render(model),
    }
}

/// An INI-style file (networkd units, NetworkManager keyfiles): sections
/// of `key=value` lines, separated by blank lines.
#[derive(Default)]
pub(crate) struct IniFile {
    text: String,
}

impl IniFile {
    /// Opens section `[name]`.
    pub fn section(&mut self, name: &str) {
        let sep = if self.text.is_empty() { "" } else { "\n" };
        let _ = writeln!(self.text, "{sep}[{name}]");
    }

    /// Adds `key=value` to the current section.
    pub fn set(&mut self, key: &str, value: impl fmt::Display) {
        let _ = writeln!(self.text, "{key}={value}");
    }

    /// The text, after the header line.
    pub fn finish(self) -> String {
        format!("{HEADER}{}", self.text)
    }
}

/// The default route of a family that renderers write as a plain gateway
/// setting: the first one with a gateway and no metric or table.
pub(crate) fn plain_default(i: &Interface, v4: bool) -> Option<&Route> {
    i.routes.iter().find(|r| {
        r.to == RouteTo::Default
            && r.is_v4() == v4
            && r.via.is_some()
            && r.metric.is_none()
            && r.table.is_none()
            && !r.on_link
            && r.scope.is_none()
            && r.kind.is_none()
            && r.from.is_none()
    })
}

/// A file to write.
pub(crate) fn write(path: String, mode: Option<u32>, content: String) -> Task {
    Task {
        path,
        action: Action::Write,
        mode,
        content: Some(content),
    }
}

/// An [`Error::Unsupported`].
pub(crate) fn unsupported(renderer: Renderer, what: impl Into<String>) -> Error {
    Error::Unsupported {
        renderer: renderer.name(),
        what: what.into(),
    }
}

/// The device name of `iface`, or an error for renderers that name files
/// and stanzas after devices.
pub(crate) fn device_name(renderer: Renderer, iface: &Interface) -> Result<&str, Error> {
    iface.device_name().ok_or_else(|| {
        unsupported(
            renderer,
            format!(
                "interface {}: a NIC matched by MAC, driver or a name pattern without set-name (it needs a fixed device name)",
                iface.id
            ),
        )
    })
}

/// The device name of the interface with id `id` (members, links, primary).
pub(crate) fn name_of<'a>(
    renderer: Renderer,
    model: &'a NetworkModel,
    id: &'a str,
) -> Result<&'a str, Error> {
    match model.get(id) {
        Some(i) => device_name(renderer, i),
        None => Ok(id),
    }
}

/// Refuses physical match settings other than MAC and a plain name, for
/// renderers whose only way to find a NIC is its name (with a udev rename
/// by MAC).
pub(crate) fn require_name_or_mac(renderer: Renderer, iface: &Interface) -> Result<(), Error> {
    if let Kind::Physical(p) = &iface.kind {
        if p.driver.is_some() {
            return Err(unsupported(
                renderer,
                format!("interface {}: matching by driver", iface.id),
            ));
        }
        if p.set_name.is_some() && p.mac.is_none() {
            return Err(unsupported(
                renderer,
                format!("interface {}: set-name without a MAC match", iface.id),
            ));
        }
    }
    device_name(renderer, iface).map(|_| ())
}

/// `etc/udev/rules.d/70-persistent-net.rules` renaming NICs matched by MAC
/// (what ifupdown, ifcfg and NetworkManager systems rely on), if any.
pub(crate) fn udev_rename_rules(model: &NetworkModel) -> Option<Task> {
    let rules: String = model
        .interfaces
        .iter()
        .filter_map(|i| match &i.kind {
            Kind::Physical(p) => Some((p.mac.as_ref()?, p.set_name.as_ref()?)),
            _ => None,
        })
        .map(|(mac, name)| {
            format!(
                "SUBSYSTEM==\"net\", ACTION==\"add\", DRIVERS==\"?*\", ATTR{{address}}==\"{mac}\", NAME=\"{name}\"\n"
            )
        })
        .collect();
    (!rules.is_empty()).then(|| {
        write(
            "etc/udev/rules.d/70-persistent-net.rules".into(),
            None,
            format!("{HEADER}{rules}"),
        )
    })
}

/// The interfaces in an order where every interface comes after those it
/// depends on (members before bonds and bridges, links before VLANs), input
/// order otherwise.
pub(crate) fn dependency_order(model: &NetworkModel) -> Vec<&Interface> {
    let mut done: Vec<&Interface> = Vec::new();
    let mut left: Vec<&Interface> = model.interfaces.iter().collect();
    while !left.is_empty() {
        let ready = left.iter().position(|i| {
            deps(i)
                .iter()
                .all(|d| done.iter().any(|x| &x.id == d) || model.get(d).is_none())
        });
        // A cycle: emit the rest as they are.
        let n = ready.unwrap_or(0);
        done.push(left.remove(n));
    }
    done
}

/// The ids `iface` depends on.
fn deps(iface: &Interface) -> Vec<String> {
    match &iface.kind {
        Kind::Bond(b) => b.members.clone(),
        Kind::Bridge(b) => b.members.clone(),
        Kind::Vlan(v) => vec![v.link.clone()],
        Kind::Physical(_) => Vec::new(),
    }
}
