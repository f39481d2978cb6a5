//! The POSIX part of fatal-error reporting (Linux, Android, macOS, iOS): the
//! signal handler, the alternate signal stacks, and the report writer.
//!
//! Everything the handler does is async-signal-safe: atomic loads, one read
//! of the thread's call tag (a thread-local word every library call has
//! already touched on this thread), `write(2)`, `sigaction(2)`, `raise(3)`,
//! and a stack walk with the unwinder's `_Unwind_Backtrace`, armed once at
//! install (see the README's limits: with glibc 2.35+ and GCC 12+ its table
//! lookup is `_dl_find_object`, which is async-signal-safe; older unwinders
//! take the loader's lock, and a corrupt stack may fault inside the walk,
//! which ends the process before the host's handler runs; the report's
//! header is written before the walk for that reason). No allocation, no
//! lock, no `log`, no `fmt`: numbers are formatted by hand into a buffer on
//! the (alternate) stack.

use std::cell::{Cell, UnsafeCell};
use std::ffi::{c_int, c_void};
use std::fs::OpenOptions;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::IntoRawFd;
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use super::{IMAGE, MAX_FATAL_FRAMES};

/// The signals handled, in this order.
const SIGNALS: [c_int; 5] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGABRT];

/// The alternate stack given to a thread that has none.
const ALT_STACK_SIZE: usize = 64 * 1024;

/// The report file, opened at init; -1 when none.
static REPORT_FD: AtomicI32 = AtomicI32::new(-1);
/// Set by the first handler that writes: one report per process.
static CLAIMED: AtomicBool = AtomicBool::new(false);

/// The handlers that were there before ours, one per signal of [`SIGNALS`].
struct Previous(UnsafeCell<[MaybeUninit<libc::sigaction>; 5]>, [AtomicBool; 5]);
// SAFETY: each slot is written once, in `install` (under the `INSTALLED`
// claim, so by one thread), before its `saved` flag is set with release
// ordering; the handler reads a slot only after seeing the flag (acquire).
unsafe impl Sync for Previous {}

static PREVIOUS: Previous =
    Previous(UnsafeCell::new([MaybeUninit::uninit(); 5]), [const { AtomicBool::new(false) }; 5]);

fn previous(index: usize) -> Option<&'static libc::sigaction> {
    if !PREVIOUS.1[index].load(Ordering::Acquire) {
        return None;
    }
    // SAFETY: the flag says the slot was written (see `Previous`), and it is
    // never written again.
    Some(unsafe { (*PREVIOUS.0.get())[index].assume_init_ref() })
}

/// Opens (truncating) the report file for the handler, private, not through
/// a symbolic link; replaces the one opened before.
pub fn open_report(path: &Path) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    crate::sys::files::private_file(crate::sys::files::no_follow(&mut options, false));
    let file = options.open(path)?;
    let old = REPORT_FD.swap(file.into_raw_fd(), Ordering::SeqCst);
    if old >= 0 {
        // SAFETY: `old` came from `into_raw_fd` above in an earlier call and
        // is owned by nobody else; the swap took it out of the handler's reach.
        unsafe { libc::close(old) };
    }
    Ok(())
}

/// Installs the handler for every signal of [`SIGNALS`], saving the previous
/// handlers; arms the unwinder with one walk first.
pub fn install() {
    arm_unwinder();
    for (index, &signal) in SIGNALS.iter().enumerate() {
        // SAFETY: plain C structs, zero is a valid value for both; the
        // pointers given to `sigaction` point to them and live across the calls.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, ptr::null(), &mut old) != 0 {
                continue;
            }
            (*PREVIOUS.0.get())[index].write(old);
            PREVIOUS.1[index].store(true, Ordering::Release);
            let mut ours: libc::sigaction = std::mem::zeroed();
            ours.sa_sigaction = on_signal as extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) as usize;
            ours.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut ours.sa_mask);
            libc::sigaction(signal, &ours, ptr::null_mut());
        }
    }
}

// ---------------------------------------------------------------------------
// The handler.

extern "C" fn on_signal(signal: c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    let Some(index) = SIGNALS.iter().position(|&s| s == signal) else { return };
    let errno = Errno::save();
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let info_ref = unsafe { &*info };
    let ours = super::writing() && is_ours(info_ref, context);
    if ours {
        if !CLAIMED.swap(true, Ordering::SeqCst) {
            write_report(signal, info_ref);
        }
        restore(signal, index);
        redeliver(signal, info_ref);
    } else {
        pass_on(signal, index, info, context);
    }
    errno.restore();
}

