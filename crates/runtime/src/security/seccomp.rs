//! The seccomp filters of containers, compiled with seccompiler.
//!
//! Two profiles, both allow-lists whose other system calls fail with EPERM:
//! - [`Profile::Docker`] for containers and `warren run`: Docker's default
//!   profile. A fixed set of calls, plus calls allowed only when the
//!   container keeps the capability they serve (`mount` with SYS_ADMIN,
//!   `reboot` with SYS_BOOT, ...), `clone` without namespace flags,
//!   `socket` of the address families Docker allows, `personality` of the
//!   values it allows, and `clone3` failing with ENOSYS (so C libraries
//!   fall back to `clone`, whose flags the filter can see).
//! - [`Profile::Nspawn`] for system nodes: systemd-nspawn's allow-list,
//!   in which mounting, namespaces and `clone3` are open (systemd needs
//!   them; the kernel still checks the capabilities), the keyring, bpf,
//!   perf, swap, kexec, quotas, fanotify and `open_by_handle_at` are shut,
//!   clock, module, raw I/O and memory-locking calls follow the capability
//!   set, and NETLINK_AUDIT sockets fail with EAFNOSUPPORT (audit
//!   userspace then believes audit is off).
//!
//! Both refuse `mknod` of block devices (EPERM): warren has no device
//! cgroup to stop a container opening a disk through a node it made.

use super::SecurityError;
use caps::CapsHashSet;
use seccompiler::{BpfProgram, TargetArch};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Which allow-list a process gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Profile {
    /// Docker's default profile (container nodes, `warren run`).
    Docker,
    /// systemd-nspawn's allow-list (system nodes).
    Nspawn,
}

/// Calls both profiles allow on every architecture.
const COMMON: &[&str] = &[
    "accept",
    "accept4",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "clock_getres",
    "clock_gettime",
    "clock_nanosleep",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "dup",
    "dup3",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "epoll_pwait2",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fallocate",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchownat",
    "fcntl",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstatfs",
    "fsync",
    "ftruncate",
    "futex",
    "futex_requeue",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "get_robust_list",
    "getcpu",
    "getcwd",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getgroups",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresuid",
    "getrlimit",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "gettid",
    "gettimeofday",
    "getuid",
    "getxattr",
    "inotify_add_watch",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_setup",
    "io_submit",
    "ioctl",
    "ioprio_get",
    "ioprio_set",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lgetxattr",
    "linkat",
    "listen",
    "listmount",
    "listxattr",
    "llistxattr",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdirat",
    "mmap",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedsend",
    "mq_unlink",
    "mremap",
    "mseal",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "openat",
    "openat2",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe2",
    "ppoll",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlinkat",
    "readv",
    "recvfrom",
    "recvmmsg",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_tgsigqueueinfo",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "sendfile",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "set_robust_list",
    "set_tid_address",
    "setfsgid",
    "setfsuid",
    "setgid",
    "setgroups",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setresgid",
    "setresuid",
    "setreuid",
    "setrlimit",
    "setsid",
    "setsockopt",
    "setuid",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd4",
    "socketpair",
    "splice",
    "statfs",
    "statmount",
    "statx",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_settime",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_settime",
    "times",
    "tkill",
    "truncate",
    "umask",
    "uname",
    "unlinkat",
    "utimensat",
    "vmsplice",
    "wait4",
    "waitid",
    "write",
    "writev",
    // Allowed by Docker since kernel 4.8, whose ptrace checks suffice.
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
];

/// Calls both profiles allow that exist only on x86-64 (the legacy
/// path-based calls, which newer architectures replaced with `*at` ones).
const X86_64_ONLY: &[&str] = &[
    "access",
    "alarm",
    "arch_prctl",
    "chmod",
    "chown",
    "creat",
    "dup2",
    "epoll_create",
    "epoll_ctl_old",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "fork",
    "futimesat",
    "get_thread_area",
    "getdents",
    "getpgrp",
    "inotify_init",
    "lchown",
    "link",
    "lstat",
    "mkdir",
    "open",
    "pause",
    "pipe",
    "poll",
    "readlink",
    "rename",
    "rmdir",
    "select",
    "set_thread_area",
    "signalfd",
    "stat",
    "symlink",
    "time",
    "unlink",
    "uretprobe",
    "utime",
    "utimes",
    "vfork",
];

