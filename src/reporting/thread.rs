//! The one way the library starts a thread (`clippy.toml` forbids the others):
//! a panic in it is logged and reported like any caught panic.

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::thread::JoinHandle;
use std::time::Duration;

use super::pipeline::{on_caught_panic, Origin};
use crate::panics;

/// Starts a thread running `f`. A panic in `f` is reported, then the thread
/// ends as Rust threads do (its `JoinHandle` yields the panic).
pub fn spawn_thread<F, T>(name: &str, f: F) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    panics::install_hook();
    let thread_name = name.to_owned();
    #[allow(clippy::disallowed_methods)] // this is the wrapper that clippy.toml points to
    std::thread::Builder::new().name(name.to_owned()).spawn(move || {
        // An alternate signal stack from the start (a fatal-error handler
        // installed later finds it there); freed when the thread ends.
        crate::fatal::library_thread_started();
        match panics::catch(AssertUnwindSafe(f)) {
            Ok(value) => value,
            Err(payload) => {
                on_caught_panic(&*payload, Origin::Thread(&thread_name));
                panic::resume_unwind(payload)
            }
        }
    })
}

/// [`spawn_thread`] for a boxed body whose end nobody joins: the form the
/// delivery's HTTP client takes (`outbox::http::Spawn`) for its resolver
/// threads, handed to it with each request's target.
pub fn spawn_detached(name: &str, f: Box<dyn FnOnce() + Send>) -> io::Result<()> {
    spawn_thread(name, f).map(drop)
}

/// The first pause before a supervised body runs again after a panic; it
/// doubles up to [`RESTART_MAX`], so a body that always panics costs a report
/// now and then (storm control bounds them too), not a busy loop.
pub const RESTART_START: Duration = Duration::from_millis(100);
pub const RESTART_MAX: Duration = Duration::from_secs(60);

/// Starts a thread that runs `body` until it returns: a panic in it is
/// reported like any library thread's, and `body` runs again (after a pause)
/// on the same thread, taking over the same state.
pub fn spawn_supervised<F>(name: &str, body: F) -> io::Result<JoinHandle<()>>
where
    F: Fn() + Send + 'static,
{
    let thread_name = name.to_owned();
    spawn_thread(name, move || {
        let mut pause = RESTART_START;
        while let Err(payload) = panics::catch(AssertUnwindSafe(&body)) {
            on_caught_panic(&*payload, Origin::Thread(&thread_name));
            crate::guard::drop_payload(payload);
            log::error!("library thread {thread_name} panicked; restarting it in {pause:?}");
            std::thread::sleep(pause);
            pause = (pause * 2).min(RESTART_MAX);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[test]
    fn a_supervised_body_that_panics_runs_again_until_it_returns() {
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        let handle = spawn_supervised("libstatus-test-supervised", move || {
            if counted.fetch_add(1, Ordering::SeqCst) < 2 {
                panic!("the body panics on its first two runs");
            }
        })
        .unwrap();
        handle.join().expect("the supervisor itself never panics");
        assert_eq!(runs.load(Ordering::SeqCst), 3, "two panics, two restarts, then a normal return");
    }

    #[test]
    fn a_plain_thread_reports_and_then_yields_its_panic() {
        let handle = spawn_thread("libstatus-test-plain", || -> u8 { panic!("plain thread panic") }).unwrap();
        assert!(handle.join().is_err());
        let handle = spawn_thread("libstatus-test-plain-ok", || 7_u8).unwrap();
        assert_eq!(handle.join().unwrap(), 7);
    }
}
