//! The panic hook, and what the library knows about the panic machinery.
//!
//! - The hook records what only the panicking stack can tell (where, and the
//!   return addresses of the stack). Panics the library catches itself
//!   (inside [`catch`]: the guard and the thread wrapper) end there: std's
//!   default hook does not print them, and no backtrace is symbolicated on the
//!   caller's thread, whatever `RUST_BACKTRACE` says; the library logs them
//!   itself. Every other panic (the host's, in a Rust host) also goes to the
//!   hook that was there before.
//! - Reporting does not happen here. The hook runs while the thread is
//!   panicking, where a second panic aborts the process and a lock held further
//!   up the stack would deadlock; so it only stores a [`PanicRecord`] in a
//!   thread-local, and the code that catches the panic reports it once the
//!   stack has unwound and every lock is released.
//! - Nothing here reads debug information. The top of a captured stack is the
//!   panic machinery (the hook, std's panic entry points, `unwrap`'s helpers);
//!   [`site_index`] finds the first frame below it, the panic site, by
//!   comparing the unwinder's function start addresses with the machinery's,
//!   learned once on a library thread from deliberate calibration panics of
//!   every common kind (which are never reported).
//!
//! (Longer than the house's 400 lines on purpose: the calibration, which
//! panics deliberately at start-up to learn the machinery's addresses, must
//! sit beside the hook that recognises and hides those panics.)

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe, PanicHookInfo, UnwindSafe};
use std::sync::{Once, OnceLock};

/// At most this many return addresses are captured per panic (innermost first).
pub const MAX_FRAMES: usize = 256;

thread_local! {
    /// Set by [`panic_intended`] for the hook: such events get their own
    /// exception type, so they are easy to tell from real bugs (status-go does
    /// the same).
    static INTENDED: Cell<bool> = const { Cell::new(false) };
    /// Whether this thread is inside one of the library's [`catch`] scopes
    /// (a panic here is the library's to log and report), and in which call
    /// (see [`catch_tagged`]).
    static CATCHING: Cell<u32> = const { Cell::new(0) };
    /// Set on the calibration thread, whose panics are never reported.
    static CALIBRATING: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<PanicRecord>> = const { RefCell::new(None) };
}

/// Panics on purpose with `message`, marked as intended. Never inlined: its
/// frame is then one calibration learns (so it is trimmed), and the panic
/// site is its caller, in the event as in the panic's location.
#[track_caller]
#[inline(never)]
pub fn panic_intended(message: String) -> ! {
    #[cfg(feature = "test-panics")]
    if let Some(kind) = test_kinds::take() {
        test_kinds::panic(kind, &message);
    }
    let _ = INTENDED.try_with(|flag| flag.set(true));
    std::panic::panic_any(message)
}

/// Test builds only (feature `test-panics`, export `TestPanic`): the common
/// kinds of panics, each at a site of its own, reached through the
/// `IntendedPanic` endpoint and the guard like any bug in an endpoint.
#[cfg(feature = "test-panics")]
pub mod test_kinds {
    use std::cell::Cell;
    use std::hint::black_box;

    thread_local! {
        static NEXT: Cell<i32> = const { Cell::new(-1) };
    }

    /// The kinds, by number: `panic!` with format arguments, `unwrap()` on
    /// `None`, `expect()` on `Err`, an index out of bounds, `panic_any` with
    /// a non-string payload.
    pub const KINDS: &[&str] = &["format", "unwrap_none", "expect_err", "index", "panic_any"];

    /// The next `panic_intended` on this thread panics as `kind` instead.
    pub fn arm(kind: i32) {
        NEXT.with(|next| next.set(kind));
    }

    pub fn disarm() {
        NEXT.with(|next| next.set(-1));
    }

    pub(super) fn take() -> Option<i32> {
        NEXT.try_with(|next| next.replace(-1)).ok().filter(|&k| k >= 0)
    }

    /// The fatal kinds, by number from [`FATAL_BASE`]: a stack overflow, a
    /// panic in a `Drop` during unwinding, a read through a bad pointer,
    /// `std::process::abort`, an allocation failure. Each ends the process.
    pub const FATAL_KINDS: &[&str] =
        &["stack_overflow", "drop_during_unwind", "bad_pointer", "abort", "alloc"];
    pub const FATAL_BASE: i32 = 100;

    pub(super) fn panic(kind: i32, message: &str) {
        match kind {
            100 => {
                black_box(stack_overflow(black_box(1)));
            }
            101 => drop_during_unwind(message),
            102 => {
                black_box(bad_pointer(black_box(0x10)));
            }
            103 => abort(message),
            104 => alloc(message),
            0 => format(message),
            1 => unwrap_none(message),
            2 => expect_err(message),
            3 => index(message),
            _ => any(message),
        }
    }

    fn format(message: &str) {
        panic!("{message} (format {})", black_box(42))
    }

    fn unwrap_none(message: &str) {
        let value: Option<&str> = black_box(None);
        black_box(message);
        black_box(value.unwrap());
    }

