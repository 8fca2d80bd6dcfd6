//! Value types of the lab file: addresses, prefixes, MACs, durations, rates.
//!
//! Each parses from the text a user writes and prints back the same way, so
//! the resolved lab (`warren graph --format json`) reads like the lab file,
//! and reads back from that text (the lab `up` saves for its supervisor).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A value read back from the text it prints as.
fn from_text<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = String>,
{
    let text = String::deserialize(d)?;
    text.parse().map_err(serde::de::Error::custom)
}

/// An address with its prefix length, as configured on an interface (`10.0.0.1/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfAddr {
    /// The address.
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl IfAddr {
    /// The network this address belongs to.
    pub fn network(&self) -> Prefix {
        Prefix::new(self.addr, self.prefix)
    }

    /// True for an IPv4 address.
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }
}

impl FromStr for IfAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` has no prefix length (write it as address/length)"))?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{addr}` is not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("`{prefix}` is not a prefix length between 0 and {max}"))?;
        Ok(IfAddr { addr, prefix })
    }
}

impl fmt::Display for IfAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for IfAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IfAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d)
    }
}

/// A network prefix with its host bits cleared (`10.0.0.0/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    /// The network address.
    pub addr: IpAddr,
    /// The prefix length.
    pub len: u8,
}

impl Prefix {
    /// The prefix of length `len` that contains `addr`.
    pub fn new(addr: IpAddr, len: u8) -> Self {
        let addr = match addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask32(len))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask128(len))),
        };
        Prefix { addr, len }
    }

    /// True when `addr` lies in this prefix.
    pub fn contains(&self, addr: IpAddr) -> bool {
        addr.is_ipv4() == self.addr.is_ipv4() && Prefix::new(addr, self.len) == *self
    }

    /// Number of host bits.
    pub fn host_bits(&self) -> u32 {
        let max = if self.addr.is_ipv4() { 32 } else { 128 };
        max - u32::from(self.len)
    }

    /// How many addresses can be given to interfaces: IPv4 leaves out the
    /// network and broadcast addresses except on /31 and /32; IPv6 leaves
    /// out the subnet-router anycast address except on /127 and /128.
    pub fn usable_hosts(&self) -> u128 {
        let bits = self.host_bits();
        let total: u128 = if bits >= 128 {
            u128::MAX
        } else {
            1u128 << bits
        };
        match (self.addr.is_ipv4(), bits) {
            (_, 0) => 1,
            (true, 1) => 2,
            (true, _) => total - 2,
            (false, 1) => 2,
            (false, _) => total - 1,
        }
    }

    /// The `n`th assignable address (0-based, lowest first), with this prefix's length.
    pub fn host(&self, n: u128) -> Option<IfAddr> {
        if n >= self.usable_hosts() {
            return None;
        }
        let skip_first = u128::from(self.host_bits() > 1);
        let addr = match self.addr {
            IpAddr::V4(a) => {
                let v = u128::from(u32::from(a)) + n + skip_first;
                IpAddr::V4(Ipv4Addr::from(u32::try_from(v).ok()?))
            }
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a).checked_add(n + skip_first)?)),
        };
        Some(IfAddr {
            addr,
            prefix: self.len,
        })
    }
}

fn mask32(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

fn mask128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    }
}

impl FromStr for Prefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let a: IfAddr = s.parse()?;
        let p = a.network();
        if p.addr != a.addr {
            return Err(format!("`{s}` has host bits set (the network is {p})"));
        }
        Ok(p)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl Serialize for Prefix {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Prefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d)
    }
}

/// An Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl FromStr for Mac {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            || format!("`{s}` is not a MAC address (six hex pairs such as 02:00:00:00:00:01)");
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6 {
            return Err(bad());
        }
        let mut out = [0u8; 6];
        for (o, p) in out.iter_mut().zip(parts) {
            if p.len() != 2 {
                return Err(bad());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        if out == [0; 6] {
            return Err(format!(
                "`{s}` is the all-zero MAC address, which the kernel refuses"
            ));
        }
        if out[0] & 1 == 1 {
            return Err(format!(
                "`{s}` is a multicast MAC address; interfaces need a unicast one"
            ));
        }
        Ok(Mac(out))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl Serialize for Mac {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Mac {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d)
    }
}

/// A span of time, kept in nanoseconds (`50ms`, `1m30s`, `2.5s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Duration(pub u64);

const UNITS_NS: [(&str, u64); 7] = [
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
];

impl Duration {
    /// As a std duration.
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.0)
    }
}

impl FromStr for Duration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a duration (such as 500ms, 10s, 1m30s)");
        let mut rest = s.trim();
        if rest.is_empty() {
            return Err(bad());
        }
        let mut total: f64 = 0.0;
        while !rest.is_empty() {
            let num_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(bad)?;
            let (num, tail) = rest.split_at(num_len);
            let unit_len = tail
                .find(|c: char| !c.is_ascii_alphabetic() && c != 'µ')
                .unwrap_or(tail.len());
            let (unit, tail) = tail.split_at(unit_len);
            let unit = if unit == "µs" { "us" } else { unit };
            let factor = UNITS_NS.iter().find(|(u, _)| *u == unit).ok_or_else(bad)?.1;
            let n: f64 = num.parse().map_err(|_| bad())?;
            total += n * factor as f64;
            rest = tail;
        }
        if !total.is_finite() || total > u64::MAX as f64 {
            return Err(bad());
        }
        Ok(Duration(total.round() as u64))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        if ns == 0 {
            return f.write_str("0s");
        }
        let (unit, factor) = UNITS_NS
            .iter()
            .rev()
            .find(|(_, fac)| ns.is_multiple_of(*fac))
            .copied()
            .unwrap_or(("ns", 1));
        write!(f, "{}{unit}", ns / factor)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d)
    }
}

