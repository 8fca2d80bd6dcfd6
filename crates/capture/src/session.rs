//! A running capture: the rings of all its capture points, read into one
//! pcapng section.
//!
//! Owns the points, live subscribers and counters; a poll thread of its
//! pool (`pool.rs`) reads its rings and the pool's writer thread
//! writes its output. The rings are opened (inside their namespaces)
//! before the capture is served, so every error about a missing interface
//! comes back from [`Capture::start`] and [`Capture::start_all`].
//!
//! # Capture points and the exactly-once rule
//!
//! A [`PointSpec`] names the kernel interface to open (namespace and
//! `ifname`), the name written in the IDB (`r1:eth1`) and how to read
//! directions ([`View`]):
//!
//! - a point-to-point link is captured on ONE of its veth ends, both
//!   directions, with [`View::Local`]: frames that end sends are
//!   `Outbound`, frames it receives `Inbound`;
//! - a bridged network is captured on every hub-side port with
//!   [`PointSpec::ingress_only`] and [`View::Peer`]: only frames entering
//!   the bridge are kept (`PACKET_IGNORE_OUTGOING`), so a frame crossing the
//!   bridge is recorded once, at the port it came in by, and is labelled
//!   `Outbound` on the member's interface (`r1:eth1`) that sent it.
//!
//! # Rings
//!
//! Points in one namespace that all keep ingress only (a network's ports)
//! share ONE ring, filtered to their interfaces and told apart by the
//! index of the interface each frame was seen on ([`Route::ByIfindex`]);
//! each frame still enters the ring once, at its port. Measured on a
//! 500-member network: a ring per port made capture cost 500 MiB and
//! 1.3 s of `up` (the kernel zeroes every ring page and waits for an RCU
//! grace period per ring); the shared ring costs one ring. The kernel
//! counts drops per ring, so a shared ring's drops are reported on its
//! first point. Other points (a link's one end) get a ring each.
//!
//! A running capture gains and loses points as its network is scaled
//! ([`Capture::add_point`], [`Capture::close_point`]): a joining port goes
//! into its namespace's shared ring's filter, a leaving one out of it,
//! and its statistics block is written once its last frames are in.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use warren_kernel::Netns;

use crate::pcapng::{
    Direction, EpbFlags, InterfaceDesc, InterfaceStats, Reception, encode_epb_parts, encode_idb,
    encode_isb, encode_shb,
};
use crate::pool::{Epoll, Output, Pool, SendError};
use crate::ring::{Frame, MAX_SHARED, PacketType, Ring, RingConfig, RingError};
use crate::wake::Wake;
use std::os::fd::{AsFd, AsRawFd};

/// Application name written in the section header.
pub const APPLICATION: &str = concat!("warren ", env!("CARGO_PKG_VERSION"));

/// Errors from starting, running or stopping a capture.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// Opening a capture point failed.
    #[error("opening capture point {point} of capture {capture}")]
    Open {
        /// Capture name (file stem).
        capture: String,
        /// IDB name of the point.
        point: String,
        /// The ring error.
        #[source]
        source: Box<RingError>,
    },
    /// Creating the output file failed.
    #[error("creating capture file {path}")]
    Create {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Writing the output failed (the capture thread stopped).
    #[error("writing capture {capture}")]
    Write {
        /// Capture name.
        capture: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Polling or reading the rings failed (the capture thread stopped).
    #[error("reading the rings of capture {capture}")]
    Poll {
        /// Capture name.
        capture: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The capture thread could not be spawned.
    #[error("spawning the thread of capture {capture}")]
    Thread {
        /// Capture name.
        capture: String,
        /// The spawn error.
        #[source]
        source: io::Error,
    },
    /// The capture thread panicked.
    #[error("the thread of capture {capture} panicked")]
    Panicked {
        /// Capture name.
        capture: String,
    },
    /// The capture has already stopped.
    #[error("capture {capture} has stopped")]
    Stopped {
        /// Capture name.
        capture: String,
    },
    /// A capture needs at least one point.
    #[error("capture {capture} has no capture points")]
    NoPoints {
        /// Capture name.
        capture: String,
    },
    /// No open point of the capture has that name.
    #[error("capture {capture} has no open capture point {point}")]
    NoSuchPoint {
        /// Capture name.
        capture: String,
        /// The IDB name asked for.
        point: String,
    },
}

/// How directions seen on the captured kernel interface map to the named
/// interface in the IDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The captured interface IS the named one: sent = outbound.
    Local,
    /// The captured interface is the veth peer of the named one (a hub-side
    /// bridge port): what the port receives, the named interface sent.
    Peer,
}

/// One interface to capture.
#[derive(Debug, Clone)]
pub struct PointSpec<'a> {
    /// Namespace of the captured interface.
    pub netns: &'a Netns,
    /// Kernel name of the captured interface in that namespace.
    pub ifname: String,
    /// Name written in the IDB, e.g. `r1:eth1`.
    pub name: String,
    /// Direction mapping.
    pub view: View,
    /// Keep only frames entering through this interface.
    pub ingress_only: bool,
}

impl<'a> PointSpec<'a> {
    /// A veth end of a point-to-point link, both directions: `ifname` in
    /// `netns`, recorded as `name`.
    pub fn link_end(netns: &'a Netns, ifname: impl Into<String>, name: impl Into<String>) -> Self {
        PointSpec {
            netns,
            ifname: ifname.into(),
            name: name.into(),
            view: View::Local,
            ingress_only: false,
        }
    }

    /// A hub-side bridge port whose peer is the member interface `name`:
    /// only frames entering the bridge, labelled from the member's side.
    pub fn bridge_port(hub: &'a Netns, port: impl Into<String>, member: impl Into<String>) -> Self {
        PointSpec {
            netns: hub,
            ifname: port.into(),
            name: member.into(),
            view: View::Peer,
            ingress_only: true,
        }
    }
}

/// Options of a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureOptions {
    /// Ring geometry per capture point (`ignore_outgoing` is set per point).
    pub ring: RingConfig,
    /// Bytes kept per frame.
    pub snaplen: u32,
    /// Chunks of pcapng each live subscriber may lag behind before it
    /// loses data.
    pub subscriber_queue: usize,
    /// Chunks (each at most about one ring block) queued for the file
    /// writer thread, absorbing disk stalls; when full, the ring thread
    /// waits and the kernel counts drops.
    pub write_queue: usize,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            ring: RingConfig::default(),
            snaplen: 262_144,
            subscriber_queue: 256,
            write_queue: 64,
        }
    }
}

/// Live counters of one capture point.
#[derive(Debug, Default)]
struct Counters {
    captured: AtomicU64,
    bytes: AtomicU64,
    kernel_packets: AtomicU64,
    dropped: AtomicU64,
    freezes: AtomicU64,
}

/// Counters of one capture point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointStats {
    /// IDB name (`r1:eth1`).
    pub name: String,
    /// Frames written.
    pub captured: u64,
    /// Bytes of frame data written.
    pub bytes: u64,
    /// Frames the kernel offered the ring (written + dropped).
    pub received: u64,
    /// Frames the kernel dropped (ring full).
    pub dropped: u64,
}

/// Counters of a capture, per point in IDB order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureStats {
    /// Capture name.
    pub name: String,
    /// One entry per capture point.
    pub points: Vec<PointStats>,
    /// Times the capture thread found the file writer's queue full and
    /// waited (the output is slower than the traffic; drops follow).
    pub write_waits: u64,
}

