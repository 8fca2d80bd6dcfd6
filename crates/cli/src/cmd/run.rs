//! `warren run [-it] [--boot] IMAGE|--rootfs DIR [CMD...]`: one container
//! outside any lab, in the foreground, with stdin, stdout and the exit code
//! passed through. With `--boot`, the image's systemd boots first (see
//! [`boot`]).

use super::system_lab::{self, Spec, SystemLab};
use crate::Failure;
use crate::args::RunArgs;
use nix::sys::signal::{SigSet, Signal};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;
use warren_lab::images;
use warren_runtime::container::{self, BindMount, ContainerSpec, Rootfs};

fn parse_bind(v: &str) -> Result<BindMount, Failure> {
    let parts: Vec<&str> = v.split(':').collect();
    let (src, dst, readonly) = match parts.as_slice() {
        [s, d] => (*s, *d, false),
        [s, d, "ro"] => (*s, *d, true),
        [s, d, "rw"] => (*s, *d, false),
        _ => {
            return Err(Failure::Error(miette::miette!(
                "invalid volume `{v}`: expected SRC:DST[:ro]"
            )));
        }
    };
    let source =
        std::fs::canonicalize(src).map_err(|e| miette::miette!("volume source {src}: {e}"))?;
    if !dst.starts_with('/') {
        return Err(Failure::Error(miette::miette!(
            "invalid volume `{v}`: the target must be absolute"
        )));
    }
    Ok(BindMount {
        source,
        target: dst.to_string(),
        readonly,
    })
}

/// Whether the command gets a pseudo-terminal: only when asked and stdin is
/// one. A pipe given with -t passes through instead, so that its end
/// reaches the command (a terminal has no end of input to pass on).
fn wants_tty(args: &RunArgs) -> bool {
    args.tty && std::io::stdin().is_terminal()
}

/// The options `--boot` cannot honour: the command runs as `warren exec`
/// runs one in a system node (systemd's clean environment, as root, from /).
fn boot_unsupported(args: &RunArgs) -> Option<&'static str> {
    [
        (!args.env.is_empty(), "--env"),
        (args.workdir.is_some(), "--workdir"),
        (args.user.is_some(), "--user"),
        (args.entrypoint.is_some(), "--entrypoint"),
        (args.net != "none", "--net"),
        (
            args.rootfs.is_some(),
            "--rootfs (give the directory as the image)",
        ),
        (!args.cap_add.is_empty(), "--cap-add"),
        (!args.cap_drop.is_empty(), "--cap-drop"),
    ]
    .into_iter()
    .find_map(|(set, flag)| set.then_some(flag))
}