/// A data rate in bits per second (`10mbit`, `1gbit`, `500kbps` in bytes as tc reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rate(pub u64);

const RATE_UNITS: [(&str, u64); 10] = [
    ("bit", 1),
    ("kbit", 1_000),
    ("mbit", 1_000_000),
    ("gbit", 1_000_000_000),
    ("tbit", 1_000_000_000_000),
    ("bps", 8),
    ("kbps", 8_000),
    ("mbps", 8_000_000),
    ("gbps", 8_000_000_000),
    ("tbps", 8_000_000_000_000),
];

impl FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a rate (such as 100kbit, 10mbit, 1gbit, 5mbps)");
        let t = s.trim().to_ascii_lowercase();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: f64 = num.parse().map_err(|_| bad())?;
        let factor = if unit.is_empty() {
            1
        } else {
            RATE_UNITS
                .iter()
                .find(|(u, _)| *u == unit)
                .ok_or_else(bad)?
                .1
        };
        let bits = n * factor as f64;
        if !bits.is_finite() || bits < 1.0 || bits > u64::MAX as f64 {
            return Err(bad());
        }
        Ok(Rate(bits.round() as u64))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        let (unit, factor) = [
            ("gbit", 1_000_000_000),
            ("mbit", 1_000_000),
            ("kbit", 1_000),
        ]
        .into_iter()
        .find(|(_, fac)| b.is_multiple_of(*fac))
        .unwrap_or(("bit", 1));
        write!(f, "{}{unit}", b / factor)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d)
    }
}

/// A percentage between 0 and 100 (`2%`, `0.5`).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Percent(pub f64);

impl FromStr for Percent {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let n: f64 = s
            .trim()
            .trim_end_matches('%')
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not a percentage (such as 2% or 0.5%)"))?;
        if !(0.0..=100.0).contains(&n) {
            return Err(format!("`{s}` is not between 0% and 100%"));
        }
        Ok(Percent(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip() {
        for (text, ns) in [
            ("50ms", 50_000_000),
            ("1m30s", 90_000_000_000),
            ("2.5s", 2_500_000_000),
            ("100us", 100_000),
        ] {
            let d: Duration = text.parse().expect(text);
            assert_eq!(d.0, ns, "{text}");
        }
        assert_eq!(Duration(90_000_000_000).to_string(), "90s");
        assert!("10 parsecs".parse::<Duration>().is_err());
        assert!("ms".parse::<Duration>().is_err());
    }

    #[test]
    fn rates_follow_tc_units() {
        assert_eq!("10mbit".parse::<Rate>().expect("rate").0, 10_000_000);
        assert_eq!("1mbps".parse::<Rate>().expect("rate").0, 8_000_000);
        assert_eq!(Rate(1_000_000_000).to_string(), "1gbit");
        assert!("fast".parse::<Rate>().is_err());
    }

    #[test]
    fn prefixes_assign_hosts_lowest_first() {
        let p: Prefix = "10.0.0.0/29".parse().expect("prefix");
        assert_eq!(p.usable_hosts(), 6);
        assert_eq!(p.host(0).expect("host").to_string(), "10.0.0.1/29");
        assert_eq!(p.host(5).expect("host").to_string(), "10.0.0.6/29");
        assert!(p.host(6).is_none());
        let p31: Prefix = "10.0.0.0/31".parse().expect("prefix");
        assert_eq!(p31.host(0).expect("host").to_string(), "10.0.0.0/31");
        let v6: Prefix = "2001:db8::/64".parse().expect("prefix");
        assert_eq!(v6.host(0).expect("host").to_string(), "2001:db8::1/64");
        assert!("10.0.0.1/24".parse::<Prefix>().is_err());
    }

    #[test]
    fn macs_must_be_unicast() {
        assert!("02:00:00:00:00:01".parse::<Mac>().is_ok());
        assert!("01:00:5e:00:00:01".parse::<Mac>().is_err());
        assert!("02:00:00:00:01".parse::<Mac>().is_err());
    }
}

/// The Linux capabilities, as `capabilities:` and `cap_drop:` name them
/// (without `CAP_`).
pub const CAPABILITIES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// A capability name as written in a lab file: `NET_ADMIN`, `cap_net_admin`
/// or `ALL`; kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapabilityName(pub String);

impl FromStr for CapabilityName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let upper = s.to_ascii_uppercase();
        let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
        if bare == "ALL" || CAPABILITIES.contains(&bare) {
            Ok(CapabilityName(s.to_string()))
        } else {
            Err(format!(
                "`{s}` is not a Linux capability (such as NET_ADMIN or SYS_TIME, or ALL)"
            ))
        }
    }
}