/// Docker's unconditional calls beyond [`COMMON`]; nspawn leaves them out
/// (fanotify, memory protection keys) or ties them to a capability
/// (memory locking to IPC_LOCK, clock adjustment to SYS_TIME).
const DOCKER_ONLY: &[&str] = &[
    "adjtimex",
    "clock_adjtime",
    "fanotify_mark",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "mlock",
    "mlock2",
    "mlockall",
    "munlock",
    "munlockall",
];

/// Calls nspawn opens to every system node: its `@mount` and `@process`
/// groups (systemd mounts, unshares and sets up namespaces for its
/// services) and a few it lists by name.
const NSPAWN_ONLY: &[&str] = &[
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "clone",
    "clone3",
    "unshare",
    "setns",
    "sethostname",
    "setdomainname",
    "userfaultfd",
    "personality",
    "socket",
    "kcmp",
    "pidfd_getfd",
    "process_madvise",
    "get_mempolicy",
    "mbind",
    "set_mempolicy",
    "set_mempolicy_home_node",
    "migrate_pages",
    "move_pages",
];

/// Calls Docker allows only with a capability.
const DOCKER_BY_CAP: &[(&str, &[&str])] = &[
    ("DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "lsm_get_self_attr",
            "lsm_list_modules",
            "lsm_set_self_attr",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount2",
            "unshare",
        ],
    ),
    ("SYS_BOOT", &["reboot"]),
    ("SYS_CHROOT", &["chroot"]),
    (
        "SYS_MODULE",
        &["delete_module", "init_module", "finit_module"],
    ),
    ("SYS_PACCT", &["acct"]),
    ("SYS_PTRACE", &["kcmp", "pidfd_getfd", "process_madvise"]),
    ("SYS_RAWIO", &["iopl", "ioperm"]),
    ("SYS_TIME", &["settimeofday", "clock_settime"]),
    ("SYS_TTY_CONFIG", &["vhangup"]),
    (
        "SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("SYSLOG", &["syslog"]),
    ("BPF", &["bpf"]),
    ("PERFMON", &["perf_event_open"]),
];

/// Calls nspawn allows only with a capability.
const NSPAWN_BY_CAP: &[(&str, &[&str])] = &[
    (
        "SYS_TIME",
        &["adjtimex", "clock_adjtime", "clock_settime", "settimeofday"],
    ),
    (
        "SYS_MODULE",
        &["delete_module", "init_module", "finit_module"],
    ),
    ("SYS_RAWIO", &["iopl", "ioperm"]),
    (
        "IPC_LOCK",
        &["mlock", "mlock2", "mlockall", "munlock", "munlockall"],
    ),
    ("SYS_PACCT", &["acct"]),
    ("SYS_BOOT", &["reboot"]),
    ("SYSLOG", &["syslog"]),
    ("SYS_TTY_CONFIG", &["vhangup"]),
];

/// Address families Docker lets `socket` create besides those below 12
/// (AF_VSOCK, 40, is not among them).
const DOCKER_FAMILIES: &[u64] = &[
    13, 14, 15, 16, 17, 18, 21, 22, 24, 26, 27, 28, 29, 30, 31, 32, 33, 35, 36, 39, 41, 42, 43, 44,
    45,
];

