//! The network model every input is converted into and every renderer reads.
//!
//! One [`NetworkModel`] describes a host's interfaces (physical, bond,
//! bridge, VLAN), their addresses, DHCP and SLAAC, routes and DNS. Inputs
//! (cloud-init network config v1 and v2, Equinix metadata, lab interfaces)
//! build one; renderers turn it into files.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::Error;

/// A host's whole network configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkModel {
    /// The interfaces, in input order.
    pub interfaces: Vec<Interface>,
    /// Nameservers and search domains not tied to an interface.
    pub dns: Dns,
}

/// One interface and its layer-3 configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// The identifier: the device name, or (cloud-init v2) the netplan id of
    /// a physical interface matched by other properties.
    pub id: String,
    /// What kind of device it is.
    pub kind: Kind,
    /// MTU in bytes.
    pub mtu: Option<u32>,
    /// Static IPv4 and IPv6 addresses with their prefix length.
    pub addresses: Vec<Cidr>,
    /// Whether to run a DHCPv4 client.
    pub dhcp4: bool,
    /// Whether to run a DHCPv6 client.
    pub dhcp6: bool,
    /// Whether to accept IPv6 router advertisements (SLAAC); `None` leaves
    /// the system default.
    pub accept_ra: Option<bool>,
    /// Static routes (a default route is one whose `to` is
    /// [`RouteTo::Default`]).
    pub routes: Vec<Route>,
    /// Nameservers and search domains of this interface.
    pub dns: Dns,
    /// The MAC address the device gets (v1 `mac_address` on bonds, bridges
    /// and VLANs, v2 `macaddress`), lowercase; `None` keeps the kernel's.
    pub macaddress: Option<String>,
    /// Not required for boot: the system does not wait for it (v2
    /// `optional`).
    pub optional: bool,
    /// Keep the addresses when the network daemon stops or restarts (v2
    /// `critical`, v1 `keep_configuration`).
    pub critical: bool,
    /// Which link-local addresses to configure (v2 `link-local`); `None`
    /// leaves the system default.
    pub link_local: Option<LinkLocal>,
    /// Use IPv6 privacy extensions (temporary addresses, RFC 4941) for
    /// SLAAC (v2 `ipv6-privacy`).
    pub ipv6_privacy: bool,
    /// What the DHCPv4 client takes from the server (v2 `dhcp4-overrides`).
    pub dhcp4_overrides: DhcpOverrides,
    /// What the DHCPv6 client takes from the server (v2 `dhcp6-overrides`).
    pub dhcp6_overrides: DhcpOverrides,
    /// Policy routing rules (v2 `routing-policy`).
    pub routing_policy: Vec<RoutingRule>,
    /// When the interface is brought up (v1 subnet `control`).
    pub control: Control,
}

/// When an interface is brought up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Control {
    /// At boot.
    #[default]
    Auto,
    /// Only by hand.
    Manual,
    /// When the device appears.
    Hotplug,
}

/// Which link-local addresses an interface gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkLocal {
    /// An IPv4 link-local address (169.254/16).
    pub ipv4: bool,
    /// An IPv6 link-local address (fe80::/64).
    pub ipv6: bool,
}

/// DHCP client overrides (netplan's `dhcp4-overrides`/`dhcp6-overrides`);
/// `None` leaves the client's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DhcpOverrides {
    /// Use the DNS servers the server sends.
    pub use_dns: Option<bool>,
    /// Use the NTP servers the server sends.
    pub use_ntp: Option<bool>,
    /// Send the hostname to the server.
    pub send_hostname: Option<bool>,
    /// Use the hostname the server sends.
    pub use_hostname: Option<bool>,
    /// Use the MTU the server sends.
    pub use_mtu: Option<bool>,
    /// The hostname to send instead of the system's.
    pub hostname: Option<String>,
    /// Use the routes the server sends.
    pub use_routes: Option<bool>,
    /// The metric of routes from the server.
    pub route_metric: Option<u32>,
    /// Use the search domains the server sends.
    pub use_domains: Option<bool>,
}

