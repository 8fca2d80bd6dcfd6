//! The command line, as clap definitions. Help texts here are what
//! `--help`, the man page and shell completions show.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// warren builds network labs and appliance test beds on one Linux host from
/// one declarative file, runs tests in them, keeps the evidence, and tears
/// them down leaving nothing behind.
#[derive(Debug, Parser)]
#[command(
    name = "warren",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
    /// More log output on stderr: -v info, -vv debug, -vvv trace (WARREN_LOG, in env-filter syntax, overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Quiet: no progress display, only errors in the log.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

impl Cli {
    /// The log verbosity the flags ask for: the global ones, with those of
    /// commands that have their own `-q` or `-v` (which shadow the global
    /// flags there) folded in.
    pub fn verbosity(&self) -> (u8, bool) {
        let (verbose, quiet) = match &self.command {
            Command::Up(a) => (0, a.quiet),
            Command::Test(a) => (0, a.quiet),
            Command::Run(a) => (a.verbose, false),
            Command::Netconf(a) => (a.verbose, a.quiet),
            _ => (0, false),
        };
        (self.verbose.max(verbose), self.quiet || quiet)
    }
}

/// Every warren command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a lab: namespaces, links, networks, addresses, routes, then node commands.
    Up(UpArgs),
    /// Tear a lab down, removing everything it created. Needs only the name.
    Down(DownArgs),
    /// Bring a lab up, run its `tests:` section, write JUnit XML and evidence, tear it down.
    Test(TestArgs),
    /// List running labs.
    Ps(PsArgs),
    /// Show a running lab's nodes, interfaces, addresses and routes, read from the kernel.
    Inspect(InspectArgs),
    /// Run a command in a node; stdin, stdout, stderr and the exit code pass through.
    Exec(ExecArgs),
    /// Stream live pcapng of a link or network (for `wireshark -k -i -` or `tshark -r -`).
    Capture(CaptureArgs),
    /// Change a link's impairments at run time: `--delay 50ms --loss 2%`, or `--clear`.
    Impair(ImpairArgs),
    /// Turn a link's carrier off or on: `warren link NAME r1:eth1 down`.
    Link(LinkArgs),
    /// Stop, start or restart a node; its links stay and come back with the same addresses and routes.
    Node(NodeArgs),
    /// Add or remove replicas of a running compose lab's services (`SERVICE=N`); other nodes keep running.
    Scale(ScaleArgs),
    /// Attach to a vm's serial console or a system node's /dev/console (Ctrl-] detaches), or run one command there with -c.
    Console(ConsoleArgs),
    /// Control a vm over QMP: reset, powerdown, pause, resume, quit.
    Vm(VmArgs),
    /// Run one container outside any lab; stdin, stdout and the exit code pass through.
    Run(RunArgs),
    /// Boot an OS image with systemd, install packages, check units, URLs and commands, tear down.
    Probe(ProbeArgs),
    /// Check lab files and report every problem with its place in the file.
    Validate(ValidateArgs),
    /// Write a host's native network configuration into a root filesystem
    /// from Equinix Metal metadata (a drop-in for packet-networking).
    Netconf(crate::netconf::NetconfArgs),
    /// Draw a lab as Graphviz dot, Mermaid, SVG, a standalone HTML page, or the resolved lab as JSON.
    Graph(GraphArgs),
    /// Make a test run's report.html again from its evidence folder.
    Report(ReportArgs),
    /// Serve a live page of a running lab on 127.0.0.1: links, nodes, frame counters, events.
    View(ViewArgs),
    /// Pull, list, remove and prune OCI images in the local store.
    Image(crate::cmd::image::ImageArgs),
    /// Print the JSON Schema of the lab file, for editors.
    Schema,
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Print the man page (roff).
    Man,
    /// Run a lab's supervisor (started by `warren up`).
    #[command(name = "__supervise", hide = true)]
    Supervise {
        /// The lab's state folder.
        dir: PathBuf,
    },
    /// Run as the init of a lab's pid namespace (started by the supervisor).
    #[command(name = "__init", hide = true)]
    Init,
    /// Join a node's namespaces and run a command there (started by the supervisor).
    #[command(name = "__spawn", hide = true)]
    Spawn(SpawnArgs),
    /// Join only a node's network namespace, then run a command or an HTTP
    /// GET there (started by `warren test` for ping and http steps).
    #[command(name = "__netexec", hide = true)]
    NetExec(NetExecArgs),
    /// Run a container node (started by the supervisor).
    #[command(name = "__container", hide = true)]
    Container {
        /// The container's spec (JSON).
        #[arg(long)]
        spec: PathBuf,
        /// Where to write the container init's host pid.
        #[arg(long)]
        pid_file: PathBuf,
        /// Where to write the container's exit code.
        #[arg(long)]
        exit_file: PathBuf,
    },
}

