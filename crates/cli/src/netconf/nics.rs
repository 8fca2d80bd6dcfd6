//! The host's NICs: from /sys/class/net and the udev database, or from a
//! `--fake-nics` file for tests and dry runs.

use std::fs;
use std::io;
use std::path::Path;

use warren_netconf::HostNic;

/// Where the kernel lists network devices.
pub(crate) const SYS_CLASS_NET: &str = "/sys/class/net";
/// udev's database of device properties (`n<ifindex>` files for NICs).
pub(crate) const UDEV_DATA: &str = "/run/udev/data";

/// Lists the devices under `sys_class_net` that have a driver, with their
/// udev properties from `udev_data` (a device udev never saw has none).
pub(crate) fn discover(sys_class_net: &Path, udev_data: &Path) -> io::Result<Vec<HostNic>> {
    let mut names: Vec<String> = fs::read_dir(sys_class_net)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<io::Result<_>>()?;
    names.sort();
    let mut nics = Vec::new();
    for name in names {
        let dev = sys_class_net.join(&name);
        let Ok(driver) = fs::read_link(dev.join("device/driver")) else {
            continue;
        };
        let read = |attr: &str| fs::read_to_string(dev.join(attr)).map(|s| s.trim().to_owned());
        let udev = match read("ifindex") {
            Ok(index) => udev_properties(&udev_data.join(format!("n{index}"))),
            Err(_) => Default::default(),
        };
        nics.push(HostNic {
            mac: read("address")?,
            driver: driver.file_name().map(|d| d.to_string_lossy().into_owned()),
            logicalname: name,
            udev,
        });
    }
    Ok(nics)
}

/// The `E:KEY=VALUE` lines of a udev database entry.
fn udev_properties(path: &Path) -> std::collections::BTreeMap<String, String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("E:")?.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Reads a `--fake-nics` file: a JSON list of `{logicalname, mac, driver, udev}`.
pub(crate) fn load_fake(path: &Path) -> Result<Vec<HostNic>, String> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("--fake-nics {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("--fake-nics {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn discovers_devices_with_a_driver_and_their_udev_names() {
        let tmp = tempfile::tempdir().unwrap();
        let net = tmp.path().join("net");
        let udev = tmp.path().join("udev");
        fs::create_dir_all(&udev).unwrap();
        for (name, driver, index) in [("eth0", Some("ixgbe"), 2), ("lo", None, 1)] {
            let dev = net.join(name);
            fs::create_dir_all(dev.join("device")).unwrap();
            fs::write(dev.join("address"), "aa:bb:cc:00:00:01\n").unwrap();
            fs::write(dev.join("ifindex"), format!("{index}\n")).unwrap();
            if let Some(d) = driver {
                symlink(
                    format!("../../bus/pci/drivers/{d}"),
                    dev.join("device/driver"),
                )
                .unwrap();
            }
        }
        fs::write(
            udev.join("n2"),
            "I:123\nE:ID_NET_NAME_PATH=enp1s0f0\nE:ID_NET_NAME_MAC=enxaabbcc000001\n",
        )
        .unwrap();
        let nics = discover(&net, &udev).unwrap();
        assert_eq!(nics.len(), 1);
        assert_eq!(nics[0].logicalname, "eth0");
        assert_eq!(nics[0].driver.as_deref(), Some("ixgbe"));
        assert_eq!(nics[0].mac, "aa:bb:cc:00:00:01");
        assert_eq!(nics[0].name(), "enp1s0f0");
    }
}
