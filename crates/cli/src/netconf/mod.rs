//! `warren netconf`: a drop-in replacement for Equinix Metal's
//! packet-networking. Reads the metadata (file or URL), finds the host's
//! NICs, plans the files with [`warren_netconf`] and writes them into the
//! root filesystem (or prints them as JSON).

mod fetch;
mod nics;
mod rootfs;

use std::path::{Path, PathBuf};
use std::time::Duration;

use warren_netconf::{Error, HostNic, Input, Renderer, Task};

/// Exit code for a bad `-o/--operating-system` value.
const EXIT_BAD_OS: i32 = 20;
/// Exit code when no network builder applies (nothing written).
const EXIT_NO_TASKS: i32 = 30;
/// The host file resolvers fall back to.
const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";

/// Output of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Write the files into the root filesystem.
    Files,
    /// Print the tasks (path, action, mode, content) as JSON; write nothing.
    Json,
}

/// Flags of `warren netconf` (those of packet-networking, plus test aids).
#[derive(Debug, Clone, clap::Args)]
pub struct NetconfArgs {
    /// Read the metadata from FILE ("-" for standard input) instead of the URL.
    #[arg(short = 'M', long, value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,
    /// Metadata service URL.
    #[arg(
        long,
        env = "PACKET_METADATA_URL",
        value_name = "URL",
        default_value = "http://metadata.packet.net/metadata"
    )]
    pub metadata_url: String,
    /// "DISTRO VERSION" overriding the metadata's distro and version (not its slug).
    #[arg(short = 'o', long, value_name = "DISTRO VERSION")]
    pub operating_system: Option<String>,
    /// Root filesystem to write into.
    #[arg(short = 't', long, value_name = "DIR")]
    pub rootfs: PathBuf,
    /// Comma-separated DNS resolvers (default: the host's IPv4 nameservers).
    #[arg(long, env = "PACKET_RESOLVERS", value_name = "A,B")]
    pub resolvers: Option<String>,
    /// Attempts at fetching the metadata URL.
    #[arg(short = 'n', long, value_name = "N", default_value_t = 10)]
    pub max_attempts: u32,
    /// More output (repeatable).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long)]
    pub quiet: bool,
    /// Take the host NICs from FILE (JSON list of {logicalname, mac, driver,
    /// udev}) instead of /sys/class/net and udev.
    #[arg(long, value_name = "FILE")]
    pub fake_nics: Option<PathBuf>,
    /// Read the host's resolvers from FILE instead of /etc/resolv.conf.
    #[arg(long, value_name = "FILE")]
    pub host_resolv_conf: Option<PathBuf>,
    /// What to do with the planned tasks.
    #[arg(long, value_enum, default_value = "files")]
    pub format: Format,
    /// Render this cloud-init network config (version 1 or 2, YAML or JSON,
    /// "-" for standard input) instead of the Equinix metadata.
    #[arg(long, value_name = "FILE", conflicts_with = "metadata_file")]
    pub network_config: Option<PathBuf>,
    /// Render the network model with NAME: eni, sysconfig, netplan,
    /// networkd, network-manager, or auto (by distro). Without it and without
    /// --network-config, the packet-networking templates are used.
    #[arg(long, value_name = "NAME")]
    pub renderer: Option<String>,
}

/// The command line of the binary when it is invoked as `packet-networking`
/// (a symlink to `warren`, as busybox does): `warren netconf`'s flags.
#[derive(Debug, clap::Parser)]
#[command(
    name = "packet-networking",
    about = "Writes a host's network configuration into a root filesystem from Equinix Metal metadata (warren netconf)"
)]
struct PacketNetworking {
    #[command(flatten)]
    args: NetconfArgs,
}

/// The exit code of a `packet-networking` run when argv[0]'s file name is
/// `packet-networking`, so installer scripts keep working unchanged;
/// `None` for any other name.
pub fn as_packet_networking() -> Option<u8> {
    let argv0 = std::env::args_os().next()?;
    if std::path::Path::new(&argv0).file_name()? != "packet-networking" {
        return None;
    }
    let cli = <PacketNetworking as clap::Parser>::parse();
    Some(u8::try_from(run(&cli.args)).unwrap_or(1))
}

/// Runs `warren netconf`; returns the process exit code (0, 1, 20 or 30)
/// after printing any error to stderr.
pub fn run(args: &NetconfArgs) -> i32 {
    match execute(args) {
        Ok(()) => 0,
        Err(Failure { code, message }) => {
            eprintln!("warren netconf: {message}");
            code
        }
    }
}

/// A failed run: its exit code and one-line message.
struct Failure {
    code: i32,
    message: String,
}

