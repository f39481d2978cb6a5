//! Fatal errors: what `catch_unwind` cannot catch (a fault in the library's
//! code or in what it reads, a stack overflow, an abort from Rust: a panic
//! while panicking, `abort`, an allocation failure) leaves a small report on
//! disk, which the next `InitializeApplication` with the same dataDir turns
//! into a normal event (`reporting::report_fatal`).
//!
//! Opt-in per host (`"reportFatalErrors": true`) and per user (the metrics
//! opt-in): with either off, no handler is installed and nothing is written.
//! Once installed the handler stays (another library may have chained behind
//! it, so taking it out is not safe); an opt-out or a later init without the
//! option only turns writing off, and the handler then passes every signal on
//! untouched.
//!
//! The handler acts on the library's own faults only: the thread is inside
//! one of the library's catch scopes (an export's guard, a library thread;
//! one thread-local word that [`crate::panics::catch`] already maintains), or
//! the faulting instruction lies in the library's image. Any other signal goes
//! at once to the handler that was there before. After writing, the previous
//! handler is put back and the signal delivered again, so the host's crash
//! reporter and the OS see the crash as if the library were not there.
//!
//! The platform part (signals, alternate stacks, the async-signal-safe
//! writer) is [`sys`], one file per platform family.

use std::cell::{Cell, UnsafeCell};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use crate::sync::Mutex;

#[cfg(unix)]
#[path = "posix.rs"]
mod sys;
#[cfg(not(unix))]
#[path = "unsupported.rs"]
mod sys;
#[cfg(all(test, unix))]
pub(crate) use sys::{current_alt_stack, disable_alt_stack};

/// The report's name in the dataDir.
pub const REPORT_FILE: &str = "fatal-report.txt";
/// The largest report read back (a report is a few KiB at most).
const MAX_REPORT: u64 = 64 * 1024;
/// Frames the handler writes at most.
pub const MAX_FATAL_FRAMES: usize = 128;

/// The value of [`crate::panics`]' call tag on a library thread (endpoints
/// are 1 + their index in `Endpoint::ALL`).
pub const THREAD_TAG: u32 = 0xff;

/// Our image, as the handler writes it: set once, read in the handler.
#[derive(Debug, Clone)]
#[cfg_attr(not(unix), allow(dead_code))] // (no handler there: see unsupported.rs)
pub struct Image {
    /// Hex of the build id (Sentry's `code_id`).
    pub code_id: String,
    pub addr: u64,
    pub size: u64,
}

static IMAGE: OnceLock<Image> = OnceLock::new();

/// What the last `InitializeApplication` asked for (the non-signal state).
struct Settings {
    dir: PathBuf,
    requested: bool,
}

static SETTINGS: Mutex<Option<Settings>> = Mutex::new(None);

/// Whether the handler may write a report now (the option and the user's
/// opt-in, both on). Read in the handler.
static WRITING: AtomicBool = AtomicBool::new(false);
/// Whether the handler is installed (once per process).
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Applies one `InitializeApplication`: `requested` is the host's option,
/// `allowed` whether reporting is active for this user (gate and opt-in).
/// Installs the handler the first time both are true; opens the report file
/// under `dir`. Answers whether fatal errors are reported now.
pub fn configure(dir: &Path, requested: bool, allowed: bool, image: Option<Image>) -> bool {
    if let Some(image) = image {
        let _ = IMAGE.set(image);
    }
    let mut settings = SETTINGS.lock();
    *settings = Some(Settings { dir: dir.to_owned(), requested });
    apply(settings.as_ref(), allowed)
}

/// The user's opt-in (or the gate) changed: writing follows it. An opt-in
/// after an init with the option installs the handler then.
pub fn set_allowed(allowed: bool) -> bool {
    let settings = SETTINGS.lock();
    apply(settings.as_ref(), allowed)
}

