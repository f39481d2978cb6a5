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
//! ## Module map (data flows down the list; no room imports one above it)
//! - [`ffi`]: the exports, one line each. [`guard`]: the one guard.
//! - [`api`]: the endpoints as plain Rust, and the table of the endpoint set.
//! - [`reporting`]: the gate and its session state, `InitializeApplication`'s
//!   prepare/commit, the panic pipeline, the `sentry` client, the thread
//!   wrapper, scrubbing, storm control, fork handling.
//! - `outbox`: the durable outbox (store, sender, policy).
//! - `consent`: the one owner of the opt-in. `logging`: the log files.
//! - `fatal`: fatal errors (signals, aborts) written at the crash and sent
//!   at the next start.
//! - [`panics`]: the chained hook. `redact`: the one redactor. `files`:
//!   private files, atomic writes, no links followed. `sys`: the platform
//!   seams (Unix and Windows), the only `cfg(unix)`/`cfg(windows)` code.

#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
// Where TLS is the OS's (Android), clippy flags `thread_local!` statics whose
// initialisers are already `const` (rust-clippy#17566, a false positive).
#![cfg_attr(target_os = "android", allow(clippy::missing_const_for_thread_local))]

pub mod api;
pub(crate) mod consent;
pub(crate) mod endpoint;
pub(crate) mod fatal;
pub mod ffi;
pub(crate) mod files;
pub mod guard;
#[cfg(feature = "jni")]
pub mod jni;
pub(crate) mod logging;
pub(crate) mod outbox;
pub mod panics;
pub(crate) mod redact;
pub mod reporting;
pub(crate) mod sync;
pub(crate) mod sys;

/// The pure decision code (the delivery policy, storm control), for the fleet
/// simulation (`sim/`, feature `sim`). Not part of the library's API.
#[cfg(feature = "sim")]
#[doc(hidden)]
pub mod internals {
    pub use crate::outbox::policy;
    pub use crate::reporting::limiter;
}

/// For the fuzz targets in `fuzz/` only (feature `fuzzing`), not an API:
/// re-exports of the crate-private pieces they drive directly (the outbox,
/// its HTTP answer parser and server-response policy, the bounded file
/// reader). Re-exports only, no code of its own: keep it that tiny.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::files::{read_regular, Read};
    pub use crate::outbox::{parse_head, policy, Outbox, OutboxLimits, DIR_NAME, MAX_HEAD};
}
