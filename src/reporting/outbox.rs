//! The durable outbox: every event that passed the gate is written to
//! `dataDir/panic-reports/` before the panicking call returns, and a background
//! sender delivers it over HTTP, deleting the file only once the server has
//! answered for good. Reports survive crashes, kills, offline periods and slow
//! servers; the host's thread never touches the network.
//!
//! - Delivery: what a response means, every wait and the initial delay are
//!   the pure policy of [`crate::outbox::policy`] (the fleet
//!   simulation runs the same code). Redirects are not followed (a 3xx is a
//!   retryable failure).
//! - Bounds: at most [`OutboxLimits::max_items`] files and
//!   [`OutboxLimits::max_bytes`] bytes; past that the oldest go first and are
//!   counted in [`Outbox::take_dropped`].
//! - Purge: [`Outbox::purge`] deletes everything under the state lock, and the
//!   sender re-checks both the gate and the purge epoch right before each
//!   request, so nothing queued before an opt-out starts its way out after it.
//! - One process per outbox: a lock file (`.lock`, `flock`) guards the folder.
//!   The kernel releases it when the process dies, even by SIGKILL.
//! - The DSN is never written: files hold envelopes without a `dsn` header, and
//!   the sender gets the target from the live configuration.

use std::fs::{self, File, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex};

use crate::outbox::policy::{self, Backoff, Classified, Headers, Policy, Verdict, Wait};
pub use crate::outbox::policy::{BACKOFF_MAX, BACKOFF_START, DEFAULT_RETRY_AFTER};

/// The folder under `dataDir`.
pub const DIR_NAME: &str = "panic-reports";
const LOCK_FILE: &str = ".lock";
const SUFFIX: &str = ".envelope";
/// Sentry's own limit for one event item.
pub const MAX_ENVELOPE_BYTES: usize = 1024 * 1024;
/// How long one HTTP request may take before it counts as a network error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How much the outbox keeps (sentry-native keeps 30 items by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxLimits {
    pub max_items: usize,
    pub max_bytes: u64,
}

impl Default for OutboxLimits {
    fn default() -> Self {
        Self { max_items: 30, max_bytes: 8 * 1024 * 1024 }
    }
}

/// Where and how to deliver: built from the live DSN at each request.
pub struct Target {
    pub url: String,
    pub auth: String,
}

#[derive(Debug)]
pub enum OpenError {
    /// Another process holds the outbox of this dataDir.
    Locked(PathBuf),
    Io(io::Error),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Locked(dir) => write!(
                f,
                "another process is using the panic-report outbox in {}: one dataDir serves one process at a time",
                dir.display()
            ),
            OpenError::Io(e) => write!(f, "cannot open the panic-report outbox: {e}"),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// Files on disk, as of the last change.
    pending: usize,
    /// Bumped by every purge: a sender that saw an older epoch sends nothing.
    epoch: u64,
    /// Panics whose reports the bounds evicted (with the counts those reports
    /// carried), not yet reported.
    dropped: u64,
    /// Something changed: a new file, a flush, a consent or config change.
    kicked: bool,
    /// A flush asked to skip our own backoff (never the server's).
    skip_backoff: bool,
    /// The gate was closed at the sender's last look.
    blocked: bool,
    /// Our backoff after a network error, 3xx or 5xx.
    backoff: Backoff,
    retry_at: Option<Instant>,
    /// No send before this (the random initial delay; a flush skips it).
    initial_until: Option<Instant>,
    rng: policy::Rng,
    /// What the server asked for (429, X-Sentry-Rate-Limits).
    server_retry_at: Option<Instant>,
    /// The file the sender is posting: never evicted under its feet (it
    /// would be counted both as delivered and as dropped).
    in_flight: Option<PathBuf>,
    closed: bool,
}

pub struct Outbox {
    dir: PathBuf,
    limits: OutboxLimits,
    state: Mutex<State>,
    changed: Condvar,
    agent: ureq::Agent,
    /// Held for the outbox's lifetime: the inter-process lock.
    _lock: File,
}

