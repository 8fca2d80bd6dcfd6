//! The JSON Schema lists, for each mapping, exactly the keys the decoder accepts.

use serde_json::Value;
use std::collections::BTreeSet;
use warren_topology::{raw, steps};

fn schema() -> Value {
    serde_json::from_str(warren_topology::schema::SCHEMA).expect("the schema is JSON")
}

/// The property names of the object at `pointer`; when it is a `oneOf`, of its object branch.
fn keys(schema: &Value, pointer: &str) -> BTreeSet<String> {
    let v = schema
        .pointer(pointer)
        .unwrap_or_else(|| panic!("{pointer} in schema"));
    let obj = match v.get("oneOf") {
        Some(branches) => branches
            .as_array()
            .expect("oneOf is a list")
            .iter()
            .find(|b| b.get("properties").is_some())
            .expect("an object branch"),
        None => v,
    };
    assert_eq!(
        obj["additionalProperties"],
        Value::Bool(false),
        "{pointer} rejects unknown keys"
    );
    obj["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .cloned()
        .collect()
}

fn set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|s| s.to_string()).collect()
}

#[test]
fn schema_keys_match_the_decoder() {
    let s = schema();
    let cases: [(&str, &[&str]); 25] = [
        ("", raw::LAB_KEYS),
        ("/$defs/node", raw::NODE_KEYS),
        ("/$defs/link", raw::LINK_KEYS),
        ("/$defs/network", raw::NETWORK_KEYS),
        ("/$defs/interface", raw::INTERFACE_KEYS),
        ("/$defs/route", raw::ROUTE_KEYS),
        ("/$defs/tunnel", raw::TUNNEL_KEYS),
        ("/$defs/forward", raw::FORWARD_KEYS),
        ("/$defs/interface/properties/macvlan", raw::MACVLAN_KEYS),
        ("/$defs/impair", raw::IMPAIR_KEYS),
        ("/$defs/ready", raw::READY_KEYS),
        ("/$defs/console", raw::CONSOLE_KEYS),
        ("/$defs/node/properties/netconf", raw::NETCONF_KEYS),
        ("/$defs/node/properties/cloud_init", raw::CLOUD_INIT_KEYS),
        ("/$defs/step", steps::STEP_KEYS),
        ("/$defs/fault", steps::FAULT_KEYS),
        ("/$defs/exec_check", steps::EXEC_KEYS),
        ("/$defs/ping_check", steps::PING_KEYS),
        ("/$defs/http_check", steps::HTTP_KEYS),
        ("/$defs/console_step", steps::CONSOLE_STEP_KEYS),
        ("/$defs/console_step/properties/upload", steps::UPLOAD_KEYS),
        ("/$defs/capture_check", steps::CAPTURE_KEYS),
        ("/$defs/wait_step", steps::WAIT_KEYS),
        ("/properties/capture", raw::CAPTURE_KEYS),
        ("/$defs/member", raw::MEMBER_KEYS),
    ];
    for (pointer, decoder) in cases {
        assert_eq!(keys(&s, pointer), set(decoder), "keys of {pointer:?}");
    }
}

#[test]
fn schema_lists_every_renderer_and_kind() {
    let s = schema();
    let renderers: BTreeSet<String> = s
        .pointer("/$defs/node/properties/netconf/oneOf/1/properties/renderer/enum")
        .and_then(Value::as_array)
        .expect("renderer enum")
        .iter()
        .map(|v| v.as_str().expect("string").to_string())
        .collect();
    assert_eq!(renderers, set(raw::RENDERERS));
    let kinds: BTreeSet<String> = s
        .pointer("/$defs/node/properties/kind/enum")
        .and_then(Value::as_array)
        .expect("kind enum")
        .iter()
        .map(|v| v.as_str().expect("string").to_string())
        .collect();
    let model: Vec<&str> = warren_topology::model::NodeKind::ALL
        .iter()
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(kinds, set(&model));
}
