//! The errors of reporting's own operations; the API maps them to its codes.

use std::fmt;

use crate::outbox::OpenError;

#[derive(Debug)]
pub enum ReportingError {
    /// The dataDir's outbox cannot be opened: another process holds it
    /// ([`OpenError::Locked`]), or its folder or lock file cannot be created
    /// or opened. Its text is [`OpenError`]'s.
    Outbox(OpenError),
    /// A library thread cannot be started.
    Thread(std::io::Error),
}

impl fmt::Display for ReportingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportingError::Outbox(e) => fmt::Display::fmt(e, f),
            ReportingError::Thread(e) => write!(f, "cannot start a library thread: {e}"),
        }
    }
}

impl std::error::Error for ReportingError {}

impl From<OpenError> for ReportingError {
    fn from(e: OpenError) -> Self {
        ReportingError::Outbox(e)
    }
}
