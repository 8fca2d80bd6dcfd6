//! VM runtime against real QEMU and the DUT fixture (scripts/fixtures/dut.sh).
//! Needs root (or runs the rootless part as uid 65534 itself), qemu-system-x86,
//! ovmf, and what dut.sh needs; a missing piece fails the test with the reason.
//! Every test makes its own namespaces and directories; nothing is created in
//! the host namespace.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use warren_kernel::{IpNet, MacAddr, Netns, RouteSpec};
use warren_runtime::vm::{
    Accel, Boot, Firmware, NicBackend, NicSpec, Vm, VmConfig, VmEvent, open_tap, socket_pair,
};

const BOOT: Duration = Duration::from_secs(90);

fn require_root() {
    warren_fixtures::require_root();
    let ok = Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "qemu-system-x86_64 is missing: run scripts/setup (Debian package qemu-system-x86)"
    );
}

fn fixture() -> &'static Path {
    warren_fixtures::dut()
}

fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id() % 100000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A short state directory (unix socket paths must fit 107 bytes).
fn state_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wvm-{name}"));
    std::fs::create_dir_all(&d).expect("state dir");
    d
}

fn dut_boot(append: &str) -> Boot {
    Boot::Kernel {
        kernel: fixture().join("vmlinuz"),
        initrd: Some(fixture().join("initrd.gz")),
        append: format!("console=ttyS0 quiet panic=-1 {append}"),
    }
}

fn net(s: &str) -> IpNet {
    s.parse().expect("address")
}

/// Brings `ifname` up in `ns` with `addr`, plus routes `(dst, via)`.
fn configure(ns: &Netns, ifname: &str, addr: &str, routes: &[(&str, &str)]) {
    let idx = ns.link_index(ifname).expect("tap index");
    let mut b = ns.batch();
    b.set_up(ifname).add_address(idx, net(addr));
    ns.execute(b).expect("address the tap");
    let mut lo = ns.batch();
    lo.set_up("lo");
    ns.execute(lo).expect("lo up");
    for (dst, via) in routes {
        let mut b = ns.batch();
        b.add_route(&RouteSpec::via(net(dst), via.parse().expect("gateway")));
        ns.execute(b).expect("route");
    }
}

fn ping(ns: &Netns, dst: &str) {
    let mut cmd = Command::new("ping");
    cmd.args(["-c", "2", "-i", "0.2", "-W", "3", dst]);
    ns.configure_command(&mut cmd);
    let out = cmd.output().expect("running ping");
    assert!(
        out.status.success(),
        "ping {dst} from {} failed:\n{}",
        ns.label(),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// IPv4 ICMP echo frames in a classic pcap: (type, src, dst) -> count.
fn icmp_frames(path: &Path) -> BTreeMap<(u8, Ipv4Addr, Ipv4Addr), usize> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    assert!(data.len() >= 24, "{} is not a pcap", path.display());
    let le = match &data[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        m => panic!("{}: bad pcap magic {m:?}", path.display()),
    };
    let u32at = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    assert_eq!(u32at(&data[20..24]), 1, "link type must be Ethernet");
    let mut out = BTreeMap::new();
    let mut off = 24;
    while off + 16 <= data.len() {
        let incl = u32at(&data[off + 8..off + 12]) as usize;
        let f = &data[off + 16..(off + 16 + incl).min(data.len())];
        off += 16 + incl;
        if f.len() < 34 || f[12..14] != [0x08, 0x00] || f[14 + 9] != 1 {
            continue;
        }
        let ihl = usize::from(f[14] & 0x0f) * 4;
        let src = Ipv4Addr::new(f[26], f[27], f[28], f[29]);
        let dst = Ipv4Addr::new(f[30], f[31], f[32], f[33]);
        if let Some(&ty) = f.get(14 + ihl) {
            *out.entry((ty, src, dst)).or_insert(0) += 1;
        }
    }
    out
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("ipv4")
}

fn proc_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
}

