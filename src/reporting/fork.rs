//! `fork()` without a hang: a child made by `fork()` (Python's
//! multiprocessing, some crash handlers) has only the forking thread, so a
//! lock another thread held at that moment (the outbox's sender, a toggle in
//! progress) would stay held forever in the child.
//!
//! The library takes its switch-over locks around `fork()` (`pthread_atfork`),
//! so the child starts with them free, and turns panic reporting off in the
//! child: the parent's outbox, sender and logs are never touched there, every
//! call still answers at once, panics are still caught, and
//! `panicReporting.reason` says why. The child may call `InitializeApplication`
//! and the consent calls as usual; its panics are not reported.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

static FORKED: AtomicBool = AtomicBool::new(false);

/// Whether this process is a `fork()` child of the one that set the library
/// up. One atomic load.
pub fn in_forked_child() -> bool {
    FORKED.load(Ordering::Relaxed)
}

/// Registers the handlers once per process.
pub fn install_handlers() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // SAFETY: registers three `extern "C"` functions that take no
        // arguments and never unwind (each catches its own panics).
        let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
        if rc != 0 {
            log::warn!("cannot register fork handlers (error {rc}): a fork() child may hang");
        }
    });
}

extern "C" fn prepare() {
    let _ = crate::panics::catch(|| {
        crate::consent::lock_for_fork();
        super::lock_for_fork();
    });
}

extern "C" fn parent() {
    let _ = crate::panics::catch(|| {
        super::unlock_after_fork();
        crate::consent::unlock_after_fork();
    });
}

extern "C" fn child() {
    FORKED.store(true, Ordering::Relaxed);
    // The report file is the parent's: a child's crash writes nothing (the
    // gate stays shut in the child, so no later init turns it back on).
    crate::fatal::stop_writing();
    let _ = crate::panics::catch(|| {
        super::unlock_after_fork();
        crate::consent::unlock_after_fork();
        crate::logging::disable_after_fork();
    });
}
