//! Every cloud-init network config key (v1 and v2) and what each renderer
//! does with it: rendered (and how) or refused (and why).
//!
//! This table is the one place a renderer's refusals are decided: `check`
//! runs before every model renderer and fails on the first key an
//! interface uses that the renderer refuses, naming the key, the renderer
//! and the reason. docs/netconf.md carries the table [`markdown`] prints
//! (a test compares them). A few refusals depend on a combination rather
//! than a key (a VLAN's name under ifupdown, a gateway without an address
//! under NetworkManager); the renderers check those themselves and the
//! table's cell says so.

use crate::Error;
use crate::model::{BondOption, BridgeOption, DhcpOverride, Interface, Kind, NetworkModel};
use crate::render::{Renderer, unsupported};

/// What one renderer does with a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    /// Rendered; the text says as what.
    Yes(String),
    /// Refused; the text says why.
    No(String),
}

/// A feature of the model, each reached from one or more keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// A NIC known by its device name.
    Name,
    /// A NIC matched by its MAC address.
    MatchMac,
    /// A NIC matched by a name pattern.
    MatchGlob,
    /// A NIC matched by its driver.
    MatchDriver,
    /// A matched NIC renamed.
    SetName,
    /// Wake-on-LAN.
    WakeOnLan,
    /// An InfiniBand port.
    Infiniband,
    /// An InfiniBand port matched by its (20-byte) hardware address.
    InfinibandMac,
    /// The MTU.
    Mtu,
    /// The MAC address the device gets.
    MacAddress,
    /// Not required for boot.
    Optional,
    /// Keep addresses over daemon restarts.
    Critical,
    /// Brought up by hand (v1 `control: manual`).
    ControlManual,
    /// Brought up when the device appears (v1 `control: hotplug`).
    ControlHotplug,
    /// Static addresses.
    Addresses,
    /// DHCPv4.
    Dhcp4,
    /// DHCPv6.
    Dhcp6,
    /// Router advertisements on or off.
    AcceptRa,
    /// Link-local addressing.
    LinkLocal,
    /// IPv6 privacy extensions.
    Ipv6Privacy,
    /// One DHCP client override (`true` = DHCPv6).
    Override(bool, DhcpOverride),
    /// Nameservers and search domains.
    Nameservers,
    /// Routes: destination and gateway.
    Routes,
    /// Route metric.
    RouteMetric,
    /// Route table.
    RouteTable,
    /// Gateway on the link.
    RouteOnLink,
    /// Route scope.
    RouteScope,
    /// Route type.
    RouteType,
    /// Route preferred source.
    RouteFrom,
    /// Policy routing rules.
    RoutingPolicy,
    /// A bond and its members.
    Bond,
    /// One bond parameter.
    BondParam(BondOption),
    /// A bridge and its ports.
    Bridge,
    /// One bridge parameter.
    BridgeParam(BridgeOption),
    /// Port priority per bridge port.
    BridgePortPriority,
    /// Path cost per bridge port.
    BridgePathCost,
    /// A VLAN.
    Vlan,
}

fn yes(s: &str) -> Support {
    Support::Yes(s.to_owned())
}

fn no(s: &str) -> Support {
    Support::No(s.to_owned())
}

impl Feature {
    /// Every feature, in table order.
    pub fn all() -> Vec<Feature> {
        use Feature::*;
        let mut out = vec![
            Name,
            MatchMac,
            MatchGlob,
            MatchDriver,
            SetName,
            WakeOnLan,
            Infiniband,
            InfinibandMac,
            Mtu,
            MacAddress,
            Optional,
            Critical,
            ControlManual,
            ControlHotplug,
            Addresses,
            Dhcp4,
            Dhcp6,
            AcceptRa,
            LinkLocal,
            Ipv6Privacy,
        ];
        for v6 in [false, true] {
            out.extend(DhcpOverride::ALL.iter().map(|o| Override(v6, *o)));
        }
        out.extend([
            Nameservers,
            Routes,
            RouteMetric,
            RouteTable,
            RouteOnLink,
            RouteScope,
            RouteType,
            RouteFrom,
            RoutingPolicy,
            Bond,
        ]);
        out.extend(BondOption::ALL.iter().map(|o| BondParam(*o)));
        out.push(Bridge);
        out.extend(BridgeOption::ALL.iter().map(|o| BridgeParam(*o)));
        out.extend([BridgePortPriority, BridgePathCost, Vlan]);
        out
    }