/// `warren run --boot`: a one-node lab whose system node boots the image
/// (systemd provisioned first if missing, as `provision: true`), then the
/// command through `warren exec` in the booted system, stdio attached; its
/// exit code is the run's, and the lab goes (writable layer and all).
fn boot(args: &RunArgs) -> Result<(), Failure> {
    if let Some(flag) = boot_unsupported(args) {
        return Err(Failure::Error(miette::miette!(
            "--boot does not take {flag}: the command runs in the booted system as `warren exec` runs one"
        )));
    }
    let Some((asked, command)) = args.args.split_first() else {
        return Err(Failure::Error(miette::miette!("give an image to boot")));
    };
    let curated = warren_image::CuratedImages::load_default().map_err(Failure::error)?;
    let image = curated.resolve(asked).map_err(Failure::error)?;
    let work = system_lab::work_dir("run")?;
    let binds = args
        .volumes
        .iter()
        .map(|v| {
            parse_bind(v).map(|b| {
                let mode = if b.readonly { ":ro" } else { "" };
                format!("{}:{}{mode}", b.source.display(), b.target)
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let spec = Spec {
        lab: format!("run{}", std::process::id() % 10_000_000),
        node: args.name.as_deref().unwrap_or("run"),
        image,
        binds,
        booted: true,
        progress: std::io::stderr().is_terminal(),
        userns: args.userns,
        work: &work,
    };
    // A stop signal during the boot waits, blocked, until the lab is up
    // (the supervisor itself holds them until its bring-up is done), then
    // takes the lab down and ends the run with 128 + the signal.
    let stops = stop_signals();
    stops
        .thread_block()
        .map_err(|e| miette::miette!("blocking signals: {e}"))?;
    let result = SystemLab::up(&spec).and_then(|lab| {
        if let Some(sig) = take_pending(&stops) {
            drop(lab);
            return Ok(128 + sig as i32);
        }
        let mut exec = std::process::Command::new(&lab.program);
        exec.arg("exec").arg(&lab.name).arg(&lab.node);
        if wants_tty(args) {
            exec.arg("-t");
        }
        if args.privileged {
            exec.arg("--privileged");
        }
        exec.arg("--").args(command);
        let mut child = exec
            .spawn()
            .map_err(|e| miette::miette!("running {}: {e}", lab.program.display()))?;
        warren_runtime::container::forward_stop_signals(
            i32::try_from(child.id()).unwrap_or(i32::MAX),
        );
        // Unblocked only now: a signal since the check above goes to the
        // command (which was spawned with no signal blocked).
        let _ = stops.thread_unblock();
        let status = child
            .wait()
            .map_err(|e| miette::miette!("waiting for the command: {e}"))?;
        Ok(status
            .code()
            .or_else(|| std::os::unix::process::ExitStatusExt::signal(&status).map(|s| 128 + s))
            .unwrap_or(1))
    });
    let _ = std::fs::remove_dir_all(&work);
    let code = result?;
    Err(Failure::Exit(u8::try_from(code.clamp(0, 255)).unwrap_or(1)))
}

/// SIGTERM, SIGINT and SIGHUP: what ends a run.
fn stop_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        set.add(s);
    }
    set
}

/// The first of `set` (blocked) that is pending, taken off the pending set.
fn take_pending(set: &SigSet) -> Option<Signal> {
    let mut pending = std::mem::MaybeUninit::<nix::libc::sigset_t>::uninit();
    // SAFETY: sigpending fills the set it is given.
    if unsafe { nix::libc::sigpending(pending.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: initialised by the successful sigpending above.
    let pending = unsafe { pending.assume_init() };
    let is_pending = |s: &Signal| {
        // SAFETY: sigismember only reads the initialised set.
        unsafe { nix::libc::sigismember(&pending, *s as i32) == 1 }
    };
    set.iter().find(is_pending)?;
    set.wait().ok()
}

pub fn run(args: &RunArgs) -> Result<(), Failure> {
    warren_runtime::container::set_stop_grace(Duration::from_secs(args.stop_timeout));
    if args.boot {
        return boot(args);
    }
    let (image, words) = match (&args.rootfs, args.args.split_first()) {
        (Some(dir), _) => (
            images::directory(dir).map_err(Failure::error)?,
            args.args.clone(),
        ),
        (None, Some((reference, rest))) => (
            images::resolve(reference, true).map_err(Failure::error)?,
            rest.to_vec(),
        ),
        (None, None) => {
            return Err(Failure::Error(miette::miette!(
                "give an image, or a root directory with --rootfs"
            )));
        }
    };
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("run-{}", std::process::id()));
    let mut env = image.env.clone();
    for e in &args.env {
        let (k, v) = e.split_once('=').unwrap_or((e.as_str(), ""));
        env.retain(|(key, _)| key != k);
        env.push((k.to_string(), v.to_string()));
    }
    let tty = wants_tty(args);
    if tty && !env.iter().any(|(k, _)| k == "TERM") {
        env.push((
            "TERM".into(),
            std::env::var("TERM").unwrap_or_else(|_| "xterm".into()),
        ));
    }
    let entrypoint = match &args.entrypoint {
        Some(e) => vec![e.clone()],
        None => image.entrypoint.clone(),
    };
    let cmd = if words.is_empty() {
        image.cmd.clone()
    } else {
        words
    };
    let argv: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    let binds = args
        .volumes
        .iter()
        .map(|v| parse_bind(v))
        .collect::<Result<Vec<_>, _>>()?;
    let capabilities = warren_runtime::security::caps::resolve(
        container::DEFAULT_CAPABILITIES,
        &args.cap_add,
        &args.cap_drop,
    )
    .map_err(Failure::error)?;
    // The writable layer lives in the state root and goes when the container exits.
    let dir = warren_lab::state::state_root().join("run").join(&name);
    if dir.exists() {
        return Err(Failure::Error(miette::miette!(
            "a container called {name} is running (its state is {})",
            dir.display()
        )));
    }
    // Only the mount points exist on the host: the writable layer is a
    // tmpfs inside the container's mount namespace and dies with it.
    let (scratch, merged) = (dir.join("scratch"), dir.join("merged"));
    for p in [&scratch, &merged] {
        std::fs::create_dir_all(p).map_err(|e| miette::miette!("creating {}: {e}", p.display()))?;
    }
    let spec = ContainerSpec {
        rootfs: Rootfs::Overlay {
            lowers: image.layers.clone(),
            upper: scratch.join("upper"),
            work: scratch.join("work"),
            merged,
            scratch: Some(scratch.clone()),
        },
        netns: (args.net == "host").then(|| PathBuf::from("/proc/self/ns/net")),
        hostname: name.clone(),
        argv,
        env,
        workdir: args.workdir.clone().unwrap_or(image.workdir.clone()),
        user: args.user.clone().or(image.user.clone()),
        binds,
        hosts: format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{name}\n"
        ),
        resolv: std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        capabilities,
        privileged: args.privileged,
        system: None,
        console: None,
        notify: None,
        userns: args
            .userns
            .then(|| warren_runtime::security::idmap::IdRange::for_name(&name)),
        pidns: None,
        tmpfs: Vec::new(),
        init: false,
    };
    let result = if tty {
        let mut pty = warren_runtime::exec::Pty::open().map_err(Failure::error)?;
        let slave = pty.take_slave();
        container::launch(&spec, slave, &mut |_| pty.relay())
    } else {
        container::launch(&spec, None, &mut |_| {})
    };
    let _ = std::fs::remove_dir_all(&dir);
    // The parent goes too once no container uses it.
    if let Some(parent) = dir.parent() {
        let _ = std::fs::remove_dir(parent);
    }
    let code = result.map_err(Failure::error)?;
    Err(Failure::Exit(u8::try_from(code.clamp(0, 255)).unwrap_or(1)))
}