/// One override setting of [`DhcpOverrides`], by its netplan name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DhcpOverride {
    /// `use-dns`.
    UseDns,
    /// `use-ntp`.
    UseNtp,
    /// `send-hostname`.
    SendHostname,
    /// `use-hostname`.
    UseHostname,
    /// `use-mtu`.
    UseMtu,
    /// `hostname`.
    Hostname,
    /// `use-routes`.
    UseRoutes,
    /// `route-metric`.
    RouteMetric,
    /// `use-domains`.
    UseDomains,
}

impl DhcpOverride {
    /// Every override, in netplan's documentation order.
    pub const ALL: [DhcpOverride; 9] = [
        DhcpOverride::UseDns,
        DhcpOverride::UseNtp,
        DhcpOverride::SendHostname,
        DhcpOverride::UseHostname,
        DhcpOverride::UseMtu,
        DhcpOverride::Hostname,
        DhcpOverride::UseRoutes,
        DhcpOverride::RouteMetric,
        DhcpOverride::UseDomains,
    ];

    /// The netplan key.
    pub fn netplan_name(self) -> &'static str {
        match self {
            DhcpOverride::UseDns => "use-dns",
            DhcpOverride::UseNtp => "use-ntp",
            DhcpOverride::SendHostname => "send-hostname",
            DhcpOverride::UseHostname => "use-hostname",
            DhcpOverride::UseMtu => "use-mtu",
            DhcpOverride::Hostname => "hostname",
            DhcpOverride::UseRoutes => "use-routes",
            DhcpOverride::RouteMetric => "route-metric",
            DhcpOverride::UseDomains => "use-domains",
        }
    }

    /// The systemd-networkd key in `[DHCPv4]`/`[DHCPv6]`.
    pub fn networkd_name(self) -> &'static str {
        match self {
            DhcpOverride::UseDns => "UseDNS",
            DhcpOverride::UseNtp => "UseNTP",
            DhcpOverride::SendHostname => "SendHostname",
            DhcpOverride::UseHostname => "UseHostname",
            DhcpOverride::UseMtu => "UseMTU",
            DhcpOverride::Hostname => "Hostname",
            DhcpOverride::UseRoutes => "UseRoutes",
            DhcpOverride::RouteMetric => "RouteMetric",
            DhcpOverride::UseDomains => "UseDomains",
        }
    }
}

/// The value of one override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverrideValue {
    /// A yes/no setting.
    Flag(bool),
    /// The hostname.
    Text(String),
    /// The route metric.
    Number(u32),
}

impl fmt::Display for OverrideValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OverrideValue::Flag(b) => write!(f, "{b}"),
            OverrideValue::Text(t) => f.write_str(t),
            OverrideValue::Number(n) => write!(f, "{n}"),
        }
    }
}

