//! The reporter of one configuration: what a `sentry` client would do to a
//! panic's event (its release, environment and SDK, the gate, scrubbing),
//! then the envelope written to the outbox; the network is the sender's job.
//!
//! Not `sentry::Client`: its scope, integrations, sampling, envelope and
//! transport layers did nothing for these events but cost a panicking thread
//! about 70,000 instructions (an event deep-copied out of its envelope and
//! serialised twice), and its `Transport` trait could not carry the consent
//! state the write is checked against.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use sentry::protocol::{ClientSdkInfo, Event};

use super::config::ReportingConfig;
use super::scrub::Scrubber;
use crate::outbox::Outbox;

/// `sentry_client` in the auth header, and the HTTP user agent.
pub const USER_AGENT: &str = concat!("libstatus/", env!("CARGO_PKG_VERSION"));

/// The `sdk` of every event: this library, no integrations, no packages.
static SDK: LazyLock<ClientSdkInfo> = LazyLock::new(|| ClientSdkInfo {
    name: "libstatus".into(),
    version: env!("CARGO_PKG_VERSION").into(),
    integrations: Vec::new(),
    packages: Vec::new(),
});

pub struct Reporter {
    config: Arc<ReportingConfig>,
    /// The session's opt-in, which the gate reads.
    consent: Arc<AtomicBool>,
    scrubber: Scrubber,
    outbox: Arc<Outbox>,
}

impl Reporter {
    pub fn new(
        config: &Arc<ReportingConfig>,
        consent: Arc<AtomicBool>,
        scrubber: Scrubber,
        outbox: Arc<Outbox>,
    ) -> Self {
        Self { config: config.clone(), consent, scrubber, outbox }
    }

    /// Writes a panic's event to the outbox (it is on disk when this
    /// returns) if the gate is open, and unless consent was withdrawn since
    /// `opt_outs` was read ([`crate::consent::opt_outs`]; `None`: consent is
    /// not required). That last check is made under the outbox's lock, the
    /// one an opt-out's purge takes, so that the two cannot cross.
    /// `carried`: the panics the event counts for others (its
    /// [`super::event::Counts`]), which its eviction would pass on.
    pub fn capture(&self, mut event: Event<'static>, carried: u64, opt_outs: Option<u64>) {
        if super::gate(&self.config, self.consent.load(Ordering::SeqCst)).is_err() {
            return;
        }
        event.sdk = Some(Cow::Borrowed(&*SDK));
        event.release = Some(self.config.release.clone().into());
        let environment = &self.config.environment;
        event.environment = (!environment.is_empty()).then(|| environment.clone().into());
        // No server name, no contexts of the host, no user: scrubbing makes
        // sure of it for whatever the event holds.
        let event = self.scrubber.event(event);
        let bytes = match super::event::envelope_bytes(event) {
            Ok(bytes) => bytes,
            Err(e) => {
                log::warn!("cannot serialise a panic report: {e}");
                return;
            }
        };
        let still_consented = || opt_outs.is_none_or(|n| n == crate::consent::opt_outs());
        if let Err(e) = self.outbox.store_if(&bytes, carried, still_consented) {
            log::warn!("cannot write a panic report to the outbox: {e}");
        }
    }
}