/// The main path: two namespaces, a tap in each (the tap *is* the peer's
/// eth1), the DUT routing between them; pings, captures, console, QMP,
/// powerdown, nothing left.
#[test]
fn dut_with_two_taps_routes_pings_and_captures_every_frame() {
    require_root();
    let name = unique("d");
    let nss = Netns::create_many([format!("{name}-a"), format!("{name}-b")]).expect("netns");
    let (a, b) = (&nss[0], &nss[1]);
    let tap_a = open_tap(a, "eth1").expect("tap in a");
    let tap_b = open_tap(b, "eth1").expect("tap in b");
    configure(
        a,
        "eth1",
        "10.199.0.1/24",
        &[("10.199.1.0/24", "10.199.0.2")],
    );
    configure(
        b,
        "eth1",
        "10.199.1.1/24",
        &[("10.199.0.0/24", "10.199.1.2")],
    );

    let results = tempfile::tempdir().expect("tempdir");
    let pcap_a = results.path().join("dut-eth0.pcap");
    let pcap_b = results.path().join("dut-eth1.pcap");
    let state = state_dir(&name);
    let mut cfg = VmConfig::new(
        "dut",
        dut_boot("dut_name=dut1 dut_ip0=10.199.0.2/24 dut_ip1=10.199.1.2/24 dut_fwd=1"),
        &state,
        results.path(),
    );
    cfg.accel = Accel::Tcg;
    cfg.memory_mib = 128;
    cfg.nics
        .push(NicSpec::new(MacAddr::local(0x10), NicBackend::Tap(tap_a)).capture(&pcap_a));
    cfg.nics
        .push(NicSpec::new(MacAddr::local(0x11), NicBackend::Tap(tap_b)).capture(&pcap_b));
    let (tx, events) = mpsc::channel();
    cfg.events = Some(tx);

    let t0 = Instant::now();
    let mut vm = Vm::start(cfg).expect("start the DUT");
    let pid = vm.pid().expect("pid");
    let banner = vm
        .wait_ready(r"=== DUT-READY dut1 ifaces: (.*)===", BOOT)
        .expect("banner");
    eprintln!("banner after {:?}: {}", t0.elapsed(), banner.matched);
    assert_eq!(banner.groups[0].as_deref(), Some("eth0 eth1 lo "));
    assert!(vm.console_socket().exists(), "console share socket");

    ping(a, "10.199.0.2");
    ping(b, "10.199.1.2");
    ping(a, "10.199.1.1"); // across the DUT

    let console = vm.console();
    let out = console
        .run("ip -o addr", Duration::from_secs(20))
        .expect("run ip");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.output.contains("10.199.0.2/24"), "{}", out.output);
    assert!(out.output.contains("10.199.1.2/24"), "{}", out.output);
    let fail = console
        .run("ls /nonexistent", Duration::from_secs(20))
        .expect("run ls");
    assert_ne!(fail.code, 0, "{fail:?}");
    let three = console
        .run("sh -c 'exit 3'", Duration::from_secs(20))
        .expect("run exit 3");
    assert_eq!(three.code, 3);

    // The share socket `warren console` attaches to: input reaches the
    // guest, output comes back, while the reader keeps logging.
    {
        use std::io::{Read, Write};
        let mut share =
            std::os::unix::net::UnixStream::connect(vm.console_socket()).expect("share socket");
        share
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        share.write_all(b"echo share-$((6*7))\n").expect("type");
        let mut seen = Vec::new();
        let mut chunk = [0u8; 512];
        while !String::from_utf8_lossy(&seen).contains("share-42") {
            let n = share
                .read(&mut chunk)
                .expect("console output on the share socket");
            assert!(n > 0, "share socket closed");
            seen.extend_from_slice(&chunk[..n]);
        }
    }

    let status = vm.qmp().query_status().expect("query-status");
    assert_eq!(status.status, "running");
    vm.qmp().stop().expect("stop");
    assert_eq!(vm.qmp().query_status().expect("status").status, "paused");
    vm.qmp().cont().expect("cont");

    let again = vm.console();
    vm.qmp().reset().expect("reset");
    again
        .expect("=== DUT-READY dut1", BOOT)
        .expect("banner after reset");

    vm.qmp().system_powerdown().expect("powerdown");
    let exit = vm.wait_exit(Duration::from_secs(30)).expect("wait");
    assert!(
        exit.is_some_and(|s| s.success()),
        "QEMU did not power off: {exit:?}"
    );
    let report = vm.stop(Duration::from_secs(5)).expect("stop");
    assert!(!report.killed);

    let names: Vec<String> = events
        .try_iter()
        .filter_map(|e| match e {
            VmEvent::Qmp { event, .. } => Some(event.event),
            _ => None,
        })
        .collect();
    for want in ["STOP", "RESUME", "RESET", "POWERDOWN", "SHUTDOWN"] {
        assert!(
            names.iter().any(|n| n == want),
            "no {want} event in {names:?}"
        );
    }

    // Every echo request and reply, on each NIC, exactly once.
    let (req, rep) = (8u8, 0u8);
    let want_a = BTreeMap::from([
        ((req, ip("10.199.0.1"), ip("10.199.0.2")), 2),
        ((rep, ip("10.199.0.2"), ip("10.199.0.1")), 2),
        ((req, ip("10.199.0.1"), ip("10.199.1.1")), 2),
        ((rep, ip("10.199.1.1"), ip("10.199.0.1")), 2),
    ]);
    let want_b = BTreeMap::from([
        ((req, ip("10.199.1.1"), ip("10.199.1.2")), 2),
        ((rep, ip("10.199.1.2"), ip("10.199.1.1")), 2),
        ((req, ip("10.199.0.1"), ip("10.199.1.1")), 2),
        ((rep, ip("10.199.1.1"), ip("10.199.0.1")), 2),
    ]);
    assert_eq!(icmp_frames(&pcap_a), want_a);
    assert_eq!(icmp_frames(&pcap_b), want_b);

    let log = std::fs::read(results.path().join("dut.log")).expect("raw log");
    let log = String::from_utf8_lossy(&log);
    assert!(
        log.contains("dut: init") && log.contains("reboot: Power down"),
        "{log}"
    );
    assert_eq!(log.matches("=== DUT-READY dut1").count(), 2, "two boots");
    let txt = std::fs::read_to_string(results.path().join("dut.txt")).expect("text log");
    assert!(txt.lines().all(|l| l.starts_with('[')), "{txt}");
    assert!(txt.contains("\\x1b[6n"), "escapes are visible: {txt}");

    // Nothing left: no process, no taps, no sockets.
    assert!(!proc_alive(pid), "QEMU {pid} still runs");
    for ns in [a, b] {
        assert!(
            ns.link("eth1").expect("links").is_none(),
            "tap left in {}",
            ns.label()
        );
    }
    let left: Vec<_> = std::fs::read_dir(&state).expect("state").collect();
    assert!(left.is_empty(), "state files left: {left:?}");
    let _ = std::fs::remove_dir(&state);
}

