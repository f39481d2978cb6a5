//! Everything Sentry: which panics leave the process, how, and when.
//!
//! - [`gate`] is the one place that decides whether an event may leave the
//!   process: a DSN is known, the environment is reported, and the user opted
//!   in. The reporter asks it for every event, and the outbox's sender asks it
//!   again right before every request.
//! - [`prepare`] / [`commit`]: an `InitializeApplication` opens everything it
//!   needs first, then switches the process over in one step (under the
//!   consent lock), so a failed init changes nothing.
//! - [`pipeline`]: what happens to a caught panic; [`thread`]: the one
//!   wrapper every library thread goes through; [`client`]: the reporter,
//!   which finishes an event (release, environment, gate, scrubbing) and
//!   writes it to the outbox.
//!
//! One reporter per configuration, held here (no `sentry::Client`, no
//! thread-local hubs): every thread, including host threads that existed
//! before `InitializeApplication`, reports through the same one, and a new
//! configuration applies to all of them at once.

pub mod build_env;
mod client;
pub mod config;
mod error;
mod event;
#[cfg(test)]
pub(crate) use event::own_module_range;
mod fork;
#[doc(hidden)]
pub mod limiter;
mod pipeline;
pub(crate) mod scrub;
mod thread;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use std::cell::RefCell;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockWriteGuard};

pub use self::config::{Blocker, BuildConfig, HostProfile, ReportingConfig, Secret};
pub use self::error::ReportingError;
pub use self::event::INTENDED_PANIC_TYPE;
use self::limiter::StormLimiter;
pub use self::limiter::EVENTS_PER_WINDOW;
pub use self::pipeline::{on_caught_panic, Origin};
use self::scrub::Scrubber;
pub use self::thread::{spawn_detached, spawn_supervised, spawn_thread};
use crate::outbox::{Acknowledged, Endpoint, Outbox, OutboxLimits, Outcome, Pulled, Target};
use crate::panics;

/// The answer's `panicReporting` object.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PanicReportingStatus {
    pub active: bool,
    /// Why reporting is off, in plain words; empty when active.
    pub reason: String,
    pub environment: String,
    pub context_name: String,
    pub context_version: String,
    /// Whether fatal errors (signals, aborts) are reported: the host asked
    /// (`reportFatalErrors`) and reporting is active.
    pub fatal_errors: bool,
    /// Who sends the reports: `library` (its own sender) or `host` (the
    /// host's network stack, through `NextPanicReport`).
    pub transport: &'static str,
}

/// One configuration, from one `InitializeApplication`.
struct Session {
    config: Arc<ReportingConfig>,
    /// `None` in a `fork()` child, which opens no outbox (see [`fork`]).
    outbox: Option<Arc<Outbox>>,
    /// `None` without a valid DSN.
    reporter: Option<client::Reporter>,
    /// What must not leave the process under this configuration (its DSN,
    /// the host name, the home folder, every secret shape): for the events,
    /// and for the message a caught panic answers and logs.
    scrubber: Scrubber,
    /// The user's opt-in for this session's dataDir. Written only under the
    /// consent lock (by [`commit`] and [`apply_consent`]), so it always says
    /// what the consent owner says.
    consent: Arc<AtomicBool>,
}

// std's locks (futex words): the three a `fork()` child needs hold no queue
// of parked threads that the child could inherit half-updated (see
// `lock_for_fork`). No critical section leaves them half-written, so
// poisoning is ignored.
static SESSION: RwLock<Option<Arc<Session>>> = RwLock::new(None);
static LIMITER: Mutex<Option<StormLimiter<event::Fingerprint>>> = Mutex::new(None);
static PROFILE: RwLock<Option<Arc<HostProfile>>> = RwLock::new(None);

fn session() -> Option<Arc<Session>> {
    // A statement of its own: the read guard ends here, never held across a wait.
    let session = SESSION.read().unwrap_or_else(PoisonError::into_inner).clone();
    session
}

fn limiter() -> MutexGuard<'static, Option<StormLimiter<event::Fingerprint>>> {
    LIMITER.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Declares who embeds the library (status-backend does, at start-up); apps
/// never call it. Applies from the next `InitializeApplication` on.
pub fn set_host_profile(profile: HostProfile) {
    *PROFILE.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(profile));
}

/// The profile set by [`set_host_profile`], if any.
pub fn host_profile() -> Option<Arc<HostProfile>> {
    PROFILE.read().unwrap_or_else(PoisonError::into_inner).clone()
}

