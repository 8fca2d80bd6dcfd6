//! `warren image`: pull, load, list, remove and prune images in the local store.

use crate::Failure;
use clap::{Args, Subcommand};
use warren_image::{Image, ProgressMode, Puller, Reference, Store, load};

/// `warren image`.
#[derive(Debug, Args)]
pub struct ImageArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ImageCommand,
}

/// `warren image` subcommands.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Pull images from their registries (or configured mirrors) into the store.
    Pull {
        /// Image references: `alpine`, `debian:bookworm`, `host:5000/app@sha256:…`.
        #[arg(required = true, value_name = "REF")]
        references: Vec<String>,
        /// Print what was pulled as JSON (no progress bars).
        #[arg(long)]
        json: bool,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Load an image built locally into the store: a `docker save` tarball
    /// or an OCI archive (`buildah push IMG oci-archive:FILE`), plain or
    /// gzipped, from a file or stdin. Prints `Loaded image: NAME`.
    Load {
        /// The archive (`-` or none: stdin).
        #[arg(value_name = "FILE", conflicts_with = "input")]
        file: Option<std::path::PathBuf>,
        /// The archive, as docker's `load -i` names it.
        #[arg(short = 'i', long = "input", value_name = "FILE")]
        input: Option<std::path::PathBuf>,
        /// Record the image under this reference instead of the archive's
        /// own name (a docker archive's RepoTags, an OCI ref name, else
        /// `localhost/<file name>`).
        #[arg(short = 't', long = "tag", value_name = "REF")]
        tag: Option<String>,
        /// Of an OCI archive holding several images, the one whose
        /// `org.opencontainers.image.ref.name` is this.
        #[arg(long, value_name = "NAME")]
        ref_name: Option<String>,
        /// Print the loaded image as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List images in the store.
    #[command(alias = "list")]
    Ls {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove images from the store (their blobs go at the next prune).
    #[command(alias = "remove")]
    Rm {
        /// Image references.
        #[arg(required = true, value_name = "REF")]
        references: Vec<String>,
        /// Print what was removed as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write an image's root filesystem (all layers applied) into a directory,
    /// pulling the image first if it is missing.
    Unpack {
        /// Image reference.
        #[arg(value_name = "REF")]
        reference: String,
        /// The directory (created if missing; should be empty).
        #[arg(value_name = "DIR")]
        dest: std::path::PathBuf,
    },
    /// Delete blobs and unpacked layers no image uses, and leftovers of interrupted pulls.
    Prune {
        /// Print what was removed as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn parse(s: &str) -> Result<Reference, Failure> {
    s.parse::<Reference>().map_err(Failure::error)
}

fn json(v: &serde_json::Value) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(v).map_err(Failure::error)?;
    println!("{text}");
    Ok(())
}

fn image_json(i: &Image) -> serde_json::Value {
    serde_json::json!({
        "reference": i.reference.to_string(),
        "name": i.reference.familiar(),
        "id": i.id().to_string(),
        "manifest": i.manifest_digest.to_string(),
        "index": i.index_digest.as_ref().map(ToString::to_string),
        "size": i.size(),
        "pulled": i.pulled,
        "layers": i.layers,
        "config": i.config,
    })
}

/// Bytes as docker prints them (`1.09MB`).
fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
            + UNITS[u]
    }
}

/// Runs `warren image …`.
pub fn run(args: &ImageArgs) -> Result<(), Failure> {
    let store = Store::open_default().map_err(Failure::error)?;
    match &args.command {
        ImageCommand::Pull {
            references,
            json: as_json,
            quiet,
        } => {
            let refs = references
                .iter()
                .map(|r| parse(r))
                .collect::<Result<Vec<_>, _>>()?;
            let mode = if *as_json || *quiet {
                ProgressMode::Hidden
            } else {
                ProgressMode::Auto
            };
            let puller = Puller::from_env().map_err(Failure::error)?.progress(mode);
            let mut out = Vec::new();
            for r in &refs {
                let rep = puller.pull(&store, r).map_err(Failure::error)?;
                if !*as_json && !*quiet {
                    let what = if rep.downloaded.is_empty() {
                        "up to date".to_owned()
                    } else {
                        format!("downloaded {}", human(rep.bytes))
                    };
                    println!(
                        "{}: {} ({what}, from {})",
                        r.familiar(),
                        rep.image.manifest_digest,
                        rep.endpoint
                    );
                }
                let mut v = image_json(&rep.image);
                v["downloaded"] = serde_json::json!(rep.downloaded);
                v["downloaded_bytes"] = serde_json::json!(rep.bytes);
                v["endpoint"] = serde_json::json!(rep.endpoint);
                out.push(v);
            }
            if *as_json {
                json(&serde_json::Value::Array(out))?;
            }
            Ok(())
        }
        ImageCommand::Load {
            file,
            input,
            tag,
            ref_name,
            json: as_json,
        } => {
            let name = tag.as_deref().map(parse).transpose()?;
            let path = file
                .as_ref()
                .or(input.as_ref())
                .filter(|p| p.as_os_str() != "-");
            let image = match path {
                Some(p) => {
                    let f = std::fs::File::open(p)
                        .map_err(|e| miette::miette!("opening {}: {e}", p.display()))?;
                    let input = p.display().to_string();
                    load::load_tar(&store, f, &input, name.as_ref(), ref_name.as_deref())
                }
                None => load::load_tar(
                    &store,
                    std::io::stdin().lock(),
                    "stdin",
                    name.as_ref(),
                    ref_name.as_deref(),
                ),
            }
            .map_err(Failure::error)?;
            if *as_json {
                json(&image_json(&image))
            } else {
                println!("Loaded image: {}", image.reference.familiar());
                Ok(())
            }
        }
        ImageCommand::Ls { json: as_json } => {
            let images = store.images().map_err(Failure::error)?;
            if *as_json {
                return json(&serde_json::Value::Array(
                    images.iter().map(image_json).collect(),
                ));
            }
            let mut rows = vec![["REPOSITORY", "TAG", "IMAGE ID", "SIZE"].map(String::from)];
            for i in &images {
                let name = i.reference.familiar();
                let repo = name.split([':', '@']).next().unwrap_or(&name).to_owned();
                let repo = if i.reference.registry() == "docker.io" {
                    repo
                } else {
                    format!("{}/{}", i.reference.registry(), i.reference.repository())
                };
                rows.push([
                    repo,
                    i.reference.tag().unwrap_or("<none>").to_owned(),
                    i.id().hex()[..12].to_owned(),
                    human(i.size()),
                ]);
            }
            print!("{}", crate::table::render(&rows));
            Ok(())
        }
        ImageCommand::Rm {
            references,
            json: as_json,
        } => {
            let mut removed = Vec::new();
            let mut missing = Vec::new();
            for s in references {
                let r = parse(s)?;
                if store.remove(&r).map_err(Failure::error)? {
                    removed.push(r.to_string());
                } else {
                    missing.push(s.clone());
                }
            }
            if *as_json {
                json(&serde_json::json!({"removed": removed, "missing": missing}))?;
            } else {
                for r in &removed {
                    println!("removed {r}");
                }
            }
            if missing.is_empty() {
                Ok(())
            } else {
                Err(Failure::Error(miette::miette!(
                    "no such image: {}",
                    missing.join(", ")
                )))
            }
        }
        ImageCommand::Unpack { reference, dest } => {
            let r = parse(reference)?;
            let image = Puller::from_env()
                .map_err(Failure::error)?
                .ensure(&store, &r)
                .map_err(Failure::error)?;
            store.flatten(&image, dest).map_err(Failure::error)
        }
        ImageCommand::Prune { json: as_json } => {
            let rep = store.prune().map_err(Failure::error)?;
            if *as_json {
                json(&serde_json::to_value(&rep).map_err(Failure::error)?)
            } else {
                println!(
                    "removed {} blobs ({}), {} unpacked layers, {} temporary files, {} derived layers",
                    rep.blobs,
                    human(rep.bytes),
                    rep.layers,
                    rep.temporary,
                    rep.derived
                );
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn sizes() {
        assert_eq!(human(999), "999B");
        assert_eq!(human(1_088_382), "1.088MB");
        assert_eq!(human(49_116_393), "49.116MB");
        assert_eq!(human(2_000), "2kB");
    }
}
