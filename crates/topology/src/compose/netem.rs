//! conlink's `netem` property (tc netem OPTIONS, `man 8 tc-netem`) mapped
//! onto a lab file `impair` block, which warren's user-space wire applies
//! because this kernel has no netem qdisc. Options the wire has no
//! equivalent for are refused by name.

use crate::values::{Duration, Percent, Rate};
use serde_json::{Map, Value, json};

/// Words that start a netem option; they end the optional arguments of the
/// option before them.
const OPTIONS: &[&str] = &[
    "limit",
    "delay",
    "latency",
    "distribution",
    "loss",
    "drop",
    "corrupt",
    "duplicate",
    "reorder",
    "rate",
    "slot",
    "ecn",
    "gap",
];

/// tc's time units (`man 8 tc`, TIMES); a bare number is microseconds.
const TIME_UNITS_NS: &[(&str, u64)] = &[
    ("s", 1_000_000_000),
    ("sec", 1_000_000_000),
    ("secs", 1_000_000_000),
    ("ms", 1_000_000),
    ("msec", 1_000_000),
    ("msecs", 1_000_000),
    ("us", 1_000),
    ("usec", 1_000),
    ("usecs", 1_000),
    ("", 1_000),
    ("ns", 1),
    ("nsec", 1),
    ("nsecs", 1),
];

/// A tc time (`10ms`, `1.5s`, `200`: microseconds) as a lab file duration.
fn time(word: &str) -> Result<String, String> {
    let split = word
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(word.len());
    let (num, unit) = word.split_at(split);
    let factor = TIME_UNITS_NS
        .iter()
        .find(|(u, _)| *u == unit)
        .map(|(_, f)| *f);
    match (num.parse::<f64>(), factor) {
        (Ok(n), Some(f)) if n.is_finite() && n >= 0.0 => {
            Ok(Duration((n * f as f64).round() as u64).to_string())
        }
        _ => Err(format!("`{word}` is not a time (such as 10ms, 1s, 500us)")),
    }
}

/// A tc percentage (`1%`, or `1`, which tc also reads as percent).
fn percent(word: &str) -> Result<String, String> {
    let p: Percent = word.parse()?;
    Ok(format!("{}%", p.0))
}

/// Reads the words of netem OPTIONS one option at a time.
struct Words<'t> {
    words: Vec<&'t str>,
    at: usize,
}

impl<'t> Words<'t> {
    fn next(&mut self) -> Option<&'t str> {
        let w = self.words.get(self.at).copied();
        self.at += 1;
        w
    }

    /// The next word when it is an argument (not the next option).
    fn arg(&mut self) -> Option<&'t str> {
        let w = self.words.get(self.at).copied()?;
        if OPTIONS.contains(&w) {
            return None;
        }
        self.at += 1;
        Some(w)
    }

    /// The required argument of `option`.
    fn required(&mut self, option: &str, what: &str) -> Result<&'t str, String> {
        self.arg().ok_or_else(|| format!("`{option}` needs {what}"))
    }
}

/// What the wire has no equivalent for, for messages.
fn no_equivalent(what: &str) -> String {
    format!("{what} has no equivalent in warren's impairments (the kernel's netem is absent here)")
}

