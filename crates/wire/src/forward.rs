//! The wire's I/O: one thread per wire forwards frames between two fds
//! (taps opened without `IFF_VNET_HDR`, one frame per read and write),
//! each direction through its [`Engine`]. Reads are non-blocking and
//! batched; the thread sleeps in `poll` until a fd is readable or the next
//! queued frame is due.

use crate::engine::{Engine, Params};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Errors starting a wire.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// A fd could not be made non-blocking.
    #[error("making a wire end non-blocking")]
    NonBlocking(#[source] io::Error),
    /// The thread could not be started.
    #[error("starting the wire thread")]
    Thread(#[source] io::Error),
}

/// Largest frame read: a tap's MTU may be raised up to 64 KiB.
const FRAME_MAX: usize = 65_536;
/// Frames read from one fd before turning to the other.
const BATCH: usize = 64;
/// Longest sleep, so a stop request is seen promptly.
const TICK: Duration = Duration::from_millis(50);

/// New impairments waiting to be picked up by the thread.
#[derive(Debug, Default)]
struct Pending {
    params: Option<[Params; 2]>,
}

/// A running wire. Dropping it stops the thread and closes both ends.
#[derive(Debug)]
pub struct Wire {
    /// Both taps' fds, owned by the thread, which outlives them here.
    ends: [RawFd; 2],
    stop: Arc<AtomicBool>,
    carrier: Arc<AtomicBool>,
    pending: Arc<Mutex<Pending>>,
    thread: Option<JoinHandle<()>>,
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a fd we own, with integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Wire {
    /// Starts forwarding between `a` and `b`: frames read from `a` go
    /// through `ab` and are written to `b`, and back through `ba`.
    pub fn start(
        name: &str,
        a: OwnedFd,
        b: OwnedFd,
        ab: Engine,
        ba: Engine,
    ) -> Result<Wire, WireError> {
        set_nonblocking(a.as_raw_fd()).map_err(WireError::NonBlocking)?;
        set_nonblocking(b.as_raw_fd()).map_err(WireError::NonBlocking)?;
        let stop = Arc::new(AtomicBool::new(false));
        let pending = Arc::new(Mutex::new(Pending::default()));
        let ends = [a.as_raw_fd(), b.as_raw_fd()];
        let carrier = Arc::new(AtomicBool::new(true));
        let (s, c, p) = (stop.clone(), carrier.clone(), pending.clone());
        let thread = std::thread::Builder::new()
            .name(format!("wire {name}"))
            .spawn(move || run([a, b], [ab, ba], &s, &c, &p))
            .map_err(WireError::Thread)?;
        Ok(Wire {
            ends,
            stop,
            carrier,
            pending,
            thread: Some(thread),
        })
    }

    /// Replaces both directions' impairments (first endpoint to second,
    /// then back); frames already queued keep their due times.
    pub fn set_params(&self, ab: Params, ba: Params) {
        if let Ok(mut p) = self.pending.lock() {
            p.params = Some([ab, ba]);
        }
    }
}

impl Wire {
    /// Turns both taps' carrier off or on (`TUNSETCARRIER`): each node sees
    /// its interface lose and regain carrier, with its addresses and routes
    /// kept, as when a cable is pulled and plugged back.
    /// While the carrier is off the wire also drops whatever it reads, so
    /// the cut is exact even before the kernel's link watch stops the
    /// taps' queues.
    pub fn set_carrier(&self, on: bool) -> io::Result<()> {
        self.carrier.store(on, Ordering::Relaxed);
        let value = libc::c_int::from(on);
        for fd in self.ends {
            // SAFETY: `fd` is a tap fd the wire thread keeps open as long as
            // `self` lives; TUNSETCARRIER reads one int from the pointer.
            let rc = unsafe { libc::ioctl(fd, libc::TUNSETCARRIER, &value) };
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

impl Wire {
    /// Asks the wire thread to stop without waiting for it; dropping the
    /// wire waits. Asking every wire of a lab first lets their stops
    /// overlap, so teardown waits one poll tick, not one per wire.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Nanoseconds since `start`.
fn now_ns(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn read_frame(fd: RawFd, buf: &mut [u8]) -> Option<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the call.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    usize::try_from(n).ok().filter(|n| *n > 0)
}

fn write_frame(fd: RawFd, frame: &[u8]) {
    // A full tap queue or a down peer drops the frame, as a wire would.
    // SAFETY: `frame` is valid for reads of `frame.len()` bytes for the call.
    let _ = unsafe { libc::write(fd, frame.as_ptr().cast(), frame.len()) };
}

fn run(
    fds: [OwnedFd; 2],
    mut engines: [Engine; 2],
    stop: &AtomicBool,
    carrier: &AtomicBool,
    pending: &Mutex<Pending>,
) {
    let start = Instant::now();
    let raw = [fds[0].as_raw_fd(), fds[1].as_raw_fd()];
    let mut buf = vec![0u8; FRAME_MAX];
    while !stop.load(Ordering::Relaxed) {
        // Sleep until a fd is readable or the next frame is due.
        let now = now_ns(start);
        let due = engines.iter().filter_map(Engine::next_due).min();
        let wait_ns = match due {
            Some(d) => d.saturating_sub(now).min(TICK.as_nanos() as u64),
            None => TICK.as_nanos() as u64,
        };
        let timeout = libc::timespec {
            tv_sec: (wait_ns / 1_000_000_000) as libc::time_t,
            tv_nsec: (wait_ns % 1_000_000_000) as libc::c_long,
        };
        let mut pfds = raw.map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        });
        // SAFETY: `pfds` is an array of two valid pollfd structs and
        // `timeout` a valid timespec; a null signal mask keeps ours.
        let _ = unsafe { libc::ppoll(pfds.as_mut_ptr(), 2, &timeout, std::ptr::null()) };
        // New parameters apply to every frame read after the request, even
        // the one that woke us.
        if let Ok(mut p) = pending.lock()
            && let Some([ab, ba]) = p.params.take()
        {
            engines[0].set_params(ab);
            engines[1].set_params(ba);
        }
        for dir in 0..2 {
            if pfds[dir].revents & libc::POLLIN == 0 {
                continue;
            }
            let (from, to) = (raw[dir], raw[1 - dir]);
            for _ in 0..BATCH {
                let Some(n) = read_frame(from, &mut buf) else {
                    break;
                };
                let e = &mut engines[dir];
                if !carrier.load(Ordering::Relaxed) {
                    continue;
                }
                if e.passthrough() {
                    write_frame(to, &buf[..n]);
                } else {
                    e.offer(now_ns(start), buf[..n].to_vec());
                }
            }
        }
        let now = now_ns(start);
        for (dir, e) in engines.iter_mut().enumerate() {
            while let Some(f) = e.pop_due(now) {
                write_frame(raw[1 - dir], &f);
            }
        }
    }
}