    /// The cloud-init v1 key(s) that reach it (empty when v1 has none).
    pub fn v1_keys(self) -> String {
        use Feature::*;
        match self {
            Name => "`name`".into(),
            MatchMac => "physical `mac_address`".into(),
            MatchGlob | MatchDriver | SetName | LinkLocal | Ipv6Privacy | Override(..)
            | Optional | RouteOnLink | RouteScope | RouteType | RouteFrom | RoutingPolicy => {
                String::new()
            }
            WakeOnLan => "`wakeonlan`".into(),
            Infiniband => "`type: infiniband`".into(),
            InfinibandMac => "infiniband `mac_address`".into(),
            Mtu => "`mtu`".into(),
            MacAddress => "bond/bridge/vlan `mac_address`, `bridge_hw`".into(),
            Critical => "`keep_configuration`".into(),
            ControlManual => "subnet `control: manual`".into(),
            ControlHotplug => "subnet `control: hotplug`".into(),
            Addresses => {
                "subnet `static`/`static6` `address`, `netmask`, `broadcast`, `ipv4`, `ipv6`"
                    .into()
            }
            Dhcp4 => "subnet `dhcp`/`dhcp4`".into(),
            Dhcp6 => "subnet `dhcp6`, `ipv6_dhcpv6-stateful`, `ipv6_dhcpv6-stateless`".into(),
            AcceptRa => "`accept-ra`, subnet `ipv6_slaac`".into(),
            Nameservers => {
                "`type: nameserver` (global or `interface`), subnet `dns_nameservers`, `dns_search`"
                    .into()
            }
            Routes => "`type: route`, subnet `gateway`, `routes` (`destination`/`network`, `netmask`, `gateway`)".into(),
            RouteMetric => "route `metric`, subnet `metric`".into(),
            RouteTable => String::new(),
            Bond => "`type: bond`, `bond_interfaces`, `bond-slaves`".into(),
            BondParam(o) => format!("`bond-{}`", o.kernel_name()),
            Bridge => "`type: bridge`, `bridge_interfaces`, `bridge_ports`".into(),
            BridgeParam(o) => format!("`bridge_{}`", o.kernel_name()),
            BridgePortPriority => "`bridge_portprio`".into(),
            BridgePathCost => "`bridge_pathcost`".into(),
            Vlan => "`type: vlan`, `vlan_id`, `vlan_link`".into(),
        }
    }

    /// The cloud-init v2 key(s) that reach it (empty when v2 has none).
    pub fn v2_keys(self) -> String {
        use Feature::*;
        match self {
            Name => "ethernets id".into(),
            MatchMac => "`match.macaddress`".into(),
            MatchGlob => "`match.name` (pattern)".into(),
            MatchDriver => "`match.driver`".into(),
            SetName => "`set-name`".into(),
            WakeOnLan => "`wakeonlan`".into(),
            Infiniband | InfinibandMac | ControlManual | ControlHotplug => String::new(),
            Mtu => "`mtu`".into(),
            MacAddress => "`macaddress`".into(),
            Optional => "`optional`".into(),
            Critical => "`critical`".into(),
            Addresses => "`addresses`".into(),
            Dhcp4 => "`dhcp4`".into(),
            Dhcp6 => "`dhcp6`".into(),
            AcceptRa => "`accept-ra`".into(),
            LinkLocal => "`link-local`".into(),
            Ipv6Privacy => "`ipv6-privacy`".into(),
            Override(v6, o) => format!(
                "`dhcp{}-overrides.{}`",
                if v6 { 6 } else { 4 },
                o.netplan_name()
            ),
            Nameservers => "`nameservers.addresses`, `nameservers.search`".into(),
            Routes => "`routes` `to`, `via`; `gateway4`, `gateway6`".into(),
            RouteMetric => "route `metric`".into(),
            RouteTable => "route `table`".into(),
            RouteOnLink => "route `on-link`".into(),
            RouteScope => "route `scope`".into(),
            RouteType => "route `type`".into(),
            RouteFrom => "route `from`".into(),
            RoutingPolicy => {
                "`routing-policy` (`from`, `to`, `table`, `priority`, `mark`, `type-of-service`)"
                    .into()
            }
            Bond => "`bonds`, `interfaces`".into(),
            BondParam(o) if o.netplan_name().is_empty() => String::new(),
            BondParam(o) => format!("`parameters.{}`", o.netplan_name()),
            Bridge => "`bridges`, `interfaces`".into(),
            BridgeParam(o) if o.netplan_name().is_empty() => String::new(),
            BridgeParam(o) => format!("`parameters.{}`", o.netplan_name()),
            BridgePortPriority => "`parameters.port-priority`".into(),
            BridgePathCost => "`parameters.path-cost`".into(),
            Vlan => "`vlans`, `id`, `link`".into(),
        }
    }

