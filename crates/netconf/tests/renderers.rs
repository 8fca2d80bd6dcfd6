//! Every model feature through every renderer: the rendered files of each
//! `tests/network-configs/*.yaml` are compared with
//! `tests/network-configs/out/<config>/<renderer>.txt` (the files, or the
//! error when the renderer cannot express the config), and likewise for
//! the lab model (`out/lab-node/`).
//! `WARREN_BLESS=1 cargo test -p warren-netconf --test renderers` rewrites them.

mod common;

use warren_netconf::{Renderer, Task, render};

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
    for (stem, model) in common::models() {
        for r in Renderer::ALL {
            let got = match render(&model, r) {
                Ok(tasks) => dump(&tasks),
                Err(e) => format!("error: {e}\n"),
            };
            let golden = common::configs_dir().join(format!("out/{stem}/{}.txt", r.name()));
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
