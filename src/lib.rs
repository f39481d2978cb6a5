//! # libstatus
//!
//! A library that apps embed through a C ABI. Every call answers JSON, no
//! panic ever crashes or freezes the host, and panics are reported to a
//! self-hosted Sentry only for users who opted in to metrics, only from
//! reported environments, and without anything that identifies the user. It
//! mirrors status-go's `InitializeApplication(json)` and its Sentry
//! integration.
//!
//! ## The ABI's rules
//! - Every export is one line in [`ffi`] that calls the one guard
//!   ([`guard`]): reading the argument, the endpoint and building the answer
//!   all run under `catch_unwind`.
//! - Answers are fresh `malloc`ed JSON strings the host frees with `Free`.
//!   Failures are `{"error":"<message>","code":"<code>"}` with `error` first;
//!   codes are [`api::ErrorCode`].
//! - No network I/O on the caller's thread: reports go to a durable outbox
//!   ([`reporting::outbox`]) and a library thread delivers them.
//!
//! ## Module map (data flows down the list)
//! - [`ffi`]: the exports. [`guard`]: the guard.
//! - [`api`]: the endpoints as plain Rust.
//! - [`reporting`]: the gate, events, scrubbing, outbox, storm control, the
//!   thread wrapper.
//! - [`consent`], [`logging`], [`panics`] (the hook), [`redact`].

pub mod api;
pub mod consent;
pub mod ffi;
pub mod guard;
#[cfg(feature = "jni")]
pub mod jni;
pub mod logging;
pub mod outbox;
pub mod panics;
pub mod redact;
pub mod reporting;
