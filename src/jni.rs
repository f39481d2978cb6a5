//! The JNI glue for Android (cargo feature `jni`): the `native` methods of
//! `im.status.libstatus.LibStatus` (`bindings/android`), one per export, each
//! going through the one guard ([`guard::run`]).
//!
//! - The Java string is read INSIDE the guard's `read` closure, with the `jni`
//!   crate's modified-UTF-8 decoding (surrogate pairs, so emoji, round-trip);
//!   a null string is `invalid-request`, as NULL is for the C ABI. A panic
//!   while reading is caught and answered like any other.
//! - The answer is a Rust `String` that the glue copies into a new Java string
//!   (re-encoded to modified UTF-8) and then drops: no pointer is ever handed
//!   to Java, so Java never calls `Free`.
//! - The native methods return the answer JSON as is, errors included. The
//!   Java class maps error answers to exceptions (`LibStatusException`,
//!   `LibStatusPanicException` for `"code":"panic"`).
//! - Only the glue's own last step (creating the Java string) runs outside the
//!   guard, under `EnvUnowned::with_env`'s `catch_unwind`: a JNI failure there
//!   throws `LibStatusException` (code `internal`), a panic is reported like
//!   any caught panic and throws `LibStatusPanicException`. Nothing unwinds
//!   into the JVM.

use std::any::Any;
use std::cell::OnceCell;

use jni::errors::{Error as JniError, ErrorPolicy};
use jni::objects::{JClass, JString};
use jni::strings::JNIString;
use jni::sys::jint;
use jni::{jni_str, Env, EnvUnowned};

use crate::api::{ApiError, Arg, Endpoint};
use crate::guard;
use crate::reporting::Origin;

/// The argument of a native method, as the JVM passes it.
enum JavaArg<'j, 'local> {
    None,
    Str(&'j JString<'local>),
    Int(jint),
}

/// Runs one call: reads the argument and runs the endpoint under the guard,
/// then copies the answer into a new Java string.
fn call<'local>(
    mut unowned_env: EnvUnowned<'local>,
    endpoint: Endpoint,
    arg: JavaArg<'_, 'local>,
) -> JString<'local> {
    unowned_env
        .with_env(|env| -> Result<JString<'local>, JniError> {
            let text = OnceCell::new();
            let answer = guard::run(endpoint, || match arg {
                JavaArg::None => Ok(Arg::None),
                JavaArg::Int(n) => Ok(Arg::Int(i64::from(n))),
                JavaArg::Str(string) => {
                    let read = read_string(env, string)?;
                    Ok(Arg::Str(text.get_or_init(|| read).as_str()))
                }
            });
            // `answer` is a Rust String: copied into the Java heap here and
            // dropped when this closure returns.
            env.new_string(&answer.json)
        })
        .resolve_with::<ThrowLibStatusException, _>(|| endpoint)
}

/// The Java string as Rust text. Modified UTF-8 (with surrogate pairs for
/// characters outside the BMP) is decoded by the `jni` crate.
fn read_string(env: &Env<'_>, string: &JString<'_>) -> Result<String, ApiError> {
    if string.is_null() {
        return Err(ApiError::invalid_request("request is NULL"));
    }
    string.try_to_string(env).map_err(|e| ApiError::internal(format!("cannot read the Java string: {e}")))
}

/// How a failure outside the guard reaches Java: as an exception, never as an
/// unwind. The captures are the endpoint, to report a panic under its name.
struct ThrowLibStatusException;

impl<T: Default> ErrorPolicy<T, JniError> for ThrowLibStatusException {
    type Captures<'unowned_env_local: 'native_method, 'native_method> = Endpoint;

    fn on_error<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        endpoint: &mut Endpoint,
        err: JniError,
    ) -> jni::errors::Result<T> {
        // A pending exception (an OutOfMemoryError from NewStringUTF, say)
        // already tells Java what went wrong.
        if !env.exception_check() {
            let message = format!("{}: cannot return the answer to Java: {err}", endpoint.name());
            // `throw_new` answers Err(JavaException) once it has thrown.
            let _ =
                env.throw_new(jni_str!("im/status/libstatus/LibStatusException"), JNIString::new(message));
        }
        Ok(T::default())
    }

    fn on_panic<'unowned_env_local: 'native_method, 'native_method>(
        env: &mut Env<'unowned_env_local>,
        endpoint: &mut Endpoint,
        payload: Box<dyn Any + Send + 'static>,
    ) -> jni::errors::Result<T> {
        // The glue's own panic (the guard has already answered; this is the
        // Java string's creation), reported as the guard would.
        let message = guard::report_caught_panic(payload, Origin::Api(endpoint.name()));
        if !env.exception_check() {
            let _ = env
                .throw_new(jni_str!("im/status/libstatus/LibStatusPanicException"), JNIString::new(message));
        }
        Ok(T::default())
    }
}

