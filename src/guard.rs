//! The one guard every call goes through, whatever the host: the C ABI
//! ([`ffi_call`]), the JNI glue and status-backend ([`run`]).
//!
//! Everything fallible happens inside `catch_unwind`: reading the argument
//! (NULL, invalid UTF-8, size), parsing, the endpoint, reporting a caught panic,
//! building the answer. A panic becomes `{"error":"<message>","code":"panic"}`;
//! a panic while handling a panic is caught by a second guard, and nothing ever
//! unwinds into the host. Only this module and `ffi.rs` touch raw pointers.

use std::any::Any;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use crate::api::{self, ApiError, Arg, Endpoint, ErrorCode};
use crate::logging;
use crate::panics;
use crate::reporting::{self, Origin};

/// The largest string argument accepted (1 MiB); longer is `invalid-request`.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// The answer for `error`: an object whose first key is `error`.
pub fn error_json(error: &ApiError) -> String {
    let message = if error.message.is_empty() { "unknown error" } else { error.message.as_str() };
    format!(
        r#"{{"error":{},"code":"{}"}}"#,
        serde_json::Value::String(message.to_owned()),
        error.code.as_str()
    )
}

/// What a call answers: the JSON for the host, and the error code when it
/// is an error (hosts other than C, like status-backend, branch on it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub json: api::Reply,
    pub code: Option<ErrorCode>,
}

impl Answer {
    /// 200 for a success, else the code's status.
    pub fn http_status(&self) -> u16 {
        self.code.map_or(200, ErrorCode::http_status)
    }
}

/// Runs one call of `endpoint`, reading its argument with `read` inside the
/// guard. Never panics; always answers a JSON object.
///
/// `AssertUnwindSafe` is sound here: after a panic, nothing the closures
/// borrowed is looked at again except the payload, and the library's shared
/// state is behind locks that no panic can leave half-updated (every critical
/// section either completes or does not write, and the locks' poisoning is
/// ignored for that reason: see `crate::sync`).
#[inline(always)] // per export: the shipped build optimises for size
pub fn run<'a>(endpoint: Endpoint, read: impl FnOnce() -> Result<Arg<'a>, ApiError>) -> Answer {
    match panics::catch_call(endpoint.tag(), AssertUnwindSafe(|| run_guarded(endpoint, read))) {
        Ok(answer) => answer,
        Err(payload) => last_resort_answer(payload),
    }
}

#[inline(always)]
fn run_guarded<'a>(endpoint: Endpoint, read: impl FnOnce() -> Result<Arg<'a>, ApiError>) -> Answer {
    panics::install_hook();
    // The clock only when the call is logged: the hot path reads no clock.
    let started = logging::api_logging_enabled().then(Instant::now);
    let mut request_for_log = None;
    // Inside `run`'s catch: the nested form skips the thread-local count.
    let outcome = panics::catch_nested(AssertUnwindSafe(|| {
        let arg = read()?;
        if let Arg::Str(text) = arg {
            check_size(text.len())?;
        }
        if logging::api_logging_enabled() {
            request_for_log = arg.as_text();
        }
        api::call(endpoint, arg)
    }));
    let result = outcome.unwrap_or_else(|payload| {
        let message = reporting::on_caught_panic(&*payload, Origin::Api(endpoint.name()));
        drop_payload(payload);
        Err(ApiError::panic(if message.is_empty() { "panic without a message".into() } else { message }))
    });
    let answer = match result {
        Ok(json) => Answer { json, code: None },
        Err(error) => {
            log::debug!("{} answered an error: {error}", endpoint.name());
            Answer { json: error_json(&error).into(), code: Some(error.code) }
        }
    };
    if let Some(started) = started {
        let logged = api::loggable_answer(endpoint, &answer.json);
        logging::api_call(endpoint.name(), started.elapsed(), request_for_log.as_deref(), logged);
    }
    answer
}

/// Every host's string argument is held to [`MAX_REQUEST_BYTES`].
fn check_size(len: usize) -> Result<(), ApiError> {
    if len > MAX_REQUEST_BYTES {
        return Err(too_large(Some(len)));
    }
    Ok(())
}

/// The error for a request over [`MAX_REQUEST_BYTES`] (`None`: its size is
/// not known, only that it is over).
pub fn too_large(len: Option<usize>) -> ApiError {
    ApiError::invalid_request(match len {
        Some(len) => format!("request is {len} bytes; the limit is {MAX_REQUEST_BYTES}"),
        None => format!("request is over the limit of {MAX_REQUEST_BYTES} bytes"),
    })
}

