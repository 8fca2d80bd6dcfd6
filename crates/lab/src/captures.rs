//! Captures of a running lab: every link and network the lab file captures,
//! from the moment its interfaces exist until teardown, into
//! `<results>/capture/<link-or-network>.pcapng`; live streams on request.
//!
//! A link is captured at one end (both directions, so each frame is
//! recorded once); a network at each hub-side bridge port, ingress only,
//! so each frame is recorded once, at the member that sent it.

use std::path::{Path, PathBuf};
use warren_capture::{Capture, CaptureError, CaptureOptions, PointSpec, RingConfig, Subscription};
use warren_kernel::Netns;
use warren_topology::Lab;
use warren_topology::plan::{Ns, hub_port_name};

/// Ring memory per capture point in a lab: 8 blocks of 2 MiB. Labs capture
/// many points at once, so this trades a little burst headroom against
/// kernel memory.
fn lab_options() -> CaptureOptions {
    CaptureOptions {
        ring: RingConfig {
            block_size: 2 << 20,
            block_count: 8,
            ..RingConfig::default()
        },
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
        .find(|l| l.name == name || l.endpoints.iter().any(|e| e.value.to_string() == name))
    {
        // The first end with a namespace: a vm's NIC is the tap at its peer.
        let (a, netns) = l
            .endpoints
            .iter()
            .find_map(|e| ns(&Ns::Node(e.value.node.clone())).map(|n| (&e.value, n)))?;
        return Some((
            l.name.clone(),
            vec![PointSpec::link_end(netns, a.iface.clone(), a.to_string())],
        ));
    }
    let (ni, net) = lab
        .networks
        .iter()
        .enumerate()
        .find(|(_, n)| n.name.value == name)?;
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
        let ns = |n: &Ns| namespaces.iter().find(|(k, _)| k == n).map(|(_, fd)| *fd);
        let mut out = Captures::default();
        for name in names {
            let Some((name, pts)) = points(lab, name, &ns) else {
                continue;
            };
            let file = results.join("capture").join(format!("{name}.pcapng"));
            let capture = Capture::start_file(&name, &pts, &file, &lab_options())?;
            out.running.push(Running {
                name,
                file: Some(file),
                capture,
            });
        }
        Ok(out)
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
        let capture = Capture::start(&canonical, &pts, Box::new(std::io::sink()), &lab_options())?;
        let sub = capture.subscribe()?;
        Ok(Some((sub, Some(capture))))
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

    /// Stops every capture, writing statistics blocks, and returns the final counters.
    pub fn stop(&mut self) -> Vec<CaptureInfo> {
        self.running
            .drain(..)
            .map(|r| {
                let file = r.file.as_ref().map(|f| f.display().to_string());
                let (captured, dropped) = match r.capture.stop() {
                    Ok(s) => (s.captured(), s.dropped()),
                    Err(_) => (0, 0),
                };
                CaptureInfo {
                    name: r.name,
                    file,
                    captured,
                    dropped,
                }
            })
            .collect()
    }
}