fn apply(settings: Option<&Settings>, allowed: bool) -> bool {
    let on = allowed && settings.is_some_and(|s| s.requested);
    if !on {
        WRITING.store(false, Ordering::SeqCst);
        return false;
    }
    let Some(settings) = settings else { return false };
    if let Err(e) = sys::open_report(&settings.dir.join(REPORT_FILE)) {
        WRITING.store(false, Ordering::SeqCst);
        log::warn!("fatal errors will not be reported: cannot open the report file: {e}");
        return false;
    }
    if !INSTALLED.swap(true, Ordering::SeqCst) {
        sys::install();
    }
    WRITING.store(true, Ordering::SeqCst);
    true
}

/// Writing off, the handler left installed (a `fork()` child: the report
/// file is the parent's). One atomic store: safe in an atfork handler.
pub fn stop_writing() {
    WRITING.store(false, Ordering::SeqCst);
}

/// Whether fatal errors are reported now.
pub fn active() -> bool {
    WRITING.load(Ordering::SeqCst)
}

/// Whether the handler may write (read in the handler: one atomic load).
fn writing() -> bool {
    WRITING.load(Ordering::Relaxed)
}

/// Whether the handler is installed: one relaxed load, inlined into the
/// guard's path for threads not yet prepared.
#[inline(always)]
pub fn installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// Called on a thread's first call into the library once the handler is
/// installed (the cold path of [`crate::panics::catch`]): gives the thread an
/// alternate signal stack unless it has one.
#[cold]
#[inline(never)]
pub fn prepare_thread() {
    sys::ensure_alt_stack();
}

/// A library thread starts (the thread wrapper): it gets an alternate signal
/// stack at once, whether or not the handler is installed yet, since a
/// long-lived library thread may not enter a new catch scope after the
/// handler's installation.
pub fn library_thread_started() {
    sys::ensure_alt_stack();
}

/// The longest panic text a report carries.
const NOTE_MAX: usize = 512;

thread_local! {
    /// The text of this thread's panics while panicking (see
    /// [`note_fatal_panic`]); read by the handler on the same thread.
    static NOTE: UnsafeCell<[u8; NOTE_MAX]> = const { UnsafeCell::new([0; NOTE_MAX]) };
    static NOTE_LEN: Cell<usize> = const { Cell::new(0) };
}

/// The panic hook saw a panic while this thread was already panicking in the
/// library (a `Drop` that panics during unwinding, then std's "panic in a
/// destructor during cleanup", which aborts): keeps its text, after the
/// text kept before on this thread (or else `earlier`, the panic being
/// unwound), for the report if an abort follows. Not in a signal handler:
/// may allocate.
pub fn note_fatal_panic(text: &str, earlier: Option<&str>) {
    if !writing() {
        return;
    }
    let mut kept = Vec::new();
    with_note(|old| kept.extend_from_slice(old));
    let mut line = text.as_bytes().to_vec();
    if !kept.is_empty() {
        line.extend_from_slice(b"; ");
        line.extend_from_slice(&kept);
    } else if let Some(earlier) = earlier {
        line.extend_from_slice(b", while unwinding from: ");
        line.extend_from_slice(earlier.as_bytes());
    }
    line.truncate(NOTE_MAX);
    let _ = NOTE.try_with(|note| {
        // SAFETY: this thread's own buffer; the only other reader is the
        // handler on this same thread, which reads at most `NOTE_LEN` bytes
        // (set to 0 while the bytes change).
        let buffer = unsafe { &mut *note.get() };
        let _ = NOTE_LEN.try_with(|len| len.set(0));
        for (to, &from) in buffer.iter_mut().zip(&line) {
            *to = if from == b'\n' || from == b'\r' { b' ' } else { from };
        }
        let _ = NOTE_LEN.try_with(|len| len.set(line.len()));
    });
}

/// A caught panic's record was taken: nothing of it can abort any more.
pub fn clear_note() {
    let _ = NOTE_LEN.try_with(|len| len.set(0));
}

/// Calls `f` with this thread's noted panic text (empty when none).
/// Async-signal-safe (thread-locals without destructors, already touched on
/// a thread that panicked).
fn with_note(f: impl FnOnce(&[u8])) {
    let len = NOTE_LEN.try_with(Cell::get).unwrap_or(0).min(NOTE_MAX);
    let done = NOTE.try_with(|note| {
        // SAFETY: this thread's own buffer, `len` bytes of it written.
        let buffer = unsafe { &*note.get() };
        f(&buffer[..len]);
    });
    let _ = done;
}