/// The one decision: may an event leave the process under this configuration
/// and consent? `Err` says why not.
pub fn gate(config: &ReportingConfig, consent: bool) -> Result<(), Blocker> {
    if fork::in_forked_child() {
        return Err(Blocker::ForkedChild);
    }
    if let Some(blocker) = config.blocker() {
        return Err(blocker);
    }
    if config.consent_required && !consent {
        return Err(Blocker::NotOptedIn);
    }
    Ok(())
}

impl Session {
    fn gate(&self) -> Result<(), Blocker> {
        gate(&self.config, self.consent.load(Ordering::SeqCst))
    }
}

/// Everything a new configuration needs, opened but not yet in effect.
pub struct Prepared {
    config: Arc<ReportingConfig>,
    outbox: Option<Arc<Outbox>>,
    storm_window: Duration,
}

/// Opens what `config` needs under `data_dir` (the outbox, its lock): the
/// part of an init that can fail. Nothing changes until [`commit`]. A
/// `fork()` child opens no outbox: not the parent's (its state may be held by
/// a parent's thread the child lacks, and its folder and lock file are the
/// parent's), nor another dataDir's (it would report nothing from there).
pub fn prepare(
    config: ReportingConfig,
    data_dir: &Path,
    storm_window: Duration,
) -> Result<Prepared, ReportingError> {
    panics::install_hook();
    fork::install_handlers();
    let outbox = match fork::in_forked_child() {
        true => None,
        false => Some(Outbox::open(data_dir, OutboxLimits::default())?),
    };
    Ok(Prepared { config: Arc::new(config), outbox, storm_window })
}

/// See [`fork::install_handlers`]: called before the locks that a `fork()`
/// holds are first taken.
pub fn install_fork_handlers() {
    fork::install_handlers();
}

/// Whether this process is a `fork()` child of one that set the library up.
pub fn in_forked_child() -> bool {
    fork::in_forked_child()
}

/// Switches the process over to a prepared configuration, with the user's
/// opt-in for its dataDir. Call it under the consent lock
/// ([`crate::consent::begin_switch`]). Cannot fail.
pub fn commit(prepared: Prepared, consent: bool) -> PanicReportingStatus {
    let Prepared { config, outbox, storm_window } = prepared;
    {
        let mut limiter = limiter();
        // The same window keeps the counts: a re-init does not reset storm control.
        if limiter.as_ref().is_none_or(|l| l.window() != storm_window) {
            *limiter = Some(StormLimiter::new(limiter::EVENTS_PER_WINDOW, storm_window, limiter::MAX_SITES));
        }
    }
    let consent = Arc::new(AtomicBool::new(consent));
    let scrubber =
        Scrubber::new(config.dsn.as_ref().map(|d| d.expose().as_str())).with_secrets(config.proxy.secrets());
    let Some(outbox) = outbox else {
        // A `fork()` child: no outbox, no reporter, no sender; the parent's
        // outbox (the previous session's) is not the child's to close.
        let session = Arc::new(Session { config, outbox: None, reporter: None, scrubber, consent });
        let previous = SESSION.write().unwrap_or_else(PoisonError::into_inner).replace(session.clone());
        drop(previous);
        return status_of(Some(&session));
    };
    if config.consent_required && !consent.load(Ordering::SeqCst) {
        outbox.cut_off();
        let purged = outbox.purge();
        if purged > 0 {
            log::info!("deleted {purged} pending panic reports: the user has not opted in");
        }
    }
    let reporter = config
        .parsed_dsn
        .is_some()
        .then(|| client::Reporter::new(&config, consent.clone(), scrubber.clone(), outbox.clone()));
    let session = Arc::new(Session { config, outbox: Some(outbox.clone()), reporter, scrubber, consent });
    let previous = SESSION.write().unwrap_or_else(PoisonError::into_inner).replace(session.clone());
    match previous.as_deref() {
        Some(Session { outbox: Some(old), .. }) if !Arc::ptr_eq(old, &outbox) => old.close(),
        // A wait a server asked for is that server's, and a request to the
        // old server is abandoned: a new DSN starts afresh.
        Some(previous) if previous.config.dsn != session.config.dsn => {
            outbox.cut_off();
            outbox.forget_waits();
        }
        _ => {}
    }
    pipeline::warm_up();
    outbox.set_host_transport(session.config.host_transport);
    if !session.config.host_transport {
        start_sender(&outbox);
    }
    outbox.wake();
    status_of(Some(&session))
}

/// Starts the outbox's sender unless one runs: a supervised library thread
/// (a panic in it is reported and a new loop takes over the same outbox).
fn start_sender(outbox: &Arc<Outbox>) {
    if !outbox.claim_sender() {
        return;
    }
    let sender = outbox.clone();
    let started =
        spawn_supervised("libstatus-outbox", move || sender.run_sender(&|| current_target(&sender)));
    if let Err(e) = started {
        outbox.sender_stopped();
        log::error!("cannot start the panic-report sender: {e}");
    }
}

