//! Small address value types: [`IpNet`] (an address with a prefix length)
//! and [`MacAddr`]. Pure: no I/O.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IPv4 or IPv6 address with a prefix length, such as `10.0.0.1/30` or
/// `2001:db8::1/64`.
///
/// The address keeps its host bits: `10.0.0.1/30` is an interface address,
/// [`IpNet::network`] gives `10.0.0.0/30`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpNet {
    addr: IpAddr,
    prefix_len: u8,
}

/// Why an [`IpNet`] could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IpNetError {
    /// The prefix length is larger than the address (32 or 128 bits).
    #[error("prefix length {prefix_len} is too long for {addr}")]
    PrefixTooLong {
        /// The address.
        addr: IpAddr,
        /// The rejected prefix length.
        prefix_len: u8,
    },
    /// The text has no `/PREFIX`.
    #[error("{text:?} is not an address with a prefix length (like 10.0.0.1/24)")]
    Syntax {
        /// The text that was parsed.
        text: String,
    },
    /// The part before `/` is not an IP address.
    #[error("bad address in {text:?}")]
    Address {
        /// The text that was parsed.
        text: String,
        /// The parser's error.
        #[source]
        source: std::net::AddrParseError,
    },
    /// The part after `/` is not a number.
    #[error("bad prefix length in {text:?}")]
    Prefix {
        /// The text that was parsed.
        text: String,
        /// The parser's error.
        #[source]
        source: std::num::ParseIntError,
    },
}

impl IpNet {
    /// Builds an `IpNet`, checking the prefix length.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<Self, IpNetError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix_len > max {
            return Err(IpNetError::PrefixTooLong { addr, prefix_len });
        }
        Ok(Self { addr, prefix_len })
    }

    /// The address, host bits included.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether this is an IPv4 prefix.
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// The network: the address with its host bits cleared.
    pub fn network(&self) -> IpNet {
        let addr = match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & v4_mask(self.prefix_len))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & v6_mask(self.prefix_len))),
        };
        IpNet {
            addr,
            prefix_len: self.prefix_len,
        }
    }

    /// The IPv4 broadcast address of this prefix (all host bits set), or
    /// `None` for IPv6 and for /31 and /32, which have no broadcast
    /// address (RFC 3021).
    pub fn broadcast(&self) -> Option<Ipv4Addr> {
        match self.addr {
            IpAddr::V4(a) if self.prefix_len < 31 => {
                Some(Ipv4Addr::from(u32::from(a) | !v4_mask(self.prefix_len)))
            }
            _ => None,
        }
    }

    /// Whether `addr` lies inside this prefix.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.addr, addr) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let m = v4_mask(self.prefix_len);
                u32::from(n) & m == u32::from(a) & m
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let m = v6_mask(self.prefix_len);
                u128::from(n) & m == u128::from(a) & m
            }
            _ => false,
        }
    }
}

fn v4_mask(prefix_len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix_len))
        .unwrap_or(0)
}

fn v6_mask(prefix_len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix_len))
        .unwrap_or(0)
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl FromStr for IpNet {
    type Err = IpNetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = || s.to_owned();
        let (addr, len) = s
            .split_once('/')
            .ok_or_else(|| IpNetError::Syntax { text: text() })?;
        let addr: IpAddr = addr.parse().map_err(|source| IpNetError::Address {
            text: text(),
            source,
        })?;
        let len: u8 = len.parse().map_err(|source| IpNetError::Prefix {
            text: text(),
            source,
        })?;
        IpNet::new(addr, len)
    }
}

/// A 48-bit Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

/// The text is not a MAC address like `02:00:00:00:00:01`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a MAC address (like 02:00:00:00:00:01)")]
pub struct MacAddrError {
    /// The text that was parsed.
    pub text: String,
    /// The hex parser's error, when a byte was not hex.
    #[source]
    pub source: Option<std::num::ParseIntError>,
}

impl MacAddr {
    /// A locally administered unicast address derived from `n`: `02:` then
    /// the low 40 bits of `n`. Handy for deterministic lab MACs.
    pub fn local(n: u64) -> Self {
        let b = n.to_be_bytes();
        MacAddr([0x02, b[3], b[4], b[5], b[6], b[7]])
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for MacAddr {
    type Err = MacAddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MacAddrError {
            text: s.to_owned(),
            source: None,
        };
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let part = parts.next().ok_or_else(err)?;
            if part.len() != 2 {
                return Err(err());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|source| MacAddrError {
                text: s.to_owned(),
                source: Some(source),
            })?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(MacAddr(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipnet_parse_network_broadcast() {
        let n: IpNet = "10.1.2.3/24".parse().unwrap();
        assert_eq!(n.network().to_string(), "10.1.2.0/24");
        assert_eq!(n.broadcast(), Some(Ipv4Addr::new(10, 1, 2, 255)));
        let p2p: IpNet = "10.0.0.1/31".parse().unwrap();
        assert_eq!(p2p.broadcast(), None);
        let v6: IpNet = "2001:db8::1/64".parse().unwrap();
        assert_eq!(v6.network().to_string(), "2001:db8::/64");
        assert_eq!(v6.broadcast(), None);
        assert!(v6.contains("2001:db8::ffff".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        let zero: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(zero.contains("198.51.100.1".parse().unwrap()));
        assert!("10.0.0.1/33".parse::<IpNet>().is_err());
        assert!("10.0.0.1".parse::<IpNet>().is_err());
    }

    #[test]
    fn mac_roundtrip() {
        let m: MacAddr = "02:aB:00:00:00:01".parse().unwrap();
        assert_eq!(m.to_string(), "02:ab:00:00:00:01");
        assert_eq!(MacAddr::local(0x0102).to_string(), "02:00:00:00:01:02");
        assert!("02:00:00:00:00".parse::<MacAddr>().is_err());
        assert!("02:00:00:00:00:00:00".parse::<MacAddr>().is_err());
    }
}