impl Outbox {
    /// Opens (creating) `data_dir/panic-reports`, takes its lock, and removes
    /// temporary files a crash may have left.
    pub fn open(data_dir: &Path, limits: OutboxLimits) -> Result<Self, OpenError> {
        let dir = data_dir.join(DIR_NAME);
        fs::create_dir_all(&dir).map_err(OpenError::Io)?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(OpenError::Io)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(OpenError::Locked(dir)),
            Err(TryLockError::Error(e)) => return Err(OpenError::Io(e)),
        }
        if let Ok(entries) = fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                if name.to_string_lossy().starts_with(".tmp") {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .http_status_as_error(false)
            // A guest in the host's process: the host's proxy variables do not
            // redirect crash reports.
            .proxy(None)
            // A redirect would re-send the report as a GET without a body,
            // maybe to another host: a 3xx is a retryable failure instead.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(concat!("libstatus/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let outbox = Self {
            dir,
            limits,
            state: Mutex::new({
                let mut rng = policy::Rng::new();
                let initial = Policy::default().initial_delay(&mut rng);
                State { initial_until: Some(policy::after(Instant::now(), initial)), rng, ..State::default() }
            }),
            changed: Condvar::new(),
            agent,
            _lock: lock,
        };
        let pending = outbox.files().len();
        outbox.state.lock().pending = pending;
        Ok(outbox)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Files waiting to be delivered.
    pub fn pending(&self) -> usize {
        self.state.lock().pending
    }