/// UEFI: OVMF boots a raw FAT disk (a unified kernel image as the removable
/// media boot path) on a qcow2 overlay; the base image is untouched.
#[test]
fn uefi_disk_boots_on_an_overlay() {
    require_root();
    let name = unique("u");
    let image = fixture().join("uefi.img");
    let before = std::fs::metadata(&image)
        .and_then(|m| m.modified())
        .expect("image");
    let results = tempfile::tempdir().expect("tempdir");
    let state = state_dir(&name);
    let mut cfg = VmConfig::new(
        "uefi",
        Boot::Disk {
            path: image.clone(),
            format: None,
        },
        &state,
        results.path(),
    );
    cfg.firmware = Firmware::Uefi(Default::default());
    cfg.accel = Accel::Tcg;
    let t0 = Instant::now();
    let vm = Vm::start(cfg).expect("start");
    assert!(vm.paths().overlay.exists() && vm.paths().vars.exists());
    vm.wait_ready("=== DUT-READY uefi", Duration::from_secs(120))
        .expect("UEFI banner");
    eprintln!("UEFI banner after {:?}", t0.elapsed());
    let out = vm
        .console()
        .run("echo hi > /tmp/x; cat /tmp/x", Duration::from_secs(20))
        .expect("run");
    assert_eq!((out.code, out.output.as_str()), (0, "hi"));
    let paths = vm.paths().clone();
    vm.stop(Duration::from_secs(5)).expect("stop");
    assert!(
        !paths.overlay.exists() && !paths.vars.exists(),
        "overlay and vars removed"
    );
    let after = std::fs::metadata(&image)
        .and_then(|m| m.modified())
        .expect("image");
    assert_eq!(before, after, "the base image was written");
    let _ = std::fs::remove_dir(&state);
}

