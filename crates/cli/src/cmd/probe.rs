//! `warren probe`: boot an OS image with systemd as a one-node lab, install
//! packages with the distro's own tool, check units, URLs and commands from
//! inside, print a table (or JSON), tear down, and exit non-zero if any
//! check failed: racker/postroj's probe, without systemd-nspawn. An image
//! without systemd gets it installed first, once (`provision: true`).
//! `warren probe list-images`, `pull` and `selftest` are postroj's.

use super::curated;
use super::system_lab::{self, POLL, Spec, SystemLab};
use crate::Failure;
use crate::args::{ProbeArgs, ProbeCommand};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};
use warren_image::CuratedImages;

/// Where packages appear inside the probed system.
const PACKAGE_DIR: &str = "/var/tmp/warren-probe";

/// One check and its outcome.
#[derive(Debug, Serialize)]
struct Check {
    check: String,
    ok: bool,
    detail: String,
}

impl Check {
    /// A check that a command passed, with its last line of output.
    fn of_command(check: String, out: &std::io::Result<Output>) -> Check {
        Check {
            check,
            ok: passed(out),
            detail: output_text(out)
                .lines()
                .last()
                .unwrap_or_default()
                .to_string(),
        }
    }
}

/// Runs `argv` in the probed node.
fn exec(lab: &SystemLab, argv: &[&str]) -> std::io::Result<Output> {
    lab.command(argv).output()
}

fn sh(lab: &SystemLab, script: &str) -> std::io::Result<Output> {
    exec(lab, &["sh", "-c", script])
}

/// Retries `f` until it passes or `settle` runs out; returns the last outcome
/// (a check is one short process, polled as often as the boot).
fn settle_for(settle: Duration, mut f: impl FnMut() -> (bool, String)) -> (bool, String) {
    let start = Instant::now();
    loop {
        let (ok, detail) = f();
        if ok || start.elapsed() >= settle {
            return (ok, detail);
        }
        std::thread::sleep(POLL);
    }
}

fn output_text(out: &std::io::Result<Output>) -> String {
    match out {
        Ok(o) => format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
        .trim()
        .to_string(),
        Err(e) => e.to_string(),
    }
}

fn passed(out: &std::io::Result<Output>) -> bool {
    out.as_ref().is_ok_and(|o| o.status.success())
}

/// Downloads an http:// package into `dir`; files are used as they are.
fn fetch_package(spec: &str, dir: &Path) -> Result<PathBuf, Failure> {
    if !spec.starts_with("http://") && !spec.starts_with("https://") {
        let p = std::fs::canonicalize(spec).map_err(|e| miette::miette!("package {spec}: {e}"))?;
        return Ok(p);
    }
    let name = spec
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("package.deb");
    let path = dir.join(name);
    let mut body = ureq::get(spec)
        .call()
        .map_err(|e| miette::miette!("downloading {spec}: {e}"))?
        .into_body();
    let mut file =
        std::fs::File::create(&path).map_err(|e| miette::miette!("{}: {e}", path.display()))?;
    std::io::copy(&mut body.as_reader(), &mut file)
        .map_err(|e| miette::miette!("downloading {spec}: {e}"))?;
    Ok(path)
}

/// The HTTP status a URL answers with from inside, fetched with bash's
/// /dev/tcp (a minimal OS image has no HTTP client).
fn http_script(url: &str) -> Option<String> {
    let rest = url.strip_prefix("http://")?;
    let (hostport, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "80"));
    Some(format!(
        "exec 3<>/dev/tcp/{host}/{port} && printf 'GET {path} HTTP/1.0\\r\\nHost: {host}\\r\\n\\r\\n' >&3 && head -n 1 <&3"
    ))
}

