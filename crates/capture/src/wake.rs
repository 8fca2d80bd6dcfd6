//! An eventfd that wakes a capture thread out of its `poll`: asked to stop
//! or given a subscriber, the thread hears of it at once, so an idle
//! capture sleeps until a ring has data or its once-a-second counters are
//! due. Polling on a short timeout instead made a 1000-link lab's idle
//! captures wake 20,000 times a second and starve the kernel's link watch.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// A wake-up signal shared by a capture and its thread.
#[derive(Debug)]
pub(crate) struct Wake {
    fd: OwnedFd,
}

impl Wake {
    /// A fresh, unsignalled eventfd.
    pub(crate) fn new() -> io::Result<Wake> {
        // SAFETY: plain syscall with constant arguments.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Wake { fd })
    }

    /// Makes the eventfd readable, waking a `poll` on it.
    pub(crate) fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64. A full counter (never, at
        // one per request) would only mean it is readable already.
        unsafe {
            libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8);
        }
    }

    /// Resets the eventfd after a wake-up.
    pub(crate) fn clear(&self) {
        let mut n: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live u64; non-blocking, so
        // an unsignalled eventfd returns EAGAIN at once.
        unsafe {
            libc::read(self.fd.as_raw_fd(), (&mut n as *mut u64).cast(), 8);
        }
    }
}

impl AsFd for Wake {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