impl Failure {
    fn general(message: impl ToString) -> Self {
        Self {
            code: 1,
            message: message.to_string(),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let code = match e {
            Error::OperatingSystemArg(_) => EXIT_BAD_OS,
            Error::NoNetworkTasks(_) => EXIT_NO_TASKS,
            _ => 1,
        };
        Self {
            code,
            message: e.to_string(),
        }
    }
}

fn execute(args: &NetconfArgs) -> Result<(), Failure> {
    let log = |level: u8, msg: &str| {
        if !args.quiet && args.verbose >= level {
            eprintln!("{msg}");
        }
    };
    if args.format == Format::Files && !args.rootfs.is_dir() {
        return Err(Failure::general(format!(
            "--rootfs {}: not a directory",
            args.rootfs.display()
        )));
    }
    if let Some(file) = &args.network_config {
        let text = read_input(file, "--network-config")?;
        let model = warren_netconf::parse_network_config(&text)?;
        let renderer = pick_renderer(args, None)?;
        return finish(args, &log, warren_netconf::render(&model, renderer)?);
    }
    let metadata = read_metadata(args, &log)?;
    let nics = host_nics(args)?;
    for nic in &nics {
        log(
            1,
            &format!(
                "name={} driver={}",
                nic.logicalname,
                nic.driver.as_deref().unwrap_or("")
            ),
        );
    }
    let host_resolv_conf = match &args.resolvers {
        Some(r) if !r.is_empty() => None,
        _ => read_host_resolv_conf(args.host_resolv_conf.as_deref())?,
    };
    let input = Input {
        metadata: &metadata,
        operating_system: args.operating_system.as_deref(),
        nics: &nics,
        resolvers: args.resolvers.as_deref(),
        host_resolv_conf: host_resolv_conf.as_deref(),
    };
    let tasks = if args.renderer.is_some() {
        let renderer = pick_renderer(args, Some(&metadata))?;
        warren_netconf::render(&warren_netconf::equinix_model(&input)?, renderer)?
    } else {
        warren_netconf::plan(&input)?
    };
    finish(args, &log, tasks)
}

/// Logs, then writes or prints the tasks.
fn finish(args: &NetconfArgs, log: &impl Fn(u8, &str), tasks: Vec<Task>) -> Result<(), Failure> {
    for t in &tasks {
        log(1, &format!("{:?} {}", t.action, t.path));
    }
    match args.format {
        Format::Json => print_json(&tasks),
        Format::Files => {
            rootfs::apply(&args.rootfs, &tasks).map_err(Failure::general)?;
            if !args.quiet {
                println!(
                    "Configuration files written to root filesystem '{}'",
                    args.rootfs.display()
                );
            }
            Ok(())
        }
    }
}

fn read_metadata(
    args: &NetconfArgs,
    log: &impl Fn(u8, &str),
) -> Result<serde_json::Value, Failure> {
    let Some(file) = &args.metadata_file else {
        log(1, &format!("fetching metadata from {}", args.metadata_url));
        return fetch::fetch_metadata(
            &args.metadata_url,
            args.max_attempts,
            Duration::from_secs(1),
            |n, why, wait| {
                log(
                    0,
                    &format!("metadata attempt {n} failed ({why}); retrying in {wait:?}"),
                )
            },
        )
        .map_err(Failure::general);
    };
    let text = read_input(file, "--metadata-file")?;
    serde_json::from_str(&text)
        .map_err(|e| Failure::general(format!("--metadata-file {}: not JSON: {e}", file.display())))
}

/// The text of FILE ("-" = standard input), errors naming `flag`.
fn read_input(file: &Path, flag: &str) -> Result<String, Failure> {
    if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(file)
    }
    .map_err(|e| Failure::general(format!("{flag} {}: {e}", file.display())))
}

/// The renderer of `--renderer` (default auto). `auto` takes the distro
/// from `-o`, else the metadata's `operating_system`, else the rootfs's
/// `etc/os-release` (`ID`, `VERSION_ID`).
fn pick_renderer(
    args: &NetconfArgs,
    metadata: Option<&serde_json::Value>,
) -> Result<Renderer, Failure> {
    let name = args.renderer.as_deref().unwrap_or("auto");
    if name != "auto" {
        return name
            .parse()
            .map_err(|e: String| Failure::general(format!("--renderer: {e}")));
    }
    let (distro, version) = if let Some(os) = &args.operating_system {
        let os = warren_netconf::OsOverride::parse(os)?;
        (os.distro, os.version)
    } else if let Some(os) = metadata.and_then(|m| m.get("operating_system")) {
        let field = |k: &str| os.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        (field("distro"), field("version"))
    } else {
        os_release(&args.rootfs.join("etc/os-release"))
    };
    let distro = distro.ok_or_else(|| {
        Failure::general(
            "--renderer auto: no distro (give -o \"DISTRO VERSION\" or a rootfs with etc/os-release)",
        )
    })?;
    Ok(Renderer::for_distro(&distro, version.as_deref())?)
}

/// `ID` and `VERSION_ID` of an os-release file (missing file = none).
fn os_release(path: &Path) -> (Option<String>, Option<String>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let get = |key: &str| {
        text.lines().find_map(|l| {
            let v = l.strip_prefix(key)?.strip_prefix('=')?;
            Some(v.trim().trim_matches('"').to_owned())
        })
    };
    (get("ID"), get("VERSION_ID"))
}

fn host_nics(args: &NetconfArgs) -> Result<Vec<HostNic>, Failure> {
    match &args.fake_nics {
        Some(path) => nics::load_fake(path).map_err(Failure::general),
        None => nics::discover(Path::new(nics::SYS_CLASS_NET), Path::new(nics::UDEV_DATA))
            .map_err(|e| Failure::general(format!("{}: {e}", nics::SYS_CLASS_NET))),
    }
}

/// The host's resolv.conf text; a missing default file just means none.
fn read_host_resolv_conf(flag: Option<&Path>) -> Result<Option<String>, Failure> {
    let path = flag.unwrap_or(Path::new(HOST_RESOLV_CONF));
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if flag.is_none() && e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::general(format!("{}: {e}", path.display()))),
    }
}

fn print_json(tasks: &[Task]) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(tasks).map_err(Failure::general)?;
    println!("{text}");
    Ok(())
}
