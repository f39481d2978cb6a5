//! The user's metrics opt-in: one owner for the file under `dataDir`, the
//! answer of `CentralizedMetricsInfo` and the switch the reporting gate reads.
//!
//! Every change (a toggle, the switch-over of an `InitializeApplication`)
//! happens under one lock, and the reporting side's switch is set under that
//! lock too (by the `apply` step of [`toggle`] and by the init's commit), so
//! for any interleaving the answer of the last toggle that returned is what
//! the file, [`info`] and the reporting gate say. An init reads the file under
//! that lock, so an opt-out that answered before it is never undone by it.
//!
//! The file is replaced atomically (temporary file, fsync, rename, fsync of the
//! folder). A torn or corrupt file reads as "not opted in": consent fails
//! closed. An opt-out that cannot be written still holds for the life of the
//! process for that dataDir (a re-init reads it, not the stale file).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};

use parking_lot::{Mutex, MutexGuard};
use serde::{Deserialize, Serialize};

use crate::files;

pub const FILE_NAME: &str = "centralized-metrics.json";

/// status-go's `MetricsInfo`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsInfo {
    pub enabled: bool,
    pub user_confirmed: bool,
}

impl MetricsInfo {
    /// The answer of `CentralizedMetricsInfo`, without building it: this is
    /// the hot path of a host that polls the opt-in.
    pub fn json(self) -> &'static str {
        match (self.enabled, self.user_confirmed) {
            (false, false) => r#"{"enabled":false,"userConfirmed":false}"#,
            (false, true) => r#"{"enabled":false,"userConfirmed":true}"#,
            (true, false) => r#"{"enabled":true,"userConfirmed":false}"#,
            (true, true) => r#"{"enabled":true,"userConfirmed":true}"#,
        }
    }
}

/// The file of one dataDir.
#[derive(Debug, Clone)]
pub(crate) struct ConsentFile {
    path: PathBuf,
}

impl ConsentFile {
    pub(crate) fn new(data_dir: &Path) -> Self {
        Self { path: data_dir.join(FILE_NAME) }
    }

    /// The stored value; `{enabled: false, userConfirmed: false}` when never set
    /// or unreadable.
    pub(crate) fn load(&self) -> MetricsInfo {
        let bytes = match files::read_regular(&self.path, 4096) {
            Ok(files::Read::Bytes(bytes)) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return MetricsInfo::default(),
            Ok(other) => {
                log::warn!("the consent file is not a small regular file ({other}); treating the user as not opted in");
                return MetricsInfo::default();
            }
            Err(e) => {
                log::warn!("cannot read the consent file ({e}); treating the user as not opted in");
                return MetricsInfo::default();
            }
        };
        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            log::warn!("the consent file is corrupt ({e}); treating the user as not opted in");
            MetricsInfo::default()
        })
    }

    /// Replaces the stored value atomically and durably.
    pub(crate) fn store(&self, info: MetricsInfo) -> io::Result<()> {
        files::write_atomically(&self.path, &serde_json::to_vec(&info)?, ".tmp-consent", true)
    }
}

struct State {
    /// The file of the current dataDir; `None` before the first init.
    file: Option<ConsentFile>,
    data_dir: Option<PathBuf>,
    /// dataDirs whose opt-out could not be written: they stay opted out for
    /// the life of the process whatever their file says.
    unwritten_opt_outs: Vec<PathBuf>,
}

static STATE: Mutex<State> = Mutex::new(State {
    file: None,
    data_dir: None,
    unwritten_opt_outs: Vec::new(),
});

/// The current [`MetricsInfo`], and whether an init succeeded, as bits:
/// [`info`] reads it without the lock (the hot `CentralizedMetricsInfo`
/// path). Written only under the lock ([`publish`]), by the toggle and the
/// switch-over, right where they change the state.
static INFO: AtomicU8 = AtomicU8::new(0);
const INITIALIZED: u8 = 1;
const ENABLED: u8 = 2;
const USER_CONFIRMED: u8 = 4;

/// Makes `info` the current value; `_held` proves the caller holds the lock.
fn publish(_held: &State, info: MetricsInfo) {
    let bits = INITIALIZED + u8::from(info.enabled) * ENABLED + u8::from(info.user_confirmed) * USER_CONFIRMED;
    INFO.store(bits, Ordering::SeqCst);
}

/// `InitializeApplication` has not succeeded yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotInitialized;

/// The current answer of `CentralizedMetricsInfo`.
pub fn info() -> Result<MetricsInfo, NotInitialized> {
    let bits = INFO.load(Ordering::SeqCst);
    if bits & INITIALIZED == 0 {
        return Err(NotInitialized);
    }
    Ok(MetricsInfo { enabled: bits & ENABLED != 0, user_confirmed: bits & USER_CONFIRMED != 0 })
}

/// A toggle that could not be stored.
#[derive(Debug)]
pub enum ToggleError {
    NotInitialized,
    /// An opt-in that could not be written: nothing changed.
    OptInNotStored(io::Error),
    /// An opt-out that could not be written: it holds in memory for the life
    /// of the process, for this dataDir.
    OptOutNotStored(io::Error),
}

