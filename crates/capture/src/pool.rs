//! The threads that serve running captures: a few poll threads, each
//! waiting on the rings and wake-ups of many captures with one epoll set,
//! and one writer thread that writes the pcapng chunks of all their
//! outputs.
//!
//! Captures started together ([`crate::Capture::start_all`], a lab's links
//! and networks) share one pool; a capture started alone has a pool of its
//! own (one poll thread named `capture-NAME`, one writer `capture-w-NAME`).
//! Measured on a 1000-link chain (debug build): a poll thread and a writer
//! thread per capture meant 2000 threads to create, each with its stack
//! mapped under the process's memory lock that the rings' mappings take
//! too, and 1000 sleeping threads to wake once a second.
//!
//! The threads end once every capture of the pool has ended and dropped
//! its handle.

use std::collections::HashMap;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::session::{CaptureError, Chunk, Sink, Worker};
use crate::wake::Wake;

/// An epoll set; each registered fd carries a key (the capture it serves).
#[derive(Debug)]
pub(crate) struct Epoll {
    fd: OwnedFd,
}

/// One readiness report: the key and whether the fd reported an error.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ready {
    pub(crate) key: u64,
    pub(crate) error: bool,
}

impl Epoll {
    fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscall with constant arguments.
        let raw = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Epoll { fd })
    }

    /// Watches `fd` for input (level-triggered), reported with `key`.
    pub(crate) fn add(&self, fd: BorrowedFd<'_>, key: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: key,
        };
        // SAFETY: both fds are open; `ev` is a valid epoll_event.
        let r = unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                fd.as_raw_fd(),
                &mut ev,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Stops watching `fd` (before it is closed elsewhere).
    pub(crate) fn remove(&self, fd: RawFd) {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: `ev` is valid; a stale fd only makes the call fail, and
        // a failure means the fd is not watched.
        unsafe {
            libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut ev);
        }
    }

    /// Waits up to `timeout_ms` (-1: forever) and appends what is ready.
    fn wait(&self, out: &mut Vec<Ready>, timeout_ms: i32) -> io::Result<()> {
        const MAX: usize = 256;
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; MAX];
        // SAFETY: `evs` has room for MAX events.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                evs.as_mut_ptr(),
                MAX as libc::c_int,
                timeout_ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(e)
            };
        }
        let n = usize::try_from(n).unwrap_or(0);
        out.extend(evs[..n].iter().map(|e| Ready {
            key: e.u64,
            error: e.events & (libc::EPOLLERR as u32) != 0,
        }));
        Ok(())
    }
}

/// A message to the writer thread.
enum ToWriter {
    /// A new output, by id.
    Add {
        id: u64,
        name: String,
        sink: Sink,
        failed: Arc<AtomicBool>,
    },
    /// Bytes for an output.
    Chunk(u64, Chunk),
    /// The output's last chunk has been sent: flush it, drop it and tell
    /// how its writes went.
    Close(u64, mpsc::Sender<Result<(), CaptureError>>),
}

/// A capture's output, as its worker sees it: chunks go to the pool's
/// writer thread.
#[derive(Debug)]
pub(crate) struct Output {
    id: u64,
    tx: SyncSender<ToWriter>,
    /// Set by the writer once a write failed; later chunks are dropped.
    failed: Arc<AtomicBool>,
}

/// Why a chunk was not queued.
pub(crate) enum SendError {
    /// A write failed, or the writer thread is gone.
    Failed,
}

impl Output {
    /// Queues `chunk`; returns true if the queue was full and this waited.
    pub(crate) fn send(&self, chunk: Chunk) -> Result<bool, SendError> {
        if self.failed.load(Ordering::Acquire) {
            return Err(SendError::Failed);
        }
        match self.tx.try_send(ToWriter::Chunk(self.id, chunk)) {
            Ok(()) => Ok(false),
            Err(TrySendError::Full(m)) => self
                .tx
                .send(m)
                .map(|()| true)
                .map_err(|_closed| SendError::Failed),
            Err(TrySendError::Disconnected(_)) => Err(SendError::Failed),
        }
    }

    /// Ends the output after the chunks sent so far; the receiver gets the
    /// verdict once they are written.
    pub(crate) fn close(self, capture: &str) -> Receiver<Result<(), CaptureError>> {
        let (tx, rx) = mpsc::channel();
        if let Err(mpsc::SendError(ToWriter::Close(_, tx))) =
            self.tx.send(ToWriter::Close(self.id, tx))
        {
            let _ = tx.send(Err(CaptureError::Panicked {
                capture: capture.to_owned(),
            }));
        }
        rx
    }
}

/// One output at the writer thread.
struct Out {
    name: String,
    w: Option<Box<dyn Write + Send>>,
    error: Option<CaptureError>,
    failed: Arc<AtomicBool>,
    /// Written since the last flush (its id is in the dirty list).
    dirty: bool,
}