/// `accel: auto` on a host whose KVM cannot run the guest (this one: PVM)
/// restarts it under TCG and says so; where KVM works it stays on KVM.
#[test]
fn accel_auto_falls_back_to_tcg_when_kvm_fails() {
    require_root();
    let name = unique("k");
    let results = tempfile::tempdir().expect("tempdir");
    let state = state_dir(&name);
    let mut cfg = VmConfig::new("auto", dut_boot("dut_name=auto"), &state, results.path());
    cfg.accel = Accel::Auto;
    cfg.kvm_probe = Duration::from_secs(4);
    cfg.kvm_probe_pattern = Some("=== DUT-READY auto".into());
    let (tx, events) = mpsc::channel();
    cfg.events = Some(tx);
    let vm = Vm::start(cfg).expect("start");
    vm.wait_ready("=== DUT-READY auto", BOOT).expect("banner");
    match vm.accel() {
        Accel::Tcg => {
            let note = vm.accel_note().expect("a fallback says why");
            eprintln!("fell back to TCG: {note}");
            let said = events
                .try_iter()
                .any(|e| matches!(e, VmEvent::AccelFallback { .. }));
            assert!(said, "no AccelFallback event");
            let txt = std::fs::read_to_string(results.path().join("auto.txt")).expect("txt");
            assert!(
                txt.contains("restarting under TCG") || note.contains("/dev/kvm"),
                "{txt}"
            );
        }
        other => {
            eprintln!("KVM works here: {other:?}");
            assert_eq!(other, Accel::Kvm);
        }
    }
    vm.stop(Duration::from_secs(5)).expect("stop");
    let _ = std::fs::remove_dir(&state);
}

/// A vm–vm link over a socket pair: nothing in any namespace, each side
/// captured by its own filter-dump.
#[test]
fn two_vms_on_a_socket_pair_link() {
    require_root();
    let name = unique("s");
    let results = tempfile::tempdir().expect("tempdir");
    let state = state_dir(&name);
    let (x, y) = socket_pair().expect("socketpair");
    let mk = |n: &str, ip: &str, fd, mac| {
        let mut cfg = VmConfig::new(
            n,
            dut_boot(&format!("dut_name={n} dut_ip0={ip}")),
            &state,
            results.path(),
        );
        cfg.accel = Accel::Tcg;
        cfg.memory_mib = 128;
        cfg.nics.push(
            NicSpec::new(MacAddr::local(mac), NicBackend::Socket(fd))
                .capture(results.path().join(format!("{n}.pcap"))),
        );
        cfg
    };
    let v1 = Vm::start(mk("v1", "10.199.9.1/24", x, 0x21)).expect("v1");
    let v2 = Vm::start(mk("v2", "10.199.9.2/24", y, 0x22)).expect("v2");
    v1.wait_ready("=== DUT-READY v1", BOOT).expect("v1 banner");
    v2.wait_ready("=== DUT-READY v2", BOOT).expect("v2 banner");
    let out = v1
        .console()
        .run("ping -c 2 -W 3 10.199.9.2", Duration::from_secs(30))
        .expect("ping");
    assert_eq!(out.code, 0, "{}", out.output);
    v1.stop(Duration::from_secs(5)).expect("stop v1");
    v2.stop(Duration::from_secs(5)).expect("stop v2");
    for n in ["v1", "v2"] {
        let f = icmp_frames(&results.path().join(format!("{n}.pcap")));
        assert_eq!(
            f.get(&(8, ip("10.199.9.1"), ip("10.199.9.2"))),
            Some(&2),
            "{n}: {f:?}"
        );
        assert_eq!(
            f.get(&(0, ip("10.199.9.2"), ip("10.199.9.1"))),
            Some(&2),
            "{n}: {f:?}"
        );
    }
    let _ = std::fs::remove_dir(&state);
}

