//! Forwards: host TCP and UDP ports relayed to ports inside nodes by
//! user-space threads of the supervisor. The listener is bound in the
//! supervisor's namespace (the host's) on 127.0.0.1; each TCP connection,
//! and each UDP client (by its address and port), is relayed over a socket
//! opened inside the node's namespace to the node's own address, so no NAT
//! rule or route to the lab is needed. The threads end with the supervisor.

use crate::apply::Built;
use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use warren_kernel::Netns;
use warren_topology::model::{Forward, Proto};
use warren_topology::plan::Ns;

/// How long a relayed connection may take to open inside the node.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a UDP client's session lives without a datagram either way.
const UDP_IDLE: Duration = Duration::from_secs(60);

/// A forward could not start.
#[derive(Debug, thiserror::Error)]
#[error("forwarding 127.0.0.1:{host}/{proto} to {node} port {port}")]
pub struct ForwardError {
    /// The host port.
    pub host: u16,
    /// The node.
    pub node: String,
    /// The node's port.
    pub port: u16,
    /// TCP or UDP.
    pub proto: Proto,
    /// The cause.
    #[source]
    pub source: io::Error,
}

/// Starts forward `f`: binds its host port now (so a port in use fails
/// bring-up) and relays connections on a thread of its own.
pub fn start(f: &Forward, built: &Built) -> Result<(), ForwardError> {
    let fail = |source| ForwardError {
        host: f.host,
        node: f.node.clone(),
        port: f.port,
        proto: f.proto,
        source,
    };
    let netns = built
        .netns(&Ns::Node(f.node.clone()))
        .ok_or_else(|| fail(io::Error::other("the node has no namespace")))?
        .try_clone()
        .map_err(|e| fail(io::Error::other(e)))?;
    let name = format!("forward-{}-{}", f.proto, f.host);
    let to = SocketAddr::new(f.target, f.port);
    match f.proto {
        Proto::Tcp => {
            let listener = TcpListener::bind(("127.0.0.1", f.host)).map_err(fail)?;
            let f = f.clone();
            std::thread::Builder::new()
                .name(name)
                .spawn(move || accept(&listener, &netns, &f))
                .map_err(fail)?;
        }
        Proto::Udp => {
            let socket = UdpSocket::bind(("127.0.0.1", f.host)).map_err(fail)?;
            std::thread::Builder::new()
                .name(name)
                .spawn(move || udp_relay(&socket, &netns, to, UDP_IDLE))
                .map_err(fail)?;
        }
    }
    Ok(())
}

/// A UDP client's session: its socket in the node, connected to the
/// target, and when a datagram last passed either way.
struct Session {
    upstream: Arc<UdpSocket>,
    last: Arc<Mutex<Instant>>,
}

/// Relays the datagrams arriving on `socket`: each client gets a socket of
/// its own inside the node, so replies find their way back to it, and a
/// thread that carries the replies and ends the session after `idle`
/// without traffic.
fn udp_relay(socket: &UdpSocket, netns: &Netns, to: SocketAddr, idle: Duration) {
    let sessions: Arc<Mutex<HashMap<SocketAddr, Session>>> = Arc::default();
    let mut buf = vec![0u8; 65536];
    while let Ok((n, client)) = socket.recv_from(&mut buf) {
        let mut map = sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let s = match map.entry(client) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                match udp_session(socket, netns, to, client, idle, &sessions) {
                    Ok(session) => e.insert(session),
                    Err(_) => continue,
                }
            }
        };
        *s.last.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
        let _ = s.upstream.send(&buf[..n]);
    }
}

