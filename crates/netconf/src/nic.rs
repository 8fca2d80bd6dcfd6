//! Host NICs, as discovered on the host or read from a `--fake-nics` file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Drivers whose devices are never configured (software devices).
const SKIPPED_DRIVERS: [&str; 3] = ["bridge", "veth", "virtio-pci"];

/// udev properties tried, in order, for the NIC's predictable name.
const NAME_PROPERTIES: [&str; 4] = [
    "ID_NET_NAME_ONBOARD",
    "ID_NET_NAME_SLOT",
    "ID_NET_NAME_PATH",
    "ID_NET_NAME_MAC",
];

/// One network device of the host. This is also the `--fake-nics` file
/// format (a JSON list of these).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct HostNic {
    /// The kernel's name, e.g. `eth0`.
    pub logicalname: String,
    /// The MAC address as the host reports it.
    pub mac: String,
    /// The driver bound to the device, if any.
    #[serde(default)]
    pub driver: Option<String>,
    /// The device's udev properties (`ID_NET_NAME_*` are the ones read).
    #[serde(default)]
    pub udev: BTreeMap<String, String>,
}

impl HostNic {
    /// Whether netconf considers this device at all: it needs a driver, and
    /// software devices (bridges, veth pairs) are skipped.
    pub fn is_candidate(&self) -> bool {
        self.driver
            .as_deref()
            .is_some_and(|d| !SKIPPED_DRIVERS.contains(&d))
    }

    /// The name the OS will give the NIC: the first udev predictable name
    /// (onboard, slot, path, MAC), else the kernel name.
    pub fn name(&self) -> &str {
        NAME_PROPERTIES
            .iter()
            .find_map(|p| self.udev.get(*p))
            .map_or(self.logicalname.as_str(), String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nic(udev: &[(&str, &str)], driver: Option<&str>) -> HostNic {
        HostNic {
            logicalname: "eth0".into(),
            mac: "aa:bb:cc:dd:ee:ff".into(),
            driver: driver.map(str::to_owned),
            udev: udev
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn name_prefers_onboard_then_slot_path_mac() {
        let n = nic(
            &[("ID_NET_NAME_MAC", "enxaa"), ("ID_NET_NAME_PATH", "enp1s0")],
            None,
        );
        assert_eq!(n.name(), "enp1s0");
        let n = nic(
            &[
                ("ID_NET_NAME_ONBOARD", "eno1"),
                ("ID_NET_NAME_SLOT", "ens1"),
            ],
            None,
        );
        assert_eq!(n.name(), "eno1");
        assert_eq!(nic(&[], None).name(), "eth0");
    }

    #[test]
    fn software_devices_are_skipped() {
        assert!(nic(&[], Some("ixgbe")).is_candidate());
        assert!(!nic(&[], Some("bridge")).is_candidate());
        assert!(!nic(&[], None).is_candidate());
    }
}
