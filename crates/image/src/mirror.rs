//! Registry settings: mirrors per registry and registries reached over plain
//! HTTP, from a JSON file, and the endpoints a pull tries in order. Pure
//! except for reading the file.
//!
//! The file is `$WARREN_REGISTRIES` when set, else
//! `/etc/warren/registries.json` as root and
//! `$XDG_CONFIG_HOME/warren/registries.json` (`~/.config/…`) otherwise:
//!
//! ```json
//! { "mirrors": { "docker.io": ["http://127.0.0.1:5000"] },
//!   "insecure": ["registry.lab:5000"] }
//! ```

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Settings for reaching registries.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RegistriesConfig {
    /// Mirrors to try, in order, before the registry itself. Keys are
    /// registries as written in references (`docker.io`); values are base
    /// URLs (`http://127.0.0.1:5000`, `https://mirror.example`).
    #[serde(default)]
    pub mirrors: BTreeMap<String, Vec<String>>,
    /// Registries (`host[:port]`) reached over plain HTTP. Loopback
    /// registries (`localhost`, 127.0.0.0/8, ::1) always are.
    #[serde(default)]
    pub insecure: Vec<String>,
}

/// The registries file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MirrorError {
    /// Reading failed.
    #[error("reading registry settings from {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Not valid JSON of the documented shape.
    #[error("parsing registry settings in {path}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

/// One place to pull from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `http://host:port` or `https://host`, no trailing slash; requests go
    /// to `{base}/v2/…`.
    pub base: String,
    /// The host whose credentials apply.
    pub host: String,
    /// Whether this is a mirror rather than the registry itself.
    pub mirror: bool,
}

/// A configuration file of warren: the path in `$env` when set, else
/// `name` in `/etc/warren` as root and in `$XDG_CONFIG_HOME/warren`
/// (`~/.config/warren`) otherwise.
pub(crate) fn config_file(env: &str, name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return PathBuf::from(p);
    }
    if rustix::process::geteuid().is_root() {
        return Path::new("/etc/warren").join(name);
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("warren").join(name)
}

/// Whether `host[:port]` is a loopback address or `localhost`.
pub fn is_loopback(host_port: &str) -> bool {
    let host = if let Some(rest) = host_port.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host_port.rsplit_once(':').map_or(host_port, |(h, _)| h)
    };
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl RegistriesConfig {
    /// The registries file: `$WARREN_REGISTRIES`, or `registries.json` in
    /// warren's configuration folder.
    pub fn default_path() -> PathBuf {
        config_file("WARREN_REGISTRIES", "registries.json")
    }

    /// Loads [`Self::default_path`]; a missing file means no settings.
    pub fn load_default() -> Result<Self, MirrorError> {
        let p = Self::default_path();
        if p.exists() {
            Self::load(&p)
        } else {
            Ok(Self::default())
        }
    }

    /// Loads a registries file.
    pub fn load(path: &Path) -> Result<Self, MirrorError> {
        let text = std::fs::read(path).map_err(|source| MirrorError::Read {
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_slice(&text).map_err(|source| MirrorError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// Whether `registry` is reached over plain HTTP.
    pub fn plain_http(&self, registry: &str) -> bool {
        is_loopback(registry) || self.insecure.iter().any(|r| r == registry)
    }

    /// The endpoints to try for `registry`, mirrors first.
    pub fn endpoints(&self, registry: &str) -> Vec<Endpoint> {
        let mut out: Vec<Endpoint> = self
            .mirrors
            .get(registry)
            .into_iter()
            .flatten()
            .map(|m| {
                let m = m.trim_end_matches('/');
                let (base, host) = if let Some(h) = m.strip_prefix("http://") {
                    (m.to_owned(), h.to_owned())
                } else if let Some(h) = m.strip_prefix("https://") {
                    (m.to_owned(), h.to_owned())
                } else {
                    let scheme = if self.plain_http(m) { "http" } else { "https" };
                    (format!("{scheme}://{m}"), m.to_owned())
                };
                Endpoint {
                    base,
                    host,
                    mirror: true,
                }
            })
            .collect();
        let host = if registry == crate::reference::DEFAULT_REGISTRY {
            "registry-1.docker.io"
        } else {
            registry
        };
        let scheme = if self.plain_http(registry) {
            "http"
        } else {
            "https"
        };
        out.push(Endpoint {
            base: format!("{scheme}://{host}"),
            host: registry.to_owned(),
            mirror: false,
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_mirrors_first() {
        let c: RegistriesConfig = serde_json::from_str(
            r#"{"mirrors":{"docker.io":["http://127.0.0.1:5000/","mirror.lan"]},"insecure":["reg.lan:5000"]}"#,
        )
        .unwrap();
        let e = c.endpoints("docker.io");
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].base, "http://127.0.0.1:5000");
        assert_eq!(e[0].host, "127.0.0.1:5000");
        assert!(e[0].mirror);
        assert_eq!(e[1].base, "https://mirror.lan");
        assert_eq!(e[2].base, "https://registry-1.docker.io");
        assert_eq!(e[2].host, "docker.io");
        assert_eq!(c.endpoints("reg.lan:5000")[0].base, "http://reg.lan:5000");
        assert_eq!(
            c.endpoints("localhost:5000")[0].base,
            "http://localhost:5000"
        );
        assert_eq!(c.endpoints("[::1]:5000")[0].base, "http://[::1]:5000");
        assert_eq!(c.endpoints("ghcr.io")[0].base, "https://ghcr.io");
    }

    #[test]
    fn loopback() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("127.9.9.9"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("10.0.0.1:5000"));
        assert!(!is_loopback("example.com"));
    }
}