/// The library's fault: the thread is inside one of its calls or threads, or
/// the instruction is in its image. A signal another process sent is never ours.
fn is_ours(info: &libc::siginfo_t, context: *mut c_void) -> bool {
    if info.si_code <= 0 && sender_pid(info) != std::process::id() as libc::pid_t {
        return false;
    }
    if crate::panics::call_tag() != 0 {
        return true;
    }
    let pc = context_pc(context);
    IMAGE.get().is_some_and(|image| pc != 0 && (image.addr..image.addr + image.size).contains(&(pc as u64)))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn sender_pid(info: &libc::siginfo_t) -> libc::pid_t {
    // SAFETY: for a signal with si_code <= 0 (kill, tkill, sigqueue) the
    // kernel fills in the sender's pid.
    unsafe { info.si_pid() }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn sender_pid(info: &libc::siginfo_t) -> libc::pid_t {
    info.si_pid
}

/// The faulting instruction, where this file knows the context's layout; 0
/// elsewhere (the call tag alone then decides).
#[allow(unused_variables)]
fn context_pc(context: *mut c_void) -> usize {
    #[cfg(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64"))]
    // SAFETY: the kernel passes a valid ucontext_t to SA_SIGINFO handlers.
    return unsafe {
        (*(context as *const libc::ucontext_t)).uc_mcontext.gregs[libc::REG_RIP as usize] as usize
    };
    #[cfg(all(target_os = "linux", target_env = "gnu", target_arch = "aarch64"))]
    // SAFETY: as above.
    return unsafe { (*(context as *const libc::ucontext_t)).uc_mcontext.pc as usize };
    #[allow(unreachable_code)]
    0
}

/// A fault the CPU raised: returning re-runs the instruction, which faults
/// again (then under the handler put back).
fn is_fault(signal: c_int, info: &libc::siginfo_t) -> bool {
    info.si_code > 0 && signal != libc::SIGABRT
}

/// Puts the previous handler back (or the default one).
fn restore(signal: c_int, index: usize) {
    // SAFETY: `sigaction` with a valid struct; a zeroed one is SIG_DFL.
    unsafe {
        match previous(index) {
            Some(old) => libc::sigaction(signal, old, ptr::null_mut()),
            None => {
                let mut default: libc::sigaction = std::mem::zeroed();
                default.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(signal, &default, ptr::null_mut())
            }
        };
    }
}

fn set_default(signal: c_int) {
    // SAFETY: as in `restore`.
    unsafe {
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(signal, &default, ptr::null_mut());
    }
}

/// Delivers the signal again to whatever handles it now: a fault re-runs
/// its instruction on return; a raised signal (abort) is raised again, and
/// arrives once this handler returns (it is blocked until then).
fn redeliver(signal: c_int, info: &libc::siginfo_t) {
    if !is_fault(signal, info) {
        // SAFETY: raise is async-signal-safe.
        unsafe { libc::raise(signal) };
    }
}

/// Not ours: to the previous handler at once, as if ours were not there.
fn pass_on(signal: c_int, index: usize, info: *mut libc::siginfo_t, context: *mut c_void) {
    // SAFETY: the kernel's siginfo, valid for the handler's duration.
    let info_ref = unsafe { &*info };
    let Some(old) = previous(index) else {
        set_default(signal);
        redeliver(signal, info_ref);
        return;
    };
    let handler = old.sa_sigaction;
    if handler == libc::SIG_DFL {
        set_default(signal);
        redeliver(signal, info_ref);
    } else if handler == libc::SIG_IGN {
        // The kernel does not let a CPU fault be ignored: it kills.
        if is_fault(signal, info_ref) {
            set_default(signal);
        }
    } else if old.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: a handler installed with SA_SIGINFO has this signature;
        // it gets the kernel's own arguments, untouched.
        let handler: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) =
            unsafe { std::mem::transmute::<usize, _>(handler) };
        handler(signal, info, context);
    } else {
        // SAFETY: a handler installed without SA_SIGINFO takes the signal only.
        let handler: extern "C" fn(c_int) = unsafe { std::mem::transmute::<usize, _>(handler) };
        handler(signal);
    }
}

struct Errno(c_int);

