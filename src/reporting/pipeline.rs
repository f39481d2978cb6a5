//! What happens to a panic the library caught, once the stack has unwound:
//! storm control, the gate, the event, the log line.

use std::any::Any;
use std::time::Instant;

use super::limiter::{Admission, StormLimiter};
use super::{event, fork, limiter, session, Session};
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

/// Called by the guard and the thread wrapper once a panic has been caught and
/// the stack unwound: logs it, applies storm control and, when the gate is
/// open, writes its event to the outbox. Returns the message for the host
/// (with sensitive values masked).
pub fn on_caught_panic(payload: &(dyn Any + Send), origin: Origin<'_>) -> String {
    fork::install_handlers(); // before the storm limiter's lock is first taken
    let mut record = panics::take_record(payload);
    // One snapshot of the session: its configuration, its consent and its
    // scrubber go together, whatever an init on another thread switches meanwhile.
    let session = session();
    // What the host gets back and the logs hold: scrubbed as the event will be.
    let answer = match &session {
        Some(session) => session.scrubber.text(&record.message),
        None => redact(&record.message),
    };
    if fork::in_forked_child() {
        return answer; // nothing of the parent's (logs, outbox) is ours to touch
    }
    let admission = limiter()
        .get_or_insert_with(StormLimiter::default)
        .admit(&event::fingerprint(&record), Instant::now());
    let Admission::Admit { suppressed_here, suppressed_elsewhere } = admission else {
        crate::outbox::count_dropped(crate::outbox::Cause::StormControl, 1);
        log::debug!("panic in {origin} (storm control: not reported): {answer}");
        return answer;
    };
    // Consent when the panic happened, not only now: a panic while opted
    // out whose handling an opt-in overtook is not reported, nor one whose
    // handling an opt-out overtook.
    let consent_held = |s: &Session| !s.config.consent_required || record.consent.still_opted_in();
    let reportable = session.as_ref().filter(|s| s.reporter.is_some() && s.gate().is_ok() && consent_held(s));
    // Symbolication is the costly part: only for an event or a log line.
    if reportable.is_none() && !log::log_enabled!(log::Level::Error) {
        return answer;
    }
    let stacktrace = event::panic_stacktrace(&mut record);
    event::log_panic(&origin, &answer, &record, stacktrace.as_ref());
    let Some(session) = reportable else {
        return answer;
    };
    let Some(reporter) = session.reporter.as_ref() else {
        return answer;
    };
    let counts = event::Counts {
        suppressed_here,
        suppressed_elsewhere,
        dropped_reports: session.outbox.as_ref().map_or(0, |outbox| outbox.make_room_and_take_dropped()),
    };
    let event = event::panic_event(&record, stacktrace, &origin, &session.config, counts);
    let opt_outs = session.config.consent_required.then_some(record.consent.opt_outs);
    reporter.capture(event, counts.carried(), opt_outs);
    answer
}

/// Prepares what the first report needs, on a library thread, once.
pub(super) fn warm_up() {
    static WARM_UP: std::sync::Once = std::sync::Once::new();
    WARM_UP.call_once(|| {
        let _ = super::spawn_thread("libstatus-symbols", event::warm_up_symbols);
    });
}
