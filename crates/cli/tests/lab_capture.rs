//! Every link and network of a running lab is captured: pings show up in
//! the pcapng files exactly once, with the right interface blocks; live
//! streams work; `capture: false` turns a link off. Needs root and tshark.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use warren_capture::reader::{Block, PcapngReader};

const LAB: &str = "
name: cap
nodes:
  a: {}
  b: {}
  c: {}
  d: {}
links:
  - endpoints: [a:eth1, b:eth1]
    ipv4: [10.80.0.1/24, 10.80.0.2/24]
  - endpoints: [a:eth2, d:eth2]
    ipv4: [10.80.9.1/24, 10.80.9.2/24]
    capture: false
networks:
  lan:
    members: [a:lan, b:lan, c:lan]
    ipv4: 10.81.0.0/24
";

/// ICMP echo (type 8) and echo reply (type 0) frames in a pcapng file, by
/// interface name, read with warren's pcapng reader.
fn icmp_by_interface(path: &Path) -> (Vec<String>, Vec<(String, u8)>) {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut names = Vec::new();
    let mut frames = Vec::new();
    let mut resolutions = Vec::new();
    for block in PcapngReader::new(f) {
        match block.expect("a valid pcapng block") {
            Block::Interface(i) => {
                names.push(i.name.clone().unwrap_or_default());
                resolutions.push(i.tsresol);
            }
            Block::Packet(p) => {
                let d = &p.data;
                // Ethernet + IPv4 + ICMP: ethertype 0x0800, protocol 1.
                if d.len() > 34 && d[12..14] == [0x08, 0x00] && d[23] == 1 {
                    let ihl = usize::from(d[14] & 0x0f) * 4;
                    frames.push((names[p.interface as usize].clone(), d[14 + ihl]));
                }
            }
            _ => {}
        }
    }
    assert!(
        resolutions.iter().all(|r| *r == Some(9)),
        "nanosecond timestamps: {resolutions:?}"
    );
    (names, frames)
}

fn tshark_count(path: &Path, filter: &str) -> usize {
    let out = std::process::Command::new("tshark")
        .args(["-r"])
        .arg(path)
        .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
        .output()
        .expect("tshark is installed (scripts/setup installs it)");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn run_dir(results: &Path) -> PathBuf {
    std::fs::read_dir(results.join("cap"))
        .expect("results/cap")
        .flatten()
        .map(|e| e.path())
        .max()
        .expect("a run folder")
}

#[test]
fn pings_appear_exactly_once_per_link_and_network_capture() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = write_lab(tmp.path(), "cap", LAB);
    let n = 5;
    {
        let lab = LabGuard::up(tmp.path(), &file, "cap");
        let count = n.to_string();
        for (from, to) in [("a", "10.80.0.2"), ("c", "10.81.0.2"), ("a", "10.80.9.2")] {
            let (code, out, err) =
                lab.exec(from, &["ping", "-c", &count, "-i", "0.2", "-W", "2", to]);
            assert_eq!(code, 0, "{out}{err}");
        }
        let info: serde_json::Value =
            serde_json::from_str(&ok(tmp.path(), &["inspect", "cap", "--json"])).expect("json");
        let caps = info["captures"].as_array().expect("captures");
        let names: Vec<&str> = caps.iter().filter_map(|c| c["name"].as_str()).collect();
        assert_eq!(
            names,
            ["a.eth1-b.eth1", "lan"],
            "capture: false links are not captured"
        );
        assert!(caps.iter().all(|c| c["dropped"] == 0), "{caps:?}");
    }
    let dir = run_dir(&tmp.path().join("results")).join("capture");
    let link = dir.join("a.eth1-b.eth1.pcapng");
    let (names, frames) = icmp_by_interface(&link);
    assert_eq!(names, ["a:eth1"], "one capture point per link");
    assert_eq!(
        frames.iter().filter(|(_, t)| *t == 8).count(),
        n,
        "{frames:?}"
    );
    assert_eq!(
        frames.iter().filter(|(_, t)| *t == 0).count(),
        n,
        "{frames:?}"
    );
    assert_eq!(tshark_count(&link, "icmp.type == 8"), n);
    assert_eq!(tshark_count(&link, "icmp.type == 0"), n);

    let lan = dir.join("lan.pcapng");
    let (names, frames) = icmp_by_interface(&lan);
    assert_eq!(
        names,
        ["a:lan", "b:lan", "c:lan"],
        "one interface block per member"
    );
    let requests: Vec<_> = frames.iter().filter(|(_, t)| *t == 8).collect();
    let replies: Vec<_> = frames.iter().filter(|(_, t)| *t == 0).collect();
    assert_eq!(
        requests.len(),
        n,
        "each request once, at the member that sent it: {frames:?}"
    );
    assert!(requests.iter().all(|(i, _)| i == "c:lan"));
    assert_eq!(replies.len(), n);
    assert!(replies.iter().all(|(i, _)| i == "b:lan"));
    assert_eq!(tshark_count(&lan, "icmp"), 2 * n);
    assert!(!dir.join("a.eth2-d.eth2.pcapng").exists());
}

#[test]
fn a_live_stream_carries_frames_of_any_link_even_uncaptured_ones() {
    require_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = write_lab(
        tmp.path(),
        "cap-live",
        &LAB.replace("name: cap", "name: cap-live"),
    );
    let lab = LabGuard::up(tmp.path(), &file, "cap-live");
    for link in ["a:eth2", "lan"] {
        let out = tmp
            .path()
            .join(format!("{}.pcapng", link.replace(':', "_")));
        let mut stream = warren(tmp.path())
            .args(["capture", "cap-live", link, "-w"])
            .arg(&out)
            .spawn()
            .expect("warren capture");
        std::thread::sleep(std::time::Duration::from_millis(300));
        let target = if link == "lan" {
            "10.81.0.3"
        } else {
            "10.80.9.2"
        };
        let (code, _, _) = lab.exec("a", &["ping", "-c", "3", "-i", "0.2", target]);
        assert_eq!(code, 0);
        std::thread::sleep(std::time::Duration::from_millis(300));
        let _ = stream.kill();
        let _ = stream.wait();
        let (_, frames) = icmp_by_interface(&out);
        assert_eq!(
            frames.iter().filter(|(_, t)| *t == 8).count(),
            3,
            "{link}: {frames:?}"
        );
        assert_eq!(tshark_count(&out, "icmp.type == 0"), 3, "{link}");
    }
    let out = run(tmp.path(), &["capture", "cap-live", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no link or network called nosuch"));
}
