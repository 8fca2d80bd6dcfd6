//! Fuzzes lab file parsing and validation: any input must produce a lab or
//! diagnostics, never a panic, and every span must lie inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let loaded = warren_topology::load(text, "fuzz");
    assert_eq!(loaded.lab.is_some(), !loaded.diagnostics.has_errors());
    for d in &loaded.diagnostics.0 {
        if let Some(s) = d.span {
            assert!(s.end <= text.len() && text.is_char_boundary(s.start));
        }
    }
});