impl Errno {
    fn save() -> Self {
        Errno(io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
    fn restore(self) {
        // SAFETY: the errno location of this thread is always valid.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        unsafe {
            *errno_location() = self.0
        };
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let _ = self.0;
    }
}

#[cfg(target_os = "linux")]
unsafe fn errno_location() -> *mut c_int {
    // SAFETY: always valid for the calling thread.
    unsafe { libc::__errno_location() }
}

#[cfg(target_os = "android")]
unsafe fn errno_location() -> *mut c_int {
    // SAFETY: always valid for the calling thread.
    unsafe { libc::__errno() }
}

// ---------------------------------------------------------------------------
// The writer.

/// A fixed buffer on the handler's stack, flushed to the report file.
struct Out {
    fd: c_int,
    buffer: [u8; 1024],
    len: usize,
}

impl Out {
    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.len == self.buffer.len() {
                self.flush();
            }
            self.buffer[self.len] = b;
            self.len += 1;
        }
    }
    fn hex(&mut self, value: u64) {
        let mut digits = [0u8; 18];
        digits[0] = b'0';
        digits[1] = b'x';
        let mut n = 2;
        let mut started = false;
        for shift in (0..16).rev() {
            let nibble = ((value >> (shift * 4)) & 0xf) as u8;
            if nibble != 0 || started || shift == 0 {
                started = true;
                digits[n] = if nibble < 10 { b'0' + nibble } else { b'a' + nibble - 10 };
                n += 1;
            }
        }
        self.bytes(&digits[..n]);
    }
    fn decimal(&mut self, value: i64) {
        let mut digits = [0u8; 20];
        let mut n = digits.len();
        let mut rest = value.unsigned_abs();
        loop {
            n -= 1;
            digits[n] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        if value < 0 {
            self.bytes(b"-");
        }
        self.bytes(&digits[n..]);
    }
    fn flush(&mut self) {
        let mut done = 0;
        while done < self.len {
            // SAFETY: the buffer's initialised part; write(2) is async-signal-safe.
            let n = unsafe { libc::write(self.fd, self.buffer[done..].as_ptr().cast(), self.len - done) };
            if n <= 0 {
                break;
            }
            done += n as usize;
        }
        self.len = 0;
    }
}

fn write_report(signal: c_int, info: &libc::siginfo_t) {
    let fd = REPORT_FD.load(Ordering::SeqCst);
    if fd < 0 {
        return;
    }
    let mut out = Out { fd, buffer: [0; 1024], len: 0 };
    out.bytes(b"libstatus-fatal 1\nsignal ");
    out.decimal(i64::from(signal));
    out.bytes(b"\ncode ");
    out.decimal(i64::from(info.si_code));
    out.bytes(b"\naddress ");
    // SAFETY: si_addr is meaningful for the fault signals and harmless to read otherwise.
    out.hex(unsafe { info.si_addr() } as u64);
    out.bytes(b"\ntag ");
    out.decimal(i64::from(crate::panics::call_tag()));
    out.bytes(b"\n");
    if let Some(image) = IMAGE.get() {
        out.bytes(b"image ");
        out.bytes(image.code_id.as_bytes());
        out.bytes(b" ");
        out.hex(image.addr);
        out.bytes(b" ");
        out.hex(image.size);
        out.bytes(b"\n");
    }
    if signal == libc::SIGABRT {
        super::with_note(|text| {
            if !text.is_empty() {
                out.bytes(b"panic ");
                out.bytes(text);
                out.bytes(b"\n");
            }
        });
    }
    // The header is on disk before the walk, which is the riskiest part.
    out.flush();
    let mut walk = Walk { out: &mut out, started: false, count: 0, from_top: false };
    walk_stack(&mut walk);
    if walk.count == 0 {
        // No signal frame recognised: every frame, the handler's included.
        walk.from_top = true;
        walk_stack(&mut walk);
    }
    out.bytes(b"end\n");
    out.flush();
}

struct Walk<'a> {
    out: &'a mut Out,
    /// The signal frame was seen: frames from here on are the faulting stack's.
    started: bool,
    count: usize,
    /// Write every frame (the fallback walk).
    from_top: bool,
}

type UnwindContext = c_void;
type TraceFn = extern "C" fn(*mut UnwindContext, *mut c_void) -> c_int;

/// The unwinder's walk (libgcc_s, or LLVM's libunwind on Android and Apple
/// systems). Declared inside functions so that cbindgen, which reads this
/// crate for the header, does not take them for exports.
///
/// # Safety
/// `trace` must accept `arg` as the unwinder passes it back.
unsafe fn unwind_backtrace(trace: TraceFn, arg: *mut c_void) -> c_int {
    extern "C" {
        fn _Unwind_Backtrace(trace: TraceFn, arg: *mut c_void) -> c_int;
    }
    // SAFETY: the caller's contract.
    unsafe { _Unwind_Backtrace(trace, arg) }
}

