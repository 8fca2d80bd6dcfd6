//! Inputs converted into the [`NetworkModel`](crate::NetworkModel):
//! cloud-init network config v1 and v2, and Equinix metadata.

pub(crate) mod cloudinit_v1;
pub(crate) mod cloudinit_v2;
pub(crate) mod equinix;

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::Error;
use crate::model::{BondOption, BridgeOption, Cidr, Dns, NetworkModel, ParamValue, Unit};

/// Parses a cloud-init network config (YAML or JSON, version 1 or 2, with or
/// without the top-level `network:` key) into the model.
pub fn parse_network_config(text: &str) -> Result<NetworkModel, Error> {
    let doc: Value = serde_saphyr::from_str(text)
        .map_err(|e| Error::config("(document)", one_line(&e.to_string())))?;
    let doc = match doc.get("network") {
        Some(inner) if doc.as_object().is_some_and(|m| m.len() == 1) => inner,
        _ => &doc,
    };
    let map = obj(doc, "(document)")?;
    let model = match map.get("version") {
        Some(v) if v.as_u64() == Some(1) || v.as_str() == Some("1") => cloudinit_v1::parse(map)?,
        Some(v) if v.as_u64() == Some(2) || v.as_str() == Some("2") => cloudinit_v2::parse(map)?,
        Some(v) => {
            return Err(Error::config(
                "version",
                format!("expected 1 or 2, got {v}"),
            ));
        }
        None => return Err(Error::config("version", "missing")),
    };
    model.validate()?;
    Ok(model)
}

/// The error text on one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `v` as a mapping.
pub(crate) fn obj<'a>(v: &'a Value, key: &str) -> Result<&'a Map<String, Value>, Error> {
    v.as_object()
        .ok_or_else(|| Error::config(key, format!("expected a mapping, got {}", kind(v))))
}

/// Refuses keys outside `known`, so nothing in the input is silently dropped.
pub(crate) fn check_keys(map: &Map<String, Value>, key: &str, known: &[&str]) -> Result<(), Error> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(Error::config(
            format!("{key}.{k}"),
            format!("not supported (known keys: {})", known.join(", ")),
        )),
        None => Ok(()),
    }
}

/// A short name for a JSON value's type.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Typed access to the keys of one mapping, with errors naming `path.key`.
pub(crate) struct Fields<'a> {
    /// The mapping.
    pub map: &'a Map<String, Value>,
    /// Its dotted path.
    pub path: String,
}

impl<'a> Fields<'a> {
    /// The mapping at `v`, refusing keys outside `known`.
    pub fn new(v: &'a Value, path: impl Into<String>, known: &[&str]) -> Result<Self, Error> {
        let path = path.into();
        let map = obj(v, &path)?;
        check_keys(map, &path, known)?;
        Ok(Self { map, path })
    }

    /// The dotted path of `key`.
    pub fn at(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    /// The raw value, `None` when missing or null.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// An error about `key`.
    pub fn err(&self, key: &str, message: impl Into<String>) -> Error {
        Error::config(self.at(key), message)
    }

    /// A string (numbers are taken as their decimal text).
    pub fn str(&self, key: &str) -> Result<Option<String>, Error> {
        self.get(key)
            .map(|v| {
                scalar_text(v)
                    .ok_or_else(|| self.err(key, format!("expected a string, got {}", kind(v))))
            })
            .transpose()
    }

    /// A required string.
    pub fn req_str(&self, key: &str) -> Result<String, Error> {
        self.str(key)?.ok_or_else(|| self.err(key, "missing"))
    }

    /// A non-negative number that fits 32 bits (numeric strings accepted).
    pub fn u32(&self, key: &str) -> Result<Option<u32>, Error> {
        self.get(key)
            .map(|v| to_u32(v).ok_or_else(|| self.err(key, format!("expected a number, got {v}"))))
            .transpose()
    }

    /// A boolean; YAML 1.1's yes/no/on/off are accepted as cloud-init does.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, Error> {
        self.get(key)
            .map(|v| {
                to_bool(v).ok_or_else(|| self.err(key, format!("expected a boolean, got {v}")))
            })
            .transpose()
    }

