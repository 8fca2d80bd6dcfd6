//! conlink's replica offsets: replica `n` (from 0) of a scaled service gets
//! its link's `ip` and `mac` plus `n`, and its `forward` host port plus `n`.

use std::net::IpAddr;

/// `ADDR/LEN` plus `n`: the address text and whether it is IPv6.
pub fn ip(cidr: &str, n: u32) -> Result<(String, bool), String> {
    let (addr, len) = cidr
        .split_once('/')
        .ok_or_else(|| "needs a prefix length, as in 10.0.0.1/24".to_string())?;
    let addr: IpAddr = addr.parse().map_err(|_| "not an IP address".to_string())?;
    let len: u8 = len.parse().map_err(|_| "bad prefix length".to_string())?;
    let out = match addr {
        IpAddr::V4(a) => u32::from(a)
            .checked_add(n)
            .map(|x| IpAddr::V4(x.into()))
            .ok_or("the offset runs past the address space")?,
        IpAddr::V6(a) => u128::from(a)
            .checked_add(u128::from(n))
            .map(|x| IpAddr::V6(x.into()))
            .ok_or("the offset runs past the address space")?,
    };
    Ok((format!("{out}/{len}"), out.is_ipv6()))
}

/// A MAC plus `n`, carried over all six bytes.
pub fn mac(text: &str, n: u32) -> Result<String, String> {
    let bytes: Vec<u8> = text
        .split([':', '-'])
        .map(|b| u8::from_str_radix(b, 16))
        .collect::<Result<_, _>>()
        .map_err(|_| "not a MAC address".to_string())?;
    if bytes.len() != 6 {
        return Err("not a MAC address".into());
    }
    let v = bytes.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b)) + u64::from(n);
    if v >= 1 << 48 {
        return Err("the offset runs past the last MAC".into());
    }
    let out: Vec<String> = (0..6)
        .rev()
        .map(|i| format!("{:02x}", (v >> (i * 8)) & 0xff))
        .collect();
    Ok(out.join(":"))
}

/// `HOST_PORT:PORT/PROTO` with the host port plus `n`: (host port, port, proto).
pub fn forward(text: &str, n: u32) -> Result<(u16, u16, String), String> {
    let (ports, proto) = text.split_once('/').unwrap_or((text, "tcp"));
    let (host, port) = ports
        .split_once(':')
        .ok_or_else(|| "expected HOST_PORT:PORT/PROTO".to_string())?;
    let port_of = |p: &str| p.parse::<u16>().map_err(|_| format!("bad port {p}"));
    let host = port_of(host)?;
    let port = port_of(port)?;
    let host = u16::try_from(u32::from(host) + n).map_err(|_| "host port offset past 65535")?;
    if proto != "tcp" && proto != "udp" {
        return Err(format!("protocol {proto}: warren forwards tcp and udp"));
    }
    Ok((host, port, proto.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        assert_eq!(
            ip("10.0.0.255/16", 1).unwrap(),
            ("10.0.1.0/16".into(), false)
        );
        assert_eq!(
            ip("2001:db8::1/64", 2).unwrap(),
            ("2001:db8::3/64".into(), true)
        );
        assert!(ip("10.0.0.1", 0).is_err());
        assert_eq!(mac("02:00:00:00:00:ff", 1).unwrap(), "02:00:00:00:01:00");
        assert!(mac("ff:ff:ff:ff:ff:ff", 1).is_err());
        assert_eq!(forward("8080:80/tcp", 2).unwrap(), (8082, 80, "tcp".into()));
        assert_eq!(forward("8080:80", 0).unwrap().0, 8080);
        assert_eq!(forward("53:53/udp", 1).unwrap(), (54, 53, "udp".into()));
        assert!(forward("8080:80/sctp", 0).is_err());
    }
}
