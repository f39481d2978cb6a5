//! A host-style stress run over the C ABI: the library's exports (linked as
//! an rlib, so that a sanitizer instruments the library and its host alike),
//! called as a C host calls them (NUL-terminated requests, every answer copied
//! and released with `Free`), with a Sentry envelope receiver on loopback.
//!
//! - `stress asan [SECONDS] [THREADS]` (`scripts/asan`, built with
//!   AddressSanitizer): THREADS (8) threads of mixed calls for SECONDS (20):
//!   inits on two dataDirs, toggles, info, panics, background panics,
//!   flushes, malformed requests.
//! - `stress soak [CALLS] [SAMPLE_EVERY]` (`scripts/soak`, release): CALLS
//!   (1,000,000) mixed calls on one thread, resident memory read from
//!   `/proc/self/statm` every SAMPLE_EVERY (10,000) calls; prints the samples
//!   and the slope after warm-up (the first 10 %).
//!
//! Every answer must be a JSON object whose first key is `error` when it
//! failed; the run exits non-zero otherwise, or when the last report is not
//! delivered at the end (the sender is alive).

#[path = "../tests/support/mod.rs"]
mod support;

use std::ffi::{c_char, CStr, CString};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use status::ffi;
use support::Receiver;

/// xorshift64*: a small, seeded source of choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Copies an answer, releases it with the library's `Free`, and checks the
/// answer rules. Returns the answer's `code` ("" on success).
fn take(ptr: *mut c_char) -> String {
    assert!(!ptr.is_null(), "the library answered NULL");
    // SAFETY: the library answers a NUL-terminated string it allocated.
    let answer = unsafe { CStr::from_ptr(ptr) }.to_str().expect("the answer is UTF-8").to_owned();
    // SAFETY: an answer of the library, released once, with its own `Free`.
    unsafe { ffi::Free(ptr.cast()) };
    let value: Value = serde_json::from_str(&answer).unwrap_or_else(|e| panic!("not JSON ({e}): {answer}"));
    assert!(value.is_object(), "not an object: {answer}");
    match value.get("error").and_then(Value::as_str) {
        Some(e) if !e.is_empty() => {
            assert!(answer.starts_with(r#"{"error":""#), "`error` is not first: {answer}");
            value["code"].as_str().expect("a failure has a code").to_owned()
        }
        _ => String::new(),
    }
}

fn with_c(text: &str, f: extern "C" fn(*const c_char) -> *mut c_char) -> String {
    let c = CString::new(text.replace('\0', " ")).expect("no NUL");
    take(f(c.as_ptr()))
}

struct Host {
    dirs: [PathBuf; 2],
    dsn: String,
    storm_window_ms: u64,
}

#[derive(Default)]
struct Counts {
    calls: AtomicU64,
    failures: AtomicU64,
}

/// One random call; `rare` scales down the costly ones (inits write and fsync
/// files; toggles fsync the consent file).
fn one_call(host: &Host, rng: &mut Rng, counts: &Counts, rare: u64) {
    let roll = rng.below(1000 * rare);
    let code = if roll < 2 {
        let dir = &host.dirs[rng.below(2) as usize];
        let request = json!({
            "dataDir": dir, "sentryDSN": host.dsn, "panicStormWindowMs": host.storm_window_ms,
            "logEnabled": rng.below(2) == 0, "apiLoggingEnabled": rng.below(4) == 0,
        });
        with_c(&request.to_string(), ffi::InitializeApplication)
    } else if roll < 6 {
        let enabled = rng.below(4) != 0;
        with_c(&json!({ "enabled": enabled }).to_string(), ffi::ToggleCentralizedMetrics)
    } else if roll < 6 + 10 * rare {
        let message = format!("background panic {}", rng.below(8));
        with_c(&message, ffi::IntendedBackgroundPanic)
    } else {
        match rng.below(20) {
            0..=7 => {
                // A few sites and messages, some carrying sensitive values to mask.
                let message = match rng.below(4) {
                    0 => format!(r#"{{"password":"hunter{}","mnemonic":"a b c"}}"#, rng.below(100)),
                    n => format!("stress panic {n}-{}", rng.below(64)),
                };
                with_c(&message, ffi::IntendedPanic)
            }
            8..=12 => take(ffi::CentralizedMetricsInfo()),
            13..=14 => take(ffi::FlushPanicReports(rng.below(3) as i32)),
            15 => with_c("{not json", ffi::InitializeApplication),
            16 => with_c(r#"{"enabled":"yes"}"#, ffi::ToggleCentralizedMetrics),
            17 => take(ffi::FlushPanicReports(-1)),
            18 => take(ffi::InitializeApplication(std::ptr::null())),
            _ => {
                // SAFETY: `Free` accepts NULL.
                unsafe { ffi::Free(std::ptr::null_mut()) };
                String::new()
            }
        }
    };
    counts.calls.fetch_add(1, Ordering::Relaxed);
    if !code.is_empty() {
        counts.failures.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(unix)]
fn resident_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    pages * page / 1024
}

/// (Windows: not measured; the example's memory figures are Linux's.)
#[cfg(not(unix))]
fn resident_kib() -> u64 {
    0
}

/// Least-squares slope of `(x, y)` points.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let num: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let den: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}

fn arg<T: std::str::FromStr>(n: usize, default: T) -> T {
    std::env::args().nth(n).and_then(|a| a.parse().ok()).unwrap_or(default)
}

fn main() {
    // The library's panic hook chains to the host's: this one keeps Rust's
    // default hook (a line or, with RUST_BACKTRACE, a backtrace per panic on
    // stderr) out of a run that panics on purpose all the
    // time.
    // Any other panic (an answer that broke the rules) is printed.
    std::panic::set_hook(Box::new(|info| {
        // `IntendedPanic`'s own (`panic_intended` is `#[track_caller]`).
        if !info.location().is_some_and(|l| l.file().ends_with("src/api/mod.rs")) {
            eprintln!("{info}");
        }
    }));
    std::env::set_var("SENTRY_ENVIRONMENT", "ci-main");
    let mode = std::env::args().nth(1).unwrap_or_default();
    let receiver = Receiver::start();
    let base = support::data_dir();
    let host = Arc::new(Host {
        dirs: [base.path().join("account-a"), base.path().join("account-b")],
        dsn: receiver.dsn(),
        storm_window_ms: if mode == "soak" { 60_000 } else { 1_000 },
    });
    let init =
        json!({"dataDir": host.dirs[0], "sentryDSN": host.dsn, "panicStormWindowMs": host.storm_window_ms});
    assert_eq!(with_c(&init.to_string(), ffi::InitializeApplication), "");
    assert_eq!(with_c(r#"{"enabled":true}"#, ffi::ToggleCentralizedMetrics), "");
    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    match mode.as_str() {
        "asan" => asan(&host, &counts, arg(2, 20), arg(3, 8)),
        "soak" => soak(&host, &counts, arg(2, 1_000_000), arg(3, 10_000)),
        _ => {
            eprintln!("usage: stress asan [SECONDS] [THREADS] | stress soak [CALLS] [SAMPLE_EVERY]");
            std::process::exit(2);
        }
    }
    let elapsed = started.elapsed();
    // The sender is alive: after everything, a last report is delivered (a
    // new storm window starts storm control afresh: the run used the quota).
    let last_init = json!({"dataDir": host.dirs[0], "sentryDSN": host.dsn, "panicStormWindowMs": 100});
    assert_eq!(with_c(&last_init.to_string(), ffi::InitializeApplication), "");
    assert_eq!(with_c(r#"{"enabled":true}"#, ffi::ToggleCentralizedMetrics), "");
    with_c("the last report", ffi::IntendedPanic);
    let pending = take(ffi::FlushPanicReports(30_000));
    let delivered = receiver.delivered_events();
    let last = delivered.iter().any(|e| e["exception"]["values"][0]["value"] == "the last report");
    println!(
        "calls: {} in {:.1} s ({:.0}/s), error answers: {}, requests received: {}, events delivered: {}, pending at the end: {}",
        counts.calls.load(Ordering::Relaxed),
        elapsed.as_secs_f64(),
        counts.calls.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64(),
        counts.failures.load(Ordering::Relaxed),
        receiver.request_count(),
        delivered.len(),
        support::outbox_files(&host.dirs[0]),
    );
    assert_eq!(pending, "", "flush answered an error");
    assert!(last, "the last report was not delivered: the sender is dead or stuck");
    println!("OK");
}

#[allow(clippy::disallowed_methods)] // the host's own threads
fn asan(host: &Arc<Host>, counts: &Arc<Counts>, seconds: u64, threads: u64) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (host, counts) = (host.clone(), counts.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (t + 1));
                while Instant::now() < deadline {
                    one_call(&host, &mut rng, &counts, 1);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("a host thread panicked: an answer broke the rules");
    }
}

fn soak(host: &Host, counts: &Counts, calls: u64, every: u64) {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut samples: Vec<(u64, u64)> = vec![(0, resident_kib())];
    for i in 1..=calls {
        one_call(host, &mut rng, counts, 10);
        if i % every == 0 {
            samples.push((i, resident_kib()));
        }
    }
    let report_every = (calls / 10).max(every);
    println!("    calls   RSS (KiB)");
    for (i, kib) in samples.iter().filter(|(i, _)| i % report_every == 0) {
        println!("{i:>9} {kib:>11}");
    }
    let warm: Vec<(f64, f64)> =
        samples.iter().filter(|(i, _)| *i >= calls / 10).map(|(i, kib)| (*i as f64, *kib as f64)).collect();
    let per_call = slope(&warm);
    let first = warm.first().map_or(0.0, |p| p.1);
    let last = warm.last().map_or(0.0, |p| p.1);
    let peak = samples.iter().map(|s| s.1).max().unwrap_or(0);
    println!(
        "RSS after warm-up ({} samples from call {}): {first:.0} -> {last:.0} KiB, peak {peak} KiB, slope {:.3} KiB per 100,000 calls ({:.4} bytes per call)",
        warm.len(),
        calls / 10,
        per_call * 100_000.0,
        per_call * 1024.0
    );
}