// The native methods of `im.status.libstatus.LibStatus`: static, String in and
// out (the answer JSON, errors included), `int` for FlushPanicReports. Each is
// one line naming its endpoint. Excluded from the C header (cbindgen.toml).

/// `LibStatus.nativeInitializeApplication(String requestJson)`.
#[no_mangle]
pub extern "system" fn Java_im_status_libstatus_LibStatus_nativeInitializeApplication<'local>(
    env: EnvUnowned<'local>,
    _class: JClass<'local>,
    request_json: JString<'local>,
) -> JString<'local> {
    call(env, Endpoint::InitializeApplication, JavaArg::Str(&request_json))
}

/// `LibStatus.nativeToggleCentralizedMetrics(String requestJson)`.
#[no_mangle]
pub extern "system" fn Java_im_status_libstatus_LibStatus_nativeToggleCentralizedMetrics<'local>(
    env: EnvUnowned<'local>,
    _class: JClass<'local>,
    request_json: JString<'local>,
) -> JString<'local> {
    call(env, Endpoint::ToggleCentralizedMetrics, JavaArg::Str(&request_json))
}

/// `LibStatus.nativeCentralizedMetricsInfo()`.
#[no_mangle]
pub extern "system" fn Java_im_status_libstatus_LibStatus_nativeCentralizedMetricsInfo<'local>(
    env: EnvUnowned<'local>,
    _class: JClass<'local>,
) -> JString<'local> {
    call(env, Endpoint::CentralizedMetricsInfo, JavaArg::None)
}

/// `LibStatus.nativeIntendedPanic(String message)`.
#[no_mangle]
pub extern "system" fn Java_im_status_libstatus_LibStatus_nativeIntendedPanic<'local>(
    env: EnvUnowned<'local>,
    _class: JClass<'local>,
    message: JString<'local>,
) -> JString<'local> {
    call(env, Endpoint::IntendedPanic, JavaArg::Str(&message))
}

/// `LibStatus.nativeIntendedBackgroundPanic(String message)`.
#[no_mangle]
pub extern "system" fn Java_im_status_libstatus_LibStatus_nativeIntendedBackgroundPanic<'local>(
    env: EnvUnowned<'local>,
    _class: JClass<'local>,
    message: JString<'local>,
) -> JString<'local> {
    call(env, Endpoint::IntendedBackgroundPanic, JavaArg::Str(&message))
}

/// `LibStatus.nativeFlushPanicReports(int timeoutMs)`.
#[no_mangle]
pub extern "system" fn Java_im_status_libstatus_LibStatus_nativeFlushPanicReports<'local>(
    env: EnvUnowned<'local>,
    _class: JClass<'local>,
    timeout_ms: jint,
) -> JString<'local> {
    call(env, Endpoint::FlushPanicReports, JavaArg::Int(timeout_ms))
}

/// `LibStatus.nativePanicReports(String requestJson)`.
#[no_mangle]
pub extern "system" fn Java_im_status_libstatus_LibStatus_nativePanicReports<'local>(
    env: EnvUnowned<'local>,
    _class: JClass<'local>,
    request_json: JString<'local>,
) -> JString<'local> {
    call(env, Endpoint::PanicReports, JavaArg::Str(&request_json))
}

/// `LibStatus.nativeDeletePanicReports(String requestJson)`.
#[no_mangle]
pub extern "system" fn Java_im_status_libstatus_LibStatus_nativeDeletePanicReports<'local>(
    env: EnvUnowned<'local>,
    _class: JClass<'local>,
    request_json: JString<'local>,
) -> JString<'local> {
    call(env, Endpoint::DeletePanicReports, JavaArg::Str(&request_json))
}

/// `LibStatus.nativeNextPanicReport(String requestJson)`.
#[no_mangle]
pub extern "system" fn Java_im_status_libstatus_LibStatus_nativeNextPanicReport<'local>(
    env: EnvUnowned<'local>,
    _class: JClass<'local>,
    request_json: JString<'local>,
) -> JString<'local> {
    call(env, Endpoint::NextPanicReport, JavaArg::Str(&request_json))
}

/// `LibStatus.nativePanicReportOutcome(String requestJson)`.
#[no_mangle]
pub extern "system" fn Java_im_status_libstatus_LibStatus_nativePanicReportOutcome<'local>(
    env: EnvUnowned<'local>,
    _class: JClass<'local>,
    request_json: JString<'local>,
) -> JString<'local> {
    call(env, Endpoint::PanicReportOutcome, JavaArg::Str(&request_json))
}
