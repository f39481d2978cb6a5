//! The errors of reporting's own operations; the API maps them to its codes.

use std::fmt;

use crate::outbox::OpenError;

#[derive(Debug)]
pub enum ReportingError {
    /// Another process holds this dataDir's outbox.
    OutboxLocked,
    /// The outbox folder or its lock cannot be created or opened.
    OutboxIo(std::io::Error),
    /// A library thread cannot be started.
    Thread(std::io::Error),
}

impl fmt::Display for ReportingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportingError::OutboxLocked => f.write_str(crate::outbox::LOCKED),
            ReportingError::OutboxIo(e) => write!(f, "cannot open the panic-report outbox: {e}"),
            ReportingError::Thread(e) => write!(f, "cannot start a library thread: {e}"),
        }
    }
}

impl std::error::Error for ReportingError {}

impl From<OpenError> for ReportingError {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::Locked(_) => ReportingError::OutboxLocked,
            OpenError::Io(e) => ReportingError::OutboxIo(e),
        }
    }
}