/// `warren run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Give the container a pseudo-terminal (with -i, an interactive shell).
    /// When stdin is not a terminal (a pipe, a file), -t is ignored and
    /// stdin passes through as it is, so its end reaches the command.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Boot the image's systemd, as a `kind: system` node does (installing
    /// it first, once, into an image that lacks it), and run the command
    /// inside the booted system (default: a shell).
    #[arg(long, visible_alias = "system")]
    pub boot: bool,
    /// Seconds the command gets to exit after a forwarded SIGTERM, SIGINT
    /// or SIGHUP before it is killed (a second signal kills at once).
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub stop_timeout: u64,
    /// Keep stdin open (it always is; accepted for docker compatibility).
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Remove the container when it exits (always done; accepted for docker compatibility).
    #[arg(long)]
    pub rm: bool,
    /// Container name, also its host name.
    #[arg(long)]
    pub name: Option<String>,
    /// Set an environment variable (repeatable).
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Bind mount SRC:DST[:ro] (repeatable).
    #[arg(short = 'v', long = "volume", value_name = "SRC:DST[:ro]")]
    pub volumes: Vec<String>,
    /// More log output (only the long form here: -v is --volume, as in docker).
    #[arg(long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Working directory in the container.
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// User (name, uid, user:group) in the container.
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Replace the image's entrypoint.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Network: `none` (a namespace of its own with only lo) or `host`.
    #[arg(long, default_value = "none", value_parser = ["none", "host"])]
    pub net: String,
    /// Use this root filesystem directory (never changed) instead of an image.
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,
    /// Run unconfined: every capability, no seccomp filter, nothing masked
    /// or read-only in /proc, no no_new_privs (as docker's --privileged).
    #[arg(long)]
    pub privileged: bool,
    /// Add a capability to the default set (repeatable; ALL for every one).
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Remove a capability from the default set (repeatable; ALL for every one).
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Run in a user namespace of its own: root in the container is an
    /// unprivileged host id (as docker's userns-remap).
    #[arg(long)]
    pub userns: bool,
    /// IMAGE [CMD...]: an image reference such as `alpine` or
    /// `registry.example/router:1.2`, then the command that replaces the
    /// image's (with --rootfs, only the command). Options end at the image,
    /// as with docker.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE [CMD]"
    )]
    pub args: Vec<String>,
}

