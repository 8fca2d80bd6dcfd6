//! Captures of a running lab: every link and network the lab file captures,
//! from the moment its interfaces exist until teardown, into
//! `<results>/capture/<link-or-network>.pcapng`; live streams on request.
//!
//! A link is captured at one end (both directions, so each frame is
//! recorded once); a network at each hub-side bridge port, ingress only,
//! so each frame is recorded once, at the member that sent it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use warren_capture::{
    Capture, CaptureError, CaptureOptions, Job, PointSpec, RingConfig, Sink, Subscription,
};
use warren_kernel::Netns;
use warren_topology::Lab;
use warren_topology::model::{Link, Network};
use warren_topology::plan::{Ns, hub_port_name};

/// Capture options of `lab`: the capture crate's small default ring (1 MiB
/// per point, so a lab that captures every link by default stays cheap), or
/// the ring size the lab file sets (`capture: {buffer: ...}`).
fn lab_options(lab: &Lab) -> CaptureOptions {
    let ring = lab
        .capture_buffer
        .and_then(RingConfig::for_buffer)
        .unwrap_or_default();
    CaptureOptions {
        ring,
        ..CaptureOptions::default()
    }
}

/// One running capture.
#[derive(Debug)]
struct Running {
    name: String,
    file: Option<PathBuf>,
    capture: Capture,
}

/// Every capture of a lab.
#[derive(Debug, Default)]
pub struct Captures {
    running: Vec<Running>,
}

/// Counters of one capture, as `inspect` shows them.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CaptureInfo {
    /// Link or network name.
    pub name: String,
    /// The pcapng file.
    pub file: Option<String>,
    /// Frames written.
    pub captured: u64,
    /// Frames the kernel dropped.
    pub dropped: u64,
}

/// The capture points of the link or network called `name` (a link may
/// also be named by either endpoint).
fn points<'a>(
    lab: &Lab,
    name: &str,
    ns: &'a dyn Fn(&Ns) -> Option<&'a Netns>,
) -> Option<(String, Vec<PointSpec<'a>>)> {
    if let Some(l) = lab
        .links
        .iter()
        .find(|l| l.name == name || l.endpoints.iter().any(|e| e.value.is(name)))
    {
        return link_points(l, ns);
    }
    let (ni, net) = lab
        .networks
        .iter()
        .enumerate()
        .find(|(_, n)| n.name.value == name)?;
    network_points(ni, net, ns)
}

/// A link's one capture point: the first end with a namespace (a vm's NIC
/// is the tap at its peer).
fn link_points<'a>(
    l: &Link,
    ns: &'a dyn Fn(&Ns) -> Option<&'a Netns>,
) -> Option<(String, Vec<PointSpec<'a>>)> {
    let (a, netns) = l
        .endpoints
        .iter()
        .find_map(|e| ns(&Ns::Node(e.value.node.clone())).map(|n| (&e.value, n)))?;
    Some((
        l.name.clone(),
        vec![PointSpec::link_end(netns, a.iface.clone(), a.to_string())],
    ))
}

/// The capture points of network number `ni`: every hub-side port.
fn network_points<'a>(
    ni: usize,
    net: &Network,
    ns: &'a dyn Fn(&Ns) -> Option<&'a Netns>,
) -> Option<(String, Vec<PointSpec<'a>>)> {
    let hub = ns(&Ns::Hub)?;
    let pts = net
        .members
        .iter()
        .enumerate()
        .map(|(mi, m)| PointSpec::bridge_port(hub, hub_port_name(ni, mi), m.value.to_string()))
        .collect();
    Some((net.name.value.clone(), pts))
}

impl Captures {
    /// Starts a capture of each link and network of `names` (those the
    /// lab captures, see [`crate::steps::captured`]).
    pub fn start(
        lab: &Lab,
        names: &[String],
        namespaces: &[(Ns, &Netns)],
        results: &Path,
    ) -> Result<Captures, CaptureError> {
        // Links and networks by name, and the namespaces, in maps: finding
        // each by a walk was quadratic in large labs.
        let by_ns: HashMap<&Ns, &Netns> = namespaces.iter().map(|(k, fd)| (k, *fd)).collect();
        let ns = |n: &Ns| by_ns.get(n).copied();
        let links: HashMap<&str, &Link> = lab.links.iter().map(|l| (l.name.as_str(), l)).collect();
        let networks: HashMap<&str, (usize, &Network)> = lab
            .networks
            .iter()
            .enumerate()
            .map(|(ni, n)| (n.name.value.as_str(), (ni, n)))
            .collect();
        let mut files: Vec<(String, Option<PathBuf>)> = Vec::new();
        let jobs: Vec<Job<'_>> = names
            .iter()
            .filter_map(|name| match links.get(name.as_str()) {
                Some(l) => link_points(l, &ns),
                None => {
                    let (ni, net) = networks.get(name.as_str())?;
                    network_points(*ni, net, &ns)
                }
            })
            .map(|(name, points)| {
                let file = results.join("capture").join(format!("{name}.pcapng"));
                files.push((name.clone(), Some(file.clone())));
                Job {
                    name,
                    points,
                    sink: Sink::File(file),
                }
            })
            .collect();
        // One pool of threads serves them all: a poll thread and a writer
        // per capture made a 1000-link chain create 2000 threads.
        let captures = Capture::start_all(jobs, &lab_options(lab))?;
        Ok(Captures {
            running: files
                .into_iter()
                .zip(captures)
                .map(|((name, file), capture)| Running {
                    name,
                    file,
                    capture,
                })
                .collect(),
        })
    }

