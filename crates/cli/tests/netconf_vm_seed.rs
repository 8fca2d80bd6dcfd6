//! `netconf: true` and `cloud_init: {user_data: FILE}` on a vm node: the
//! lab writes a cloud-init NoCloud seed (a FAT volume labelled CIDATA) and
//! attaches it read-only to the guest. The host's mtools read it back, and
//! cloud-init's own parser (Debian's cloud-init, `cloud-init devel
//! net-convert`) turns its network-config into the lab file's addresses
//! and routes, each NIC matched by its MAC. Needs root, QEMU, the DUT
//! fixture, mtools and cloud-init.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `mtype` of one file on the seed.
fn mtype(image: &Path, name: &str) -> String {
    let out = Command::new("mtype")
        .arg("-i")
        .arg(image)
        .arg(format!("::{name}"))
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .expect("mtype (Debian's mtools)");
    assert!(
        out.status.success(),
        "mtype {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The seed image of `node` under the lab's state folder.
fn seed_image(lab: &str, node: &str) -> PathBuf {
    walk(Path::new(&format!("/run/warren/{lab}")))
        .into_iter()
        .find(|p| {
            p.file_name()
                .is_some_and(|n| *n == *format!("{node}.seed.img"))
        })
        .unwrap_or_else(|| panic!("no {node}.seed.img under /run/warren/{lab}"))
}

#[test]
fn a_vm_gets_a_nocloud_seed_with_the_lab_addresses() {
    require_root();
    let fixture = dut_fixture();
    let tmp = tempfile::tempdir().expect("tempdir");
    let user_data = "#cloud-config\nruncmd:\n  - [touch, /run/warren-was-here]\n";
    std::fs::write(tmp.path().join("user-data.yaml"), user_data).expect("user data");
    let lab_text = format!(
        "name: seedlab
nodes:
  left: {{}}
  dut:
    kind: vm
    kernel: {k}
    initrd: {i}
    append: console=ttyS0 dut_name=dut dut_ip0=10.91.1.1/24
    accel: tcg
    memory: 256
    netconf: true
    cloud_init: {{user_data: user-data.yaml}}
    ready: {{console: 'DUT-READY', timeout: 90s}}
links:
  - endpoints: [left:eth0, dut:eth0]
    ipv4: [10.91.1.2/24, 10.91.1.1/24]
    ipv6: ['2001:db8:91::2/64', '2001:db8:91::1/64']
interfaces:
  dut:eth0: {{routes: ['10.92.0.0/16 via 10.91.1.2', 'default via 10.91.1.2']}}
",
        k = fixture.join("vmlinuz").display(),
        i = fixture.join("initrd.gz").display()
    );
    let file = write_lab(tmp.path(), "seedlab", &lab_text);
    let lab = LabGuard::up(tmp.path(), &file, "seedlab");
    lab.ping("left", "10.91.1.1", &[]);

    let image = seed_image("seedlab", "dut");
    // QEMU has it as a read-only drive.
    let qemu = processes_with(&format!(
        "{},format=raw,if=virtio,readonly=on",
        image.display()
    ));
    assert_eq!(qemu.len(), 1, "QEMU with the seed drive: {qemu:?}");

    let label = Command::new("mlabel")
        .arg("-i")
        .arg(&image)
        .args(["-s", "::"])
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .expect("mlabel");
    assert!(
        String::from_utf8_lossy(&label.stdout).contains("CIDATA"),
        "label: {}",
        String::from_utf8_lossy(&label.stdout)
    );
    let meta = mtype(&image, "meta-data");
    assert!(meta.contains("instance-id: seedlab.dut\n"), "{meta}");
    assert!(meta.contains("local-hostname: dut\n"), "{meta}");
    assert_eq!(mtype(&image, "user-data"), user_data);
    let network = mtype(&image, "network-config");

    // cloud-init's own parser reads it; its networkd rendering carries the
    // lab file's addresses and route on the NIC with the vm's MAC.
    // The MAC of the guest's first NIC, from QEMU's command line.
    let mac = qemu[0]
        .split([' ', ','])
        .find_map(|w| w.strip_prefix("mac="))
        .expect("QEMU's first NIC has a MAC")
        .to_owned();
    let work = tempfile::tempdir().expect("tempdir");
    let nc = work.path().join("network-config");
    std::fs::write(&nc, &network).expect("network-config");
    let out = Command::new("cloud-init")
        .args([
            "devel",
            "net-convert",
            "-k",
            "yaml",
            "-D",
            "debian",
            "-O",
            "networkd",
            "-p",
        ])
        .arg(&nc)
        .arg("-d")
        .arg(work.path().join("out"))
        .output()
        .expect("cloud-init (Debian's cloud-init)");
    assert!(
        out.status.success(),
        "net-convert: {}\n{network}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unit = std::fs::read_to_string(
        work.path()
            .join("out/etc/systemd/network/10-cloud-init-eth0.network"),
    )
    .unwrap_or_else(|e| panic!("cloud-init wrote no unit for eth0 ({e}):\n{network}"));
    for want in [
        format!("MACAddress={}", mac.to_ascii_lowercase()),
        "Name=eth0".to_owned(),
        "Address=10.91.1.1/24".to_owned(),
        "Address=2001:db8:91::1/64".to_owned(),
        "Destination=10.92.0.0/16".to_owned(),
        "Gateway=10.91.1.2".to_owned(),
        "Destination=0.0.0.0/0".to_owned(),
    ] {
        assert!(
            unit.lines().any(|l| l.trim() == want),
            "no {want} in cloud-init's unit:\n{unit}\nfrom:\n{network}"
        );
    }
    drop(lab);
    assert!(!image.exists(), "the seed outlives the lab");
}

/// A renderer on a vm's netconf does nothing (cloud-init picks it in the
/// guest), so it is refused at its place in the file.
#[test]
fn a_renderer_on_a_vm_is_an_error_at_its_place() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = write_lab(
        tmp.path(),
        "vmrend",
        "name: vmrend\nnodes:\n  dut:\n    kind: vm\n    kernel: k\n    netconf: {renderer: networkd}\n    cloud_init: {user_data: u.yaml}\n",
    );
    let out = run(tmp.path(), &["validate", file.to_str().expect("path")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("warren::netconf-renderer"), "{stderr}");
    assert!(stderr.contains(":6:5"), "{stderr}");
    assert!(
        stderr.contains("netconf renderer `networkd` does not apply to a vm"),
        "{stderr}"
    );
    // cloud_init is for vm nodes only.
    let file = write_lab(
        tmp.path(),
        "nsci",
        "name: nsci\nnodes:\n  r1:\n    cloud_init: {user_data: u.yaml}\n",
    );
    let out = run(tmp.path(), &["validate", file.to_str().expect("path")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("`cloud_init` does not apply to netns nodes"),
        "{stderr}"
    );
}
