//! `warren impair NAME LINK [--delay D] [--loss P] … | --clear`: replaces a
//! link's impairments in the running lab (on the user-space wire, or with a
//! kernel qdisc on a plain link); `warren link NAME LINK down|up` turns its
//! carrier off and on.

use crate::Failure;
use crate::args::{ImpairArgs, LinkArgs, LinkState};
use std::collections::BTreeMap;
use warren_lab::proto::Request;
use warren_lab::state::{self, LabState};

/// The state folder of running lab `name`.
pub(super) fn running(name: &str) -> Result<std::path::PathBuf, Failure> {
    let dir = state::lab_dir(name);
    match LabState::read(&dir).map_err(Failure::error)? {
        Some(st) if st.supervisor_alive() => Ok(dir),
        _ => Err(Failure::Error(miette::miette!(
            "no lab called {name} is running"
        ))),
    }
}

pub fn link(args: &LinkArgs) -> Result<(), Failure> {
    let dir = running(&args.name)?;
    let request = Request::Link {
        link: args.link.clone(),
        up: args.state == LinkState::Up,
    };
    warren_lab::client::call(&dir, request, std::time::Duration::from_secs(5))
        .map_err(Failure::error)?;
    Ok(())
}

pub fn run(args: &ImpairArgs) -> Result<(), Failure> {
    let dir = running(&args.name)?;
    let keys = [
        ("delay", &args.delay),
        ("jitter", &args.jitter),
        ("distribution", &args.distribution),
        ("loss", &args.loss),
        ("loss_correlation", &args.loss_correlation),
        ("duplicate", &args.duplicate),
        ("reorder", &args.reorder),
        ("corrupt", &args.corrupt),
        ("rate", &args.rate),
        ("limit", &args.limit),
    ];
    let impair: BTreeMap<String, String> = keys
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_string(), v.clone())))
        .collect();
    if impair.is_empty() && !args.clear {
        return Err(Failure::Error(miette::miette!(
            "give at least one impairment (--delay, --loss, --rate, …) or --clear"
        )));
    }
    let request = Request::Impair {
        link: args.link.clone(),
        impair,
    };
    let done = warren_lab::client::call(&dir, request, std::time::Duration::from_secs(5))
        .map_err(Failure::error)?;
    println!(
        "{}: {}",
        done["link"].as_str().unwrap_or(&args.link),
        done["path"].as_str().unwrap_or("wire")
    );
    Ok(())
}
