//! Curated OS images: short names (`debian-bookworm`) for registry
//! references of images that boot with systemd, as postroj's
//! `list-images` has them. A built-in list ships in the binary; a JSON file
//! adds names and overrides built-in ones. Pure except for reading the file.
//!
//! The file is `$WARREN_IMAGES` when set, else `/etc/warren/images.json` as
//! root and `$XDG_CONFIG_HOME/warren/images.json` (`~/.config/…`) otherwise:
//!
//! ```json
//! { "images": {
//!     "debian-bookworm": { "image": "registry.lab:5000/os/debian:12",
//!                          "description": "Debian 12 with systemd" } } }
//! ```

use crate::reference::{Reference, ReferenceError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Errors reading the curated images file, or using a gone name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CuratedError {
    /// The name is of a release whose image is no longer served.
    #[error("curated image `{name}` is gone ({why}); the nearest that exists is `{nearest}`")]
    Gone {
        /// The name.
        name: String,
        /// Why, as its description says.
        why: String,
        /// The nearest curated name that exists.
        nearest: String,
    },
    /// Reading failed.
    #[error("reading curated images from {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Not valid JSON of the documented shape.
    #[error("parsing curated images in {path}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A name is not lower-case letters, digits, dots and dashes.
    #[error("curated image name `{name}` in {path}: use lower-case letters, digits, `.` and `-`")]
    Name {
        /// The file.
        path: PathBuf,
        /// The name.
        name: String,
    },
    /// An entry's image is not a valid reference.
    #[error("curated image `{name}` in {path}")]
    Reference {
        /// The file.
        path: PathBuf,
        /// The name.
        name: String,
        /// The cause.
        #[source]
        source: ReferenceError,
    },
}

/// One entry of the file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    image: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    gone: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    images: BTreeMap<String, Entry>,
}

/// A curated image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CuratedImage {
    /// The short name (`debian-bookworm`).
    pub name: String,
    /// The registry reference it stands for.
    pub image: String,
    /// What it is.
    pub description: String,
    /// `built-in`, or the file that named it.
    pub source: String,
    /// For a release whose image or package sources are no longer served,
    /// the nearest curated name that is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gone: Option<String>,
}

/// A built-in entry: name, reference, description, and for a release whose
/// image or package sources are no longer served, the nearest name that is.
type Builtin = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
);

