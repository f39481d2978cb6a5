//! Platforms without POSIX signals (Windows): fatal errors are not reported
//! there yet; `reportFatalErrors` answers `false` in `panicReporting`.

use std::io;
use std::path::Path;

pub fn open_report(_path: &Path) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "fatal errors are not reported on this platform"))
}

pub fn install() {}

pub fn ensure_alt_stack() {}

pub fn signal_name(_signal: i32) -> &'static str {
    "fatal"
}
