//! Renders every case (the oracle cases beside the repository and warren's
//! own) many times and prints the mean time per plan.
//!
//! `cargo bench -p warren-netconf --bench render` (set `NETCONF_BENCH_ITERS`
//! to change the number of iterations, 2000 by default).

use std::fs;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use warren_netconf::{HostNic, Input, plan};

/// One case, loaded once.
struct Case {
    name: String,
    metadata: serde_json::Value,
    nics: Vec<HostNic>,
    args: Vec<String>,
}

impl Case {
    fn load(dir: &Path) -> Self {
        let read = |f: &str| fs::read_to_string(dir.join(f)).unwrap_or_default();
        Self {
            name: dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            metadata: serde_json::from_str(&read("metadata.json")).expect("metadata.json"),
            nics: serde_json::from_str(&read("interfaces.json")).expect("interfaces.json"),
            args: read("args.txt")
                .split('\'')
                .enumerate()
                .flat_map(|(i, part)| {
                    // Inside quotes (odd pieces) is one word.
                    if i % 2 == 1 {
                        vec![part.to_owned()]
                    } else {
                        part.split_whitespace().map(str::to_owned).collect()
                    }
                })
                .collect(),
        }
    }

    fn flag(&self, name: &str) -> Option<&str> {
        let i = self.args.iter().position(|a| a == name)?;
        self.args.get(i + 1).map(String::as_str)
    }
}

fn cases(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(root)
        .map(|rd| rd.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    dirs.retain(|d| d.join("metadata.json").exists());
    dirs.sort();
    dirs
}

fn main() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let iters: u32 = std::env::var("NETCONF_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let dirs: Vec<PathBuf> = [
        here.join("../../../shared/netconf/cases"),
        here.join("tests/cases"),
    ]
    .iter()
    .flat_map(|root| cases(root))
    .collect();
    println!("{:<45} {:>12} {:>8}", "case", "µs/plan", "result");
    for case in dirs.iter().map(|d| Case::load(d)) {
        let input = Input {
            metadata: &case.metadata,
            operating_system: case.flag("-o"),
            nics: &case.nics,
            resolvers: case.flag("--resolvers"),
            host_resolv_conf: Some("nameserver 192.0.2.1\n"),
        };
        let result = match plan(&input) {
            Ok(tasks) => format!("{} tasks", tasks.len()),
            Err(_) => "error".to_owned(),
        };
        let start = Instant::now();
        for _ in 0..iters {
            let _ = black_box(plan(black_box(&input)));
        }
        let micros = start.elapsed().as_secs_f64() * 1e6 / f64::from(iters);
        println!("{:<45} {:>12.1} {:>8}", case.name, micros, result);
    }
}
