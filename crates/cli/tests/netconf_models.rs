//! `warren netconf --network-config` and `--renderer`: cloud-init network
//! config and Equinix metadata through the model renderers.

use std::fs;
use std::path::{Path, PathBuf};

fn configs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../netconf/tests/network-configs")
}

fn own_case(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../netconf/tests/cases")
        .join(name)
}

fn warren() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_warren"));
    cmd.arg("netconf");
    cmd
}

#[test]
fn network_config_is_written_with_the_chosen_renderer() {
    let rootfs = tempfile::tempdir().unwrap();
    warren()
        .arg("--network-config")
        .arg(configs().join("v2-bond.yaml"))
        .args(["--renderer", "networkd", "-q", "--rootfs"])
        .arg(rootfs.path())
        .assert()
        .success();
    let netdev = fs::read_to_string(
        rootfs
            .path()
            .join("etc/systemd/network/10-cloud-init-bond0.netdev"),
    )
    .unwrap();
    assert!(netdev.contains("Kind=bond\n"), "{netdev}");
    assert!(netdev.contains("Mode=802.3ad\n"), "{netdev}");
}

#[test]
fn renderer_auto_follows_the_distro() {
    for (os, path) in [
        ("ubuntu 22.04", "etc/netplan/50-cloud-init.yaml"),
        ("ubuntu 16.04", "etc/network/interfaces.d/50-cloud-init"),
        ("debian 12", "etc/network/interfaces.d/50-cloud-init"),
        ("rocky 8", "etc/sysconfig/network-scripts/ifcfg-eth1"),
        (
            "rhel 9",
            "etc/NetworkManager/system-connections/cloud-init-eth1.nmconnection",
        ),
    ] {
        let out = warren()
            .arg("--network-config")
            .arg(configs().join("v2-physical.yaml"))
            .args([
                "--renderer",
                "auto",
                "--format",
                "json",
                "-o",
                os,
                "--rootfs",
                "/nonexistent",
            ])
            .assert()
            .success()
            .get_output()
            .clone();
        let tasks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            tasks.as_array().unwrap().iter().any(|t| t["path"] == path),
            "{os}: no {path} in {tasks}"
        );
    }
}

#[test]
fn renderer_auto_reads_the_rootfs_os_release() {
    let rootfs = tempfile::tempdir().unwrap();
    fs::create_dir_all(rootfs.path().join("etc")).unwrap();
    fs::write(
        rootfs.path().join("etc/os-release"),
        "NAME=\"Debian\"\nID=debian\nVERSION_ID=\"12\"\n",
    )
    .unwrap();
    warren()
        .arg("--network-config")
        .arg(configs().join("v1-full.yaml"))
        .args(["-q", "--rootfs"])
        .arg(rootfs.path())
        .assert()
        .success();
    let eni =
        fs::read_to_string(rootfs.path().join("etc/network/interfaces.d/50-cloud-init")).unwrap();
    assert!(eni.contains("iface bond0 inet dhcp\n"), "{eni}");
}

#[test]
fn an_inexpressible_combination_is_an_error_naming_it() {
    let rootfs = tempfile::tempdir().unwrap();
    let out = warren()
        .arg("--network-config")
        .arg(configs().join("v2-match-driver.yaml"))
        .args(["--renderer", "eni", "--rootfs"])
        .arg(rootfs.path())
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("renderer eni cannot express interface"),
        "{stderr}"
    );
    assert_eq!(fs::read_dir(rootfs.path()).unwrap().count(), 0);
}

#[test]
fn a_malformed_network_config_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    fs::write(
        &file,
        "network:\n  version: 2\n  ethernets:\n    eth0:\n      mtu: big\n",
    )
    .unwrap();
    let out = warren()
        .arg("--network-config")
        .arg(&file)
        .args([
            "--renderer",
            "netplan",
            "--format",
            "json",
            "--rootfs",
            "/nonexistent",
        ])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ethernets.eth0.mtu: expected a number"),
        "{stderr}"
    );
}

