//! Process-wide platform matters: `fork()` handlers on Unix (Windows has no
//! `fork`: a new process starts from scratch, with no copy of our locks), and
//! `SIGPIPE` (Unix only: Windows has no signals for sockets; a write to a reset
//! socket just fails).

use std::sync::atomic::{AtomicBool, Ordering};

static FORKED: AtomicBool = AtomicBool::new(false);

/// Whether this process is a `fork()` child of the one that set the library
/// up (the library's child handler said so). One atomic load. Always false
/// on Windows.
pub fn in_forked_child() -> bool {
    FORKED.load(Ordering::Relaxed)
}

/// Called by the library's `fork()` child handler, first thing.
pub fn mark_forked_child() {
    FORKED.store(true, Ordering::Relaxed);
}

/// Registers `prepare`, `parent` and `child` around every `fork()` of the
/// process (`pthread_atfork`). `Err(code)` when the system refused. On
/// Windows, where no process is ever forked, nothing to do.
#[cfg(unix)]
pub fn on_fork(prepare: extern "C" fn(), parent: extern "C" fn(), child: extern "C" fn()) -> Result<(), i32> {
    // SAFETY: registers three `extern "C"` functions that take no arguments;
    // the caller's never unwind (each catches its own panics).
    match unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) } {
        0 => Ok(()),
        rc => Err(rc),
    }
}

#[cfg(windows)]
pub fn on_fork(
    _prepare: extern "C" fn(),
    _parent: extern "C" fn(),
    _child: extern "C" fn(),
) -> Result<(), i32> {
    Ok(())
}

/// Test support: gives `SIGPIPE` its default action (death) in this test
/// process, as a host that is not a Rust program has it. Windows has no
/// `SIGPIPE`: nothing to restore.
#[cfg(all(test, unix))]
#[cfg_attr(not(feature = "library-tls"), allow(dead_code))] // (its one user is a TLS test)
pub fn default_sigpipe() {
    // SAFETY: restores the default action of SIGPIPE for this test process
    // (the test harness ignores it, as every Rust program does).
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

#[cfg(all(test, windows))]
#[cfg_attr(not(feature = "library-tls"), allow(dead_code))]
pub fn default_sigpipe() {}

/// Test support: this thread's CPU time (a benchmark's measure; wall time
/// means little on a loaded machine).
#[cfg(all(test, unix))]
pub fn thread_cpu_time() -> std::time::Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid out-pointer for clock_gettime.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(all(test, windows))]
pub fn thread_cpu_time() -> std::time::Duration {
    use windows_sys::Win32::Foundation::FILETIME;
    use windows_sys::Win32::System::Threading::{GetCurrentThread, GetThreadTimes};
    let zero = FILETIME { dwLowDateTime: 0, dwHighDateTime: 0 };
    let (mut creation, mut exit, mut kernel, mut user) = (zero, zero, zero, zero);
    // SAFETY: the pseudo-handle of this thread and four valid out-pointers.
    unsafe { GetThreadTimes(GetCurrentThread(), &mut creation, &mut exit, &mut kernel, &mut user) };
    let ticks = |t: FILETIME| (u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime);
    std::time::Duration::from_nanos((ticks(kernel) + ticks(user)) * 100)
}

/// Test support: gives this thread a host name of its own (a UTS namespace,
/// as root on Linux); `false` where it cannot.
#[cfg(all(test, unix))]
pub fn set_thread_host_name(name: &str) -> bool {
    // SAFETY: unshare and sethostname with a valid buffer; they affect this
    // thread only (its own UTS namespace).
    unsafe {
        libc::unshare(libc::CLONE_NEWUTS) == 0 && libc::sethostname(name.as_ptr().cast(), name.len()) == 0
    }
}

#[cfg(all(test, windows))]
pub fn set_thread_host_name(_: &str) -> bool {
    false
}

/// Test support: the machine's name, read the system's way (`gethostname`;
/// `%COMPUTERNAME%` on Windows).
#[cfg(all(test, unix))]
pub fn host_name() -> String {
    let mut name = [0u8; 256];
    // SAFETY: a writable buffer of the given length.
    assert_eq!(unsafe { libc::gethostname(name.as_mut_ptr().cast(), name.len()) }, 0);
    let len = name.iter().position(|&c| c == 0).unwrap_or(name.len());
    String::from_utf8_lossy(&name[..len]).trim().to_owned()
}

#[cfg(all(test, windows))]
pub fn host_name() -> String {
    std::env::var("COMPUTERNAME").unwrap_or_default()
}