/// Writes chunks to their outputs until every sender is gone, flushing
/// each output written whenever the queue runs dry. A failed output keeps
/// its error for [`ToWriter::Close`] and takes no more chunks; the others
/// go on.
fn write_loop(rx: &Receiver<ToWriter>) {
    let mut outs: HashMap<u64, Out> = HashMap::new();
    let handle = |outs: &mut HashMap<u64, Out>, m: ToWriter, dirty: &mut Vec<u64>| match m {
        ToWriter::Add {
            id,
            name,
            sink,
            failed,
        } => {
            let (w, error) = match sink {
                Sink::Writer(w) => (Some(w), None),
                Sink::File(path) => match std::fs::File::create(&path) {
                    Ok(f) => (Some(Box::new(f) as Box<dyn Write + Send>), None),
                    Err(source) => {
                        failed.store(true, Ordering::Release);
                        (None, Some(CaptureError::Create { path, source }))
                    }
                },
            };
            outs.insert(
                id,
                Out {
                    name,
                    w,
                    error,
                    failed,
                    dirty: false,
                },
            );
        }
        ToWriter::Chunk(id, chunk) => {
            if let Some(o) = outs.get_mut(&id)
                && let Some(w) = &mut o.w
            {
                match w.write_all(&chunk[..]) {
                    Ok(()) => {
                        if !o.dirty {
                            o.dirty = true;
                            dirty.push(id);
                        }
                    }
                    Err(e) => fail(o, e),
                }
            }
        }
        ToWriter::Close(id, reply) => {
            if let Some(mut o) = outs.remove(&id) {
                if let Some(w) = &mut o.w
                    && let Err(e) = w.flush()
                {
                    fail(&mut o, e);
                }
                drop(o.w.take());
                let verdict = o.error.map_or(Ok(()), Err);
                // The capture may have given up waiting.
                let _ = reply.send(verdict);
            }
        }
    };
    // The outputs written since the last flush: walking all of a lab's
    // outputs after every batch showed in a 1000-link chain's profile.
    let mut dirty = Vec::new();
    while let Ok(m) = rx.recv() {
        handle(&mut outs, m, &mut dirty);
        while let Ok(m) = rx.try_recv() {
            handle(&mut outs, m, &mut dirty);
        }
        for id in dirty.drain(..) {
            let Some(o) = outs.get_mut(&id) else {
                continue;
            };
            o.dirty = false;
            if let Some(w) = &mut o.w
                && let Err(e) = w.flush()
            {
                fail(o, e);
            }
        }
    }
}

/// Records a write error of `o`: it takes no more chunks.
fn fail(o: &mut Out, source: io::Error) {
    o.error.get_or_insert(CaptureError::Write {
        capture: o.name.clone(),
        source,
    });
    o.w = None;
    o.failed.store(true, Ordering::Release);
}

/// A poll thread as the pool sees it.
#[derive(Debug)]
struct PollerHandle {
    /// `None` once the pool is dropped.
    tx: Mutex<Option<mpsc::Sender<Box<Worker>>>>,
    wake: Arc<Wake>,
}

/// The threads serving a group of captures.
#[derive(Debug)]
pub(crate) struct Pool {
    pollers: Vec<PollerHandle>,
    next_poller: AtomicUsize,
    writer: SyncSender<ToWriter>,
    next_output: std::sync::atomic::AtomicU64,
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Dropping the senders lets idle poll threads see they are done.
        for p in &self.pollers {
            if let Ok(mut tx) = p.tx.lock() {
                *tx = None;
            }
            p.wake.wake();
        }
    }
}

