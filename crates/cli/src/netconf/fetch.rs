//! Fetching the metadata from the metadata service, with upstream's retries.

use std::time::Duration;

/// Why the metadata could not be fetched.
#[derive(Debug, thiserror::Error)]
#[error("--metadata-url {url}: gave up after {attempts} attempt(s): {last}")]
pub(crate) struct FetchError {
    url: String,
    attempts: u32,
    last: String,
}

/// The longest wait between attempts is `unit * 2^MAX_BACKOFF_EXPONENT`.
const MAX_BACKOFF_EXPONENT: u32 = 7;

/// How long one request may take in all.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Fetches and parses the metadata document, trying up to `max_attempts`
/// times; after failed attempt `n` it waits `unit * 2^min(n, 7)` (upstream's
/// schedule with `unit` = 1 s: 2, 4, 8 … 128 s). A connection error, an HTTP
/// error status and a body that is not JSON all count as failed attempts.
pub(crate) fn fetch_metadata(
    url: &str,
    max_attempts: u32,
    unit: Duration,
    mut on_retry: impl FnMut(u32, &str, Duration),
) -> Result<serde_json::Value, FetchError> {
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .build(),
    );
    let attempts = max_attempts.max(1);
    let mut last = String::new();
    for attempt in 1..=attempts {
        match get_json(&agent, url) {
            Ok(doc) => return Ok(doc),
            Err(e) => last = e,
        }
        if attempt < attempts {
            let wait = backoff(unit, attempt);
            on_retry(attempt, &last, wait);
            std::thread::sleep(wait);
        }
    }
    Err(FetchError {
        url: url.to_owned(),
        attempts,
        last,
    })
}

/// The wait after failed attempt `attempt` (counting from 1).
fn backoff(unit: Duration, attempt: u32) -> Duration {
    unit * 2u32.pow(attempt.min(MAX_BACKOFF_EXPONENT))
}

fn get_json(agent: &ureq::Agent, url: &str) -> Result<serde_json::Value, String> {
    let mut response = agent.get(url).call().map_err(|e| e.to_string())?;
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&body).map_err(|e| format!("not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// Serves `responses` in turn (status, body) on 127.0.0.1, one per
    /// connection, then stops. Returns the URL.
    fn serve(responses: Vec<(u16, &'static str)>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/metadata", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for (status, body) in responses {
                let (mut stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap() > 2 {
                    line.clear();
                }
                write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
            }
        });
        url
    }

    #[test]
    fn retries_until_success_with_doubling_waits() {
        let url = serve(vec![
            (500, "oops"),
            (200, "not json"),
            (200, "{\"hostname\": \"h\"}"),
        ]);
        let mut waits = Vec::new();
        let doc = fetch_metadata(&url, 5, Duration::from_millis(1), |n, _, w| {
            waits.push((n, w))
        })
        .unwrap();
        assert_eq!(doc["hostname"], "h");
        assert_eq!(
            waits,
            [(1, Duration::from_millis(2)), (2, Duration::from_millis(4))]
        );
    }

    #[test]
    fn gives_up_after_max_attempts() {
        let url = serve(vec![(503, ""), (503, "")]);
        let err = fetch_metadata(&url, 2, Duration::from_millis(1), |_, _, _| {}).unwrap_err();
        assert!(
            err.to_string().contains("gave up after 2 attempt(s)"),
            "{err}"
        );
    }

    #[test]
    fn backoff_is_capped_at_two_to_the_seventh() {
        let s = Duration::from_secs(1);
        let waits: Vec<u64> = (1..=9).map(|n| backoff(s, n).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 64, 128, 128, 128]);
    }
}