/// Rootless: uid 65534 in its own user namespace (`unshare -Urn` style)
/// creates the netns and tap and runs QEMU with the tap fd. Runs the
/// `rootless_inner` test of this binary in that setting.
#[test]
fn rootless_tap_fd_path_as_nobody() {
    require_root();
    let out_dir = tempfile::tempdir().expect("tempdir");
    let out = out_dir.path().join("out");
    std::fs::create_dir(&out).expect("out dir");
    let chown = Command::new("chown")
        .args(["65534:65534"])
        .arg(&out)
        .status()
        .expect("chown");
    assert!(chown.success());
    std::fs::set_permissions(
        out_dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let exe = std::env::current_exe().expect("test binary");
    let run = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "unshare",
            "-Urn",
        ])
        .arg(&exe)
        .args([
            "--exact",
            "rootless_inner",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("WARREN_VM_FIXTURE", fixture())
        .env("WARREN_VM_OUT", &out)
        .env("TMPDIR", &out)
        .output()
        .expect("setpriv (util-linux) is needed");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        run.status.success() && text.contains("1 passed"),
        "rootless run failed (the test binary {} and the fixture must be readable by uid 65534):\n{text}",
        exe.display()
    );
    let meta = std::fs::metadata(out.join("nobody.pcap")).expect("pcap written");
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&meta),
        65534,
        "written by uid 65534"
    );
}

/// The body of [`rootless_tap_fd_path_as_nobody`]; only meaningful there.
#[test]
#[ignore = "run by rootless_tap_fd_path_as_nobody inside a user namespace"]
fn rootless_inner() {
    let out = PathBuf::from(std::env::var("WARREN_VM_OUT").expect("run by the rootless test"));
    let peer = Netns::create("rootless-peer").expect("netns inside the user namespace");
    let tap = open_tap(&peer, "eth1").expect("tap inside the user namespace");
    configure(&peer, "eth1", "10.199.5.1/24", &[]);
    let state = out.join("s");
    let mut cfg = VmConfig::new(
        "nobody",
        dut_boot("dut_name=nobody dut_ip0=10.199.5.2/24"),
        &state,
        &out,
    );
    cfg.accel = Accel::Tcg;
    cfg.memory_mib = 128;
    cfg.nics.push(
        NicSpec::new(MacAddr::local(0x31), NicBackend::Tap(tap)).capture(out.join("nobody.pcap")),
    );
    let vm = Vm::start(cfg).expect("start as nobody");
    vm.wait_ready("=== DUT-READY nobody", BOOT).expect("banner");
    ping(&peer, "10.199.5.2");
    vm.stop(Duration::from_secs(5)).expect("stop");
    let f = icmp_frames(&out.join("nobody.pcap"));
    assert_eq!(
        f.get(&(8, ip("10.199.5.1"), ip("10.199.5.2"))),
        Some(&2),
        "{f:?}"
    );
    assert!(
        peer.link("eth1").expect("links").is_none(),
        "tap gone with QEMU"
    );
}