    fn expect_err(message: &str) {
        let value: Result<u8, String> = black_box(Err(message.to_owned()));
        black_box(value.expect("expect_err"));
    }

    fn index(message: &str) {
        let bytes = message.as_bytes();
        black_box(bytes[black_box(bytes.len() + 10)]);
    }

    fn any(message: &str) {
        black_box(message);
        std::panic::panic_any(black_box(0x5eed_u32))
    }

    #[inline(never)]
    #[allow(unconditional_recursion)]
    fn stack_overflow(depth: u64) -> u64 {
        let frame = black_box([depth; 64]);
        black_box(stack_overflow(black_box(depth + 1))).wrapping_add(frame[black_box(3)])
    }

    struct PanicsOnDrop;

    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            if std::thread::panicking() {
                panic!("a Drop panicked during unwinding");
            }
        }
    }

    #[inline(never)]
    fn drop_during_unwind(message: &str) {
        let _guard = PanicsOnDrop;
        panic!("{message} (unwinding into a panicking Drop)")
    }

    #[inline(never)]
    fn bad_pointer(address: usize) -> u64 {
        // SAFETY: not safe, on purpose (test builds only): reads an address
        // no mapping holds, so that the CPU faults inside the library.
        unsafe { std::ptr::read_volatile(address as *const u64) }
    }

    #[inline(never)]
    fn abort(message: &str) {
        black_box(message);
        std::process::abort()
    }

    #[inline(never)]
    fn alloc(message: &str) {
        black_box(message);
        std::alloc::handle_alloc_error(std::alloc::Layout::new::<[u64; 1024]>())
    }
}

/// Whether this thread's current panic came from [`panic_intended`]; clears the mark.
fn take_intended() -> bool {
    INTENDED.try_with(|flag| flag.replace(false)).unwrap_or(false)
}

/// `catch_unwind` for the library's own catch points (the guard, the thread
/// wrapper): a panic inside is recorded for the library to log and report,
/// and is not passed to the previous panic hook. The thread counts as inside
/// the library meanwhile (see [`call_tag`]): a library thread when no call
/// tagged it before.
#[inline(always)] // the hot path of every call (the shipped build optimises for size)
pub fn catch<F: FnOnce() -> R + UnwindSafe, R>(f: F) -> std::thread::Result<R> {
    catch_tagged(0, f)
}

/// [`catch`] for one call of an export: `tag` is the endpoint's index + 1,
/// which a fatal-error report names.
#[inline(always)]
pub fn catch_call<F: FnOnce() -> R + UnwindSafe, R>(tag: u8, f: F) -> std::thread::Result<R> {
    catch_tagged(u32::from(tag), f)
}

/// The thread's catch state, one word: the call tag (bits 16-23; never 0
/// inside one of the library's catch scopes, 0 outside them) and whether the
/// thread is prepared for fatal errors (bit 31). Each scope restores the
/// word it found on the way out: the tag is the innermost scope's, and no
/// count of the scopes is needed.
const TAG_SHIFT: u32 = 16;
const TAG: u32 = 0xff << TAG_SHIFT;
const PREPARED: u32 = 1 << 31;

#[inline(always)]
fn catch_tagged<F: FnOnce() -> R + UnwindSafe, R>(tag: u32, f: F) -> std::thread::Result<R> {
    // One thread-local access per catch (in a shared library each costs a
    // `__tls_get_addr` call): the state changes and is restored inside it,
    // and nothing can unwind past `catch_unwind` to skip the restore.
    let mut f = Some(f);
    let counted = CATCHING.try_with(|state| {
        let mut before = state.get();
        if before & PREPARED == 0 && crate::fatal::installed() {
            crate::fatal::prepare_thread();
            before |= PREPARED;
        }
        let tag = match tag {
            0 if before & TAG != 0 => before & TAG,
            0 => crate::fatal::THREAD_TAG << TAG_SHIFT,
            tag => tag << TAG_SHIFT,
        };
        state.set((before & PREPARED) | tag);
        let result = f.take().map(panic::catch_unwind);
        state.set(before);
        result
    });
    match (counted, f) {
        (Ok(Some(result)), _) => result,
        // The thread is exiting (its locals are gone): catch uncounted.
        (_, Some(f)) => panic::catch_unwind(f),
        // Not reachable (the closure is taken only inside the access, which
        // then answers); answered as a caught panic rather than a new one.
        (_, None) => Err(Box::new("libstatus: catch lost its closure")),
    }
}

/// The call this thread is in: 0 outside the library's catch scopes, else
/// the tag of the innermost ([`crate::fatal::THREAD_TAG`] for a library
/// thread, an endpoint's index + 1 for an export). Async-signal-safe on a
/// thread that called into the library before (its thread-local block
/// exists then); read by the fatal-signal handler.
pub fn call_tag() -> u32 {
    CATCHING.try_with(|state| (state.get() & TAG) >> TAG_SHIFT).unwrap_or(0)
}