impl CaptureStats {
    /// Frames written over all points.
    pub fn captured(&self) -> u64 {
        self.points.iter().map(|p| p.captured).sum()
    }

    /// Frames dropped over all points.
    pub fn dropped(&self) -> u64 {
        self.points.iter().map(|p| p.dropped).sum()
    }
}

/// A piece of a pcapng stream: whole blocks, shared between the file
/// writer and live subscribers.
pub type Chunk = Arc<Vec<u8>>;

/// A live copy of a capture's pcapng stream: the section header and IDBs,
/// then every block of packets from the moment of subscribing.
#[derive(Debug)]
pub struct Subscription {
    rx: Receiver<Chunk>,
    lost: Arc<AtomicU64>,
}

impl Subscription {
    /// The next chunk of pcapng bytes; `None` once the capture stopped.
    pub fn recv(&self) -> Option<Chunk> {
        self.rx.recv().ok()
    }

    /// Like [`Subscription::recv`] with a timeout: `Ok(None)` on timeout,
    /// `Err(StreamEnded)` once the capture stopped.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Chunk>, StreamEnded> {
        match self.rx.recv_timeout(timeout) {
            Ok(c) => Ok(Some(c)),
            Err(mpsc::RecvTimeoutError::Timeout) => Ok(None),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(StreamEnded),
        }
    }

    /// Copies the stream to `out` (flushing after each chunk) until the
    /// capture stops or `out` fails (e.g. a closed pipe).
    pub fn copy_to(&self, out: &mut impl Write) -> io::Result<()> {
        while let Some(chunk) = self.recv() {
            out.write_all(&chunk[..])?;
            out.flush()?;
        }
        Ok(())
    }

    /// Chunks of packets lost because this subscriber fell behind.
    pub fn lost_chunks(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }
}

/// The capture has stopped; no more data will come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the capture has stopped")]
pub struct StreamEnded;

/// A change to a running capture's points, done by its thread.
enum Change {
    /// A point more (a member that joined), at IDB index `point`: its
    /// IDB, counters and where its frames come from. `done` is told
    /// whether the point was taken on.
    Add {
        point: usize,
        view: View,
        idb: Vec<u8>,
        counters: Arc<Counters>,
        source: Source,
        done: mpsc::Sender<bool>,
    },
    /// Closes the open point at this IDB index once the frames the kernel
    /// still holds for it are in, writing its ISB; `done` is told then.
    Close {
        point: usize,
        done: mpsc::Sender<()>,
    },
}

/// Where the frames of an added point come from.
enum Source {
    /// A port joining the shared ring of its namespace, if the capture
    /// has one: its index goes into the ring's filter. Refused (`false`)
    /// when there is none or it is full.
    Join { netns: NetnsId, ifindex: u32 },
    /// A ring of its own, opened by the caller inside its namespace.
    Own(Ring, Route),
}

/// Identifies a network namespace (device and inode of its nsfs file),
/// so a joining port finds the ring shared by its namespace's ports.
type NetnsId = (u64, u64);

/// The [`NetnsId`] of `netns`; `None` if it cannot be read, and then the
/// ring is not joined by later ports (they get one of their own).
fn netns_id(netns: &Netns) -> Option<NetnsId> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(format!("/proc/self/fd/{}", netns.raw_fd())).ok()?;
    Some((m.dev(), m.ino()))
}

/// A point as the capture's owner sees it.
#[derive(Debug)]
struct PointEntry {
    name: String,
    counters: Arc<Counters>,
    /// False once [`Capture::close_point`] closed it.
    open: bool,
}

struct Subscriber {
    tx: SyncSender<Chunk>,
    lost: Arc<AtomicU64>,
    /// Told once the worker has taken the subscriber on.
    ack: mpsc::Sender<()>,
}

/// A running capture writing one pcapng section.
#[derive(Debug)]
pub struct Capture {
    name: String,
    /// Every point ever opened, in IDB order. Held while a change is
    /// sent, so the capture thread sees points added in the same order.
    points: Mutex<Vec<PointEntry>>,
    write_waits: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    /// `None` if the capture could not be served (it ended at once).
    wake: Option<Arc<Wake>>,
    subscribe_tx: Mutex<mpsc::Sender<Subscriber>>,
    change_tx: Mutex<mpsc::Sender<Change>>,
    queue: usize,
    /// Set by the worker once it has ended.
    ended: Arc<AtomicBool>,
    /// The worker's hand-back; taken when the capture is stopped.
    done: Option<Receiver<Finished>>,
    /// The threads serving this capture, alive while it is.
    _pool: Arc<Pool>,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber").finish_non_exhaustive()
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Where a capture's pcapng stream goes.
pub enum Sink {
    /// A file. Its directory is made when the capture starts, the file
    /// itself by the writer thread before the first bytes: creating 1000
    /// files took 0.5 s on the development machine's ext4, half of what a
    /// 1000-link chain's captures added to `up` once the rings were cheap.
    /// The frames wait in the ring and the writer's queue meanwhile; a file
    /// that cannot be created ends the capture with [`CaptureError::Create`].
    File(PathBuf),
    /// Any writer: a live stream, a test's buffer.
    Writer(Box<dyn Write + Send>),
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sink::File(p) => f.debug_tuple("File").field(p).finish(),
            Sink::Writer(_) => f.write_str("Writer(..)"),
        }
    }
}

/// One capture for [`Capture::start_all`].
#[derive(Debug)]
pub struct Job<'a> {
    /// The capture's name (the link or network name).
    pub name: String,
    /// Its capture points, in IDB order.
    pub points: Vec<PointSpec<'a>>,
    /// Where its stream goes.
    pub sink: Sink,
}

/// What a capture's worker hands back when it ends: how it went, its
/// rings (closed by the caller, many at once) and the writer's verdict.
struct Finished {
    result: Result<(), CaptureError>,
    rings: Vec<Ring>,
    written: Receiver<Result<(), CaptureError>>,
}

impl Finished {
    /// The capture's verdict once its output is written: a write error
    /// explains a failed send, so it comes first.
    fn conclude(self, capture: &str) -> Result<(), CaptureError> {
        let written = self.written.recv().unwrap_or_else(|_gone| {
            Err(CaptureError::Panicked {
                capture: capture.to_owned(),
            })
        });
        written.and(self.result)
    }
}

