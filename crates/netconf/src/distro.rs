//! The distro table: which files each distro family writes.
//!
//! A family is a list of [`Rule`]s. Paths are minijinja templates, `when`
//! and `each` are minijinja expressions over the [template
//! context](crate::context::Context), so adding a distro is adding its
//! templates under `templates/` and a row here (see docs/netconf.md).

use crate::context::NetworkBuilder;

/// A distro family: the distro strings it handles and the files it writes.
pub(crate) struct Family {
    /// `operating_system.distro` values (lowercase) this family handles.
    pub distros: &'static [&'static str],
    /// The files, in the order they are written.
    pub rules: &'static [Rule],
}

/// Which builder a rule belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Written for every run (hostname, hosts, resolvers).
    Distro,
    /// Written by the given network builder only.
    Network(NetworkBuilder),
    /// Written by whichever network builder applies.
    AnyNetwork,
}

/// What a rule does with its path.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    /// Render the template and replace the file.
    Write(&'static str),
    /// Render the template and append it to the file.
    Append(&'static str),
    /// Remove the path.
    Delete,
}

/// One file (or one file per item) a family writes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    pub scope: Scope,
    /// Path template relative to the rootfs; may use `item`.
    pub path: &'static str,
    pub op: Op,
    /// Condition expression; the rule is skipped when false.
    pub when: Option<&'static str>,
    /// List expression; the rule applies once per element, bound to `item`.
    pub each: Option<&'static str>,
    /// Permission bits set after writing.
    pub mode: Option<u32>,
}

impl Rule {
    const fn new(scope: Scope, path: &'static str, op: Op) -> Self {
        Self {
            scope,
            path,
            op,
            when: None,
            each: None,
            mode: None,
        }
    }
    const fn when(mut self, expr: &'static str) -> Self {
        self.when = Some(expr);
        self
    }
    const fn each(mut self, expr: &'static str) -> Self {
        self.each = Some(expr);
        self
    }
    const fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }
}

use NetworkBuilder::{Bonded, Individual};
use Op::{Append, Delete, Write};
use Scope::{AnyNetwork, Distro, Network};

const HOSTNAME: Rule = Rule::new(Distro, "etc/hostname", Write("common/hostname.j2"));
const RESOLV_CONF: Rule = Rule::new(Distro, "etc/resolv.conf", Write("common/resolv.conf.j2"));
const MODULES: Rule = Rule::new(Network(Bonded), "etc/modules", Append("common/modules.j2"));
const UDEV_RULES: &str = "etc/udev/rules.d/70-persistent-net.rules";
const UDEV_TEMPLATE: Op = Write("common/udev-rules.j2");
/// A DHCP-configured host gets its resolvers from the DHCP server.
const DHCP_RESOLV_CONF: Rule = Rule::new(AnyNetwork, "etc/resolv.conf", Delete).when("dhcp");

/// Debian and Ubuntu: ifupdown (`/etc/network/interfaces`).
const DEBIAN: Family = Family {
    distros: &["debian", "ubuntu"],
    rules: &[
        HOSTNAME,
        Rule::new(Distro, "etc/hosts", Write("debian/hosts.j2")),
        RESOLV_CONF.when("osinfo.distro != 'ubuntu'"),
        Rule::new(
            Distro,
            "etc/systemd/resolved.conf",
            Write("debian/resolved.conf.j2"),
        )
        .when("osinfo.distro == 'ubuntu'"),
        Rule::new(
            Network(Bonded),
            "etc/network/interfaces",
            Write("debian/interfaces-bonded.j2"),
        ),
        MODULES,
        Rule::new(Network(Bonded), UDEV_RULES, UDEV_TEMPLATE),
        Rule::new(
            Network(Individual),
            "etc/network/interfaces",
            Write("debian/interfaces-individual.j2"),
        )
        .when("not dhcp"),
        Rule::new(
            Network(Individual),
            "etc/network/interfaces",
            Write("debian/interfaces-dhcp.j2"),
        )
        .when("dhcp"),
        Rule::new(Network(Individual), UDEV_RULES, UDEV_TEMPLATE).when(
            "osinfo.distro ~ ' ' ~ osinfo.version in \
             ['debian 10', 'debian 11', 'ubuntu 18.04', 'ubuntu 20.04', 'ubuntu 22.04']",
        ),
        DHCP_RESOLV_CONF,
    ],
};

