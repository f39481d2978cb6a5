//! Parsing of the build-time variables. Shared, through `#[path]`, by `build.rs`
//! (which bakes the values into the binary) and by the library's unit tests, so
//! the rule exists once.

/// `SENTRY_PRODUCTION` counts when it is `true` or `1` after trimming whitespace
/// (a trailing newline once disabled production detection in status-go, #6149).
pub fn is_production_flag(value: &str) -> bool {
    matches!(value.trim(), "true" | "1")
}

/// A build-time string: trimmed, and absent when empty.
pub fn non_empty(value: &str) -> Option<&str> {
    let value = value.trim();
    (!value.is_empty()).then_some(value)
}