impl DhcpOverrides {
    /// The settings that are set, in [`DhcpOverride::ALL`] order.
    pub fn set(&self) -> Vec<(DhcpOverride, OverrideValue)> {
        let flag = |o: DhcpOverride, v: Option<bool>| v.map(|b| (o, OverrideValue::Flag(b)));
        [
            flag(DhcpOverride::UseDns, self.use_dns),
            flag(DhcpOverride::UseNtp, self.use_ntp),
            flag(DhcpOverride::SendHostname, self.send_hostname),
            flag(DhcpOverride::UseHostname, self.use_hostname),
            flag(DhcpOverride::UseMtu, self.use_mtu),
            self.hostname
                .clone()
                .map(|h| (DhcpOverride::Hostname, OverrideValue::Text(h))),
            flag(DhcpOverride::UseRoutes, self.use_routes),
            self.route_metric
                .map(|m| (DhcpOverride::RouteMetric, OverrideValue::Number(m))),
            flag(DhcpOverride::UseDomains, self.use_domains),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// A policy routing rule: traffic selected by `from`, `to`, `mark` and
/// `type_of_service` is looked up in `table`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutingRule {
    /// Source network.
    pub from: Option<Cidr>,
    /// Destination network.
    pub to: Option<Cidr>,
    /// The routing table to use.
    pub table: Option<u32>,
    /// The rule's priority (lower first).
    pub priority: Option<u32>,
    /// The firewall mark to match.
    pub mark: Option<u32>,
    /// The TOS field to match.
    pub type_of_service: Option<u8>,
}

impl RoutingRule {
    /// Whether it is an IPv4 rule (by `from`, else `to`; neither counts as IPv4).
    pub fn is_v4(&self) -> bool {
        self.from.or(self.to).is_none_or(|c| c.is_v4())
    }

    /// The rule as `ip rule` arguments: `from X to Y fwmark M tos T
    /// priority P table N` (the selectors first).
    pub fn ip_args(&self) -> String {
        let mut out = Vec::new();
        if let Some(f) = self.from {
            out.push(format!("from {f}"));
        }
        if let Some(t) = self.to {
            out.push(format!("to {t}"));
        }
        if let Some(m) = self.mark {
            out.push(format!("fwmark {m}"));
        }
        if let Some(t) = self.type_of_service {
            out.push(format!("tos {t}"));
        }
        if let Some(p) = self.priority {
            out.push(format!("priority {p}"));
        }
        if let Some(t) = self.table {
            out.push(format!("table {t}"));
        }
        out.join(" ")
    }
}

/// The kind of an interface, with its kind-specific settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A physical NIC.
    Physical(Physical),
    /// A bond of other interfaces.
    Bond(Bond),
    /// A bridge over other interfaces.
    Bridge(Bridge),
    /// An 802.1Q VLAN on another interface.
    Vlan(Vlan),
}

/// How a physical NIC is found and what it becomes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Physical {
    /// Match by MAC address (lowercase).
    pub mac: Option<String>,
    /// Match by kernel name (may be a glob like `en*`).
    pub match_name: Option<String>,
    /// Match by driver name.
    pub driver: Option<String>,
    /// Rename the matched NIC to this.
    pub set_name: Option<String>,
    /// Enable wake-on-LAN (magic packet).
    pub wakeonlan: bool,
    /// An InfiniBand port (cloud-init v1 `type: infiniband`) rather than
    /// Ethernet; its hardware address is 20 bytes.
    pub infiniband: bool,
}

/// A bond and its parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bond {
    /// The ids of the member interfaces.
    pub members: Vec<String>,
    /// Bond parameters, each at most once.
    pub params: BTreeMap<BondOption, ParamValue>,
}

/// A bridge and its parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bridge {
    /// The ids of the member (port) interfaces.
    pub members: Vec<String>,
    /// Bridge-wide parameters, each at most once.
    pub params: BTreeMap<BridgeOption, u32>,
    /// STP port priority per member id.
    pub port_priority: BTreeMap<String, u32>,
    /// STP path cost per member id.
    pub path_cost: BTreeMap<String, u32>,
}

/// A VLAN device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vlan {
    /// The VLAN id, 1 to 4094.
    pub id: u16,
    /// The id of the interface carrying it.
    pub link: String,
}

/// An IP address with a prefix length, e.g. `192.0.2.10/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    /// The address.
    pub addr: IpAddr,
    /// The prefix length (0 to 32 or 128).
    pub prefix: u8,
}

/// A static route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// The destination.
    pub to: RouteTo,
    /// The gateway; `None` for a route to a directly connected network.
    pub via: Option<IpAddr>,
    /// The route metric.
    pub metric: Option<u32>,
    /// The routing table number.
    pub table: Option<u32>,
    /// The gateway is on the link even if no address's network holds it
    /// (v2 `on-link`).
    pub on_link: bool,
    /// The route's scope: `global`, `link` or `host` (v2 `scope`).
    pub scope: Option<String>,
    /// The route's type: `unicast`, `unreachable`, `blackhole` or
    /// `prohibit` (v2 `type`); `None` is unicast.
    pub kind: Option<String>,
    /// The preferred source address (v2 `from`).
    pub from: Option<IpAddr>,
}

