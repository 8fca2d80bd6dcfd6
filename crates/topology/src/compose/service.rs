//! Compose services: the keys warren uses, reduced to a container node.

use super::{Input, interpolate};
use serde_json::{Map, Value, json};

/// Compose service keys warren uses.
const SERVICE_KEYS: &[&str] = &[
    "image",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "scale",
    "deploy",
    "x-network",
    "build",
    "sysctls",
    "container_name",
    "privileged",
    "cap_add",
    "cap_drop",
];

/// A compose service, reduced to what warren uses.
pub(super) struct Service {
    pub(super) name: String,
    /// `container_name:`, which `container:` links may use.
    pub(super) container_name: Option<String>,
    pub(super) replicas: u32,
    pub(super) node: Map<String, Value>,
}

pub(super) fn argv_or_string(v: &Value) -> Option<Value> {
    match v {
        Value::String(_) | Value::Array(_) => Some(v.clone()),
        _ => None,
    }
}

pub(super) fn service(
    name: &str,
    svc: &Value,
    input: &Input,
    notes: &mut Vec<String>,
    errors: &mut Vec<String>,
) -> Option<Service> {
    let Some(map) = svc.as_object() else {
        errors.push(format!("service {name}: expected a mapping"));
        return None;
    };
    for key in map.keys().filter(|k| !SERVICE_KEYS.contains(&k.as_str())) {
        notes.push(format!(
            "service {name}: `{key}` does not apply to warren; ignored"
        ));
    }
    let Some(image) = map.get("image").and_then(Value::as_str) else {
        if map.contains_key("build") {
            errors.push(format!(
                "service {name}: `build:` without `image:`; warren does not build images: build and push it, then name it in `image:`"
            ));
        } else {
            errors.push(format!("service {name}: `image:` is required"));
        }
        return None;
    };
    if map.contains_key("build") {
        notes.push(format!(
            "service {name}: `build:` ignored; using image {image}"
        ));
    }
    let mut node = Map::new();
    node.insert("kind".into(), json!("container"));
    node.insert("image".into(), json!(image));
    if let Some(c) = map.get("command").and_then(argv_or_string) {
        node.insert("cmd".into(), c);
    }
    if let Some(e) = map.get("entrypoint").and_then(argv_or_string) {
        node.insert("entrypoint".into(), e);
    }
    // Values arrive as strings once interpolated.
    match map.get("privileged") {
        None => {}
        Some(v) => match v.as_str().map_or_else(|| v.as_bool(), |s| s.parse().ok()) {
            Some(p) => {
                node.insert("privileged".into(), json!(p));
            }
            None => errors.push(format!(
                "service {name}: privileged `{v}` is not true or false"
            )),
        },
    }
    for (key, to) in [("cap_add", "capabilities"), ("cap_drop", "cap_drop")] {
        if let Some(caps) = map.get(key).filter(|v| v.is_array()) {
            node.insert(to.into(), caps.clone());
        }
    }
    match map.get("sysctls") {
        Some(Value::Object(m)) => {
            node.insert("sysctls".into(), Value::Object(m.clone()));
        }
        Some(Value::Array(a)) => {
            let m: Map<String, Value> = a
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|s| s.split_once('='))
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect();
            node.insert("sysctls".into(), Value::Object(m));
        }
        _ => {}
    }
    let mut env = Map::new();
    for file in env_file_names_of(map) {
        match input.env_files.get(&file) {
            Some(text) => {
                for (k, v) in interpolate::parse_env_file(text) {
                    env.insert(k, Value::String(v));
                }
            }
            None => errors.push(format!("service {name}: env_file {file} was not read")),
        }
    }
    match map.get("environment") {
        Some(Value::Object(m)) => {
            for (k, v) in m {
                env.insert(k.clone(), Value::String(v.as_str().unwrap_or("").into()));
            }
        }
        Some(Value::Array(a)) => {
            for item in a.iter().filter_map(Value::as_str) {
                let (k, v) = item.split_once('=').unwrap_or((item, ""));
                env.insert(k.into(), Value::String(v.into()));
            }
        }
        _ => {}
    }
    if !env.is_empty() {
        node.insert("env".into(), Value::Object(env));
    }
    let count = map
        .get("deploy")
        .and_then(|d| d.get("replicas"))
        .or_else(|| map.get("scale"));
    let replicas = match count.and_then(Value::as_str) {
        None => 1,
        Some(s) => match s.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                errors.push(format!(
                    "service {name}: replicas `{s}` is not a whole number"
                ));
                1
            }
        },
    };
    Some(Service {
        name: name.into(),
        container_name: map
            .get("container_name")
            .and_then(Value::as_str)
            .map(str::to_string),
        replicas,
        node,
    })
}

pub(super) fn env_file_names_of(map: &Map<String, Value>) -> Vec<String> {
    match map.get("env_file") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().or_else(|| v.get("path")?.as_str()))
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}