/// The RHEL family: network-scripts (`ifcfg-*`).
const REDHAT: Family = Family {
    distros: &[
        "almalinux",
        "centos",
        "redhatenterprise",
        "redhatenterpriseserver",
        "rhel",
        "rocky",
        // packet-networking's README names Scientific Linux among the
        // RedHat family; its builder knew it as `scientificcernslc` until
        // upstream fe00317.
        "scientific",
        "scientificcernslc",
    ],
    rules: &[
        HOSTNAME,
        Rule::new(Distro, "etc/hosts", Write("redhat/hosts.j2")),
        RESOLV_CONF,
        Rule::new(
            AnyNetwork,
            "etc/sysconfig/network",
            Write("redhat/network.j2"),
        ),
        Rule::new(
            Network(Bonded),
            "etc/modprobe.d/bonding.conf",
            Write("redhat/bonding.conf.j2"),
        ),
        Rule::new(
            Network(Bonded),
            "etc/sysconfig/network-scripts/ifcfg-{{ item }}",
            Write("redhat/ifcfg-primary.j2"),
        )
        .each("bonds | list | sort"),
        Rule::new(
            Network(Individual),
            "etc/sysconfig/network-scripts/ifcfg-{{ item }}",
            Write("redhat/ifcfg-primary.j2"),
        )
        .each("[primary_dev]"),
        Rule::new(
            AnyNetwork,
            "etc/sysconfig/network-scripts/ifcfg-{{ primary_dev }}:0",
            Write("redhat/ifcfg-alias.j2"),
        )
        .when("(primary_dev in bonds or network_builder == 'individual') and ip4pub and ip4priv"),
        Rule::new(
            AnyNetwork,
            "etc/sysconfig/network-scripts/route-{{ primary_dev }}",
            Write("redhat/route.j2"),
        )
        .when("(primary_dev in bonds or network_builder == 'individual') and ip4pub and ip4priv"),
        Rule::new(
            Network(Bonded),
            "etc/sysconfig/network-scripts/ifcfg-{{ item.name }}",
            Write("redhat/ifcfg-slave.j2"),
        )
        .each("interfaces"),
        // Upstream reads the slug without a default here: a missing slug is an error.
        Rule::new(
            Network(Bonded),
            "etc/systemd/network/70-{{ item.name }}.link",
            Write("redhat/link.j2"),
        )
        .when("(osinfo.slug | need('operating_system.slug')) == 'rhel_9'")
        .each("interfaces"),
        Rule::new(
            Network(Bonded),
            "sbin/ifup-pre-local",
            Write("redhat/ifup-pre-local.j2"),
        )
        .mode(0o755),
        // RHEL proper keeps NetworkManager and pins names with udev; the
        // rebuilds lose NetworkManager so that network-scripts take over.
        Rule::new(AnyNetwork, "etc/systemd/system/{{ item }}", Delete)
            .when("osinfo.distro not in ['redhatenterpriseserver', 'redhatenterprise']")
            .each(
                "['dbus-org.freedesktop.NetworkManager.service', \
                  'dbus-org.freedesktop.nm-dispatcher.service', \
                  'multi-user.target.wants/NetworkManager.service']",
            ),
        Rule::new(AnyNetwork, UDEV_RULES, UDEV_TEMPLATE)
            .when("osinfo.distro in ['redhatenterpriseserver', 'redhatenterprise']"),
        DHCP_RESOLV_CONF,
    ],
};

/// Alpine: ifupdown-ng with the metadata names, pinned by mdev/nameif.
const ALPINE: Family = Family {
    distros: &["alpine"],
    rules: &[
        HOSTNAME,
        Rule::new(Distro, "etc/hosts", Write("debian/hosts.j2")),
        RESOLV_CONF,
        Rule::new(
            Network(Bonded),
            "etc/network/interfaces",
            Write("alpine/interfaces-bonded.j2"),
        ),
        MODULES,
        Rule::new(
            Network(Individual),
            "etc/network/interfaces",
            Write("alpine/interfaces-individual.j2"),
        )
        .when("not dhcp"),
        Rule::new(
            Network(Individual),
            "etc/network/interfaces",
            Write("alpine/interfaces-dhcp.j2"),
        )
        .when("dhcp"),
        Rule::new(AnyNetwork, "etc/mdev.conf", Append("alpine/mdev.conf.j2")),
        Rule::new(AnyNetwork, "etc/mactab", Write("alpine/mactab.j2")),
        DHCP_RESOLV_CONF,
    ],
};