/// The address of a frame during a walk, and whether it is the interrupted
/// instruction itself (a frame below a signal frame) rather than a return address.
///
/// # Safety
/// `context` is the unwinder's, inside a trace callback.
unsafe fn frame_ip(context: *mut UnwindContext) -> (usize, bool) {
    extern "C" {
        fn _Unwind_GetIPInfo(context: *mut UnwindContext, ip_before_insn: *mut c_int) -> usize;
    }
    let mut before = 0;
    // SAFETY: the caller's contract; `before` outlives the call.
    let ip = unsafe { _Unwind_GetIPInfo(context, &mut before) };
    (ip, before != 0)
}

const URC_NO_REASON: c_int = 0;
const URC_NORMAL_STOP: c_int = 4;

fn walk_stack(walk: &mut Walk<'_>) {
    // SAFETY: `step` only uses `arg` as the `Walk` passed here, which outlives the call.
    unsafe { unwind_backtrace(step, (walk as *mut Walk<'_>).cast()) };
}

extern "C" fn step(context: *mut UnwindContext, arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `Walk` that `walk_stack` passed, alive and unaliased.
    let walk = unsafe { &mut *arg.cast::<Walk<'_>>() };
    // SAFETY: the unwinder's own context, valid during this callback.
    let (ip, exact) = unsafe { frame_ip(context) };
    if !walk.started {
        if exact {
            // The frame the signal interrupted: its address is the faulting
            // instruction itself, not a return address.
            walk.started = true;
            walk.out.bytes(b"top exact\n");
        } else if !walk.from_top {
            return URC_NO_REASON;
        } else {
            walk.started = true;
        }
    }
    walk.out.bytes(b"frame ");
    walk.out.hex(ip as u64);
    walk.out.bytes(b"\n");
    walk.count += 1;
    if walk.count >= MAX_FATAL_FRAMES || ip == 0 {
        return URC_NORMAL_STOP;
    }
    URC_NO_REASON
}

/// One walk at install, outside any handler: the unwinder loads and sets up
/// what it needs (its tables' lookup, lazy bindings) before a signal needs it.
fn arm_unwinder() {
    extern "C" fn count(_: *mut UnwindContext, arg: *mut c_void) -> c_int {
        // SAFETY: `arg` is the counter passed below.
        unsafe { *arg.cast::<usize>() += 1 };
        URC_NO_REASON
    }
    let mut frames = 0usize;
    // SAFETY: `count` uses `arg` as the counter, alive across the call.
    unsafe { unwind_backtrace(count, (&mut frames as *mut usize).cast()) };
}

// ---------------------------------------------------------------------------
// Alternate signal stacks.

/// This thread's alternate stack, if the library gave it one: the mapping's
/// base (a guard page, then the stack). Unmapped when the thread ends.
struct AltStack(Cell<*mut c_void>);

thread_local! {
    static ALT_STACK: AltStack = const { AltStack(Cell::new(ptr::null_mut())) };
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as usize
    } else {
        4096
    }
}

/// Gives this thread an alternate signal stack unless it has one (an
/// existing one, the host's or a runtime's, is left alone), so that a stack
/// overflow can still run the handler.
pub fn ensure_alt_stack() {
    let _ = ALT_STACK.try_with(|alt| {
        if !alt.0.get().is_null() {
            return;
        }
        let page = page_size();
        // SAFETY: `sigaltstack` with a NULL new stack only reads the current
        // one into `current`; `mmap` of a fresh anonymous private mapping;
        // `mprotect` of its first page; `sigaltstack` with a stack that lies
        // in that mapping, which stays mapped until the thread's `Drop` below.
        unsafe {
            let mut current: libc::stack_t = std::mem::zeroed();
            if libc::sigaltstack(ptr::null(), &mut current) != 0 || current.ss_flags & libc::SS_DISABLE == 0 {
                return;
            }
            let base = libc::mmap(
                ptr::null_mut(),
                ALT_STACK_SIZE + page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if base == libc::MAP_FAILED {
                return;
            }
            libc::mprotect(base, page, libc::PROT_NONE);
            let stack = libc::stack_t {
                ss_sp: base.cast::<u8>().add(page).cast(),
                ss_flags: 0,
                ss_size: ALT_STACK_SIZE,
            };
            if libc::sigaltstack(&stack, ptr::null_mut()) != 0 {
                libc::munmap(base, ALT_STACK_SIZE + page);
                return;
            }
            alt.0.set(base);
        }
    });
}

impl Drop for AltStack {
    fn drop(&mut self) {
        let base = self.0.get();
        if base.is_null() {
            return;
        }
        let page = page_size();
        // SAFETY: the mapping is ours (made in `ensure_alt_stack`); the
        // thread's alternate stack is switched off first when it is still
        // ours, and the mapping is left alone if the thread is running on it.
        unsafe {
            let ours = base.cast::<u8>().add(page).cast::<c_void>();
            let mut current: libc::stack_t = std::mem::zeroed();
            if libc::sigaltstack(ptr::null(), &mut current) != 0 || current.ss_flags & libc::SS_ONSTACK != 0 {
                return;
            }
            if current.ss_sp == ours && current.ss_flags & libc::SS_DISABLE == 0 {
                let off = libc::stack_t { ss_sp: ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };
                if libc::sigaltstack(&off, ptr::null_mut()) != 0 {
                    return;
                }
            }
            libc::munmap(base, ALT_STACK_SIZE + page);
        }
        self.0.set(ptr::null_mut());
    }
}

/// Switches this thread's alternate stack off, for tests: a Rust program's
/// threads have std's (a host in C, or a library thread in a C host, has
/// none). std unmaps its own at the thread's end.
#[cfg(test)]
pub fn disable_alt_stack() {
    let off = libc::stack_t { ss_sp: ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };
    // SAFETY: switches the thread's alternate stack off; nothing is unmapped.
    unsafe { libc::sigaltstack(&off, ptr::null_mut()) };
}

/// This thread's alternate stack, for tests: `(base, size, enabled)`.
#[cfg(test)]
pub fn current_alt_stack() -> (usize, usize, bool) {
    // SAFETY: reads the current alternate stack only.
    unsafe {
        let mut current: libc::stack_t = std::mem::zeroed();
        libc::sigaltstack(ptr::null(), &mut current);
        (current.ss_sp as usize, current.ss_size, current.ss_flags & libc::SS_DISABLE == 0)
    }
}

pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGABRT => "SIGABRT",
        _ => "signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek};
    use std::os::fd::AsRawFd;

    #[test]
    fn the_handler_formats_numbers_without_fmt() {
        let mut file = tempfile::tempfile().unwrap();
        let mut out = Out { fd: file.as_raw_fd(), buffer: [0; 1024], len: 0 };
        for value in [0, 1, 0x10, 0xdead_beef, u64::MAX] {
            out.hex(value);
            out.bytes(b" ");
        }
        for value in [0, 7, -11, i64::MIN, i64::MAX] {
            out.decimal(value);
            out.bytes(b" ");
        }
        // Past the buffer: flushed as it fills.
        for _ in 0..300 {
            out.bytes(b"abcd");
        }
        out.flush();
        let mut text = String::new();
        file.rewind().unwrap();
        file.read_to_string(&mut text).unwrap();
        let expected = format!(
            "0x0 0x1 0x10 0xdeadbeef 0xffffffffffffffff 0 7 -11 {} {} {}",
            i64::MIN,
            i64::MAX,
            "abcd".repeat(300)
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn library_threads_get_an_alternate_stack_freed_when_they_end() {
        #[allow(clippy::disallowed_methods)] // a bare thread stands in for a host's
        let (base, size, on) = std::thread::spawn(|| {
            disable_alt_stack();
            ensure_alt_stack();
            let first = current_alt_stack();
            ensure_alt_stack();
            assert_eq!(current_alt_stack(), first, "one per thread");
            first
        })
        .join()
        .unwrap();
        assert!(on && size == ALT_STACK_SIZE && base != 0);
        // Unmapped at the thread's end: the guard page and the stack are gone.
        // SAFETY: msync only asks whether the range is mapped.
        let mapped = unsafe { libc::msync((base - page_size()) as *mut c_void, size, libc::MS_ASYNC) } == 0;
        assert!(!mapped, "the alternate stack was not unmapped");
    }

    #[test]
    fn an_existing_alternate_stack_is_left_alone() {
        #[allow(clippy::disallowed_methods)]
        std::thread::spawn(|| {
            let mut memory = vec![0u8; ALT_STACK_SIZE];
            let theirs =
                libc::stack_t { ss_sp: memory.as_mut_ptr().cast(), ss_flags: 0, ss_size: memory.len() };
            // SAFETY: the memory outlives its use: the stack is switched off below.
            unsafe { libc::sigaltstack(&theirs, ptr::null_mut()) };
            ensure_alt_stack();
            assert_eq!(current_alt_stack().0, memory.as_ptr() as usize);
            // Off before the test's memory goes.
            disable_alt_stack();
        })
        .join()
        .unwrap();
    }
}
