//! `warren up FILE`: validate, plan, start the supervisor, print the lab.

use crate::Failure;
use crate::args::{LabArgs, UpArgs};
use crate::labfile::LabFile;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;
use warren_lab::lifecycle::{self, UpOptions};
use warren_topology::model::Lab;

pub fn run(args: &UpArgs) -> Result<(), Failure> {
    let (lab, text) = args.lab.load()?;
    if !args.lab.scale.is_empty() && !args.dry_run {
        let dir = warren_lab::state::lab_dir(&lab.name);
        if warren_lab::state::LabState::read(&dir)
            .ok()
            .flatten()
            .is_some_and(|st| st.supervisor_alive())
        {
            return super::scale::live(&dir, &lab, &text, args.json);
        }
    }
    if args.dry_run {
        // Every step `up` takes, as the supervisor's executor runs them.
        let plan = warren_lab::steps::plan(&lab);
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&plan).map_err(|e| miette::miette!("{e}"))?
            );
        } else {
            println!(
                "plan for lab {} ({} steps, {} of them kernel changes; nothing changed):",
                lab.name,
                plan.steps.len(),
                plan.network.steps.len()
            );
            print!("{plan}");
        }
        return Ok(());
    }
    if args.foreground && !args.quiet {
        eprintln!(
            "lab {} runs in the foreground; Ctrl-C tears it down",
            lab.name
        );
    }
    let started = Instant::now();
    let dir = args
        .lab
        .bring_up(&lab, &text, args.foreground, !args.quiet)?;
    super::scale::remember(&dir, &args.lab);
    if args.foreground || args.quiet {
        return Ok(());
    }
    let info = super::inspect::fetch(&dir)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&info).map_err(|e| miette::miette!("{e}"))?
        );
        return Ok(());
    }
    super::inspect::print_table(&info);
    println!(
        "lab {} is up: {} nodes, {} links, {} networks in {:.2} s; evidence in {}",
        lab.name,
        lab.nodes.len(),
        lab.links.len(),
        lab.networks.len(),
        started.elapsed().as_secs_f64(),
        info.results
    );
    Ok(())
}

impl LabArgs {
    /// The compose options given.
    pub fn compose_options(&self) -> crate::compose::Options {
        crate::compose::Options {
            network_files: crate::compose::split_paths(&self.network_files),
            compose_files: crate::compose::split_paths(&self.compose_files),
            env_files: self.env_files.clone(),
            create_volumes: true,
            scale: self.scale.iter().cloned().collect(),
        }
    }

    /// Reads and validates the lab (a compose file with its network files
    /// converted first) under `--name` if given; returns it with the text
    /// the supervisor is to read.
    pub fn load(&self) -> Result<(Lab, String), Failure> {
        let file = LabFile::read_with(&self.file, &self.compose_options())?;
        let text = file.text.clone();
        let mut lab = file.into_lab()?;
        if let Some(name) = &self.name {
            lab.rename(name)
                .map_err(|e| Failure::Error(miette::miette!("--name: {e}")))?;
        }
        Ok((lab, text))
    }

    /// Resolves the images of the lab's container and system nodes,
    /// pulling what the store lacks (with progress bars when `progress`),
    /// then starts its supervisor with them and waits until the lab is
    /// ready, showing its phases on a terminal when `progress` (see
    /// [`crate::progress`]). Returns the lab's state folder.
    pub fn bring_up(
        &self,
        lab: &Lab,
        text: &str,
        foreground: bool,
        progress: bool,
    ) -> Result<PathBuf, Failure> {
        // Resolve (and pull) here, where a terminal can show progress; the
        // supervisor runs what was resolved, without looking again.
        let mut images = warren_lab::saved::Images::new();
        for node in &lab.nodes {
            if let Some(c) = &node.container
                && warren_lab::kinds::info(node.kind).takes_image
                && !images.contains_key(&c.image)
            {
                let image = warren_lab::images::resolve(&c.image, progress).map_err(|e| {
                    Failure::Error(
                        Failure::report(e).wrap_err(format!("image of node {}", node.name.value)),
                    )
                })?;
                images.insert(c.image.clone(), image);
            }
            // The node's `containers:` take images too.
            for m in &node.containers {
                let image = &m.container.image;
                if !warren_lab::images::is_path(image) && !images.contains_key(image) {
                    let resolved = warren_lab::images::resolve(image, progress).map_err(|e| {
                        Failure::Error(Failure::report(e).wrap_err(format!(
                            "image of container {}/{}",
                            node.name.value, m.name.value
                        )))
                    })?;
                    images.insert(image.clone(), resolved);
                }
            }
        }
        let program =
            std::env::current_exe().map_err(|e| miette::miette!("finding this executable: {e}"))?;
        let opts = UpOptions {
            replace: self.replace,
            foreground,
            results_root: lifecycle::results_root(self.results.as_deref(), lab),
            images,
        };
        // A foreground supervisor logs to this terminal itself.
        let watch = (!foreground).then(|| {
            let spinners = progress
                && std::io::stderr().is_terminal()
                && std::env::var("CI").map_or(true, |v| v != "true");
            crate::progress::Watch::start(&lab.name, spinners, crate::logging::requested())
        });
        let up = lifecycle::up(lab, text, &self.file, &opts, &program);
        if let Some(w) = watch.flatten() {
            w.finish(up.is_ok());
        }
        up.map_err(|e| {
            Failure::Error(Failure::report(e).wrap_err(format!("bringing lab {} up", lab.name)))
        })
    }
}
