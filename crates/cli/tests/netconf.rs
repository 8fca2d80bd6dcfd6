//! End-to-end tests of `warren netconf`: the packet-networking oracle cases
//! in ../shared/netconf/cases, warren's own cases in
//! crates/netconf/tests/cases (`WARREN_BLESS=1` rewrites their expected
//! results), the metadata URL with retries, and the JSON output.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The oracle cases, beside the repository (fail loudly if missing).
fn shared_cases() -> PathBuf {
    // A git worktree elsewhere names the shared copy with
    // WARREN_NETCONF_CASES.
    if let Some(dir) = std::env::var_os("WARREN_NETCONF_CASES") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/netconf/cases")
}

/// warren's own cases.
fn own_cases() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../netconf/tests/cases")
}

fn case_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("metadata.json").exists())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no cases in {}", root.display());
    dirs
}

/// One entry of a tree: a file (content, executable) or a symlink.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    File(Vec<u8>, bool),
    Link(PathBuf),
}

/// Files and symlinks under `root` by relative path (directories omitted).
fn tree(root: &Path) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    if root.exists() {
        walk(root, root, &mut out);
    }
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Entry>) {
    for e in fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.file_type().is_symlink() {
            out.insert(rel, Entry::Link(fs::read_link(&path).unwrap()));
        } else if meta.is_dir() {
            walk(root, &path, out);
        } else {
            let exec = meta.permissions().mode() & 0o111 != 0;
            out.insert(rel, Entry::File(fs::read(&path).unwrap(), exec));
        }
    }
}

/// Symlinks recorded in an oracle MANIFEST.tsv (the shared copy may hold
/// them as plain files with the target as content).
fn manifest_links(case: &Path) -> BTreeMap<String, PathBuf> {
    let Ok(text) = fs::read_to_string(case.join("MANIFEST.tsv")) else {
        return BTreeMap::new();
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            (cols.get(1) == Some(&"l")).then(|| (cols[0].to_owned(), PathBuf::from(cols[4])))
        })
        .collect()
}

/// Copies `pre/` into `rootfs`, turning flattened links back into symlinks.
fn copy_pre(case: &Path, rootfs: &Path) {
    let links = manifest_links(case);
    for (rel, entry) in tree(&case.join("pre")) {
        let dst = rootfs.join(&rel);
        fs::create_dir_all(dst.parent().unwrap()).unwrap();
        match entry {
            Entry::Link(target) => symlink(target, &dst).unwrap(),
            Entry::File(content, _) => match links.get(&rel) {
                Some(target) if content == target.as_os_str().as_encoded_bytes() => {
                    symlink(target, &dst).unwrap()
                }
                _ => {
                    fs::write(&dst, content).unwrap();
                    let mode = fs::metadata(case.join("pre").join(&rel))
                        .unwrap()
                        .permissions()
                        .mode();
                    fs::set_permissions(&dst, fs::Permissions::from_mode(mode | 0o200)).unwrap();
                }
            },
        }
    }
}

/// Splits args.txt into words (shell quoting with '…' and "…").
fn shell_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_default().push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_default();
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_default().push(c),
        }
    }
    words.extend(word);
    words
}

/// Runs warren netconf on a case into a fresh rootfs.
fn run_case(case: &Path) -> (tempfile::TempDir, Output) {
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = tmp.path().join("rootfs");
    fs::create_dir(&rootfs).unwrap();
    copy_pre(case, &rootfs);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_warren"));
    cmd.arg("netconf")
        .arg("--metadata-file")
        .arg(case.join("metadata.json"))
        .arg("--rootfs")
        .arg(&rootfs)
        .args(shell_words(
            &fs::read_to_string(case.join("args.txt")).unwrap_or_default(),
        ))
        .arg("--fake-nics")
        .arg(case.join("interfaces.json"))
        .env_remove("PACKET_RESOLVERS")
        .env_remove("PACKET_METADATA_URL");
    if case.join("host_resolv.conf").exists() {
        cmd.arg("--host-resolv-conf")
            .arg(case.join("host_resolv.conf"));
    } else {
        cmd.arg("--host-resolv-conf").arg("/dev/null");
    }
    let out = cmd.output().unwrap();
    (tmp, out)
}

