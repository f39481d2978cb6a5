//! The C ABI: one line per export, each a call into the guard. Written by hand
//! (not by a macro) so that cbindgen sees every signature; the comments here
//! become the header's documentation.
//!
//! Built with `LIBSTATUS_PREFIXED=1` (build.rs sets the cfg
//! `libstatus_prefixed`), every export is named `libstatus_<Name>` instead, so
//! the library can be loaded beside status-go's own `libstatus.so`; the
//! `export_name` then takes precedence over `no_mangle`, which cbindgen reads.
#![cfg_attr(libstatus_prefixed, allow(unused_attributes))]

use std::ffi::{c_char, c_int, c_void};

use crate::api::Endpoint;
use crate::guard::{self, CArg};

/// Sets the library up for a data directory; call it first (again after
/// logout is fine: the latest settings apply everywhere).
///
/// Request: a JSON object. `dataDir` (string, required: created if missing;
/// holds the opt-in file and the panic-report outbox), `sentryDSN` (string,
/// an http(s) DSN whose host is ASCII: an internationalised domain name in
/// its `xn--` form; wins over a DSN baked in at build time), `logDir` (string, empty means
/// dataDir), `logEnabled` (bool: `status.log` in logDir), `logLevel` (`error`,
/// `warn`, `info`, `debug` or `trace`, case-insensitive; default `info`),
/// `logToStderr` (bool), `apiLoggingEnabled` (bool: one redacted line per call
/// in `api.log`), `panicStormWindowMs` (100 to 3600000, default 60000: each
/// panic site sends at most 5 events per window; for tests),
/// `reportFatalErrors` (bool, default false: fatal signals and aborts inside
/// the library leave a report sent at the next start, for users who opted
/// in; see the README's "Fatal errors"). Unknown keys are
/// ignored. `SENTRY_ENVIRONMENT` is read from the process environment here.
///
/// Answer: `{"centralizedMetricsInfo":{"enabled":b,"userConfirmed":b},
/// "panicReporting":{"active":b,"reason":"...","environment":"...",
/// "contextName":"...","contextVersion":"...","fatalErrors":b}}`; `reason`
/// says why reporting is off and is empty when it is active; `fatalErrors`
/// whether fatal errors are reported.
///
/// Errors: `invalid-request` (bad JSON, no dataDir, bad logLevel, dataDir in
/// use by another process), `internal` (dataDir or logDir cannot be created),
/// `panic`. The caller frees the answer with `Free`.
#[no_mangle]
#[cfg_attr(libstatus_prefixed, export_name = "libstatus_InitializeApplication")]
pub extern "C" fn InitializeApplication(request_json: *const c_char) -> *mut c_char {
    guard::ffi_call(Endpoint::InitializeApplication, CArg::Str(request_json))
}

/// Stores the user's metrics opt-in durably and applies it at once, to every
/// thread. Opting out deletes every panic report not yet sent before it
/// answers.
///
/// Request: `{"enabled": bool}`. Answer: `{"error":""}`.
/// Errors: `invalid-request`, `not-initialized`, `internal` (the opt-in could
/// not be written; an opt-out still took effect in memory), `panic`.
/// The caller frees the answer with `Free`.
#[no_mangle]
#[cfg_attr(libstatus_prefixed, export_name = "libstatus_ToggleCentralizedMetrics")]
pub extern "C" fn ToggleCentralizedMetrics(request_json: *const c_char) -> *mut c_char {
    guard::ffi_call(Endpoint::ToggleCentralizedMetrics, CArg::Str(request_json))
}

/// The stored opt-in: `{"enabled":b,"userConfirmed":b}`, both false when the
/// user was never asked.
///
/// Errors: `not-initialized`, `panic`. The caller frees the answer with `Free`.
#[no_mangle]
#[cfg_attr(libstatus_prefixed, export_name = "libstatus_CentralizedMetricsInfo")]
pub extern "C" fn CentralizedMetricsInfo() -> *mut c_char {
    guard::ffi_call(Endpoint::CentralizedMetricsInfo, CArg::None)
}

