//! `warren run [-it] IMAGE|--rootfs DIR [CMD...]`: one container outside any
//! lab, in the foreground, with stdin, stdout and the exit code passed through.

use crate::Failure;
use crate::args::RunArgs;
use std::path::PathBuf;
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

pub fn run(args: &RunArgs) -> Result<(), Failure> {
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
    if args.tty && !env.iter().any(|(k, _)| k == "TERM") {
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
    };
    let result = if args.tty {
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
