//! The conlink service: the part of a conlink compose file that warren
//! replaces. It is recognised, not run, and its command-line options are
//! honoured.
//!
//! A service is the conlink service when its image's name (the last path
//! part, without tag or digest) is `conlink`, or when a word of its
//! `command` or `entrypoint` has a file name starting with `conlink`
//! (`/app/build/conlink.js`, `conlink`, `conlink-start.sh`).

use super::words;
use serde_json::Value;

/// What the conlink service's command line asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conlink {
    /// The service's name.
    pub service: String,
    /// `--network-file` values (split at `:`), as paths in the conlink
    /// container, with the host path each maps to through the service's
    /// bind volumes (relative to the project folder), if one does.
    pub network_files: Vec<(String, Option<String>)>,
    /// `--compose-file` values, mapped the same way.
    pub compose_files: Vec<(String, Option<String>)>,
    /// `--default-mtu`.
    pub default_mtu: Option<String>,
    /// `--default-bridge-mode` (else `CONLINK_BRIDGE_MODE` of its environment).
    pub default_bridge_mode: Option<String>,
    /// Options warren has no use for, for a note.
    pub ignored: Vec<String>,
    /// Problems with the command line.
    pub errors: Vec<String>,
}

fn words_of(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => words::split(s).unwrap_or_default(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// True when `svc` (a service mapping) runs conlink.
pub fn is_conlink(svc: &Value) -> bool {
    let image = svc.get("image").and_then(Value::as_str).unwrap_or("");
    let name = image.split('@').next().unwrap_or("");
    let name = name.rsplit('/').next().unwrap_or("");
    let name = name.split(':').next().unwrap_or("");
    if name == "conlink" {
        return true;
    }
    let mut words = words_of(svc.get("entrypoint"));
    words.extend(words_of(svc.get("command")));
    words.iter().any(|w| {
        w.rsplit('/')
            .next()
            .is_some_and(|f| f.starts_with("conlink"))
    })
}

/// Maps `path` in the conlink container to a host path through the
/// service's bind volumes (`./:/test` maps `/test/net.yaml` to `./net.yaml`).
fn host_path(svc: &Value, path: &str) -> Option<String> {
    let volumes = svc.get("volumes")?.as_array()?;
    volumes
        .iter()
        .filter_map(|v| match v {
            Value::String(s) => {
                let mut parts = s.splitn(3, ':');
                Some((parts.next()?.to_string(), parts.next()?.to_string()))
            }
            Value::Object(m) => Some((
                m.get("source")?.as_str()?.to_string(),
                m.get("target")?.as_str()?.to_string(),
            )),
            _ => None,
        })
        .filter_map(|(src, dst)| {
            let dst = dst.trim_end_matches('/');
            let rest = path.strip_prefix(dst)?;
            (rest.is_empty() || rest.starts_with('/') || dst.is_empty())
                .then(|| (dst.len(), format!("{}{rest}", src.trim_end_matches('/'))))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, p)| p.trim_start_matches("./").to_string())
        .map(|p| if p.is_empty() { ".".into() } else { p })
}

/// Reads the conlink service `name` (`svc`).
pub fn options(name: &str, svc: &Value) -> Conlink {
    let mut out = Conlink {
        service: name.to_string(),
        ..Conlink::default()
    };
    let mut words = words_of(svc.get("entrypoint"));
    words.extend(words_of(svc.get("command")));
    let mut it = words.into_iter().skip_while(|w| {
        !w.rsplit('/')
            .next()
            .is_some_and(|f| f.starts_with("conlink"))
    });
    it.next();
    let mut it = it.peekable();
    while let Some(w) = it.next() {
        let (flag, inline) = match w.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (w.clone(), None),
        };
        let takes_value = matches!(
            flag.as_str(),
            "--network-file"
                | "--compose-file"
                | "--default-mtu"
                | "--default-bridge-mode"
                | "--compose-project"
                | "--config-schema"
                | "--docker-socket"
                | "--podman-socket"
        );
        let value = if takes_value {
            match inline.or_else(|| it.next()) {
                Some(v) => Some(v),
                None => {
                    out.errors
                        .push(format!("conlink option {flag} needs a value"));
                    continue;
                }
            }
        } else {
            None
        };
        let v = value.unwrap_or_default();
        match flag.as_str() {
            "--network-file" | "--compose-file" => {
                let list = if flag == "--network-file" {
                    &mut out.network_files
                } else {
                    &mut out.compose_files
                };
                for p in v.split(':').filter(|p| !p.is_empty()) {
                    list.push((p.to_string(), host_path(svc, p)));
                }
            }
            "--default-mtu" => match v.parse::<u32>() {
                Ok(_) => out.default_mtu = Some(v),
                Err(_) => out.errors.push(format!(
                    "conlink option --default-mtu `{v}` is not a number"
                )),
            },
            "--default-bridge-mode" => out.default_bridge_mode = Some(v),
            _ => out.ignored.push(flag),
        }
    }
    if out.default_bridge_mode.is_none() {
        out.default_bridge_mode = environment_value(svc, "CONLINK_BRIDGE_MODE");
    }
    out
}

fn environment_value(svc: &Value, key: &str) -> Option<String> {
    match svc.get("environment")? {
        Value::Object(m) => m.get(key)?.as_str().map(str::to_string),
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .find_map(|s| s.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_string),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recognised_by_image_or_command() {
        assert!(is_conlink(&json!({"image": "conlink"})));
        assert!(is_conlink(
            &json!({"image": "ghcr.io/viasat/conlink:2.5@sha256:ab"})
        ));
        assert!(is_conlink(
            &json!({"build": ".", "command": "/app/build/conlink.js --compose-file /t/c.yaml"})
        ));
        assert!(is_conlink(
            &json!({"image": "x", "entrypoint": ["conlink-start.sh"]})
        ));
        assert!(!is_conlink(
            &json!({"image": "alpine", "command": "sleep 1"})
        ));
        assert!(!is_conlink(&json!({"image": "myconlink"})));
    }

    #[test]
    fn options_are_read_and_paths_mapped_through_volumes() {
        let svc = json!({
            "image": "conlink",
            "volumes": ["/var/run/docker.sock:/var/run/docker.sock", "./:/test", "../net:/n:ro"],
            "command": "/app/build/conlink.js --default-mtu 5111 --compose-file /test/c.yaml --network-file /test/a.yaml:/n/b.yaml --network-file=/elsewhere/c.yaml -v --default-bridge-mode linux"
        });
        let c = options("network", &svc);
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        assert_eq!(c.default_mtu.as_deref(), Some("5111"));
        assert_eq!(c.default_bridge_mode.as_deref(), Some("linux"));
        assert_eq!(
            c.compose_files,
            [("/test/c.yaml".to_string(), Some("c.yaml".to_string()))]
        );
        assert_eq!(
            c.network_files,
            [
                ("/test/a.yaml".to_string(), Some("a.yaml".to_string())),
                ("/n/b.yaml".to_string(), Some("../net/b.yaml".to_string())),
                ("/elsewhere/c.yaml".to_string(), None),
            ]
        );
        assert_eq!(c.ignored, ["-v"]);
        let env = json!({"image": "conlink", "environment": ["CONLINK_BRIDGE_MODE=patch"], "command": "conlink --default-mtu"});
        let c = options("n", &env);
        assert_eq!(c.default_bridge_mode.as_deref(), Some("patch"));
        assert_eq!(c.errors.len(), 1, "{:?}", c.errors);
    }
}
