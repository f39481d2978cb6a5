//! The build that ships, loaded as a host loads it: the stripped library from
//! `scripts/dist` (built with the test-only `TestPanic` export), its events
//! symbolicated offline against the split debug file with Sentry's own
//! `symbolic` (tools/symbolicate), as Sentry's server does once the debug file
//! is uploaded. The same checks run on the unstripped library of that build,
//! with the library itself as the debug file.
//!
//! These need the dist build (a release LTO build: minutes), so they are
//! ignored in the plain suite; `scripts/test-shipped` builds everything once
//! and runs them with `--run-ignored only`, setting:
//! `LIBSTATUS_LIB_DIR` (the library), `LIBSTATUS_DEBUG_FILE`,
//! `LIBSTATUS_SYMBOLICATE` (the tool) and `LIBSTATUS_SENTRY_CLI`.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{data_dir, lib, set_environment, Receiver};

fn env_path(name: &str) -> PathBuf {
    PathBuf::from(
        std::env::var_os(name).unwrap_or_else(|| panic!("{name} is not set: run scripts/test-shipped")),
    )
}

/// The debug id `sentry-cli debug-files check` prints for the debug file.
fn sentry_cli_debug_id() -> String {
    let output = Command::new(env_path("LIBSTATUS_SENTRY_CLI"))
        .args(["debug-files", "check"])
        .arg(env_path("LIBSTATUS_DEBUG_FILE"))
        .output()
        .expect("run sentry-cli");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "sentry-cli: {text}{}", String::from_utf8_lossy(&output.stderr));
    text.lines()
        .find_map(|l| l.split("Debug ID:").nth(1).map(|id| id.trim().to_owned()))
        .unwrap_or_else(|| panic!("no debug id in: {text}"))
}

/// One symbolicated frame (inline frames expanded), top first.
#[derive(Debug, Clone)]
struct Resolved {
    /// Index of the event frame (from the top) it came from.
    frame: usize,
    function: String,
    file: String,
    line: u64,
}

fn symbolicate(event: &Value) -> (String, Vec<Resolved>) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), event.to_string()).unwrap();
    let output = Command::new(env_path("LIBSTATUS_SYMBOLICATE"))
        .arg(env_path("LIBSTATUS_DEBUG_FILE"))
        .arg(file.path())
        .output()
        .expect("run tools/symbolicate");
    assert!(output.status.success(), "symbolicate: {}", String::from_utf8_lossy(&output.stderr));
    let out: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut resolved = Vec::new();
    for (i, frame) in out["frames"].as_array().unwrap().iter().enumerate() {
        let inline = frame["inline"].as_array().unwrap();
        assert!(!inline.is_empty(), "frame {i} did not symbolicate: {frame}");
        for f in inline {
            resolved.push(Resolved {
                frame: i,
                function: f["function"].as_str().unwrap_or("").to_owned(),
                file: f["file"].as_str().unwrap_or("").to_owned(),
                line: f["line"].as_u64().unwrap_or(0),
            });
        }
    }
    (out["debug_id"].as_str().unwrap().to_owned(), resolved)
}

/// std's, core's and alloc's sources (remapped to /rustc/<commit>/library).
fn is_std(frame: &Resolved) -> bool {
    frame.file.starts_with("/rustc/")
        || frame.file.contains("library/core/")
        || frame.file.contains("library/std/")
}

/// What must never be above the site: the hook, the capture, std's panic
/// entry points and the helpers behind unwrap/expect/indexing.
const MACHINERY: &[&str] = &[
    "panicking",
    "begin_panic",
    "rust_begin_unwind",
    "panic_with_hook",
    "__rust_end_short_backtrace",
    "unwrap_failed",
    "expect_failed",
    "panic_bounds_check",
    "panic_fmt",
    "backtrace::backtrace",
    "status::panics::capture",
    "status::panics::record",
    "status::panics::install_hook",
    "status::panics::panic_intended",
];

struct Expect {
    marker: String,
    /// In order, top down: the site's function, then the callers that must follow.
    chain: Vec<&'static str>,
    ty: &'static str,
}

