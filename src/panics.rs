//! The panic hook: it records what only the panicking stack can tell (where,
//! and the backtrace) and hands over to the hook that was there before.
//!
//! Reporting does not happen here. The hook runs while the thread is panicking,
//! where a second panic aborts the process and a lock held further up the stack
//! would deadlock; so it only stores a [`PanicRecord`] in a thread-local, and the
//! code that catches the panic (the guard, or the thread wrapper) reports it once
//! the stack has unwound and every lock is released.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{self, PanicHookInfo};
use std::sync::Once;

thread_local! {
    /// Set by [`panic_intended`] for the hook: such events get their own
    /// exception type, so they are easy to tell from real bugs (status-go does
    /// the same). The payload stays a plain `String`, so every hook in the
    /// chain (Rust's default printer too) shows the message.
    static INTENDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Panics on purpose with `message`, marked as intended.
#[track_caller]
pub fn panic_intended(message: String) -> ! {
    let _ = INTENDED.try_with(|flag| flag.set(true));
    std::panic::panic_any(message)
}

/// Whether this thread's current panic came from [`panic_intended`]; clears the mark.
fn take_intended() -> bool {
    INTENDED.try_with(|flag| flag.replace(false)).unwrap_or(false)
}

/// Where a panic happened, as the compiler saw it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PanicLocation {
    pub file: String,
    pub line: u32,
    pub column: u32,
}

/// What the hook saw of one panic.
#[derive(Debug)]
pub struct PanicRecord {
    pub message: String,
    pub intended: bool,
    pub location: Option<PanicLocation>,
    /// Captured in the hook, resolved later (symbolication is the costly part,
    /// and a storm of suppressed panics never needs it).
    pub backtrace: Option<backtrace::Backtrace>,
}

thread_local! {
    static LAST_PANIC: RefCell<Option<PanicRecord>> = const { RefCell::new(None) };
}

/// Installs the hook once per process, in front of whatever hook was there:
/// the previous hook (the host's, Rust's default printer, another SDK's) still
/// runs for every panic.
pub fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            record(info);
            previous(info);
        }));
    });
}

fn record(info: &PanicHookInfo<'_>) {
    let record = PanicRecord {
        message: message_from_payload(info.payload()),
        intended: take_intended(),
        location: info.location().map(|l| PanicLocation {
            file: l.file().to_owned(),
            line: l.line(),
            column: l.column(),
        }),
        backtrace: Some(backtrace::Backtrace::new_unresolved()),
    };
    // `try_with`/`try_borrow_mut`: a panic during thread-local teardown or
    // while the slot is borrowed must not turn into a second panic (an abort).
    let _ = LAST_PANIC.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            *slot = Some(record);
        }
    });
}

/// The record of the panic this thread just caught, given its payload. When
/// the hook did not see it (another hook replaced ours without chaining), the
/// record is rebuilt from the payload alone, without location or backtrace.
pub fn take_record(payload: &(dyn Any + Send)) -> PanicRecord {
    let recorded =
        LAST_PANIC.try_with(|slot| slot.try_borrow_mut().ok().and_then(|mut s| s.take())).ok().flatten();
    let message = message_from_payload(payload);
    match recorded {
        Some(record) if record.message == message => record,
        _ => PanicRecord { message, intended: take_intended(), location: None, backtrace: None },
    }
}

/// The human message of a panic payload (`panic!` gives `&str` or `String`).
pub fn message_from_payload(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_records_location_and_backtrace_and_chains() {
        install_hook();
        let payload = panic::catch_unwind(|| panic!("boom {}", 42)).unwrap_err();
        let record = take_record(&*payload);
        assert_eq!(record.message, "boom 42");
        assert!(!record.intended);
        assert!(record.location.unwrap().file.ends_with("panics.rs"));
        assert!(record.backtrace.is_some());
        // Taken once: a second take falls back to the payload.
        assert!(take_record(&*payload).backtrace.is_none());
    }

    #[test]
    fn intended_panics_are_marked() {
        install_hook();
        let payload = panic::catch_unwind(|| panic_intended("on purpose".into())).unwrap_err();
        let record = take_record(&*payload);
        assert!(record.intended);
        assert_eq!(record.message, "on purpose");
    }

    #[test]
    fn non_string_payloads_have_a_message() {
        let payload: Box<dyn Any + Send> = Box::new(17_u8);
        assert_eq!(message_from_payload(&*payload), "panic with a non-string payload");
    }
}