/// `warren probe`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ProbeArgs {
    /// Curated images and self tests.
    #[command(subcommand)]
    pub command: Option<ProbeCommand>,
    /// The OS image: a curated name (see list-images), a registry
    /// reference, a local image (`oci-archive:FILE`…) or a root filesystem
    /// directory. Without systemd, it is installed first (once, cached).
    #[arg(long, required_unless_present = "list_images")]
    pub image: Option<String>,
    /// List the curated image names (built in, and from $WARREN_IMAGES or
    /// /etc/warren/images.json) and exit.
    #[arg(long, conflicts_with = "image")]
    pub list_images: bool,
    /// A package to install with the distro's tool: a .deb or .rpm file, or an http:// URL of one (repeatable).
    #[arg(long = "package", value_name = "FILE|URL")]
    pub packages: Vec<String>,
    /// A systemd unit that must be active (repeatable).
    #[arg(long = "check-unit", value_name = "UNIT")]
    pub units: Vec<String>,
    /// An http:// URL that must answer 2xx or 3xx from inside the container (repeatable).
    #[arg(long = "check-network", value_name = "URL")]
    pub urls: Vec<String>,
    /// A shell command that must exit 0 inside the container (repeatable).
    #[arg(long = "check-cmd", value_name = "CMD")]
    pub commands: Vec<String>,
    /// Seconds a unit or URL may take to come up.
    #[arg(long, default_value_t = 20)]
    pub settle: u64,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `warren probe` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ProbeCommand {
    /// List the curated image names (as --list-images).
    ListImages {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pull curated images into the store.
    Pull {
        /// Curated names.
        #[arg(
            value_name = "NAME",
            required_unless_present = "all",
            conflicts_with = "all"
        )]
        names: Vec<String>,
        /// Every curated image that exists.
        #[arg(long)]
        all: bool,
    },
    /// Boot images one after the other and run a self test in each; print a
    /// table, and exit 1 if any failed.
    Selftest {
        /// `hostnamectl` (it must answer) or `pkgprobe` (systemd-journald
        /// active, and the distro's package tool lists systemd).
        #[arg(value_parser = ["hostnamectl", "pkgprobe"])]
        test: String,
        /// An image to test (repeatable; default: every curated image in the store).
        #[arg(long = "image", value_name = "NAME|REF")]
        images: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `warren __spawn`.
#[derive(Debug, Args)]
pub struct SpawnArgs {
    /// Network namespace file to join.
    #[arg(long)]
    pub netns: PathBuf,
    /// Pid namespace file to join for the command.
    #[arg(long)]
    pub pidns: Option<PathBuf>,
    /// Join every namespace of the container whose init has this host pid.
    #[arg(long)]
    pub container: Option<i32>,
    /// The command.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// `warren up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// The lab and how to run it.
    #[command(flatten)]
    pub lab: LabArgs,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Keep the supervisor attached to this terminal; Ctrl-C tears the lab down.
    #[arg(long)]
    pub foreground: bool,
    /// Print the lab as JSON when it is up (or the plan, with --dry-run).
    #[arg(long)]
    pub json: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The lab a command brings up (`up`, `test`) and where it runs.
#[derive(Debug, Args)]
pub struct LabArgs {
    /// The lab file, or a compose file (one with `services:`), or a folder whose compose files to run.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// conlink network file to merge into a compose file (repeatable; colon-separated lists too).
    #[arg(long = "network-file", value_name = "FILE")]
    pub network_files: Vec<String>,
    /// More compose files merged over FILE in order, as `docker compose -f` merges them (repeatable; colon-separated lists too).
    #[arg(long = "compose-file", value_name = "FILE")]
    pub compose_files: Vec<String>,
    /// Variables for compose interpolation, instead of `.env` beside the compose file (repeatable).
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// Run the lab under this name instead of its own (to run one file several times at once).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Tear down a running lab of the same name first.
    #[arg(long)]
    pub replace: bool,
    /// Folder for evidence (`<DIR>/<lab>/<run>/`); default `results:` of the lab file, else ./results.
    #[arg(long, value_name = "DIR")]
    pub results: Option<PathBuf>,
    /// A compose service's replica count, over its `scale`/`deploy.replicas` (repeatable). On a lab that runs, `up` adds or removes replicas live.
    #[arg(long = "scale", value_name = "SERVICE=N", value_parser = parse_scale)]
    pub scale: Vec<(String, u32)>,
}

/// `SERVICE=N` of `--scale` and `warren scale`.
pub fn parse_scale(s: &str) -> Result<(String, u32), String> {
    let (service, n) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not SERVICE=N"))?;
    let n = n
        .parse()
        .map_err(|_| format!("`{n}` in `{s}` is not a whole number"))?;
    if service.is_empty() {
        return Err(format!("`{s}` names no service"));
    }
    Ok((service.to_string(), n))
}

/// `warren scale`.
#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Lab name (a lab brought up from a compose file).
    pub name: String,
    /// New replica counts, `SERVICE=N`.
    #[arg(required = true, value_name = "SERVICE=N", value_parser = parse_scale)]
    pub scale: Vec<(String, u32)>,
    /// Print what was done as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `warren test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The lab and how to run it.
    #[command(flatten)]
    pub lab: LabArgs,
    /// Leave the lab up when a step fails, for debugging (`warren down NAME` afterwards).
    #[arg(long)]
    pub keep: bool,
    /// Stop at the first failing step; the rest are reported as skipped.
    #[arg(long)]
    pub fail_fast: bool,
    /// Run only the steps whose name contains this text (repeatable).
    #[arg(long = "only", value_name = "TEXT")]
    pub only: Vec<String>,
    /// Also write the JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// No live step lines; only the final table (or JSON).
    #[arg(short, long)]
    pub quiet: bool,
}

/// `warren __netexec`.
#[derive(Debug, Args)]
pub struct NetExecArgs {
    /// Lab name.
    pub name: String,
    /// Node name.
    pub node: String,
    /// Instead of a command, GET this http:// URL and print `{"status":..,"body":..}`.
    #[arg(long)]
    pub http: Option<String>,
    /// Seconds the HTTP request may take.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// The command.
    #[arg(last = true)]
    pub command: Vec<String>,
}

/// `warren down`.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// Lab name, or the lab file it was started from.
    #[arg(
        value_name = "NAME|FILE",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub target: Option<String>,
    /// Tear down every lab.
    #[arg(long)]
    pub all: bool,
    /// Keep the folders of a compose lab's named volumes (removed otherwise).
    #[arg(long)]
    pub keep_volumes: bool,
}