    /// A live pcapng stream of the link or network `name`. A link whose
    /// file capture is off gets a capture of its own for the stream, which
    /// ends when the returned guard is dropped.
    pub fn stream(
        &mut self,
        lab: &Lab,
        namespaces: &[(Ns, &Netns)],
        name: &str,
    ) -> Result<Option<(Subscription, Option<Capture>)>, CaptureError> {
        let ns = |n: &Ns| namespaces.iter().find(|(k, _)| k == n).map(|(_, fd)| *fd);
        let Some((canonical, pts)) = points(lab, name, &ns) else {
            return Ok(None);
        };
        if let Some(r) = self.running.iter().find(|r| r.name == canonical) {
            return Ok(Some((r.capture.subscribe()?, None)));
        }
        let capture = Capture::start(
            &canonical,
            &pts,
            Box::new(std::io::sink()),
            &lab_options(lab),
        )?;
        let sub = capture.subscribe()?;
        Ok(Some((sub, Some(capture))))
    }

    /// Adds member `member` of network number `ni` of `lab` (a replica
    /// that scaling added, its hub-side port `hub_port_name(ni, mi)` up)
    /// to the network's running capture, if the network is captured.
    pub fn add_member(
        &self,
        lab: &Lab,
        (ni, mi): (usize, usize),
        member: &str,
        hub: &Netns,
    ) -> Result<(), CaptureError> {
        let Some(net) = lab.networks.get(ni) else {
            return Ok(());
        };
        // A capture that ended early (its file failed) has no points to add;
        // `inspect` and teardown report it.
        let Some(r) = self
            .running
            .iter()
            .find(|r| r.name == net.name.value && !r.capture.is_finished())
        else {
            return Ok(());
        };
        let point = PointSpec::bridge_port(hub, hub_port_name(ni, mi), member);
        r.capture.add_point(&point, &lab_options(lab))
    }

    /// Closes the capture point of `member` in `network`'s capture (a
    /// replica that scaling removes, stopped but still plugged in): its
    /// last frames and statistics are written, and the capture goes on
    /// with the other members.
    pub fn remove_member(&self, network: &str, member: &str) -> Result<(), CaptureError> {
        match self
            .running
            .iter()
            .find(|r| r.name == network && !r.capture.is_finished())
        {
            Some(r) => r.capture.close_point(member),
            None => Ok(()),
        }
    }

    /// Counters of every capture.
    pub fn info(&self) -> Vec<CaptureInfo> {
        self.running
            .iter()
            .map(|r| {
                let s = r.capture.stats();
                CaptureInfo {
                    name: r.name.clone(),
                    file: r.file.as_ref().map(|f| f.display().to_string()),
                    captured: s.captured(),
                    dropped: s.dropped(),
                }
            })
            .collect()
    }

    /// Asks every capture to stop without waiting: each thread collects
    /// what its rings still retire, closes them and writes its statistics
    /// blocks while the caller goes on.
    pub fn request_stop(&self) {
        for r in &self.running {
            r.capture.request_stop();
        }
    }

    /// Stops every capture, writing statistics blocks, and returns the final counters.
    /// Every capture is asked to stop before any is waited for, so their
    /// final waits for partly filled ring blocks overlap.
    pub fn stop(&mut self) -> Vec<CaptureInfo> {
        let (names, captures): (Vec<_>, Vec<_>) = self
            .running
            .drain(..)
            .map(|r| ((r.name, r.file), r.capture))
            .unzip();
        // Stopped together: their rings close at once, not one grace
        // period after another.
        names
            .into_iter()
            .zip(Capture::stop_all(captures))
            .map(|((name, file), stats)| {
                let (captured, dropped) = match stats {
                    Ok(s) => (s.captured(), s.dropped()),
                    Err(_) => (0, 0),
                };
                CaptureInfo {
                    name,
                    file: file.as_ref().map(|f| f.display().to_string()),
                    captured,
                    dropped,
                }
            })
            .collect()
    }
}