/// racker's and postroj's names, and images published with systemd as
/// PID 1. Plain distribution images (`debian:bullseye-slim`) lack systemd;
/// `warren run --boot` and `warren probe` install it into them once (see
/// docs/system.md, `provision: true`).
const BUILTIN: &[Builtin] = &[
    (
        "debian-stretch",
        "docker.io/library/debian:stretch-slim",
        "Debian 9 (stretch), end of life: its packages are only on archive.debian.org",
        Some("debian-bullseye"),
    ),
    (
        "debian-buster",
        "docker.io/library/debian:buster-slim",
        "Debian 10 (buster), end of life: its packages are only on archive.debian.org",
        Some("debian-bullseye"),
    ),
    (
        "debian-bullseye",
        "docker.io/library/debian:bullseye-slim",
        "Debian 11 (bullseye), systemd installed on first use",
        None,
    ),
    (
        "debian-bookworm",
        "docker.io/jrei/systemd-debian:12",
        "Debian 12 (bookworm) with systemd",
        None,
    ),
    (
        "debian-trixie",
        "docker.io/library/debian:trixie-slim",
        "Debian 13 (trixie), systemd installed on first use",
        None,
    ),
    (
        "debian-sid",
        "docker.io/library/debian:sid-slim",
        "Debian unstable (sid), systemd installed on first use",
        None,
    ),
    (
        "ubuntu-focal",
        "docker.io/library/ubuntu:20.04",
        "Ubuntu 20.04 LTS (focal), systemd installed on first use",
        None,
    ),
    (
        "ubuntu-jammy",
        "docker.io/jrei/systemd-ubuntu:22.04",
        "Ubuntu 22.04 LTS (jammy) with systemd",
        None,
    ),
    (
        "ubuntu-noble",
        "docker.io/jrei/systemd-ubuntu:24.04",
        "Ubuntu 24.04 LTS (noble) with systemd",
        None,
    ),
    (
        "fedora-35",
        "docker.io/library/fedora:35",
        "Fedora 35, end of life: its mirrors are gone",
        Some("fedora-42"),
    ),
    (
        "fedora-36",
        "docker.io/library/fedora:36",
        "Fedora 36, end of life: its mirrors are gone",
        Some("fedora-42"),
    ),
    (
        "fedora-37",
        "docker.io/library/fedora:37",
        "Fedora 37, end of life: its mirrors are gone",
        Some("fedora-42"),
    ),
    (
        "fedora-42",
        "docker.io/library/fedora:42",
        "Fedora 42, systemd installed on first use",
        None,
    ),
    (
        "fedora",
        "docker.io/library/fedora:latest",
        "Fedora, latest release, systemd installed on first use",
        None,
    ),
    (
        "centos-7",
        "docker.io/library/centos:7",
        "CentOS Linux 7, end of life: its mirrors are gone",
        Some("centos-stream-9"),
    ),
    (
        "centos-8",
        "docker.io/library/centos:8",
        "CentOS Linux 8, end of life: its mirrors are gone",
        Some("centos-stream-9"),
    ),
    (
        "centos-stream-9",
        "quay.io/centos/centos:stream9",
        "CentOS Stream 9, systemd installed on first use",
        None,
    ),
    (
        "centos-stream-10",
        "quay.io/centos/centos:stream10",
        "CentOS Stream 10, systemd installed on first use",
        None,
    ),
    (
        "rhel-8",
        "registry.access.redhat.com/ubi8/ubi",
        "Red Hat Universal Base Image 8, systemd installed on first use",
        None,
    ),
    (
        "rhel-9",
        "registry.access.redhat.com/ubi9-beta/ubi",
        "RHEL 9 beta UBI, replaced by the release",
        Some("ubi-9"),
    ),
    (
        "ubi-9",
        "registry.access.redhat.com/ubi9/ubi-init",
        "Red Hat Universal Base Image 9, init (systemd)",
        None,
    ),
    (
        "rockylinux-8",
        "docker.io/rockylinux/rockylinux:8",
        "Rocky Linux 8, systemd installed on first use",
        None,
    ),
    (
        "rockylinux-9",
        "docker.io/rockylinux/rockylinux:9-ubi-init",
        "Rocky Linux 9, UBI init image (systemd)",
        None,
    ),
    (
        "almalinux-8",
        "docker.io/almalinux/8-init",
        "AlmaLinux 8, init image (systemd)",
        None,
    ),
    (
        "almalinux-9",
        "docker.io/almalinux/9-init",
        "AlmaLinux 9, init image (systemd)",
        None,
    ),
    (
        "oraclelinux-8",
        "docker.io/library/oraclelinux:8",
        "Oracle Linux 8, systemd installed on first use",
        None,
    ),
    (
        "oraclelinux-9",
        "docker.io/library/oraclelinux:9",
        "Oracle Linux 9, systemd installed on first use",
        None,
    ),
    (
        "amazonlinux-2022",
        "docker.io/library/amazonlinux:2022",
        "Amazon Linux 2022 preview, released as 2023",
        Some("amazonlinux-2023"),
    ),
    (
        "amazonlinux-2023",
        "docker.io/library/amazonlinux:2023",
        "Amazon Linux 2023, systemd installed on first use",
        None,
    ),
    (
        "opensuse-leap",
        "docker.io/opensuse/leap:15",
        "openSUSE Leap 15, systemd installed on first use",
        None,
    ),
    (
        "opensuse-tumbleweed",
        "docker.io/opensuse/tumbleweed:latest",
        "openSUSE Tumbleweed, systemd installed on first use",
        None,
    ),
    (
        "sles-15",
        "registry.suse.com/suse/sle15",
        "SUSE Linux Enterprise 15, systemd installed on first use",
        None,
    ),
    (
        "sles-bci",
        "registry.suse.com/bci/bci-base:latest",
        "SUSE BCI base, systemd installed on first use",
        None,
    ),
    (
        "archlinux-20220501",
        "docker.io/library/archlinux:base-20220501.0.54834",
        "Arch Linux snapshot of 2022-05-01, pruned from Docker Hub",
        Some("archlinux"),
    ),
    (
        "archlinux",
        "docker.io/library/archlinux:latest",
        "Arch Linux, systemd included",
        None,
    ),
];

/// The list of curated images: built-in entries, then the file's, which
/// replace built-in entries of the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CuratedImages {
    images: BTreeMap<String, CuratedImage>,
}

impl CuratedImages {
    /// The built-in list alone.
    pub fn builtin() -> Self {
        let images = BUILTIN
            .iter()
            .map(|(name, image, description, gone)| {
                let entry = CuratedImage {
                    name: (*name).to_string(),
                    image: (*image).to_string(),
                    description: (*description).to_string(),
                    source: "built-in".to_string(),
                    gone: gone.map(str::to_string),
                };
                ((*name).to_string(), entry)
            })
            .collect();
        CuratedImages { images }
    }

    /// The file used: `$WARREN_IMAGES`, or `images.json` in warren's
    /// configuration folder.
    pub fn default_path() -> PathBuf {
        crate::mirror::config_file("WARREN_IMAGES", "images.json")
    }

    /// The built-in list with [`Self::default_path`] applied, if it exists.
    pub fn load_default() -> Result<Self, CuratedError> {
        let p = Self::default_path();
        let list = Self::builtin();
        if p.exists() {
            list.with_file(&p)
        } else {
            Ok(list)
        }
    }

    /// This list with the file at `path` applied.
    pub fn with_file(mut self, path: &Path) -> Result<Self, CuratedError> {
        let text = std::fs::read(path).map_err(|source| CuratedError::Read {
            path: path.to_owned(),
            source,
        })?;
        self.apply(&text, path)?;
        Ok(self)
    }