/// With `/dev/net/tun` at 0600 (bind-mounted privately, so the host is not
/// touched), uid 65534 cannot create a tap even inside its own user
/// namespace: the error names the tap, the namespace and EACCES. This is the
/// documented limit of a rootless supervisor.
#[test]
fn rootless_tap_creation_needs_a_usable_dev_net_tun() {
    require_root();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let exe = std::env::current_exe().expect("test binary");
    let script = r#"set -e
mount --make-rprivate /
mknod -m 0600 "$D/tun" c 10 200
mount --bind "$D/tun" /dev/net/tun
exec setpriv --reuid=65534 --regid=65534 --clear-groups unshare -Urn "$@""#;
    let run = Command::new("unshare")
        .args(["-m", "sh", "-c", script, "sh"])
        .arg(&exe)
        .args([
            "--exact",
            "rootless_tun_denied_inner",
            "--include-ignored",
            "--nocapture",
        ])
        .env("D", dir.path())
        .output()
        .expect("unshare (util-linux)");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.status.success() && text.contains("1 passed"), "{text}");
}

/// The body of [`rootless_tap_creation_needs_a_usable_dev_net_tun`].
#[test]
#[ignore = "run by rootless_tap_creation_needs_a_usable_dev_net_tun"]
fn rootless_tun_denied_inner() {
    let peer = Netns::create("denied-peer").expect("netns inside the user namespace");
    let err = open_tap(&peer, "eth1").expect_err("/dev/net/tun is 0600");
    let chain = warren_kernel::error_chain(&err);
    eprintln!("{chain}");
    assert!(
        chain.contains("/dev/net/tun") && chain.contains("ermission denied"),
        "{chain}"
    );
}

/// The other rootless shape: a privileged supervisor opens the tap inside
/// the peer's namespace and QEMU runs as uid 65534 (through the `wrapper`),
/// never opening `/dev/net/tun` itself.
#[test]
fn qemu_as_nobody_with_a_tap_fd_from_root() {
    require_root();
    let name = unique("n");
    let peer = Netns::create(format!("{name}-p")).expect("netns");
    let tap = open_tap(&peer, "eth1").expect("tap");
    configure(&peer, "eth1", "10.199.6.1/24", &[]);
    let results = tempfile::tempdir().expect("tempdir");
    let state = state_dir(&name);
    for d in [results.path(), state.as_path()] {
        let ok = Command::new("chown")
            .arg("65534:65534")
            .arg(d)
            .status()
            .expect("chown");
        assert!(ok.success());
    }
    let mut cfg = VmConfig::new(
        "low",
        dut_boot("dut_name=low dut_ip0=10.199.6.2/24"),
        &state,
        results.path(),
    );
    cfg.accel = Accel::Tcg;
    cfg.memory_mib = 128;
    cfg.wrapper = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ]
    .map(Into::into)
    .to_vec();
    let pcap = results.path().join("low.pcap");
    cfg.nics
        .push(NicSpec::new(MacAddr::local(0x41), NicBackend::Tap(tap)).capture(&pcap));
    let vm = Vm::start(cfg).expect("start");
    let pid = vm.pid().expect("pid");
    vm.wait_ready("=== DUT-READY low", BOOT).expect("banner");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("Uid:") && l.contains("65534")),
        "{status}"
    );
    ping(&peer, "10.199.6.2");
    vm.stop(Duration::from_secs(5)).expect("stop");
    let f = icmp_frames(&pcap);
    assert_eq!(
        f.get(&(8, ip("10.199.6.1"), ip("10.199.6.2"))),
        Some(&2),
        "{f:?}"
    );
    let _ = std::fs::remove_dir(&state);
}

