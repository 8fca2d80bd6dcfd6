//! `warren __netexec NAME NODE`: joins only a node's network namespace
//! (and the lab's user namespace when rootless), then runs a host tool
//! there or sends one HTTP GET. Ping and http steps use it, so they work
//! the same from a bare namespace, a busybox container or a booted OS,
//! whatever tools the node's image has.

use crate::Failure;
use crate::args::NetExecArgs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::process::CommandExt;
use std::time::Duration;
use warren_lab::state::{self, LabState};

/// Runs the hidden command.
pub fn run(args: &NetExecArgs) -> Result<(), Failure> {
    let dir = state::lab_dir(&args.name);
    let st = LabState::read(&dir)
        .map_err(Failure::error)?
        .filter(LabState::supervisor_alive)
        .ok_or_else(|| miette::miette!("no lab called {} is running", args.name))?;
    let full = st
        .node_namespaces(&args.node)
        .ok_or_else(|| miette::miette!("node {} has no network namespace", args.node))?;
    let net_only = warren_runtime::exec::NodeNamespaces {
        user: full.user,
        net: full.net,
        ..Default::default()
    };
    net_only.join().map_err(Failure::error)?;
    if let Some(url) = &args.http {
        let (status, body) = get(url, Duration::from_secs(args.timeout))
            .map_err(|e| miette::miette!("GET {url}: {e}"))?;
        println!(
            "{}",
            serde_json::json!({ "status": status, "body": String::from_utf8_lossy(&body) })
        );
        return Ok(());
    }
    let (program, rest) = args
        .command
        .split_first()
        .ok_or_else(|| miette::miette!("__netexec needs a command or --http"))?;
    let e = std::process::Command::new(program).args(rest).exec();
    Err(Failure::Error(miette::miette!("running {program}: {e}")))
}

/// One HTTP/1.0 GET of an `http://` URL: the status code and the body.
fn get(url: &str, timeout: Duration) -> Result<(u16, Vec<u8>), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let addr = socket_addr(authority)?;
    let mut conn = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    conn.set_read_timeout(Some(timeout))
        .and_then(|()| conn.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    write!(
        conn,
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: warren-test\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).map_err(|e| e.to_string())?;
    parse_response(&answer)
}

/// The socket address of `host[:port]` (`[v6]:port` for IPv6).
fn socket_addr(authority: &str) -> Result<SocketAddr, String> {
    let with_port = if authority.ends_with(']') || !authority.contains(':') {
        format!("{authority}:80")
    } else {
        authority.to_string()
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("{authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority} has no address"))
}

/// Splits a response into status code and body.
fn parse_response(answer: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, p + 4))
        .or_else(|| {
            answer
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|p| (p, p + 2))
        })
        .ok_or("the answer has no end of headers")?;
    let head = String::from_utf8_lossy(&answer[..end.0]);
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| {
            format!(
                "not an HTTP status line: {}",
                head.lines().next().unwrap_or("")
            )
        })?;
    Ok((status, answer[end.1..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_body() {
        let (s, b) = parse_response(b"HTTP/1.0 404 Not Found\r\nServer: x\r\n\r\nnope").unwrap();
        assert_eq!((s, b.as_slice()), (404, b"nope".as_slice()));
        assert!(parse_response(b"garbage").is_err());
    }

    #[test]
    fn fills_in_port_80() {
        assert_eq!(
            socket_addr("10.0.0.1").unwrap(),
            "10.0.0.1:80".parse().unwrap()
        );
        assert_eq!(
            socket_addr("[2001:db8::1]").unwrap(),
            "[2001:db8::1]:80".parse().unwrap()
        );
        assert_eq!(
            socket_addr("[2001:db8::1]:8080").unwrap(),
            "[2001:db8::1]:8080".parse().unwrap()
        );
    }

    #[test]
    fn gets_from_a_local_server() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            // Read the whole request head before answering: closing on a
            // partial read would fail the client's remaining write.
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = c.read(&mut buf).unwrap();
                assert!(n > 0, "the request ended before its blank line");
                req.extend_from_slice(&buf[..n]);
            }
            c.write_all(b"HTTP/1.0 200 OK\r\n\r\nhello").unwrap();
            String::from_utf8_lossy(&req).into_owned()
        });
        let (s, b) = get(
            &format!("http://127.0.0.1:{port}/x?y=1"),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!((s, b.as_slice()), (200, b"hello".as_slice()));
        assert!(
            server
                .join()
                .unwrap()
                .starts_with("GET /x?y=1 HTTP/1.0\r\n")
        );
    }
}
