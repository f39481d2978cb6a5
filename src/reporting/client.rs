//! The `sentry` client of one configuration and its transport into the
//! outbox: events are built, gated and scrubbed by the `sentry` crate's
//! pipeline, then written to disk; the network is the sender's job.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sentry::types::Dsn;
use sentry::{ClientOptions, Envelope, Transport};

use super::config::ReportingConfig;
use super::scrub::Scrubber;
use crate::outbox::Outbox;

/// `sentry_client` in the auth header, and the HTTP user agent.
pub const USER_AGENT: &str = concat!("libstatus/", env!("CARGO_PKG_VERSION"));

/// `consent` is the session's opt-in, which `before_send` reads through the gate.
pub fn build(
    config: &Arc<ReportingConfig>,
    dsn: Dsn,
    consent: Arc<AtomicBool>,
    scrubber: Scrubber,
    outbox: Arc<Outbox>,
) -> Arc<sentry::Client> {
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
    // The gate, for every event whatever built it, then scrubbing.
    options.before_send = Some(Arc::new(move |event| {
        super::gate(&gate_config, consent.load(Ordering::SeqCst)).ok()?;
        Some(scrubber.event(event))
    }));
    options.transport = Some(Arc::new(Arc::new(OutboxTransport { outbox })));
    Arc::new(sentry::Client::with_options(options))
}

thread_local! {
    /// The consent state ([`crate::consent::opt_outs`]) of the panic whose
    /// event this thread is capturing: the transport writes the event only if
    /// no opt-out happened since, checked under the outbox's lock, so that an
    /// opt-out's purge and this write cannot cross.
    static CAPTURING: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Captures a panic's event (synchronously: the transport writes it before
/// this returns) unless consent was withdrawn since `opt_outs` was read
/// (`None`: consent is not required).
pub fn capture(client: &sentry::Client, event: sentry::protocol::Event<'static>, opt_outs: Option<u64>) {
    let _ = CAPTURING.try_with(|c| c.set(opt_outs));
    client.capture_event(event, None);
    let _ = CAPTURING.try_with(|c| c.set(None));
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
        let bytes = match super::event::envelope_bytes(event) {
            Ok(bytes) => bytes,
            Err(e) => {
                log::warn!("cannot serialise a panic report: {e}");
                return;
            }
        };
        let expected = CAPTURING.try_with(Cell::get).ok().flatten();
        let still_consented = || expected.is_none_or(|n| n == crate::consent::opt_outs());
        if let Err(e) = self.outbox.store_if(&bytes, still_consented) {
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
