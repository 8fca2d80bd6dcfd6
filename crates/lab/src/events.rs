//! The run's events file, `<results>/events.jsonl`: one JSON object per
//! line with `t` (seconds since the epoch) and `event`, appended by the
//! supervisor (created, ready, faults, vm events, teardown) and by
//! `warren test` (step-start, step-end). Each append is one short write
//! to a file opened for appending, so writers in several processes do not
//! interleave within a line.

use std::io::Write;
use std::path::Path;

/// The events file of the run whose evidence folder is `results`.
pub fn path(results: &Path) -> std::path::PathBuf {
    results.join("events.jsonl")
}

/// Seconds since the epoch, as events carry them.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `secs` since the epoch as an ISO 8601 UTC time, `2026-11-23T14:57:57Z`.
pub fn iso8601(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(i64::try_from(days).unwrap_or(0));
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Appends the event `event` with the fields of `fields` (an object) and
/// the current time. Losing an event must not fail the lab, so errors are
/// ignored.
pub fn append(results: &Path, event: &str, fields: serde_json::Value) {
    let mut line = serde_json::json!({ "t": now(), "event": event });
    if let (Some(line), serde_json::Value::Object(extra)) = (line.as_object_mut(), fields) {
        line.extend(extra);
    }
    let mut bytes = line.to_string().into_bytes();
    bytes.push(b'\n');
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path(results))
    {
        let _ = f.write_all(&bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_times() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_795_445_877), "2026-11-23T14:57:57Z");
    }

    #[test]
    fn appends_lines_with_time_and_event() {
        let dir = tempfile::tempdir().unwrap();
        append(dir.path(), "ready", serde_json::json!({ "lab": "x" }));
        append(dir.path(), "down", serde_json::Value::Null);
        let text = std::fs::read_to_string(path(dir.path())).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (lines[0]["event"].as_str(), lines[0]["lab"].as_str()),
            (Some("ready"), Some("x"))
        );
        assert_eq!(lines[1]["event"], "down");
        assert!(lines[1]["t"].as_f64().unwrap() > 1.7e9);
    }
}
