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

/// The capabilities of a node: `base`, plus `add`, minus `drop`, as
/// Docker's `--cap-add`/`--cap-drop` combine: `ALL` in `add` means every
/// capability but those dropped, and `ALL` in `drop` means only those
/// added. Names come back without the `CAP_` prefix, sorted.
pub fn resolve(
    base: &[&str],
    add: &[String],
    drop: &[String],
) -> Result<Vec<String>, SecurityError> {
    let all = |names: &[String]| names.iter().any(|n| n.eq_ignore_ascii_case("ALL"));
    let named = |names: &[String]| -> Result<CapsHashSet, SecurityError> {
        names
            .iter()
            .filter(|n| !n.eq_ignore_ascii_case("ALL"))
            .map(|n| parse(n))
            .collect()
    };
    let (added, dropped) = (named(add)?, named(drop)?);
    let set: CapsHashSet = if all(add) {
        caps::all().difference(&dropped).copied().collect()
    } else {
        let start: CapsHashSet = if all(drop) {
            CapsHashSet::new()
        } else {
            base.iter()
                .map(|n| parse(n))
                .collect::<Result<CapsHashSet, _>>()?
                .difference(&dropped)
                .copied()
                .collect()
        };
        start.union(&added).copied().collect()
    };
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
    fn all_combines_as_with_docker() {
        let every = resolve(&[], &["ALL".into()], &["NET_RAW".into()]).unwrap();
        assert_eq!(every.len(), caps::all().len() - 1);
        assert!(every.contains(&"SYS_ADMIN".to_string()));
        assert!(!every.contains(&"NET_RAW".to_string()));
        let only = resolve(&["CHOWN"], &["NET_ADMIN".into()], &["all".into()]).unwrap();
        assert_eq!(only, ["NET_ADMIN"]);
        let none = resolve(&["CHOWN"], &[], &["ALL".into()]).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn an_unknown_name_is_an_error_naming_it() {
        let e = resolve(&[], &["NET_ADMN".into()], &[]).unwrap_err();
        assert!(e.to_string().contains("NET_ADMN"), "{e}");
    }
}