/// QEMU dies with the thread that started it (parent-death signal), so a
/// killed supervisor leaves no QEMU behind; a QEMU that cannot start
/// reports its own message at once.
#[test]
fn qemu_dies_with_the_starting_thread_and_bad_args_fail_fast() {
    require_root();
    let name = unique("p");
    let results = tempfile::tempdir().expect("tempdir");
    let state = state_dir(&name);
    let (st, res) = (state.clone(), results.path().to_owned());
    let pid = std::thread::spawn(move || {
        let mut cfg = VmConfig::new("orphan", dut_boot("dut_name=orphan"), &st, &res);
        cfg.accel = Accel::Tcg;
        let vm = Vm::start(cfg).expect("start");
        let pid = vm.pid().expect("pid");
        std::mem::forget(vm); // as if the supervisor died without teardown
        pid
    })
    .join()
    .expect("starter thread");
    let deadline = Instant::now() + Duration::from_secs(5);
    while proc_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!proc_alive(pid), "QEMU {pid} outlived its starting thread");

    let mut cfg = VmConfig::new("bad", dut_boot("x"), &state, results.path());
    cfg.accel = Accel::Tcg;
    cfg.extra_args = vec!["-no-such-option".into()];
    let t0 = Instant::now();
    let err = Vm::start(cfg).expect_err("QEMU rejects the option");
    let msg = warren_kernel::error_chain(&err);
    assert!(msg.contains("no-such-option"), "{msg}");
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t0.elapsed()
    );
    let _ = std::fs::remove_dir_all(&state);
}

/// A DUT without NICs on TCG: for console tests.
fn console_dut(name: &str, append: &str) -> (Vm, tempfile::TempDir, PathBuf) {
    let results = tempfile::tempdir().expect("tempdir");
    let state = state_dir(name);
    let mut cfg = VmConfig::new(
        "dut",
        dut_boot(&format!("dut_nics=0 {append}")),
        &state,
        results.path(),
    );
    cfg.accel = Accel::Tcg;
    cfg.memory_mib = 128;
    let vm = Vm::start(cfg).expect("start the DUT");
    (vm, results, state)
}

