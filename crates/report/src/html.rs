//! HTML text: escaping and the page frame every warren page shares (one
//! inline style sheet, no external resources).

/// Escapes text for HTML (and SVG) content and attribute values, dropping
/// control characters other than tab and newline (a console's escape
/// sequences).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The shared style sheet: the topology's shapes and states, the
/// timeline's bars, tables and console blocks.
pub const STYLE: &str = r#"
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:1.6em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left;vertical-align:top}
pre{background:#f6f6f6;padding:.5em;overflow:auto;max-height:30em;font-size:12px}
.passed{color:#1a7f37}.failed{color:#cf222e}.skipped{color:#9a6700}
.totals span{margin-right:1em;font-weight:bold}
svg text{font:12px system-ui,sans-serif}
.topology .node rect,.topology .node polygon{fill:#eef4ff;stroke:#3461c1;stroke-width:1.5}
.topology .node.container rect{fill:#eefaf0;stroke:#2f8a47}
.topology .node.system rect{fill:#fff8e6;stroke:#b07d00;stroke-width:3}
.topology .node.vm rect,.topology .node.vm polygon{fill:#f5eefc;stroke:#7a3fb8}
.topology .node.faulted rect{stroke:#cf222e;stroke-dasharray:6 3}
.topology .node.stopped rect{fill:#ddd;stroke:#777}
.topology .network ellipse{fill:#fff;stroke:#555;stroke-dasharray:5 3;stroke-width:1.5}
.topology .edge line{stroke:#555;stroke-width:2}
.topology .edge.impaired line{stroke:#d97a00;stroke-dasharray:8 4;stroke-width:3}
.topology .edge.faulted line{stroke:#cf222e}
.topology .edge.down line{stroke:#cf222e;stroke-dasharray:2 6;stroke-width:3}
.topology .edge .end{fill:#333;font-size:11px}
.topology .edge .impair{fill:#b35f00;font-size:11px}
.topology .edge .fault{fill:#cf222e;font-weight:bold}
.topology .counter{fill:#3461c1;font-size:11px}
.topology .name{font-weight:bold}.topology .kind{fill:#666;font-size:11px}
.timeline .phase{fill:#e8e8e8}.timeline .step.passed{fill:#2da44e}.timeline .step.failed{fill:#cf222e}
.timeline .step.skipped{fill:#d4a72c}.timeline .marker line{stroke:#8250df;stroke-width:2}
.timeline .marker text{fill:#8250df;font-size:11px}.timeline .axis{stroke:#999}
.timeline .label{font-size:11px}
.traffic rect{fill:#3461c1}.traffic .axis{stroke:#999}
details{margin:.4em 0}summary{cursor:pointer;font-weight:bold}
mark{background:#fff3a0}
"#;

/// A whole page: `title`, the style sheet, `body` (already HTML) and an
/// optional inline `script`.
pub fn page(title: &str, body: &str, script: &str) -> String {
    let script = if script.is_empty() {
        String::new()
    } else {
        format!("<script>{script}</script>\n")
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{}</title><style>{STYLE}</style></head>\n<body>\n{body}\n{script}</body></html>\n",
        esc(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_control_characters() {
        assert_eq!(
            esc("<a href=\"x\">&'\x1b[0m\n"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;[0m\n"
        );
    }

    #[test]
    fn a_page_loads_nothing_from_elsewhere() {
        let p = page("t <1>", "<p>hi</p>", "let x = 1;");
        assert!(p.starts_with("<!DOCTYPE html>"));
        assert!(p.contains("<title>t &lt;1&gt;</title>"));
        assert!(p.contains("<script>let x = 1;</script>"));
        for remote in ["http:", "https:", "src=", "<link"] {
            assert!(!p.contains(remote), "{remote}");
        }
    }
}
