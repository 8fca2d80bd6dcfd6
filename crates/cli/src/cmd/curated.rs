//! `warren probe list-images`, `pull` and `selftest`: postroj's commands
//! over the curated OS images.

use super::system_lab::{self, Spec, SystemLab};
use crate::Failure;
use serde::Serialize;
use std::time::Instant;
use warren_image::{CuratedImage, CuratedImages, ProgressMode, Puller, Reference, Store};

/// Prints the curated images, as a table or JSON.
pub fn list(curated: &CuratedImages, json: bool) -> Result<(), Failure> {
    if json {
        let all: Vec<&CuratedImage> = curated.iter().collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&all).map_err(|e| miette::miette!("{e}"))?
        );
        return Ok(());
    }
    let mut rows = vec![["NAME", "IMAGE", "SOURCE", "DESCRIPTION"].map(String::from)];
    for i in curated.iter() {
        let description = match &i.gone {
            Some(nearest) => format!("GONE, use {nearest}: {}", i.description),
            None => i.description.clone(),
        };
        rows.push([
            i.name.clone(),
            i.image.clone(),
            i.source.clone(),
            description,
        ]);
    }
    print!("{}", crate::table::render(&rows));
    Ok(())
}

/// Pulls curated images by name, or all that exist; goes on past a
/// failure and exits 1 after if any failed.
pub fn pull(curated: &CuratedImages, names: &[String], all: bool) -> Result<(), Failure> {
    let names: Vec<String> = if all {
        curated.available().map(|c| c.name.clone()).collect()
    } else {
        names.to_vec()
    };
    let store = Store::open_default().map_err(Failure::error)?;
    let puller = Puller::from_env()
        .map_err(Failure::error)?
        .progress(ProgressMode::Auto);
    let mut failed = 0;
    for name in &names {
        let outcome = curated
            .get(name)
            .ok_or_else(|| miette::miette!("`{name}` is not a curated image (see list-images)"))
            .and_then(|_| curated.resolve(name).map_err(Failure::report))
            .and_then(|image| image.parse::<Reference>().map_err(Failure::report))
            .and_then(|r| puller.pull(&store, &r).map_err(Failure::report));
        match outcome {
            Ok(rep) => println!(
                "{name}: {} ({})",
                rep.image.reference, rep.image.manifest_digest
            ),
            Err(e) => {
                failed += 1;
                eprintln!("{name}: {}", one_line(&e));
            }
        }
    }
    if failed > 0 {
        Err(Failure::Exit(1))
    } else {
        Ok(())
    }
}

/// An error and its causes on one line, for a table cell.
fn one_line(e: &miette::Report) -> String {
    e.chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// One image's self test.
#[derive(Debug, Serialize)]
struct Outcome {
    image: String,
    ok: bool,
    seconds: f64,
    detail: String,
}

/// The curated images whose image is in the store.
fn stored(curated: &CuratedImages, store: &Store) -> Vec<String> {
    curated
        .available()
        .filter(|c| {
            c.image
                .parse::<Reference>()
                .ok()
                .and_then(|r| store.image(&r).ok().flatten())
                .is_some()
        })
        .map(|c| c.name.clone())
        .collect()
}

/// Runs `test` in a booted `lab`: whether it passed, and what it printed that matters.
fn check(lab: &SystemLab, test: &str) -> (bool, String) {
    let run = |argv: &[&str]| match lab.command(argv).output() {
        Ok(o) => (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        ),
        Err(e) => (false, e.to_string()),
    };
    let last = |text: &str| {
        text.trim()
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    if test == "hostnamectl" {
        let (ok, text) = run(&["hostnamectl"]);
        let os = text
            .lines()
            .find(|l| l.contains("Operating System:"))
            .map(|l| l.trim().to_owned());
        (ok, os.unwrap_or_else(|| last(&text)))
    } else {
        let (journald, text) = run(&["systemctl", "is-active", "systemd-journald"]);
        if !journald {
            return (false, format!("systemd-journald: {}", last(&text)));
        }
        let (ok, text) = run(&[
            "sh",
            "-c",
            "if command -v dpkg-query >/dev/null; then dpkg-query -W -f '${Package} ${Version}\\n' systemd; \
             elif command -v rpm >/dev/null; then rpm -q systemd; \
             elif command -v pacman >/dev/null; then pacman -Q systemd; \
             else echo no package tool; exit 3; fi",
        ]);
        (ok, format!("systemd-journald active; {}", last(&text)))
    }
}

/// Boots each image in turn, runs `test`, and prints a table (or JSON).
pub fn selftest(
    curated: &CuratedImages,
    test: &str,
    images: &[String],
    json: bool,
) -> Result<(), Failure> {
    let store = Store::open_default().map_err(Failure::error)?;
    let names = if images.is_empty() {
        stored(curated, &store)
    } else {
        images.to_vec()
    };
    if names.is_empty() {
        return Err(Failure::Error(miette::miette!(
            "no curated image is in the store: pull some with `warren probe pull NAME`, or name images with --image"
        )));
    }
    let mut outcomes = Vec::new();
    for name in &names {
        let started = Instant::now();
        let (ok, detail) = match boot_and_check(curated, name, test) {
            Ok(r) => r,
            Err(Failure::Error(e)) => (false, one_line(&e)),
            Err(_) => (false, "failed".to_owned()),
        };
        outcomes.push(Outcome {
            image: name.clone(),
            ok,
            seconds: started.elapsed().as_secs_f64(),
            detail,
        });
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&outcomes).map_err(|e| miette::miette!("{e}"))?
        );
    } else {
        let mut rows = vec![["IMAGE", "RESULT", "SECONDS", "DETAIL"].map(String::from)];
        for o in &outcomes {
            rows.push([
                o.image.clone(),
                if o.ok { "ok" } else { "FAIL" }.into(),
                format!("{:.2}", o.seconds),
                o.detail.clone(),
            ]);
        }
        print!("{}", crate::table::render(&rows));
    }
    if outcomes.iter().all(|o| o.ok) {
        Ok(())
    } else {
        Err(Failure::Exit(1))
    }
}

fn boot_and_check(
    curated: &CuratedImages,
    name: &str,
    test: &str,
) -> Result<(bool, String), Failure> {
    let image = curated.resolve(name).map_err(Failure::error)?;
    let work = system_lab::work_dir("selftest")?;
    let spec = Spec {
        // Lab names fit 12 bytes (kernel names derive from them).
        lab: format!("st{}", std::process::id()),
        node: "selftest",
        image,
        binds: Vec::new(),
        booted: true,
        progress: false,
        userns: false,
        work: &work,
    };
    let result = SystemLab::up(&spec).map(|lab| check(&lab, test));
    let _ = std::fs::remove_dir_all(&work);
    result
}