/// A panic escaped the handling of a call (a bug in the guard's own path, or
/// in reporting): answer it without reporting, under a second guard, since
/// formatting or dropping the payload may panic too.
fn last_resort_answer(payload: Box<dyn Any + Send>) -> Answer {
    let message = guarded_message(&*payload);
    drop_payload(payload);
    let error = ApiError::panic(format!("panic while handling the call: {message}"));
    Answer { json: error_json(&error).into(), code: Some(error.code) }
}

/// A payload's message, under a guard of its own: formatting it may panic too.
fn guarded_message(payload: &(dyn Any + Send)) -> String {
    panics::catch(AssertUnwindSafe(|| panics::message_from_payload(payload)))
        .unwrap_or_else(|_| "panic while handling a panic".to_owned())
}

/// Drops a panic payload without letting a panicking `Drop` escape.
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = panics::catch(AssertUnwindSafe(move || drop(payload))) {
        // Dropping this one could panic again: leak it instead.
        std::mem::forget(again);
    }
}

/// For panics caught outside [`run`] (the JNI glue's last step, a binary's
/// `main`): reports it as the guard would, under a guard of its own, and
/// returns the message. Never panics.
pub fn report_caught_panic(payload: Box<dyn Any + Send>, origin: Origin<'_>) -> String {
    let message = panics::catch(AssertUnwindSafe(|| reporting::on_caught_panic(&*payload, origin)))
        .unwrap_or_else(|_| guarded_message(&*payload));
    drop_payload(payload);
    message
}

/// An argument as the C ABI passes it.
#[derive(Debug, Clone, Copy)]
pub enum CArg {
    None,
    Str(*const c_char),
    Int(c_int),
}

/// The C ABI's entry: reads the argument, runs the call, and returns the
/// answer as a `malloc`ed C string for the host to release with [`free`].
#[inline(always)]
pub fn ffi_call(endpoint: Endpoint, arg: CArg) -> *mut c_char {
    let answer = run(endpoint, || read_c_arg(arg));
    to_c_string(&answer.json)
}

/// A host's string argument as text: at most [`MAX_REQUEST_BYTES`] (checked
/// before the UTF-8 check, which would read all of an oversize request), then
/// valid UTF-8. Every host's bytes go through this one check.
pub fn text_arg(bytes: &[u8]) -> Result<&str, ApiError> {
    check_size(bytes.len())?;
    std::str::from_utf8(bytes)
        .map_err(|e| ApiError::invalid_request(format!("request is not valid UTF-8: {e}")))
}

#[inline(always)]
fn read_c_arg<'a>(arg: CArg) -> Result<Arg<'a>, ApiError> {
    match arg {
        CArg::None => Ok(Arg::None),
        CArg::Int(n) => Ok(Arg::Int(i64::from(n))),
        CArg::Str(ptr) if ptr.is_null() => Err(ApiError::invalid_request("request is NULL")),
        CArg::Str(ptr) => {
            // SAFETY: the host passes a NUL-terminated string that stays valid
            // and unchanged for the duration of the call (the header's contract);
            // NULL was handled above.
            let text = unsafe { CStr::from_ptr(ptr) };
            text_arg(text.to_bytes()).map(Arg::Str)
        }
    }
}

/// Copies `answer` into `malloc`ed memory (status-go's `C.CString` does the
/// same, so hosts ported from status-go keep working). NULL only when out of
/// memory. JSON never holds a NUL byte (serde escapes control characters).
fn to_c_string(answer: &str) -> *mut c_char {
    let bytes = answer.as_bytes();
    // SAFETY: malloc with a non-zero size; the result is checked for NULL
    // before use.
    let ptr = unsafe { libc::malloc(bytes.len() + 1) } as *mut u8;
    if ptr.is_null() {
        return std::ptr::null_mut();
    }
    // SAFETY: `ptr` points to `len + 1` writable bytes that nothing else
    // references; the source is a valid slice of `len` bytes; they cannot overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr, bytes.len());
        *ptr.add(bytes.len()) = 0;
    }
    ptr as *mut c_char
}

