//! Registry credentials and authentication challenges: reads
//! `~/.docker/config.json` (or `$DOCKER_CONFIG/config.json`), parses
//! `WWW-Authenticate`, and builds `Authorization` values. Credential helpers
//! (`credsStore`, `credHelpers`) are not run.

use base64::Engine as _;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// A user name and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or personal access token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// The `Authorization: Basic …` value.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// Credentials by registry host, as docker stores them.
#[derive(Debug, Clone, Default)]
pub struct CredentialStore {
    by_host: HashMap<String, Credentials>,
}

/// The docker config file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Reading the file failed.
    #[error("reading registry credentials from {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid JSON of docker's shape.
    #[error("parsing registry credentials in {path}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

#[derive(serde::Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, DockerAuth>,
}

#[derive(serde::Deserialize)]
struct DockerAuth {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// The host a docker `auths` key names: scheme and path dropped, docker
/// hub's aliases mapped to `docker.io`.
pub fn normalize_host(key: &str) -> String {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = k.split('/').next().unwrap_or(k);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_owned()
        }
        h => h.to_owned(),
    }
}

impl CredentialStore {
    /// No credentials.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Where docker keeps them: `$DOCKER_CONFIG/config.json`, else
    /// `~/.docker/config.json`.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
            return Some(PathBuf::from(d).join("config.json"));
        }
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
    }

    /// Loads [`Self::default_path`]; a missing file means no credentials.
    pub fn load_default() -> Result<Self, AuthError> {
        match Self::default_path() {
            Some(p) if p.exists() => Self::load(&p),
            _ => Ok(Self::empty()),
        }
    }

    /// Loads a docker `config.json`.
    pub fn load(path: &Path) -> Result<Self, AuthError> {
        let text = std::fs::read(path).map_err(|source| AuthError::Read {
            path: path.to_owned(),
            source,
        })?;
        let cfg: DockerConfig =
            serde_json::from_slice(&text).map_err(|source| AuthError::Parse {
                path: path.to_owned(),
                source,
            })?;
        let mut by_host = HashMap::new();
        for (key, a) in cfg.auths {
            let decoded = a.auth.as_deref().and_then(|s| {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(s.trim())
                    .ok()?;
                let text = String::from_utf8(bytes).ok()?;
                let (u, p) = text.split_once(':')?;
                Some(Credentials {
                    username: u.to_owned(),
                    password: p.to_owned(),
                })
            });
            let creds = decoded.or_else(|| match (a.username, a.password) {
                (Some(username), Some(password)) => Some(Credentials { username, password }),
                _ => a.identitytoken.map(|t| Credentials {
                    username: "<token>".to_owned(),
                    password: t,
                }),
            });
            if let Some(c) = creds {
                by_host.insert(normalize_host(&key), c);
            }
        }
        Ok(CredentialStore { by_host })
    }

    /// Adds credentials for `host`.
    pub fn insert(&mut self, host: &str, creds: Credentials) {
        self.by_host.insert(normalize_host(host), creds);
    }

    /// Credentials for a registry host (`docker.io`, `127.0.0.1:5000`).
    pub fn lookup(&self, host: &str) -> Option<&Credentials> {
        self.by_host.get(&normalize_host(host))
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `bearer` or `basic`, lower case.
    pub scheme: String,
    /// Parameters such as `realm`, `service`, `scope`.
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    /// Parses `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = match header.split_once(char::is_whitespace) {
            Some((s, r)) => (s, r),
            None => (header, ""),
        };
        if scheme.is_empty() {
            return None;
        }
        let mut params = BTreeMap::new();
        let mut chars = rest.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
                chars.next();
            }
            let mut key = String::new();
            while let Some(&c) = chars.peek() {
                if c == '=' {
                    break;
                }
                key.push(c);
                chars.next();
            }
            if key.is_empty() || chars.next() != Some('=') {
                break;
            }
            let mut value = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                value.push(n);
                            }
                        }
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
            params.insert(key.trim().to_ascii_lowercase(), value);
        }
        Some(Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params,
        })
    }
}

/// Percent-encodes a query value.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenge() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.docker.io/token");
        assert_eq!(c.params["scope"], "repository:library/alpine:pull,push");
        let b = Challenge::parse(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!(b.scheme, "basic");
    }

    #[test]
    fn reads_docker_config() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        std::fs::write(
            &p,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpwOng="},"127.0.0.1:5000":{"username":"a","password":"b"}}}"#,
        )
        .unwrap();
        let s = CredentialStore::load(&p).unwrap();
        let hub = s.lookup("docker.io").unwrap();
        assert_eq!((hub.username.as_str(), hub.password.as_str()), ("u", "p:x"));
        assert_eq!(s.lookup("http://127.0.0.1:5000").unwrap().username, "a");
        assert!(s.lookup("ghcr.io").is_none());
        assert_eq!(hub.basic_header(), "Basic dTpwOng=");
    }

    #[test]
    fn escapes() {
        assert_eq!(
            query_escape("repository:a/b:pull"),
            "repository%3Aa%2Fb%3Apull"
        );
    }
}