    /// What `r` does with it.
    pub fn support(self, r: Renderer) -> Support {
        use Feature::*;
        use Renderer::{Eni, Netplan, NetworkManager as Nm, Networkd, Sysconfig};
        match (self, r) {
            (Name | Mtu | Addresses | Dhcp4 | Dhcp6 | Nameservers | Routes, _) => yes(""),
            (MatchMac, Eni) => yes("udev rename rule; needs set-name"),
            (MatchMac, Sysconfig) => yes("`HWADDR`; with set-name a udev rule"),
            (MatchMac, Nm) => yes("`mac-address`"),
            (MatchMac, Networkd) => yes("`MACAddress`"),
            (MatchGlob | MatchDriver, Networkd) => yes("`[Match]`"),
            (MatchGlob | MatchDriver, Eni) => no("ifupdown finds NICs by name only"),
            (MatchGlob | MatchDriver, Sysconfig) => no("one ifcfg file per device name"),
            (MatchGlob, Nm) => yes("`[match] interface-name`"),
            (MatchDriver, Nm) => yes("`[match] driver`"),
            (SetName, Eni | Sysconfig | Nm) => yes("udev rename rule; needs a MAC match"),
            (SetName, Networkd) => yes("`.link` `Name`"),
            (WakeOnLan, Eni) => yes("`ethernet-wol g` (ethtool hooks)"),
            (WakeOnLan, Sysconfig) => yes("`ETHTOOL_OPTS`"),
            (WakeOnLan, Networkd) => yes("`.link` `WakeOnLan`"),
            (WakeOnLan, Nm) => yes("`wake-on-lan`"),
            (Infiniband, Eni) => yes("by name"),
            (Infiniband, Sysconfig) => yes("`TYPE=InfiniBand`"),
            (Infiniband | InfinibandMac, Netplan) => no("netplan has no InfiniBand device type"),
            (Infiniband, Networkd) => yes("by name"),
            (Infiniband, Nm) => yes("`type=infiniband`, datagram mode"),
            (InfinibandMac, Eni) => yes("udev rename rule"),
            (InfinibandMac, Sysconfig) => yes("`HWADDR`, udev rename rule"),
            (InfinibandMac, Networkd) => no("networkd matches 6-byte MAC addresses only"),
            (InfinibandMac, Nm) => yes("`[infiniband] mac-address`"),
            (MacAddress, Eni) => yes("`hwaddress`"),
            (MacAddress, Sysconfig) => yes("`MACADDR`"),
            (MacAddress, Networkd) => yes("`MACAddress` (`.netdev`, `.network`)"),
            (MacAddress, Nm) => yes("`cloned-mac-address`"),
            (Optional, Eni) => {
                no("ifupdown has no not-required mark (`ifup -a` waits for every auto interface)")
            }
            (Optional, Sysconfig) => no("initscripts has no not-required mark"),
            (Optional, Networkd) => yes("`RequiredForOnline=no`"),
            (Optional, Nm) => no("NetworkManager-wait-online has no per-connection opt-out"),
            (Critical, Eni) => no("ifupdown has no keep-configuration setting"),
            (Critical, Sysconfig) => no("initscripts has no keep-configuration setting"),
            (Critical, Networkd) => yes("`KeepConfiguration=yes`"),
            (Critical, Nm) => no("NetworkManager has no keep-configuration setting"),
            (ControlManual, Eni) => yes("no `auto` line"),
            (ControlManual, Sysconfig) => yes("`ONBOOT=no`"),
            (ControlManual, Netplan) => yes("`activation-mode: manual`"),
            (ControlManual, Networkd) => yes("`ActivationPolicy=manual`"),
            (ControlManual, Nm) => yes("`autoconnect=false`"),
            (ControlHotplug, Eni) => yes("`allow-hotplug`"),
            (ControlHotplug, _) => yes("the default: up when the device appears"),
            (AcceptRa, Eni) => {
                yes("`accept_ra`, `inet6 auto`; false needs an IPv6 address or DHCPv6")
            }
            (AcceptRa, Sysconfig) => yes("`IPV6_AUTOCONF`"),
            (AcceptRa, Networkd) => yes("`IPv6AcceptRA`"),
            (AcceptRa, Nm) => yes("`ipv6.method`"),
            (LinkLocal, Eni) => no("ifupdown has no link-local setting"),
            (LinkLocal, Sysconfig) => no("initscripts has no link-local setting"),
            (LinkLocal, Networkd) => yes("`LinkLocalAddressing`"),
            (LinkLocal, Nm) => no("a keyfile cannot turn the IPv6 link-local address off"),
            (Ipv6Privacy, Eni) => yes("`privext 2`; needs SLAAC or DHCPv6"),
            (Ipv6Privacy, Sysconfig) => yes("`IPV6_PRIVACY=rfc3041`"),
            (Ipv6Privacy, Networkd) => yes("`IPv6PrivacyExtensions=yes`"),
            (Ipv6Privacy, Nm) => yes("`ip6-privacy=2`"),
            (Override(v6, o), r) => override_support(v6, o, r),
            (RouteMetric | RouteTable | RouteOnLink | RouteType | RouteFrom, Eni) => {
                yes("`up ip route` arguments")
            }
            (RouteMetric | RouteTable | RouteOnLink | RouteType | RouteFrom, Sysconfig) => {
                yes("`route-DEV` arguments")
            }
            (RouteScope, Eni) => yes("`up ip route` `scope`"),
            (RouteScope, Sysconfig) => yes("`route-DEV` `scope`"),
            (
                RouteMetric | RouteTable | RouteScope | RouteType | RouteFrom | RouteOnLink,
                Networkd,
            ) => yes("`[Route]`"),
            (RouteMetric, Nm) => yes("`routeN=NET,GW,METRIC`"),
            (RouteTable, Nm) => yes("`routeN_options` `table`"),
            (RouteOnLink, Nm) => yes("`routeN_options` `onlink`"),
            (RouteType, Nm) => yes("`routeN_options` `type`"),
            (RouteFrom, Nm) => yes("`routeN_options` `src`"),
            (RouteScope, Nm) => no("keyfile routes have no scope attribute"),
            (RoutingPolicy, Eni) => yes("`up ip rule add`"),
            (RoutingPolicy, Sysconfig) => yes("`rule-DEV`, `rule6-DEV`"),
            (RoutingPolicy, Networkd) => yes("`[RoutingPolicyRule]`"),
            (RoutingPolicy, Nm) => yes("`routing-ruleN`; needs a priority"),
            (Bond, Eni) => yes("ifenslave `bond-*`"),
            (Bond, Sysconfig) => yes("`BONDING_OPTS`"),
            (Bond | Bridge | Vlan, Networkd) => yes("`.netdev`"),
            (Bond | Bridge | Vlan, Nm) => yes(""),
            (BondParam(o), r) => bond_support(o, r),
            (Bridge, Eni) => yes("bridge-utils `bridge_*`"),
            (Bridge, Sysconfig) => yes("`TYPE=Bridge`"),
            (BridgeParam(o), r) => bridge_support(o, r),
            (BridgePortPriority | BridgePathCost, _) => yes(""),
            (Vlan, Eni) => yes("named `LINK.ID` or `vlanID` only"),
            (Vlan, Sysconfig) => yes("`VLAN=yes`"),
            (_, Netplan) => yes(""),
        }
    }