/// Releases an answer. NULL is fine; it never unwinds (`libc::free` cannot).
///
/// # Safety
/// `ptr` is NULL or an answer returned by this library, not freed before.
pub unsafe fn free(ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: per this function's contract, `ptr` came from `malloc` in
    // `to_c_string` and is freed once.
    unsafe { libc::free(ptr) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_put_error_first_and_escape() {
        let json = error_json(&ApiError::invalid_request("bad \"quote\" \u{1F600}"));
        assert!(json.starts_with(r#"{"error":"bad \"quote\" "#), "{json}");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["code"], "invalid-request");
        assert_eq!(v["error"], "bad \"quote\" \u{1F600}");
        assert!(error_json(&ApiError { code: ErrorCode::Internal, message: String::new() })
            .starts_with(r#"{"error":"unknown error""#));
    }

    #[test]
    fn a_panic_while_reading_the_argument_is_caught() {
        let answer = run(Endpoint::CentralizedMetricsInfo, || panic!("reader exploded"));
        assert_eq!(answer.code, Some(ErrorCode::Panic));
        assert_eq!(answer.http_status(), 500);
        let v: serde_json::Value = serde_json::from_str(&answer.json).unwrap();
        assert_eq!(v["code"], "panic");
        assert_eq!(v["error"], "reader exploded");
    }

    /// A payload whose `Drop` panics: dropping it in the guard would be a
    /// panic while handling a panic. The payload guard catches that and
    /// leaks the payload; the host still gets its answer.
    #[test]
    fn a_payload_whose_drop_panics_is_leaked_and_the_call_still_answers() {
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("a panic while dropping a panic payload");
            }
        }
        let answer = run(Endpoint::CentralizedMetricsInfo, || std::panic::panic_any(Bomb));
        assert_eq!(answer.code, Some(ErrorCode::Panic));
        let v: serde_json::Value = serde_json::from_str(&answer.json).unwrap();
        assert_eq!(v["error"], "panic with a non-string payload");
        // The same through the guard for panics caught elsewhere.
        let message = report_caught_panic(Box::new(Bomb), Origin::Thread("test"));
        assert_eq!(message, "panic with a non-string payload");
    }

    /// A payload whose `Drop` panics (the payload-drop guard's case).
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("a panic while dropping a panic payload");
        }
    }

    thread_local! {
        /// What [`ExplodingLogger`] does with the guard's next "answered an
        /// error" line on this thread: 0 nothing, 1 panic with a message,
        /// 2 panic with a [`Bomb`]. Reset once used.
        static EXPLODE: std::cell::Cell<u8> = const { std::cell::Cell::new(0) };
    }

    /// A logger that panics in the guard's own path, after the call's panic
    /// was caught: a panic while handling a panic.
    struct ExplodingLogger;
    impl log::Log for ExplodingLogger {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &log::Record<'_>) {
            if !record.args().to_string().contains("answered an error") {
                return;
            }
            match EXPLODE.with(|e| e.replace(0)) {
                1 => panic!("the logger exploded"),
                2 => std::panic::panic_any(Bomb),
                _ => {}
            }
        }
        fn flush(&self) {}
    }

    fn error_of(answer: &Answer) -> String {
        let v: serde_json::Value = serde_json::from_str(&answer.json).unwrap();
        v["error"].as_str().unwrap().to_owned()
    }

    /// The second guard: a panic in the guard's path (here the logger's,
    /// while logging the first panic's answer) is answered, not unwound into
    /// the host, with its message under the message guard and its payload
    /// dropped under the payload guard.
    #[test]
    fn a_panic_while_handling_a_panic_is_answered_by_the_second_guard() {
        static LOGGER: ExplodingLogger = ExplodingLogger;
        // Under nextest every test has a process of its own, so the logger
        // is ours; under `cargo test` another test may have set one first.
        if log::set_logger(&LOGGER).is_ok() {
            log::set_max_level(log::LevelFilter::Debug);
            EXPLODE.with(|e| e.set(1));
            let answer = run(Endpoint::CentralizedMetricsInfo, || panic!("reader exploded"));
            assert_eq!((answer.code, answer.http_status()), (Some(ErrorCode::Panic), 500));
            assert_eq!(error_of(&answer), "panic while handling the call: the logger exploded");
            EXPLODE.with(|e| e.set(2));
            let answer = run(Endpoint::CentralizedMetricsInfo, || panic!("reader exploded"));
            assert_eq!(answer.code, Some(ErrorCode::Panic));
            assert_eq!(error_of(&answer), "panic while handling the call: panic with a non-string payload");
            // The guard still answers normally afterwards.
            let answer = run(Endpoint::CentralizedMetricsInfo, || panic!("reader exploded"));
            assert_eq!(error_of(&answer), "reader exploded");
        }
        // The second guard's answer, called directly.
        let answer = last_resort_answer(Box::new("escaped"));
        assert_eq!((answer.code, answer.http_status()), (Some(ErrorCode::Panic), 500));
        assert_eq!(error_of(&answer), "panic while handling the call: escaped");
        let answer = last_resort_answer(Box::new(Bomb));
        assert_eq!(error_of(&answer), "panic while handling the call: panic with a non-string payload");
    }

    /// Every caught payload is dropped (not leaked) once its message is read.
    #[test]
    fn caught_payloads_are_dropped() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        struct Counted;
        impl Drop for Counted {
            fn drop(&mut self) {
                DROPS.fetch_add(1, Ordering::SeqCst);
            }
        }
        let answer = run(Endpoint::CentralizedMetricsInfo, || std::panic::panic_any(Counted));
        assert_eq!(answer.code, Some(ErrorCode::Panic));
        assert_eq!(DROPS.load(Ordering::SeqCst), 1);
        report_caught_panic(Box::new(Counted), Origin::Thread("test"));
        assert_eq!(DROPS.load(Ordering::SeqCst), 2);
        last_resort_answer(Box::new(Counted));
        assert_eq!(DROPS.load(Ordering::SeqCst), 3);
    }

    /// What a C host reads: a NUL-terminated copy of the answer, which it
    /// releases with [`free`] (NULL included).
    #[test]
    fn the_c_answer_is_the_answer_nul_terminated() {
        let read = |ptr: *mut c_char| {
            assert!(!ptr.is_null());
            // SAFETY: a NUL-terminated answer of `ffi_call`, freed once below.
            let text = unsafe { CStr::from_ptr(ptr) }.to_str().unwrap().to_owned();
            // SAFETY: as above.
            unsafe { free(ptr.cast()) };
            text
        };
        let text = read(ffi_call(Endpoint::CentralizedMetricsInfo, CArg::None));
        assert_eq!(text, run(Endpoint::CentralizedMetricsInfo, || Ok(Arg::None)).json.to_string());
        let bad = c"not json";
        let text = read(ffi_call(Endpoint::InitializeApplication, CArg::Str(bad.as_ptr())));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["code"], "invalid-request", "{text}");
        let text = read(ffi_call(Endpoint::InitializeApplication, CArg::Str(std::ptr::null())));
        assert!(text.contains("request is NULL"), "{text}");
        assert_eq!(read(to_c_string("")), "");
        assert_eq!(read(to_c_string("{\"a\":1}")), "{\"a\":1}");
        // SAFETY: NULL is allowed.
        unsafe { free(std::ptr::null_mut()) };
    }

    /// The limit is 1 MiB exactly, for every host's bytes.
    #[test]
    fn a_request_of_exactly_one_mebibyte_is_accepted() {
        let limit = "x".repeat(1 << 20);
        let answer = run(Endpoint::IntendedPanic, || text_arg(limit.as_bytes()).map(Arg::Str));
        assert_eq!(answer.code, Some(ErrorCode::Panic), "1 MiB is read (and IntendedPanic panics)");
        let over = "x".repeat((1 << 20) + 1);
        let error = text_arg(over.as_bytes()).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidRequest);
        assert_eq!(error.message, format!("request is {} bytes; the limit is {}", (1 << 20) + 1, 1 << 20));
        assert_eq!(too_large(None).message, "request is over the limit of 1048576 bytes");
        assert_eq!(text_arg(b"{}").unwrap(), "{}");
    }

    #[test]
    fn oversize_and_null_and_bad_utf8_are_invalid_requests() {
        let big = "x".repeat(MAX_REQUEST_BYTES + 1);
        let answer = run(Endpoint::IntendedPanic, || Ok(Arg::Str(&big)));
        assert_eq!(answer.code, Some(ErrorCode::InvalidRequest));
        assert_eq!(answer.http_status(), 400);
        let answer = run(Endpoint::IntendedPanic, || read_c_arg(CArg::Str(std::ptr::null())));
        assert!(answer.json.contains("request is NULL"), "{answer:?}");
        let bad = b"\xff\xfe\0";
        let answer = run(Endpoint::IntendedPanic, || read_c_arg(CArg::Str(bad.as_ptr().cast())));
        assert!(answer.json.contains("UTF-8"), "{answer:?}");
        let ok = run(Endpoint::FlushPanicReports, || Ok(Arg::Int(0)));
        assert_eq!((ok.code, ok.http_status()), (None, 200));
    }
}
