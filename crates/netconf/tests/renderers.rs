//! Every model feature through every renderer: the rendered files of each
//! `tests/network-configs/*.yaml` are compared with
//! `tests/network-configs/out/<config>/<renderer>.txt` (the files, or the
//! error when the renderer cannot express the config).
//! `WARREN_BLESS=1 cargo test -p warren-netconf --test renderers` rewrites them.

use std::path::{Path, PathBuf};

use warren_netconf::{Renderer, Task, parse_network_config, render};

fn configs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/network-configs");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("network-configs dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    out.sort();
    out
}

/// The tasks as one text: each path, mode and content.
fn dump(tasks: &[Task]) -> String {
    tasks
        .iter()
        .map(|t| {
            format!(
                "==> {} ({})\n{}",
                t.path,
                t.mode
                    .map_or("default mode".to_owned(), |m| format!("{m:04o}")),
                t.content.as_deref().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn matrix_matches_golden_files() {
    let bless = std::env::var_os("WARREN_BLESS").is_some();
    let mut failures = Vec::new();
    for path in configs() {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name")
            .to_owned();
        let text = std::fs::read_to_string(&path).expect("read config");
        let model = parse_network_config(&text).unwrap_or_else(|e| panic!("{stem}: {e}"));
        for r in Renderer::ALL {
            let got = match render(&model, r) {
                Ok(tasks) => dump(&tasks),
                Err(e) => format!("error: {e}\n"),
            };
            let golden = path.with_file_name(format!("out/{stem}/{}.txt", r.name()));
            if bless {
                std::fs::create_dir_all(golden.parent().expect("parent")).expect("mkdir");
                std::fs::write(&golden, &got).expect("write golden");
            } else if std::fs::read_to_string(&golden).ok().as_deref() != Some(got.as_str()) {
                failures.push(format!(
                    "{stem} × {r}: differs from {}\n{got}",
                    golden.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