impl Capture {
    /// Opens every point's ring (inside its namespace), creates `path`
    /// (parents too) and starts the capture on a poll thread and a writer
    /// thread of its own. `name` names the capture in errors and stats
    /// (the link or network name).
    pub fn start_file(
        name: &str,
        points: &[PointSpec<'_>],
        path: &Path,
        opts: &CaptureOptions,
    ) -> Result<Capture, CaptureError> {
        Capture::start_one(name, points, Sink::File(path.to_owned()), opts)
    }

    /// Like [`Capture::start_file`] with any sink.
    pub fn start(
        name: &str,
        points: &[PointSpec<'_>],
        out: Box<dyn Write + Send>,
        opts: &CaptureOptions,
    ) -> Result<Capture, CaptureError> {
        Capture::start_one(name, points, Sink::Writer(out), opts)
    }

    fn start_one(
        name: &str,
        points: &[PointSpec<'_>],
        sink: Sink,
        opts: &CaptureOptions,
    ) -> Result<Capture, CaptureError> {
        let job = Job {
            name: name.to_owned(),
            points: points.to_vec(),
            sink,
        };
        let mut started = Capture::start_all(vec![job], opts)?;
        started.pop().ok_or_else(|| CaptureError::NoPoints {
            capture: name.to_owned(),
        })
    }

    /// Starts one capture per job, all served by one pool of threads: up
    /// to [`MAX_POLLERS`] poll threads (each waits on the rings of many
    /// captures with one epoll set) and one writer thread for all their
    /// outputs. The rings open on many threads at once, so the kernel's
    /// per-ring setup waits overlap; the writer thread creates the files
    /// ([`Sink::File`]). Captures come back in job order. On the first
    /// error nothing is left running and no file is created.
    pub fn start_all(
        jobs: Vec<Job<'_>>,
        opts: &CaptureOptions,
    ) -> Result<Vec<Capture>, CaptureError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(j) = jobs.iter().find(|j| j.points.is_empty()) {
            return Err(CaptureError::NoPoints {
                capture: j.name.clone(),
            });
        }
        let (specs, sinks): (Vec<(String, Vec<PointSpec<'_>>)>, Vec<Sink>) = jobs
            .into_iter()
            .map(|j| ((j.name, j.points), j.sink))
            .unzip();
        let openings: Vec<(usize, Opening<'_, '_>)> = specs
            .iter()
            .enumerate()
            .flat_map(|(j, (_, points))| openings(points, opts).into_iter().map(move |o| (j, o)))
            .collect();
        // A directory that cannot be made fails the start; the files in it
        // are created by the writer thread (see `Sink::File`).
        let dirs: std::collections::BTreeSet<&Path> = sinks
            .iter()
            .filter_map(|s| match s {
                Sink::File(path) => path.parent().filter(|d| !d.as_os_str().is_empty()),
                Sink::Writer(_) => None,
            })
            .collect();
        for dir in dirs {
            std::fs::create_dir_all(dir).map_err(|source| CaptureError::Create {
                path: dir.to_owned(),
                source,
            })?;
        }
        let opened = open_all(&openings);
        let mut rings: Vec<Vec<(Ring, Route)>> = specs.iter().map(|_| Vec::new()).collect();
        let mut first_err = None;
        for ((j, o), r) in openings.iter().zip(opened) {
            match r {
                Ok(ring) => rings[*j].push(ring),
                Err(source) => {
                    first_err.get_or_insert(CaptureError::Open {
                        capture: specs[*j].0.clone(),
                        point: o.first_point().name.clone(),
                        source: Box::new(source),
                    });
                }
            }
        }
        let pollers = if specs.len() == 1 {
            1
        } else {
            std::thread::available_parallelism()
                .map_or(1, usize::from)
                .clamp(1, MAX_POLLERS)
                .min(specs.len())
        };
        let label = match &specs[..] {
            [(name, _)] => name.as_str(),
            _ => "all",
        };
        let queue = opts.write_queue.max(1) * specs.len().min(16);
        let pool = match first_err {
            Some(e) => Err(e),
            None => Pool::start(label, pollers, queue).map_err(|source| CaptureError::Thread {
                capture: label.to_owned(),
                source,
            }),
        };
        let pool = match pool {
            Ok(p) => Arc::new(p),
            Err(e) => {
                close_rings(rings.into_iter().flatten().map(|(r, _)| r).collect());
                return Err(e);
            }
        };
        Ok(specs
            .into_iter()
            .zip(rings)
            .zip(sinks)
            .map(|(((name, points), rings), sink)| {
                Capture::spawn(&pool, &name, &points, rings, sink, opts)
            })
            .collect())
    }

    /// Stops every capture of `captures` (asking all before waiting for
    /// any, so their final waits overlap, and closing all their rings at
    /// once), returning each one's final counters in order.
    pub fn stop_all(mut captures: Vec<Capture>) -> Vec<Result<CaptureStats, CaptureError>> {
        for c in &captures {
            c.request_stop();
        }
        let mut rings = Vec::new();
        let finished: Vec<Option<Result<Finished, CaptureError>>> = captures
            .iter_mut()
            .map(|c| {
                let done = c.done.take()?;
                Some(match done.recv() {
                    Ok(mut f) => {
                        rings.append(&mut f.rings);
                        Ok(f)
                    }
                    Err(_gone) => Err(CaptureError::Panicked {
                        capture: c.name.clone(),
                    }),
                })
            })
            .collect();
        close_rings(rings);
        captures
            .iter()
            .zip(finished)
            .map(|(c, f)| {
                match f {
                    None => Ok(()),
                    Some(f) => f.and_then(|f| f.conclude(&c.name)),
                }
                .map(|()| c.stats())
            })
            .collect()
    }

    /// A capture of `points` whose rings are open, served by `pool`.
    fn spawn(
        pool: &Arc<Pool>,
        name: &str,
        points: &[PointSpec<'_>],
        rings: Vec<(Ring, Route)>,
        sink: Sink,
        opts: &CaptureOptions,
    ) -> Capture {
        let mut header = Vec::new();
        encode_shb(&mut header, APPLICATION);
        for p in points {
            encode_idb(&mut header, &interface_desc(p, opts));
        }
        let counters: Vec<Arc<Counters>> = points.iter().map(|_| Arc::default()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let ended = Arc::new(AtomicBool::new(false));
        let write_waits = Arc::new(AtomicU64::new(0));
        let (subscribe_tx, subscribe_rx) = mpsc::channel();
        let (change_tx, change_rx) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        let (rings, routes) = rings.into_iter().unzip();
        // An eventfd failing (fd limit) leaves the capture to end at once.
        let wake = Wake::new().map(Arc::new);
        let mut capture = Capture {
            name: name.to_owned(),
            points: Mutex::new(
                points
                    .iter()
                    .zip(&counters)
                    .map(|(p, counters)| PointEntry {
                        name: p.name.clone(),
                        counters: Arc::clone(counters),
                        open: true,
                    })
                    .collect(),
            ),
            write_waits: Arc::clone(&write_waits),
            stop: Arc::clone(&stop),
            wake: wake.as_ref().ok().map(Arc::clone),
            subscribe_tx: Mutex::new(subscribe_tx),
            change_tx: Mutex::new(change_tx),
            queue: opts.subscriber_queue.max(1),
            ended: Arc::clone(&ended),
            done: Some(done),
            _pool: Arc::clone(pool),
        };
        let worker = Box::new(Worker {
            name: name.to_owned(),
            key: 0,
            rings,
            routes,
            views: points.iter().map(|p| p.view).collect(),
            counters,
            change_rx,
            closing: Vec::new(),
            write_waits,
            stop,
            wake: wake.as_ref().ok().map(Arc::clone),
            subscribe_rx,
            subscribers: Vec::new(),
            output: Some(pool.output(name, sink)),
            header: Arc::new(header),
            chunk_capacity: opts.ring.block_size as usize + 4096,
            snaplen: opts.snaplen as usize,
            retire: Duration::from_millis(u64::from(opts.ring.retire_ms)),
            start_ns: now_ns(),
            stop_at: None,
            stop_limit: None,
            last_stats: Instant::now(),
            error: wake.err().map(|source| CaptureError::Thread {
                capture: name.to_owned(),
                source,
            }),
            ended,
            done: done_tx,
        });
        if let Err(worker) = pool.serve(worker) {
            // No poll thread to serve it: it ends here and now.
            capture.wake = None;
            worker.end(None);
        }
        capture
    }

    /// Asks the capture thread to finish without waiting for it: it still
    /// collects the frames the kernel retires within the ring's timeout,
    /// then writes the statistics blocks. [`Capture::stop`] waits. Asking
    /// every capture of a lab first lets their waits overlap, so teardown
    /// costs one retire timeout, not one per capture.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
        if let Some(w) = &self.wake {
            w.wake();
        }
    }

    /// The capture's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True once the capture thread has ended: after [`Capture::stop`], or
    /// early on a write or poll error, which `stop` then returns.
    pub fn is_finished(&self) -> bool {
        self.done.is_none() || self.ended.load(Ordering::Acquire)
    }

    /// Current counters (drops are refreshed about once a second).
    pub fn stats(&self) -> CaptureStats {
        CaptureStats {
            name: self.name.clone(),
            points: self
                .points
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .map(
                    |PointEntry {
                         name: n,
                         counters: c,
                         ..
                     }| {
                        let captured = c.captured.load(Ordering::Relaxed);
                        let dropped = c.dropped.load(Ordering::Relaxed);
                        PointStats {
                            name: n.clone(),
                            captured,
                            bytes: c.bytes.load(Ordering::Relaxed),
                            received: c
                                .kernel_packets
                                .load(Ordering::Relaxed)
                                .max(captured + dropped),
                            dropped,
                        }
                    },
                )
                .collect(),
            write_waits: self.write_waits.load(Ordering::Relaxed),
        }
    }

    /// Starts a live copy of the stream (for `warren capture -w -`).
    ///
    /// Returns once the capture thread, woken for it, has taken the
    /// subscriber on: every frame the kernel sees after that is in the
    /// stream, unless the subscriber falls behind by more than
    /// [`CaptureOptions::subscriber_queue`] chunks.
    pub fn subscribe(&self) -> Result<Subscription, CaptureError> {
        let (tx, rx) = mpsc::sync_channel(self.queue);
        let (ack, acked) = mpsc::channel();
        let lost = Arc::new(AtomicU64::new(0));
        let sub = Subscriber {
            tx,
            lost: Arc::clone(&lost),
            ack,
        };
        let stopped = || CaptureError::Stopped {
            capture: self.name.clone(),
        };
        {
            let sender = self.subscribe_tx.lock().map_err(|_poisoned| stopped())?;
            sender.send(sub).map_err(|_closed| stopped())?;
        }
        if let Some(w) = &self.wake {
            w.wake();
        }
        acked.recv().map_err(|_closed| stopped())?;
        Ok(Subscription { rx, lost })
    }

    /// Adds a point to the running capture (a member that joined a
    /// network). A port of a namespace whose ports share a ring joins that
    /// ring: its interface index goes into the ring's filter. Any other
    /// point gets a ring of its own, opened here inside its namespace (a
    /// port's ring is a shared one, so later ports join it). Its IDB
    /// follows the blocks already written, so its frames are in the same
    /// section from now on; live subscribers get the IDB too.
    pub fn add_point(
        &self,
        point: &PointSpec<'_>,
        opts: &CaptureOptions,
    ) -> Result<(), CaptureError> {
        let opening = |source| CaptureError::Open {
            capture: self.name.clone(),
            point: point.name.clone(),
            source: Box::new(source),
        };
        // Held until the capture thread has the point, so IDB order and
        // the order of `points` are the same.
        let mut points = self.points.lock().map_err(|_poisoned| self.stopped())?;
        let index = points.len();
        let mut idb = Vec::new();
        encode_idb(&mut idb, &interface_desc(point, opts));
        let counters = Arc::<Counters>::default();
        let add = |source| {
            let (done, added) = mpsc::channel();
            let change = Change::Add {
                point: index,
                view: point.view,
                idb: idb.clone(),
                counters: Arc::clone(&counters),
                source,
                done,
            };
            self.send(change)?;
            added.recv().map_err(|_closed| self.stopped())
        };
        let netns = netns_id(point.netns).filter(|_| point.ingress_only);
        let joined = match netns {
            Some(netns) => {
                let ifindex = Ring::ifindex_in(point.netns, &point.ifname).map_err(opening)?;
                add(Source::Join { netns, ifindex })?
            }
            None => false,
        };
        if !joined {
            let ring = if point.ingress_only {
                // The first port of its namespace to join: a shared ring
                // with room for the ports that follow.
                let cfg = shared_ring(&opts.ring);
                let (ring, ifindexes) =
                    Ring::open_shared(point.netns, &[point.ifname.as_str()], &cfg)
                        .map_err(opening)?;
                let route = Route::ByIfindex {
                    points: ifindexes.into_iter().map(|i| (i, index)).collect(),
                    first: index,
                    netns,
                };
                (ring, route)
            } else {
                let cfg = RingConfig {
                    ignore_outgoing: false,
                    ..opts.ring
                };
                let ring = Ring::open(point.netns, &point.ifname, &cfg).map_err(opening)?;
                (ring, Route::One(index))
            };
            if !add(Source::Own(ring.0, ring.1))? {
                return Err(self.stopped());
            }
        }
        points.push(PointEntry {
            name: point.name.clone(),
            counters,
            open: true,
        });
        Ok(())
    }

    /// Closes the open point called `name` (a member that left its
    /// network) while the capture goes on: a port leaves its shared
    /// ring's filter (a point with its own ring keeps it until then), the
    /// frames the kernel already holds for it are written, then its ISB,
    /// and this returns. Call it before the interface goes away.
    pub fn close_point(&self, name: &str) -> Result<(), CaptureError> {
        let (done, closed) = mpsc::channel();
        {
            let mut points = self.points.lock().map_err(|_poisoned| self.stopped())?;
            let point = points
                .iter()
                .position(|p| p.open && p.name == name)
                .ok_or_else(|| CaptureError::NoSuchPoint {
                    capture: self.name.clone(),
                    point: name.to_owned(),
                })?;
            self.send(Change::Close { point, done })?;
            points[point].open = false;
        }
        closed.recv().map_err(|_closed| self.stopped())
    }

    /// Hands `change` to the capture thread and wakes it.
    fn send(&self, change: Change) -> Result<(), CaptureError> {
        self.change_tx
            .lock()
            .map_err(|_poisoned| self.stopped())?
            .send(change)
            .map_err(|_closed| self.stopped())?;
        if let Some(w) = &self.wake {
            w.wake();
        }
        Ok(())
    }

    fn stopped(&self) -> CaptureError {
        CaptureError::Stopped {
            capture: self.name.clone(),
        }
    }

    /// Stops the capture: drains what the kernel already queued, writes one
    /// ISB per point, flushes, and returns the final counters.
    pub fn stop(mut self) -> Result<CaptureStats, CaptureError> {
        self.finish()?;
        Ok(self.stats())
    }

    fn finish(&mut self) -> Result<(), CaptureError> {
        self.request_stop();
        let Some(done) = self.done.take() else {
            return Ok(());
        };
        match done.recv() {
            Ok(mut f) => {
                close_rings(std::mem::take(&mut f.rings));
                f.conclude(&self.name)
            }
            Err(_gone) => Err(CaptureError::Panicked {
                capture: self.name.clone(),
            }),
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        // Errors cannot be reported from drop; `stop` returns them.
        let _ = self.finish();
    }
}

/// The IDB of point `p`.
fn interface_desc(p: &PointSpec<'_>, opts: &CaptureOptions) -> InterfaceDesc {
    InterfaceDesc {
        description: Some(format!("{}:{}", p.netns.label(), p.ifname)),
        ..InterfaceDesc::ethernet(p.name.clone(), opts.snaplen)
    }
}

/// Which capture point (IDB) a ring's frames belong to.
#[derive(Debug)]
enum Route {
    /// All of them to this point.
    One(usize),
    /// By the interface each was seen on; the first point takes the
    /// ring's drop counts (the next one once it closes).
    ByIfindex {
        points: std::collections::HashMap<u32, usize>,
        first: usize,
        /// The ports' namespace, for ports that join ([`Source::Join`]).
        netns: Option<NetnsId>,
    },
}

impl Route {
    /// The point of a frame seen on `ifindex`; `None` for an interface the
    /// ring's filter should have kept out.
    fn point(&self, ifindex: u32) -> Option<usize> {
        match self {
            Route::One(i) => Some(*i),
            Route::ByIfindex { points, .. } => points.get(&ifindex).copied(),
        }
    }

    /// The point the ring's kernel counters are written to.
    fn counted_on(&self) -> usize {
        match self {
            Route::One(i) | Route::ByIfindex { first: i, .. } => *i,
        }
    }

    /// True when the ring's frames include point `i`'s.
    fn carries(&self, i: usize) -> bool {
        match self {
            Route::One(p) => *p == i,
            Route::ByIfindex { points, .. } => points.values().any(|p| *p == i),
        }
    }
}

/// The geometry of a ring shared by ingress-only ports: their traffic adds
/// up in one ring, so four points' worth of `ring`'s blocks (1 MiB with
/// the default ring).
fn shared_ring(ring: &RingConfig) -> RingConfig {
    RingConfig {
        ignore_outgoing: true,
        block_count: ring.block_count.saturating_mul(4),
        ..*ring
    }
}

/// True when `points` can share one ring: more than one, all in the same
/// namespace, all ingress only (so no frame is seen on two of them).
fn shareable(points: &[PointSpec<'_>]) -> bool {
    points.len() > 1
        && points.len() <= MAX_SHARED
        && points
            .iter()
            .all(|p| p.ingress_only && std::ptr::eq(p.netns, points[0].netns))
}

/// A ring to open for a capture.
enum Opening<'s, 'n> {
    /// A ring of its own for point number `point`.
    One {
        point: usize,
        spec: &'s PointSpec<'n>,
        cfg: RingConfig,
    },
    /// One ring for all of `specs`, ports of one namespace.
    Shared {
        specs: &'s [PointSpec<'n>],
        cfg: RingConfig,
    },
}

impl<'n> Opening<'_, 'n> {
    /// The point named in errors.
    fn first_point(&self) -> &PointSpec<'n> {
        match self {
            Opening::One { spec, .. } => spec,
            Opening::Shared { specs, .. } => &specs[0],
        }
    }

    /// Opens the ring; the calling thread must be one it may move into
    /// the ring's namespace.
    fn open_entering(&self) -> Result<(Ring, Route), RingError> {
        let netns = self.first_point().netns;
        let label = netns.label();
        warren_kernel::enter_netns(netns.as_fd()).map_err(|source| RingError::Netns {
            netns: label.to_owned(),
            ifname: self.first_point().ifname.clone(),
            source: warren_kernel::NetnsError::Enter {
                netns: label.to_owned(),
                source,
            },
        })?;
        match self {
            Opening::One { point, spec, cfg } => {
                Ring::open_here(label, &spec.ifname, cfg).map(|r| (r, Route::One(*point)))
            }
            Opening::Shared { specs, cfg } => {
                let ifnames: Vec<&str> = specs.iter().map(|p| p.ifname.as_str()).collect();
                let (ring, ifindexes) = Ring::open_shared_here(label, &ifnames, cfg)?;
                let route = Route::ByIfindex {
                    points: ifindexes.into_iter().zip(0..).collect(),
                    first: 0,
                    netns: netns_id(netns),
                };
                Ok((ring, route))
            }
        }
    }
}

/// The rings to open for `points`: one shared by all if they can share
/// one, else one each.
fn openings<'s, 'n>(points: &'s [PointSpec<'n>], opts: &CaptureOptions) -> Vec<Opening<'s, 'n>> {
    if shareable(points) {
        return vec![Opening::Shared {
            specs: points,
            cfg: shared_ring(&opts.ring),
        }];
    }
    points
        .iter()
        .enumerate()
        .map(|(point, spec)| Opening::One {
            point,
            spec,
            cfg: RingConfig {
                ignore_outgoing: spec.ingress_only,
                ..opts.ring
            },
        })
        .collect()
}

/// Opens every ring of `openings` on opener threads, each moving into the
/// namespace of the ring it opens next (a thread of its own per ring cost
/// a thread creation per link); results in order.
fn open_all(openings: &[(usize, Opening<'_, '_>)]) -> Vec<Result<(Ring, Route), RingError>> {
    on_openers(openings, |(_, o)| o.open_entering())
}

/// Threads that open rings at once. Setting a ring up waits for an RCU
/// grace period (`synchronize_net` in the kernel's `packet_set_ring`), about
/// 10 ms each on the 2-core development machine whatever the ring's size
/// (128 KiB to 1 MiB alike); waits from many threads share grace periods.
/// Measured opening 1000 rings: 32 threads 0.44-0.54 s, 64 0.23-0.34 s,
/// 128 0.23 s, 256 0.22 s; so 128, past which more threads gain nothing.
const OPENERS: usize = 128;

/// How much longer than two retire timeouts a stopping capture waits for
/// frames the kernel counted on a ring but has not handed over yet.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// Poll threads of a pool serving many captures: each drains its rings on
/// one core, and more than the machine's cores only adds threads.
pub const MAX_POLLERS: usize = 4;

/// Closes `rings` from up to [`OPENERS`] threads: closing a ring waits for
/// RCU grace periods too, which made a 200-member network's capture take
/// 5 s to stop when its rings closed one after another.
fn close_rings(mut rings: Vec<Ring>) {
    if rings.len() <= 1 {
        return;
    }
    let chunk = rings.len().div_ceil(OPENERS);
    let mut parts = Vec::new();
    while rings.len() > chunk {
        parts.push(rings.split_off(rings.len() - chunk));
    }
    parts.push(rings);
    std::thread::scope(|s| {
        for part in parts {
            s.spawn(move || drop(part));
        }
    });
}

/// `f` over `items` on up to [`OPENERS`] fresh scoped threads (never the
/// caller's: `f` may move its thread into another namespace); results in
/// order.
fn on_openers<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.is_empty() {
        return Vec::new();
    }
    let chunk = items.len().div_ceil(OPENERS);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// EPB flags for a frame seen on a point with `view`.
pub fn frame_flags(pkttype: PacketType, view: View) -> EpbFlags {
    let (dir, reception) = match pkttype {
        PacketType::Outgoing => (Direction::Outbound, None),
        PacketType::Host => (Direction::Inbound, Some(Reception::Unicast)),
        PacketType::Broadcast => (Direction::Inbound, Some(Reception::Broadcast)),
        PacketType::Multicast => (Direction::Inbound, Some(Reception::Multicast)),
        PacketType::OtherHost => (Direction::Inbound, Some(Reception::Promiscuous)),
        PacketType::Other(_) => return EpbFlags::default(),
    };
    match view {
        View::Local => EpbFlags {
            direction: Some(dir),
            reception,
        },
        // Seen from the other end of the wire: reversed, and the
        // reception type describes the port, not the named interface.
        View::Peer => EpbFlags {
            direction: Some(match dir {
                Direction::Inbound => Direction::Outbound,
                Direction::Outbound => Direction::Inbound,
            }),
            reception: None,
        },
    }
}

/// Appends the EPB for `frame`, re-inserting a stripped VLAN tag.
pub fn encode_frame(
    buf: &mut Vec<u8>,
    interface: u32,
    frame: &Frame<'_>,
    view: View,
    snaplen: usize,
) -> usize {
    let flags = frame_flags(frame.pkttype, view);
    let data = frame.data;
    match frame.vlan() {
        Some(tag) if data.len() >= 12 => {
            let tag = tag.bytes();
            let rest = snaplen.saturating_sub(16).min(data.len() - 12);
            let head = &data[..12.min(snaplen)];
            let parts: [&[u8]; 3] = if snaplen >= 16 {
                [head, &tag, &data[12..12 + rest]]
            } else {
                [head, &[], &[]]
            };
            encode_epb_parts(
                buf,
                interface,
                frame.ts_ns,
                &parts,
                frame.orig_len + 4,
                flags,
            );
            parts.iter().map(|p| p.len()).sum()
        }
        _ => {
            let d = &data[..data.len().min(snaplen)];
            encode_epb_parts(buf, interface, frame.ts_ns, &[d], frame.orig_len, flags);
            d.len()
        }
    }
}

/// A capture's state on its poll thread ([`crate::pool`]): rings, routes,
/// counters, subscribers and output.
pub(crate) struct Worker {
    name: String,
    /// Its key in the poll thread's epoll set.
    key: u64,
    rings: Vec<Ring>,
    /// Per ring: which point its frames belong to.
    routes: Vec<Route>,
    /// Per point.
    views: Vec<View>,
    /// Per point.
    counters: Vec<Arc<Counters>>,
    change_rx: Receiver<Change>,
    /// Points being closed: IDB index, when their last frames are in, and
    /// whom to tell.
    closing: Vec<(usize, Instant, mpsc::Sender<()>)>,
    write_waits: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    wake: Option<Arc<Wake>>,
    subscribe_rx: Receiver<Subscriber>,
    subscribers: Vec<Subscriber>,
    output: Option<Output>,
    header: Chunk,
    chunk_capacity: usize,
    snaplen: usize,
    retire: Duration,
    start_ns: u64,
    /// When the last frames are in, once asked to stop: frames sent
    /// before `stop` sit in partly filled blocks that the kernel retires
    /// within `retire`.
    stop_at: Option<Instant>,
    /// The latest `stop_at` may move to while a ring still holds frames
    /// the kernel counted but has not handed over.
    stop_limit: Option<Instant>,
    last_stats: Instant,
    /// Why the capture ended early.
    error: Option<CaptureError>,
    /// Set once the worker has ended.
    ended: Arc<AtomicBool>,
    done: mpsc::Sender<Finished>,
}

impl Worker {
    /// Takes the worker on as `key` of `epoll`: watches its wake-up and
    /// rings and queues the header. False when it must end at once.
    pub(crate) fn begin(&mut self, epoll: &Epoll, key: u64) -> bool {
        self.key = key;
        let watched = self
            .wake
            .as_ref()
            .map(|w| epoll.add(w.as_fd(), key))
            .into_iter()
            .chain(self.rings.iter().map(|r| epoll.add(r.as_fd(), key)))
            .collect::<io::Result<()>>();
        if let Err(source) = watched {
            self.error.get_or_insert(CaptureError::Poll {
                capture: self.name.clone(),
                source,
            });
        }
        if self.error.is_none() {
            let header = Arc::clone(&self.header);
            if self.emit(header).is_err() {
                self.error = Some(self.write_failed());
            }
        }
        self.error.is_none()
    }

    /// The error of a capture whose writer took no more chunks (the
    /// writer's verdict says why).
    fn write_failed(&self) -> CaptureError {
        CaptureError::Write {
            capture: self.name.clone(),
            source: io::Error::new(io::ErrorKind::BrokenPipe, "the file writer stopped"),
        }
    }

    /// When the worker must be served even without a wake-up: its
    /// once-a-second counters, a closing point or the end of its stop.
    pub(crate) fn deadline(&self) -> Instant {
        let mut at = self.last_stats + Duration::from_secs(1);
        if let Some(s) = self.stop_at {
            at = at.min(s);
        }
        for (_, c, _) in &self.closing {
            at = at.min(*c);
        }
        at
    }

    /// One round: takes on subscribers and changes, drains every block the
    /// kernel handed over, closes points due, refreshes the counters when
    /// due. `errored`: a ring reported an error (an interface down). False
    /// once the capture has ended or failed.
    pub(crate) fn turn(&mut self, epoll: &Epoll, errored: bool) -> bool {
        match self.round(epoll, errored) {
            Ok(going) => going,
            Err(()) => {
                self.error.get_or_insert(self.write_failed());
                false
            }
        }
    }

    fn round(&mut self, epoll: &Epoll, errored: bool) -> Result<bool, ()> {
        if let Some(w) = &self.wake {
            w.clear();
        }
        if errored {
            // A socket bound to an interface that is down, or goes down,
            // carries ENETDOWN and polls as an error until read; the
            // kernel resumes delivery when the link comes back.
            for r in &self.rings {
                r.clear_error();
            }
        }
        self.accept_subscribers();
        self.apply_changes(epoll)?;
        if self.stop_at.is_none() && self.stop.load(Ordering::Acquire) {
            // What the rings hold is all the capture records, so the
            // statistics blocks count exactly the frames in the file. A
            // ring that cannot take the filter only risks that count.
            for r in &self.rings {
                let _ = r.take_no_more();
            }
            let now = Instant::now();
            self.stop_at = Some(now + self.retire * 2 + Duration::from_millis(20));
            self.stop_limit = Some(now + self.retire * 2 + STOP_GRACE);
        }
        self.drain()?;
        self.finish_closing(epoll)?;
        if self.last_stats.elapsed() >= Duration::from_secs(1) {
            self.refresh_stats();
            self.last_stats = Instant::now();
        }
        let now = Instant::now();
        match (self.stop_at, self.stop_limit) {
            (Some(at), _) if now < at => Ok(true),
            (Some(_), Some(limit)) if now < limit && !self.all_read() => {
                // The kernel retires a partly filled block at its timer's
                // second tick; on a busy machine the timer runs late.
                self.stop_at = Some(now + Duration::from_millis(10));
                Ok(true)
            }
            (Some(_), _) => Ok(false),
            (None, _) => Ok(true),
        }
    }

    /// True when every frame the kernel counted on a ring of one point has
    /// been read or counted as dropped (shared rings are not checked:
    /// their count covers ports outside the capture).
    fn all_read(&self) -> bool {
        self.refresh_stats();
        self.routes.iter().all(|route| match route {
            Route::One(i) => {
                let c = &self.counters[*i];
                c.kernel_packets.load(Ordering::Relaxed)
                    <= c.captured.load(Ordering::Relaxed) + c.dropped.load(Ordering::Relaxed)
            }
            Route::ByIfindex { .. } => true,
        })
    }

    /// Ends the capture: stops watching its fds, writes what the rings
    /// still hold and the statistics blocks (unless it failed), closes its
    /// output and hands its rings and verdict to the [`Capture`].
    pub(crate) fn end(mut self, epoll: Option<&Epoll>) {
        if let Some(epoll) = epoll {
            for fd in self
                .wake
                .iter()
                .map(|w| w.as_fd().as_raw_fd())
                .chain(self.rings.iter().map(|r| r.as_fd().as_raw_fd()))
            {
                epoll.remove(fd);
            }
        }
        let result = match self.error.take() {
            Some(e) => Err(e),
            None => self.last_blocks().map_err(|()| self.write_failed()),
        };
        for (_, _, done) in std::mem::take(&mut self.closing) {
            // The caller may have given up waiting.
            let _ = done.send(());
        }
        let written = match self.output.take() {
            Some(o) => o.close(&self.name),
            None => {
                let (tx, rx) = mpsc::channel();
                let _ = tx.send(Ok(()));
                rx
            }
        };
        self.ended.store(true, Ordering::Release);
        // The capture waits for this unless it is gone.
        let _ = self.done.send(Finished {
            result,
            rings: std::mem::take(&mut self.rings),
            written,
        });
    }

    /// The last frames and one statistics block per point still carried.
    fn last_blocks(&mut self) -> Result<(), ()> {
        self.drain()?;
        self.refresh_stats();
        let mut buf = Vec::new();
        // Closed points wrote their ISB when they closed; the rest (those
        // still closing too) have a ring carrying them.
        for i in (0..self.counters.len()).filter(|i| self.routes.iter().any(|r| r.carries(*i))) {
            self.encode_isb(&mut buf, i);
        }
        self.emit(Arc::new(buf))
    }

    /// The statistics block of point `i`, as of now.
    fn encode_isb(&self, buf: &mut Vec<u8>, i: usize) {
        let c = &self.counters[i];
        let captured = c.captured.load(Ordering::Relaxed);
        let dropped = c.dropped.load(Ordering::Relaxed);
        let end = now_ns();
        encode_isb(
            buf,
            &InterfaceStats {
                interface: u32::try_from(i).unwrap_or(u32::MAX),
                ts_ns: end,
                start_ns: self.start_ns,
                end_ns: end,
                received: c
                    .kernel_packets
                    .load(Ordering::Relaxed)
                    .max(captured + dropped),
                dropped,
                os_dropped: 0,
                delivered: captured,
            },
        );
    }

    /// The ring carrying point `i`'s frames, if it is still open.
    fn ring_of(&self, i: usize) -> Option<usize> {
        self.routes.iter().position(|r| r.carries(i))
    }

    /// The interfaces shared ring `r` should take: its points' but those
    /// closing.
    fn filter_of(&self, r: usize) -> Vec<u32> {
        let Route::ByIfindex { points, .. } = &self.routes[r] else {
            return Vec::new();
        };
        points
            .iter()
            .filter(|(_, p)| !self.closing.iter().any(|(c, _, _)| c == *p))
            .map(|(ifindex, _)| *ifindex)
            .collect()
    }

    /// Takes on points added and closes asked for. An added point's IDB
    /// goes to the file and the subscribers, and into the header later
    /// subscribers get. `Err` when the file writer has stopped.
    fn apply_changes(&mut self, epoll: &Epoll) -> Result<(), ()> {
        while let Ok(change) = self.change_rx.try_recv() {
            match change {
                Change::Add {
                    point,
                    view,
                    idb,
                    counters,
                    source,
                    done,
                } => {
                    match source {
                        Source::Join { netns, ifindex } => {
                            if !self.join(point, netns, ifindex) {
                                // The caller may have given up waiting.
                                let _ = done.send(false);
                                continue;
                            }
                        }
                        Source::Own(ring, route) => {
                            if epoll.add(ring.as_fd(), self.key).is_err() {
                                // Unwatched, its frames would wait for
                                // another ring's wake-up: refuse it.
                                let _ = done.send(false);
                                continue;
                            }
                            self.rings.push(ring);
                            self.routes.push(route);
                        }
                    }
                    self.views.push(view);
                    self.counters.push(counters);
                    let mut header = Vec::clone(&self.header);
                    header.extend_from_slice(&idb);
                    self.header = Arc::new(header);
                    self.emit(Arc::new(idb))?;
                    let _ = done.send(true);
                }
                Change::Close { point, done } => {
                    // Frames sent before the close sit in partly filled
                    // blocks that the kernel retires within `retire`.
                    let at = Instant::now() + self.retire * 2 + Duration::from_millis(20);
                    self.closing.push((point, at, done));
                    // A port leaves its shared ring's filter now; the
                    // frames already in the ring are still its own. Should
                    // that fail, frames after the close are dropped when
                    // the point closes (they have no point then).
                    if let Some(r) = self.ring_of(point)
                        && let Route::ByIfindex { .. } = self.routes[r]
                    {
                        let _ = self.rings[r].set_filter(&self.filter_of(r));
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds the port `ifindex` as point `point` to the shared ring of
    /// namespace `netns`: into its filter, then its routes. False when
    /// there is no such ring, it is full, or its filter cannot be set.
    fn join(&mut self, point: usize, netns: NetnsId, ifindex: u32) -> bool {
        let Some(r) = self.routes.iter().position(|r| {
            matches!(r, Route::ByIfindex { points, netns: Some(n), .. }
                if *n == netns && points.len() < MAX_SHARED)
        }) else {
            return false;
        };
        let mut filter = self.filter_of(r);
        filter.push(ifindex);
        if self.rings[r].set_filter(&filter).is_err() {
            return false;
        }
        if let Route::ByIfindex { points, .. } = &mut self.routes[r] {
            points.insert(ifindex, point);
        }
        true
    }

    /// Closes the points whose last frames are in: drains the rings once
    /// more, writes the point's ISB, takes it off its ring (closing a ring
    /// left without points) and tells the caller.
    fn finish_closing(&mut self, epoll: &Epoll) -> Result<(), ()> {
        let now = Instant::now();
        if !self.closing.iter().any(|(_, at, _)| *at <= now) {
            return Ok(());
        }
        self.drain()?;
        // Drops so far are counted on the points that had them.
        self.refresh_stats();
        let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.closing)
            .into_iter()
            .partition(|(_, at, _)| *at <= now);
        self.closing = waiting;
        for (i, _, done) in due {
            let mut buf = Vec::new();
            self.encode_isb(&mut buf, i);
            self.emit(Arc::new(buf))?;
            if let Some(r) = self.ring_of(i) {
                let emptied = match &mut self.routes[r] {
                    Route::One(_) => true,
                    Route::ByIfindex { points, first, .. } => {
                        points.retain(|_, p| *p != i);
                        // The ring's drops go on to a point still open.
                        if *first == i
                            && let Some(next) = points.values().min()
                        {
                            *first = *next;
                        }
                        points.is_empty()
                    }
                };
                if emptied {
                    self.routes.remove(r);
                    let ring = self.rings.remove(r);
                    epoll.remove(ring.as_fd().as_raw_fd());
                    drop(ring);
                }
            }
            // The caller may have given up waiting.
            let _ = done.send(());
        }
        Ok(())
    }

    fn accept_subscribers(&mut self) {
        loop {
            match self.subscribe_rx.try_recv() {
                Ok(s) => {
                    // A fresh queue always has room for the header.
                    if s.tx.try_send(Arc::clone(&self.header)).is_ok() {
                        // The subscriber may have given up waiting.
                        let _ = s.ack.send(());
                        self.subscribers.push(s);
                    }
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            }
        }
    }

    /// Encodes every block the kernel handed over into one chunk each.
    /// `Err` when the file writer has stopped.
    fn drain(&mut self) -> Result<(), ()> {
        for r in 0..self.rings.len() {
            loop {
                // Take new subscribers on before each block, so a frame
                // sent after `subscribe` returned is always in its stream.
                self.accept_subscribers();
                let Some(block) = self.rings[r].next_block() else {
                    break;
                };
                let mut buf = Vec::with_capacity(self.chunk_capacity);
                for frame in block {
                    let Some(i) = self.routes[r].point(frame.ifindex) else {
                        continue;
                    };
                    let iface = u32::try_from(i).unwrap_or(u32::MAX);
                    let bytes = encode_frame(&mut buf, iface, &frame, self.views[i], self.snaplen);
                    self.counters[i].captured.fetch_add(1, Ordering::Relaxed);
                    self.counters[i]
                        .bytes
                        .fetch_add(bytes as u64, Ordering::Relaxed);
                }
                self.emit(Arc::new(buf))?;
            }
        }
        Ok(())
    }

    /// Queues `chunk` for the file (waiting if the queue is full) and
    /// offers it to every subscriber. `Err` when the file writer stopped.
    fn emit(&mut self, chunk: Chunk) -> Result<(), ()> {
        if chunk.is_empty() {
            return Ok(());
        }
        self.subscribers
            .retain(|s| match s.tx.try_send(Arc::clone(&chunk)) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    s.lost.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Err(TrySendError::Disconnected(_)) => false,
            });
        let Some(out) = &self.output else {
            return Ok(());
        };
        match out.send(chunk) {
            Ok(waited) => {
                if waited {
                    self.write_waits.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            }
            Err(SendError::Failed) => Err(()),
        }
    }

    fn refresh_stats(&self) {
        for (r, route) in self.rings.iter().zip(&self.routes) {
            let c = &self.counters[route.counted_on()];
            // A failed read loses nothing: the kernel keeps counting.
            if let Ok(st) = r.take_stats() {
                // A shared ring's count of frames offered covers all its
                // points; each point's is then its frames plus drops.
                if let Route::One(_) = route {
                    c.kernel_packets.fetch_add(st.packets, Ordering::Relaxed);
                }
                c.dropped.fetch_add(st.drops, Ordering::Relaxed);
                c.freezes.fetch_add(st.freeze_count, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::{Block, PcapngReader};
    use crate::ring::VlanTag;

    fn dir(f: EpbFlags) -> Option<Direction> {
        f.direction
    }

    /// Issue 19: a 1000-link lab's rings open on many threads at once (each
    /// open waits for an RCU grace period, shared by concurrent waiters),
    /// never more than `OPENERS`, with results in job order; and never on
    /// the caller's thread, which an opener moves into a lab namespace.
    #[test]
    fn openers_spread_1000_opens_over_many_threads_in_order() {
        let caller = std::thread::current().id();
        let one = on_openers(&[0], |_| std::thread::current().id());
        assert_ne!(one, [caller], "one opening runs on a thread of its own");
        let items: Vec<usize> = (0..1000).collect();
        let out = on_openers(&items, |i| (*i, std::thread::current().id()));
        assert!(out.iter().all(|(_, t)| *t != caller));
        assert_eq!(
            out.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            items,
            "results in job order"
        );
        let threads: std::collections::HashSet<_> = out.iter().map(|(_, t)| *t).collect();
        assert!(
            (100..=OPENERS).contains(&threads.len()),
            "{} threads",
            threads.len()
        );
    }

    /// A network's ports share one ring of four points' worth.
    #[test]
    fn shared_rings_hold_four_points() {
        let small = shared_ring(&RingConfig::default());
        assert_eq!(small.bytes(), 1 << 20);
        assert!(small.ignore_outgoing);
        assert_eq!(small.block_size, RingConfig::default().block_size);
        let big = RingConfig::for_buffer(8 << 20).unwrap();
        assert_eq!(shared_ring(&big).bytes(), 32 << 20);
    }

    #[test]
    fn directions_per_view() {
        use PacketType::*;
        assert_eq!(
            dir(frame_flags(Outgoing, View::Local)),
            Some(Direction::Outbound)
        );
        for t in [Host, Broadcast, Multicast, OtherHost] {
            assert_eq!(dir(frame_flags(t, View::Local)), Some(Direction::Inbound));
            assert_eq!(dir(frame_flags(t, View::Peer)), Some(Direction::Outbound));
        }
        assert_eq!(
            dir(frame_flags(Outgoing, View::Peer)),
            Some(Direction::Inbound)
        );
        assert_eq!(
            frame_flags(Broadcast, View::Local).reception,
            Some(Reception::Broadcast)
        );
        assert_eq!(frame_flags(Broadcast, View::Peer).reception, None);
        assert!(frame_flags(Other(5), View::Local).is_empty());
    }

    fn packet(buf: &[u8]) -> crate::reader::PacketBlock {
        let mut all = Vec::new();
        crate::pcapng::encode_shb(&mut all, "t");
        all.extend_from_slice(buf);
        match PcapngReader::new(&all[..]).nth(1) {
            Some(Ok(Block::Packet(p))) => p,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn vlan_tag_is_reinserted_and_snaplen_applies() {
        let data: Vec<u8> = (0..40).collect();
        let tag = VlanTag {
            tpid: 0x88a8,
            tci: 0x0123,
        };
        let f = Frame::synthetic(&data, PacketType::Host, Some(tag));
        let mut buf = Vec::new();
        assert_eq!(encode_frame(&mut buf, 0, &f, View::Local, 262_144), 44);
        let p = packet(&buf);
        assert_eq!(&p.data[..12], &data[..12]);
        assert_eq!(&p.data[12..16], &[0x88, 0xa8, 0x01, 0x23]);
        assert_eq!(&p.data[16..], &data[12..]);
        assert_eq!(p.orig_len, 44);

        let mut buf = Vec::new();
        assert_eq!(encode_frame(&mut buf, 0, &f, View::Local, 20), 20);
        let p = packet(&buf);
        assert_eq!(p.data.len(), 20);
        assert_eq!(&p.data[12..16], &[0x88, 0xa8, 0x01, 0x23]);
        assert_eq!(p.orig_len, 44);

        let plain = Frame::synthetic(&data, PacketType::Outgoing, None);
        let mut buf = Vec::new();
        assert_eq!(encode_frame(&mut buf, 0, &plain, View::Local, 30), 30);
        let p = packet(&buf);
        assert_eq!(p.data, &data[..30]);
        assert_eq!(p.orig_len, 40);
        assert_eq!(p.flags.and_then(|f| f.direction), Some(Direction::Outbound));
    }

    #[test]
    fn no_points_is_an_error() {
        let r = Capture::start("x", &[], Box::new(io::sink()), &CaptureOptions::default());
        assert!(matches!(r, Err(CaptureError::NoPoints { .. })));
    }
}
