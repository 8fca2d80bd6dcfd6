//! The registry client: HTTP GETs of manifests and blobs over ureq, with
//! anonymous, basic and bearer-token authentication. The [`Fetch`] trait is
//! the seam pulls go through; [`HttpClient`] is the real one.

use crate::auth::{Challenge, CredentialStore, query_escape};
use crate::digest::Digest;
use crate::manifest::ACCEPT;
use crate::mirror::Endpoint;
use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

/// The largest manifest accepted.
const MANIFEST_LIMIT: u64 = 8 << 20;

/// A manifest as served.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// The body.
    pub bytes: Vec<u8>,
    /// The `Content-Type`.
    pub content_type: String,
    /// The `Docker-Content-Digest` header, when sent.
    pub header_digest: Option<String>,
}

/// A blob body being streamed.
pub struct FetchedBlob {
    /// The body.
    pub reader: Box<dyn Read + Send>,
    /// `Content-Length`, when sent.
    pub length: Option<u64>,
}

/// Fetching from a registry failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The request could not be made or the connection failed.
    #[error("GET {url}")]
    Http {
        /// The URL.
        url: String,
        /// The cause.
        #[source]
        source: Box<ureq::Error>,
    },
    /// The registry has no such manifest or blob.
    #[error("GET {url}: not found (404){}", message_suffix(.message))]
    NotFound {
        /// The URL.
        url: String,
        /// The registry's error message, if any.
        message: String,
    },
    /// The registry refused the credentials, or none were configured.
    #[error("GET {url}: unauthorized (401){}; credentials come from ~/.docker/config.json (`auths`)", if *.had_credentials { " with the configured credentials" } else { " and no credentials are configured for this registry" })]
    Unauthorized {
        /// The URL.
        url: String,
        /// Whether credentials were sent.
        had_credentials: bool,
    },
    /// Another unexpected status.
    #[error("GET {url}: HTTP {status}{}", message_suffix(.message))]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// The registry's error message, if any.
        message: String,
    },
    /// The challenge in `WWW-Authenticate` could not be used.
    #[error("GET {url}: unusable authentication challenge {header:?}")]
    Challenge {
        /// The URL.
        url: String,
        /// The header value.
        header: String,
    },
    /// The token service did not give a token.
    #[error("getting a bearer token from {realm}: HTTP {status}{}", message_suffix(.message))]
    Token {
        /// The token URL.
        realm: String,
        /// The status code.
        status: u16,
        /// The body, if any.
        message: String,
    },
    /// Reading a response body failed.
    #[error("reading the body of {url}")]
    Body {
        /// The URL.
        url: String,
        /// The cause.
        #[source]
        source: Box<ureq::Error>,
    },
}

fn message_suffix(m: &str) -> String {
    if m.is_empty() {
        String::new()
    } else {
        format!(": {m}")
    }
}

/// What pulls need from a registry. Implemented by [`HttpClient`]; tests may
/// pass their own.
pub trait Fetch: Send + Sync {
    /// GETs `/v2/{repo}/manifests/{key}` (a tag or digest).
    fn manifest(
        &self,
        ep: &Endpoint,
        repo: &str,
        key: &str,
    ) -> Result<FetchedManifest, RegistryError>;
    /// GETs `/v2/{repo}/blobs/{digest}` as a stream.
    fn blob(
        &self,
        ep: &Endpoint,
        repo: &str,
        digest: &Digest,
    ) -> Result<FetchedBlob, RegistryError>;
}

/// The HTTP registry client.
pub struct HttpClient {
    agent: ureq::Agent,
    creds: CredentialStore,
    /// `Authorization` values by endpoint and repository.
    auth: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client using `creds` for registries that ask.
    pub fn new(creds: CredentialStore) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_recv_body(Some(Duration::from_secs(3600)))
            .user_agent(concat!("warren/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        HttpClient {
            agent,
            creds,
            auth: Mutex::new(HashMap::new()),
        }
    }

    fn raw_get(
        &self,
        url: &str,
        accept: Option<&str>,
        auth: Option<&str>,
    ) -> Result<ureq::http::Response<ureq::Body>, RegistryError> {
        let mut req = self.agent.get(url);
        if let Some(a) = accept {
            req = req.header("Accept", a);
        }
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        // The Authorization value is a secret: only its scheme is logged.
        let scheme = auth.and_then(|a| a.split(' ').next()).unwrap_or("none");
        let started = std::time::Instant::now();
        let resp = req.call().map_err(|e| RegistryError::Http {
            url: url.to_owned(),
            source: Box::new(e),
        });
        match &resp {
            Ok(r) => tracing::debug!(
                url,
                auth = scheme,
                status = r.status().as_u16(),
                ms = started.elapsed().as_millis(),
                "registry GET"
            ),
            Err(e) => tracing::debug!(url, auth = scheme, error = %e, "registry GET failed"),
        }
        resp
    }