/// [`catch`] for a catch point nested inside another: the outer [`catch`]
/// already counts this thread as catching, so this one skips the
/// thread-local bookkeeping (the guard's hot path).
#[inline(always)]
pub fn catch_nested<F: FnOnce() -> R + UnwindSafe, R>(f: F) -> std::thread::Result<R> {
    debug_assert!(caught_by_library() || CATCHING.try_with(|_| ()).is_err());
    panic::catch_unwind(f)
}

fn caught_by_library() -> bool {
    CATCHING.try_with(|state| state.get() & TAG != 0).unwrap_or(false)
}

/// Where a panic happened, as the compiler saw it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PanicLocation {
    pub file: String,
    pub line: u32,
    pub column: u32,
}

/// What the hook saw of one panic.
#[derive(Debug)]
pub struct PanicRecord {
    pub message: String,
    pub intended: bool,
    pub location: Option<PanicLocation>,
    /// Return addresses of the panicking stack, innermost first, the panic
    /// machinery included (see [`site_index`]); empty when the hook did not
    /// see the panic. Only addresses: nothing is symbolicated in process.
    pub frames: Vec<usize>,
    /// Consent when the panic happened.
    pub consent: crate::consent::AtPanic,
}

/// Installs the hook once per process, in front of whatever hook was there:
/// the previous hook (the host's, Rust's default printer, another SDK's) still
/// runs for every panic the library does not catch itself.
pub fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            // Before `record`, which replaces the panic being unwound.
            if caught_by_library() && panicking_already() {
                note_fatal(info);
            }
            record(info);
            if !caught_by_library() {
                previous(info);
            }
        }));
    });
}

/// Whether this thread was already panicking: the record of an earlier panic
/// is still there, not yet taken by the catch that ends it.
fn panicking_already() -> bool {
    LAST_PANIC.try_with(|slot| slot.try_borrow().map_or(true, |s| s.is_some())).unwrap_or(false)
}

/// A panic in the library while it was already panicking: if std aborts next
/// (a panic in a `Drop` during unwinding ends in "panic in a destructor
/// during cleanup", which cannot unwind), the abort's fatal-error report
/// carries this text and the text of the panic being unwound. (Stable Rust
/// does not tell the hook whether a panic can unwind.)
fn note_fatal(info: &PanicHookInfo<'_>) {
    let at = |l: &std::panic::Location<'_>| format!(" at {}:{}:{}", l.file(), l.line(), l.column());
    let text =
        format!("{}{}", message_from_payload(info.payload()), info.location().map(at).unwrap_or_default());
    let earlier = LAST_PANIC.try_with(|slot| {
        slot.try_borrow().ok().and_then(|s| {
            s.as_ref().map(|r| {
                let location = r.location.as_ref().map(|l| format!(" at {}:{}:{}", l.file, l.line, l.column));
                format!("{}{}", r.message, location.unwrap_or_default())
            })
        })
    });
    crate::fatal::note_fatal_panic(&text, earlier.ok().flatten().as_deref());
}

fn record(info: &PanicHookInfo<'_>) {
    let record = PanicRecord {
        message: message_from_payload(info.payload()),
        intended: take_intended(),
        location: info.location().map(|l| PanicLocation {
            file: l.file().to_owned(),
            line: l.line(),
            column: l.column(),
        }),
        // In a `fork()` child no stack is walked (no report is made there,
        // and the walker's lock may be held by a parent's thread).
        frames: if crate::sys::process::in_forked_child() { Vec::new() } else { capture() },
        consent: crate::consent::at_panic(),
    };
    // `try_with`/`try_borrow_mut`: a panic during thread-local teardown or
    // while the slot is borrowed must not turn into a second panic (an abort).
    let _ = LAST_PANIC.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            *slot = Some(record);
        }
    });
}

/// The address range of the module this code is linked into, once known
/// (see [`set_own_image`]).
static OWN_IMAGE: OnceLock<std::ops::Range<usize>> = OnceLock::new();

/// Tells the hook where this library's image lies, so that its stack walk
/// stops where the host's frames begin (an event carries our frames only).
pub fn set_own_image(range: std::ops::Range<usize>) {
    let _ = OWN_IMAGE.set(range);
}

/// The return addresses of this thread's stack, innermost first: one walk of
/// the unwind tables, no symbolication. The walk starts in this library (the
/// hook) and stops at the first frame outside it once the library's frames
/// have ended: the host's frames (a JNI or Qt stack can be deep) are not
/// walked at all.
fn capture() -> Vec<usize> {
    let own = OWN_IMAGE.get();
    let mut frames = Vec::with_capacity(64);
    backtrace::trace(|frame| {
        let ip = frame.ip() as usize;
        if own.is_some_and(|own| !own.contains(&ip)) && !frames.is_empty() {
            return false;
        }
        frames.push(ip);
        frames.len() < MAX_FRAMES
    });
    frames
}