    /// Whether `i` uses it.
    pub fn used_by(self, i: &Interface) -> bool {
        use Feature::*;
        let physical = match &i.kind {
            Kind::Physical(p) => Some(p),
            _ => None,
        };
        let routes = |f: &dyn Fn(&crate::model::Route) -> bool| i.routes.iter().any(f);
        match self {
            Name => physical.is_some_and(|p| p.mac.is_none() && p.driver.is_none()),
            MatchMac => physical.is_some_and(|p| p.mac.is_some() && !p.infiniband),
            InfinibandMac => physical.is_some_and(|p| p.mac.is_some() && p.infiniband),
            MatchGlob => physical.is_some_and(|p| {
                p.match_name
                    .as_deref()
                    .is_some_and(|n| n.contains(['*', '?', '[']))
            }),
            MatchDriver => physical.is_some_and(|p| p.driver.is_some()),
            SetName => physical.is_some_and(|p| p.set_name.is_some()),
            WakeOnLan => physical.is_some_and(|p| p.wakeonlan),
            Infiniband => physical.is_some_and(|p| p.infiniband),
            Mtu => i.mtu.is_some(),
            MacAddress => i.macaddress.is_some(),
            Optional => i.optional,
            Critical => i.critical,
            ControlManual => i.control == crate::model::Control::Manual,
            ControlHotplug => i.control == crate::model::Control::Hotplug,
            Addresses => !i.addresses.is_empty(),
            Dhcp4 => i.dhcp4,
            Dhcp6 => i.dhcp6,
            AcceptRa => i.accept_ra.is_some(),
            LinkLocal => i.link_local.is_some(),
            Ipv6Privacy => i.ipv6_privacy,
            Override(v6, o) => {
                let ov = if v6 {
                    &i.dhcp6_overrides
                } else {
                    &i.dhcp4_overrides
                };
                ov.set().iter().any(|(k, _)| *k == o)
            }
            Nameservers => !i.dns.is_empty(),
            Routes => !i.routes.is_empty(),
            RouteMetric => routes(&|r| r.metric.is_some()),
            RouteTable => routes(&|r| r.table.is_some()),
            RouteOnLink => routes(&|r| r.on_link),
            RouteScope => routes(&|r| r.scope.is_some()),
            RouteType => routes(&|r| r.kind.is_some()),
            RouteFrom => routes(&|r| r.from.is_some()),
            RoutingPolicy => !i.routing_policy.is_empty(),
            Bond => matches!(i.kind, Kind::Bond(_)),
            BondParam(o) => matches!(&i.kind, Kind::Bond(b) if b.params.contains_key(&o)),
            Bridge => matches!(i.kind, Kind::Bridge(_)),
            BridgeParam(o) => matches!(&i.kind, Kind::Bridge(b) if b.params.contains_key(&o)),
            BridgePortPriority => matches!(&i.kind, Kind::Bridge(b) if !b.port_priority.is_empty()),
            BridgePathCost => matches!(&i.kind, Kind::Bridge(b) if !b.path_cost.is_empty()),
            Vlan => matches!(i.kind, Kind::Vlan(_)),
        }
    }