/// `warren ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `warren inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Lab name.
    pub name: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `warren capture`.
#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// Lab name.
    pub name: String,
    /// Link name, an endpoint of the link (`r1:eth1`), or network name.
    pub link: String,
    /// Where to write pcapng: a file, or `-` for stdout (the default).
    #[arg(
        short = 'w',
        long = "write",
        value_name = "FILE|-",
        default_value = "-"
    )]
    pub write: String,
}

/// `warren impair`.
#[derive(Debug, Args)]
pub struct ImpairArgs {
    /// Lab name.
    pub name: String,
    /// Link name (both directions) or endpoint `node:if` (that egress).
    pub link: String,
    /// Added delay (`50ms`).
    #[arg(long)]
    pub delay: Option<String>,
    /// Delay variation (`5ms`).
    #[arg(long)]
    pub jitter: Option<String>,
    /// Shape of the variation: uniform, normal, pareto, paretonormal.
    #[arg(long)]
    pub distribution: Option<String>,
    /// Share of frames dropped (`2%`).
    #[arg(long)]
    pub loss: Option<String>,
    /// Correlation of successive losses (`25%`).
    #[arg(long)]
    pub loss_correlation: Option<String>,
    /// Share of frames sent twice.
    #[arg(long)]
    pub duplicate: Option<String>,
    /// Share of frames sent out of order.
    #[arg(long)]
    pub reorder: Option<String>,
    /// Share of frames with a flipped bit.
    #[arg(long)]
    pub corrupt: Option<String>,
    /// Rate limit (`10mbit`).
    #[arg(long)]
    pub rate: Option<String>,
    /// Queue limit in frames.
    #[arg(long)]
    pub limit: Option<String>,
    /// Remove every impairment (a wired link stays on the wire; a plain
    /// link loses its qdisc).
    #[arg(long, conflicts_with_all = ["delay", "jitter", "distribution", "loss", "loss_correlation", "duplicate", "reorder", "corrupt", "rate", "limit"])]
    pub clear: bool,
}

/// `warren link`.
#[derive(Debug, Args)]
pub struct LinkArgs {
    /// Lab name.
    pub name: String,
    /// Link name or endpoint `node:if`.
    pub link: String,
    /// Carrier off (`down`) or on (`up`).
    pub state: LinkState,
}

/// A link's carrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LinkState {
    /// Carrier on.
    Up,
    /// Carrier off.
    Down,
}

/// `warren node`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Lab name.
    pub name: String,
    /// Node name.
    pub node: String,
    /// What to do.
    pub action: NodeActionArg,
    /// Print what was done as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What `warren node` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NodeActionArg {
    /// Interfaces down (the peers lose carrier), processes stopped.
    Stop,
    /// Interfaces back with their addresses and routes, processes started.
    Start,
    /// Stop, then start.
    Restart,
}

impl NodeActionArg {
    /// The action's name on the control socket.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeActionArg::Stop => "stop",
            NodeActionArg::Start => "start",
            NodeActionArg::Restart => "restart",
        }
    }
}