/// The record of the panic this thread just caught, given its payload. When
/// the hook did not see it (another hook replaced ours without chaining), the
/// record is rebuilt from the payload alone, without location or frames.
pub fn take_record(payload: &(dyn Any + Send)) -> PanicRecord {
    crate::fatal::clear_note();
    let recorded =
        LAST_PANIC.try_with(|slot| slot.try_borrow_mut().ok().and_then(|mut s| s.take())).ok().flatten();
    let message = message_from_payload(payload);
    match recorded {
        Some(record) if record.message == message => record,
        _ => PanicRecord {
            message,
            intended: take_intended(),
            location: None,
            frames: Vec::new(),
            // Not seen when it happened: now is the best known.
            consent: crate::consent::at_panic(),
        },
    }
}

/// The human message of a panic payload (`panic!` gives `&str` or `String`).
pub fn message_from_payload(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

// ---------------------------------------------------------------------------
// The panic machinery, learned without symbols.

/// The start address of the function that contains the return address `ip`,
/// from the unwinder's tables (each platform's way: `crate::sys::unwind`).
pub use crate::sys::unwind::function_start;

/// One way of reaching the hook, from the function that called the panic
/// machinery: the function starts between std's hook caller and the panic
/// site, innermost first. `None` is a generic function (an instance per
/// payload or value type, like `begin_panic::<M>`): any frame matches it.
type Pattern = Vec<Option<usize>>;

/// What calibration learned.
#[derive(Debug, Clone)]
pub struct Calibration {
    /// Start of std's function that calls the hook (`panic_with_hook`).
    hook_caller: usize,
    patterns: Vec<Pattern>,
}

static CALIBRATION: OnceLock<Option<Calibration>> = OnceLock::new();

/// The calibration, learned once: the first time, `learn` runs [`calibrate`]
/// (reporting runs it on a library thread and waits, a millisecond or two;
/// `InitializeApplication` starts it ahead). This room starts no thread of
/// its own: the thread wrapper lives above it. `None` when it failed: stacks
/// are then sent untrimmed.
pub fn calibration_or(
    learn: impl FnOnce(fn() -> Option<Calibration>) -> Option<Calibration>,
) -> Option<&'static Calibration> {
    if CALIBRATING.try_with(Cell::get).unwrap_or(true) {
        return None;
    }
    CALIBRATION.get_or_init(|| learn(calibrate)).as_ref()
}

/// Index in `frames` (return addresses, innermost first) of the panic site:
/// the first frame below the hook, std's panic entry points and the
/// `unwrap`/`expect`/bounds-check helpers. 0 when the machinery is not
/// recognised (or `calibration` is `None`).
pub fn site_index(calibration: Option<&Calibration>, frames: &[usize]) -> usize {
    calibration.map_or(0, |calibration| calibration.site_index(frames))
}

impl Calibration {
    pub fn site_index(&self, frames: &[usize]) -> usize {
        let starts: Vec<usize> = frames.iter().map(|&ip| function_start(ip)).collect();
        let Some(hook_caller) = starts.iter().position(|&s| s == self.hook_caller) else {
            return 0;
        };
        let tail = &starts[hook_caller + 1..];
        let matches = |pattern: &Pattern| {
            pattern.len() < tail.len()
                && pattern.iter().zip(tail).all(|(want, got)| want.is_none_or(|want| want == *got))
        };
        // The most specific way that fits: most known functions, then fewest
        // frames (never swallow a frame of the code that panicked on a guess).
        let machinery = self
            .patterns
            .iter()
            .filter(|p| matches(p))
            .max_by_key(|p| (p.iter().flatten().count(), std::cmp::Reverse(p.len())))
            .map_or(0, Vec::len);
        hook_caller + 1 + machinery
    }
}