    /// Writes one envelope durably (temporary file, fsync, rename), enforces the
    /// bounds, and wakes the sender. Returns once the file is on disk.
    pub fn store(&self, envelope: &[u8]) -> io::Result<()> {
        let mut state = self.state.lock();
        if envelope.len() > MAX_ENVELOPE_BYTES {
            state.dropped += 1;
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "envelope over 1 MiB"));
        }
        let mut tmp = tempfile::Builder::new().prefix(".tmp").tempfile_in(&self.dir)?;
        tmp.write_all(envelope)?;
        tmp.as_file().sync_all()?;
        tmp.persist(self.dir.join(next_file_name())).map_err(|e| e.error)?;
        sync_dir(&self.dir);
        let mut files = self.files();
        files.retain(|(path, _)| state.in_flight.as_ref() != Some(path));
        let sizes: Vec<u64> = files.iter().map(|(_, len)| *len).collect();
        let bounds = policy::Bounds { max_items: self.limits.max_items, max_bytes: self.limits.max_bytes };
        let mut evicted = 0;
        for (oldest, _) in files.drain(..policy::evictions(&sizes, bounds)) {
            // The evicted report stood for the panics it counted, too.
            let carried = carried_panics(&oldest);
            if fs::remove_file(&oldest).is_ok() {
                evicted += 1 + carried;
            }
        }
        state.dropped += evicted;
        state.pending = files.len();
        state.kicked = true;
        self.changed.notify_all();
        Ok(())
    }

    /// Reports evicted by the bounds since the last call.
    pub fn take_dropped(&self) -> u64 {
        std::mem::take(&mut self.state.lock().dropped)
    }

    /// Deletes every pending report; a sender mid-retry will not send them.
    /// Returns how many were deleted.
    pub fn purge(&self) -> usize {
        let mut state = self.state.lock();
        state.epoch += 1;
        let mut deleted = 0;
        for (path, _) in self.files() {
            if fs::remove_file(path).is_ok() {
                deleted += 1;
            }
        }
        sync_dir(&self.dir);
        state.pending = self.files().len();
        state.dropped = 0;
        state.retry_at = None;
        state.backoff.reset();
        self.changed.notify_all();
        deleted
    }

    /// The gate or the target may have changed: look again.
    pub fn wake(&self) {
        let mut state = self.state.lock();
        state.kicked = true;
        state.blocked = false;
        self.changed.notify_all();
    }

    /// Stops the sender (the outbox is being replaced).
    pub fn close(&self) {
        self.state.lock().closed = true;
        self.changed.notify_all();
    }

    /// Asks the sender to deliver now (skipping our own backoff, not the
    /// server's) and waits until nothing is pending, the gate is closed, or
    /// `timeout` has passed. Returns the number still pending.
    pub fn flush(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock();
        state.kicked = true;
        state.skip_backoff = true;
        state.blocked = false;
        self.changed.notify_all();
        while state.pending > 0 && !state.blocked && !state.closed {
            if self.changed.wait_until(&mut state, deadline).timed_out() {
                break;
            }
        }
        state.pending
    }

    /// The sender's loop; returns when the outbox is closed. `target` is asked
    /// right before every request: `None` means the gate is closed.
    pub fn run_sender(&self, target: &dyn Fn() -> Option<Target>) {
        loop {
            {
                let mut state = self.state.lock();
                loop {
                    if state.closed {
                        return;
                    }
                    let now = Instant::now();
                    let due = state.pending > 0 && !state.blocked && self.not_before(&state) <= now;
                    if due || state.kicked {
                        state.kicked = false;
                        break;
                    }
                    let wake_at = if state.pending > 0 && !state.blocked {
                        self.not_before(&state)
                    } else {
                        now + Duration::from_secs(60)
                    };
                    self.changed.wait_until(&mut state, wake_at);
                }
            }
            self.send_pending(target);
        }
    }

    fn not_before(&self, state: &State) -> Instant {
        let now = Instant::now();
        // A flush skips our backoff and the initial delay, never the server's
        // waits.
        let ours = if state.skip_backoff { [None; 2] } else { [state.retry_at, state.initial_until] };
        ours.into_iter().chain([state.server_retry_at]).flatten().max().unwrap_or(now)
    }

    /// One pass over the files, oldest first, until one must wait.
    fn send_pending(&self, target: &dyn Fn() -> Option<Target>) {
        for (path, _) in self.files() {
            let epoch = {
                let state = self.state.lock();
                if state.closed || self.not_before(&state) > Instant::now() {
                    break;
                }
                // The send budget (policy::Budget) is not applied here yet: a
                // throttled sender makes a storm evict reports, and the count
                // an eviction at the very end leaves is never reported (see
                // the storm test in tests/outbox.rs). The store rewrite decides.
                state.epoch
            };
            let Ok(body) = fs::read(&path) else { continue };
            // The gate and the purge epoch, checked right before the request.
            let Some(target) = target() else {
                self.state.lock().blocked = true;
                self.changed.notify_all();
                return;
            };
            {
                let mut state = self.state.lock();
                if state.epoch != epoch || !path.exists() {
                    break;
                }
                state.in_flight = Some(path.clone());
            }
            let Classified { verdict, rate_limit } = self.post(&target, &body);
            let mut state = self.state.lock();
            let state = &mut *state;
            state.in_flight = None;
            let policy = Policy::default();
            if let Some(limit) = rate_limit {
                // Rate limits apply to later requests, whatever this status.
                let wait = policy.server_wait(limit, &mut state.rng);
                state.server_retry_at = Some(policy::after(Instant::now(), wait));
            }
            match verdict {
                Verdict::Delivered | Verdict::Rejected(_) => {
                    if let Verdict::Rejected(status) = verdict {
                        log::warn!("panic report rejected by the server with HTTP {status}; deleted");
                    }
                    if state.epoch == epoch {
                        let _ = fs::remove_file(&path);
                    }
                    state.backoff.reset();
                    state.retry_at = None;
                }
                Verdict::Retry(Wait::Server(wait)) => {
                    let wait = policy.server_wait(wait, &mut state.rng);
                    log::info!("panic report delivery deferred by the server for {wait:?}");
                    state.server_retry_at = Some(policy::after(Instant::now(), wait));
                }
                Verdict::Retry(Wait::Backoff) => {
                    let wait = state.backoff.next(&policy, &mut state.rng);
                    log::info!("panic report delivery failed; retrying in {wait:?}");
                    state.retry_at = Some(policy::after(Instant::now(), wait));
                    state.skip_backoff = false;
                }
            }
            state.pending = self.files().len();
            self.changed.notify_all();
            if matches!(verdict, Verdict::Retry(_)) {
                break;
            }
        }
        let mut state = self.state.lock();
        state.pending = self.files().len();
        if state.pending == 0 {
            state.skip_backoff = false;
        }
        self.changed.notify_all();
    }

    fn post(&self, target: &Target, body: &[u8]) -> Classified {
        let response = self
            .agent
            .post(&target.url)
            .header("Content-Type", "application/x-sentry-envelope")
            .header("X-Sentry-Auth", &target.auth)
            .send(body);
        match response {
            Ok(response) => {
                let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
                let status = response.status().as_u16();
                if (300..400).contains(&status) {
                    log::warn!("panic report delivery: the server redirected (HTTP {status}), not followed; fix the DSN");
                }
                let headers = Headers {
                    retry_after: header("retry-after"),
                    rate_limits: header("x-sentry-rate-limits"),
                };
                policy::classify(status, headers, SystemTime::now())
            }
            Err(e) => {
                log::debug!("panic report delivery: {e}");
                policy::classify(0, Headers::default(), SystemTime::now())
            }
        }
    }

    /// Envelope files, oldest first, with their sizes.
    fn files(&self) -> Vec<(PathBuf, u64)> {
        let mut files: Vec<(PathBuf, u64)> = fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| {
                        let name = e.file_name();
                        let name = name.to_string_lossy();
                        !name.starts_with('.') && name.ends_with(SUFFIX)
                    })
                    .map(|e| (e.path(), e.metadata().map(|m| m.len()).unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }
}

