//! The C ABI through the built `libstatus.so`, loaded with dlopen as a host
//! would: every export, bad input, error conventions, the header, threads.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{assert_error, data_dir, lib, parse, Kind, EXPORTS};

/// The JNI glue's exports (feature `jni`, src/jni.rs): for the JVM, not C hosts,
/// so not in the header or in `EXPORTS`; tested by bindings/android/test.sh.
const JNI_EXPORTS: &[&str] = &[
    "Java_im_status_libstatus_LibStatus_nativeInitializeApplication",
    "Java_im_status_libstatus_LibStatus_nativeToggleCentralizedMetrics",
    "Java_im_status_libstatus_LibStatus_nativeCentralizedMetricsInfo",
    "Java_im_status_libstatus_LibStatus_nativeIntendedPanic",
    "Java_im_status_libstatus_LibStatus_nativeIntendedBackgroundPanic",
    "Java_im_status_libstatus_LibStatus_nativeFlushPanicReports",
    "Java_im_status_libstatus_LibStatus_nativePanicReports",
    "Java_im_status_libstatus_LibStatus_nativeDeletePanicReports",
    "Java_im_status_libstatus_LibStatus_nativeNextPanicReport",
    "Java_im_status_libstatus_LibStatus_nativePanicReportOutcome",
];

/// Test builds only (feature `test-panics`, src/ffi.rs): not in the header
/// or in `EXPORTS`; used by tests/shipped.rs.
const TEST_EXPORTS: &[&str] = &["TestPanic"];

#[test]
fn every_export_is_in_the_table_and_rejects_bad_input() {
    if !support::isolated() {
        return;
    }
    let exported = support::exported_functions();
    for name in &exported {
        if JNI_EXPORTS.contains(&name.as_str()) || TEST_EXPORTS.contains(&name.as_str()) {
            continue;
        }
        assert!(EXPORTS.iter().any(|(n, _)| n == name), "{name} is exported but missing from the test table");
    }
    if cfg!(feature = "test-panics") {
        for name in TEST_EXPORTS {
            assert!(exported.iter().any(|e| e == name), "{name} is not exported (feature test-panics)");
        }
    }
    if cfg!(feature = "jni") {
        for name in JNI_EXPORTS {
            assert!(exported.iter().any(|e| e == name), "{name} is not exported (feature jni)");
        }
    }
    for (name, kind) in EXPORTS {
        assert!(exported.iter().any(|e| e == name), "{name} is not exported");
        match kind {
            Kind::Str => {
                assert_error(&lib().call_raw(name, None), "invalid-request");
                assert_error(&lib().call_raw(name, Some(b"\xff\xfe{}")), "invalid-request");
                if *name != "IntendedPanic" && *name != "IntendedBackgroundPanic" {
                    for junk in ["", "not json", "[1,2]", "\"text\"", "{", "null"] {
                        assert_error(&lib().call(name, junk), "invalid-request");
                    }
                }
            }
            Kind::Int => {
                assert_error(&lib().call_int(name, -1), "invalid-request");
            }
            Kind::Void => {
                lib().call_void(name);
            }
            Kind::Free => lib().free_null(),
        }
    }
}

