//! Where the DNS resolvers come from: never the metadata.

/// Parses a `--resolvers`/`PACKET_RESOLVERS` value: comma separated, empty
/// items dropped. An empty value counts as not given.
pub(crate) fn parse_override(value: &str) -> Option<Vec<String>> {
    if value.is_empty() {
        return None;
    }
    Some(
        value
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

/// The IPv4 `nameserver` lines of the host's resolv.conf (`nameserver A.B.C.D`
/// and nothing else on the line), or `None` if there are none.
pub(crate) fn from_resolv_conf(text: &str) -> Option<Vec<String>> {
    let found: Vec<String> = text
        .lines()
        .filter_map(|line| line.strip_prefix("nameserver "))
        .filter(|addr| is_dotted_quad(addr))
        .map(str::to_owned)
        .collect();
    (!found.is_empty()).then_some(found)
}

/// Four runs of ASCII digits joined by dots (no range check, as upstream).
fn is_dotted_quad(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_drops_empty_items() {
        assert_eq!(
            parse_override("198.51.100.53,,203.0.113.53,"),
            Some(vec!["198.51.100.53".to_owned(), "203.0.113.53".to_owned()])
        );
        assert_eq!(parse_override(""), None);
    }

    #[test]
    fn host_file_keeps_ipv4_nameservers_only() {
        let text = "# comment\nnameserver 10.0.0.1\nnameserver ::1\nnameserver 1.2.3.4 \n#nameserver 9.9.9.9\nnameserver 8.8.4.4\nsearch x\n";
        assert_eq!(
            from_resolv_conf(text),
            Some(vec!["10.0.0.1".to_owned(), "8.8.4.4".to_owned()])
        );
        assert_eq!(from_resolv_conf("nameserver fe80::1\n"), None);
    }
}
