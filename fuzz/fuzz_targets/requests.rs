//! The request parser of every export, through the one guard: the C path
//! (`guard::ffi_call` with a NUL-terminated byte string, a C int or nothing:
//! NULL-free, not necessarily UTF-8) and `guard::run` with every kind of
//! argument, matching the endpoint or not.
//!
//! Invariants: every answer is a JSON object (`error` first and non-empty,
//! with a known code, on failure); no panic escapes; the library panics only
//! where it means to (`IntendedPanic`). No network: `SENTRY_ENVIRONMENT` is
//! unset, so nothing is reportable. Paths in an `InitializeApplication`
//! request that parses are moved into the sandbox (a fuzzer must not create
//! folders anywhere on the machine); every other byte reaches the parser as is.
#![no_main]

#[path = "common.rs"]
mod common;

use std::ffi::CStr;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use status::api::{Arg, ArgKind, Endpoint};
use status::guard::{self, CArg};

fuzz_target!(
    init: {
        std::env::remove_var("SENTRY_ENVIRONMENT");
        common::setup();
    },
    |data: &[u8]| {
        let Some((&selector, rest)) = data.split_first() else { return };
        let endpoint = Endpoint::ALL[usize::from(selector) % Endpoint::ALL.len()];
        let rest = if endpoint == Endpoint::InitializeApplication { sandboxed(rest) } else { rest.to_vec() };
        let answer = match selector / 16 % 4 {
            0 => c_call(endpoint, &rest),
            1 => {
                let text = String::from_utf8_lossy(&rest);
                guard::run(endpoint, || Ok(Arg::Str(&text))).json.into_owned()
            }
            2 => guard::run(endpoint, || Ok(Arg::Int(int_arg(endpoint, &rest)))).json.into_owned(),
            _ => guard::run(endpoint, || Ok(Arg::None)).json.into_owned(),
        };
        let value = common::check_answer(endpoint, &answer);
        // IntendedPanic with text answers `panic`; bytes that are not UTF-8
        // (the C path) are an invalid request.
        let c_text = rest.split(|b| *b == 0).next().unwrap_or(&[]);
        let mode = selector / 16 % 4;
        if endpoint == Endpoint::IntendedPanic && (mode == 1 || (mode == 0 && std::str::from_utf8(c_text).is_ok())) {
            assert_eq!(common::code(&value), Some("panic"), "{answer}");
        }
    }
);

/// One call as a C host makes it; the answer is copied and freed with the
/// library's `Free`.
fn c_call(endpoint: Endpoint, bytes: &[u8]) -> String {
    let mut owned: Vec<u8> = bytes.iter().copied().take_while(|b| *b != 0).collect();
    owned.push(0);
    let arg = match endpoint.arg_kind() {
        ArgKind::None => CArg::None,
        ArgKind::Int => CArg::Int(int_arg(endpoint, bytes) as i32),
        ArgKind::Json | ArgKind::Text => CArg::Str(owned.as_ptr().cast()),
    };
    let ptr = guard::ffi_call(endpoint, arg);
    assert!(!ptr.is_null(), "NULL answer");
    // SAFETY: the library answers a NUL-terminated string it allocated.
    let answer = unsafe { CStr::from_ptr(ptr) }.to_str().expect("the answer is UTF-8").to_owned();
    // SAFETY: an answer of the library, freed once.
    unsafe { guard::free(ptr.cast()) };
    answer
}

/// An integer argument from the input (shortened for a flush: see
/// [`common::short_timeout`]).
fn int_arg(endpoint: Endpoint, bytes: &[u8]) -> i64 {
    let mut raw = [0u8; 8];
    for (slot, byte) in raw.iter_mut().zip(bytes) {
        *slot = *byte;
    }
    let n = if bytes.len() <= 4 {
        i64::from(i32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]))
    } else {
        i64::from_le_bytes(raw)
    };
    if endpoint == Endpoint::FlushPanicReports {
        common::short_timeout(n)
    } else {
        n
    }
}

/// An `InitializeApplication` request whose `dataDir`/`logDir` are strings
/// the library would create: re-pointed into the sandbox (one of four
/// folders). Empty and NUL-carrying values are kept (the library refuses them
/// before touching the disk), as are requests that are not a JSON object.
fn sandboxed(bytes: &[u8]) -> Vec<u8> {
    let Ok(Value::Object(mut request)) = serde_json::from_slice::<Value>(bytes) else {
        return bytes.to_vec();
    };
    let mut changed = false;
    for (key, prefix) in [("dataDir", "d"), ("logDir", "l")] {
        if let Some(Value::String(path)) = request.get(key) {
            if !path.trim().is_empty() && !path.contains('\0') {
                let n = path.bytes().fold(0u8, |a, b| a.wrapping_add(b)) % 4;
                let inside = common::root().join(format!("{prefix}{n}"));
                request.insert(key.to_owned(), Value::String(inside.to_string_lossy().into_owned()));
                changed = true;
            }
        }
    }
    if changed {
        serde_json::to_vec(&request).expect("re-encode")
    } else {
        bytes.to_vec()
    }
}