impl fmt::Display for ToggleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToggleError::NotInitialized => f.write_str("InitializeApplication must succeed before this call"),
            ToggleError::OptInNotStored(e) => {
                write!(f, "cannot store the metrics opt-in ({e}); nothing changed")
            }
            ToggleError::OptOutNotStored(e) => write!(
                f,
                "cannot store the metrics opt-out ({e}); it applies until the app exits, and the pending panic reports are not sent"
            ),
        }
    }
}

/// Stores the user's choice and applies it: `apply(enabled)` runs under the
/// lock after the in-memory switch changed and before the toggle answers (the
/// reporting side purges and cuts off requests there). An opt-out is applied
/// even when the file cannot be written.
pub fn toggle(enabled: bool, apply: impl FnOnce(bool)) -> Result<(), ToggleError> {
    let mut state = STATE.lock();
    let (Some(file), Some(dir)) = (state.file.clone(), state.data_dir.clone()) else {
        return Err(ToggleError::NotInitialized);
    };
    let info = MetricsInfo { enabled, user_confirmed: true };
    let stored = file.store(info);
    if enabled {
        if let Err(e) = stored {
            return Err(ToggleError::OptInNotStored(e));
        }
        state.unwritten_opt_outs.retain(|d| *d != dir);
    } else if stored.is_err() && !state.unwritten_opt_outs.contains(&dir) {
        state.unwritten_opt_outs.push(dir);
    }
    publish(&state, info);
    apply(enabled);
    stored.map_err(ToggleError::OptOutNotStored)
}

/// The consent lock, held while an `InitializeApplication` switches the
/// process over to a new dataDir: toggles wait for it, and it waits for them.
pub struct Switch {
    state: MutexGuard<'static, State>,
}

/// Takes the consent lock for a switch-over.
pub fn begin_switch() -> Switch {
    Switch { state: STATE.lock() }
}

impl Switch {
    /// What the user chose for `data_dir`, read now (under the lock).
    pub fn read(&self, data_dir: &Path) -> MetricsInfo {
        let mut info = ConsentFile::new(data_dir).load();
        if self.state.unwritten_opt_outs.contains(&key(data_dir)) {
            info.enabled = false;
        }
        info
    }

    /// Makes `data_dir` and `info` (from [`Switch::read`]) the current consent.
    pub fn commit(mut self, data_dir: &Path, info: MetricsInfo) {
        self.state.file = Some(ConsentFile::new(data_dir));
        self.state.data_dir = Some(key(data_dir));
        publish(&self.state, info);
    }
}

/// Around `fork()` (see `reporting::fork`): the consent lock is held by the
/// forking thread, so the child never inherits it held by a thread it lacks.
pub(crate) fn lock_for_fork() {
    std::mem::forget(STATE.lock());
}

pub(crate) fn unlock_after_fork() {
    // SAFETY: `lock_for_fork` locked it on this thread and forgot the guard.
    unsafe { STATE.force_unlock() }
}

/// One dataDir, however it was spelled.
fn key(data_dir: &Path) -> PathBuf {
    std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn the_static_answers_are_what_serde_would_write() {
        for enabled in [false, true] {
            for user_confirmed in [false, true] {
                let info = MetricsInfo { enabled, user_confirmed };
                assert_eq!(info.json(), serde_json::to_string(&info).unwrap());
            }
        }
    }

    #[test]
    fn never_set_reads_as_not_opted_in() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(ConsentFile::new(dir.path()).load(), MetricsInfo::default());
    }

    #[test]
    fn store_then_load_survives_a_new_store_object() {
        let dir = tempfile::tempdir().unwrap();
        let on = MetricsInfo { enabled: true, user_confirmed: true };
        ConsentFile::new(dir.path()).store(on).unwrap();
        assert_eq!(ConsentFile::new(dir.path()).load(), on);
        let raw = fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(raw, r#"{"enabled":true,"userConfirmed":true}"#);
        let off = MetricsInfo { enabled: false, user_confirmed: true };
        ConsentFile::new(dir.path()).store(off).unwrap();
        assert_eq!(ConsentFile::new(dir.path()).load(), off);
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn corrupt_or_torn_files_fail_closed() {
        let dir = tempfile::tempdir().unwrap();
        let store = ConsentFile::new(dir.path());
        for junk in [&b"{\"enabled\":tr"[..], b"", b"\xff\xfe", b"[]", b"{\"enabled\":\"yes\"}"] {
            fs::write(dir.path().join(FILE_NAME), junk).unwrap();
            assert_eq!(store.load(), MetricsInfo::default(), "{junk:?}");
        }
    }

    #[test]
    fn unreadable_or_linked_paths_fail_closed() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join(FILE_NAME)).unwrap(); // a folder where the file should be
        assert_eq!(ConsentFile::new(dir.path()).load(), MetricsInfo::default());
        let other = tempfile::tempdir().unwrap();
        let on = MetricsInfo { enabled: true, user_confirmed: true };
        ConsentFile::new(other.path()).store(on).unwrap();
        let linked = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(other.path().join(FILE_NAME), linked.path().join(FILE_NAME)).unwrap();
        assert_eq!(ConsentFile::new(linked.path()).load(), MetricsInfo::default(), "never follows a link");
    }
}
