//! Capability sets: a node's set from a base, additions and drops, and
//! keeping exactly that set in the calling process.

use super::SecurityError;
use caps::{CapSet, Capability, CapsHashSet};

/// Parses a capability name, with or without the `CAP_` prefix, in any case.
pub fn parse(name: &str) -> Result<Capability, SecurityError> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    full.parse()
        .map_err(|_| SecurityError::UnknownCapability(name.to_string()))
}

/// The capabilities of a node: `base`, plus `add`, minus `drop`. `ALL` in
/// `add` means every capability and in `drop` means none is kept (drops
/// apply after additions, as with Docker's `--cap-add`/`--cap-drop`).
/// Names come back without the `CAP_` prefix, sorted.
pub fn resolve(
    base: &[&str],
    add: &[String],
    drop: &[String],
) -> Result<Vec<String>, SecurityError> {
    let mut set = CapsHashSet::new();
    for name in base {
        set.insert(parse(name)?);
    }
    for name in add {
        if name.eq_ignore_ascii_case("ALL") {
            set.extend(caps::all());
        } else {
            set.insert(parse(name)?);
        }
    }
    for name in drop {
        if name.eq_ignore_ascii_case("ALL") {
            set.clear();
        } else {
            set.remove(&parse(name)?);
        }
    }
    let mut names: Vec<String> = set
        .iter()
        .map(|c| c.to_string().trim_start_matches("CAP_").to_string())
        .collect();
    names.sort();
    Ok(names)
}

/// Parses a list of names into a set.
pub fn set_of(names: &[String]) -> Result<CapsHashSet, SecurityError> {
    names.iter().map(|n| parse(n)).collect()
}

/// Limits the calling thread to `keep`: the bounding set loses the rest
/// (so no later exec can regain them), the inheritable set is emptied and
/// the effective and permitted sets become `keep`. A root process's exec
/// then gets exactly `keep`.
pub fn keep(keep: &CapsHashSet) -> Result<(), SecurityError> {
    let err = |e: caps::errors::CapsError| SecurityError::Capabilities(e.to_string());
    for cap in caps::all() {
        if !keep.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, cap).map_err(err)?;
        }
    }
    caps::set(None, CapSet::Inheritable, &CapsHashSet::new()).map_err(err)?;
    caps::set(None, CapSet::Effective, keep).map_err(err)?;
    caps::set(None, CapSet::Permitted, keep).map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn additions_and_drops_apply_in_order_and_names_are_normalised() {
        let got = resolve(
            &["CHOWN", "NET_RAW"],
            &["cap_net_admin".into(), "SYS_TIME".into()],
            &["NET_RAW".into()],
        )
        .unwrap();
        assert_eq!(got, ["CHOWN", "NET_ADMIN", "SYS_TIME"]);
    }

    #[test]
    fn all_adds_every_capability_and_drop_all_keeps_none() {
        let every = resolve(&[], &["ALL".into()], &[]).unwrap();
        assert_eq!(every.len(), caps::all().len());
        assert!(every.contains(&"SYS_ADMIN".to_string()));
        let none = resolve(&["CHOWN"], &["NET_ADMIN".into()], &["all".into()]).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn an_unknown_name_is_an_error_naming_it() {
        let e = resolve(&[], &["NET_ADMN".into()], &[]).unwrap_err();
        assert!(e.to_string().contains("NET_ADMN"), "{e}");
    }
}
