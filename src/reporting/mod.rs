//! Everything Sentry: which panics leave the process, how, and when.
//!
//! - [`gate`] is the one place that decides whether an event may leave the
//!   process: a DSN is known, the environment is reported, and the user opted
//!   in. `before_send` asks it for every event, and the outbox's sender asks it
//!   again right before every request.
//! - [`on_caught_panic`] is what the guard and the thread wrapper call once a
//!   panic has been caught: log it, apply storm control, build the event.
//! - [`spawn_thread`] is the one wrapper every thread of the library goes through.
//!
//! One `sentry::Client` per configuration, held here, never bound to Sentry's
//! thread-local hubs: every thread, including host threads that existed before
//! `InitializeApplication`, reports through the same client, and a new
//! configuration applies to all of them at once.

pub mod build_env;
pub mod config;
mod event;
pub mod limiter;
pub mod outbox;
pub mod scrub;

use std::any::Any;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use sentry::types::Dsn;
use sentry::{ClientOptions, Envelope, Transport};
use serde::Serialize;

pub use self::config::{BuildConfig, HostProfile, ReportingConfig};
pub use self::event::{INTENDED_PANIC_TYPE, PANIC_TYPE};
use self::limiter::{Admission, StormLimiter};
use self::outbox::{OpenError, Outbox, OutboxLimits, Target};
use self::scrub::Scrubber;
use crate::api::ApiError;
use crate::panics;
use crate::redact::redact;

/// Where a caught panic happened.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// Inside an API call; the export's name.
    Api(&'static str),
    /// In a thread the library started; its name.
    Thread(&'a str),
}

impl std::fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Api(endpoint) => write!(f, "API call {endpoint}"),
            Origin::Thread(name) => write!(f, "library thread {name}"),
        }
    }
}

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
}

/// One configuration, from one `InitializeApplication`.
struct Session {
    config: Arc<ReportingConfig>,
    dsn: Option<Dsn>,
    outbox: Arc<Outbox>,
    client: Option<Arc<sentry::Client>>,
}

struct Reporting {
    session: RwLock<Option<Arc<Session>>>,
    consent: AtomicBool,
    limiter: Mutex<Option<StormLimiter>>,
    /// Serialises reconfiguration (not reporting).
    configuring: Mutex<()>,
}

static PROFILE: RwLock<Option<Arc<HostProfile>>> = RwLock::new(None);

/// Declares who embeds the library (status-backend does, at start-up); apps
/// never call it. Applies from the next `InitializeApplication` on.
pub fn set_host_profile(profile: HostProfile) {
    *PROFILE.write() = Some(Arc::new(profile));
}

/// The profile set by [`set_host_profile`], if any.
pub fn host_profile() -> Option<Arc<HostProfile>> {
    PROFILE.read().clone()
}

static REPORTING: Reporting = Reporting {
    session: RwLock::new(None),
    consent: AtomicBool::new(false),
    limiter: Mutex::new(None),
    configuring: Mutex::new(()),
};

/// The one decision: may an event leave the process under this configuration
/// and consent? `Err` says why not, in plain words.
pub fn gate(config: &ReportingConfig, consent: bool) -> Result<(), String> {
    if let Some(blocker) = config.blocker() {
        return Err(blocker);
    }
    if config.consent_required && !consent {
        return Err("the user has not opted in to metrics (ToggleCentralizedMetrics)".into());
    }
    Ok(())
}