#[test]
fn equinix_metadata_goes_through_the_model_with_renderer() {
    let case = own_case("01-debian11-mlag-bonded");
    let out = warren()
        .args([
            "--renderer",
            "netplan",
            "--format",
            "json",
            "--resolvers",
            "192.0.2.53",
        ])
        .arg("--metadata-file")
        .arg(case.join("metadata.json"))
        .arg("--fake-nics")
        .arg(case.join("interfaces.json"))
        .args(["--rootfs", "/nonexistent"])
        .assert()
        .success()
        .get_output()
        .clone();
    let tasks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let netplan = tasks[0]["content"].as_str().unwrap();
    assert!(netplan.contains("  bonds:\n    \"bond0\":\n"), "{netplan}");
    assert!(netplan.contains("mode: \"802.3ad\""), "{netplan}");
    assert!(netplan.contains("addresses: [\"192.0.2.53\"]"), "{netplan}");
}

#[test]
fn network_config_and_metadata_file_exclude_each_other() {
    let out = warren()
        .arg("--network-config")
        .arg(configs().join("v2-dhcp.yaml"))
        .args(["-M", "metadata.json", "--rootfs", "/nonexistent"])
        .assert()
        .failure()
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}

/// The typical bare-metal config (an 802.3ad bond carrying its first NIC's
/// MAC, a VLAN on it, IPv4 and IPv6, routes, DNS search) is written by all
/// five renderers from v1 and from v2, and each one carries the bond's MAC.
#[test]
fn a_bond_with_its_own_mac_renders_everywhere() {
    for config in ["v1-bond-mac.yaml", "v2-bond-mac.yaml"] {
        for (renderer, file, line) in [
            (
                "eni",
                "etc/network/interfaces.d/50-cloud-init",
                "hwaddress b4:96:91:a0:01:00",
            ),
            (
                "sysconfig",
                "etc/sysconfig/network-scripts/ifcfg-bond0",
                "MACADDR=b4:96:91:a0:01:00",
            ),
            (
                "netplan",
                "etc/netplan/50-cloud-init.yaml",
                "macaddress: \"b4:96:91:a0:01:00\"",
            ),
            (
                "networkd",
                "etc/systemd/network/10-cloud-init-bond0.netdev",
                "MACAddress=b4:96:91:a0:01:00",
            ),
            (
                "network-manager",
                "etc/NetworkManager/system-connections/cloud-init-bond0.nmconnection",
                "cloned-mac-address=B4:96:91:A0:01:00",
            ),
        ] {
            let rootfs = tempfile::tempdir().unwrap();
            warren()
                .arg("--network-config")
                .arg(configs().join(config))
                .args(["--renderer", renderer, "-q", "--rootfs"])
                .arg(rootfs.path())
                .assert()
                .success();
            let text = fs::read_to_string(rootfs.path().join(file)).unwrap();
            assert!(
                text.lines().any(|l| l.trim() == line),
                "{config} × {renderer}: no {line:?} in {file}:\n{text}"
            );
        }
    }
}

/// A key the renderer cannot express fails naming the renderer, the
/// interface, the key and why, and writes nothing.
#[test]
fn a_refused_key_names_renderer_key_and_reason() {
    let rootfs = tempfile::tempdir().unwrap();
    let config = rootfs.path().join("net.yaml");
    fs::write(
        &config,
        "network:\n  version: 2\n  ethernets:\n    eth0: {optional: true, dhcp4: true}\n",
    )
    .unwrap();
    let target = rootfs.path().join("root");
    fs::create_dir(&target).unwrap();
    let out = warren()
        .arg("--network-config")
        .arg(&config)
        .args(["--renderer", "eni", "--rootfs"])
        .arg(&target)
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "renderer eni cannot express interface eth0: `optional` (ifupdown has no not-required mark"
        ),
        "{stderr}"
    );
    assert_eq!(fs::read_dir(&target).unwrap().count(), 0);
}