/// Panics on purpose inside the library with `message` (plain UTF-8 text, not
/// JSON), to check that panics are caught and reported ("force crash").
///
/// Answer: always `{"error":"<message>","code":"panic"}` (sensitive JSON values
/// in the message masked); when reporting is active an `IntendedPanic` event
/// is queued. Works before `InitializeApplication` (reporting nothing).
/// Errors: `invalid-request` (NULL). The caller frees the answer with `Free`.
#[no_mangle]
#[cfg_attr(libstatus_prefixed, export_name = "libstatus_IntendedPanic")]
pub extern "C" fn IntendedPanic(message: *const c_char) -> *mut c_char {
    guard::ffi_call(Endpoint::IntendedPanic, CArg::Str(message))
}

/// Starts a library thread that panics with `message` (plain text), and waits
/// for it to end: checks that panics in the library's own threads are
/// reported. Answer: `{"error":""}` once the thread ended and its report (if
/// reporting is active) is queued.
///
/// Errors: `invalid-request` (NULL), `internal`. The caller frees the answer
/// with `Free`.
#[no_mangle]
#[cfg_attr(libstatus_prefixed, export_name = "libstatus_IntendedBackgroundPanic")]
pub extern "C" fn IntendedBackgroundPanic(message: *const c_char) -> *mut c_char {
    guard::ffi_call(Endpoint::IntendedBackgroundPanic, CArg::Str(message))
}

/// Waits at most `timeout_ms` milliseconds (0 to 60000) for queued panic
/// reports to be delivered. Call it when the app quits or goes to the
/// background: reports left pending stay on disk and are sent after the next
/// `InitializeApplication`. Do not call it on a UI thread with a long timeout.
///
/// Answer: `{"error":"","pending":N}`, N reports not yet delivered (0 before
/// `InitializeApplication`). Errors: `invalid-request` (timeout out of range),
/// `panic`. The caller frees the answer with `Free`.
#[no_mangle]
#[cfg_attr(libstatus_prefixed, export_name = "libstatus_FlushPanicReports")]
pub extern "C" fn FlushPanicReports(timeout_ms: c_int) -> *mut c_char {
    guard::ffi_call(Endpoint::FlushPanicReports, CArg::Int(timeout_ms))
}

/// What the user can see of the panic reports: every pending report with
/// the exact body the sender will post, the last delivered ones, and the
/// counts of what was removed before it could leave. Works while the user is
/// opted out and without a DSN.
///
/// Request: `{"after": "<id>", "limit": N}`, both optional: the pending
/// reports after that id (the previous answer's `next`), at most `limit`
/// (1 to 100, default 100); a page also ends before its bodies pass 1 MiB.
///
/// Answer: `{"error":"","pending":[{"id","eventId","happenedAtMs","endpoint",
/// "thread","site","carries":{"sameSite","otherSites","droppedReports"},
/// "attempts","inFlight","bytes","body"}],"pendingTotal":N,"next":id|null,
/// "sent":[{"id","eventId","happenedAtMs","acceptedAtMs"}],"dropped":
/// {"stormControl","outboxBound","optOut","deletedByUser","sinceMs"}}`.
/// `body` is byte for byte the HTTP request body the sender posts.
///
/// Errors: `invalid-request`, `not-initialized`, `panic`. The caller frees
/// the answer with `Free`.
#[no_mangle]
#[cfg_attr(libstatus_prefixed, export_name = "libstatus_PanicReports")]
pub extern "C" fn PanicReports(request_json: *const c_char) -> *mut c_char {
    guard::ffi_call(Endpoint::PanicReports, CArg::Str(request_json))
}

/// Deletes pending panic reports, durably, before it answers: none of them
/// is sent after that, even one being sent at that moment (the same
/// guarantee as an opt-out).
///
/// Request: `{"ids": ["<id>", ...]}` (ids from `PanicReports`) or
/// `{"all": true}` (every pending report, and the history of delivered
/// ones). Answer: `{"error":"","deleted":N,"notPending":M}` (`M` ids asked
/// for were no longer pending: delivered, evicted or unknown).
///
/// Errors: `invalid-request` (neither or both of `ids` and `all`),
/// `not-initialized`, `panic`. The caller frees the answer with `Free`.
#[no_mangle]
#[cfg_attr(libstatus_prefixed, export_name = "libstatus_DeletePanicReports")]
pub extern "C" fn DeletePanicReports(request_json: *const c_char) -> *mut c_char {
    guard::ffi_call(Endpoint::DeletePanicReports, CArg::Str(request_json))
}