/// `personality` values Docker allows: PER_LINUX, UNAME26, ADDR_NO_RANDOMIZE
/// with either, and the query 0xffffffff.
const DOCKER_PERSONALITIES: &[u64] = &[0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// The namespace flags of `clone` (NEWNS, NEWCGROUP, NEWUTS, NEWIPC,
/// NEWUSER, NEWPID, NEWNET): without SYS_ADMIN none may be set.
const CLONE_NAMESPACES: u64 = 0x7E02_0000;

/// File types `mknod` may create: all but block devices.
const MKNOD_TYPES: &[u64] = &[
    0,
    libc::S_IFREG as u64,
    libc::S_IFCHR as u64,
    libc::S_IFIFO as u64,
    libc::S_IFSOCK as u64,
];

/// A condition on one argument, as seccompiler's JSON takes it.
fn cond(index: u8, len: &str, op: Value, val: u64) -> Value {
    json!({"index": index, "type": len, "op": op, "val": val})
}

/// Rules per call: an empty list allows the call unconditionally, and
/// otherwise any one rule (all of its conditions) must match.
type Rules = BTreeMap<&'static str, Vec<Vec<Value>>>;

fn allow(rules: &mut Rules, names: &[&'static str]) {
    for name in names {
        rules.insert(name, Vec::new());
    }
}

fn allow_if(rules: &mut Rules, name: &'static str, conditions: Vec<Value>) {
    rules.entry(name).or_default().push(conditions);
}

fn has(caps: &CapsHashSet, name: &str) -> bool {
    super::caps::parse(name).is_ok_and(|c| caps.contains(&c))
}

/// The allow-list of `profile` for a process keeping `caps` on `arch`.
fn allow_list(profile: Profile, caps: &CapsHashSet, arch: TargetArch) -> Rules {
    let x86 = matches!(arch, TargetArch::x86_64);
    let mut rules = Rules::new();
    allow(&mut rules, COMMON);
    if x86 {
        allow(&mut rules, X86_64_ONLY);
    }
    let by_cap = match profile {
        Profile::Docker => {
            allow(&mut rules, DOCKER_ONLY);
            if x86 {
                allow(&mut rules, &["modify_ldt"]);
            }
            DOCKER_BY_CAP
        }
        Profile::Nspawn => {
            allow(&mut rules, NSPAWN_ONLY);
            NSPAWN_BY_CAP
        }
    };
    for (cap, names) in by_cap {
        if has(caps, cap) {
            let names: Vec<&'static str> = names
                .iter()
                .copied()
                .filter(|n| x86 || !matches!(*n, "iopl" | "ioperm"))
                .collect();
            allow(&mut rules, &names);
        }
    }
    if profile == Profile::Docker {
        if !has(caps, "SYS_ADMIN") {
            let masked = json!({"masked_eq": CLONE_NAMESPACES});
            allow_if(&mut rules, "clone", vec![cond(0, "qword", masked, 0)]);
        }
        allow_if(
            &mut rules,
            "socket",
            vec![cond(0, "dword", json!("lt"), 12)],
        );
        for family in DOCKER_FAMILIES {
            allow_if(
                &mut rules,
                "socket",
                vec![cond(0, "dword", json!("eq"), *family)],
            );
        }
        for value in DOCKER_PERSONALITIES {
            allow_if(
                &mut rules,
                "personality",
                vec![cond(0, "dword", json!("eq"), *value)],
            );
        }
    }
    let s_ifmt = json!({"masked_eq": u64::from(libc::S_IFMT)});
    let mut mknod = vec![("mknodat", 2)];
    if x86 {
        mknod.push(("mknod", 1));
    }
    for (name, index) in mknod {
        rules.remove(name);
        for kind in MKNOD_TYPES {
            allow_if(
                &mut rules,
                name,
                vec![cond(index, "dword", s_ifmt.clone(), *kind)],
            );
        }
    }
    rules
}

/// Calls that fail with their own errno whatever the allow-list says,
/// grouped by errno: the kernel takes the errno of the filter installed
/// last when several return an errno.
fn overrides(profile: Profile, caps: &CapsHashSet) -> Vec<(u32, Rules)> {
    let mut out = Vec::new();
    match profile {
        Profile::Docker if !has(caps, "SYS_ADMIN") => {
            let mut rules = Rules::new();
            allow(&mut rules, &["clone3"]);
            out.push((libc::ENOSYS as u32, rules));
        }
        Profile::Docker => {}
        Profile::Nspawn => {
            let mut rules = Rules::new();
            allow_if(
                &mut rules,
                "socket",
                vec![
                    cond(0, "dword", json!("eq"), libc::AF_NETLINK as u64),
                    cond(2, "dword", json!("eq"), libc::NETLINK_AUDIT as u64),
                ],
            );
            out.push((libc::EAFNOSUPPORT as u32, rules));
        }
    }
    out
}

fn to_json(rules: &Rules) -> Vec<Value> {
    let mut out = Vec::new();
    for (name, alternatives) in rules {
        if alternatives.is_empty() {
            out.push(json!({"syscall": name}));
        }
        for conditions in alternatives {
            out.push(json!({"syscall": name, "args": conditions}));
        }
    }
    out
}

fn compile(
    name: &str,
    rules: &Rules,
    mismatch: Value,
    matched: Value,
    arch: TargetArch,
) -> Result<BpfProgram, SecurityError> {
    let doc = json!({ name: {
        "mismatch_action": mismatch,
        "match_action": matched,
        "filter": to_json(rules),
    }});
    let text = serde_json::to_vec(&doc).map_err(|e| SecurityError::Seccomp(e.to_string()))?;
    let mut map = seccompiler::compile_from_json(text.as_slice(), arch)
        .map_err(|e| SecurityError::Seccomp(e.to_string()))?;
    map.remove(name)
        .ok_or_else(|| SecurityError::Seccomp(format!("no filter {name} compiled")))
}

/// The filters of `profile` for a process keeping `caps`, in the order
/// they are to be installed.
pub fn filters_for(
    profile: Profile,
    caps: &CapsHashSet,
    arch: TargetArch,
) -> Result<Vec<BpfProgram>, SecurityError> {
    let mut out = vec![compile(
        "allow",
        &allow_list(profile, caps, arch),
        json!({"errno": libc::EPERM}),
        json!("allow"),
        arch,
    )?];
    for (errno, rules) in overrides(profile, caps) {
        out.push(compile(
            "errno",
            &rules,
            json!("allow"),
            json!({ "errno": errno }),
            arch,
        )?);
    }
    Ok(out)
}

/// The architecture warren runs on, as seccompiler names it.
pub fn native_arch() -> Result<TargetArch, SecurityError> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|_| {
        SecurityError::Seccomp(format!("no seccomp profile for {}", std::env::consts::ARCH))
    })
}