    /// A list of strings; a single string (possibly space or comma separated)
    /// counts as a list.
    pub fn strs(&self, key: &str) -> Result<Vec<String>, Error> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(n, v)| {
                    scalar_text(v).ok_or_else(|| {
                        Error::config(
                            format!("{}[{n}]", self.at(key)),
                            format!("expected a string, got {}", kind(v)),
                        )
                    })
                })
                .collect(),
            Some(v) => match scalar_text(v) {
                Some(s) => Ok(s
                    .split([' ', ','])
                    .filter(|w| !w.is_empty())
                    .map(str::to_owned)
                    .collect()),
                None => Err(self.err(key, format!("expected a list, got {}", kind(v)))),
            },
        }
    }

    /// A list of IP addresses.
    pub fn ips(&self, key: &str) -> Result<Vec<IpAddr>, Error> {
        self.strs(key)?
            .iter()
            .map(|s| {
                s.parse()
                    .map_err(|_| self.err(key, format!("{s:?} is not an IP address")))
            })
            .collect()
    }

    /// One IP address.
    pub fn ip(&self, key: &str) -> Result<Option<IpAddr>, Error> {
        self.str(key)?
            .map(|s| {
                s.parse()
                    .map_err(|_| self.err(key, format!("{s:?} is not an IP address")))
            })
            .transpose()
    }

    /// A list value (missing = empty).
    pub fn list(&self, key: &str) -> Result<&'a [Value], Error> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(v) => Err(self.err(key, format!("expected a list, got {}", kind(v)))),
        }
    }
}

/// A scalar's text.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A number, also from numeric text.
pub(crate) fn to_u32(v: &Value) -> Option<u32> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A boolean, also from YAML 1.1 words and 0/1.
pub(crate) fn to_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_u64().filter(|n| *n <= 1).map(|n| n == 1),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "yes" | "on" | "true" | "y" | "1" => Some(true),
            "no" | "off" | "false" | "n" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A duration in milliseconds: a number, or text ending in `ms` or `s`
/// (a bare number counts in `default_ms` units: 1 for ms, 1000 for seconds).
pub(crate) fn duration(v: &Value, default_ms: u32) -> Option<u32> {
    if let Some(n) = to_u32(v) {
        return n.checked_mul(default_ms);
    }
    let s = v.as_str()?.trim();
    if let Some(ms) = s.strip_suffix("ms") {
        ms.trim().parse().ok()
    } else if let Some(sec) = s.strip_suffix('s') {
        sec.trim().parse::<u32>().ok()?.checked_mul(1000)
    } else {
        None
    }
}

/// An address with its prefix: `ADDR/PREFIX`, or `ADDR` plus a netmask
/// (dotted IPv4 mask or a prefix length).
pub(crate) fn cidr(address: &str, netmask: Option<&str>, key: &str) -> Result<Cidr, Error> {
    let (addr, prefix) = match (address.split_once('/'), netmask) {
        (Some(_), _) | (None, None) => {
            return address.parse().map_err(|e: String| Error::config(key, e));
        }
        (None, Some(mask)) => (address, mask),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| Error::config(key, format!("{addr:?} is not an IP address")))?;
    let prefix = match prefix.parse::<u8>() {
        Ok(p) => p,
        Err(_) => {
            let m: std::net::Ipv4Addr = prefix.parse().map_err(|_| {
                Error::config(
                    key,
                    format!("netmask {prefix:?} is neither a prefix length nor a dotted mask"),
                )
            })?;
            let bits = u32::from(m);
            if bits.leading_ones() + bits.trailing_zeros() != 32 {
                return Err(Error::config(
                    key,
                    format!("netmask {prefix} is not contiguous"),
                ));
            }
            // leading_ones is at most 32, so it fits a u8.
            u8::try_from(bits.leading_ones()).unwrap_or(32)
        }
    };
    Cidr::new(ip, prefix).map_err(|e| Error::config(key, e))
}

