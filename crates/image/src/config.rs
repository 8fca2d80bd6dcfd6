//! The image configuration blob as typed values: what a runtime needs to
//! start the image (entrypoint, cmd, env, working directory, user, ports)
//! and the layers' diff ids. Pure.

use crate::digest::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The image configuration (`application/vnd.oci.image.config.v1+json`,
/// same shape as Docker's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// CPU architecture, e.g. `amd64`.
    #[serde(default)]
    pub architecture: String,
    /// Operating system, e.g. `linux`.
    #[serde(default)]
    pub os: String,
    /// Architecture variant, e.g. `v8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// When the image was built (RFC 3339), as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// How to run a container of this image.
    #[serde(default)]
    pub config: RunConfig,
    /// The uncompressed layers' digests, lowest first.
    #[serde(default)]
    pub rootfs: RootFs,
}

/// `rootfs` of the image configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Digest of each uncompressed layer tar, lowest first.
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

/// How to run a container of the image (`config` of the image configuration).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// `user`, `uid`, `user:group` or `uid:gid`; empty means root.
    #[serde(rename = "User", default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Ports the image declares, as `80/tcp`.
    #[serde(
        rename = "ExposedPorts",
        default,
        skip_serializing_if = "Option::is_none",
        with = "ports"
    )]
    pub exposed_ports: Option<Vec<String>>,
    /// `NAME=value` entries.
    #[serde(rename = "Env", default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// The program and its first arguments.
    #[serde(
        rename = "Entrypoint",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub entrypoint: Option<Vec<String>>,
    /// Default arguments (or the program, without an entrypoint).
    #[serde(rename = "Cmd", default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// The working directory; empty means `/`.
    #[serde(
        rename = "WorkingDir",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub working_dir: Option<String>,
    /// Labels.
    #[serde(rename = "Labels", default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// The signal that stops the container, e.g. `SIGTERM`.
    #[serde(
        rename = "StopSignal",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub stop_signal: Option<String>,
    /// Volumes the image declares.
    #[serde(
        rename = "Volumes",
        default,
        skip_serializing_if = "Option::is_none",
        with = "ports"
    )]
    pub volumes: Option<Vec<String>>,
}

impl RunConfig {
    /// The command line a container runs when the user gives none (`extra`
    /// empty) or gives `extra`: entrypoint followed by cmd or by `extra`.
    pub fn argv(&self, extra: &[String]) -> Vec<String> {
        let mut v = self.entrypoint.clone().unwrap_or_default();
        if extra.is_empty() {
            v.extend(self.cmd.clone().unwrap_or_default());
        } else {
            v.extend(extra.iter().cloned());
        }
        v
    }

    /// Environment entries split into `(name, value)`.
    pub fn env_pairs(&self) -> Vec<(String, String)> {
        self.env
            .iter()
            .flatten()
            .map(|e| match e.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (e.clone(), String::new()),
            })
            .collect()
    }

    /// The working directory, `/` when unset.
    pub fn working_dir_or_root(&self) -> &str {
        match self.working_dir.as_deref() {
            Some(w) if !w.is_empty() => w,
            _ => "/",
        }
    }
}

/// `{"80/tcp": {}}` maps as a list of keys.
mod ports {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(v: &Option<Vec<String>>, s: S) -> Result<S::Ok, S::Error> {
        let map: BTreeMap<&str, BTreeMap<(), ()>> = v
            .iter()
            .flatten()
            .map(|k| (k.as_str(), BTreeMap::new()))
            .collect();
        s.collect_map(map)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
        let m: Option<BTreeMap<String, serde_json::Value>> = Option::deserialize(d)?;
        Ok(m.map(|m| m.into_keys().collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_style_config() {
        let j = r#"{"architecture":"amd64","os":"linux","config":{"User":"nobody","ExposedPorts":{"80/tcp":{},"53/udp":{}},"Env":["PATH=/bin","A=b=c"],"Entrypoint":["/init"],"Cmd":["sh"],"WorkingDir":"/srv"},"rootfs":{"type":"layers","diff_ids":["sha256:b0503eb1f0f2b2f6c3c0b6b7f0b6d1f4f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0"]}}"#;
        let c: ImageConfig = serde_json::from_str(j).unwrap();
        assert_eq!(c.config.user.as_deref(), Some("nobody"));
        assert_eq!(
            c.config.exposed_ports,
            Some(vec!["53/udp".to_owned(), "80/tcp".to_owned()])
        );
        assert_eq!(c.config.argv(&[]), ["/init", "sh"]);
        assert_eq!(c.config.argv(&["x".to_owned()]), ["/init", "x"]);
        assert_eq!(c.config.env_pairs()[1], ("A".to_owned(), "b=c".to_owned()));
        assert_eq!(c.config.working_dir_or_root(), "/srv");
        assert_eq!(c.rootfs.diff_ids.len(), 1);
        let back = serde_json::to_string(&c).unwrap();
        let again: ImageConfig = serde_json::from_str(&back).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn empty_config() {
        let c: ImageConfig = serde_json::from_str("{}").unwrap();
        assert!(c.config.argv(&[]).is_empty());
        assert_eq!(c.config.working_dir_or_root(), "/");
    }
}