/// Applies a new configuration (every `InitializeApplication`). Opens the
/// outbox under `data_dir` (reusing it when the folder did not change), purges
/// it when the user has not opted in, and starts its sender.
pub fn configure(
    config: ReportingConfig,
    data_dir: &Path,
    consent: bool,
    storm_window: Duration,
) -> Result<PanicReportingStatus, ApiError> {
    let _configuring = REPORTING.configuring.lock();
    panics::install_hook();
    {
        let mut limiter = REPORTING.limiter.lock();
        if limiter.as_ref().is_none_or(|l| l.window() != storm_window) {
            *limiter = Some(StormLimiter::new(limiter::EVENTS_PER_WINDOW, storm_window, limiter::MAX_SITES));
        }
    }
    REPORTING.consent.store(consent, Ordering::SeqCst);
    let previous = REPORTING.session.read().clone();
    let dir = data_dir.join(outbox::DIR_NAME);
    let (outbox, new_outbox) = match previous.as_ref().filter(|s| s.outbox.dir() == dir) {
        Some(session) => (session.outbox.clone(), false),
        None => {
            let outbox = Outbox::open(data_dir, OutboxLimits::default()).map_err(|e| match e {
                OpenError::Locked(_) => ApiError::invalid_request(e.to_string()),
                OpenError::Io(_) => ApiError::internal(e.to_string()),
            })?;
            (Arc::new(outbox), true)
        }
    };
    if config.consent_required && !consent {
        let purged = outbox.purge();
        if purged > 0 {
            log::info!("deleted {purged} pending panic reports: the user has not opted in");
        }
    }
    let config = Arc::new(config);
    let dsn = config.dsn.as_deref().and_then(|d| d.parse::<Dsn>().ok());
    let client = dsn.as_ref().map(|dsn| build_client(&config, dsn.clone(), outbox.clone()));
    let session = Arc::new(Session { config, dsn, outbox: outbox.clone(), client });
    *REPORTING.session.write() = Some(session);
    if let Some(previous) = previous.filter(|_| new_outbox) {
        previous.outbox.close();
    }
    static WARM_UP: std::sync::Once = std::sync::Once::new();
    WARM_UP.call_once(|| {
        let _ = spawn_thread("libstatus-symbols", event::warm_up_symbols);
    });
    if new_outbox {
        let sender = outbox.clone();
        spawn_thread("libstatus-outbox", move || sender.run_sender(&current_target))
            .map_err(|e| ApiError::internal(format!("cannot start the panic-report sender: {e}")))?;
    }
    outbox.wake();
    Ok(status())
}

/// The user's opt-in changed. Opting out deletes every pending report before
/// this returns; opting in lets the sender deliver what is waiting.
pub fn set_consent(enabled: bool) {
    REPORTING.consent.store(enabled, Ordering::SeqCst);
    if let Some(session) = REPORTING.session.read().clone() {
        if enabled {
            session.outbox.wake();
        } else {
            let purged = session.outbox.purge();
            log::info!("panic reporting turned off by the user; deleted {purged} pending reports");
        }
    }
}

/// What `InitializeApplication` reports about panic reporting.
pub fn status() -> PanicReportingStatus {
    let build = BuildConfig::current();
    let session = REPORTING.session.read().clone();
    let consent = REPORTING.consent.load(Ordering::SeqCst);
    match session {
        Some(session) => {
            let verdict = gate(&session.config, consent);
            PanicReportingStatus {
                active: verdict.is_ok(),
                reason: verdict.err().unwrap_or_default(),
                environment: session.config.environment.clone(),
                context_name: session.config.context_name.clone().unwrap_or_default(),
                context_version: session.config.context_version.clone().unwrap_or_default(),
            }
        }
        None => PanicReportingStatus {
            active: false,
            reason: "InitializeApplication has not been called".into(),
            environment: String::new(),
            context_name: build.context_name.unwrap_or_default().to_owned(),
            context_version: build.context_version.unwrap_or_default().to_owned(),
        },
    }
}

/// Waits up to `timeout` for queued reports to be delivered; answers how many
/// are still pending.
pub fn flush(timeout: Duration) -> usize {
    match REPORTING.session.read().clone() {
        Some(session) => session.outbox.flush(timeout),
        None => 0,
    }
}

/// Called by the guard and the thread wrapper once a panic has been caught and
/// the stack unwound: logs it, applies storm control and, when the gate is
/// open, writes its event to the outbox. Returns the message for the host
/// (with sensitive values masked).
pub fn on_caught_panic(payload: &(dyn Any + Send), origin: Origin<'_>) -> String {
    let mut record = panics::take_record(payload);
    let answer = redact(&record.message);
    let admission = REPORTING
        .limiter
        .lock()
        .get_or_insert_with(StormLimiter::default)
        .admit(&event::fingerprint(&record), Instant::now());
    let Admission::Admit { suppressed_here, suppressed_elsewhere } = admission else {
        log::debug!("panic in {origin} (storm control: not reported): {answer}");
        return answer;
    };
    let session = REPORTING.session.read().clone();
    let reportable = session
        .as_ref()
        .filter(|s| s.client.is_some() && gate(&s.config, REPORTING.consent.load(Ordering::SeqCst)).is_ok());
    // Symbolication is the costly part: only for an event or a log line.
    if reportable.is_none() && !log::log_enabled!(log::Level::Error) {
        return answer;
    }
    let stacktrace = event::panic_stacktrace(&mut record);
    event::log_panic(&origin, &answer, &record, stacktrace.as_ref());
    let Some(session) = reportable else {
        return answer;
    };
    let Some(client) = session.client.as_ref() else {
        return answer;
    };
    let counts = event::Counts {
        suppressed_here,
        suppressed_elsewhere,
        dropped_reports: session.outbox.take_dropped(),
    };
    let event = event::panic_event(&record, stacktrace, &origin, &session.config, counts);
    client.capture_event(event, None);
    answer
}

