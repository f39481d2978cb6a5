//! Log files: `status.log` (the library's own log) and `api.log` (one line per
//! API call), both under `logDir`, both rotated at [`ROTATE_AT_BYTES`] keeping
//! [`KEEP_ROTATED`] old files, written by `flexi_logger`'s file writer.
//!
//! The library logs through the `log` facade; this module is the logger behind
//! it. Reconfiguring (a new `InitializeApplication`) swaps the writers at once
//! for every thread.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use flexi_logger::writers::{FileLogWriter, LogWriter};
use flexi_logger::{Cleanup, Criterion, DeferredNow, FileSpec, Naming};
use log::{LevelFilter, Log, Metadata, Record};
use parking_lot::RwLock;

use crate::redact::redact;

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

struct Writers {
    level: LevelFilter,
    status: Option<FileLogWriter>,
    to_stderr: bool,
    api: Option<FileLogWriter>,
}

static WRITERS: RwLock<Option<Arc<Writers>>> = RwLock::new(None);
static API_LOGGING: AtomicBool = AtomicBool::new(false);

struct Logger;
static LOGGER: Logger = Logger;

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        WRITERS.read().as_ref().is_some_and(|w| metadata.level() <= w.level)
    }

    fn log(&self, record: &Record<'_>) {
        let Some(writers) = WRITERS.read().clone() else { return };
        if record.level() > writers.level {
            return;
        }
        let mut now = DeferredNow::new();
        if let Some(status) = &writers.status {
            let _ = status.write(&mut now, record);
        }
        if writers.to_stderr {
            let mut stderr = std::io::stderr().lock();
            let _ = format_line(&mut stderr, &mut now, record);
            let _ = stderr.write_all(b"\n");
        }
    }

    fn flush(&self) {
        if let Some(writers) = WRITERS.read().clone() {
            for writer in [&writers.status, &writers.api].into_iter().flatten() {
                let _ = writer.flush();
            }
        }
    }
}

fn format_line(w: &mut dyn Write, now: &mut DeferredNow, record: &Record<'_>) -> std::io::Result<()> {
    write!(
        w,
        "{} {:<5} [{}] {}",
        now.format(flexi_logger::TS_DASHES_BLANK_COLONS_DOT_BLANK),
        record.level(),
        record.target(),
        record.args()
    )
}

fn file_writer(dir: &Path, basename: &str) -> Result<FileLogWriter, String> {
    FileLogWriter::builder(
        FileSpec::default().directory(dir).basename(basename).suppress_timestamp().suffix("log"),
    )
    .format(format_line)
    .append()
    .rotate(
        Criterion::Size(ROTATE_AT_BYTES),
        // The current file is plainly `<name>.log`; rotated ones get a timestamp.
        Naming::TimestampsCustomFormat { current_infix: Some(""), format: "r%Y-%m-%d_%H-%M-%S" },
        Cleanup::KeepLogFiles(KEEP_ROTATED),
    )
    // A thread of flexi_logger's own would bypass our thread wrapper.
    .cleanup_in_background_thread(false)
    .try_build()
    .map_err(|e| format!("cannot open {basename}.log in {}: {e}", dir.display()))
}

/// Applies new settings; the previous files are closed.
pub fn configure(settings: &LogSettings) -> Result<(), String> {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Fails only when the process already has a logger (a Rust host); then
        // our records go to theirs, which is what such a host wants.
        let _ = log::set_logger(&LOGGER);
    });
    let wants_files = settings.enabled || settings.api_logging;
    if wants_files {
        std::fs::create_dir_all(&settings.dir)
            .map_err(|e| format!("cannot create logDir {}: {e}", settings.dir.display()))?;
    }
    let status = settings.enabled.then(|| file_writer(&settings.dir, STATUS_LOG)).transpose()?;
    let api = settings.api_logging.then(|| file_writer(&settings.dir, API_LOG)).transpose()?;
    let level = if settings.enabled || settings.to_stderr { settings.level } else { LevelFilter::Off };
    *WRITERS.write() = Some(Arc::new(Writers { level, status, to_stderr: settings.to_stderr, api }));
    API_LOGGING.store(settings.api_logging, Ordering::Relaxed);
    log::set_max_level(level);
    Ok(())
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
    let line = format!(
        "{endpoint} duration_us={} request={} response={}",
        duration.as_micros(),
        serde_json::Value::String(request),
        serde_json::Value::String(answer),
    );
    let _ = api.write(
        &mut DeferredNow::new(),
        &Record::builder().args(format_args!("{line}")).level(log::Level::Info).target("api").build(),
    );
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
}