/// Payload and value types only calibration uses, so that every generic
/// function they go through is an instance nobody else has.
#[derive(Debug, PartialEq)]
struct CalibrationA(#[allow(dead_code)] u64);
#[derive(Debug, PartialEq)]
struct CalibrationB(#[allow(dead_code)] [u8; 3]);

trait Probe: std::fmt::Debug + PartialEq + Send + 'static {
    fn make() -> Self;
    /// A value unequal to [`Probe::make`]'s (for `assert_eq!` to fail).
    fn other() -> Self;
}
impl Probe for CalibrationA {
    fn make() -> Self {
        CalibrationA(std::hint::black_box(7))
    }
    fn other() -> Self {
        CalibrationA(std::hint::black_box(8))
    }
}
impl Probe for CalibrationB {
    fn make() -> Self {
        CalibrationB(std::hint::black_box([1, 2, 3]))
    }
    fn other() -> Self {
        CalibrationB(std::hint::black_box([3, 2, 1]))
    }
}

/// The panic sites of calibration, one per kind of panic. Each is never
/// inlined, so that it has a frame whose start is its address.
mod sites {
    use super::Probe;
    use std::hint::black_box;

    #[inline(never)]
    pub fn format<T: Probe>() {
        panic!("calibration {:?}", black_box(T::make()))
    }
    #[inline(never)]
    pub fn literal<T: Probe>() {
        if black_box(true) {
            panic!("calibration");
        }
    }
    #[inline(never)]
    pub fn unwrap_none<T: Probe>() {
        black_box(black_box(None::<T>).unwrap());
    }
    #[inline(never)]
    pub fn expect_none<T: Probe>() {
        black_box(black_box(None::<T>).expect("calibration"));
    }
    #[inline(never)]
    pub fn unwrap_err<T: Probe>() {
        black_box(black_box(Err::<u8, T>(T::make())).unwrap());
    }
    #[inline(never)]
    pub fn expect_err<T: Probe>() {
        black_box(black_box(Err::<u8, T>(T::make())).expect("calibration"));
    }
    #[inline(never)]
    pub fn index<T: Probe>() {
        let array = [black_box(1_u8); 2];
        black_box(array[black_box(5)]);
    }
    #[inline(never)]
    #[allow(clippy::useless_vec)] // a Vec: indexing through `Index for Vec`, not the built-in one
    pub fn vec_index<T: Probe>() {
        let v = vec![T::make()];
        black_box(&v[black_box(5)]);
    }
    #[inline(never)]
    #[allow(clippy::useless_vec)] // a Vec: ranges through `Index for Vec`
    pub fn slice_range<T: Probe>() {
        let v = vec![T::make()];
        black_box(&v[..black_box(5)]);
    }
    #[inline(never)]
    pub fn str_slice<T: Probe>() {
        black_box(&black_box("é")[..black_box(1)]);
    }
    #[inline(never)]
    pub fn assert_eq<T: Probe>() {
        assert_eq!(black_box(T::make()), black_box(T::other()), "calibration {}", black_box(1));
    }
    #[inline(never)]
    pub fn assert<T: Probe>() {
        assert!(black_box(false), "calibration");
    }
    #[inline(never)]
    pub fn unreachable<T: Probe>() {
        if black_box(true) {
            unreachable!("calibration");
        }
    }
    #[inline(never)]
    pub fn divide<T: Probe>() {
        black_box(black_box(1_u32) / black_box(0_u32));
    }
    #[inline(never)]
    pub fn refcell<T: Probe>() {
        let cell = std::cell::RefCell::new(T::make());
        let _borrowed = cell.borrow_mut();
        black_box(cell.borrow_mut());
    }
    #[inline(never)]
    pub fn any<T: Probe>() {
        std::panic::panic_any(T::make())
    }
    #[inline(never)]
    pub fn any_str<T: Probe>() {
        std::panic::panic_any(black_box("calibration"))
    }
    #[inline(never)]
    pub fn any_string<T: Probe>() {
        std::panic::panic_any(black_box(String::from("calibration")))
    }
    #[inline(never)]
    pub fn intended<T: Probe>() {
        crate::panics::panic_intended(black_box(String::from("calibration")))
    }
}

type Site = fn();

fn kinds<T: Probe>() -> Vec<Site> {
    vec![
        sites::format::<T>,
        sites::literal::<T>,
        sites::unwrap_none::<T>,
        sites::expect_none::<T>,
        sites::unwrap_err::<T>,
        sites::expect_err::<T>,
        sites::index::<T>,
        sites::vec_index::<T>,
        sites::slice_range::<T>,
        sites::str_slice::<T>,
        sites::assert_eq::<T>,
        sites::assert::<T>,
        sites::unreachable::<T>,
        sites::divide::<T>,
        sites::refcell::<T>,
        sites::any::<T>,
        sites::any_str::<T>,
        sites::any_string::<T>,
        sites::intended::<T>,
    ]
}

/// The function starts above the site of one deliberate panic (innermost
/// first), or `None` if the site's frame was not found.
fn probe(site: Site) -> Option<Vec<usize>> {
    let payload = catch(AssertUnwindSafe(site)).err()?;
    let record = take_record(&*payload);
    if let Err(again) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
    let starts: Vec<usize> = record.frames.iter().map(|&ip| function_start(ip)).collect();
    let site_start = site as usize;
    let at = starts.iter().position(|&s| s == site_start)?;
    Some(starts[..at].to_vec())
}

/// Panics once per kind, twice (with two private types), and learns the
/// machinery: the frames every panic shares end at std's hook caller; below
/// it, a frame that is the same in both runs is a known function, one that
/// differs is a generic instance.
fn calibrate() -> Option<Calibration> {
    let _ = CALIBRATING.try_with(|c| c.set(true));
    let learned = catch(|| {
        let runs: Vec<(Vec<usize>, Vec<usize>)> = kinds::<CalibrationA>()
            .into_iter()
            .zip(kinds::<CalibrationB>())
            .filter_map(|(a, b)| Some((probe(a)?, probe(b)?)))
            .collect();
        learn(&runs)
    });
    learned.ok().flatten()
}

fn learn(runs: &[(Vec<usize>, Vec<usize>)]) -> Option<Calibration> {
    let (first, _) = runs.first()?;
    // The frames above std's hook caller are the same for every panic.
    let mut shared = first.len();
    for (a, b) in runs {
        for chain in [a, b] {
            shared = shared.min(first.iter().zip(chain.iter()).take_while(|(x, y)| x == y).count());
        }
    }
    if shared == 0 {
        return None;
    }
    let hook_caller = first[shared - 1];
    let mut patterns: Vec<Pattern> = Vec::new();
    for (a, b) in runs {
        let (a, b) = (&a[shared..], &b[shared..]);
        if a.len() != b.len() {
            continue;
        }
        let pattern: Pattern = a.iter().zip(b).map(|(x, y)| (x == y).then_some(*x)).collect();
        if !patterns.contains(&pattern) {
            patterns.push(pattern);
        }
    }
    Some(Calibration { hook_caller, patterns })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_records_location_and_frames_of_caught_panics() {
        install_hook();
        let payload = catch(|| panic!("boom {}", 42)).unwrap_err();
        let record = take_record(&*payload);
        assert_eq!(record.message, "boom 42");
        assert!(!record.intended);
        assert!(record.location.unwrap().file.ends_with("panics.rs"));
        assert!(record.frames.len() > 3, "{:?}", record.frames);
        // Taken once: a second take falls back to the payload.
        assert!(take_record(&*payload).frames.is_empty());
    }

    #[test]
    fn intended_panics_are_marked() {
        install_hook();
        let payload = catch(|| panic_intended("on purpose".into())).unwrap_err();
        let record = take_record(&*payload);
        assert!(record.intended);
        assert_eq!(record.message, "on purpose");
    }

    /// `TestPanic`'s kinds (test builds): the armed kind is taken once, by
    /// the next intended panic on this thread, and panics its own way.
    #[test]
    #[cfg(feature = "test-panics")]
    fn each_test_kind_panics_its_own_way_once() {
        install_hook();
        let message = |kind: Option<i32>| {
            if let Some(kind) = kind {
                test_kinds::arm(kind);
            }
            let payload = catch(|| panic_intended("armed".into())).unwrap_err();
            let record = take_record(&*payload);
            (record.message, record.intended)
        };
        assert_eq!(message(Some(0)), ("armed (format 42)".into(), false));
        assert_eq!(message(Some(1)), ("called `Option::unwrap()` on a `None` value".into(), false));
        assert_eq!(message(Some(2)), ("expect_err: \"armed\"".into(), false));
        assert_eq!(message(Some(3)), ("index out of bounds: the len is 5 but the index is 15".into(), false));
        assert_eq!(message(Some(4)), ("panic with a non-string payload".into(), false));
        assert_eq!(message(None), ("armed".into(), true), "taken by the panic before");
        test_kinds::arm(2);
        test_kinds::disarm();
        assert_eq!(message(None), ("armed".into(), true), "disarmed");
    }

    #[test]
    fn non_string_payloads_have_a_message() {
        let payload: Box<dyn Any + Send> = Box::new(17_u8);
        assert_eq!(message_from_payload(&*payload), "panic with a non-string payload");
    }

    #[inline(never)]
    fn site_unwrap(v: Option<u32>) -> u32 {
        v.unwrap()
    }

    #[inline(never)]
    fn site_any(v: u16) {
        panic::panic_any(v)
    }

    #[test]
    fn calibration_finds_the_site_below_the_machinery() {
        install_hook();
        #[allow(clippy::disallowed_methods)] // the test's own thread stands in for the wrapper
        let calibration = calibration_or(|calibrate| std::thread::spawn(calibrate).join().ok().flatten())
            .expect("calibration");
        for (site, run) in [
            (
                site_unwrap as fn(Option<u32>) -> u32 as usize,
                Box::new(|| {
                    let _ = site_unwrap(None);
                }) as Box<dyn Fn()>,
            ),
            (site_any as fn(u16) as usize, Box::new(|| site_any(3))),
        ] {
            let payload = catch(AssertUnwindSafe(run)).unwrap_err();
            let record = take_record(&*payload);
            let at = calibration.site_index(&record.frames);
            assert_eq!(function_start(record.frames[at]), site, "{calibration:?}");
        }
    }

    /// Each calibration site panics, with either private type, and its frame
    /// is found below the machinery (`assert_eq!`'s site compared two equal
    /// values, so that kind was never learned).
    #[test]
    fn every_calibration_site_panics_and_is_found_in_its_stack() {
        install_hook();
        let names = [
            "format",
            "literal",
            "unwrap_none",
            "expect_none",
            "unwrap_err",
            "expect_err",
            "index",
            "vec_index",
            "slice_range",
            "str_slice",
            "assert_eq",
            "assert",
            "unreachable",
            "divide",
            "refcell",
            "any",
            "any_str",
            "any_string",
            "intended",
        ];
        let a = kinds::<CalibrationA>();
        let b = kinds::<CalibrationB>();
        assert_eq!((a.len(), b.len()), (names.len(), names.len()));
        let lost: Vec<_> = names
            .iter()
            .zip(a.into_iter().zip(b))
            .filter(|(_, (a, b))| probe(*a).is_none() || probe(*b).is_none())
            .map(|(name, _)| name)
            .collect();
        assert!(lost.is_empty(), "kinds calibration cannot learn: {lost:?}");
    }

    /// One site per kind of panic calibration learns, none of them generic:
    /// the code of a real bug, not calibration's own instances.
    mod bug_sites {
        use std::hint::black_box;

        #[inline(never)]
        pub fn format() {
            panic!("bug {}", black_box(1))
        }
        #[inline(never)]
        pub fn literal() {
            if black_box(true) {
                panic!("bug");
            }
        }
        #[inline(never)]
        pub fn unwrap_none() {
            black_box(black_box(None::<u16>).unwrap());
        }
        #[inline(never)]
        pub fn expect_none() {
            black_box(black_box(None::<u16>).expect("bug"));
        }
        #[inline(never)]
        pub fn unwrap_err() {
            black_box(black_box(Err::<u8, i64>(3)).unwrap());
        }
        #[inline(never)]
        pub fn expect_err() {
            black_box(black_box(Err::<u8, i64>(3)).expect("bug"));
        }
        #[inline(never)]
        pub fn index() {
            let array = [black_box(1_u16); 2];
            black_box(array[black_box(7)]);
        }
        #[inline(never)]
        #[allow(clippy::useless_vec)] // indexing through `Index for Vec`
        pub fn vec_index() {
            let v = vec![black_box(1_i64)];
            black_box(&v[black_box(7)]);
        }
        #[inline(never)]
        #[allow(clippy::useless_vec)] // ranges through `Index for Vec`
        pub fn slice_range() {
            let v = vec![black_box(1_i64)];
            black_box(&v[..black_box(7)]);
        }
        #[inline(never)]
        pub fn str_slice() {
            black_box(&black_box("ü")[..black_box(1)]);
        }
        #[inline(never)]
        pub fn assert_eq() {
            assert_eq!(black_box(1_i64), black_box(2_i64), "bug {}", black_box(1));
        }
        #[inline(never)]
        pub fn assert() {
            assert!(black_box(false), "bug");
        }
        #[inline(never)]
        pub fn unreachable() {
            if black_box(true) {
                unreachable!("bug");
            }
        }
        #[inline(never)]
        pub fn divide() {
            black_box(black_box(7_u64) / black_box(0_u64));
        }
        #[inline(never)]
        pub fn refcell() {
            let cell = std::cell::RefCell::new(black_box(1_i64));
            let _borrowed = cell.borrow_mut();
            black_box(cell.borrow_mut());
        }
        #[inline(never)]
        pub fn any() {
            std::panic::panic_any(black_box(1_i64))
        }
        #[inline(never)]
        pub fn any_str() {
            std::panic::panic_any(black_box("bug"))
        }
        #[inline(never)]
        pub fn any_string() {
            std::panic::panic_any(black_box(String::from("bug")))
        }
        #[inline(never)]
        pub fn intended() {
            crate::panics::panic_intended(black_box(String::from("bug")))
        }
    }

    #[test]
    fn every_kind_of_panic_is_cut_at_its_site() {
        install_hook();
        #[allow(clippy::disallowed_methods)] // the test's own thread stands in for the wrapper
        let calibration = calibration_or(|calibrate| std::thread::spawn(calibrate).join().ok().flatten())
            .expect("calibration");
        let sites: [(&str, fn()); 19] = [
            ("format", bug_sites::format),
            ("literal", bug_sites::literal),
            ("unwrap_none", bug_sites::unwrap_none),
            ("expect_none", bug_sites::expect_none),
            ("unwrap_err", bug_sites::unwrap_err),
            ("expect_err", bug_sites::expect_err),
            ("index", bug_sites::index),
            ("vec_index", bug_sites::vec_index),
            ("slice_range", bug_sites::slice_range),
            ("str_slice", bug_sites::str_slice),
            ("assert_eq", bug_sites::assert_eq),
            ("assert", bug_sites::assert),
            ("unreachable", bug_sites::unreachable),
            ("divide", bug_sites::divide),
            ("refcell", bug_sites::refcell),
            ("any", bug_sites::any),
            ("any_str", bug_sites::any_str),
            ("any_string", bug_sites::any_string),
            ("intended", bug_sites::intended),
        ];
        let mut wrong = Vec::new();
        for (kind, site) in sites {
            let payload = catch(site).unwrap_err();
            let record = take_record(&*payload);
            let at = calibration.site_index(&record.frames);
            let found = record.frames.iter().position(|&ip| function_start(ip) == site as usize);
            let found = found.unwrap_or_else(|| panic!("{kind}: the site is not in the stack"));
            // Where a generic instance of std's (`Result::<u8, i64>::expect`,
            // `Vec::<i64>::index`) lies between
            // the machinery and the site, a debug build has a frame that no
            // address can tell from the panicking code's own (the shipped
            // build inlines it into the site): the cut stays above it, never
            // swallowing a frame that may be the bug's.
            let generic_between = ["expect_err", "vec_index"].contains(&kind);
            if at > found || (at != found && !(generic_between && cfg!(debug_assertions))) {
                wrong.push((kind, at, found));
            }
        }
        assert!(wrong.is_empty(), "cut at the wrong frame (kind, cut, site): {wrong:?} ({calibration:?})");
    }

    #[test]
    fn the_stack_walk_keeps_our_frames_and_stops_at_the_first_of_the_host() {
        install_hook();
        let Some(own) = crate::reporting::own_module_range() else {
            // Under Wine the module list (sentry's `debug_images`) has no
            // entry for a test executable; the library then walks the whole
            // stack, as before its image is known.
            if cfg!(windows) {
                return;
            }
            panic!("the test binary's image is not found");
        };
        let own = own.start as usize..own.end as usize;
        set_own_image(own.clone());
        // On the test's thread, whose stack ends in the C library's thread
        // start (`start_thread`, `clone3`; on Windows, ntdll's).
        let payload = catch(|| panic!("walked")).unwrap_err();
        let frames = take_record(&*payload).frames;
        assert!(frames.len() > 3, "{frames:x?}");
        // The first frame is taken wherever it is (the walk starts in the
        // hook); the thread's first frames, outside our image, are not walked.
        let outside: Vec<_> = frames[1..].iter().filter(|ip| !own.contains(ip)).collect();
        assert!(outside.is_empty(), "{outside:x?} of {frames:x?}");
    }

    #[test]
    fn a_deep_stack_is_cut_at_max_frames() {
        #[inline(never)]
        fn down(depth: usize) -> usize {
            if std::hint::black_box(depth) == 0 {
                panic!("deep");
            }
            std::hint::black_box(down(depth - 1)) + 1
        }
        install_hook();
        let payload = catch(|| down(MAX_FRAMES + 40)).unwrap_err();
        assert_eq!(take_record(&*payload).frames.len(), MAX_FRAMES);
    }

    #[test]
    fn the_call_tag_is_the_innermost_calls_and_is_restored_on_the_way_out() {
        // A thread of its own: its catch state starts empty.
        #[allow(clippy::disallowed_methods)]
        std::thread::spawn(|| {
            let thread = crate::fatal::THREAD_TAG;
            assert_eq!(call_tag(), 0, "outside the library");
            assert!(!caught_by_library());
            assert_eq!(catch(call_tag).unwrap(), thread, "a library thread's scope");
            assert_eq!(catch_call(7, call_tag).unwrap(), 7);
            assert_eq!(
                catch_call(7, || catch(call_tag).unwrap()).unwrap(),
                7,
                "a plain scope keeps the call's"
            );
            assert_eq!(catch_call(7, || catch_call(200, call_tag).unwrap()).unwrap(), 200);
            let after_inner = catch_call(7, || {
                let _ = catch_call(200, || panic!("inner"));
                (call_tag(), caught_by_library())
            });
            assert_eq!(after_inner.unwrap(), (7, true), "the outer call's state is back after the inner");
            assert_eq!(catch(|| catch_call(9, || ()).map(|_| call_tag())).unwrap().unwrap(), thread);
            assert_eq!(call_tag(), 0, "outside again");
            assert!(!caught_by_library());
            assert!(catch(caught_by_library).unwrap());
        })
        .join()
        .unwrap();
    }

    #[test]
    #[cfg(unix)] // the alternate signal stack
    fn a_catch_gives_no_alternate_stack_while_no_fatal_handler_is_installed() {
        assert!(!crate::fatal::installed(), "nothing installs it in this process");
        #[allow(clippy::disallowed_methods)] // a bare thread stands in for a host's
        std::thread::spawn(|| {
            // A Rust thread has std's alternate stack; a C host's has none.
            crate::fatal::disable_alt_stack();
            catch(|| ()).unwrap();
            catch_call(3, || ()).unwrap();
            assert!(!crate::fatal::current_alt_stack().2, "an alternate stack mapped for nothing");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn patterns_prefer_known_functions_then_fewer_frames() {
        let calibration = Calibration {
            hook_caller: 100,
            patterns: vec![vec![Some(1), Some(2)], vec![Some(1), Some(2), None], vec![None, None, None]],
        };
        // Addresses no function contains are their own function start.
        let frames = |starts: &[usize]| starts.to_vec();
        assert_eq!(calibration.site_index(&frames(&[50, 100, 1, 2, 7, 8])), 4);
        assert_eq!(calibration.site_index(&frames(&[50, 100, 9, 9, 9, 7, 8])), 5);
        assert_eq!(calibration.site_index(&frames(&[7, 8])), 0);
        // A way of reaching the hook needs a frame below it, the site: with
        // none left, the first frame below std's hook caller is the site.
        assert_eq!(calibration.site_index(&frames(&[50, 100, 1, 2])), 2);
    }
}
