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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::call;
    use crate::endpoint::{Arg, Endpoint};

    /// The test sets up the library's process-wide state, so it runs alone
    /// in its process: nextest gives each test one; under `cargo test` it
    /// runs itself again in a child process (and answers `false`).
    fn alone(name: &str) -> bool {
        if std::env::var_os("NEXTEST").is_some() || std::env::var_os("LIBSTATUS_ISOLATED").is_some() {
            return true;
        }
        let exe = std::env::current_exe().unwrap();
        let status = std::process::Command::new(exe)
            .args(["--exact", name, "--test-threads=1"])
            .env("LIBSTATUS_ISOLATED", "1")
            .status()
            .unwrap();
        assert!(status.success(), "{name} failed in its own process");
        false
    }

    fn reports(data_dir: &std::path::Path) -> usize {
        std::fs::read_dir(data_dir.join(crate::outbox::DIR_NAME))
            .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".envelope")).count())
            .unwrap_or(0)
    }

    /// A panic that happened while the user was opted out is not reported
    /// when an opt-in overtakes its handling (between the panic hook and the
    /// end of the unwinding, here held open by the test): the report would
    /// leave without the consent it needed when it happened. `capture` and
    /// the outbox's write check the consent of now and that no opt-out
    /// happened since, not this.
    #[test]
    fn a_panic_while_opted_out_is_not_reported_when_an_opt_in_overtakes_its_handling() {
        if !alone("reporting::pipeline::tests::a_panic_while_opted_out_is_not_reported_when_an_opt_in_overtakes_its_handling") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        std::env::set_var("SENTRY_ENVIRONMENT", "ci-main");
        // A closed port: a report written stays on disk.
        let dsn = "http://5ecre7f00dfacade5ecre7f00dfacade@127.0.0.1:9/42";
        let request = serde_json::json!({"dataDir": dir.path(), "sentryDSN": dsn}).to_string();
        call(Endpoint::InitializeApplication, Arg::Str(&request)).unwrap();
        let panic_now = |message: &'static str| panics::catch(|| std::panic::panic_any(message)).unwrap_err();

        let while_opted_out = panic_now("while opted out"); // the hook notes: opted out
        call(Endpoint::ToggleCentralizedMetrics, Arg::Str(r#"{"enabled":true}"#)).unwrap();
        assert_eq!(on_caught_panic(&*while_opted_out, Origin::Api("IntendedPanic")), "while opted out");
        assert_eq!(reports(dir.path()), 0, "reported although the user was opted out when it happened");

        // The same steps for a panic while opted in write its report.
        let while_opted_in = panic_now("while opted in");
        on_caught_panic(&*while_opted_in, Origin::Api("IntendedPanic"));
        assert_eq!(reports(dir.path()), 1);
    }
}