/// Frees a string this library returned. NULL is fine. Each answer must be
/// freed exactly once, and only with this function.
///
/// # Safety
/// `param` is NULL or an answer of this library that was not freed before.
#[no_mangle]
#[cfg_attr(libstatus_prefixed, export_name = "libstatus_Free")]
pub unsafe extern "C" fn Free(param: *mut c_void) {
    // SAFETY: the header's contract: `param` is NULL or an answer of this
    // library that the host has not freed yet.
    unsafe { guard::free(param) }
}

/// Test builds only (feature `test-panics`, never in a shipped library):
/// panics as `kind` (0 `panic!` with format arguments, 1 `unwrap()` on
/// `None`, 2 `expect()` on `Err`, 3 an index out of bounds, 4 `panic_any`
/// with a non-string payload) at a site of its own, inside the
/// `IntendedPanic` endpoint, through the guard. Answers as `IntendedPanic`.
/// Kinds 100 to 104 end the process (a stack overflow, a panic in a `Drop`
/// during unwinding, a read through a bad pointer, `abort`, an allocation
/// failure): the fatal-error tests (tests/fatal.rs) run them in a child.
///
/// cbindgen:ignore
#[cfg(feature = "test-panics")]
#[no_mangle]
pub extern "C" fn TestPanic(kind: c_int, message: *const c_char) -> *mut c_char {
    crate::panics::test_kinds::arm(kind);
    let answer = guard::ffi_call(Endpoint::IntendedPanic, CArg::Str(message));
    crate::panics::test_kinds::disarm();
    answer
}

/// The host's transport (InitializeApplication with `"transport":"host"`):
/// the next panic report the host may send with its own network stack.
/// Request: `{"leaseMs":N,"waitMs":N}`, both optional: the report is the
/// host's for `leaseMs` (100 to 600000, default 60000), after which it is due
/// again; `waitMs` (0 to 60000, default 0) waits that long for one to become
/// due (from the host's sender thread only, never a UI thread).
///
/// Answer: `{"error":"","id":"<id>","url":"<envelope endpoint>",
/// "headers":{"Content-Type":..,"User-Agent":..,"X-Sentry-Auth":..},
/// "body":"<the envelope, as text>","leaseMs":N}`: POST `body` to `url` with
/// those headers, then call `PanicReportOutcome`. Or, when nothing may be sent
/// now (nothing pending, not opted in, our backoff, the send budget, the
/// server's wait, a report already leased): `{"error":"","none":true,
/// "retryInMs":N,"pending":N}`. Errors: `invalid-request` (the library's own
/// transport is in use, values out of range), `not-initialized`, `panic`. The
/// caller frees the answer with `Free`.
#[no_mangle]
#[cfg_attr(libstatus_prefixed, export_name = "libstatus_NextPanicReport")]
pub extern "C" fn NextPanicReport(request_json: *const c_char) -> *mut c_char {
    guard::ffi_call(Endpoint::NextPanicReport, CArg::Str(request_json))
}

/// What the server answered to a report `NextPanicReport` handed out:
/// `{"id":"<id>","status":N,"retryAfter":"<Retry-After>","rateLimits":
/// "<X-Sentry-Rate-Limits>"}` (the headers' values as received, absent when
/// absent), or `{"id":"<id>","networkError":"<what failed>"}` when no answer
/// came (a cancelled request included).
///
/// Answer: `{"error":"","accepted":true,"verdict":"delivered"|"rejected"|
/// "retry"}` (a delivered or rejected report is deleted; a retry waits as the
/// server or the library's backoff says), or `{"error":"","accepted":false,
/// "reason":".."}` when the report is no longer the host's: an opt-out
/// deleted it while the host held it (never counted as sent), or its lease
/// expired and it was handed out again. Errors: `invalid-request`,
/// `not-initialized`, `panic`. The caller frees the answer with `Free`.
#[no_mangle]
#[cfg_attr(libstatus_prefixed, export_name = "libstatus_PanicReportOutcome")]
pub extern "C" fn PanicReportOutcome(request_json: *const c_char) -> *mut c_char {
    guard::ffi_call(Endpoint::PanicReportOutcome, CArg::Str(request_json))
}
