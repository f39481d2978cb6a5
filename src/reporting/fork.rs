//! `fork()` without a hang: a child made by `fork()` (Python's
//! multiprocessing, some crash handlers) has only the forking thread, so a
//! lock another thread held at that moment (the outbox's sender, a toggle in
//! progress) would stay held forever in the child.
//!
//! Every lock a child can reach through an export is one of two kinds:
//!
//! - held by the forking thread across `fork()` (`pthread_atfork`), so that no
//!   other thread holds it at that moment, and freed on both sides: an init's
//!   (`reporting::initializing`), the consent lock, the session, the storm limiter, the host
//!   profile. All are std's (`crate::sync`): a lock word and nothing else, so
//!   the child inherits nothing half-updated.
//! - never touched in the child: the outboxes (their state, the sender's
//!   link, the registry of open outboxes, their lock files), the log writers
//!   and files, the panic log's queue, the stack walker's lock. A child's
//!   `InitializeApplication` opens no outbox (not the parent's, not another
//!   dataDir's) and switches logging off; the panic hook walks no stack there.
//!
//! (Windows has no `fork()`: `crate::sys::process` registers nothing there.)
//!
//! So panic reporting is off in the child, every call still answers at once,
//! panics are still caught, and `panicReporting.reason` says why. The child
//! may call `InitializeApplication` (any dataDir) and the consent calls as
//! usual; its panics are not reported, nothing is logged, and a flush answers
//! 0 at once.

use std::sync::atomic::{AtomicU32, Ordering};

pub use crate::sys::process::in_forked_child;

/// Registers the handlers once per process. Called before any of the locks
/// that [`prepare`] takes is taken (an init, a toggle, a caught panic), so
/// that a fork never finds one of them held without the handlers in place.
///
/// Not a `Once`: a `fork()` while another thread ran a `Once`'s body leaves
/// it running forever in the child. A caller that finds another thread
/// registering waits for it (holding no lock of the library meanwhile), but
/// not in a child forked meanwhile, where that thread does not exist.
pub fn install_handlers() {
    /// 0: not yet; `DONE`: registered; otherwise the id of the process
    /// whose thread is registering them.
    const DONE: u32 = u32::MAX;
    static STATE: AtomicU32 = AtomicU32::new(0);
    let state = STATE.load(Ordering::Acquire);
    if state == DONE {
        return;
    }
    let me = std::process::id();
    if state == 0 && STATE.compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire).is_ok() {
        register();
        STATE.store(DONE, Ordering::Release);
        return;
    }
    while STATE.load(Ordering::Acquire) == me {
        std::thread::yield_now();
    }
}

fn register() {
    // (Each handler catches its own panics: none unwinds.)
    if let Err(rc) = crate::sys::process::on_fork(prepare, parent, child) {
        log::warn!("cannot register fork handlers (error {rc}): a fork() child may hang");
    }
}

// The locks are taken in the library's lock order (an init's, then the
// consent lock, then the session's, the storm limiter's, the host profile's)
// and each module holds its own guards in a thread-local of the forking thread.
extern "C" fn prepare() {
    let _ = crate::panics::catch(|| {
        super::lock_init_for_fork();
        crate::consent::lock_for_fork();
        super::lock_for_fork();
    });
}

extern "C" fn parent() {
    let _ = crate::panics::catch(|| {
        super::unlock_after_fork();
        crate::consent::unlock_after_fork();
        super::unlock_init_after_fork();
    });
}

extern "C" fn child() {
    crate::sys::process::mark_forked_child();
    // The report file is the parent's: a child's crash writes nothing (the
    // gate stays shut in the child, so no later init turns it back on).
    crate::fatal::stop_writing();
    let _ = crate::panics::catch(|| {
        super::unlock_after_fork();
        crate::consent::unlock_after_fork();
        super::unlock_init_after_fork();
        crate::logging::disable_after_fork();
    });
}