impl Pool {
    /// Starts `pollers` poll threads and one writer thread, named after
    /// `name` (`capture-NAME` and `capture-w-NAME` for one poll thread,
    /// `capture-NAME-I` for several), with room for `queue` chunks on
    /// their way to the writer.
    pub(crate) fn start(name: &str, pollers: usize, queue: usize) -> io::Result<Pool> {
        let (writer, rx) = mpsc::sync_channel(queue.max(1));
        std::thread::Builder::new()
            .name(format!("capture-w-{name}"))
            .spawn(move || write_loop(&rx))?;
        let pollers = (0..pollers.max(1))
            .map(|i| {
                let (tx, rx) = mpsc::channel();
                let wake = Arc::new(Wake::new()?);
                let epoll = Arc::new(Epoll::new()?);
                epoll.add(wake.as_fd(), WAKE_KEY)?;
                let thread = if pollers > 1 {
                    format!("capture-{name}-{i}")
                } else {
                    format!("capture-{name}")
                };
                let poller = Poller {
                    epoll,
                    wake: Arc::clone(&wake),
                    rx,
                    workers: HashMap::new(),
                    next_key: 0,
                    rx_closed: false,
                };
                std::thread::Builder::new()
                    .name(thread)
                    .spawn(move || poller.run())?;
                Ok(PollerHandle {
                    tx: Mutex::new(Some(tx)),
                    wake,
                })
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Pool {
            pollers,
            next_poller: AtomicUsize::new(0),
            writer,
            next_output: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Registers an output with the writer thread.
    pub(crate) fn output(&self, name: &str, sink: Sink) -> Output {
        let id = self.next_output.fetch_add(1, Ordering::Relaxed);
        let failed = Arc::new(AtomicBool::new(false));
        let added = self.writer.send(ToWriter::Add {
            id,
            name: name.to_owned(),
            sink,
            failed: Arc::clone(&failed),
        });
        if added.is_err() {
            failed.store(true, Ordering::Release);
        }
        Output {
            id,
            tx: self.writer.clone(),
            failed,
        }
    }

    /// Hands `worker` to the next poll thread, round robin. `Err` gives it
    /// back if that thread is gone.
    pub(crate) fn serve(&self, worker: Box<Worker>) -> Result<(), Box<Worker>> {
        let i = self.next_poller.fetch_add(1, Ordering::Relaxed) % self.pollers.len();
        let p = &self.pollers[i];
        let sent = match p.tx.lock().as_deref() {
            Ok(Some(tx)) => tx.send(worker).map_err(|mpsc::SendError(w)| w),
            _ => Err(worker),
        };
        p.wake.wake();
        sent
    }
}

/// The key of a poll thread's own wake-up in its epoll set.
const WAKE_KEY: u64 = u64::MAX;

/// A poll thread: the captures it serves, by key.
struct Poller {
    epoll: Arc<Epoll>,
    wake: Arc<Wake>,
    rx: Receiver<Box<Worker>>,
    workers: HashMap<u64, Box<Worker>>,
    next_key: u64,
    /// Set once the pool is gone: no more workers will come.
    rx_closed: bool,
}

impl Poller {
    fn run(mut self) {
        let mut ready = Vec::new();
        let mut open = true;
        // No worker is due before this. A worker's deadline changes only
        // in its own turn, which folds it in here, so the full walk over
        // all workers happens once per deadline, not once per wake-up (a
        // walk per wake-up was a visible share of a 1000-link `up`).
        let mut earliest: Option<Instant> = None;
        while open || !self.workers.is_empty() {
            let now = Instant::now();
            let timeout = earliest.map_or(-1, |d| {
                let ms = d.saturating_duration_since(now).as_micros().div_ceil(1000);
                i32::try_from(ms).unwrap_or(i32::MAX)
            });
            ready.clear();
            if self.epoll.wait(&mut ready, timeout).is_err() {
                // Only EBADF/EINVAL, impossible for an epoll set we own;
                // ending the captures beats spinning.
                for (_, w) in self.workers.drain() {
                    w.end(Some(&self.epoll));
                }
                return;
            }
            let mut woken: HashMap<u64, bool> = HashMap::new();
            for r in &ready {
                if r.key == WAKE_KEY {
                    self.wake.clear();
                    for key in self.accept() {
                        woken.insert(key, false);
                    }
                    open = !self.rx_closed;
                } else {
                    *woken.entry(r.key).or_default() |= r.error;
                }
            }
            let now = Instant::now();
            let walk = earliest.is_some_and(|e| e <= now);
            let due: Vec<(u64, bool)> = if walk {
                earliest = None;
                self.workers
                    .iter()
                    .filter(|(k, w)| woken.contains_key(k) || w.deadline() <= now)
                    .map(|(k, _)| (*k, woken.get(k).copied().unwrap_or(false)))
                    .collect()
            } else {
                woken.into_iter().collect()
            };
            for (key, errored) in due {
                let Some(w) = self.workers.get_mut(&key) else {
                    continue;
                };
                if w.turn(&self.epoll, errored) {
                    let d = w.deadline();
                    earliest = Some(earliest.map_or(d, |e| e.min(d)));
                } else if let Some(w) = self.workers.remove(&key) {
                    w.end(Some(&self.epoll));
                }
            }
            if walk {
                // Workers not due keep their deadlines.
                for w in self.workers.values() {
                    let d = w.deadline();
                    earliest = Some(earliest.map_or(d, |e| e.min(d)));
                }
            }
        }
    }

    /// Takes on the workers sent, returning their keys (each gets a first
    /// turn, which sets its deadline); notes when the pool is gone.
    fn accept(&mut self) -> Vec<u64> {
        let mut keys = Vec::new();
        loop {
            match self.rx.try_recv() {
                Ok(mut w) => {
                    let key = self.next_key;
                    self.next_key += 1;
                    if w.begin(&self.epoll, key) {
                        self.workers.insert(key, w);
                        keys.push(key);
                    } else {
                        w.end(Some(&self.epoll));
                    }
                }
                Err(mpsc::TryRecvError::Empty) => return keys,
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.rx_closed = true;
                    return keys;
                }
            }
        }
    }
}
