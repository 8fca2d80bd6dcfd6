//! Variable interpolation as the compose specification defines it, applied
//! to one scalar value at a time: `$VAR`, `${VAR}`, `${VAR:-default}`,
//! `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`,
//! `${VAR+alt}`, values nested in any of these, and `$$` for a literal `$`.
//! A name is `[_A-Za-z][_A-Za-z0-9]*`; a `$` followed by anything else is
//! kept as it is.

use std::collections::BTreeMap;

/// Why a value cannot be interpolated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct InterpolateError {
    /// Byte offset in the value of the `$` that failed.
    pub offset: usize,
    /// What is wrong.
    pub reason: String,
}

/// An interpolated value and the variables it used that were not set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Interpolated {
    /// The value with every reference replaced.
    pub text: String,
    /// Names referenced without a default that were unset (compose warns
    /// about these and uses the empty string).
    pub unset: Vec<String>,
}

fn name_len(s: &str) -> usize {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, c)) if c == '_' || c.is_ascii_alphabetic() => {}
        _ => return 0,
    }
    chars
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map_or(s.len(), |(i, _)| i)
}

/// The length of the braced expression starting after `${`, up to (not
/// including) its closing `}`; nested `${...}` are skipped whole.
fn braced_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'$') => i += 1,
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Replaces every reference in `text` with its value from `env`.
pub fn interpolate(
    text: &str,
    env: &BTreeMap<String, String>,
) -> Result<Interpolated, InterpolateError> {
    let mut out = Interpolated::default();
    walk(text, env, 0, &mut out)?;
    Ok(out)
}

fn walk(
    text: &str,
    env: &BTreeMap<String, String>,
    base: usize,
    out: &mut Interpolated,
) -> Result<(), InterpolateError> {
    let mut rest = text;
    let mut at = 0;
    while let Some(pos) = rest.find('$') {
        out.text.push_str(&rest[..pos]);
        let offset = base + at + pos;
        let after = &rest[pos + 1..];
        let consumed = if after.starts_with('$') {
            out.text.push('$');
            1
        } else if let Some(inner) = after.strip_prefix('{') {
            let end = braced_len(inner).ok_or_else(|| InterpolateError {
                offset,
                reason: "`${` without its closing `}`".into(),
            })?;
            braced(&inner[..end], env, offset, out)?;
            end + 2
        } else {
            let len = name_len(after);
            if len == 0 {
                out.text.push('$');
            } else {
                let name = &after[..len];
                match env.get(name) {
                    Some(v) => out.text.push_str(v),
                    None => out.unset.push(name.to_string()),
                }
            }
            len
        };
        at += pos + 1 + consumed;
        rest = &text[at..];
    }
    out.text.push_str(rest);
    Ok(())
}