/// A report left by an earlier process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub signal: i32,
    pub code: i32,
    pub address: u64,
    /// The call tag: 0 none, [`THREAD_TAG`] a library thread, else an
    /// endpoint's index + 1.
    pub tag: u32,
    pub image: Option<(String, u64, u64)>,
    /// The panic that could not unwind, if that is what aborted.
    pub panic: Option<String>,
    /// Innermost first; the first is the faulting instruction itself when
    /// `exact_top` (a fault), else a return address (an abort).
    pub frames: Vec<u64>,
    pub exact_top: bool,
}

/// The name of a signal, as Sentry shows it.
pub fn signal_name(signal: i32) -> &'static str {
    sys::signal_name(signal)
}

/// Takes the report an earlier process left under `dir`, if any: read, then
/// removed, whatever happens to it next (sent or refused by the gate).
pub fn take_report(dir: &Path) -> Option<Report> {
    let path = dir.join(REPORT_FILE);
    let read = crate::files::read_regular(&path, MAX_REPORT);
    let bytes = match read {
        Ok(crate::files::Read::Bytes(bytes)) => bytes,
        Ok(_) => {
            let _ = std::fs::remove_file(&path);
            return None;
        }
        Err(_) => return None,
    };
    if bytes.is_empty() {
        return None;
    }
    let _ = std::fs::remove_file(&path);
    let report = parse(&String::from_utf8_lossy(&bytes));
    if report.is_none() {
        log::warn!("an unreadable fatal-error report was removed");
    }
    report
}

fn hex(text: &str) -> Option<u64> {
    u64::from_str_radix(text.trim_start_matches("0x"), 16).ok()
}

/// Reads what [`sys`]'s writer wrote. A report cut short (the process died
/// while writing) keeps what was written; one without its signal is refused.
pub fn parse(text: &str) -> Option<Report> {
    let mut lines = text.lines();
    if lines.next()? != "libstatus-fatal 1" {
        return None;
    }
    let mut report = Report::default();
    let mut signal = None;
    for line in lines {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        match key {
            "signal" => signal = value.parse().ok(),
            "code" => report.code = value.parse().unwrap_or(0),
            "address" => report.address = hex(value).unwrap_or(0),
            "tag" => report.tag = value.parse().unwrap_or(0),
            "image" => {
                let mut parts = value.split(' ');
                if let (Some(id), Some(addr), Some(size)) = (parts.next(), parts.next(), parts.next()) {
                    if let (Some(addr), Some(size)) = (hex(addr), hex(size)) {
                        report.image = Some((id.to_owned(), addr, size));
                    }
                }
            }
            "panic" => report.panic = Some(value.to_owned()),
            "top" => report.exact_top = value == "exact",
            "frame" => report.frames.extend(hex(value).filter(|&f| f != 0)),
            _ => {}
        }
    }
    report.frames.truncate(MAX_FATAL_FRAMES);
    report.signal = signal?;
    Some(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_parse_and_cut_reports_keep_what_was_written() {
        let text = "libstatus-fatal 1\nsignal 11\ncode 1\naddress 0x10\ntag 3\nimage ab12 0x7f00 0x1000\n\
                    top exact\nframe 0x7f10\nframe 0x7f20\nfram";
        let report = parse(text).unwrap();
        assert_eq!(report.signal, 11);
        assert_eq!(report.address, 0x10);
        assert_eq!(report.tag, 3);
        assert_eq!(report.image, Some(("ab12".into(), 0x7f00, 0x1000)));
        assert!(report.exact_top);
        assert_eq!(report.frames, vec![0x7f10, 0x7f20]);
        assert!(parse("libstatus-fatal 1\ncode 1\n").is_none(), "no signal");
        assert!(parse("something else\nsignal 11\n").is_none());
    }
}
