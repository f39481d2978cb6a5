//! Log files: `status.log` (the library's own log) and `api.log` (one line per
//! API call), both under `logDir`, both private (0600), rotated at
//! [`ROTATE_AT_BYTES`] keeping [`KEEP_ROTATED`] old files, and every line passed
//! through the one redactor ([`crate::redact::redact`]).
//!
//! The library logs through the `log` facade; this module is the logger behind
//! it. `InitializeApplication` opens the new files first ([`prepare`]) and
//! swaps them in at its switch-over ([`commit`]), for every thread at once.
//! After `fork()`, the child logs nothing and never touches the writers' locks
//! (a parent's thread may have held them at the fork).

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::files;
use crate::redact::redact;
use crate::sync::{Mutex, RwLock};

pub const STATUS_LOG: &str = "status";
pub const API_LOG: &str = "api";
pub const ROTATE_AT_BYTES: u64 = 10 * 1024 * 1024;
pub const KEEP_ROTATED: usize = 3;

/// What `InitializeApplication` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub enabled: bool,
    pub dir: PathBuf,
    pub level: LevelFilter,
    pub to_stderr: bool,
    pub api_logging: bool,
}

/// `logLevel`: error, warn, info, debug or trace, case-insensitive.
pub fn parse_level(level: &str) -> Option<LevelFilter> {
    match level.trim().to_ascii_lowercase().as_str() {
        "error" => Some(LevelFilter::Error),
        "warn" | "warning" => Some(LevelFilter::Warn),
        "info" => Some(LevelFilter::Info),
        "debug" => Some(LevelFilter::Debug),
        "trace" => Some(LevelFilter::Trace),
        _ => None,
    }
}

/// A log file that rotates by size: `<name>.log`, and the old ones as
/// `<name>.r<UTC date and time>.log`.
struct RotatingFile {
    dir: PathBuf,
    basename: &'static str,
    inner: Mutex<(File, u64)>,
}

impl RotatingFile {
    fn open(dir: &Path, basename: &'static str) -> io::Result<Self> {
        let file = files::open_private_append(&dir.join(format!("{basename}.log")))?;
        let len = file.metadata()?.len();
        Ok(Self { dir: dir.to_owned(), basename, inner: Mutex::new((file, len)) })
    }

    fn write_line(&self, line: &str) {
        let mut inner = self.inner.lock();
        if inner.1 > 0 && inner.1 + line.len() as u64 + 1 > ROTATE_AT_BYTES {
            if let Ok(file) = self.rotate() {
                *inner = (file, 0);
            }
        }
        let (file, len) = &mut *inner;
        if file.write_all(line.as_bytes()).and_then(|()| file.write_all(b"\n")).is_ok() {
            *len += line.len() as u64 + 1;
        }
    }

    /// Renames the current file aside, opens a new one, removes the oldest.
    fn rotate(&self) -> io::Result<File> {
        let current = self.dir.join(format!("{}.log", self.basename));
        let stamp = utc_timestamp(SystemTime::now(), "-", "_", "-");
        let mut aside = self.dir.join(format!("{}.r{stamp}.log", self.basename));
        let mut n = 1;
        while aside.exists() {
            aside = self.dir.join(format!("{}.r{stamp}.{n}.log", self.basename));
            n += 1;
        }
        fs::rename(&current, &aside)?;
        let file = files::open_private_append(&current)?;
        let prefix = format!("{}.r", self.basename);
        let mut rotated: Vec<PathBuf> = fs::read_dir(&self.dir)?
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path())
            .collect();
        rotated.sort();
        let excess = rotated.len().saturating_sub(KEEP_ROTATED);
        for old in &rotated[..excess] {
            let _ = fs::remove_file(old);
        }
        Ok(file)
    }
}

/// The log files of one configuration, opened: what [`prepare`] gives and
/// [`commit`] puts in effect.
pub struct Writers {
    level: LevelFilter,
    status: Option<RotatingFile>,
    to_stderr: bool,
    api: Option<RotatingFile>,
}