    /// Applies a file's text (`path` names it in errors and as the source).
    fn apply(&mut self, text: &[u8], path: &Path) -> Result<(), CuratedError> {
        let file: File = serde_json::from_slice(text).map_err(|source| CuratedError::Parse {
            path: path.to_owned(),
            source,
        })?;
        for (name, entry) in file.images {
            let good = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
            if !good {
                return Err(CuratedError::Name {
                    path: path.to_owned(),
                    name,
                });
            }
            if let Err(source) = entry.image.parse::<Reference>() {
                return Err(CuratedError::Reference {
                    path: path.to_owned(),
                    name,
                    source,
                });
            }
            let image = CuratedImage {
                name: name.clone(),
                image: entry.image,
                description: entry.description,
                source: path.display().to_string(),
                gone: entry.gone,
            };
            self.images.insert(name, image);
        }
        Ok(())
    }

    /// Every curated image, by name.
    pub fn iter(&self) -> impl Iterator<Item = &CuratedImage> {
        self.images.values()
    }

    /// The image called `name`, if curated.
    pub fn get(&self, name: &str) -> Option<&CuratedImage> {
        self.images.get(name)
    }

    /// The reference `name` stands for: a curated image's, or `name` itself
    /// when it is not curated. A gone release is an error naming the
    /// nearest one that exists.
    pub fn resolve<'a>(&'a self, name: &'a str) -> Result<&'a str, CuratedError> {
        match self.images.get(name) {
            Some(CuratedImage {
                gone: Some(nearest),
                description,
                ..
            }) => Err(CuratedError::Gone {
                name: name.to_owned(),
                why: description.clone(),
                nearest: nearest.clone(),
            }),
            Some(c) => Ok(&c.image),
            None => Ok(name),
        }
    }

    /// The curated images that exist (not gone), by name.
    pub fn available(&self) -> impl Iterator<Item = &CuratedImage> {
        self.iter().filter(|c| c.gone.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_references_parse() {
        let list = CuratedImages::builtin();
        assert!(list.get("debian-bookworm").is_some());
        for i in list.iter() {
            assert!(i.image.parse::<Reference>().is_ok(), "{}", i.image);
        }
    }

    #[test]
    fn racker_and_postroj_names_resolve_or_name_the_nearest() {
        let list = CuratedImages::builtin();
        for name in [
            "debian-bullseye",
            "debian-trixie",
            "ubuntu-focal",
            "fedora",
            "centos-stream-9",
            "rockylinux-8",
            "almalinux-9",
            "archlinux",
            "opensuse-leap",
            "opensuse-tumbleweed",
            "sles-bci",
        ] {
            let r = list.resolve(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(r.parse::<Reference>().is_ok(), "{name}: {r}");
        }
        let e = list.resolve("debian-stretch").expect_err("gone");
        assert!(
            e.to_string()
                .contains("nearest that exists is `debian-bullseye`"),
            "{e}"
        );
        // Every nearest name exists and is not gone itself.
        for c in list.iter() {
            if let Some(n) = &c.gone {
                assert!(list.resolve(n).is_ok(), "{} -> {n}", c.name);
            }
        }
        assert_eq!(list.resolve("alpine:3").unwrap(), "alpine:3");
        assert!(list.available().all(|c| c.gone.is_none()));
        assert!(list.available().count() < list.iter().count());
    }

    #[test]
    fn a_file_adds_and_overrides() {
        let mut list = CuratedImages::builtin();
        let text = br#"{"images": {
            "debian-bookworm": {"image": "127.0.0.1:5115/library/debian:systemd"},
            "lab-os": {"image": "registry.lab:5000/os:1", "description": "ours"}}}"#;
        list.apply(text, Path::new("/etc/warren/images.json"))
            .expect("valid");
        let d = list.get("debian-bookworm").expect("kept");
        assert_eq!(d.image, "127.0.0.1:5115/library/debian:systemd");
        assert_eq!(d.source, "/etc/warren/images.json");
        assert_eq!(list.get("lab-os").expect("added").description, "ours");
        assert_eq!(
            list.get("ubuntu-noble").expect("built-in").source,
            "built-in"
        );
    }

    #[test]
    fn bad_entries_name_the_file_and_the_entry() {
        let p = Path::new("images.json");
        let mut list = CuratedImages::builtin();
        let e = list
            .apply(br#"{"images": {"Debian": {"image": "debian"}}}"#, p)
            .expect_err("upper case");
        assert!(e.to_string().contains("`Debian` in images.json"), "{e}");
        let e = list
            .apply(br#"{"images": {"x": {"image": "UPPER/Case"}}}"#, p)
            .expect_err("bad reference");
        assert!(e.to_string().contains("`x` in images.json"), "{e}");
        let e = list
            .apply(br#"{"images": {"x": {"img": "debian"}}}"#, p)
            .expect_err("unknown key");
        assert!(matches!(e, CuratedError::Parse { .. }), "{e}");
    }
}