    /// The key's name in messages: the v2 key, else the v1 key.
    pub fn key_name(self) -> String {
        let v2 = self.v2_keys();
        if v2.is_empty() { self.v1_keys() } else { v2 }
    }
}

/// What `r` does with one DHCP client override.
fn override_support(v6: bool, o: DhcpOverride, r: Renderer) -> Support {
    use DhcpOverride::*;
    use Renderer::{Eni, Netplan, NetworkManager as Nm, Networkd, Sysconfig};
    match (r, v6, o) {
        (Netplan, ..) => yes(""),
        (Networkd, false, _) | (Networkd, true, UseDns | UseNtp | UseDomains) => {
            yes(if v6 { "`[DHCPv6]`" } else { "`[DHCPv4]`" })
        }
        (Networkd, true, _) => no("networkd's DHCPv6 client has no such setting"),
        (Eni, false, RouteMetric) => yes("`metric`"),
        (Eni, false, Hostname) => yes("`hostname`"),
        (Eni, ..) => no("ifupdown's dhcp method has no such option"),
        (Sysconfig, false, UseDns) => yes("`PEERDNS`"),
        (Sysconfig, false, UseRoutes) => yes("`PEERROUTES`"),
        (Sysconfig, false, Hostname) => yes("`DHCP_HOSTNAME`"),
        (Sysconfig, false, SendHostname) => yes("`DHCP_SEND_HOSTNAME`"),
        (Sysconfig, false, RouteMetric) => yes("`IPV4_ROUTE_METRIC`"),
        (Sysconfig, ..) => no("ifcfg has no such DHCP setting"),
        (Nm, _, UseDns) => yes("`ignore-auto-dns`"),
        (Nm, _, UseRoutes) => yes("`ignore-auto-routes`"),
        (Nm, _, Hostname) => yes("`dhcp-hostname`"),
        (Nm, _, SendHostname) => yes("`dhcp-send-hostname`"),
        (Nm, _, RouteMetric) => yes("`route-metric`"),
        (Nm, _, UseNtp | UseHostname | UseMtu | UseDomains) => {
            no("NetworkManager has no per-connection setting for it")
        }
    }
}

