//! The durable outbox: every event that passed the gate is written to
//! `dataDir/panic-reports/` before the panicking call returns, and a library
//! thread delivers it over HTTP, deleting the file only once the server has
//! answered for good. Reports survive crashes, kills, offline periods and slow
//! servers; the host's thread never touches the network.
//!
//! - [`store`]: the folder (private, followed when it vanishes or is replaced),
//!   the files (only regular files inside it, bounded), eviction and purge.
//! - [`sender`]: the delivery loop (cut off at once by an opt-out); [`http`]:
//!   one request (no redirects, one deadline); [`proxy`]: the egress proxy;
//!   [`tls`]: the library's own TLS, the one seam of the `library-tls`
//!   feature (absent from a build without it).
//! - [`policy`]: what a response means and how long to wait (pure).
//! - [`lease`]: the host's transport (`"transport":"host"`): the same
//!   decision and the same answer's application as the sender's, with the
//!   report handed to the host under a lease.
//!
//! One process per outbox folder: a lock file (`flock`) guards it and the
//! kernel releases it when the process dies, even by SIGKILL. Within a
//! process, [`Outbox::open`] hands out the one object per folder, so switching
//! dataDirs back and forth never locks the process out of its own outbox.
//!
//! Lock order: `link` (the sender's connection) before `state`. No lock is
//! held across a network request or a wait (condition variables release it).

mod history;
mod http;
mod lease;
pub mod policy;
pub mod proxy;
mod reports;
mod sender;
mod store;
#[cfg(test)]
mod test_proxies;
mod tls;
mod wire;

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::sync::{Condvar, Mutex};

pub use self::history::{count_dropped, dropped, Cause, Dropped, Sent};
pub use self::lease::{Acknowledged, Outcome, Pulled, LEASE_DEFAULT};
pub use self::reports::{Deleted, Pending};
pub use self::sender::Target;
#[cfg(test)]
pub(crate) use self::store::carried_in;
pub use self::store::DIR_NAME;
pub use self::tls::{pem_certificates, Config as TlsConfig, AVAILABLE as LIBRARY_TLS};
pub use self::wire::Endpoint;
#[cfg(feature = "fuzzing")]
pub use self::wire::{parse_head, MAX_HEAD};

/// How long one HTTP request may take before it counts as a network error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the sender lets the outbox settle after a write before it syncs
/// and sends (see `State::settle_until`), and how long at most in a stream of
/// writes. A flush does not wait.
const SETTLE: Duration = Duration::from_millis(20);
const MAX_SETTLE: Duration = Duration::from_millis(250);

/// How much the outbox keeps: the policy's bounds (30 reports, 8 MiB by
/// default), which the fleet simulation reads too.
pub type OutboxLimits = policy::Bounds;

/// What a host is told when another process holds a dataDir's outbox.
pub const LOCKED: &str =
    "another process is using the panic-report outbox of this dataDir: one dataDir serves one process at a time";

#[derive(Debug)]
pub enum OpenError {
    /// Another process holds the outbox of this dataDir.
    Locked(PathBuf),
    Io(io::Error),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Locked(_) => f.write_str(LOCKED),
            OpenError::Io(e) => write!(f, "cannot open the panic-report outbox: {e}"),
        }
    }
}

/// The folder as it was opened: replaced or vanished folders are noticed.
type Identity = crate::files::FileId;