/// Maps netem OPTIONS (the words of one string, or of a list joined with
/// spaces, as conlink passes them to tc) onto an `impair` mapping.
pub(super) fn impair(options: &str) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    let mut w = Words {
        words: options.split_whitespace().collect(),
        at: 0,
    };
    let mut set = |key: &str, value: String| -> Result<(), String> {
        match out.insert(key.to_string(), json!(value)) {
            Some(_) => Err(format!("`{key}` is given twice")),
            None => Ok(()),
        }
    };
    while let Some(option) = w.next() {
        match option {
            "limit" => {
                let n = w.required(option, "a packet count")?;
                let v: u32 = n
                    .parse()
                    .ok()
                    .filter(|v| *v > 0)
                    .ok_or_else(|| format!("limit `{n}` is not a packet count"))?;
                set("limit", v.to_string())?;
            }
            "delay" | "latency" => {
                set("delay", time(w.required(option, "a time")?)?)?;
                if let Some(j) = w.arg() {
                    set("jitter", time(j)?)?;
                    if w.arg().is_some() {
                        return Err(no_equivalent("delay correlation"));
                    }
                }
            }
            "distribution" => {
                let d = w.required(option, "a distribution")?;
                if !["uniform", "normal", "pareto", "paretonormal"].contains(&d) {
                    return Err(format!(
                        "distribution `{d}`: warren has uniform, normal, pareto and paretonormal"
                    ));
                }
                set("distribution", d.to_string())?;
            }
            "loss" | "drop" => {
                let mut p = w.required(option, "a percentage")?;
                match p {
                    "random" => p = w.required("loss random", "a percentage")?,
                    "state" | "gemodel" => {
                        return Err(no_equivalent(&format!("loss {p} (a Markov loss model)")));
                    }
                    _ => {}
                }
                set("loss", percent(p)?)?;
                if let Some(c) = w.arg() {
                    if c == "ecn" {
                        return Err(no_equivalent("ecn"));
                    }
                    set("loss_correlation", percent(c)?)?;
                }
            }
            "corrupt" | "duplicate" | "reorder" => {
                set(option, percent(w.required(option, "a percentage")?)?)?;
                if w.arg().is_some() {
                    return Err(no_equivalent(&format!("{option} correlation")));
                }
            }
            "rate" => {
                let r = w.required(option, "a rate")?;
                r.parse::<Rate>()?;
                set("rate", r.to_string())?;
                if w.arg().is_some() {
                    return Err(no_equivalent("rate packet or cell overhead"));
                }
            }
            "slot" | "ecn" | "gap" => return Err(no_equivalent(&format!("`{option}`"))),
            other => return Err(format!("`{other}` is not a netem option")),
        }
    }
    if out.is_empty() {
        return Err("no netem options".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::impair;
    use serde_json::json;

    #[test]
    fn netem_options_become_impair_keys() {
        let cases = [
            ("delay 40ms", json!({"delay": "40ms"})),
            (
                "delay 10ms 2ms distribution normal loss 1% 25%",
                json!({"delay": "10ms", "jitter": "2ms", "distribution": "normal",
                       "loss": "1%", "loss_correlation": "25%"}),
            ),
            (
                "loss random 0.5 duplicate 1% corrupt 0.1% reorder 5% delay 1s",
                json!({"loss": "0.5%", "duplicate": "1%", "corrupt": "0.1%",
                       "reorder": "5%", "delay": "1s"}),
            ),
            (
                "rate 10mbit limit 500 latency 200",
                json!({"rate": "10mbit", "limit": "500", "delay": "200us"}),
            ),
            ("drop 3%", json!({"loss": "3%"})),
            ("delay 1.5ms", json!({"delay": "1500us"})),
        ];
        for (text, want) in cases {
            let got = impair(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(serde_json::Value::Object(got), want, "{text}");
        }
    }

    #[test]
    fn options_without_an_equivalent_are_refused_by_name() {
        for (text, needle) in [
            ("delay 10ms 2ms 25%", "delay correlation"),
            ("duplicate 1% 50%", "duplicate correlation"),
            ("reorder 25% gap 5 delay 10ms", "`gap`"),
            ("loss state 1 2", "Markov"),
            ("loss gemodel 1%", "Markov"),
            ("rate 1mbit 20", "overhead"),
            ("slot 1ms", "`slot`"),
            ("loss 1% ecn", "ecn"),
            ("delay soon", "not a time"),
            ("loss 200%", "between 0% and 100%"),
            ("rate fast", "not a rate"),
            ("distribution pareto2", "paretonormal"),
            ("jitter 5ms", "`jitter` is not a netem option"),
            ("delay", "needs a time"),
            ("delay 1ms delay 2ms", "twice"),
            ("limit 0", "packet count"),
            ("", "no netem options"),
        ] {
            let err = impair(text).expect_err(text);
            assert!(err.contains(needle), "{text}: {err}");
        }
        let err = impair("slot 1ms").expect_err("slot");
        assert!(err.contains("netem is absent"), "{err}");
    }
}