/// Route scopes cloud-init v2 (netplan) accepts.
pub const ROUTE_SCOPES: &[&str] = &["global", "link", "host"];
/// Route types cloud-init v2 (netplan) accepts.
pub const ROUTE_TYPES: &[&str] = &["unicast", "unreachable", "blackhole", "prohibit"];

/// A route destination.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RouteTo {
    /// The default route of the gateway's address family.
    #[default]
    Default,
    /// A network.
    Net(Cidr),
}

/// Nameservers and search domains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dns {
    /// Nameserver addresses, in order.
    pub nameservers: Vec<IpAddr>,
    /// Search domains, in order.
    pub search: Vec<String>,
}

/// A value of a bond parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    /// A keyword (`802.3ad`, `fast`, `layer3+4`…) or an interface id.
    Word(String),
    /// A number (milliseconds, seconds or a count, per [`BondOption::unit`]).
    Number(u32),
    /// On or off.
    Flag(bool),
    /// A list of IP addresses.
    Addresses(Vec<IpAddr>),
}

/// What kind of value a parameter takes, and in which unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// One of the listed keywords.
    Word(&'static [&'static str]),
    /// The id of a member interface.
    Member,
    /// Milliseconds.
    Millis,
    /// Seconds.
    Seconds,
    /// A plain count.
    Count,
    /// A boolean.
    Flag,
    /// A list of IPv4 addresses.
    Addresses,
    /// A MAC address.
    Mac,
}

macro_rules! options {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident => ($kernel:literal, $netplan:literal, $networkd:literal, $unit:expr)),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($(#[$vm])* $v),* }
        impl $name {
            /// Every option, in a fixed order.
            pub const ALL: &'static [$name] = &[$($name::$v),*];
            /// The kernel's (sysfs) name, also used by cloud-init v1,
            /// ifupdown, ifcfg and NetworkManager.
            pub fn kernel_name(self) -> &'static str { match self { $($name::$v => $kernel),* } }
            /// The netplan (cloud-init v2) name.
            pub fn netplan_name(self) -> &'static str { match self { $($name::$v => $netplan),* } }
            /// The systemd-networkd key (empty when networkd puts it elsewhere).
            pub fn networkd_name(self) -> &'static str { match self { $($name::$v => $networkd),* } }
            /// The kind of value and its unit.
            pub fn unit(self) -> Unit { match self { $($name::$v => $unit),* } }
            /// The option with this kernel name.
            pub fn from_kernel_name(s: &str) -> Option<Self> { Self::ALL.iter().copied().find(|o| o.kernel_name() == s) }
            /// The option with this netplan name.
            pub fn from_netplan_name(s: &str) -> Option<Self> { Self::ALL.iter().copied().find(|o| o.netplan_name() == s) }
        }
    };
}