#[test]
fn before_initialization() {
    if !support::isolated() {
        return;
    }
    assert_error(&lib().call_void("CentralizedMetricsInfo"), "not-initialized");
    assert_error(&lib().call("ToggleCentralizedMetrics", r#"{"enabled":true}"#), "not-initialized");
    // IntendedPanic works (and reports nothing: there is no configuration).
    let answer = lib().call("IntendedPanic", "before init");
    assert_eq!(answer, r#"{"error":"before init","code":"panic"}"#);
    assert_eq!(lib().call_int("FlushPanicReports", 100), r#"{"error":"","pending":0}"#);
    assert_error(&lib().call("PanicReports", "{}"), "not-initialized");
    assert_error(&lib().call("DeletePanicReports", r#"{"all":true}"#), "not-initialized");
}

#[test]
fn initialize_application_validates_its_request() {
    if !support::isolated() {
        return;
    }
    let dir = data_dir();
    let d = dir.path().to_str().unwrap();
    let v = assert_error(&lib().call("InitializeApplication", "{}"), "invalid-request");
    assert!(v["error"].as_str().unwrap().contains("dataDir"), "{v}");
    assert_error(&lib().call("InitializeApplication", r#"{"dataDir":""}"#), "invalid-request");
    assert_error(&lib().call("InitializeApplication", r#"{"dataDir":42}"#), "invalid-request");
    let v = assert_error(
        &lib().call("InitializeApplication", &json!({"dataDir": d, "logLevel": "loud"}).to_string()),
        "invalid-request",
    );
    assert!(v["error"].as_str().unwrap().contains("logLevel"), "{v}");
    assert_error(
        &lib().call("InitializeApplication", &json!({"dataDir": d, "logEnabled": "yes"}).to_string()),
        "invalid-request",
    );
    // Over 1 MiB, and nested deeper than serde_json's limit.
    let big = json!({"dataDir": d, "padding": "x".repeat(1024 * 1024)}).to_string();
    assert_error(&lib().call("InitializeApplication", &big), "invalid-request");
    let deep = format!(r#"{{"dataDir":"{d}","x":{}{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
    assert_error(&lib().call("InitializeApplication", &deep), "invalid-request");

    // Unknown keys (status-go's other subsystems) are accepted; levels are case-insensitive.
    let answer = lib().init(json!({
        "dataDir": d, "logLevel": "DEBUG", "mixpanelAppId": "x", "mixpanelToken": "t",
        "wakuFleetsConfigFilePath": "/x", "metricsEnabled": true, "mediaServerEnableTLS": false
    }));
    assert_eq!(answer["centralizedMetricsInfo"], json!({"enabled": false, "userConfirmed": false}));
    assert_eq!(answer["panicReporting"]["active"], false);
    assert!(!answer["panicReporting"]["reason"].as_str().unwrap().is_empty());
}

#[test]
fn consent_is_stored_and_survives_reinitialization() {
    if !support::isolated() {
        return;
    }
    let dir = data_dir();
    let request = json!({"dataDir": dir.path()});
    lib().init(request.clone());
    assert_eq!(
        parse(&lib().call_void("CentralizedMetricsInfo")),
        json!({"enabled":false,"userConfirmed":false})
    );
    // status-go reads {} as an opt-out (tests/hosts.rs); conflicting `enabled` keys are refused.
    assert_error(
        &lib().call("ToggleCentralizedMetrics", r#"{"enabled":false,"Enabled":true}"#),
        "invalid-request",
    );
    assert_error(&lib().call("ToggleCentralizedMetrics", r#"{"enabled":"yes"}"#), "invalid-request");
    lib().opt_in(true);
    assert_eq!(
        parse(&lib().call_void("CentralizedMetricsInfo")),
        json!({"enabled":true,"userConfirmed":true})
    );
    // A second InitializeApplication (after logout, say) reads it back from disk.
    let answer = lib().init(request);
    assert_eq!(answer["centralizedMetricsInfo"], json!({"enabled":true,"userConfirmed":true}));
    lib().opt_in(false);
    assert_eq!(
        parse(&lib().call_void("CentralizedMetricsInfo")),
        json!({"enabled":false,"userConfirmed":true})
    );

    // A corrupt file reads as not opted in.
    std::fs::write(dir.path().join("centralized-metrics.json"), b"{\"enabled\":tr").unwrap();
    let answer = lib().init(json!({"dataDir": dir.path()}));
    assert_eq!(answer["centralizedMetricsInfo"], json!({"enabled":false,"userConfirmed":false}));
}

#[test]
fn non_bmp_text_round_trips() {
    if !support::isolated() {
        return;
    }
    let message = "💥 emoji 😀 and 中文 and \"quotes\" \\ and \u{7f}";
    let v = lib().intended_panic(message);
    assert_eq!(v["error"], message);
    assert_eq!(v["code"], "panic");
}

#[test]
fn the_logs_hold_the_panic_and_the_redacted_api_calls() {
    if !support::isolated() {
        return;
    }
    let dir = data_dir();
    let logs = dir.path().join("logs");
    lib().init(json!({
        "dataDir": dir.path(), "logDir": logs, "logEnabled": true, "logLevel": "info",
        "apiLoggingEnabled": true, "sentryDSN": "http://publickey1234@127.0.0.1:9/1"
    }));
    lib().intended_panic(r#"oops {"password":"hunter2","mnemonic":"abandon ability"}"#);
    lib().call("ToggleCentralizedMetrics", r#"{"enabled":true,"password":"letmein"}"#);
    // A library thread writes the panic's line: wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        let status = std::fs::read_to_string(logs.join("status.log")).unwrap_or_default();
        if status.contains("panic in API call IntendedPanic") || std::time::Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.contains("panic in API call IntendedPanic at src/api/mod.rs:"), "{status}");
    // The stack as call-site addresses in our image, for offline symbolication.
    let stack = format!("[stack in {} (debug id ", support::LIB_FILE);
    assert!(status.contains(&stack), "no stack in the log: {status}");
    let api = std::fs::read_to_string(logs.join("api.log")).unwrap();
    assert!(api.contains("IntendedPanic duration_us="), "{api}");
    assert!(api.contains("ToggleCentralizedMetrics duration_us="), "{api}");
    for log in [&status, &api] {
        for secret in ["hunter2", "abandon ability", "letmein", "publickey1234"] {
            assert!(!log.contains(secret), "{secret} leaked into a log: {log}");
        }
    }
}

#[test]
fn a_second_process_on_the_same_data_dir_gets_a_clear_error() {
    if !support::isolated() {
        return;
    }
    let dir = data_dir();
    lib().init(json!({"dataDir": dir.path()}));
    // Another process: the same test binary, running only the helper below.
    let output = support::self_command()
        .args(["--exact", "second_process_helper", "--nocapture", "--test-threads=1"])
        .env("LIBSTATUS_SECOND_PROCESS_DIR", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("SECOND-PROCESS-CHECKED"), "{stdout}");
}

#[test]
fn second_process_helper() {
    let Ok(dir) = std::env::var("LIBSTATUS_SECOND_PROCESS_DIR") else { return };
    let answer = lib().call("InitializeApplication", &json!({"dataDir": dir}).to_string());
    let v = assert_error(&answer, "invalid-request");
    assert_eq!(
        v["error"],
        "another process is using the panic-report outbox of this dataDir: one dataDir serves one process at a time; nothing changed",
        "{v}"
    );
    println!("SECOND-PROCESS-CHECKED");
}

#[test]
fn eight_threads_call_every_export_at_once() {
    if !support::isolated() {
        return;
    }
    let dir = Arc::new(data_dir());
    lib().init(json!({"dataDir": dir.path()}));
    let started = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let dir = dir.clone();
            #[allow(clippy::disallowed_methods)] // the host's threads
            std::thread::spawn(move || {
                for i in 0..60 {
                    let answers = [
                        lib().call("InitializeApplication", &json!({"dataDir": dir.path()}).to_string()),
                        lib().call(
                            "ToggleCentralizedMetrics",
                            &json!({"enabled": (i + t) % 2 == 0}).to_string(),
                        ),
                        lib().call_void("CentralizedMetricsInfo"),
                        lib().call("IntendedPanic", &format!("thread {t} call {i}")),
                        lib().call("IntendedBackgroundPanic", "background"),
                        lib().call_int("FlushPanicReports", 0),
                        lib().call_raw("ToggleCentralizedMetrics", None),
                    ];
                    for answer in answers {
                        let v = parse(&answer);
                        assert!(v.is_object(), "{answer}");
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a host thread panicked");
    }
    // Generous: proves no deadlock, not a speed.
    assert!(started.elapsed() < Duration::from_secs(120));
}

#[test]
#[cfg(unix)] // Windows: scripts/windows builds bindings/c's host with mingw and runs it under Wine
fn the_header_compiles_as_c_and_cpp_and_links() {
    if !support::isolated() {
        return;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let out = tempfile::tempdir().unwrap();
    let source = r#"
#include "libstatus.h"
#include <stdio.h>
#include <string.h>
int main(void) {
    char *answer = IntendedPanic("from C");
    int ok = answer != NULL && strcmp(answer, "{\"error\":\"from C\",\"code\":\"panic\"}") == 0;
    printf("%s\n", answer);
    Free(answer);
    Free(NULL);
    answer = FlushPanicReports(0);
    ok = ok && strncmp(answer, "{\"error\":\"\"", 11) == 0;
    Free(answer);
    return ok ? 0 : 1;
}
"#;
    for (compiler, file) in [("gcc", "host.c"), ("g++", "host.cpp")] {
        let src = out.path().join(file);
        std::fs::write(&src, source).unwrap();
        let exe = out.path().join(format!("{file}.bin"));
        let status = support::target_tool(compiler)
            .args(["-Wall", "-Wextra", "-Werror", "-I"])
            .arg(format!("{root}/include"))
            .arg(&src)
            .arg("-o")
            .arg(&exe)
            .arg("-L")
            .arg(support::target_dir())
            .arg("-lstatus")
            .status()
            .unwrap_or_else(|e| panic!("{compiler}: {e}"));
        assert!(status.success(), "{compiler} failed on the header");
        let run =
            support::target_command(&exe).env("LD_LIBRARY_PATH", support::target_dir()).output().unwrap();
        assert!(run.status.success(), "{compiler} host failed: {}", String::from_utf8_lossy(&run.stdout));
    }
}

#[test]
fn the_committed_header_is_what_cbindgen_generates() {
    if !support::isolated() {
        return;
    }
    let generated = include_str!(concat!(env!("OUT_DIR"), "/libstatus.h"));
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/libstatus.h")).unwrap();
    assert!(
        generated == committed,
        "include/libstatus.h is stale: run scripts/update-header and commit the result"
    );
}

#[test]
fn log_files_rotate_instead_of_growing_without_bound() {
    if !support::isolated() {
        return;
    }
    let dir = data_dir();
    lib().init(json!({"dataDir": dir.path(), "apiLoggingEnabled": true}));
    // 40 calls of ~900 KiB each: about 36 MiB of API log.
    let request = json!({"enabled": false, "padding": "x".repeat(900 * 1024)}).to_string();
    for _ in 0..40 {
        assert_eq!(lib().call("ToggleCentralizedMetrics", &request), r#"{"error":""}"#);
    }
    let logs: Vec<(String, u64)> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("api"))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().len()))
        .collect();
    let total: u64 = logs.iter().map(|(_, len)| len).sum();
    assert!(logs.len() >= 2, "no rotation happened: {logs:?}");
    assert!(logs.len() <= 4, "old files are not cleaned up: {logs:?}");
    assert!(total < 4 * 11 * 1024 * 1024, "{total} bytes of API log: {logs:?}");
    assert!(logs.iter().any(|(name, _)| name == "api.log"), "{logs:?}");
}

/// The panics the library catches are its own to log: the hook before the
/// library's (here Rust's default one, which would print "panicked at") does
/// not see them. (A panic the library does not catch still reaches it:
/// tests/hook_chain.rs.)
#[test]
fn the_previous_hook_does_not_print_the_panics_the_library_catches() {
    if !support::isolated() {
        return;
    }
    // A fresh process, so that the library's hook is installed in front of
    // Rust's default one.
    let output = support::self_command()
        .args(["--exact", "hook_chain_helper", "--nocapture", "--test-threads=1"])
        .env("LIBSTATUS_HOOK_CHAIN_CHILD", "1")
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("HOOK-CHAIN-CHECKED"), "{stderr}");
    assert!(!stderr.contains("panicked at") && !stderr.contains("chained hook check"), "{stderr}");
}

#[test]
fn hook_chain_helper() {
    if std::env::var_os("LIBSTATUS_HOOK_CHAIN_CHILD").is_none() {
        return;
    }
    let v = lib().intended_panic("chained hook check");
    assert_eq!(v["code"], "panic");
    println!("HOOK-CHAIN-CHECKED");
}