pub fn run(args: &ProbeArgs) -> Result<(), Failure> {
    let curated = CuratedImages::load_default().map_err(Failure::error)?;
    match &args.command {
        Some(ProbeCommand::ListImages { json }) => return curated::list(&curated, *json),
        Some(ProbeCommand::Pull { names, all }) => return curated::pull(&curated, names, *all),
        Some(ProbeCommand::Selftest { test, images, json }) => {
            return curated::selftest(&curated, test, images, *json);
        }
        None => {}
    }
    let Some(asked) = &args.image else {
        return curated::list(&curated, args.json);
    };
    // A curated name stands for its image; anything else is used as given.
    let image = curated.resolve(asked).map_err(Failure::error)?;
    let work = system_lab::work_dir("probe")?;
    let packages: Vec<PathBuf> = args
        .packages
        .iter()
        .map(|p| fetch_package(p, &work))
        .collect::<Result<_, _>>()?;
    let binds = packages
        .iter()
        .map(|p| {
            let file = p.file_name().and_then(|f| f.to_str()).unwrap_or("package");
            format!("{}:{PACKAGE_DIR}/{file}:ro", p.display())
        })
        .collect();
    // Packages are installed into a booted system (their scripts may start
    // units), and commands run once each, so with either the lab is up once
    // the boot has finished. Otherwise unit and URL checks retry for
    // `--settle` seconds, and need not wait for units they do not name.
    let booted = !packages.is_empty() || !args.commands.is_empty();
    let spec = Spec {
        lab: format!("probe{}", std::process::id() % 10_000_000),
        node: "probe",
        image,
        binds,
        booted,
        progress: !args.json,
        userns: false,
        work: &work,
    };
    let started = Instant::now();
    let probed = SystemLab::up(&spec)?;
    let booted = started.elapsed();
    let mut checks = vec![Check {
        check: if image == asked {
            format!("boot {image}")
        } else {
            format!("boot {asked} ({image})")
        },
        ok: true,
        detail: format!("up after {:.2} s", booted.as_secs_f64()),
    }];
    let settle = Duration::from_secs(args.settle);
    for p in &packages {
        let file = p.file_name().and_then(|f| f.to_str()).unwrap_or("package");
        let inside = format!("{PACKAGE_DIR}/{file}");
        let install = if file.ends_with(".rpm") {
            format!(
                "if command -v dnf >/dev/null; then dnf install -y {inside}; else rpm -i {inside}; fi"
            )
        } else {
            format!("dpkg -i {inside}")
        };
        let out = sh(&probed, &install);
        checks.push(Check::of_command(format!("install {file}"), &out));
    }
    for unit in &args.units {
        let (ok, detail) = settle_for(settle, || {
            let out = exec(&probed, &["systemctl", "is-active", unit]);
            (passed(&out), output_text(&out))
        });
        checks.push(Check {
            check: format!("unit {unit}"),
            ok,
            detail,
        });
    }
    for url in &args.urls {
        let Some(script) = http_script(url) else {
            checks.push(Check {
                check: format!("network {url}"),
                ok: false,
                detail: "only http:// URLs can be checked from inside".into(),
            });
            continue;
        };
        let (ok, detail) = settle_for(settle, || {
            let out = exec(&probed, &["bash", "-c", &script]);
            let line = output_text(&out);
            let status = line
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse::<u16>().ok());
            (status.is_some_and(|c| (200..400).contains(&c)), line)
        });
        checks.push(Check {
            check: format!("network {url}"),
            ok,
            detail,
        });
    }
    for cmd in &args.commands {
        let out = sh(&probed, cmd);
        checks.push(Check::of_command(format!("cmd {cmd}"), &out));
    }
    let checked = started.elapsed();
    drop(probed);
    let stopped = started.elapsed();
    let _ = std::fs::remove_dir_all(&work);
    let failed = checks.iter().filter(|c| !c.ok).count();
    if args.json {
        // Where the time went: bring-up to ready, the checks, teardown.
        let seconds = serde_json::json!({
            "up": booted.as_secs_f64(),
            "checks": (checked - booted).as_secs_f64(),
            "down": (stopped - checked).as_secs_f64(),
        });
        let v = serde_json::json!({ "image": asked, "reference": image, "ok": failed == 0, "checks": checks, "seconds": seconds });
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| miette::miette!("{e}"))?
        );
    } else {
        let mut rows = vec![["CHECK", "RESULT", "DETAIL"].map(String::from)];
        for c in &checks {
            rows.push([
                c.check.clone(),
                if c.ok { "ok" } else { "FAIL" }.into(),
                c.detail.clone(),
            ]);
        }
        print!("{}", crate::table::render(&rows));
    }
    if failed > 0 {
        Err(Failure::Exit(1))
    } else {
        Ok(())
    }
}