options! {
    /// A bond parameter (the kernel bonding driver's options).
    BondOption {
        /// Bonding mode.
        Mode => ("mode", "mode", "Mode", Unit::Word(&["balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"])),
        /// LACPDU rate.
        LacpRate => ("lacp_rate", "lacp-rate", "LACPTransmitRate", Unit::Word(&["slow", "fast"])),
        /// MII link monitoring interval.
        MiiMon => ("miimon", "mii-monitor-interval", "MIIMonitorSec", Unit::Millis),
        /// Delay before enabling a slave after link up.
        UpDelay => ("updelay", "up-delay", "UpDelaySec", Unit::Millis),
        /// Delay before disabling a slave after link down.
        DownDelay => ("downdelay", "down-delay", "DownDelaySec", Unit::Millis),
        /// ARP monitoring interval.
        ArpInterval => ("arp_interval", "arp-interval", "ARPIntervalSec", Unit::Millis),
        /// ARP monitoring targets.
        ArpIpTarget => ("arp_ip_target", "arp-ip-targets", "ARPIPTargets", Unit::Addresses),
        /// ARP validation.
        ArpValidate => ("arp_validate", "arp-validate", "ARPValidate", Unit::Word(&["none", "active", "backup", "all"])),
        /// Which ARP targets must be up.
        ArpAllTargets => ("arp_all_targets", "arp-all-targets", "ARPAllTargets", Unit::Word(&["any", "all"])),
        /// Transmit hash policy.
        XmitHashPolicy => ("xmit_hash_policy", "transmit-hash-policy", "TransmitHashPolicy", Unit::Word(&["layer2", "layer3+4", "layer2+3", "encap2+3", "encap3+4"])),
        /// 802.3ad aggregator selection.
        AdSelect => ("ad_select", "ad-select", "AdSelect", Unit::Word(&["stable", "bandwidth", "count"])),
        /// MAC address policy on failover.
        FailOverMac => ("fail_over_mac", "fail-over-mac-policy", "FailOverMACPolicy", Unit::Word(&["none", "active", "follow"])),
        /// The primary member.
        Primary => ("primary", "primary", "", Unit::Member),
        /// When the primary becomes active again.
        PrimaryReselect => ("primary_reselect", "primary-reselect-policy", "PrimaryReselectPolicy", Unit::Word(&["always", "better", "failure"])),
        /// Minimum number of up links for carrier.
        MinLinks => ("min_links", "min-links", "MinLinks", Unit::Count),
        /// Deliver duplicate frames on inactive members.
        AllSlavesActive => ("all_slaves_active", "all-slaves-active", "AllSlavesActive", Unit::Flag),
        /// Gratuitous ARPs after failover.
        NumGratArp => ("num_grat_arp", "gratuitous-arp", "GratuitousARP", Unit::Count),
        /// Packets per member in balance-rr.
        PacketsPerSlave => ("packets_per_slave", "packets-per-slave", "PacketsPerSlave", Unit::Count),
        /// IGMP reports after failover.
        ResendIgmp => ("resend_igmp", "resend-igmp", "ResendIGMP", Unit::Count),
        /// Interval between learning packets (balance-tlb/alb).
        LpInterval => ("lp_interval", "learn-packet-interval", "LearnPacketIntervalSec", Unit::Seconds),
        /// 802.3ad actor system priority.
        AdActorSysPrio => ("ad_actor_sys_prio", "", "AdActorSystemPriority", Unit::Count),
        /// 802.3ad actor system MAC address.
        AdActorSystem => ("ad_actor_system", "", "AdActorSystem", Unit::Mac),
        /// 802.3ad user port key.
        AdUserPortKey => ("ad_user_port_key", "", "AdUserPortKey", Unit::Count),
        /// Flow rebalancing in balance-tlb.
        TlbDynamicLb => ("tlb_dynamic_lb", "", "DynamicTransmitLoadBalancing", Unit::Flag),
        /// Link state from the carrier (not MII/ethtool ioctls).
        UseCarrier => ("use_carrier", "", "", Unit::Flag),
        /// Delay between peer notifications after failover.
        PeerNotifDelay => ("peer_notif_delay", "", "", Unit::Millis),
    }
}

options! {
    /// A bridge-wide parameter.
    BridgeOption {
        /// Spanning tree protocol on (1) or off (0).
        Stp => ("stp", "stp", "STP", Unit::Flag),
        /// Bridge priority.
        Priority => ("bridgeprio", "priority", "Priority", Unit::Count),
        /// Forward delay.
        ForwardDelay => ("fd", "forward-delay", "ForwardDelaySec", Unit::Seconds),
        /// Hello time.
        HelloTime => ("hello", "hello-time", "HelloTimeSec", Unit::Seconds),
        /// Maximum message age.
        MaxAge => ("maxage", "max-age", "MaxAgeSec", Unit::Seconds),
        /// MAC ageing time.
        AgeingTime => ("ageing", "ageing-time", "AgeingTimeSec", Unit::Seconds),
        /// How long ifupdown waits for the ports to be ready (bridge-utils).
        MaxWait => ("maxwait", "", "", Unit::Seconds),
        /// How long ifupdown waits for each port (bridge-utils).
        WaitPort => ("waitport", "", "", Unit::Seconds),
    }
}