/// The user's opt-in changed (called by the consent owner, under its lock,
/// before the toggle answers). Opting out ends any request in flight and
/// deletes every pending report; opting in lets the sender deliver.
pub fn apply_consent(enabled: bool) {
    let Some(session) = session() else { return };
    session.consent.store(enabled, Ordering::SeqCst);
    crate::fatal::set_allowed(session.gate().is_ok());
    if fork::in_forked_child() {
        return; // the parent's outbox is not ours to touch
    }
    let Some(outbox) = &session.outbox else { return };
    if enabled {
        outbox.wake();
    } else {
        outbox.cut_off();
        let purged = outbox.purge();
        log::info!("panic reporting turned off by the user; deleted {purged} pending reports");
    }
}

/// The outbox of the current configuration (`None` before
/// `InitializeApplication`, and in a forked child, which must not touch the
/// parent's), whatever the gate says: `PanicReports` works while opted out
/// and without a DSN.
pub fn outbox() -> Option<Arc<Outbox>> {
    if fork::in_forked_child() {
        return None;
    }
    session().and_then(|session| session.outbox.clone())
}

/// The fatal-error part of an `InitializeApplication`, right after
/// [`commit`] (under the consent lock): the report an earlier process left
/// under `data_dir` becomes an event (gated like any other), then the handler
/// is set up for this process as `requested` and the gate say.
pub fn commit_fatal(
    data_dir: &Path,
    requested: bool,
    mut status: PanicReportingStatus,
) -> PanicReportingStatus {
    if let Some(report) = crate::fatal::take_report(data_dir) {
        report_fatal(&report);
    }
    status.fatal_errors = crate::fatal::configure(data_dir, requested, status.active, event::fatal_image());
    status
}

/// Writes the event of an earlier process's fatal error to the outbox, if
/// the gate is open now (the user's opt-in of now: an opt-out since the
/// crash drops it).
fn report_fatal(report: &crate::fatal::Report) {
    let Some(session) = session() else { return };
    let Some(reporter) = session.reporter.as_ref() else { return };
    if session.gate().is_err() {
        log::info!("a fatal-error report of an earlier run was dropped: reporting is off");
        return;
    }
    log::error!(
        "the previous run ended with a fatal error ({}): reporting it",
        crate::fatal::signal_name(report.signal)
    );
    let event = event::fatal_event(report, &session.config);
    reporter.capture(event, 0, None);
}

/// What `InitializeApplication` reports about panic reporting.
pub fn status() -> PanicReportingStatus {
    status_of(session().as_ref())
}

fn status_of(session: Option<&Arc<Session>>) -> PanicReportingStatus {
    match session {
        Some(session) => {
            let verdict = session.gate();
            PanicReportingStatus {
                active: verdict.is_ok(),
                reason: verdict.err().map(|b| b.to_string()).unwrap_or_default(),
                environment: session.config.environment.clone(),
                context_name: session.config.context_name.clone().unwrap_or_default(),
                context_version: session.config.context_version.clone().unwrap_or_default(),
                fatal_errors: crate::fatal::active(),
                transport: transport_name(session.config.host_transport),
            }
        }
        None => {
            let build = BuildConfig::current();
            PanicReportingStatus {
                active: false,
                reason: Blocker::NotInitialized.to_string(),
                environment: String::new(),
                context_name: build.context_name.unwrap_or_default().to_owned(),
                context_version: build.context_version.unwrap_or_default().to_owned(),
                fatal_errors: false,
                transport: transport_name(false),
            }
        }
    }
}

/// Waits up to `timeout` for queued reports to be delivered; answers how many
/// are still pending. Holds no lock while it waits.
pub fn flush(timeout: Duration) -> usize {
    if fork::in_forked_child() {
        return 0;
    }
    match session().and_then(|session| session.outbox.clone()) {
        Some(outbox) => outbox.flush(timeout),
        None => 0,
    }
}

fn transport_name(host: bool) -> &'static str {
    if host {
        "host"
    } else {
        "library"
    }
}

/// Why the host cannot pull or acknowledge reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostTransportError {
    NotInitialized,
    /// The library's own sender carries the reports.
    LibraryTransport,
}

/// The session of a host that sends the reports itself.
fn host_session() -> Result<Arc<Session>, HostTransportError> {
    let session = session().ok_or(HostTransportError::NotInitialized)?;
    if !session.config.host_transport {
        return Err(HostTransportError::LibraryTransport);
    }
    Ok(session)
}