/// Bytes no encoding passes through unchanged by accident: every value,
/// in an order that is not a run.
fn blob(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// alpy's remote-shell flow at the runtime level: a binary file through
/// the 115200-baud serial console with base64 and sha256sum (busybox has
/// no cksum), then with the fallbacks (printf escapes, an Adler-32 in shell
/// arithmetic) once the shell's base64 and sha256sum are shadowed, then a corrupting base64 that
/// the per-chunk check catches, leaving nothing behind.
#[test]
fn upload_over_the_serial_console_checks_every_chunk() {
    use sha2::Digest;
    use warren_runtime::console::{Checksum, ConsoleError, Encoding};
    let sha = |d: &[u8]| -> String {
        sha2::Sha256::digest(d)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    require_root();
    let name = unique("u");
    let (vm, _results, state) = console_dut(&name, "dut_name=up");
    vm.wait_ready("=== DUT-READY up", BOOT).expect("banner");
    let console = vm.console();
    let t = Duration::from_secs(120);

    // The baseline: a command's round trip with nothing to carry.
    let rounds = 5;
    let t0 = Instant::now();
    for _ in 0..rounds {
        console.run("true", t).expect("true");
    }
    let empty = t0.elapsed() / rounds;
    let data = blob(64 * 1024);
    let report = console
        .upload(&data, "/tmp/blob", Some(0o755), t)
        .expect("upload with base64");
    // 115200 baud, 8N1: 11520 characters a second, 3 bytes in 4 of them.
    let line_rate = 11520.0 * 3.0 / 4.0;
    eprintln!(
        "base64+sha256sum: {} bytes in {} chunks, {:?}, {:.0} B/s = {:.2} x the base64 payload rate of a real 115200-baud line; {:?} per chunk = {:.1} x an empty command's round trip ({empty:?})",
        report.bytes,
        report.chunks,
        report.elapsed,
        report.throughput(),
        report.throughput() / line_rate,
        report.elapsed / u32::try_from(report.chunks).expect("chunks"),
        (report.elapsed / u32::try_from(report.chunks).expect("chunks")).as_secs_f64()
            / empty.as_secs_f64(),
    );
    assert_eq!(
        (report.encoding, report.checksum, report.bytes),
        (Encoding::Base64, Checksum::Sha256, 64 * 1024)
    );
    assert!(report.chunks > 1, "{report:?}");
    let out = console
        .run("sha256sum < /tmp/blob; stat -c %a /tmp/blob; ls -1 /tmp", t)
        .expect("check");
    assert_eq!(
        out.output,
        format!("{}  -\n755\nblob", sha(&data)),
        "no temporary file stays"
    );

    // Shadowed by shell functions, the tools fail as if absent.
    let out = console
        .run("base64() { return 127; }; sha256sum() { return 127; }", t)
        .expect("shadow");
    assert_eq!(out.code, 0);
    let small = blob(3000);
    let report = console
        .upload(&small, "/tmp/small file", None, t)
        .expect("upload with the fallbacks");
    eprintln!(
        "printf+sh-adler32: {} bytes in {} chunks, {:?}, {:.0} B/s; {:?} per chunk",
        report.bytes,
        report.chunks,
        report.elapsed,
        report.throughput(),
        report.elapsed / u32::try_from(report.chunks).expect("chunks"),
    );
    assert_eq!(
        (report.encoding, report.checksum),
        (Encoding::Printf, Checksum::ShellAdler32)
    );
    let out = console
        .run("command sha256sum < '/tmp/small file'", t)
        .expect("check");
    assert_eq!(out.output, format!("{}  -", sha(&small)));

    // A base64 that adds a byte to long input passes the probe and
    // corrupts the chunks: the far side's checksum says so.
    let out = console
        .run(
            "unset -f base64 sha256sum; base64() { command base64 \"$@\" > /tmp/.d; [ $(wc -c < /tmp/.d) -gt 100 ] && printf X >> /tmp/.d; cat /tmp/.d; }",
            t,
        )
        .expect("corrupt");
    assert_eq!(out.code, 0);
    let err = console
        .upload(&data, "/tmp/bad", None, t)
        .expect_err("a corrupted chunk is an error");
    let msg = err.to_string();
    assert!(
        matches!(err, ConsoleError::Upload { .. })
            && msg.contains("chunk 0")
            && msg.contains("sha256sum mismatch"),
        "{msg}"
    );
    let out = console.run("ls -1 /tmp", t).expect("ls");
    assert_eq!(
        out.output, "blob\nsmall file",
        "the failed upload left files"
    );
    vm.stop(Duration::from_secs(5)).expect("stop");
    let _ = std::fs::remove_dir(&state);
}

/// The DUT asking for a login: warren types user and password, waits for
/// the login shell's prompt, and `run` waits for that prompt after each
/// command; a wrong password is an error that says so.
#[test]
fn login_at_the_console_then_run_at_its_prompt() {
    use warren_runtime::console::{ConsoleError, Login};
    require_root();
    let name = unique("l");
    let (vm, _results, state) = console_dut(&name, "dut_name=gate dut_login=op:s3cret");
    vm.wait_ready("=== DUT-READY gate", BOOT).expect("banner");
    let console = vm.console_from_start();
    let t = Duration::from_secs(60);
    let login = Login {
        user: "op".into(),
        password: Some("s3cret".into()),
        prompt: Some(r"op@gate \$ ".into()),
    };
    console.login(&login, t).expect("log in");
    assert!(console.prompt().is_some());
    let out = console.run("id -u; echo $USER", t).expect("run");
    assert_eq!((out.code, out.output.as_str()), (0, "0\nop"));
    // run consumed the prompt that followed: the next one starts clean.
    let out = console.run("false", t).expect("run");
    assert_eq!(out.code, 1);

    // Log out; the login loop asks again, and a wrong password is refused.
    console.send_line("exit").expect("exit");
    let wrong = Login {
        password: Some("nope".into()),
        ..login.clone()
    };
    let err = console.login(&wrong, t).expect_err("wrong password");
    assert!(
        matches!(&err, ConsoleError::Login { why, .. } if why.contains("refused")),
        "{err}"
    );
    console.login(&login, t).expect("log in again");
    let out = console.run("echo back", t).expect("run");
    assert_eq!(out.output, "back");
    vm.stop(Duration::from_secs(5)).expect("stop");
    let _ = std::fs::remove_dir(&state);
}