/// `warren console`.
#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// Lab name.
    pub name: String,
    /// vm or system node.
    pub node: String,
    /// Run this command at the console's shell prompt, print its output and
    /// exit with its exit code, instead of attaching.
    #[arg(short = 'c', long = "command", value_name = "CMD")]
    pub command: Option<String>,
    /// Seconds to wait for the command (default 30), or for the upload
    /// (default 60 plus one per 100 bytes).
    #[arg(long)]
    pub timeout: Option<u64>,
    /// Send the local file SRC to DST on the node through the console's
    /// shell (base64 or printf, each chunk checked), instead of attaching.
    #[arg(long, num_args = 2, value_names = ["SRC", "DST"], conflicts_with = "command")]
    pub upload: Option<Vec<String>>,
    /// The uploaded file's mode, in octal digits (0755).
    #[arg(long, requires = "upload", value_name = "MODE")]
    pub mode: Option<String>,
}

/// `warren vm`.
#[derive(Debug, Args)]
pub struct VmArgs {
    /// Lab name.
    pub name: String,
    /// vm node.
    pub node: String,
    /// What to do.
    #[arg(value_parser = ["reset", "powerdown", "pause", "resume", "quit"])]
    pub action: String,
}

/// `warren exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Lab name.
    pub name: String,
    /// Node name, or `NODE/CONTAINER` for one of the node's `containers:`.
    pub node: String,
    /// One of the node's `containers:` (the same as `NODE/CONTAINER`).
    #[arg(short = 'c', long, value_name = "CONTAINER")]
    pub container: Option<String>,
    /// Keep stdin open (it always is; accepted for docker compatibility).
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Run the command on a pseudo-terminal.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// On a system node: run the command as a transient unit
    /// (`systemd-run --wait --pipe`), for commands that need a unit context.
    #[arg(long)]
    pub unit: bool,
    /// Run the command unconfined (every capability, no seccomp filter, no
    /// no_new_privs) instead of with the node's confinement.
    #[arg(long)]
    pub privileged: bool,
    /// The command and its arguments; a shell when absent.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// `warren validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Lab files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Output formats of `warren graph`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz dot.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
    /// The resolved lab: defaults applied, addresses assigned.
    Json,
    /// A standalone HTML page with the topology drawn as SVG.
    Html,
    /// The topology drawing alone, as an SVG file.
    Svg,
}

/// `warren graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The lab file, or a compose file (one with `services:`), or a folder
    /// whose compose files to run; for `html`, `svg` and `json`, also the
    /// name of a running lab.
    #[arg(value_name = "LAB_OR_FILE")]
    pub file: PathBuf,
    /// conlink network file to merge into a compose file (repeatable; colon-separated lists too).
    #[arg(long = "network-file", value_name = "FILE")]
    pub network_files: Vec<String>,
    /// More compose files merged over FILE in order, as `docker compose -f` merges them (repeatable; colon-separated lists too).
    #[arg(long = "compose-file", value_name = "FILE")]
    pub compose_files: Vec<String>,
    /// Variables for compose interpolation, instead of `.env` beside the compose file (repeatable).
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "dot")]
    pub format: GraphFormat,
}

/// `warren report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run's evidence folder (`results/<lab>/<run>`).
    #[arg(value_name = "RESULTS_DIR")]
    pub dir: PathBuf,
    /// Where to write the page; default `RESULTS_DIR/report.html`, `-` for stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `warren view`.
#[derive(Debug, Args)]
pub struct ViewArgs {
    /// Lab name.
    pub name: String,
    /// Port on 127.0.0.1; by default the system picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
}

/// `warren completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        // Catches a global flag clashing with a command's own short option.
        Cli::command().debug_assert();
    }

    #[test]
    fn global_and_command_flags_fold_into_one_verbosity() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).expect("parses").verbosity();
        assert_eq!(parse(&["warren", "-vv", "ps"]), (2, false));
        assert_eq!(parse(&["warren", "ps", "-v"]), (1, false));
        assert_eq!(parse(&["warren", "-q", "up", "lab.yaml"]), (0, true));
        assert_eq!(parse(&["warren", "up", "-q", "lab.yaml"]), (0, true));
        assert_eq!(
            parse(&["warren", "test", "-v", "-q", "lab.yaml"]),
            (1, true)
        );
        // In `run`, -v is a volume; --verbose still counts.
        let cli = Cli::try_parse_from(["warren", "run", "-v", "/a:/b", "--verbose", "alpine"])
            .expect("parses");
        let Command::Run(r) = &cli.command else {
            panic!("run expected")
        };
        assert_eq!(r.volumes, vec!["/a:/b".to_owned()]);
        assert_eq!(cli.verbosity(), (1, false));
    }
}
