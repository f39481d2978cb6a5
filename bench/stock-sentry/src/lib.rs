//! The stock `sentry` crate behind libstatus's C ABI shape (see Cargo.toml).
//!
//! `InitializeApplication(json)` reads `sentryDSN` and calls `sentry::init`
//! with it and otherwise default options (default integrations: the panic
//! hook captures every panic, with a symbolicated backtrace); the guard is
//! kept for the life of the process. `IntendedPanic` panics inside
//! `catch_unwind` and answers a JSON error, as libstatus does.
//! `CentralizedMetricsInfo` answers constant-ish JSON behind `catch_unwind`
//! (the per-call figure). `FlushPanicReports(ms)` is `sentry::flush`.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

static GUARD: Mutex<Option<sentry::ClientInitGuard>> = Mutex::new(None);
static ENABLED: AtomicBool = AtomicBool::new(false);

fn answer(text: String) -> *mut c_char {
    CString::new(text).map_or(std::ptr::null_mut(), CString::into_raw)
}

fn error(message: &str, code: &str) -> *mut c_char {
    answer(serde_json::json!({"error": message, "code": code}).to_string())
}

/// The text of a C string argument, or the error answer for NULL.
///
/// # Safety
/// `arg` is NULL or a NUL-terminated string.
unsafe fn text_arg(arg: *const c_char, what: &str) -> Result<String, *mut c_char> {
    if arg.is_null() {
        return Err(error(&format!("null {what}"), "invalid-request"));
    }
    // SAFETY: the caller passes a NUL-terminated string (checked non-NULL above).
    Ok(unsafe { CStr::from_ptr(arg) }.to_string_lossy().into_owned())
}

/// # Safety
/// `json` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn InitializeApplication(json: *const c_char) -> *mut c_char {
    // SAFETY: as this function's contract says.
    let text = match unsafe { text_arg(json, "request") } {
        Ok(text) => text,
        Err(answer) => return answer,
    };
    let result = catch_unwind(move || {
        let request: serde_json::Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => return error(&e.to_string(), "invalid-request"),
        };
        let dsn = request.get("sentryDSN").and_then(|d| d.as_str()).unwrap_or("").to_owned();
        let guard = sentry::init(dsn);
        let active = guard.is_enabled();
        *GUARD.lock().unwrap_or_else(|p| p.into_inner()) = Some(guard);
        answer(
            serde_json::json!({
                "centralizedMetricsInfo": {"enabled": false, "userConfirmed": false},
                "panicReporting": {"active": active},
            })
            .to_string(),
        )
    });
    result.unwrap_or_else(|_| error("panic in InitializeApplication", "panic"))
}

/// # Safety
/// `json` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ToggleCentralizedMetrics(json: *const c_char) -> *mut c_char {
    // SAFETY: as this function's contract says.
    let text = match unsafe { text_arg(json, "request") } {
        Ok(text) => text,
        Err(answer) => return answer,
    };
    let result = catch_unwind(move || {
        match serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("enabled").and_then(|e| e.as_bool()))
        {
            Some(enabled) => {
                ENABLED.store(enabled, Ordering::SeqCst);
                answer(r#"{"error":""}"#.to_owned())
            }
            None => error("enabled: expected a bool", "invalid-request"),
        }
    });
    result.unwrap_or_else(|_| error("panic", "panic"))
}

#[no_mangle]
pub extern "C" fn CentralizedMetricsInfo() -> *mut c_char {
    let result = catch_unwind(|| {
        let enabled = ENABLED.load(Ordering::Relaxed);
        answer(format!(r#"{{"enabled":{enabled},"userConfirmed":{enabled}}}"#))
    });
    result.unwrap_or_else(|_| error("panic", "panic"))
}

/// # Safety
/// `message` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn IntendedPanic(message: *const c_char) -> *mut c_char {
    // SAFETY: as this function's contract says.
    let text = match unsafe { text_arg(message, "message") } {
        Ok(text) => text,
        Err(answer) => return answer,
    };
    let message = text.clone();
    match catch_unwind(AssertUnwindSafe(move || -> *mut c_char { panic!("{message}") })) {
        Ok(r) => r,
        Err(_) => error(&text, "panic"),
    }
}

#[no_mangle]
pub extern "C" fn FlushPanicReports(timeout_ms: c_int) -> *mut c_char {
    let result = catch_unwind(|| {
        let ms = u64::try_from(timeout_ms).unwrap_or(0);
        let flushed =
            sentry::Hub::current().client().map(|c| c.flush(Some(Duration::from_millis(ms)))).unwrap_or(true);
        answer(serde_json::json!({"error": "", "flushed": flushed}).to_string())
    });
    result.unwrap_or_else(|_| error("panic", "panic"))
}

/// # Safety
/// `param` is NULL or an answer of this library not freed before.
#[no_mangle]
pub unsafe extern "C" fn Free(param: *mut c_void) {
    if !param.is_null() {
        // SAFETY: every answer comes from CString::into_raw in this library.
        drop(unsafe { CString::from_raw(param.cast()) });
    }
}
