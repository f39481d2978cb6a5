//! Turning a caught panic into a Sentry event (before scrubbing, which
//! `before_send` does for every event).

use std::borrow::Cow;

use sentry::protocol::{Event, Exception, Frame, Level, Mechanism, Stacktrace, Value};

use super::config::ReportingConfig;
use super::Origin;
use crate::panics::PanicRecord;

/// The exception type of `IntendedPanic` events; real bugs have `panic`.
pub const INTENDED_PANIC_TYPE: &str = "IntendedPanic";
pub const PANIC_TYPE: &str = "panic";

/// Counts that ride on an event (see the limiter and the outbox bounds).
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub suppressed_here: u64,
    pub suppressed_elsewhere: u64,
    pub dropped_reports: u64,
}

pub fn panic_event(
    record: &PanicRecord,
    stacktrace: Option<Stacktrace>,
    origin: &Origin<'_>,
    config: &ReportingConfig,
    counts: Counts,
) -> Event<'static> {
    let mut event = Event { level: Level::Error, platform: Cow::Borrowed("native"), ..Default::default() };
    event.exception.values.push(Exception {
        ty: if record.intended { INTENDED_PANIC_TYPE } else { PANIC_TYPE }.to_owned(),
        value: Some(record.message.clone()),
        stacktrace,
        mechanism: Some(Mechanism {
            ty: "panic".to_owned(),
            // The guard or the thread wrapper caught it: the host lives on.
            handled: Some(true),
            description: Some(match origin {
                Origin::Api(_) => "caught by the libstatus API guard".to_owned(),
                Origin::Thread(_) => "caught by the libstatus thread wrapper".to_owned(),
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    if let Some(name) = &config.context_name {
        event.tags.insert("context.name".into(), name.clone());
    }
    if let Some(version) = &config.context_version {
        event.tags.insert("context.version".into(), version.clone());
    }
    match origin {
        Origin::Api(endpoint) => {
            event.tags.insert("endpoint".into(), (*endpoint).to_owned());
        }
        Origin::Thread(name) => {
            event.tags.insert("thread".into(), (*name).to_owned());
        }
    }
    event.tags.insert("panic.intended".into(), record.intended.to_string());
    if let Some(image) = own_image() {
        event.debug_meta.to_mut().images.push(sentry::protocol::DebugImage::Symbolic(image.clone()));
    }
    if let Some(location) = &record.location {
        let file = super::scrub::relative_source_path(&location.file);
        event.extra.insert(
            "panic.location".into(),
            Value::String(format!("{file}:{}:{}", location.line, location.column)),
        );
    }
    for (key, count) in [
        ("libstatus.suppressed_since_last", counts.suppressed_here),
        ("libstatus.suppressed_other_sites", counts.suppressed_elsewhere),
        ("libstatus.dropped_reports", counts.dropped_reports),
    ] {
        if count > 0 {
            event.extra.insert(key.into(), Value::from(count));
        }
    }
    event
}

/// The stack of a panic, resolved, with the panic machinery (std's, the hook's,
/// `unwrap`'s) cut off so that the top frame is the code that panicked.
///
/// Only this library's own frames are kept and symbolicated: the host's frames
/// (the JVM, Python, Qt...) say nothing about our bug, may name the host's
/// files, and resolving them would make the symbol cache (which holds a few
/// modules) drop and re-parse our debug info on every panic.
pub fn panic_stacktrace(record: &mut PanicRecord) -> Option<Stacktrace> {
    let backtrace = resolve_own_frames(&record.backtrace.take()?);
    let mut stacktrace = sentry::integrations::backtrace::backtrace_to_stacktrace(&backtrace)?;
    trim_panic_machinery(&mut stacktrace.frames);
    (!stacktrace.frames.is_empty()).then_some(stacktrace)
}

/// The debug image of the module this code is linked into (libstatus.so, or
/// the executable for status-backend), found once. Events carry this image
/// only: it is what a server needs to symbolicate our frames, and the host's
/// list of loaded libraries is none of its business.
fn own_image() -> Option<&'static sentry::protocol::SymbolicDebugImage> {
    static IMAGE: std::sync::OnceLock<Option<sentry::protocol::SymbolicDebugImage>> =
        std::sync::OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let marker =
                own_image as fn() -> Option<&'static sentry::protocol::SymbolicDebugImage> as usize as u64;
            sentry::integrations::debug_images::debug_images().into_iter().find_map(|image| match image {
                sentry::protocol::DebugImage::Symbolic(image) => {
                    let start = image.image_addr.0;
                    (start..start.saturating_add(image.image_size)).contains(&marker).then_some(image)
                }
                _ => None,
            })
        })
        .as_ref()
}

fn own_module_range() -> Option<std::ops::Range<u64>> {
    own_image().map(|image| image.image_addr.0..image.image_addr.0.saturating_add(image.image_size))
}

fn resolve_own_frames(backtrace: &backtrace::Backtrace) -> backtrace::Backtrace {
    let own = own_module_range();
    let frames: Vec<backtrace::BacktraceFrame> = backtrace
        .frames()
        .iter()
        .filter(|f| own.as_ref().is_none_or(|range| range.contains(&(f.ip() as u64))))
        .cloned()
        .collect();
    let mut backtrace = backtrace::Backtrace::from(frames);
    backtrace.resolve();
    backtrace
}

/// Parses this module's debug information ahead of the first panic (call it
/// on a library thread), so that the first panicking call does not pay for it.
pub fn warm_up_symbols() {
    resolve_own_frames(&backtrace::Backtrace::new_unresolved());
}

/// Frames are oldest first, so the panic machinery (the hook, std's panic
/// entry points, `unwrap`'s helpers) is a contiguous run at the end: drop that
/// run, leaving the code that panicked on top. `catch_unwind`'s own frames sit
/// below the endpoint and stay.
pub fn trim_panic_machinery(frames: &mut Vec<Frame>) {
    let keep = frames
        .iter()
        .rposition(|f| !f.function.as_deref().is_none_or(is_panic_machinery))
        .map_or(frames.len(), |idx| idx + 1);
    if keep < frames.len() {
        frames.truncate(keep);
    }
}

fn is_panic_machinery(function: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "std::panicking::",
        "core::panicking::",
        "std::panic::panic_any",
        "std::sys::backtrace::",
        "std::sys_common::backtrace::",
        "std::rt::",
        "rust_begin_unwind",
        "__rustc::",
        "core::result::unwrap_failed",
        "core::option::unwrap_failed",
        "core::option::expect_failed",
        "core::result::Result<T,E>::unwrap",
        "core::result::Result<T,E>::expect",
        "core::option::Option<T>::unwrap",
        "core::option::Option<T>::expect",
        "core::ops::function::",
        "<alloc::boxed::Box<F,A> as core::ops::function::Fn",
        "backtrace::",
        "status::panics::",
        "<unknown>",
    ];
    // The hook itself, called through a boxed `Fn(&PanicHookInfo)`.
    PREFIXES.iter().any(|p| function.starts_with(p)) || function.contains("PanicHookInfo")
}

/// Storm control groups panics by where they happened.
pub fn fingerprint(record: &PanicRecord) -> String {
    let kind = if record.intended { INTENDED_PANIC_TYPE } else { PANIC_TYPE };
    match &record.location {
        Some(l) => format!("{kind}@{}:{}:{}", l.file, l.line, l.column),
        None => format!("{kind}:{}", record.message),
    }
}

/// The stack as log text.
pub fn format_stacktrace(stacktrace: &Stacktrace) -> String {
    let mut out = String::new();
    for frame in stacktrace.frames.iter().rev() {
        let function = frame.function.as_deref().unwrap_or("<unknown>");
        let file = frame.abs_path.as_deref().or(frame.filename.as_deref()).unwrap_or("?");
        let line = frame.lineno.map(|l| l.to_string()).unwrap_or_default();
        out.push_str(&format!("    at {function} ({file}:{line})\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(f: &str) -> Frame {
        Frame { function: Some(f.into()), ..Default::default() }
    }

    #[test]
    fn trims_std_and_hook_frames_above_the_panicking_function() {
        let mut frames = vec![
            frame("main"),
            frame("status::guard::handle"),
            frame("status::api::intended_panic"),
            frame("std::panic::panic_any"),
            frame("std::panicking::begin_panic"),
            frame("std::panicking::rust_panic_with_hook"),
            frame("status::panics::install_hook::{{closure}}"),
            frame("backtrace::backtrace::trace"),
        ];
        trim_panic_machinery(&mut frames);
        assert_eq!(frames.last().unwrap().function.as_deref(), Some("status::api::intended_panic"));
        assert_eq!(frames.len(), 3);
    }

    #[test]
    fn keeps_stacks_without_machinery() {
        let mut frames = vec![frame("a"), frame("b")];
        trim_panic_machinery(&mut frames);
        assert_eq!(frames.len(), 2);
        // catch_unwind's frames below the endpoint are not the panic's.
        let mut frames = vec![
            frame("std::panicking::catch_unwind"),
            frame("status::api::call"),
            frame("core::panicking::panic_fmt"),
        ];
        trim_panic_machinery(&mut frames);
        assert_eq!(frames.len(), 2);
    }
}
