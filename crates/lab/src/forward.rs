//! Forwards: host TCP ports relayed to ports inside nodes by user-space
//! threads of the supervisor. The listener is bound in the supervisor's
//! namespace (the host's) on 127.0.0.1; each connection is relayed over a
//! socket opened inside the node's namespace to the node's own address, so
//! no NAT rule or route to the lab is needed. The threads end with the
//! supervisor.

use crate::apply::Built;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;
use warren_kernel::Netns;
use warren_topology::Lab;
use warren_topology::model::Forward;
use warren_topology::plan::Ns;

/// How long a relayed connection may take to open inside the node.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A forward could not start.
#[derive(Debug, thiserror::Error)]
#[error("forwarding 127.0.0.1:{host} to {node} port {port}")]
pub struct ForwardError {
    /// The host port.
    pub host: u16,
    /// The node.
    pub node: String,
    /// The node's port.
    pub port: u16,
    /// The cause.
    #[source]
    pub source: io::Error,
}

/// Starts every forward of `lab`: binds its host port now (so a port in use
/// fails bring-up) and relays connections on a thread of its own.
pub fn start(lab: &Lab, built: &Built) -> Result<(), ForwardError> {
    for f in &lab.forwards {
        let fail = |source| ForwardError {
            host: f.host,
            node: f.node.clone(),
            port: f.port,
            source,
        };
        let netns = built
            .netns(&Ns::Node(f.node.clone()))
            .ok_or_else(|| fail(io::Error::other("the node has no namespace")))?
            .try_clone()
            .map_err(|e| fail(io::Error::other(e)))?;
        let listener = TcpListener::bind(("127.0.0.1", f.host)).map_err(fail)?;
        let f = f.clone();
        std::thread::Builder::new()
            .name(format!("forward-{}", f.host))
            .spawn(move || accept(&listener, &netns, &f))
            .map_err(fail)?;
    }
    Ok(())
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