    /// GET with authentication: on a 401 answer the challenge and retry once.
    fn get(
        &self,
        ep: &Endpoint,
        repo: &str,
        url: &str,
        accept: Option<&str>,
    ) -> Result<ureq::http::Response<ureq::Body>, RegistryError> {
        let key = format!("{} {repo}", ep.base);
        let cached = self
            .auth
            .lock()
            .map(|m| m.get(&key).cloned())
            .unwrap_or(None);
        let resp = self.raw_get(url, accept, cached.as_deref())?;
        if resp.status() != 401 {
            return Ok(resp);
        }
        let creds = self.creds.lookup(&ep.host);
        let header = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let challenge = Challenge::parse(&header).ok_or_else(|| RegistryError::Unauthorized {
            url: url.to_owned(),
            had_credentials: creds.is_some(),
        })?;
        tracing::debug!(
            url,
            scheme = %challenge.scheme,
            credentials = creds.is_some(),
            "registry asks for authentication"
        );
        let value = match challenge.scheme.as_str() {
            "bearer" => self.token(url, repo, &challenge, creds)?,
            "basic" => match creds {
                Some(c) => c.basic_header(),
                None => {
                    return Err(RegistryError::Unauthorized {
                        url: url.to_owned(),
                        had_credentials: false,
                    });
                }
            },
            _ => {
                return Err(RegistryError::Challenge {
                    url: url.to_owned(),
                    header,
                });
            }
        };
        let resp = self.raw_get(url, accept, Some(&value))?;
        if resp.status() == 401 {
            return Err(RegistryError::Unauthorized {
                url: url.to_owned(),
                had_credentials: creds.is_some(),
            });
        }
        if let Ok(mut m) = self.auth.lock() {
            m.insert(key, value);
        }
        Ok(resp)
    }

    fn token(
        &self,
        url: &str,
        repo: &str,
        challenge: &Challenge,
        creds: Option<&crate::auth::Credentials>,
    ) -> Result<String, RegistryError> {
        let Some(realm) = challenge.params.get("realm") else {
            return Err(RegistryError::Challenge {
                url: url.to_owned(),
                header: format!("{challenge:?}"),
            });
        };
        let scope = challenge
            .params
            .get("scope")
            .cloned()
            .unwrap_or_else(|| format!("repository:{repo}:pull"));
        let mut token_url = format!(
            "{realm}{}scope={}",
            if realm.contains('?') { '&' } else { '?' },
            query_escape(&scope)
        );
        if let Some(s) = challenge.params.get("service") {
            token_url.push_str(&format!("&service={}", query_escape(s)));
        }
        let basic = creds.map(|c| c.basic_header());
        let mut resp = self.raw_get(&token_url, None, basic.as_deref())?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .map_err(|e| RegistryError::Body {
                url: token_url.clone(),
                source: Box::new(e),
            })?;
        if status != 200 {
            return Err(RegistryError::Token {
                realm: realm.clone(),
                status,
                message: body.chars().take(300).collect(),
            });
        }
        #[derive(serde::Deserialize)]
        struct Tok {
            token: Option<String>,
            access_token: Option<String>,
        }
        let tok: Option<Tok> = serde_json::from_str(&body).ok();
        match tok.and_then(|t| t.token.or(t.access_token)) {
            Some(t) if !t.is_empty() => Ok(format!("Bearer {t}")),
            _ => Err(RegistryError::Token {
                realm: realm.clone(),
                status,
                message: "the answer has no token".to_owned(),
            }),
        }
    }

    fn check(url: &str, resp: &mut ureq::http::Response<ureq::Body>) -> Result<(), RegistryError> {
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 << 10)
            .read_to_string()
            .unwrap_or_default();
        let message = registry_message(&body);
        Err(match status {
            404 => RegistryError::NotFound {
                url: url.to_owned(),
                message,
            },
            _ => RegistryError::Status {
                url: url.to_owned(),
                status,
                message,
            },
        })
    }
}

/// The first message of a registry's `{"errors":[…]}` body, or the body.
fn registry_message(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Errs {
        errors: Vec<E>,
    }
    #[derive(serde::Deserialize)]
    struct E {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_str::<Errs>(body) {
        Ok(e) if !e.errors.is_empty() => e
            .errors
            .iter()
            .map(|e| format!("{} {}", e.code, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        _ => body.trim().chars().take(200).collect(),
    }
}

impl Fetch for HttpClient {
    fn manifest(
        &self,
        ep: &Endpoint,
        repo: &str,
        key: &str,
    ) -> Result<FetchedManifest, RegistryError> {
        let url = format!("{}/v2/{repo}/manifests/{key}", ep.base);
        let mut resp = self.get(ep, repo, &url, Some(ACCEPT))?;
        Self::check(&url, &mut resp)?;
        let header = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type").unwrap_or_default();
        let header_digest = header("docker-content-digest");
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MANIFEST_LIMIT)
            .read_to_vec()
            .map_err(|e| RegistryError::Body {
                url: url.clone(),
                source: Box::new(e),
            })?;
        Ok(FetchedManifest {
            bytes,
            content_type,
            header_digest,
        })
    }

    fn blob(
        &self,
        ep: &Endpoint,
        repo: &str,
        digest: &Digest,
    ) -> Result<FetchedBlob, RegistryError> {
        let url = format!("{}/v2/{repo}/blobs/{digest}", ep.base);
        let mut resp = self.get(ep, repo, &url, None)?;
        Self::check(&url, &mut resp)?;
        let length = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        Ok(FetchedBlob {
            reader: Box::new(resp.into_body().into_reader()),
            length,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_messages() {
        assert_eq!(
            registry_message(
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"nope"}}]}"#
            ),
            "MANIFEST_UNKNOWN manifest unknown"
        );
        assert_eq!(registry_message("plain"), "plain");
    }
}
