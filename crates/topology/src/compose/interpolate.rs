//! Compose-style variable interpolation: `$VAR`, `${VAR}`, `${VAR:-default}`,
//! `${VAR-default}`, and `$$` for a literal `$`.

use std::collections::BTreeMap;

/// A `${...}` that does not close, or a name that is not a variable name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad interpolation at byte {offset}: {reason}")]
pub struct InterpolateError {
    /// Byte offset of the `$` in the text.
    pub offset: usize,
    /// What is wrong.
    pub reason: String,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Replaces every variable reference in `text` with its value from `env`.
/// An unset variable without a default becomes the empty string, as
/// compose does. `${VAR:-d}` uses `d` when VAR is unset or empty,
/// `${VAR-d}` only when it is unset.
pub fn interpolate(text: &str, env: &BTreeMap<String, String>) -> Result<String, InterpolateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut base = 0;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let offset = base + pos;
        let consumed = if after.starts_with('$') {
            out.push('$');
            2
        } else if let Some(inner) = after.strip_prefix('{') {
            let end = inner.find('}').ok_or_else(|| InterpolateError {
                offset,
                reason: "`${` without a closing `}`".into(),
            })?;
            out.push_str(&expand(&inner[..end], env, offset)?);
            end + 3
        } else {
            let len = after
                .char_indices()
                .find(|(_, c)| !is_name_char(*c))
                .map_or(after.len(), |(i, _)| i);
            if len == 0 {
                out.push('$');
            } else {
                out.push_str(env.get(&after[..len]).map_or("", String::as_str));
            }
            len + 1
        };
        base += pos + consumed;
        rest = &text[base..];
    }
    out.push_str(rest);
    Ok(out)
}

fn expand(
    expr: &str,
    env: &BTreeMap<String, String>,
    offset: usize,
) -> Result<String, InterpolateError> {
    let name_len = expr
        .char_indices()
        .find(|(_, c)| !is_name_char(*c))
        .map_or(expr.len(), |(i, _)| i);
    let (name, op) = expr.split_at(name_len);
    if name.is_empty() {
        return Err(InterpolateError {
            offset,
            reason: format!("`${{{expr}}}` has no variable name"),
        });
    }
    let value = env.get(name);
    if op.is_empty() {
        return Ok(value.cloned().unwrap_or_default());
    }
    if let Some(default) = op.strip_prefix(":-") {
        return Ok(match value {
            Some(v) if !v.is_empty() => v.clone(),
            _ => default.to_string(),
        });
    }
    if let Some(default) = op.strip_prefix('-') {
        return Ok(value.cloned().unwrap_or_else(|| default.to_string()));
    }
    Err(InterpolateError {
        offset,
        reason: format!("`${{{expr}}}`: only `:-` and `-` defaults are supported"),
    })
}

/// Parses a `.env` or `env_file` text: `KEY=VALUE` lines; blank lines and
/// `#` comments are skipped, an `export ` prefix is allowed, and one pair
/// of matching quotes around the value is removed.
pub fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = [('"', '"'), ('\'', '\'')]
            .iter()
            .find_map(|(a, b)| v.strip_prefix(*a).and_then(|x| x.strip_suffix(*b)))
            .unwrap_or(v);
        out.insert(k.trim().to_string(), v.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> BTreeMap<String, String> {
        [("A", "1"), ("EMPTY", "")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn forms() {
        let e = env();
        assert_eq!(interpolate("x${A}y $A.", &e).unwrap(), "x1y 1.");
        assert_eq!(interpolate("${B:-d} ${B-d}", &e).unwrap(), "d d");
        assert_eq!(interpolate("${EMPTY:-d}|${EMPTY-d}", &e).unwrap(), "d|");
        assert_eq!(interpolate("${A:-d}", &e).unwrap(), "1");
        assert_eq!(interpolate("$$A ${NOPE} $", &e).unwrap(), "$A  $");
        assert_eq!(interpolate("${A:-a/b c}", &e).unwrap(), "1");
        assert_eq!(interpolate("${X:-10.0.0.1/24}", &e).unwrap(), "10.0.0.1/24");
    }

    #[test]
    fn errors() {
        assert!(interpolate("a ${A", &env()).is_err());
        assert!(interpolate("${}", &env()).is_err());
        assert!(interpolate("${A?err}", &env()).is_err());
    }

    #[test]
    fn env_files() {
        let m = parse_env_file("# c\nA=1\nexport B = \"two\"\n\nC='3'\nbad\n");
        assert_eq!(m["A"], "1");
        assert_eq!(m["B"], "two");
        assert_eq!(m["C"], "3");
        assert_eq!(m.len(), 3);
    }
}