/// Every family, searched in order.
pub(crate) const FAMILIES: &[Family] = &[DEBIAN, REDHAT, ALPINE];

/// The family handling `distro` (compared lowercased).
pub(crate) fn family_for(distro: &str) -> Option<&'static Family> {
    let distro = distro.to_lowercase();
    FAMILIES
        .iter()
        .find(|f| f.distros.contains(&distro.as_str()))
}

/// The distro strings that have a builder, comma separated, for messages.
pub(crate) fn known_distros() -> String {
    crate::supported_distros().collect::<Vec<_>>().join(", ")
}

/// Templates shipped in the crate, by name.
pub(crate) const TEMPLATES: &[(&str, &str)] = &[
    (
        "common/hostname.j2",
        include_str!("../templates/common/hostname.j2"),
    ),
    (
        "common/modules.j2",
        include_str!("../templates/common/modules.j2"),
    ),
    (
        "common/resolv.conf.j2",
        include_str!("../templates/common/resolv.conf.j2"),
    ),
    (
        "common/udev-rules.j2",
        include_str!("../templates/common/udev-rules.j2"),
    ),
    (
        "eni/stanzas.j2",
        include_str!("../templates/eni/stanzas.j2"),
    ),
    (
        "debian/hosts.j2",
        include_str!("../templates/debian/hosts.j2"),
    ),
    (
        "debian/resolved.conf.j2",
        include_str!("../templates/debian/resolved.conf.j2"),
    ),
    (
        "debian/interfaces-bonded.j2",
        include_str!("../templates/debian/interfaces-bonded.j2"),
    ),
    (
        "debian/interfaces-individual.j2",
        include_str!("../templates/debian/interfaces-individual.j2"),
    ),
    (
        "debian/interfaces-dhcp.j2",
        include_str!("../templates/debian/interfaces-dhcp.j2"),
    ),
    (
        "alpine/interfaces-bonded.j2",
        include_str!("../templates/alpine/interfaces-bonded.j2"),
    ),
    (
        "alpine/interfaces-individual.j2",
        include_str!("../templates/alpine/interfaces-individual.j2"),
    ),
    (
        "alpine/interfaces-dhcp.j2",
        include_str!("../templates/alpine/interfaces-dhcp.j2"),
    ),
    (
        "alpine/mdev.conf.j2",
        include_str!("../templates/alpine/mdev.conf.j2"),
    ),
    (
        "alpine/mactab.j2",
        include_str!("../templates/alpine/mactab.j2"),
    ),
    (
        "redhat/hosts.j2",
        include_str!("../templates/redhat/hosts.j2"),
    ),
    (
        "redhat/network.j2",
        include_str!("../templates/redhat/network.j2"),
    ),
    ("redhat/dns.j2", include_str!("../templates/redhat/dns.j2")),
    (
        "redhat/bonding.conf.j2",
        include_str!("../templates/redhat/bonding.conf.j2"),
    ),
    (
        "redhat/ifcfg-primary.j2",
        include_str!("../templates/redhat/ifcfg-primary.j2"),
    ),
    (
        "redhat/ifcfg-alias.j2",
        include_str!("../templates/redhat/ifcfg-alias.j2"),
    ),
    (
        "redhat/route.j2",
        include_str!("../templates/redhat/route.j2"),
    ),
    (
        "redhat/ifcfg-slave.j2",
        include_str!("../templates/redhat/ifcfg-slave.j2"),
    ),
    (
        "redhat/link.j2",
        include_str!("../templates/redhat/link.j2"),
    ),
    (
        "redhat/ifup-pre-local.j2",
        include_str!("../templates/redhat/ifup-pre-local.j2"),
    ),
];