/// One interface as the lab sees it, the input of [`NetworkModel::from_lab`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabInterface {
    /// The name the interface must have.
    pub name: String,
    /// Its MAC address, if known (then the NIC is matched by MAC and renamed).
    pub mac: Option<String>,
    /// Static addresses.
    pub addresses: Vec<Cidr>,
    /// Static routes.
    pub routes: Vec<Route>,
    /// MTU in bytes.
    pub mtu: Option<u32>,
}

impl Interface {
    /// A new interface of this kind with no layer-3 configuration.
    pub fn new(id: impl Into<String>, kind: Kind) -> Self {
        Self {
            id: id.into(),
            kind,
            mtu: None,
            addresses: Vec::new(),
            dhcp4: false,
            dhcp6: false,
            accept_ra: None,
            routes: Vec::new(),
            dns: Dns::default(),
            macaddress: None,
            optional: false,
            critical: false,
            link_local: None,
            ipv6_privacy: false,
            dhcp4_overrides: DhcpOverrides::default(),
            dhcp6_overrides: DhcpOverrides::default(),
            routing_policy: Vec::new(),
            control: Control::Auto,
        }
    }

    /// The kernel device name, when it is known before boot: the new name of
    /// a renamed NIC, the matched name if it is not a glob, the id of an
    /// unmatched NIC or of a virtual device; `None` otherwise.
    pub fn device_name(&self) -> Option<&str> {
        match &self.kind {
            Kind::Physical(p) => {
                if let Some(n) = &p.set_name {
                    Some(n)
                } else if p.mac.is_none() && p.driver.is_none() && p.match_name.is_none() {
                    Some(&self.id)
                } else {
                    p.match_name
                        .as_deref()
                        .filter(|n| !n.contains(['*', '?', '[']))
                }
            }
            _ => Some(&self.id),
        }
    }

    /// Whether it has any layer-3 configuration.
    pub fn has_l3(&self) -> bool {
        !self.addresses.is_empty()
            || self.dhcp4
            || self.dhcp6
            || self.accept_ra == Some(true)
            || !self.routes.is_empty()
    }

    /// A short word for the kind, used in messages.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Physical(_) => "physical",
            Kind::Bond(_) => "bond",
            Kind::Bridge(_) => "bridge",
            Kind::Vlan(_) => "vlan",
        }
    }
}

impl NetworkModel {
    /// Builds the model of a lab node: one physical interface per entry,
    /// matched by MAC and renamed when a MAC is given, with static addresses,
    /// routes and MTU; `dns` applies to the whole host.
    pub fn from_lab(interfaces: &[LabInterface], dns: Dns) -> Result<Self, Error> {
        let model = Self {
            interfaces: interfaces
                .iter()
                .map(|l| {
                    let physical = Physical {
                        mac: l.mac.as_ref().map(|m| m.to_ascii_lowercase()),
                        set_name: l.mac.as_ref().map(|_| l.name.clone()),
                        ..Physical::default()
                    };
                    Interface {
                        mtu: l.mtu,
                        addresses: l.addresses.clone(),
                        routes: l.routes.clone(),
                        ..Interface::new(&l.name, Kind::Physical(physical))
                    }
                })
                .collect(),
            dns,
        };
        model.validate()?;
        Ok(model)
    }