/// A log folder or file that cannot be created or opened.
#[derive(Debug)]
pub struct LoggingError {
    what: &'static str,
    error: io::Error,
}

impl std::fmt::Display for LoggingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot open {}: {}", self.what, self.error)
    }
}

impl std::error::Error for LoggingError {}

static WRITERS: RwLock<Option<Arc<Writers>>> = RwLock::new(None);
static API_LOGGING: AtomicBool = AtomicBool::new(false);
static DISABLED: AtomicBool = AtomicBool::new(false);

struct Logger;
static LOGGER: Logger = Logger;

/// Only the library's own records are written: its dependencies log at debug
/// and trace level what must never reach a file (ureq: the envelope URL, the
/// request bytes with the auth header).
fn is_own(target: &str) -> bool {
    let own = module_path!().split("::").next().unwrap_or_default();
    target.split("::").next() == Some(own)
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        is_own(metadata.target())
            && !DISABLED.load(Ordering::Relaxed)
            && WRITERS.read().as_ref().is_some_and(|w| metadata.level() <= w.level)
    }

    fn log(&self, record: &Record<'_>) {
        if !is_own(record.target()) {
            return;
        }
        if let Some(writers) = Destination::now() {
            writers.write(record.level(), record.target(), &record.args().to_string());
        }
    }

    fn flush(&self) {}
}

/// Where records go: the writers in effect when it was taken. A record
/// written later on another thread (the panic log's) goes where the
/// configuration said when the panic happened, not where a later
/// `InitializeApplication` points (a line logged without `logToStderr` never
/// reaches stderr).
#[derive(Clone)]
pub struct Destination(Arc<Writers>);

impl Destination {
    /// The writers in effect now; `None` when nothing is logged.
    pub fn now() -> Option<Self> {
        if DISABLED.load(Ordering::Relaxed) {
            return None;
        }
        WRITERS.read().clone().map(Destination)
    }

    /// Writes one record (redacted) if its level is enabled there.
    pub fn write(&self, level: Level, target: &str, message: &str) {
        let writers = &self.0;
        if DISABLED.load(Ordering::Relaxed) || level > writers.level {
            return;
        }
        let line = format_line(level.as_str(), target, message);
        if let Some(status) = &writers.status {
            status.write_line(&line);
        }
        if writers.to_stderr {
            let mut stderr = io::stderr().lock();
            let _ = stderr.write_all(line.as_bytes());
            let _ = stderr.write_all(b"\n");
        }
    }
}

/// One line: UTC time, level, target, and the message through the redactor.
fn format_line(level: &str, target: &str, message: &str) -> String {
    let mut line = utc_timestamp(SystemTime::now(), "-", " ", ":");
    let _ = write!(line, " {level:<5} [{target}] {}", redact(message));
    line
}

/// `YYYY<d>MM<d>DD<sep>hh<t>mm<t>ss.micro`, UTC.
fn utc_timestamp(at: SystemTime, d: &str, sep: &str, t: &str) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil-from-days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{d}{month:02}{d}{day:02}{sep}{:02}{t}{:02}{t}{:02}.{:06}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_micros()
    )
}

/// Opens what `settings` need (the log folder, private when the library
/// creates it, and the files): the part that can fail. Nothing changes until
/// [`commit`].
pub fn prepare(settings: &LogSettings) -> Result<Writers, LoggingError> {
    let wants_files = settings.enabled || settings.api_logging;
    if wants_files {
        files::create_private_dir(&settings.dir, false)
            .map_err(|error| LoggingError { what: "the log folder", error })?;
    }
    let open = |wanted: bool, name: &'static str, what: &'static str| {
        wanted
            .then(|| RotatingFile::open(&settings.dir, name))
            .transpose()
            .map_err(|error| LoggingError { what, error })
    };
    let status = open(settings.enabled, STATUS_LOG, "status.log")?;
    let api = open(settings.api_logging, API_LOG, "api.log")?;
    let level = if settings.enabled || settings.to_stderr { settings.level } else { LevelFilter::Off };
    Ok(Writers { level, status, to_stderr: settings.to_stderr, api })
}