fn expected_exit(case: &Path) -> i32 {
    let text = fs::read_to_string(case.join("result.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["exit_code"].as_i64().unwrap() as i32
}

/// manifest.py's normalisation: `loose` also drops comments and blank lines.
fn normalise(text: &str, loose: bool) -> String {
    let mut out: Vec<String> = Vec::new();
    for line in text.replace("\r\n", "\n").split('\n') {
        let line = line.trim_end();
        if loose {
            let squeezed = line.split_whitespace().collect::<Vec<_>>().join(" ");
            if !squeezed.is_empty() && !squeezed.starts_with('#') {
                out.push(squeezed);
            }
        } else if !(line.is_empty() && out.last().is_some_and(String::is_empty)) {
            out.push(line.to_owned());
        }
    }
    if !loose {
        while out.first().is_some_and(String::is_empty) {
            out.remove(0);
        }
        while out.last().is_some_and(String::is_empty) {
            out.pop();
        }
    }
    out.join("\n")
}

/// Upstream's header line; files carrying it may differ in comments only.
const UPSTREAM_HEADER: &str = "automatically generated by the Equinix Metal";

/// Differences between an oracle's expected tree and ours.
fn oracle_diffs(case: &Path, got: &BTreeMap<String, Entry>) -> Vec<String> {
    let mut expected = tree(&case.join("expected"));
    for (rel, target) in manifest_links(case) {
        expected.insert(rel, Entry::Link(target));
    }
    let mut diffs = Vec::new();
    for rel in expected.keys().filter(|k| !got.contains_key(*k)) {
        diffs.push(format!("missing: {rel}"));
    }
    for rel in got.keys().filter(|k| !expected.contains_key(*k)) {
        diffs.push(format!("unexpected: {rel}"));
    }
    for (rel, exp) in &expected {
        let Some(g) = got.get(rel) else { continue };
        match (exp, g) {
            (Entry::File(e, ex), Entry::File(g, gx)) => {
                let (e, g) = (String::from_utf8_lossy(e), String::from_utf8_lossy(g));
                if ex != gx {
                    diffs.push(format!("exec bit differs: {rel}"));
                }
                if normalise(&e, true) != normalise(&g, true) {
                    diffs.push(format!(
                        "loose content differs: {rel}\n--- expected\n{e}\n--- got\n{g}"
                    ));
                } else if normalise(&e, false) != normalise(&g, false)
                    && !e.contains(UPSTREAM_HEADER)
                {
                    diffs.push(format!(
                        "normal content differs: {rel}\n--- expected\n{e}\n--- got\n{g}"
                    ));
                }
            }
            (e, g) if e != g => diffs.push(format!("{rel}: expected {e:?}, got {g:?}")),
            _ => {}
        }
    }
    diffs
}

#[test]
fn oracle_cases_match_packet_networking() {
    let mut failures = Vec::new();
    for case in case_dirs(&shared_cases()) {
        let (tmp, out) = run_case(&case);
        let code = out.status.code().unwrap_or(-1);
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let want = expected_exit(&case);
        if (code == 0) != (want == 0) {
            failures.push(format!(
                "{name}: exit {code}, oracle {want}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
            continue;
        }
        let got = tree(&tmp.path().join("rootfs"));
        let diffs = if want == 0 {
            oracle_diffs(&case, &got)
        } else {
            let pre = tmp.path().join("pre");
            fs::create_dir(&pre).unwrap();
            copy_pre(&case, &pre);
            if tree(&pre) == got {
                vec![]
            } else {
                vec!["a failing run changed the rootfs".to_owned()]
            }
        };
        failures.extend(diffs.into_iter().map(|d| format!("{name}: {d}")));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Replaces `dir` with a copy of `from` (symlinks kept).
fn bless_tree(from: &Path, dir: &Path) {
    let _ = fs::remove_dir_all(dir);
    for (rel, entry) in tree(from) {
        let dst = dir.join(&rel);
        fs::create_dir_all(dst.parent().unwrap()).unwrap();
        match entry {
            Entry::Link(t) => symlink(t, &dst).unwrap(),
            Entry::File(content, exec) => {
                fs::write(&dst, content).unwrap();
                fs::set_permissions(
                    &dst,
                    fs::Permissions::from_mode(if exec { 0o755 } else { 0o644 }),
                )
                .unwrap();
            }
        }
    }
}

#[test]
fn own_cases_match_their_expected_trees() {
    let bless = std::env::var_os("WARREN_BLESS").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    for case in case_dirs(&own_cases()) {
        let (tmp, out) = run_case(&case);
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let code = out.status.code().unwrap_or(-1);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let rootfs = tmp.path().join("rootfs");
        if bless {
            fs::write(
                case.join("result.json"),
                format!("{{\"exit_code\": {code}}}\n"),
            )
            .unwrap();
            fs::write(case.join("stderr.txt"), &stderr).unwrap();
            if code == 0 {
                bless_tree(&rootfs, &case.join("expected"));
            } else {
                let _ = fs::remove_dir_all(case.join("expected"));
            }
            continue;
        }
        let want = expected_exit(&case);
        if code != want {
            failures.push(format!("{name}: exit {code}, expected {want}: {stderr}"));
            continue;
        }
        let want_stderr = fs::read_to_string(case.join("stderr.txt")).unwrap_or_default();
        if stderr != want_stderr {
            failures.push(format!(
                "{name}: stderr {stderr:?}, expected {want_stderr:?}"
            ));
        }
        // A failed run must leave the rootfs exactly as pre/ was.
        let expected = if code == 0 {
            tree(&case.join("expected"))
        } else {
            tree(&case.join("pre"))
        };
        let got = tree(&rootfs);
        if got != expected {
            let keys: Vec<&String> = got.keys().chain(expected.keys()).collect();
            for k in keys {
                if got.get(k) != expected.get(k) {
                    failures.push(format!(
                        "{name}: {k}: got {:?}, expected {:?}",
                        got.get(k).map(show),
                        expected.get(k).map(show)
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn show(e: &Entry) -> String {
    match e {
        Entry::File(c, x) => format!(
            "{}{}",
            if *x { "(exec) " } else { "" },
            String::from_utf8_lossy(c)
        ),
        Entry::Link(t) => format!("-> {}", t.display()),
    }
}

/// Serves `responses` (status, body) on 127.0.0.1, one per connection.
fn serve(responses: Vec<(u16, String)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/metadata", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for (status, body) in responses {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn metadata_url_is_retried_then_used() {
    let case = shared_cases().join("case-04");
    let metadata = fs::read_to_string(case.join("metadata.json")).unwrap();
    let url = serve(vec![(503, String::new()), (200, metadata)]);
    let rootfs = tempfile::tempdir().unwrap();
    assert_cmd::Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(["netconf", "-q", "-n", "2", "--resolvers", "192.0.2.1"])
        .arg("--rootfs")
        .arg(rootfs.path())
        .arg("--fake-nics")
        .arg(case.join("interfaces.json"))
        .env("PACKET_METADATA_URL", &url)
        .assert()
        .success();
    let hostname = fs::read_to_string(rootfs.path().join("etc/hostname")).unwrap();
    assert_eq!(hostname, "u1804-private\n");
}

#[test]
fn metadata_url_gives_up_after_max_attempts() {
    let url = serve(vec![(500, String::new())]);
    let rootfs = tempfile::tempdir().unwrap();
    let out = assert_cmd::Command::new(env!("CARGO_BIN_EXE_warren"))
        .args(["netconf", "-n", "1", "--metadata-url", &url])
        .arg("--rootfs")
        .arg(rootfs.path())
        .arg("--fake-nics")
        .arg(shared_cases().join("case-04/interfaces.json"))
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&out.stderr).contains("gave up after 1 attempt(s)"));
    assert_eq!(fs::read_dir(rootfs.path()).unwrap().count(), 0);
}

#[test]
fn json_format_prints_tasks_and_writes_nothing() {
    let case = shared_cases().join("case-07");
    let rootfs = tempfile::tempdir().unwrap();
    let out = assert_cmd::Command::new(env!("CARGO_BIN_EXE_warren"))
        .args([
            "netconf",
            "--format",
            "json",
            "-o",
            "centos 7",
            "--resolvers",
            "192.0.2.1",
        ])
        .arg("--metadata-file")
        .arg(case.join("metadata.json"))
        .arg("--rootfs")
        .arg(rootfs.path())
        .arg("--fake-nics")
        .arg(case.join("interfaces.json"))
        .assert()
        .success()
        .get_output()
        .clone();
    let tasks: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tasks = tasks.as_array().unwrap();
    let pre_local = tasks
        .iter()
        .find(|t| t["path"] == "sbin/ifup-pre-local")
        .unwrap();
    assert_eq!(pre_local["action"], "write");
    assert_eq!(pre_local["mode"], "0755");
    assert!(
        pre_local["content"]
            .as_str()
            .unwrap()
            .starts_with("#!/bin/bash\n")
    );
    let delete = tasks
        .iter()
        .find(|t| t["path"] == "etc/systemd/system/dbus-org.freedesktop.NetworkManager.service")
        .unwrap();
    assert_eq!(delete["action"], "delete");
    assert!(delete["content"].is_null());
    assert_eq!(fs::read_dir(rootfs.path()).unwrap().count(), 0);
}

/// A copy of `src` (files and directories).
fn copy_dir(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    for e in fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            fs::copy(e.path(), &to).unwrap();
        }
    }
}

/// Installed as a `packet-networking` symlink to the binary, warren runs
/// the shared oracle cases through their own compare.py unchanged. (The
/// shared copy holds some symlinks as plain files; they are restored from
/// MANIFEST.tsv in a scratch copy first, as
/// `oracle_cases_match_packet_networking` does.)
#[test]
fn packet_networking_symlink_passes_the_shared_compare_script() {
    let dir = tempfile::tempdir().unwrap();
    let dropin = dir.path().join("packet-networking");
    symlink(env!("CARGO_BIN_EXE_warren"), &dropin).unwrap();
    let shared = shared_cases().parent().unwrap().to_path_buf();
    let copy = dir.path().join("netconf");
    copy_dir(&shared, &copy);
    let mut names = Vec::new();
    for case in case_dirs(&shared_cases()) {
        let name = case.file_name().unwrap().to_owned();
        let pre = copy.join("cases").join(&name).join("pre");
        if pre.exists() {
            fs::remove_dir_all(&pre).unwrap();
            fs::create_dir(&pre).unwrap();
            copy_pre(&case, &pre);
        }
        let expected = copy.join("cases").join(&name).join("expected");
        for (rel, target) in manifest_links(&case) {
            let p = expected.join(rel);
            if p.is_file() {
                fs::remove_file(&p).unwrap();
                symlink(target, &p).unwrap();
            }
        }
        names.push(copy.join("cases").join(&name).display().to_string());
    }
    assert!(!names.is_empty(), "no cases in {}", shared.display());
    let out = Command::new("python3")
        .arg(copy.join("compare.py"))
        .args(["--level", "loose", "--run"])
        .arg(format!(
            "{} --metadata-file {{metadata}} --rootfs {{rootfs}} {{args}} --fake-nics {{interfaces}} --host-resolv-conf /dev/null",
            dropin.display()
        ))
        .args(&names)
        .env_remove("PACKET_RESOLVERS")
        .env_remove("PACKET_METADATA_URL")
        .output()
        .expect("python3 runs compare.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("{} passed, 0 failed", names.len())),
        "compare.py: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
