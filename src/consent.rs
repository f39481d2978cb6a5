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

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

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

static STATE: Mutex<State> = Mutex::new(State { file: None, data_dir: None, unwritten_opt_outs: Vec::new() });

/// The current [`MetricsInfo`], and whether an init succeeded, as bits:
/// [`info`] reads it without the lock (the hot `CentralizedMetricsInfo`
/// path). Written only under the lock ([`publish`]), by the toggle and the
/// switch-over, right where they change the state.
static INFO: AtomicU8 = AtomicU8::new(0);
const INITIALIZED: u8 = 1;
const ENABLED: u8 = 2;
const USER_CONFIRMED: u8 = 4;

/// How many times consent was found off (an opt-out, an init of a dataDir
/// whose user has not opted in). A panic records it when it happens; its
/// report is written only if it has not changed since (see
/// `reporting::pipeline`): a panic during an opt-out, or one whose
/// handling an opt-out overtook, is never reported, whatever an opt-in
/// does later.
static OPT_OUTS: AtomicU64 = AtomicU64::new(0);

pub fn opt_outs() -> u64 {
    OPT_OUTS.load(Ordering::SeqCst)
}

/// Consent as a panic saw it when it happened (the panic hook reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtPanic {
    pub opted_in: bool,
    pub opt_outs: u64,
}

/// Reads the count before the opt-in (an opt-out bumps the count first): a
/// panic racing an opt-out reads either "opted out" or a count that the
/// opt-out has since passed.
pub fn at_panic() -> AtPanic {
    let opt_outs = opt_outs();
    AtPanic { opted_in: INFO.load(Ordering::SeqCst) & ENABLED != 0, opt_outs }
}

impl AtPanic {
    /// The user was opted in when the panic happened and has not withdrawn
    /// consent since (whatever they chose in between).
    pub fn still_opted_in(&self) -> bool {
        self.opted_in && self.opt_outs == opt_outs()
    }
}