/// Puts prepared writers in effect; the previous files are closed. In a
/// `fork()` child, nothing: the child logs nothing, and the writers' lock may
/// be held (read) by a parent's thread it does not have.
pub fn commit(writers: Writers) {
    if DISABLED.load(Ordering::Relaxed) {
        return;
    }
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Fails only when the process already has a logger (a Rust host); then
        // our records go to theirs, which is what such a host wants.
        let _ = log::set_logger(&LOGGER);
    });
    let level = writers.level;
    let api_logging = writers.api.is_some();
    *WRITERS.write() = Some(Arc::new(writers));
    API_LOGGING.store(api_logging, Ordering::Relaxed);
    log::set_max_level(level);
}

/// In a `fork()` child: log nothing from now on.
pub(crate) fn disable_after_fork() {
    DISABLED.store(true, Ordering::Relaxed);
    API_LOGGING.store(false, Ordering::Relaxed);
}

/// Whether API calls are logged: one atomic load on the hot path.
pub fn api_logging_enabled() -> bool {
    API_LOGGING.load(Ordering::Relaxed)
}

/// One line in `api.log`: endpoint, duration, request and answer, both redacted.
pub fn api_call(endpoint: &str, duration: Duration, request: Option<&str>, answer: &str) {
    if !api_logging_enabled() {
        return;
    }
    let Some(writers) = WRITERS.read().clone() else { return };
    let Some(api) = &writers.api else { return };
    let request = request.map(redact).unwrap_or_default();
    let answer = redact(answer);
    let message = format!(
        "{endpoint} duration_us={} request={} response={}",
        duration.as_micros(),
        serde_json::Value::String(request),
        serde_json::Value::String(answer),
    );
    api.write_line(&format!("{} INFO  [api] {message}", utc_timestamp(SystemTime::now(), "-", " ", ":")));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_case_insensitive_and_validated() {
        assert_eq!(parse_level("ERROR"), Some(LevelFilter::Error));
        assert_eq!(parse_level("Warn"), Some(LevelFilter::Warn));
        assert_eq!(parse_level("info"), Some(LevelFilter::Info));
        assert_eq!(parse_level("DeBuG"), Some(LevelFilter::Debug));
        assert_eq!(parse_level("trace"), Some(LevelFilter::Trace));
        assert_eq!(parse_level("verbose"), None);
        assert_eq!(parse_level(""), None);
    }

    #[test]
    fn only_the_librarys_own_records_are_written() {
        assert!(is_own(module_path!()));
        assert!(is_own("status"));
        assert!(!is_own("ureq::run"));
        assert!(!is_own("ureq_proto::util"));
        assert!(!is_own("statusx::y"));
    }

    #[test]
    fn timestamps_are_utc_civil_dates() {
        let at = UNIX_EPOCH + Duration::from_micros(1_445_412_480_000_123);
        assert_eq!(utc_timestamp(at, "-", " ", ":"), "2015-10-21 07:28:00.000123");
        assert_eq!(utc_timestamp(UNIX_EPOCH, "-", "_", "-"), "1970-01-01_00-00-00.000000");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert!(utc_timestamp(leap, "-", " ", ":").starts_with("2000-02-29 00:00:00"));
    }

    #[test]
    fn files_are_private_rotate_and_keep_three_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        let file = RotatingFile::open(dir.path(), "api").unwrap();
        let line = "x".repeat(1024 * 1024);
        for _ in 0..50 {
            file.write_line(&line);
        }
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 1 + KEEP_ROTATED, "{names:?}");
        for entry in fs::read_dir(dir.path()).unwrap().flatten() {
            assert!(crate::sys::files::is_private(&entry.metadata().unwrap()), "{entry:?}");
            assert!(entry.metadata().unwrap().len() <= ROTATE_AT_BYTES);
        }
    }
}