/// What `r` does with one bond parameter.
fn bond_support(o: BondOption, r: Renderer) -> Support {
    match r {
        Renderer::Eni => yes(""),
        Renderer::Sysconfig | Renderer::NetworkManager => yes(""),
        Renderer::Netplan if o.netplan_name().is_empty() => {
            no("netplan has no such bond parameter")
        }
        Renderer::Networkd if o == BondOption::Primary => yes("`PrimarySlave=yes`"),
        Renderer::Networkd if o.networkd_name().is_empty() => {
            no("networkd has no such bond setting")
        }
        Renderer::Netplan | Renderer::Networkd => yes(""),
    }
}

/// What `r` does with one bridge parameter.
fn bridge_support(o: BridgeOption, r: Renderer) -> Support {
    match (r, o) {
        (Renderer::Eni, _) => yes(""),
        (_, BridgeOption::MaxWait | BridgeOption::WaitPort) => {
            no("an ifupdown start-up wait, not a bridge setting")
        }
        (
            Renderer::Sysconfig,
            BridgeOption::Stp | BridgeOption::ForwardDelay | BridgeOption::Priority,
        ) => yes(""),
        (Renderer::Sysconfig, _) => no("initscripts and ifcfg-rh read its unit differently"),
        _ => yes(""),
    }
}

/// Fails on the first key an interface of `model` uses that `r` refuses.
pub(crate) fn check(model: &NetworkModel, r: Renderer) -> Result<(), Error> {
    let features = Feature::all();
    for i in &model.interfaces {
        for f in &features {
            if let Support::No(why) = f.support(r)
                && f.used_by(i)
            {
                return Err(unsupported(
                    r,
                    format!("interface {}: {} ({why})", i.id, f.key_name()),
                ));
            }
        }
    }
    Ok(())
}

/// The key-by-renderer table of docs/netconf.md, in Markdown.
pub fn markdown() -> String {
    let mut out = String::from("| v1 key | v2 key |");
    for r in Renderer::ALL {
        out.push_str(&format!(" {} |", r.name()));
    }
    out.push_str("\n| --- | --- |");
    out.push_str(&" --- |".repeat(Renderer::ALL.len()));
    out.push('\n');
    for f in Feature::all() {
        let dash = |s: String| if s.is_empty() { "—".to_owned() } else { s };
        out.push_str(&format!(
            "| {} | {} |",
            dash(f.v1_keys()),
            dash(f.v2_keys())
        ));
        for r in Renderer::ALL {
            let cell = match f.support(r) {
                Support::Yes(how) if how.is_empty() => "✓".to_owned(),
                Support::Yes(how) => format!("✓ {how}"),
                Support::No(why) => format!("**no**: {why}"),
            };
            out.push_str(&format!(" {cell} |"));
        }
        out.push('\n');
    }
    out
}
