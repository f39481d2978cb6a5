//! The listener and the workers: each worker takes requests until the stop,
//! then answers what is already queued and ends.

use std::os::fd::RawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use signal_hook::iterator::Handle;
use status::guard;
use status::reporting::Origin;
use tiny_http::Server;

use super::routes::serve;
use super::SHUTDOWN_DRAIN;

/// How often an idle worker looks at the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// `shutdown(2)` on the listening socket: Linux wakes the blocked `accept`
/// with an error, tiny_http's accept thread ends, and new connections are
/// refused, while connections already accepted keep working.
pub(super) fn stop_listening(fd: RawFd) {
    // SAFETY: `fd` is the listening socket owned by the server, which is alive
    // (the workers hold it) for the whole shutdown; shutdown(2) does not close it.
    let _ = unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
}

pub(super) struct Shared {
    pub(super) server: Server,
    pub(super) stopping: AtomicBool,
    /// Set at the stop: after it, workers leave the remaining queue alone.
    pub(super) drain_deadline: OnceLock<Instant>,
    pub(super) signals: Handle,
}

impl Shared {
    /// From here on, workers answer what is queued and end: one unblock per
    /// worker goes behind the requests already queued, and a worker that meets
    /// one (or an empty queue) ends.
    pub(super) fn stop(&self, workers: usize) {
        let _ = self.drain_deadline.set(Instant::now() + SHUTDOWN_DRAIN);
        self.stopping.store(true, Ordering::SeqCst);
        for _ in 0..workers {
            self.server.unblock();
        }
    }
}

/// Tells `main` that a worker ended, however it ended (even by a panic).
pub(super) struct Done(pub(super) mpsc::Sender<()>);

impl Drop for Done {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// One worker: takes requests from the server until the stop, then answers
/// what is already queued and ends.
pub(super) fn worker(shared: &Shared, name: &str) {
    loop {
        let stopping = shared.stopping.load(Ordering::SeqCst);
        if stopping && shared.drain_deadline.get().is_some_and(|d| Instant::now() >= *d) {
            return;
        }
        let next = if stopping { shared.server.try_recv() } else { shared.server.recv_timeout(POLL) };
        match next {
            Ok(Some(request)) => {
                // The request code outside the guard (routing, reading,
                // answering): a panic there is reported and this worker keeps
                // serving; tiny_http answers the dropped request with a 500.
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| serve(request))) {
                    guard::report_caught_panic(payload, Origin::Thread(name));
                }
            }
            // Read the flag again: the stop may have come while waiting (an
            // unblock, or the accept thread's error when the listener shuts).
            Ok(None) | Err(_) if shared.stopping.load(Ordering::SeqCst) => return,
            Ok(None) => {}
            Err(e) => {
                // tiny_http's accept thread has ended (e.g. out of file
                // descriptors): nothing new will come. Stop the process.
                eprintln!("status-backend: accepting connections failed: {e}");
                shared.signals.close();
                return;
            }
        }
    }
}
