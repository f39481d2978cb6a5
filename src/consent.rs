//! The user's metrics opt-in, stored durably under `dataDir`.
//!
//! The file is replaced atomically (temporary file, fsync, rename, fsync of the
//! folder), so a crash leaves either the old or the new value. A torn or
//! corrupt file reads as "not opted in" and is reported in the log: consent
//! fails closed, never with a crash.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const FILE_NAME: &str = "centralized-metrics.json";

/// status-go's `MetricsInfo`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsInfo {
    pub enabled: bool,
    pub user_confirmed: bool,
}

#[derive(Debug, Clone)]
pub struct ConsentStore {
    path: PathBuf,
}

impl ConsentStore {
    pub fn new(data_dir: &Path) -> Self {
        Self { path: data_dir.join(FILE_NAME) }
    }

    /// The stored value; `{enabled: false, userConfirmed: false}` when never set
    /// or unreadable.
    pub fn load(&self) -> MetricsInfo {
        match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                log::warn!(
                    "consent file {} is corrupt ({e}); treating the user as not opted in",
                    self.path.display()
                );
                MetricsInfo::default()
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => MetricsInfo::default(),
            Err(e) => {
                log::warn!(
                    "cannot read consent file {} ({e}); treating the user as not opted in",
                    self.path.display()
                );
                MetricsInfo::default()
            }
        }
    }

    /// Replaces the stored value atomically and durably.
    pub fn store(&self, info: MetricsInfo) -> io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::Builder::new().prefix(".tmp-consent").tempfile_in(dir)?;
        tmp.write_all(&serde_json::to_vec(&info)?)?;
        tmp.as_file().sync_all()?;
        tmp.persist(&self.path).map_err(|e| e.error)?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_set_reads_as_not_opted_in() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(ConsentStore::new(dir.path()).load(), MetricsInfo::default());
    }

    #[test]
    fn store_then_load_survives_a_new_store_object() {
        let dir = tempfile::tempdir().unwrap();
        let on = MetricsInfo { enabled: true, user_confirmed: true };
        ConsentStore::new(dir.path()).store(on).unwrap();
        assert_eq!(ConsentStore::new(dir.path()).load(), on);
        let raw = fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(raw, r#"{"enabled":true,"userConfirmed":true}"#);
        let off = MetricsInfo { enabled: false, user_confirmed: true };
        ConsentStore::new(dir.path()).store(off).unwrap();
        assert_eq!(ConsentStore::new(dir.path()).load(), off);
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn corrupt_or_torn_files_fail_closed() {
        let dir = tempfile::tempdir().unwrap();
        let store = ConsentStore::new(dir.path());
        for junk in [&b"{\"enabled\":tr"[..], b"", b"\xff\xfe", b"[]", b"{\"enabled\":\"yes\"}"] {
            fs::write(dir.path().join(FILE_NAME), junk).unwrap();
            assert_eq!(store.load(), MetricsInfo::default(), "{junk:?}");
        }
    }

    #[test]
    fn unreadable_path_fails_closed() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join(FILE_NAME)).unwrap(); // a folder where the file should be
        assert_eq!(ConsentStore::new(dir.path()).load(), MetricsInfo::default());
    }
}
