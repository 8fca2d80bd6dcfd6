//! A string `command:` or `entrypoint:` split into words the way Compose
//! splits it: POSIX shell quoting and backslashes, and nothing else (no
//! variables, globs or operators are expanded).

/// Splits `s` into words: blanks separate words; `'...'` keeps everything
/// literally; `"..."` keeps everything but `\"`, `\\`, `\$` and `` \` ``,
/// which lose their backslash; outside quotes a backslash keeps the next
/// character. An unclosed quote or a trailing backslash is an error.
pub fn split(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    // A word has started, even if it is empty so far (`''`).
    let mut started = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            '\'' => {
                started = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("a `'` quote is not closed".into()),
                    }
                }
            }
            '"' => {
                started = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("a `\"` quote is not closed".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("a `\"` quote is not closed".into()),
                    }
                }
            }
            '\\' => {
                started = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(c) => word.push(c),
                    None => return Err("a `\\` at the end escapes nothing".into()),
                }
            }
            c => {
                started = true;
                word.push(c);
            }
        }
    }
    if started {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn quoted_words_stay_whole() {
        assert_eq!(
            split("sh -c 'while ! ip link show eth0 up; do sleep 1; done; sleep 864000'").unwrap(),
            [
                "sh",
                "-c",
                "while ! ip link show eth0 up; do sleep 1; done; sleep 864000"
            ]
        );
        assert_eq!(
            split(r#"a "b \"c\" \$d \x" e\ f '' """#).unwrap(),
            ["a", r#"b "c" $d \x"#, "e f", "", ""]
        );
        assert_eq!(split("  x\ty  ").unwrap(), ["x", "y"]);
        assert_eq!(split("a'b'\"c\"d").unwrap(), ["abcd"]);
        assert!(split("").unwrap().is_empty());
    }

    #[test]
    fn nothing_is_expanded() {
        assert_eq!(
            split("echo $HOME * ; |").unwrap(),
            ["echo", "$HOME", "*", ";", "|"]
        );
    }

    #[test]
    fn unclosed_quotes_are_errors() {
        assert!(split("sh -c 'x").unwrap_err().contains("`'`"));
        assert!(split("echo \"x").unwrap_err().contains("`\"`"));
        assert!(split("x \\").is_err());
    }
}
