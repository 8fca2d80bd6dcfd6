//! The part of the Equinix Metal metadata that netconf reads, checked key by
//! key so that every error names the key at fault.

use serde_json::{Map, Value};

use crate::Error;

/// The private subnets routed through the private address when the metadata
/// lists none.
const DEFAULT_PRIVATE_SUBNETS: &str = "10.0.0.0/8";

/// The metadata keys netconf uses, typed.
#[derive(Debug, Clone)]
pub(crate) struct Metadata {
    pub hostname: String,
    pub plan: Option<String>,
    pub distro: Option<String>,
    pub version: Option<String>,
    pub slug: Option<String>,
    pub private_subnets: Vec<String>,
    pub bonding: Bonding,
    pub interfaces: Vec<MetaInterface>,
    pub addresses: Vec<Address>,
}

/// `network.bonding`.
#[derive(Debug, Clone)]
pub(crate) struct Bonding {
    /// The mode as written into the files (`4`, or a string as given).
    pub mode: Option<String>,
    /// Whether the mode is the number 4 (802.3ad), which adds the LACP rate.
    pub lacp: bool,
    /// `link_aggregation`; missing or null means bonded.
    pub link_aggregation: String,
}

/// One `network.interfaces[]` entry.
#[derive(Debug, Clone)]
pub(crate) struct MetaInterface {
    pub name: String,
    pub mac: String,
    pub bond: Option<String>,
    pub dhcp: bool,
}

/// One `network.addresses[]` entry; the fields a template renders are only
/// checked once the address is selected (see [`Address::fields`]).
#[derive(Debug, Clone)]
pub(crate) struct Address {
    key: String,
    pub family: Option<i64>,
    pub public: bool,
    pub management: bool,
    raw: Map<String, Value>,
}

/// The rendered fields of a selected address.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct AddressFields {
    pub address: String,
    pub netmask: Option<String>,
    pub gateway: String,
    pub cidr: Option<i64>,
}

impl Metadata {
    /// Reads the keys netconf uses from a metadata document.
    pub fn from_value(doc: &Value) -> Result<Self, Error> {
        let root = Obj::root(doc)?;
        let hostname = root.str("hostname")?.to_owned();
        let os = root.opt_obj("operating_system")?;
        let network = root.obj("network")?;
        let bonding = network.obj("bonding")?;
        Ok(Self {
            hostname,
            plan: root.opt_str("plan")?.map(str::to_owned),
            distro: os
                .as_ref()
                .map(|o| o.opt_str("distro"))
                .transpose()?
                .flatten()
                .map(str::to_owned),
            version: os
                .as_ref()
                .map(|o| o.opt_str("version"))
                .transpose()?
                .flatten()
                .map(str::to_owned),
            slug: os
                .as_ref()
                .map(|o| o.opt_str("slug"))
                .transpose()?
                .flatten()
                .map(str::to_owned),
            private_subnets: match root.opt("private_subnets") {
                None => vec![DEFAULT_PRIVATE_SUBNETS.to_owned()],
                Some(_) => root.string_list("private_subnets")?,
            },
            bonding: Bonding::read(&bonding)?,
            interfaces: network
                .array("interfaces")?
                .iter()
                .map(MetaInterface::read)
                .collect::<Result<_, _>>()?,
            addresses: network
                .array("addresses")?
                .into_iter()
                .map(Address::read)
                .collect::<Result<_, _>>()?,
        })
    }
}

impl Bonding {
    fn read(o: &Obj<'_>) -> Result<Self, Error> {
        let (mode, lacp) = match o.opt("mode") {
            None => (None, false),
            Some(Value::Number(n)) => (Some(n.to_string()), n.as_f64() == Some(4.0)),
            Some(Value::String(s)) => (Some(s.clone()), false),
            Some(other) => return Err(o.wrong("mode", "an integer", other)),
        };
        Ok(Self {
            mode,
            lacp,
            link_aggregation: o
                .opt_str("link_aggregation")?
                .unwrap_or("bonded")
                .to_owned(),
        })
    }
}

impl MetaInterface {
    fn read(o: &Obj<'_>) -> Result<Self, Error> {
        Ok(Self {
            name: o.device_name("name")?.to_owned(),
            mac: o.str("mac")?.to_owned(),
            bond: match o.opt_str("bond")? {
                None | Some("") => None,
                Some(_) => Some(o.device_name("bond")?.to_owned()),
            },
            dhcp: o.opt_bool("dhcp")?.unwrap_or(false),
        })
    }
}

impl Address {
    fn read(o: Obj<'_>) -> Result<Self, Error> {
        Ok(Self {
            family: o.opt_int("address_family")?,
            public: o.opt_bool("public")?.unwrap_or(false),
            management: o.opt_bool("management")?.unwrap_or(false),
            raw: o.map.clone(),
            key: o.path,
        })
    }

    /// The fields the templates render; IPv4 needs a netmask, IPv6 a cidr.
    pub fn fields(&self) -> Result<AddressFields, Error> {
        let o = Obj {
            map: &self.raw,
            path: self.key.clone(),
        };
        let v6 = self.family == Some(6);
        Ok(AddressFields {
            address: o.str("address")?.to_owned(),
            gateway: o.str("gateway")?.to_owned(),
            netmask: if v6 {
                o.opt_str("netmask")?.map(str::to_owned)
            } else {
                Some(o.str("netmask")?.to_owned())
            },
            cidr: if v6 {
                Some(o.int("cidr")?)
            } else {
                o.opt_int("cidr")?
            },
        })
    }
}