/// Opens `client`'s socket inside the node and starts its reply thread.
fn udp_session(
    socket: &UdpSocket,
    netns: &Netns,
    to: SocketAddr,
    client: SocketAddr,
    idle: Duration,
    sessions: &Arc<Mutex<HashMap<SocketAddr, Session>>>,
) -> io::Result<Session> {
    let any: SocketAddr = if to.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let upstream = netns
        .run(|| {
            let s = UdpSocket::bind(any)?;
            s.connect(to)?;
            Ok::<_, io::Error>(s)
        })
        .map_err(io::Error::other)??;
    upstream.set_read_timeout(Some(idle))?;
    let session = Session {
        upstream: Arc::new(upstream),
        last: Arc::new(Mutex::new(Instant::now())),
    };
    let (up, last, back) = (
        Arc::clone(&session.upstream),
        Arc::clone(&session.last),
        socket.try_clone()?,
    );
    let sessions = Arc::clone(sessions);
    std::thread::Builder::new()
        .name(format!("forward-udp-{client}"))
        .spawn(move || {
            let mut buf = vec![0u8; 65536];
            loop {
                match up.recv(&mut buf) {
                    Ok(n) => {
                        *last.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
                        let _ = back.send_to(&buf[..n], client);
                    }
                    // A refused port (ICMP unreachable) only ends this datagram.
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                    Err(e) => {
                        // Idle: end the session unless a datagram went out
                        // meanwhile (the map's lock orders this against the
                        // relay thread); broken: end it.
                        let mut map = sessions.lock().unwrap_or_else(PoisonError::into_inner);
                        let quiet = last
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .elapsed();
                        let timed_out = matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        );
                        if !timed_out || quiet >= idle {
                            map.remove(&client);
                            return;
                        }
                    }
                }
            }
        })?;
    Ok(session)
}

fn accept(listener: &TcpListener, netns: &Netns, f: &Forward) {
    let to = SocketAddr::new(f.target, f.port);
    for client in listener.incoming().flatten() {
        let upstream = netns.run(|| TcpStream::connect_timeout(&to, CONNECT_TIMEOUT));
        let Ok(Ok(upstream)) = upstream else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let _ = relay(client, upstream);
    }
}

/// Copies both ways on two threads; each direction half-closes its
/// destination when its source ends.
fn relay(a: TcpStream, b: TcpStream) -> io::Result<()> {
    let (a2, b2) = (a.try_clone()?, b.try_clone()?);
    std::thread::Builder::new().spawn(move || pipe(a, b2))?;
    std::thread::Builder::new().spawn(move || pipe(b, a2))?;
    Ok(())
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `msg` from `client` through the relay at `front`; the echo's
    /// answer names the source address it saw.
    fn ask(client: &UdpSocket, front: SocketAddr, msg: &str) -> String {
        client.send_to(msg.as_bytes(), front).expect("send");
        let mut buf = [0u8; 256];
        let (n, from) = client.recv_from(&mut buf).expect("an answer");
        assert_eq!(from, front, "answers come from the relay's port");
        let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
        let (source, body) = reply.split_once(' ').expect("source and body");
        assert_eq!(body, msg);
        source.to_string()
    }

    #[test]
    fn udp_sessions_are_per_client_and_end_when_idle() {
        // Entering a namespace, even our own, needs CAP_SYS_ADMIN.
        let netns = Netns::current("test").expect("this thread's namespace opens");
        let echo = UdpSocket::bind("127.0.0.1:0").expect("echo socket");
        let to = echo.local_addr().expect("address");
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            while let Ok((n, from)) = echo.recv_from(&mut buf) {
                let mut reply = format!("{from} ").into_bytes();
                reply.extend_from_slice(&buf[..n]);
                let _ = echo.send_to(&reply, from);
            }
        });
        let front = UdpSocket::bind("127.0.0.1:0").expect("relay socket");
        let front_addr = front.local_addr().expect("address");
        let idle = Duration::from_millis(300);
        std::thread::spawn(move || udp_relay(&front, &netns, to, idle));
        let client = || {
            let c = UdpSocket::bind("127.0.0.1:0").expect("client socket");
            c.set_read_timeout(Some(Duration::from_secs(3)))
                .expect("timeout");
            c
        };
        let (a, b) = (client(), client());
        let first = ask(&a, front_addr, "a1");
        assert_eq!(ask(&a, front_addr, "a2"), first, "one session per client");
        assert_ne!(
            ask(&b, front_addr, "b1"),
            first,
            "a session for each client"
        );
        // Traffic within the idle time keeps the session.
        std::thread::sleep(idle / 2);
        assert_eq!(ask(&a, front_addr, "a3"), first);
        std::thread::sleep(idle * 3);
        assert_ne!(
            ask(&a, front_addr, "a4"),
            first,
            "an idle session ends; the next datagram opens a new one"
        );
    }
}
