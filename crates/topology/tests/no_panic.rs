//! Random input never makes the parser or validator panic.

use proptest::prelude::*;

/// Fragments of lab files, so random combinations reach deep into the decoder.
const FRAGMENTS: &[&str] = &[
    "name: x\n",
    "nodes:\n",
    "  r1: {}\n",
    "  r2: {kind: vm}\n",
    "  c: {kind: container, image: a}\n",
    "links:\n",
    "  - [r1:eth1, r2:eth1]\n",
    "  - endpoints: [r1:e, r2:e]\n",
    "    ipv4: [10.0.0.1/24, 10.0.0.2/24]\n",
    "networks:\n",
    "  lan: {members: [r1:eth2, r2:eth2], ipv4: 10.1.0.0/30}\n",
    "interfaces:\n",
    "  r1:lo: {ipv4: [10.9.9.9/32], routes: [default via 10.0.0.2]}\n",
    "tests:\n",
    "  - {name: t, ping: {from: r1, to: r2}}\n",
    "faults:\n",
    "  - {at: 1s, node: r1}\n",
    "  - [\n",
    "&a {b: *a}\n",
    "    ",
    "\t",
    ": ",
    "- ",
    "{",
    "}",
    "[",
    "]",
    "'",
    "\"",
    "#",
    "\n",
    "::",
    "ü",
    "\u{0}",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        let _ = warren_topology::load(&text, "fuzz");
    }

    #[test]
    fn spliced_fragments_never_panic(parts in proptest::collection::vec(0..FRAGMENTS.len(), 0..40)) {
        let text: String = parts.iter().map(|&i| FRAGMENTS[i]).collect();
        let loaded = warren_topology::load(&text, "fuzz");
        // A lab comes back exactly when nothing is an error.
        prop_assert_eq!(loaded.lab.is_some(), !loaded.diagnostics.has_errors());
        for d in &loaded.diagnostics.0 {
            if let Some(span) = d.span {
                prop_assert!(span.end <= text.len() && text.is_char_boundary(span.start));
            }
        }
    }
}
