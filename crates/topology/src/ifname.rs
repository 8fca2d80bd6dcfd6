//! Kernel names for the interface names network operating systems use.
//!
//! Names such as `ethernet-1/1` or `GigabitEthernet0/0/1` are longer than
//! the kernel's 15 bytes or contain `/`, so they cannot be a link's name.
//! A lab may still write them: the interface gets a short kernel name
//! derived from the written one, and the written name becomes its altname
//! (which the kernel accepts up to 127 bytes, `/` included), so that `ip`
//! inside the node and warren's own commands take either.

use crate::resolve::{MAX_IFNAME, ifname_problem};

/// Longest altname the kernel takes (`ALTIFNAMSIZ` - 1).
pub const MAX_ALTNAME: usize = 127;

/// The kernel name for an interface written as `written`, and whether it
/// differs (then `written` is to be its altname). Fails for names no
/// mapping makes usable: empty, `.`, `..`, or longer than an altname.
pub fn kernel_name(written: &str) -> Result<(String, bool), String> {
    let Some(problem) = ifname_problem(written) else {
        return Ok((written.to_string(), false));
    };
    if written.is_empty() || written == "." || written == ".." {
        return Err(problem);
    }
    if written.len() > MAX_ALTNAME {
        return Err(format!(
            "interface name `{written}` is {} bytes long; the kernel takes at most {MAX_ALTNAME} even as an altname",
            written.len()
        ));
    }
    Ok((derive(written), true))
}

/// `ethernet-1/1` -> `e1-1` (SR Linux's own kernel name for it),
/// `GigabitEthernet0/0/1` -> `GE0-0-1`: the capitals (or the first letter)
/// of the leading word, then the rest with `/`, `:` and spaces as `-`. A
/// result still too long is cut and given a hash of the written name.
fn derive(written: &str) -> String {
    let word_end = written
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(written.len());
    let (word, rest) = written.split_at(word_end);
    let mut short: String = word.chars().filter(char::is_ascii_uppercase).collect();
    if short.is_empty() {
        short = word.chars().take(1).collect();
    }
    let rest = rest.trim_start_matches(['-', '_', '/', ':', ' ']);
    short.extend(rest.chars().map(|c| {
        if c == '/' || c == ':' || c.is_whitespace() {
            '-'
        } else {
            c
        }
    }));
    if short.is_empty() {
        short.push_str("if");
    }
    if short.len() <= MAX_IFNAME && ifname_problem(&short).is_none() {
        return short;
    }
    let head: String = short
        .chars()
        .filter(char::is_ascii)
        .take(MAX_IFNAME - 5)
        .collect();
    format!("{head}-{:04x}", fnv(written) & 0xffff)
}

/// FNV-1a: a stable hash, the same in every build.
fn fnv(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_stay() {
        assert_eq!(kernel_name("eth1").unwrap(), ("eth1".into(), false));
        assert_eq!(
            kernel_name("Ethernet1").unwrap(),
            ("Ethernet1".into(), false)
        );
    }

    #[test]
    fn vendor_names_map_to_short_kernel_names() {
        assert_eq!(kernel_name("ethernet-1/1").unwrap(), ("e1-1".into(), true));
        assert_eq!(
            kernel_name("GigabitEthernet0/0/1").unwrap(),
            ("GE0-0-1".into(), true)
        );
        assert_eq!(kernel_name("Ethernet1/3").unwrap(), ("E1-3".into(), true));
        assert_eq!(kernel_name("ge-0/0/2").unwrap(), ("g0-0-2".into(), true));
    }

    #[test]
    fn long_names_get_a_hashed_tail_within_the_limit() {
        let (a, mapped) = kernel_name("averyveryverylonginterfacename7").unwrap();
        let (b, _) = kernel_name("averyveryverylonginterfacename8").unwrap();
        assert!(mapped);
        assert!(a.len() <= MAX_IFNAME, "{a}");
        assert_ne!(a, b);
        assert!(ifname_problem(&a).is_none());
    }

    #[test]
    fn lab_files_take_them_too() {
        let l = crate::load(
            "name: lf\nnodes: {a: {}, b: {}}\nlinks:\n  - [a:ethernet-1/1, b:eth1]\ninterfaces:\n  a:ethernet-1/1: {ipv4: [10.0.0.1/24]}\n",
            "t",
        );
        let lab = l.lab.expect("valid");
        let a = lab.node("a").unwrap().interface("ethernet-1/1").unwrap();
        assert_eq!(
            (a.name.as_str(), a.altname.as_deref()),
            ("e1-1", Some("ethernet-1/1"))
        );
        assert_eq!(a.ipv4[0].value.to_string(), "10.0.0.1/24");
        assert_eq!(lab.links[0].name, "a.e1-1-b.eth1");
    }

    #[test]
    fn two_names_for_one_kernel_name_are_one_endpoint() {
        let l = crate::load(
            "name: lf\nnodes: {a: {}, b: {}}\nlinks:\n  - [a:ethernet-1/1, b:eth1]\n  - [a:e1-1, b:eth2]\n",
            "t",
        );
        assert!(
            l.diagnostics
                .0
                .iter()
                .any(|d| d.code == "warren::endpoint-reused"),
            "{:?}",
            l.diagnostics
        );
    }

    #[test]
    fn unusable_names_are_refused() {
        assert!(kernel_name("").is_err());
        assert!(kernel_name("..").is_err());
        assert!(kernel_name(&"x".repeat(200)).is_err());
    }
}
