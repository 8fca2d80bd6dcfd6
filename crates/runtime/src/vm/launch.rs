//! Preparing a VM's files (overlay, variable store) and spawning QEMU with
//! the NIC fds inherited, the console and QMP connected, then `cont`.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::VmError;
use super::cmdline::qemu_args;
use super::config::{Accel, Boot, DiskFormat, Firmware, VmConfig, VmEvent, VmPaths};
use super::nic::raw_fds;
use super::qmp::Qmp;
use crate::console::hub::{ConsoleFiles, Hub};

/// How long QEMU has to create its sockets.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(10);
/// `sun_path` holds 108 bytes including the NUL.
const SUN_PATH_MAX: usize = 107;

/// A running QEMU with its console and QMP connected.
pub(crate) struct Launched {
    pub(crate) child: Child,
    pub(crate) qmp: Qmp,
    pub(crate) hub: Arc<Hub>,
}

impl Launched {
    /// Kills QEMU and stops the console threads.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.hub.shutdown();
    }
}

/// Creates the directories, checks socket path lengths, makes the disk
/// overlay and the variable store copy.
pub(crate) fn prepare(cfg: &VmConfig, paths: &VmPaths) -> Result<(), VmError> {
    for dir in [&cfg.state_dir, &cfg.console_dir] {
        std::fs::create_dir_all(dir).map_err(|source| VmError::File {
            path: dir.clone(),
            source,
        })?;
    }
    for sock in [&paths.qmp, &paths.serial, &paths.console] {
        if sock.as_os_str().len() > SUN_PATH_MAX {
            return Err(VmError::SocketPath { path: sock.clone() });
        }
        let _ = std::fs::remove_file(sock);
    }
    if let Boot::Disk { path, format } = &cfg.boot {
        let format = match format {
            Some(f) => *f,
            None => detect_format(path)?,
        };
        let base = std::path::absolute(path).map_err(|source| VmError::File {
            path: path.clone(),
            source,
        })?;
        let _ = std::fs::remove_file(&paths.overlay);
        let out = Command::new(&cfg.qemu_img)
            .args(["create", "-q", "-f", "qcow2", "-F", format.as_str(), "-b"])
            .arg(&base)
            .arg(&paths.overlay)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| VmError::Spawn {
                program: cfg.qemu_img.to_string_lossy().into_owned(),
                source,
            })?;
        if !out.status.success() {
            return Err(VmError::Overlay {
                path: paths.overlay.clone(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
    }
    if let Firmware::Uefi(ovmf) = &cfg.firmware {
        std::fs::copy(&ovmf.vars, &paths.vars).map_err(|source| VmError::File {
            path: ovmf.vars.clone(),
            source,
        })?;
    }
    if let Some(files) = &cfg.seed {
        super::seed::write_vfat(&paths.seed, files).map_err(|source| VmError::File {
            path: paths.seed.clone(),
            source,
        })?;
    }
    Ok(())
}

fn detect_format(path: &Path) -> Result<DiskFormat, VmError> {
    let err = |source| VmError::File {
        path: path.to_owned(),
        source,
    };
    let mut f = File::open(path).map_err(err)?;
    let mut magic = [0u8; 4];
    let n = f.read(&mut magic).map_err(err)?;
    Ok(if n == 4 && magic == *b"QFI\xfb" {
        DiskFormat::Qcow2
    } else {
        DiskFormat::Raw
    })
}

/// Spawns QEMU under `accel` (`Kvm` or `Tcg`), connects the console (its
/// logs appended to when `append`) and QMP, and resumes the guest.
pub(crate) fn launch(
    cfg: &VmConfig,
    paths: &VmPaths,
    accel: Accel,
    append: bool,
) -> Result<Launched, VmError> {
    let fds = raw_fds(&cfg.nics);
    let args = qemu_args(cfg, paths, accel, &fds);
    let qemu_log = {
        let mut o = OpenOptions::new();
        o.create(true);
        if append {
            o.append(true);
        } else {
            o.write(true).truncate(true);
        }
        o.open(&paths.qemu_log).map_err(|source| VmError::File {
            path: paths.qemu_log.clone(),
            source,
        })?
    };
    let log_err = qemu_log.try_clone().map_err(|source| VmError::File {
        path: paths.qemu_log.clone(),
        source,
    })?;
    let (program, pre_args) = match cfg.wrapper.split_first() {
        Some((p, rest)) => (p.clone(), rest.to_vec()),
        None => (cfg.qemu.clone().into_os_string(), Vec::new()),
    };
    let mut cmd = Command::new(&program);
    cmd.args(&pre_args);
    if !cfg.wrapper.is_empty() {
        cmd.arg(&cfg.qemu);
    }
    cmd.args(&args)
        .stdin(Stdio::null())
        .stdout(qemu_log)
        .stderr(log_err);
    let fds_for_child = fds.clone();
    // SAFETY: the hook runs in the forked child before exec and calls only
    // async-signal-safe functions (prctl, setsid, fcntl) on fds that are
    // open in the child (inherited from the parent, which keeps them open
    // until spawn returns); it allocates nothing.
    unsafe {
        let mut dies = crate::pidns::lab_child();
        cmd.pre_exec(move || {
            dies()?;
            child_setup(&fds_for_child)
        });
    }
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|source| VmError::Spawn {
        program: program.to_string_lossy().into_owned(),
        source,
    })?;
    // QEMU binds both sockets before it starts the (paused) machine; wait
    // for them while watching for an early exit (bad arguments, a missing
    // file), so such errors come back at once with QEMU's message.
    let deadline = Instant::now() + SOCKET_TIMEOUT;
    while !(paths.serial.exists() && paths.qmp.exists()) {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(VmError::Exited {
                status,
                output: qemu_log_tail(&paths.qemu_log),
            });
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(VmError::NoSockets {
                waited: SOCKET_TIMEOUT,
                output: qemu_log_tail(&paths.qemu_log),
            });
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let files = ConsoleFiles {
        log: paths.log.clone(),
        txt: paths.txt.clone(),
        append,
    };
    let share = cfg.share_console.then_some(paths.console.as_path());
    let hub = match Hub::start(&paths.serial, &files, share, started, SOCKET_TIMEOUT) {
        Ok(h) => h,
        Err(e) => return Err(early_exit(&mut child, paths).unwrap_or(VmError::ConsoleStart(e))),
    };
    let qmp = match Qmp::connect(&paths.qmp, SOCKET_TIMEOUT, None) {
        Ok(q) => q,
        Err(e) => {
            hub.shutdown();
            return Err(early_exit(&mut child, paths).unwrap_or(VmError::QmpStart(e)));
        }
    };
    if let Some(tx) = cfg.events.clone() {
        forward_events(&cfg.name, &qmp, tx);
    }
    if let Err(e) = qmp.cont() {
        let l = Launched { child, qmp, hub };
        l.kill();
        return Err(VmError::QmpStart(e));
    }
    Ok(Launched { child, qmp, hub })
}

/// In the child before exec (after dying with the spawning thread is
/// set up): leave the supervisor's session (a Ctrl-C on its terminal is
/// the supervisor's to handle), and let the NIC fds survive exec.
fn child_setup(fds: &[RawFd]) -> io::Result<()> {
    // SAFETY: setsid has no memory effects; it fails only if we already
    // lead a process group, which a fresh child does not.
    unsafe {
        libc::setsid();
    }
    for &fd in fds {
        // SAFETY: F_SETFD on an fd we own in this child; clears FD_CLOEXEC.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// If QEMU has exited (bad arguments, missing file), the error with its
/// output's tail.
fn early_exit(child: &mut Child, paths: &VmPaths) -> Option<VmError> {
    let deadline = Instant::now() + Duration::from_millis(500);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(VmError::Exited {
                status,
                output: qemu_log_tail(&paths.qemu_log),
            });
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The last lines of QEMU's own output.
pub(crate) fn qemu_log_tail(path: &Path) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = f.seek(SeekFrom::End(0)).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(2000)));
    let mut s = String::new();
    let _ = f.read_to_string(&mut s);
    s.trim().to_owned()
}

fn forward_events(vm: &str, qmp: &Qmp, tx: std::sync::mpsc::Sender<VmEvent>) {
    let rx = qmp.subscribe();
    let vm = vm.to_owned();
    let _ = std::thread::Builder::new()
        .name("warren-qmp-events".into())
        .spawn(move || {
            for event in rx {
                let ev = VmEvent::Qmp {
                    vm: vm.clone(),
                    event,
                };
                if tx.send(ev).is_err() {
                    break;
                }
            }
        });
}

/// Whether `/dev/kvm` opens read-write; the reason if not.
pub(crate) fn kvm_usable() -> Result<(), String> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map(drop)
        .map_err(|e| format!("/dev/kvm is not usable ({e})"))
}

/// Watches a guest started under KVM: `Ok` once it writes to its console;
/// `Err(reason)` if QEMU exits, the guest stops with an internal error or
/// panics, or nothing appears within `bound`.
pub(crate) fn watch_kvm(
    l: &mut Launched,
    bound: Duration,
    pattern: Option<&regex::bytes::Regex>,
    paths: &VmPaths,
) -> Result<(), String> {
    let deadline = Instant::now() + bound;
    let console = crate::console::Console::new(Arc::clone(&l.hub), 0);
    let step = Duration::from_millis(250);
    loop {
        let seen = match pattern {
            Some(re) => console.expect_re(re, step).is_ok(),
            None => l.hub.wait_output(0, Instant::now() + step),
        };
        if seen {
            return Ok(());
        }
        if let Ok(Some(status)) = l.child.try_wait() {
            return Err(format!(
                "QEMU exited under KVM ({status}): {}",
                qemu_log_tail(&paths.qemu_log)
            ));
        }
        if let Ok(st) = l.qmp.query_status()
            && matches!(st.status.as_str(), "internal-error" | "guest-panicked")
        {
            let detail = qemu_log_tail(&paths.qemu_log);
            let first = detail.lines().next().unwrap_or_default().to_owned();
            return Err(format!("guest stopped under KVM: {} {first}", st.status));
        }
        if Instant::now() >= deadline {
            return Err(match pattern {
                Some(re) => format!(
                    "console did not show /{}/ under KVM within {bound:?}",
                    re.as_str()
                ),
                None => format!("no console output under KVM within {bound:?}"),
            });
        }
    }
}

/// Appends a note from warren to the console's text log.
pub(crate) fn note_in_text_log(paths: &VmPaths, note: &str) {
    if let Ok(mut f) = OpenOptions::new().append(true).open(&paths.txt) {
        let _ = writeln!(f, "[warren] {note}");
    }
}