/// A JSON object together with its dotted path, for error messages.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    fn root(doc: &'a Value) -> Result<Self, Error> {
        match doc {
            Value::Object(map) => Ok(Self {
                map,
                path: String::new(),
            }),
            other => Err(Error::key(
                "metadata",
                format!("expected a JSON object, got {}", kind(other)),
            )),
        }
    }

    fn key(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn wrong(&self, key: &str, want: &str, got: &Value) -> Error {
        Error::key(self.key(key), format!("expected {want}, got {}", kind(got)))
    }

    /// The value of `key`, with null treated as absent.
    fn opt(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn required(&self, key: &str) -> Result<&'a Value, Error> {
        self.opt(key)
            .ok_or_else(|| Error::key(self.key(key), "missing"))
    }

    fn str(&self, key: &str) -> Result<&'a str, Error> {
        let v = self.required(key)?;
        v.as_str().ok_or_else(|| self.wrong(key, "a string", v))
    }

    /// A network device name: it ends up in file names and config lines,
    /// so no slashes, whitespace or dot-only names.
    fn device_name(&self, key: &str) -> Result<&'a str, Error> {
        let name = self.str(key)?;
        let bad = name.is_empty()
            || name == "."
            || name == ".."
            || name
                .chars()
                .any(|c| c == '/' || c.is_whitespace() || c.is_control());
        if bad {
            return Err(Error::key(
                self.key(key),
                format!("{name:?} is not a network device name"),
            ));
        }
        Ok(name)
    }

    fn opt_str(&self, key: &str) -> Result<Option<&'a str>, Error> {
        self.opt(key)
            .map(|v| v.as_str().ok_or_else(|| self.wrong(key, "a string", v)))
            .transpose()
    }

    fn int(&self, key: &str) -> Result<i64, Error> {
        let v = self.required(key)?;
        v.as_i64().ok_or_else(|| self.wrong(key, "an integer", v))
    }

    fn opt_int(&self, key: &str) -> Result<Option<i64>, Error> {
        self.opt(key)
            .map(|v| v.as_i64().ok_or_else(|| self.wrong(key, "an integer", v)))
            .transpose()
    }

    fn opt_bool(&self, key: &str) -> Result<Option<bool>, Error> {
        self.opt(key)
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| self.wrong(key, "true or false", v))
            })
            .transpose()
    }

    fn child(&self, key: &str, v: &'a Value) -> Result<Self, Error> {
        match v {
            Value::Object(map) => Ok(Self {
                map,
                path: self.key(key),
            }),
            other => Err(self.wrong(key, "an object", other)),
        }
    }

    fn obj(&self, key: &str) -> Result<Self, Error> {
        self.child(key, self.required(key)?)
    }

    fn opt_obj(&self, key: &str) -> Result<Option<Self>, Error> {
        self.opt(key).map(|v| self.child(key, v)).transpose()
    }

    fn items(&self, key: &str) -> Result<&'a Vec<Value>, Error> {
        let v = self.required(key)?;
        v.as_array().ok_or_else(|| self.wrong(key, "a list", v))
    }

    /// A list of objects, each carrying its `key[i]` path.
    fn array(&self, key: &str) -> Result<Vec<Self>, Error> {
        self.items(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| self.child(&format!("{key}[{i}]"), v))
            .collect()
    }

    fn string_list(&self, key: &str) -> Result<Vec<String>, Error> {
        self.items(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| self.wrong(&format!("{key}[{i}]"), "a string", v))
            })
            .collect()
    }
}

/// How a JSON value is called in error messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(doc: Value) -> String {
        Metadata::from_value(&doc).unwrap_err().to_string()
    }

    fn minimal() -> Value {
        json!({"hostname": "h", "network": {"bonding": {}, "interfaces": [], "addresses": []}})
    }

    #[test]
    fn errors_name_the_key() {
        assert_eq!(
            err(json!([])),
            "metadata: expected a JSON object, got a list"
        );
        assert_eq!(err(json!({})), "hostname: missing");
        let mut doc = minimal();
        doc["network"]["interfaces"] = json!([{"name": "eth0", "mac": 5}]);
        assert_eq!(
            err(doc),
            "network.interfaces[0].mac: expected a string, got a number"
        );
        let mut doc = minimal();
        doc["network"]["bonding"]["mode"] = json!([]);
        assert_eq!(
            err(doc),
            "network.bonding.mode: expected an integer, got a list"
        );
    }

    #[test]
    fn defaults() {
        let m = Metadata::from_value(&minimal()).unwrap();
        assert_eq!(m.private_subnets, ["10.0.0.0/8"]);
        assert_eq!(m.bonding.link_aggregation, "bonded");
        assert!(m.plan.is_none() && m.distro.is_none());
    }

    #[test]
    fn address_fields_checked_when_used() {
        let mut doc = minimal();
        doc["network"]["addresses"] = json!([{"address_family": 4, "address": "1.2.3.4"}]);
        let m = Metadata::from_value(&doc).unwrap();
        assert_eq!(
            m.addresses[0].fields().unwrap_err().to_string(),
            "network.addresses[0].gateway: missing"
        );
    }
}