    /// The interface with this id.
    pub fn get(&self, id: &str) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.id == id)
    }

    /// The bond or bridge whose member `id` is, with the parent's id.
    pub fn parent_of(&self, id: &str) -> Option<&Interface> {
        self.interfaces.iter().find(|i| match &i.kind {
            Kind::Bond(b) => b.members.iter().any(|m| m == id),
            Kind::Bridge(b) => b.members.iter().any(|m| m == id),
            _ => false,
        })
    }

    /// The VLANs whose link is `id`.
    pub fn vlans_on<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Interface> + 'a {
        self.interfaces
            .iter()
            .filter(move |i| matches!(&i.kind, Kind::Vlan(v) if v.link == id))
    }

    /// The DNS an interface carries once the global DNS is folded in (for
    /// renderers without a global setting): its own, then the global
    /// entries it lacks; the global DNS only goes to interfaces with
    /// layer-3 configuration.
    pub fn effective_dns(&self, iface: &Interface) -> Dns {
        let mut dns = iface.dns.clone();
        if iface.has_l3() {
            for n in &self.dns.nameservers {
                if !dns.nameservers.contains(n) {
                    dns.nameservers.push(*n);
                }
            }
            for s in &self.dns.search {
                if !dns.search.contains(s) {
                    dns.search.push(s.clone());
                }
            }
        }
        dns
    }

    /// Checks the references and constraints every renderer relies on:
    /// unique ids, existing members and links, one parent per member, no
    /// addresses on members, names usable as file names.
    pub fn validate(&self) -> Result<(), Error> {
        let mut seen = BTreeSet::new();
        for i in &self.interfaces {
            check_name(&i.id)?;
            if let Some(n) = i.device_name() {
                check_name(n)?;
            }
            if !seen.insert(i.id.as_str()) {
                return Err(Error::model(&i.id, "defined twice"));
            }
        }
        for i in &self.interfaces {
            if let Kind::Physical(p) = &i.kind {
                for v in [&p.mac, &p.match_name, &p.driver].into_iter().flatten() {
                    check_name(v)?;
                }
                let octets = if p.infiniband { 20 } else { 6 };
                if let Some(mac) = &p.mac
                    && !is_hwaddr(mac, octets)
                {
                    return Err(Error::model(&i.id, format!("{mac:?} is not a MAC address")));
                }
            }
            if let Some(mac) = &i.macaddress
                && !is_mac(mac)
            {
                return Err(Error::model(&i.id, format!("{mac:?} is not a MAC address")));
            }
            for s in i.dns.search.iter().chain(&self.dns.search) {
                check_name(s)?;
            }
            for o in [&i.dhcp4_overrides, &i.dhcp6_overrides] {
                if let Some(h) = &o.hostname {
                    check_name(h)?;
                }
            }
        }
        let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
        for i in &self.interfaces {
            let members: &[String] = match &i.kind {
                Kind::Bond(b) => &b.members,
                Kind::Bridge(b) => &b.members,
                Kind::Vlan(v) => {
                    if self.get(&v.link).is_none() {
                        return Err(Error::model(
                            &i.id,
                            format!("link {:?} is not defined", v.link),
                        ));
                    }
                    if !(1..=4094).contains(&v.id) {
                        return Err(Error::model(
                            &i.id,
                            format!("vlan id {} is not in 1..4094", v.id),
                        ));
                    }
                    &[]
                }
                Kind::Physical(_) => &[],
            };
            for m in members {
                let Some(member) = self.get(m) else {
                    return Err(Error::model(&i.id, format!("member {m:?} is not defined")));
                };
                if m == &i.id {
                    return Err(Error::model(&i.id, "is its own member"));
                }
                if let Some(other) = parent.insert(m, &i.id) {
                    return Err(Error::model(
                        m,
                        format!("is a member of both {other} and {}", i.id),
                    ));
                }
                if member.has_l3() {
                    return Err(Error::model(
                        m,
                        format!(
                            "is a member of {} and cannot have addresses, DHCP or routes",
                            i.id
                        ),
                    ));
                }
            }
            if let Kind::Bond(b) = &i.kind
                && let Some(ParamValue::Word(p)) = b.params.get(&BondOption::Primary)
                && !b.members.contains(p)
            {
                return Err(Error::model(
                    &i.id,
                    format!("primary {p:?} is not a member"),
                ));
            }
            if let Kind::Bridge(b) = &i.kind {
                for port in b.port_priority.keys().chain(b.path_cost.keys()) {
                    if !b.members.contains(port) {
                        return Err(Error::model(
                            &i.id,
                            format!("port setting for {port:?}, which is not a member"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Six two-digit hex bytes separated by colons.
pub fn is_mac(s: &str) -> bool {
    is_hwaddr(s, 6)
}

/// `octets` two-digit hex bytes separated by colons.
fn is_hwaddr(s: &str, octets: usize) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == octets
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Names end up in file names and quoted values: no `/`, quotes,
/// backslashes, whitespace, control characters, and not `.` or `..`.
fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.chars().any(|c| {
            c == '/' || c.is_whitespace() || c.is_control() || c == '"' || c == '\'' || c == '\\'
        })
    {
        return Err(Error::model(
            name,
            "is not a usable name (no quotes, slashes or whitespace)",
        ));
    }
    Ok(())
}

impl Cidr {
    /// Whether the address is IPv4.
    pub fn is_v4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// The IPv4 netmask in dotted form (IPv4 only).
    pub fn netmask_v4(&self) -> Option<std::net::Ipv4Addr> {
        match self.addr {
            IpAddr::V4(_) => Some(std::net::Ipv4Addr::from(
                u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0),
            )),
            IpAddr::V6(_) => None,
        }
    }

    /// The broadcast address of an IPv4 address's network.
    pub fn broadcast_v4(&self) -> Option<IpAddr> {
        match self.addr {
            IpAddr::V4(a) => {
                let host = u32::MAX.checked_shr(u32::from(self.prefix)).unwrap_or(0);
                Some(IpAddr::V4(std::net::Ipv4Addr::from(u32::from(a) | host)))
            }
            IpAddr::V6(_) => None,
        }
    }

    /// Whether `ip` is in this address's network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(a) & mask == u32::from(b) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(a) & mask == u128::from(b) & mask
            }
            _ => false,
        }
    }

    /// Builds one from an address and a prefix, checking the prefix range.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, String> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(format!("prefix /{prefix} is longer than {max}"));
        }
        Ok(Self { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = String;

    /// `ADDR/PREFIX`; a bare address gets the host prefix (/32 or /128).
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("{a:?} is not an IP address"))?;
        let prefix = match p {
            Some(p) => p
                .parse()
                .map_err(|_| format!("{p:?} is not a prefix length"))?,
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        Self::new(addr, prefix)
    }
}

impl Route {
    /// Whether the route is IPv4 (by destination, else gateway; a default
    /// route without a gateway counts as IPv4).
    pub fn is_v4(&self) -> bool {
        match (self.to, self.via) {
            (RouteTo::Net(c), _) => c.is_v4(),
            (RouteTo::Default, Some(v)) => v.is_ipv4(),
            (RouteTo::Default, None) => true,
        }
    }

    /// The destination as `ADDR/PREFIX`, `0.0.0.0/0` or `::/0`.
    pub fn to_cidr(&self) -> String {
        match self.to {
            RouteTo::Net(c) => c.to_string(),
            RouteTo::Default if self.is_v4() => "0.0.0.0/0".into(),
            RouteTo::Default => "::/0".into(),
        }
    }
}

impl Dns {
    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.nameservers.is_empty() && self.search.is_empty()
    }
}

impl ParamValue {
    /// The value as the kernel, ifupdown, ifcfg and NetworkManager write it:
    /// numbers as is, flags as 0/1, address lists comma-separated, member
    /// ids replaced by `name_of`.
    pub fn kernel_text(&self, sep: &str, name_of: impl Fn(&str) -> String) -> String {
        match self {
            ParamValue::Word(w) => name_of(w),
            ParamValue::Number(n) => n.to_string(),
            ParamValue::Flag(b) => u8::from(*b).to_string(),
            ParamValue::Addresses(a) => a
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(sep),
        }
    }
}