/// The one way the library starts a thread: a panic in `f` is logged and
/// reported, then the thread ends as Rust threads do (its `JoinHandle` yields
/// the panic).
pub fn spawn_thread<F, T>(name: &str, f: F) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    panics::install_hook();
    let thread_name = name.to_owned();
    #[allow(clippy::disallowed_methods)] // this is the wrapper that clippy.toml points to
    std::thread::Builder::new().name(name.to_owned()).spawn(move || {
        match panics::catch(AssertUnwindSafe(f)) {
            Ok(value) => value,
            Err(payload) => {
                on_caught_panic(&*payload, Origin::Thread(&thread_name));
                panic::resume_unwind(payload)
            }
        }
    })
}

/// The sender's view of the gate: the live DSN's endpoint, or `None`.
fn current_target() -> Option<Target> {
    let session = REPORTING.session.read().clone()?;
    gate(&session.config, REPORTING.consent.load(Ordering::SeqCst)).ok()?;
    let dsn = session.dsn.as_ref()?;
    Some(Target {
        url: dsn.envelope_api_url().to_string(),
        auth: dsn.to_auth(Some(concat!("libstatus/", env!("CARGO_PKG_VERSION")))).to_string(),
    })
}

fn build_client(config: &Arc<ReportingConfig>, dsn: Dsn, outbox: Arc<Outbox>) -> Arc<sentry::Client> {
    let scrubber = Scrubber::new(config.dsn.as_deref());
    let gate_config = config.clone();
    let mut options = ClientOptions::default();
    options.dsn = Some(dsn);
    options.release = Some(config.release.clone().into());
    options.environment = (!config.environment.is_empty()).then(|| config.environment.clone().into());
    // No `contexts` (host name, OS user), no panic integration (ours does not
    // block), no default integrations at all: only what the events need.
    options.default_integrations = false;
    // (The event carries our own debug image only: see event.rs.)
    // No stack processing either: frames are addresses the server
    // symbolicates (see event.rs).
    options.send_default_pii = false;
    options.server_name = None;
    options.max_breadcrumbs = 0;
    options.before_send = Some(Arc::new(move |event| {
        gate(&gate_config, REPORTING.consent.load(Ordering::SeqCst)).ok()?;
        Some(scrubber.event(event))
    }));
    options.transport = Some(Arc::new(Arc::new(OutboxTransport { outbox })));
    Arc::new(sentry::Client::with_options(options))
}

/// The `sentry` transport that writes to the outbox instead of the network:
/// `send_envelope` returns once the event is on disk.
struct OutboxTransport {
    outbox: Arc<Outbox>,
}

impl Transport for OutboxTransport {
    fn send_envelope(&self, envelope: Envelope) {
        // Keep the event only: a fresh envelope has no `dsn` header, no trace
        // header carrying the public key, and none of the SDK's client reports.
        let Some(event) = envelope.event().cloned() else { return };
        let bytes = match event::envelope_bytes(event) {
            Ok(bytes) => bytes,
            Err(e) => {
                log::warn!("cannot serialise a panic report: {e}");
                return;
            }
        };
        if let Err(e) = self.outbox.store(&bytes) {
            log::warn!("cannot write a panic report to the outbox: {e}");
        }
    }

    fn flush(&self, timeout: Duration) -> bool {
        self.outbox.flush(timeout) == 0
    }

    fn shutdown(&self, _timeout: Duration) -> bool {
        // The outbox outlives any one client: dropping an old client after a
        // reconfiguration must not block, and pending files stay on disk.
        true
    }
}