/// Appends `more` to `dns`, skipping entries it already has.
pub(crate) fn merge_dns(dns: &mut Dns, more: Dns) {
    for n in more.nameservers {
        if !dns.nameservers.contains(&n) {
            dns.nameservers.push(n);
        }
    }
    for s in more.search {
        if !dns.search.contains(&s) {
            dns.search.push(s);
        }
    }
}

/// Words the kernel also accepts as numbers, per option (cloud-init v1
/// configs carry either).
fn numbered_word(opt: BondOption, n: u32) -> Option<&'static str> {
    match (opt, opt.unit()) {
        (
            BondOption::Mode
            | BondOption::LacpRate
            | BondOption::XmitHashPolicy
            | BondOption::AdSelect
            | BondOption::ArpValidate
            | BondOption::ArpAllTargets
            | BondOption::FailOverMac
            | BondOption::PrimaryReselect,
            Unit::Word(words),
        ) => words.get(usize::try_from(n).ok()?).copied(),
        _ => None,
    }
}

/// The value of bond option `opt` read from `v`.
pub(crate) fn bond_value(opt: BondOption, v: &Value, key: &str) -> Result<ParamValue, Error> {
    let bad = |what: &str| Error::config(key, format!("expected {what}, got {v}"));
    Ok(match opt.unit() {
        Unit::Word(words) => {
            if let Some(w) = to_u32(v).and_then(|n| numbered_word(opt, n)) {
                ParamValue::Word(w.to_owned())
            } else {
                let s = v.as_str().ok_or_else(|| bad("a string"))?;
                if !words.contains(&s) {
                    return Err(bad(&format!("one of {}", words.join(", "))));
                }
                ParamValue::Word(s.to_owned())
            }
        }
        Unit::Member => ParamValue::Word(
            v.as_str()
                .ok_or_else(|| bad("an interface name"))?
                .to_owned(),
        ),
        Unit::Millis => ParamValue::Number(duration(v, 1).ok_or_else(|| bad("milliseconds"))?),
        Unit::Seconds => {
            ParamValue::Number(duration(v, 1000).ok_or_else(|| bad("seconds"))? / 1000)
        }
        Unit::Count => ParamValue::Number(to_u32(v).ok_or_else(|| bad("a number"))?),
        Unit::Flag => ParamValue::Flag(to_bool(v).ok_or_else(|| bad("a boolean"))?),
        Unit::Mac => {
            let m = v.as_str().ok_or_else(|| bad("a MAC address"))?;
            if !crate::model::is_mac(m) {
                return Err(bad("a MAC address"));
            }
            ParamValue::Word(m.to_ascii_lowercase())
        }
        Unit::Addresses => {
            let items: Vec<String> = match v {
                Value::Array(a) => a
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| bad("IPv4 addresses"))
                    })
                    .collect::<Result<_, _>>()?,
                Value::String(s) => s
                    .split([' ', ','])
                    .filter(|w| !w.is_empty())
                    .map(str::to_owned)
                    .collect(),
                _ => return Err(bad("IPv4 addresses")),
            };
            ParamValue::Addresses(
                items
                    .iter()
                    .map(|s| {
                        s.parse::<std::net::Ipv4Addr>()
                            .map(IpAddr::V4)
                            .map_err(|_| bad("IPv4 addresses"))
                    })
                    .collect::<Result<_, _>>()?,
            )
        }
    })
}

/// The value of bridge option `opt` read from `v` (flags as 0/1, times in
/// seconds).
pub(crate) fn bridge_value(opt: BridgeOption, v: &Value, key: &str) -> Result<u32, Error> {
    let bad = |what: &str| Error::config(key, format!("expected {what}, got {v}"));
    match opt.unit() {
        Unit::Flag => to_bool(v).map(u32::from).ok_or_else(|| bad("a boolean")),
        Unit::Seconds => duration(v, 1000)
            .map(|ms| ms / 1000)
            .ok_or_else(|| bad("seconds")),
        _ => to_u32(v).ok_or_else(|| bad("a number")),
    }
}