/// The panics an envelope counts besides its own (storm control's and the
/// bounds' counters in its `extra`), so that evicting it loses no count.
fn carried_panics(path: &Path) -> u64 {
    let Ok(body) = fs::read(path) else { return 0 };
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_ENVELOPE_BYTES)]);
    ["libstatus.suppressed_since_last", "libstatus.suppressed_other_sites", "libstatus.dropped_reports"]
        .iter()
        .filter_map(|key| {
            let at = text.find(&format!("\"{key}\":"))? + key.len() + 3;
            let digits: String = text[at..].trim_start().chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u64>().ok()
        })
        .fold(0u64, u64::saturating_add)
}

/// Unique names that sort by age, across processes.
fn next_file_name() -> String {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    format!("{nanos:024}-{seq:08}-{}{SUFFIX}", std::process::id())
}

/// Makes a rename durable (best effort: some filesystems refuse).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_bounds_and_purge() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path(), OutboxLimits { max_items: 3, max_bytes: 1 << 20 }).unwrap();
        for i in 0..5 {
            outbox.store(format!("envelope {i}").as_bytes()).unwrap();
        }
        assert_eq!(outbox.pending(), 3);
        assert_eq!(outbox.take_dropped(), 2);
        assert_eq!(outbox.take_dropped(), 0);
        let kept: Vec<String> = outbox.files().iter().map(|(p, _)| fs::read_to_string(p).unwrap()).collect();
        assert_eq!(kept, ["envelope 2", "envelope 3", "envelope 4"], "the oldest go first");
        assert_eq!(outbox.purge(), 3);
        assert_eq!(outbox.pending(), 0);
    }

    #[test]
    fn evicting_a_report_keeps_the_counts_it_carried() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path(), OutboxLimits { max_items: 1, max_bytes: 1 << 20 }).unwrap();
        outbox
            .store(br#"{"extra":{"libstatus.suppressed_since_last":7,"libstatus.dropped_reports": 2}}"#)
            .unwrap();
        outbox.store(b"newer").unwrap();
        assert_eq!(outbox.take_dropped(), 10, "the evicted report, its 7 suppressed and its 2 dropped");
    }

    #[test]
    fn byte_bound_and_oversize() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path(), OutboxLimits { max_items: 30, max_bytes: 25 }).unwrap();
        for _ in 0..3 {
            outbox.store(&[b'x'; 10]).unwrap();
        }
        assert_eq!(outbox.pending(), 2);
        assert!(outbox.store(&vec![b'x'; MAX_ENVELOPE_BYTES + 1]).is_err());
        assert_eq!(outbox.take_dropped(), 2);
    }

    #[test]
    fn one_process_per_outbox_and_reopen_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let first = Outbox::open(dir.path(), OutboxLimits::default()).unwrap();
        first.store(b"kept").unwrap();
        assert!(matches!(Outbox::open(dir.path(), OutboxLimits::default()), Err(OpenError::Locked(_))));
        drop(first);
        let second = Outbox::open(dir.path(), OutboxLimits::default()).unwrap();
        assert_eq!(second.pending(), 1, "files survive the process that wrote them");
    }

    #[test]
    fn flush_returns_when_gate_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = std::sync::Arc::new(Outbox::open(dir.path(), OutboxLimits::default()).unwrap());
        outbox.store(b"x").unwrap();
        let sender = outbox.clone();
        #[allow(clippy::disallowed_methods)] // a test's own helper thread
        let handle = std::thread::spawn(move || sender.run_sender(&|| None));
        let started = Instant::now();
        assert_eq!(outbox.flush(Duration::from_secs(20)), 1);
        assert!(started.elapsed() < Duration::from_secs(10));
        outbox.close();
        handle.join().unwrap();
    }
}