#[derive(Debug)]
struct State {
    /// Regular envelope files on disk, as of the last look.
    pending: usize,
    /// Moved on when the report in flight (the sender's request, the host's
    /// lease) is deleted (an opt-out, the user's deletion): the outcome of a
    /// request that began in an older epoch is not applied as its own.
    epoch: u64,
    /// Evicted by the bounds (or unreadable) and not yet reported.
    dropped: u64,
    /// Something changed: a new file, a flush, a consent or config change.
    kicked: bool,
    /// A flush asked to skip our own backoff (never the server's).
    skip_backoff: bool,
    /// The gate was closed at the sender's last look.
    blocked: bool,
    /// Our jittered backoff after network errors, 3xx and 5xx.
    backoff: policy::Backoff,
    retry_at: Option<Instant>,
    /// The random delay before the first send after an init (skipped by a
    /// flush), so a fleet that starts at once does not send at once.
    initial_until: Option<Instant>,
    /// The send budget ([`policy::Budget`]) and, when it is spent, when the
    /// next send may start (skipped by a flush).
    budget: policy::Budget,
    budget_until: Option<Instant>,
    rng: policy::Rng,
    /// The report being sent: never evicted meanwhile.
    in_flight: Option<PathBuf>,
    /// What the server asked for (429, X-Sentry-Rate-Limits).
    server_retry_at: Option<Instant>,
    /// The outbox is not the current one: the sender stops.
    closed: bool,
    /// A sender thread runs for this outbox.
    sender_running: bool,
    /// Reports an opt-out could not delete: never sent by this process.
    embargoed: Vec<PathBuf>,
    /// The reports on disk (oldest first) as of the last look, kept up to
    /// date by this process's writes, evictions and deliveries, so that
    /// neither a panicking call nor the sender lists the folder while
    /// holding this state's lock (a listing of 30 reports took about 1 ms,
    /// and a panicking thread waited for it). `None` means "look again":
    /// after an open, a re-created folder, or a file that was not what the
    /// listing said (the folder is this process's alone, by its lock file).
    listing: Option<Vec<(PathBuf, u64)>>,
    /// The panics each report written by this process carries for others
    /// (see `store::carried_in`), by file name: an eviction passes them on
    /// without reading the file back on the panicking thread.
    carried: HashMap<OsString, u64>,
    /// The sender is deleting a delivered report, outside this lock: a flush
    /// waits for that too (its answer of 0 means the disk is clean).
    deleting: bool,
    /// Reports written but not yet fsynced (the sender syncs them).
    unsynced: Vec<PathBuf>,
    /// Evicted reports, renamed out of the way (never sent, never listed),
    /// for the sender to delete: a deletion cost a panicking thread more
    /// than the write of its own report (ext4 frees and discards the blocks).
    trash: Vec<PathBuf>,
    /// The sender waits until then before it syncs and sends, so that a
    /// burst of reports is written without its fsyncs and requests competing
    /// for the disk and the cores: [`SETTLE`] after the last write, at most
    /// [`MAX_SETTLE`] after the first.
    settle_until: Option<Instant>,
    settle_cap: Option<Instant>,
    /// The host sends the reports (`"transport":"host"`): the library's
    /// sender stops, and [`Outbox::lease_next`] hands them out instead.
    host_transport: bool,
    /// The report the host holds (see [`lease`]); it is the one in flight.
    lease: Option<lease::Lease>,
    /// The id of the last lease handed out.
    last_lease: u64,
    /// The folder and its lock file as opened.
    folder: Option<Identity>,
    /// The locked lock file, and its identity.
    lock: Option<(File, Identity)>,
}

pub struct Outbox {
    dir: PathBuf,
    limits: OutboxLimits,
    state: Mutex<State>,
    changed: Condvar,
    policy: policy::Policy,
    /// The sender's connection in flight and its generation, which an
    /// opt-out moves on (shutting the connection down).
    link: Mutex<sender::Link>,
}

impl State {
    fn new() -> Self {
        Self {
            pending: 0,
            epoch: 0,
            dropped: 0,
            kicked: false,
            skip_backoff: false,
            blocked: false,
            backoff: policy::Backoff::default(),
            retry_at: None,
            initial_until: None,
            budget: policy::Budget::default(),
            budget_until: None,
            rng: policy::Rng::new(),
            in_flight: None,
            server_retry_at: None,
            closed: false,
            sender_running: false,
            embargoed: Vec::new(),
            listing: None,
            carried: HashMap::new(),
            deleting: false,
            unsynced: Vec::new(),
            trash: Vec::new(),
            settle_until: None,
            settle_cap: None,
            host_transport: false,
            lease: None,
            last_lease: 0,
            folder: None,
            lock: None,
        }
    }

    /// Takes a report this process removed, or found gone, off the listing.
    fn forget(&mut self, path: &Path) {
        if let Some(name) = path.file_name() {
            self.carried.remove(name);
        }
        if let Some(listing) = self.listing.as_mut() {
            // (As bytes: `Path`'s `==` walks components.)
            listing.retain(|(p, _)| p.as_os_str() != path.as_os_str());
        }
    }
}

static OPEN: Mutex<Vec<Weak<Outbox>>> = Mutex::new(Vec::new());

