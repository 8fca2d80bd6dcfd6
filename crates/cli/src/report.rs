//! Renders lab-file diagnostics with miette: file:line:column, the
//! offending text underlined, and a hint where one helps.

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use serde::Serialize;
use std::fmt;
use warren_topology::{Diagnostic, Severity};

/// One diagnostic bound to its file, in the shape miette renders.
#[derive(Debug)]
struct FileDiagnostic<'a> {
    diag: &'a Diagnostic,
    source: NamedSource<String>,
}

impl fmt::Display for FileDiagnostic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for FileDiagnostic<'_> {}

impl miette::Diagnostic for FileDiagnostic<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diag.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diag
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.diag
            .span
            .map(|_| &self.source as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.diag.span?;
        let at = SourceSpan::new(span.start.into(), span.len());
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some(self.diag.label.clone()),
            at,
        ))))
    }
}

/// Whether rendered reports use colour and Unicode.
#[derive(Debug, Clone, Copy)]
pub enum Style {
    /// Colour and Unicode box drawing, for terminals.
    Fancy,
    /// Plain ASCII without colour, for logs, pipes and snapshots.
    Plain,
}

/// Renders every diagnostic of one file, each with its snippet.
pub fn render(diags: &[Diagnostic], name: &str, text: &str, style: Style) -> String {
    let theme = match style {
        Style::Fancy => GraphicalTheme::unicode(),
        Style::Plain => GraphicalTheme::unicode_nocolor(),
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    for d in diags {
        let fd = FileDiagnostic {
            diag: d,
            source: NamedSource::new(name, text.to_string()),
        };
        out.push_str(&d.location(name, text));
        out.push_str(": ");
        // Writing into a String cannot fail.
        let _ = handler.render_report(&mut out, &fd);
        out.push('\n');
    }
    out
}

/// A diagnostic as `warren validate --json` prints it.
#[derive(Debug, Serialize)]
pub struct JsonDiagnostic<'a> {
    /// Rule identifier.
    pub code: &'a str,
    /// `error` or `warning`.
    pub severity: Severity,
    /// The problem.
    pub message: &'a str,
    /// 1-based line, when the problem has a place.
    pub line: Option<usize>,
    /// 1-based column in characters, when the problem has a place.
    pub column: Option<usize>,
    /// Byte offsets `[start, end)`, when the problem has a place.
    pub span: Option<[usize; 2]>,
    /// The text under the underline.
    pub label: &'a str,
    /// A hint.
    pub help: Option<&'a str>,
}

impl<'a> JsonDiagnostic<'a> {
    /// The JSON form of `d`, with line and column computed from `text`.
    pub fn new(d: &'a Diagnostic, text: &str) -> Self {
        let lc = d
            .span
            .map(|s| warren_topology::span::line_col(text, s.start));
        JsonDiagnostic {
            code: d.code,
            severity: d.severity,
            message: &d.message,
            line: lc.map(|(l, _)| l),
            column: lc.map(|(_, c)| c),
            span: d.span.map(|s| [s.start, s.end]),
            label: &d.label,
            help: d.help.as_deref(),
        }
    }
}