/// Makes `info` the current value; `_held` proves the caller holds the lock.
fn publish(_held: &State, info: MetricsInfo) {
    if !info.enabled {
        OPT_OUTS.fetch_add(1, Ordering::SeqCst);
    }
    let bits =
        INITIALIZED + u8::from(info.enabled) * ENABLED + u8::from(info.user_confirmed) * USER_CONFIRMED;
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
/// even when the file cannot be written. The caller registers the fork
/// handlers first (`reporting::install_fork_handlers`): before this lock is
/// first taken.
pub fn toggle(enabled: bool, apply: impl FnOnce(bool)) -> Result<(), ToggleError> {
    let mut state = lock();
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
    Switch { state: lock() }
}

/// The consent lock: std's (a futex word, nothing shared with other locks,
/// so a `fork()` child inherits nothing half-held; see [`lock_for_fork`]).
/// Every critical section completes its writes or makes none, so a panic
/// under it (in a caller's `apply`) leaves the state whole: poisoning is
/// ignored.
fn lock() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
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

thread_local! {
    /// The consent lock's guard while this thread forks.
    static HELD_FOR_FORK: RefCell<Option<MutexGuard<'static, State>>> = const { RefCell::new(None) };
}

/// Around `fork()` (see `reporting::fork`): the consent lock is held by the
/// forking thread, so the child never inherits it held by a thread it lacks.
/// std's lock keeps no queue of parked threads: unlocking it in the child,
/// where the parent's other threads do not exist, simply frees it.
pub(crate) fn lock_for_fork() {
    let guard = lock();
    let _ = HELD_FOR_FORK.try_with(|held| *held.borrow_mut() = Some(guard));
}

pub(crate) fn unlock_after_fork() {
    let _ = HELD_FOR_FORK.try_with(|held| held.borrow_mut().take());
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

    thread_local! {
        /// The warnings this thread logged (see [`Warnings`]).
        static WARNINGS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
    }

    /// A logger that keeps the warnings of the thread that logs them.
    struct Warnings;
    impl log::Log for Warnings {
        fn enabled(&self, m: &log::Metadata<'_>) -> bool {
            m.level() <= log::Level::Warn
        }
        fn log(&self, record: &log::Record<'_>) {
            WARNINGS.with(|w| w.borrow_mut().push(record.args().to_string()));
        }
        fn flush(&self) {}
    }

    /// A dataDir never used is the common case and logs nothing; a file that
    /// cannot be read is worth a warning (the user reads as not opted in).
    #[test]
    fn only_a_file_that_cannot_be_read_is_warned_about() {
        static LOGGER: Warnings = Warnings;
        // Under nextest the process is this test's; under `cargo test` another
        // test may have set a logger first, and only the answers are checked.
        let logging = log::set_logger(&LOGGER).is_ok();
        log::set_max_level(log::LevelFilter::Warn);
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(ConsentFile::new(dir.path()).load(), MetricsInfo::default());
        if logging {
            WARNINGS.with(|w| assert_eq!(*w.borrow(), Vec::<String>::new()));
        }
        // The dataDir is a file: the consent file cannot be opened.
        let not_a_dir = dir.path().join("a-file");
        fs::write(&not_a_dir, b"x").unwrap();
        assert_eq!(ConsentFile::new(&not_a_dir).load(), MetricsInfo::default());
        if logging {
            WARNINGS.with(|w| {
                let w = w.borrow();
                assert_eq!(w.len(), 1, "{w:?}");
                assert!(w[0].starts_with("cannot read the consent file"), "{w:?}");
            });
        }
    }

    fn reinit(dir: &Path) -> MetricsInfo {
        let switch = begin_switch();
        let info = switch.read(dir);
        switch.commit(dir, info);
        info
    }

    /// The process-wide state, as `InitializeApplication` and
    /// `ToggleCentralizedMetrics` drive it: an opt-out that cannot be
    /// written holds for its dataDir (only), until an opt-in is stored.
    #[test]
    fn an_unwritten_opt_out_holds_for_its_data_dir_only_until_an_opt_in() {
        let base = tempfile::tempdir().unwrap();
        let a = fs::canonicalize(base.path()).unwrap().join("a");
        let b = a.with_file_name("b");
        fs::create_dir(&a).unwrap();
        fs::create_dir(&b).unwrap();
        let on = MetricsInfo { enabled: true, user_confirmed: true };
        let off = MetricsInfo { enabled: false, user_confirmed: true };
        ConsentFile::new(&b).store(on).unwrap();

        assert_eq!(reinit(&a), MetricsInfo::default());
        assert_eq!(info(), Ok(MetricsInfo::default()));
        let mut applied = Vec::new();
        toggle(true, |enabled| applied.push(enabled)).unwrap();
        assert_eq!(info(), Ok(on));
        assert_eq!(ConsentFile::new(&a).load(), on);
        // A successful opt-out, then someone else's opt-in file: the file counts.
        toggle(false, |enabled| applied.push(enabled)).unwrap();
        assert_eq!(info(), Ok(off));
        ConsentFile::new(&a).store(on).unwrap();
        assert_eq!(reinit(&a), on);

        // The dataDir vanishes: the opt-out cannot be written, and holds.
        fs::remove_dir_all(&a).unwrap();
        let error = toggle(false, |enabled| applied.push(enabled)).unwrap_err();
        assert!(matches!(error, ToggleError::OptOutNotStored(_)), "{error}");
        assert!(error.to_string().starts_with("cannot store the metrics opt-out"), "{error}");
        assert_eq!(info(), Ok(off));
        fs::create_dir(&a).unwrap();
        ConsentFile::new(&a).store(on).unwrap();
        assert!(!reinit(&a).enabled, "the unwritten opt-out holds over the stale file");
        // ...for its dataDir only.
        assert_eq!(reinit(&b), on);
        assert_eq!(info(), Ok(on));
        // An opt-in that is stored ends it.
        assert!(!reinit(&a).enabled);
        toggle(true, |enabled| applied.push(enabled)).unwrap();
        assert_eq!(reinit(&a), on);
        assert_eq!(applied, [true, false, false, true]);
        // An opt-in that cannot be stored changes nothing.
        fs::remove_dir_all(&a).unwrap();
        let error = toggle(true, |enabled| applied.push(enabled)).unwrap_err();
        assert!(matches!(error, ToggleError::OptInNotStored(_)), "{error}");
        assert!(error.to_string().contains("nothing changed"), "{error}");
        assert_eq!(applied.len(), 4, "an opt-in not stored is not applied");
        assert_eq!(
            ToggleError::NotInitialized.to_string(),
            "InitializeApplication must succeed before this call"
        );
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
        if crate::sys::files::symlink(&other.path().join(FILE_NAME), &linked.path().join(FILE_NAME)).is_err()
        {
            return; // (a system without links: nothing more to test)
        }
        assert_eq!(ConsentFile::new(linked.path()).load(), MetricsInfo::default(), "never follows a link");
    }
}