impl Outbox {
    /// The outbox of `data_dir`: the one this process already has for that
    /// folder (re-opened if it had been closed, re-created if its folder
    /// vanished), or a new one that takes the folder's lock.
    pub fn open(data_dir: &Path, limits: OutboxLimits) -> Result<Arc<Outbox>, OpenError> {
        let dir = data_dir.join(DIR_NAME);
        let key = std::fs::canonicalize(data_dir).map(|d| d.join(DIR_NAME)).unwrap_or_else(|_| dir.clone());
        let mut open = OPEN.lock();
        open.retain(|w| w.strong_count() > 0);
        if let Some(existing) = open.iter().filter_map(Weak::upgrade).find(|o| o.dir == key) {
            existing.reopen()?;
            return Ok(existing);
        }
        history::start_counting();
        let outbox = Arc::new(Outbox {
            dir: key,
            limits,
            state: Mutex::new(State::new()),
            changed: Condvar::new(),
            policy: policy::Policy::default(),
            link: Mutex::new(sender::Link::default()),
        });
        outbox.reopen()?;
        outbox.remove_temporary_files();
        // The random delay before the first send of this process (see
        // [`policy::Policy::initial_delay`]): drawn once, when the folder is
        // first opened, so that re-initialising does not keep postponing it.
        {
            let mut state = outbox.state.lock();
            let delay = outbox.policy.initial_delay(&mut state.rng);
            state.initial_until = Some(policy::after(Instant::now(), delay));
        }
        open.push(Arc::downgrade(&outbox));
        Ok(outbox)
    }

    /// Makes this the current outbox again, checking its folder and lock.
    fn reopen(&self) -> Result<(), OpenError> {
        let mut state = self.state.lock();
        self.ensure_folder(&mut state)?;
        state.closed = false;
        state.kicked = true;
        state.pending = self.files(&mut state).len();
        self.changed.notify_all();
        Ok(())
    }

    /// The gate or the target may have changed: look again.
    pub fn wake(&self) {
        let mut state = self.state.lock();
        state.kicked = true;
        state.blocked = false;
        self.changed.notify_all();
    }

    /// Forgets every wait (the server's and our backoff): the target changed.
    pub fn forget_waits(&self) {
        let mut state = self.state.lock();
        state.server_retry_at = None;
        state.retry_at = None;
        state.backoff.reset();
        state.kicked = true;
        self.changed.notify_all();
    }

    /// Stops the sender (another outbox is now the current one). A request in
    /// flight completes; the files stay for the next process or re-open.
    pub fn close(&self) {
        self.state.lock().closed = true;
        self.changed.notify_all();
    }

    /// Claims the right to run this outbox's sender: `true` when none runs
    /// (the caller starts one; [`Outbox::run_sender`] releases the claim when
    /// it returns, or the caller with [`Outbox::sender_stopped`] when the
    /// thread could not start).
    pub fn claim_sender(&self) -> bool {
        let mut state = self.state.lock();
        !std::mem::replace(&mut state.sender_running, true)
    }

    pub fn sender_stopped(&self) {
        self.state.lock().sender_running = false;
    }

    /// Asks the sender to deliver now (skipping our own backoff, not the
    /// server's) and waits until nothing is pending, the gate is closed, or
    /// `timeout` has passed. Returns the number still pending. Holds no lock
    /// while it waits.
    pub fn flush(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock();
        state.kicked = true;
        state.skip_backoff = true;
        // The host asked to deliver now: the start-up delay has had its use.
        state.initial_until = None;
        state.blocked = false;
        self.changed.notify_all();
        while (state.pending > 0 || state.deleting) && !state.blocked && !state.closed {
            if self.changed.wait_until(&mut state, deadline).timed_out() {
                break;
            }
        }
        state.pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The registry of open outboxes holds only live ones: each outbox that
    /// was dropped (a dataDir switched away from, its sender ended) leaves
    /// it at the next open, rather than keeping its allocation (a `Weak`
    /// keeps it) for the life of the process.
    #[test]
    fn the_registry_forgets_dropped_outboxes() {
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let dropped: Vec<*const Outbox> = dirs
            .iter()
            .map(|dir| Arc::as_ptr(&Outbox::open(dir.path(), OutboxLimits::default()).unwrap()))
            .collect();
        let last = tempfile::tempdir().unwrap();
        let _live = Outbox::open(last.path(), OutboxLimits::default()).unwrap();
        let open = OPEN.lock();
        // (Only dead entries: a live outbox may have been given a freed address.)
        let kept = open.iter().filter(|w| w.strong_count() == 0 && dropped.contains(&w.as_ptr())).count();
        assert_eq!(kept, 0, "dropped outboxes still registered");
    }
}
