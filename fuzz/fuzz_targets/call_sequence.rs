//! A random sequence of calls against temporary dataDirs, through the guard
//! as a host makes them: init (two dataDirs, random settings, a DSN on a
//! closed loopback port, none, or junk), toggles, info, panics, background
//! panics, flushes, and what a hostile disk does meanwhile (a removed dataDir,
//! a corrupt consent file, junk in the outbox). `SENTRY_ENVIRONMENT` is
//! `ci-main`, so opted-in panics are real reports that the sender tries to
//! deliver (the port is closed: no network).
//!
//! Invariants: every answer is a JSON object (`error` first on failure); no
//! panic escapes and the library panics only where it means to (a panic in
//! the sender aborts: see `common::setup`); the current outbox's sender stays
//! alive; threads stay bounded (memory: libFuzzer's `-rss_limit_mb`).
#![no_main]

#[path = "common.rs"]
mod common;

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use status::api::{Arg, Endpoint};
use status::fuzzing::{Outbox, OutboxLimits};
use status::guard;

#[derive(Arbitrary, Debug)]
enum Dsn {
    ClosedPort,
    None,
    Junk(String),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Init {
        dir: bool,
        dsn: Dsn,
        log_enabled: Option<bool>,
        log_level: Option<String>,
        api_logging: Option<bool>,
        storm_window_ms: Option<u64>,
        separate_log_dir: bool,
    },
    InitRaw(String),
    Toggle(bool),
    ToggleRaw(String),
    Info,
    Panic(String),
    BackgroundPanic(String),
    Flush(i32),
    RemoveDataDir(bool),
    CorruptConsent {
        dir: bool,
        bytes: Vec<u8>,
    },
    JunkReport {
        dir: bool,
        name: u8,
        bytes: Vec<u8>,
    },
}

/// The dataDir of the last init that succeeded.
static CURRENT: Mutex<Option<PathBuf>> = Mutex::new(None);

fn closed_dsn() -> &'static str {
    static DSN: OnceLock<String> = OnceLock::new();
    DSN.get_or_init(|| {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        format!("http://5ecre7f00dfacade5ecre7f00dfacade@127.0.0.1:{port}/42")
    })
}

fn data_dir(second: bool) -> PathBuf {
    common::root().join(if second { "b" } else { "a" })
}

fn call(endpoint: Endpoint, arg: Arg<'_>) -> Value {
    let answer = guard::run(endpoint, || Ok(arg));
    common::check_answer(endpoint, &answer.json)
}

fuzz_target!(
    init: {
        std::env::set_var("SENTRY_ENVIRONMENT", "ci-main");
        common::setup();
    },
    |ops: Vec<Op>| {
        for op in ops.into_iter().take(32) {
            run(op);
            sender_alive();
        }
        let threads = common::threads();
        assert!(threads < 64, "{threads} threads");
    }
);

fn run(op: Op) {
    match op {
        Op::Init { dir, dsn, log_enabled, log_level, api_logging, storm_window_ms, separate_log_dir } => {
            let data = data_dir(dir);
            let mut request = json!({ "dataDir": data });
            let r = request.as_object_mut().unwrap();
            match dsn {
                Dsn::ClosedPort => drop(r.insert("sentryDSN".into(), closed_dsn().into())),
                Dsn::None => {}
                Dsn::Junk(junk) => drop(r.insert("sentryDSN".into(), junk.into())),
            }
            if let Some(v) = log_enabled {
                r.insert("logEnabled".into(), v.into());
            }
            if let Some(v) = log_level {
                r.insert("logLevel".into(), v.into());
            }
            if let Some(v) = api_logging {
                r.insert("apiLoggingEnabled".into(), v.into());
            }
            if let Some(v) = storm_window_ms {
                r.insert("panicStormWindowMs".into(), v.into());
            }
            if separate_log_dir {
                r.insert("logDir".into(), common::root().join("logs").to_string_lossy().into_owned().into());
            }
            let text = request.to_string();
            let answer = call(Endpoint::InitializeApplication, Arg::Str(&text));
            if answer.get("error").is_none() {
                *CURRENT.lock().unwrap() = Some(data);
            }
        }
        Op::InitRaw(text) => {
            // Any text, as long as it names no path outside the sandbox: only
            // requests without a dataDir/logDir key (all invalid or ignored).
            if !text.contains("dataDir") && !text.contains("logDir") && !text.contains("\\u") {
                call(Endpoint::InitializeApplication, Arg::Str(&text));
            }
        }
        Op::Toggle(enabled) => {
            let text = json!({ "enabled": enabled }).to_string();
            call(Endpoint::ToggleCentralizedMetrics, Arg::Str(&text));
        }
        Op::ToggleRaw(text) => drop(call(Endpoint::ToggleCentralizedMetrics, Arg::Str(&text))),
        Op::Info => drop(call(Endpoint::CentralizedMetricsInfo, Arg::None)),
        Op::Panic(message) => {
            let answer = call(Endpoint::IntendedPanic, Arg::Str(&message));
            assert_eq!(common::code(&answer), Some("panic"), "{answer}");
        }
        Op::BackgroundPanic(message) => {
            let answer = call(Endpoint::IntendedBackgroundPanic, Arg::Str(&message));
            assert!(answer.get("code").is_none_or(|c| c == "internal"), "{answer}");
        }
        Op::Flush(ms) => {
            drop(call(Endpoint::FlushPanicReports, Arg::Int(common::short_timeout(i64::from(ms)))))
        }
        Op::RemoveDataDir(dir) => {
            let _ = std::fs::remove_dir_all(data_dir(dir));
        }
        Op::CorruptConsent { dir, bytes } => {
            let _ = std::fs::write(data_dir(dir).join("centralized-metrics.json"), bytes);
        }
        Op::JunkReport { dir, name, bytes } => {
            let _ = std::fs::write(
                data_dir(dir).join("panic-reports").join(format!("{name:03}.envelope")),
                bytes,
            );
        }
    }
}

/// The current outbox has a running sender: claiming it must fail.
fn sender_alive() {
    let Some(dir) = CURRENT.lock().unwrap().clone() else { return };
    let Ok(outbox) = Outbox::open(&dir, OutboxLimits::default()) else { return };
    if outbox.claim_sender() {
        outbox.sender_stopped();
        panic!("the sender of {} is not running", dir.display());
    }
}
