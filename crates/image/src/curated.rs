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

/// Errors reading the curated images file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CuratedError {
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
}

/// Images known to boot with systemd as PID 1, by their publishers' tags.
const BUILTIN: &[(&str, &str, &str)] = &[
    (
        "debian-bookworm",
        "docker.io/jrei/systemd-debian:12",
        "Debian 12 (bookworm) with systemd",
    ),
    (
        "ubuntu-jammy",
        "docker.io/jrei/systemd-ubuntu:22.04",
        "Ubuntu 22.04 LTS (jammy) with systemd",
    ),
    (
        "ubuntu-noble",
        "docker.io/jrei/systemd-ubuntu:24.04",
        "Ubuntu 24.04 LTS (noble) with systemd",
    ),
    (
        "almalinux-8",
        "docker.io/almalinux/8-init",
        "AlmaLinux 8, init image (systemd)",
    ),
    (
        "almalinux-9",
        "docker.io/almalinux/9-init",
        "AlmaLinux 9, init image (systemd)",
    ),
    (
        "rockylinux-9",
        "docker.io/rockylinux/rockylinux:9-ubi-init",
        "Rocky Linux 9, UBI init image (systemd)",
    ),
    (
        "ubi-9",
        "registry.access.redhat.com/ubi9/ubi-init",
        "Red Hat Universal Base Image 9, init (systemd)",
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
            .map(|(name, image, description)| {
                let entry = CuratedImage {
                    name: (*name).to_string(),
                    image: (*image).to_string(),
                    description: (*description).to_string(),
                    source: "built-in".to_string(),
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
