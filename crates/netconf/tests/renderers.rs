//! Every model feature through every renderer: the rendered files of each
//! `tests/network-configs/*.yaml` are compared with
//! `tests/network-configs/out/<config>/<renderer>.txt` (the files, or the
//! error when the renderer cannot express the config), and likewise for
//! the lab model (`out/lab-node/`).
//! `WARREN_BLESS=1 cargo test -p warren-netconf --test renderers` rewrites them.

mod common;

use warren_netconf::keys::{Feature, Support};
use warren_netconf::{NetworkModel, Renderer, Task, render};

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
            // The model as written, and (when the renderer refuses some of
            // its keys) the part it supports.
            let supported = common::supported_part(&model, r);
            let mut outputs = vec![(format!("{}.txt", r.name()), &model)];
            if supported != model {
                outputs.push((format!("{}.supported.txt", r.name()), &supported));
            }
            for (file, m) in outputs {
                let got = match render(m, r) {
                    Ok(tasks) => dump(&tasks),
                    Err(e) => format!("error: {e}\n"),
                };
                let golden = common::configs_dir().join(format!("out/{stem}/{file}"));
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
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// For every renderer, every key the keys table says it renders is used
/// by some config whose supported part that renderer renders: the matrix
/// above and the consumer tests exercise each one.
#[test]
fn the_configs_cover_every_key_of_every_renderer() {
    let models = common::models();
    let mut missing = Vec::new();
    for r in Renderer::ALL {
        let rendered: Vec<NetworkModel> = models
            .iter()
            .map(|(_, m)| common::supported_part(m, r))
            .filter(|m| render(m, r).is_ok())
            .collect();
        for f in Feature::all() {
            if matches!(f.support(r), Support::Yes(_))
                && !rendered
                    .iter()
                    .any(|m| m.interfaces.iter().any(|i| f.used_by(i)))
            {
                missing.push(format!("{r}: {}", f.key_name()));
            }
        }
    }
    let global_dns = models.iter().any(|(_, m)| !m.dns.is_empty());
    assert!(global_dns, "no config has global nameservers");
    assert!(
        missing.is_empty(),
        "no rendered config covers: {missing:#?}"
    );
}

/// Every key is refused by name: rendering a model that uses a refused
/// key fails naming the renderer, the interface, one of the refused keys it
/// uses and the reason.
#[test]
fn refused_keys_are_named_in_the_error() {
    let mut checked = 0;
    for (stem, model) in common::models() {
        for r in Renderer::ALL {
            let supported = common::supported_part(&model, r);
            for i in &model.interfaces {
                let refused: Vec<(String, String)> = Feature::all()
                    .into_iter()
                    .filter(|f| f.used_by(i))
                    .filter_map(|f| match f.support(r) {
                        Support::No(why) => Some((f.key_name(), why)),
                        Support::Yes(_) => None,
                    })
                    .collect();
                if refused.is_empty() {
                    continue;
                }
                // The supported part with this one interface as written.
                let mut one = supported.clone();
                match one.interfaces.iter().position(|x| x.id == i.id) {
                    Some(pos) => one.interfaces[pos] = i.clone(),
                    None => one.interfaces.push(i.clone()),
                }
                let err = render(&one, r).expect_err("a refused key").to_string();
                let prefix = format!("renderer {} cannot express interface {}: ", r.name(), i.id);
                assert!(
                    refused
                        .iter()
                        .any(|(key, why)| err == format!("{prefix}{key} ({why})")),
                    "{stem} × {r}: {err}, expected one of {refused:?}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 20, "only {checked} refusals checked");
}

/// docs/netconf.md carries the key-by-renderer table exactly as the code
/// has it.
#[test]
fn docs_carry_the_key_table() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/netconf.md"),
    )
    .expect("docs/netconf.md");
    let table = warren_netconf::keys::markdown();
    assert!(
        doc.contains(&table),
        "docs/netconf.md lacks the current key table; paste this in:\n{table}"
    );
}