/// One `${...}` expression (without its braces) at `offset`.
fn braced(
    expr: &str,
    env: &BTreeMap<String, String>,
    offset: usize,
    out: &mut Interpolated,
) -> Result<(), InterpolateError> {
    let len = name_len(expr);
    let (name, op) = expr.split_at(len);
    let bad = |reason: String| InterpolateError { offset, reason };
    if name.is_empty() {
        return Err(bad(format!(
            "`${{{expr}}}`: a variable name starts with a letter or `_` and holds letters, digits and `_`"
        )));
    }
    let value = env.get(name);
    let set_and_nonempty = value.is_some_and(|v| !v.is_empty());
    // The word after the operator is itself interpolated, only when used.
    let nested = offset + 2 + len;
    let word = |skip: usize, out: &mut Interpolated| walk(&op[skip..], env, nested + skip, out);
    match op {
        "" => match value {
            Some(v) => out.text.push_str(v),
            None => out.unset.push(name.to_string()),
        },
        _ if op.starts_with(":-") => match value {
            Some(v) if set_and_nonempty => out.text.push_str(v),
            _ => word(2, out)?,
        },
        _ if op.starts_with('-') => match value {
            Some(v) => out.text.push_str(v),
            None => word(1, out)?,
        },
        _ if op.starts_with(":+") => {
            if set_and_nonempty {
                word(2, out)?;
            }
        }
        _ if op.starts_with('+') => {
            if value.is_some() {
                word(1, out)?;
            }
        }
        _ if op.starts_with(":?") || op.starts_with('?') => {
            let strict = op.starts_with(':');
            let missing = if strict {
                !set_and_nonempty
            } else {
                value.is_none()
            };
            if !missing {
                out.text.push_str(value.map_or("", String::as_str));
            } else {
                let skip = if strict { 2 } else { 1 };
                let mut message = Interpolated::default();
                walk(&op[skip..], env, nested + skip, &mut message)?;
                let what = if strict { "unset or empty" } else { "unset" };
                return Err(bad(if message.text.is_empty() {
                    format!("required variable {name} is {what}")
                } else {
                    format!("required variable {name} is {what}: {}", message.text)
                }));
            }
        }
        _ => {
            return Err(bad(format!(
                "`${{{expr}}}`: after the name comes `}}`, `:-`, `-`, `:?`, `?`, `:+` or `+`"
            )));
        }
    }
    Ok(())
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
        [("A", "1"), ("EMPTY", ""), ("B", "two")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn i(text: &str) -> String {
        interpolate(text, &env()).expect("interpolates").text
    }

    #[test]
    fn plain_and_braced_names() {
        assert_eq!(i("x${A}y $A."), "x1y 1.");
        assert_eq!(i("$B_x ${B}_x"), " two_x");
        assert_eq!(i("$1 $ $- a$"), "$1 $ $- a$", "not a name: kept");
        assert_eq!(i("$$A $${A} $$$A"), "$A ${A} $1");
    }

    #[test]
    fn defaults_alternatives_and_nesting() {
        assert_eq!(i("${N:-d} ${N-d} ${EMPTY:-d}|${EMPTY-d}"), "d d d|");
        assert_eq!(i("${A:-d} ${A-d}"), "1 1");
        assert_eq!(
            i("${A:+alt} ${EMPTY:+alt}|${EMPTY+alt} ${N+alt}|"),
            "alt |alt |"
        );
        assert_eq!(i("${N:-${B}} ${N:-${M:-deep}} ${N-$A/x}"), "two deep 1/x");
        assert_eq!(i("${A:+${B:-x}-y}"), "two-y");
        assert_eq!(i("${N:-a}b}"), "ab}");
        assert_eq!(i("${X:-10.0.0.1/24}"), "10.0.0.1/24");
        assert_eq!(i("${N:-$$}"), "$");
    }

    #[test]
    fn required_values() {
        assert_eq!(i("${A:?no} ${EMPTY?no}"), "1 ");
        let e = interpolate("ab ${EMPTY:?set EMPTY to $B}", &env()).expect_err("empty");
        assert_eq!(e.offset, 3);
        assert_eq!(
            e.reason,
            "required variable EMPTY is unset or empty: set EMPTY to two"
        );
        let e = interpolate("${N?}", &env()).expect_err("unset");
        assert_eq!(e.reason, "required variable N is unset");
        // An unused error word is never expanded, so its own errors do not count.
        assert_eq!(i("${A:?${1x}}"), "1");
    }

    #[test]
    fn unset_names_are_reported() {
        let out = interpolate("$N ${M} ${O:-d}", &env()).expect("ok");
        assert_eq!(out.text, "  d");
        assert_eq!(out.unset, vec!["N".to_string(), "M".to_string()]);
    }

    #[test]
    fn errors() {
        assert!(interpolate("a ${A", &env()).is_err());
        assert!(interpolate("${}", &env()).is_err());
        assert!(interpolate("${1A}", &env()).is_err());
        let e = interpolate("x ${A!x}", &env()).expect_err("bad operator");
        assert_eq!(e.offset, 2);
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