fn check_event(event: &Value, expect: &Expect, cli_debug_id: &str) {
    let value = event["exception"]["values"][0]["value"].as_str().unwrap_or("");
    let image = &event["debug_meta"]["images"][0];
    assert_eq!(event["debug_meta"]["images"].as_array().unwrap().len(), 1, "only our image: {event}");
    assert_eq!(image["type"], "elf", "{image}");
    assert_eq!(image["code_file"], "libstatus.so", "{image}");
    assert_eq!(image["debug_id"], cli_debug_id, "debug id in debug_meta vs sentry-cli: {image}");
    for key in ["code_id", "image_addr"] {
        assert!(image[key].as_str().is_some_and(|s| !s.is_empty()), "{key}: {image}");
    }
    assert!(image["image_size"].as_u64().is_some_and(|s| s > 0), "{image}");
    assert_eq!(event["exception"]["values"][0]["type"], expect.ty, "{value}");

    let frames = event["exception"]["values"][0]["stacktrace"]["frames"].as_array().unwrap();
    let image_addr =
        u64::from_str_radix(image["image_addr"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let image_end = image_addr + image["image_size"].as_u64().unwrap();
    for f in frames {
        let addr = u64::from_str_radix(f["instruction_addr"].as_str().unwrap().trim_start_matches("0x"), 16)
            .unwrap();
        assert!((image_addr..image_end).contains(&addr), "a frame outside our image: {f}");
        assert!(f.get("function").is_none(), "names are the server's job: {f}");
    }

    let (debug_id, resolved) = symbolicate(event);
    assert_eq!(debug_id, cli_debug_id, "symbolic and sentry-cli agree on the debug file's id");
    let described = resolved
        .iter()
        .map(|r| format!("#{} {} ({}:{})", r.frame, r.function, r.file, r.line))
        .collect::<Vec<_>>();
    let top =
        resolved.iter().position(|r| !is_std(r)).unwrap_or_else(|| panic!("only std frames: {described:#?}"));
    // Above the site: only std helpers inlined into the site's own frame.
    for r in &resolved[..top] {
        assert_eq!(r.frame, 0, "a whole frame above the panic site: {described:#?}");
        for m in MACHINERY {
            assert!(!r.function.contains(m), "panic machinery above the site ({m}): {described:#?}");
        }
    }
    let site = &resolved[top];
    assert_eq!(site.function, expect.chain[0], "top frame ({}): {described:#?}", expect.marker);
    let location = event["extra"]["panic.location"].as_str().unwrap();
    let mut parts = location.rsplitn(3, ':');
    let (_column, line, file) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    assert_eq!(site.line.to_string(), line, "the site's line: {location} vs {described:#?}");
    assert!(site.file.ends_with(file), "the site's file: {location} vs {}", site.file);
    let mut from = top;
    for want in &expect.chain {
        let at = resolved[from..]
            .iter()
            .position(|r| r.function.starts_with(want))
            .unwrap_or_else(|| panic!("{want} missing below #{from}: {described:#?}"));
        from += at;
    }
    for r in &resolved[top..] {
        for m in ["status::panics::capture", "status::panics::record", "backtrace::backtrace"] {
            assert!(!r.function.contains(m), "{m} in the stack: {described:#?}");
        }
    }
}

#[test]
#[ignore = "needs the dist build: scripts/test-shipped"]
fn shipped_events_symbolicate_to_the_panic_site() {
    if !support::isolated() {
        return;
    }
    let cli_debug_id = sentry_cli_debug_id();
    let receiver = Receiver::start();
    set_environment("ci-main");
    let dir = data_dir();
    lib().init(json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn()}));
    lib().opt_in(true);

    let guard = "status::guard::run";
    let endpoint = "status::api::intended_panic";
    let mut expected = vec![
        Expect { marker: "shipped-intended".into(), chain: vec![endpoint, guard], ty: "IntendedPanic" },
        Expect {
            marker: "shipped-background".into(),
            chain: vec![
                "status::api::intended_background_panic::{{closure}}",
                "status::reporting::thread::spawn_thread",
            ],
            ty: "IntendedPanic",
        },
    ];
    lib().intended_panic("shipped-intended");
    assert_eq!(lib().call("IntendedBackgroundPanic", "shipped-background"), r#"{"error":""}"#);
    // The message each kind's event carries (unwrap's and indexing's are std's own).
    let kinds = [
        ("format", "shipped-kind-0"),
        ("unwrap_none", "called `Option::unwrap()` on a `None` value"),
        ("expect_err", "shipped-kind-2"),
        ("index", "index out of bounds"),
        ("any", "panic with a non-string payload"),
    ];
    for (kind, (site, marker)) in kinds.into_iter().enumerate() {
        let answer = lib().test_panic(kind as i32, &format!("shipped-kind-{kind}"));
        assert_eq!(answer["code"], "panic", "{answer}");
        let marker = marker.to_owned();
        let site: &'static str = Box::leak(format!("status::panics::test_kinds::{site}").into_boxed_str());
        expected.push(Expect { marker, chain: vec![site, endpoint, guard], ty: "panic" });
    }
    assert_eq!(lib().flush(20_000), 0);
    let events = receiver.delivered_events();
    assert_eq!(events.len(), expected.len());
    for expect in &expected {
        let event = events
            .iter()
            .find(|e| {
                let value = e["exception"]["values"][0]["value"].as_str().unwrap_or("");
                value.contains(&expect.marker)
            })
            .unwrap_or_else(|| panic!("no event for {}", expect.marker));
        check_event(event, expect, &cli_debug_id);
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
#[ignore = "needs the dist build: scripts/test-shipped"]
fn the_first_panic_costs_a_few_megabytes_at_most() {
    if !support::isolated() {
        return;
    }
    let receiver = Receiver::start();
    set_environment("ci-main");
    let dir = data_dir();
    lib().init(json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn()}));
    lib().opt_in(true);
    // Let the warm-up thread finish (calibration, our image's identity).
    std::thread::sleep(Duration::from_millis(500));
    let before = rss_kib();
    let started = Instant::now();
    lib().intended_panic("first panic");
    let elapsed = started.elapsed();
    assert_eq!(lib().flush(10_000), 0);
    let after = rss_kib();
    let grown = after.saturating_sub(before);
    println!(
        "RSS after init {before} KiB, after the first panic {after} KiB: +{grown} KiB; call {elapsed:?}"
    );
    assert_eq!(receiver.delivered_events().len(), 1);
    let mut calls: Vec<Duration> = (0..50)
        .map(|i| {
            let started = Instant::now();
            lib().intended_panic(&format!("later panic {i}"));
            started.elapsed()
        })
        .collect();
    calls.sort();
    println!("the next 50 panicking calls: median {:?}, slowest {:?}", calls[25], calls[49]);
    // In-process symbolication used to cost about 62 MB here.
    assert!(grown < 8 * 1024, "resident memory grew by {grown} KiB at the first panic");
}