/// The next report the host may send (see `src/outbox/lease.rs`): the same
/// gate and the same delivery policy as the library's own sender.
pub fn next_report(lease_for: Duration, wait: Duration) -> Result<Pulled, HostTransportError> {
    let session = host_session()?;
    // (No outbox: a fork() child, whose parent's reports are not its own.)
    let Some(outbox) = session.outbox.clone().filter(|_| !fork::in_forked_child()) else {
        return Ok(Pulled::Nothing { retry_in: Duration::from_secs(60), pending: 0 });
    };
    // (The session is not held while the pull waits: a re-init replaces it.)
    drop(session);
    Ok(outbox.lease_next(&|| current_target(&outbox), lease_for, wait))
}

/// The host's answer for a report it was handed.
pub fn acknowledge(id: u64, outcome: Outcome<'_>) -> Result<Acknowledged, HostTransportError> {
    let session = host_session()?;
    match session.outbox.as_ref().filter(|_| !fork::in_forked_child()) {
        Some(outbox) => Ok(outbox.acknowledge(id, outcome)),
        None => {
            Ok(Acknowledged::Refused("this process is a fork() child: its parent's reports are not its own"))
        }
    }
}

/// The sender's view of the gate: the live DSN's endpoint, or `None` when
/// this outbox is no longer the current one or the gate is closed.
fn current_target(outbox: &Outbox) -> Option<Target> {
    let session = session()?;
    if !session.outbox.as_ref().is_some_and(|current| std::ptr::eq(Arc::as_ptr(current), outbox)) {
        return None;
    }
    session.gate().ok()?;
    let dsn = session.config.parsed_dsn.as_ref()?.expose();
    let url = dsn.envelope_api_url();
    let endpoint = Endpoint::from_url(&url)?;
    Some(Target {
        spawn: spawn_detached,
        proxy: session.config.proxy.proxy_for(&endpoint),
        tls: session.config.tls.as_ref().map(|tls| tls.0.clone()),
        endpoint,
        url: url.to_string(),
        auth: dsn.to_auth(Some(client::USER_AGENT)).to_string(),
    })
}

/// Serialises `InitializeApplication`s (toggles are ordered against them by
/// the consent lock, taken only for the switch-over). Held across `fork()`
/// ([`fork`]): a child's init never waits for a parent's thread.
static INITIALIZING: crate::sync::Mutex<()> = crate::sync::Mutex::new(());

/// Held for the whole of an `InitializeApplication`.
pub fn initializing() -> crate::sync::MutexGuard<'static, ()> {
    INITIALIZING.lock()
}

/// `fork()` is about to run: hold an init's lock ([`lock_init_for_fork`],
/// first in the library's lock order), then the locks a child would need
/// (after the consent lock), so that no other thread holds them at that
/// moment (see [`fork`]).
fn lock_init_for_fork() {
    let guard = INITIALIZING.lock();
    let _ = HELD_INIT_FOR_FORK.try_with(|held| *held.borrow_mut() = Some(guard));
}

fn unlock_init_after_fork() {
    let _ = HELD_INIT_FOR_FORK.try_with(|held| held.borrow_mut().take());
}

fn lock_for_fork() {
    let session = SESSION.write().unwrap_or_else(PoisonError::into_inner);
    let limiter = limiter();
    let profile = PROFILE.write().unwrap_or_else(PoisonError::into_inner);
    let known = crate::redact::hold_known_for_fork();
    let _ = HELD_FOR_FORK.try_with(|held| *held.borrow_mut() = Some((session, limiter, profile, known)));
}

/// Frees them again, in the parent and in the child alike: std's locks keep
/// no queue of parked threads, so in the child (where the parent's other
/// threads do not exist) an unlock simply leaves them free.
fn unlock_after_fork() {
    let _ = HELD_FOR_FORK.try_with(|held| held.borrow_mut().take());
}

type ForkGuards = (
    RwLockWriteGuard<'static, Option<Arc<Session>>>,
    MutexGuard<'static, Option<StormLimiter<event::Fingerprint>>>,
    RwLockWriteGuard<'static, Option<Arc<HostProfile>>>,
    RwLockWriteGuard<'static, Option<Arc<crate::redact::Known>>>,
);

thread_local! {
    /// The guards of [`lock_for_fork`] while this thread forks.
    static HELD_FOR_FORK: RefCell<Option<ForkGuards>> = const { RefCell::new(None) };
    /// [`INITIALIZING`]'s guard while this thread forks.
    static HELD_INIT_FOR_FORK: RefCell<Option<crate::sync::MutexGuard<'static, ()>>> = const { RefCell::new(None) };
}