/// Installs `filters` on the calling thread, in order. Without
/// no_new_privs set the thread needs CAP_SYS_ADMIN.
pub fn install(filters: &[BpfProgram]) -> Result<(), SecurityError> {
    for filter in filters {
        let prog = libc::sock_fprog {
            len: u16::try_from(filter.len())
                .map_err(|_| SecurityError::Seccomp("filter too long".into()))?,
            filter: filter.as_ptr().cast_mut().cast(),
        };
        // SAFETY: the kernel copies the program from `prog`, which points
        // into `filter`, alive for the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &prog as *const libc::sock_fprog,
            )
        };
        if r != 0 {
            return Err(SecurityError::Install(std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// A capability set from names, for tests.
#[cfg(test)]
fn set(names: &[&str]) -> CapsHashSet {
    names
        .iter()
        .map(|n| super::caps::parse(n).unwrap())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_compiles_on_every_supported_architecture() {
        let sets = [
            set(crate::container::DEFAULT_CAPABILITIES),
            set(crate::container::SYSTEM_CAPABILITIES),
            caps::all(),
            CapsHashSet::new(),
        ];
        for arch in [TargetArch::x86_64, TargetArch::aarch64] {
            for profile in [Profile::Docker, Profile::Nspawn] {
                for caps in &sets {
                    let f = filters_for(profile, caps, arch).unwrap();
                    assert!(!f.is_empty() && f.iter().all(|p| !p.is_empty()));
                }
            }
        }
    }

    #[test]
    fn docker_gates_calls_on_capabilities_as_its_profile_does() {
        let default = set(crate::container::DEFAULT_CAPABILITIES);
        let rules = allow_list(Profile::Docker, &default, TargetArch::x86_64);
        for denied in [
            "mount",
            "umount2",
            "pivot_root",
            "unshare",
            "setns",
            "init_module",
            "finit_module",
            "kexec_load",
            "bpf",
            "perf_event_open",
            "keyctl",
            "add_key",
            "open_by_handle_at",
            "reboot",
            "swapon",
            "acct",
            "clone3",
            "iopl",
        ] {
            assert!(
                !rules.contains_key(denied),
                "{denied} is allowed by default"
            );
        }
        for allowed in ["read", "execve", "ptrace", "chroot", "open", "sendmsg"] {
            assert_eq!(rules.get(allowed).map(Vec::len), Some(0), "{allowed}");
        }
        assert_eq!(
            rules["clone"].len(),
            1,
            "clone is allowed without namespace flags only"
        );
        assert_eq!(rules["socket"].len(), 1 + DOCKER_FAMILIES.len());
        let admin = set(&["SYS_ADMIN", "SYS_BOOT"]);
        let rules = allow_list(Profile::Docker, &admin, TargetArch::x86_64);
        for allowed in ["mount", "unshare", "setns", "clone", "clone3", "reboot"] {
            assert_eq!(rules.get(allowed).map(Vec::len), Some(0), "{allowed}");
        }
        assert!(!rules.contains_key("chroot"), "chroot needs SYS_CHROOT");
        assert!(overrides(Profile::Docker, &admin).is_empty());
        assert_eq!(
            overrides(Profile::Docker, &default)[0].0,
            libc::ENOSYS as u32
        );
    }

    #[test]
    fn nspawn_opens_mounts_and_namespaces_and_shuts_the_keyring_and_bpf() {
        let system = set(crate::container::SYSTEM_CAPABILITIES);
        let rules = allow_list(Profile::Nspawn, &system, TargetArch::x86_64);
        for allowed in [
            "mount", "umount2", "unshare", "setns", "clone3", "reboot", "socket",
        ] {
            assert_eq!(rules.get(allowed).map(Vec::len), Some(0), "{allowed}");
        }
        for denied in [
            "keyctl",
            "add_key",
            "request_key",
            "bpf",
            "perf_event_open",
            "kexec_load",
            "swapon",
            "open_by_handle_at",
            "fanotify_init",
            "quotactl",
            "mlock",
            "adjtimex",
        ] {
            assert!(
                !rules.contains_key(denied),
                "{denied} is allowed to system nodes"
            );
        }
        let locked = set(&["IPC_LOCK", "SYS_TIME"]);
        let rules = allow_list(Profile::Nspawn, &locked, TargetArch::x86_64);
        assert!(rules.contains_key("mlock") && rules.contains_key("clock_settime"));
    }

    #[test]
    fn mknod_is_conditional_in_both_profiles_and_never_for_block_devices() {
        for profile in [Profile::Docker, Profile::Nspawn] {
            let rules = allow_list(profile, &caps::all(), TargetArch::x86_64);
            for name in ["mknod", "mknodat"] {
                let kinds: Vec<u64> = rules[name]
                    .iter()
                    .map(|c| c[0]["val"].as_u64().unwrap())
                    .collect();
                assert!(
                    !kinds.contains(&(libc::S_IFBLK as u64)),
                    "{profile:?} {name}"
                );
                assert!(
                    kinds.contains(&(libc::S_IFCHR as u64)),
                    "{profile:?} {name}"
                );
            }
        }
    }
}
