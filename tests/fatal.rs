//! Fatal errors (issue 25), through the built library in a C host run as a
//! child process (tests/hosts/fatal_host.c): each fatal kind kills the host,
//! leaves a report in the dataDir, and at the next start (this process
//! initialising the library with that dataDir) the report arrives at the
//! loopback receiver as a fatal event whose top frame, symbolicated with the
//! build's debug information, is the function that failed: `addr2line` on
//! the unstripped debug build in the plain suite; `scripts/test-shipped` runs
//! this file again on the shipped (stripped, LTO) library with
//! `tools/symbolicate` and the split debug file. Also: the option
//! off and an opted-out user (no handler, nothing written), a host's own
//! handler installed first (it keeps its faults, and gets ours after the
//! report), and a Go library in the process (its nil dereference is still
//! its own recovered panic).
// Signals and the POSIX handler: Windows has neither (src/fatal/unsupported.rs).
#![cfg(unix)]

mod support;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};
use support::{closed_port, data_dir, dsn_for, lib, set_environment, Receiver};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const REPORT: &str = "fatal-report.txt";

fn run_checked(cmd: &mut Command) -> String {
    let output = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(output.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The C host, compiled once per test process.
fn host() -> &'static Path {
    static HOST: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = HOST.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fatal_host");
        run_checked(
            Command::new("cc")
                .args(["-O1", "-g", "-Wall", "-Werror", "-o"])
                .arg(&path)
                .arg(format!("{ROOT}/tests/hosts/fatal_host.c"))
                .arg("-ldl"),
        );
        (dir, path)
    });
    path
}

struct HostRun {
    output: Output,
    stdout: String,
    stderr: String,
}

impl HostRun {
    fn signal(&self) -> Option<i32> {
        self.output.status.signal()
    }
    fn code(&self) -> Option<i32> {
        self.output.status.code()
    }
    /// The init answer the host printed (after its opt-in or opt-out).
    fn answer(&self) -> Value {
        let line = self.stdout.lines().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("{self}"));
        serde_json::from_str(line).unwrap()
    }
}

impl std::fmt::Display for HostRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "status {:?}\nstdout:\n{}\nstderr:\n{}", self.output.status, self.stdout, self.stderr)
    }
}

/// Runs the host on `dir` (a DSN nobody listens on: the crash's process sends nothing).
fn run_host(dir: &Path, action: &str, env: &[(&str, &str)]) -> HostRun {
    let output = Command::new(host())
        .arg(support::so_path())
        .arg(dir)
        .arg(dsn_for(closed_port()))
        .arg(action)
        .env("SENTRY_ENVIRONMENT", "ci-main")
        .envs(env.iter().copied())
        .output()
        .expect("run the host");
    HostRun {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        output,
    }
}

fn report(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join(REPORT)).ok()
}

/// The next start: this process initialises the library with `dir`; answers
/// the event that reached the receiver.
fn next_start(dir: &Path) -> Value {
    set_environment("ci-main");
    let receiver = Receiver::start();
    let answer = lib().init(json!({"dataDir": dir, "sentryDSN": receiver.dsn()}));
    assert_eq!(answer["panicReporting"]["active"], true, "{answer}");
    assert_eq!(answer["panicReporting"]["fatalErrors"], false, "not asked for at this start: {answer}");
    assert_eq!(receiver.wait_for_requests(1, Duration::from_secs(30)), 1, "no report arrived");
    assert!(report(dir).is_none(), "the report is taken once: {:?}", report(dir));
    receiver.delivered_events().into_iter().next().expect("an event")
}

fn hex(value: &Value) -> u64 {
    u64::from_str_radix(value.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

/// (function, file) of every frame of the event, top first, each with its
/// inline frames innermost first: with `tools/symbolicate` (Sentry's
/// `symbolic`, as the server does) when the shipped suite names it and the
/// debug file (scripts/test-shipped), else with `addr2line` on the
/// unstripped debug build (or on `LIBSTATUS_DEBUG_FILE`). `relative` are the frames' image-relative
/// lookup addresses (top as is, callers' return addresses minus one).
fn symbolicate(event: &Value, relative: &[u64]) -> Vec<Vec<(String, String)>> {
    if let (Some(tool), Some(debug_file)) =
        (std::env::var_os("LIBSTATUS_SYMBOLICATE"), std::env::var_os("LIBSTATUS_DEBUG_FILE"))
    {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), event.to_string()).unwrap();
        let out: Value =
            serde_json::from_str(&run_checked(Command::new(tool).arg(debug_file).arg(file.path()))).unwrap();
        assert_eq!(out["debug_id"], out["image_debug_id"], "the event's image is the debug file's: {out}");
        let frames = out["frames"].as_array().unwrap();
        return frames
            .iter()
            .map(|frame| {
                let inline = frame["inline"].as_array().unwrap();
                let field = |f: &Value, k: &str| f[k].as_str().unwrap_or("").to_owned();
                inline.iter().map(|f| (field(f, "function"), field(f, "file"))).collect()
            })
            .collect();
    }
    let debug_file = std::env::var_os("LIBSTATUS_DEBUG_FILE").map_or_else(support::so_path, PathBuf::from);
    relative
        .iter()
        .map(|addr| {
            let out = run_checked(
                Command::new("addr2line")
                    .args(["-f", "-C", "-i", "-e"])
                    .arg(&debug_file)
                    .arg(format!("{addr:#x}")),
            );
            let lines: Vec<&str> = out.lines().collect();
            lines
                .chunks(2)
                .filter(|c| c.len() == 2 && c[0] != "??")
                .map(|c| (c[0].to_owned(), c[1].to_owned()))
                .collect()
        })
        .collect()
}

fn is_std(file: &str) -> bool {
    file.starts_with("/rustc/")
        || file.contains("library/core/")
        || file.contains("library/std/")
        || file.contains("library/alloc/")
        || file.contains("/.cargo/registry/")
}

/// Checks a fatal event: type, level, mechanism, image, frames in the image;
/// answers the first function (top down) that is not std's.
fn check_event(event: &Value, ty: &str) -> String {
    assert_eq!(event["level"], "fatal", "{event}");
    assert_eq!(event["platform"], "native", "{event}");
    let exception = &event["exception"]["values"][0];
    assert_eq!(exception["type"], ty, "{event}");
    assert!(exception["value"].as_str().is_some_and(|v| !v.is_empty()), "{event}");
    assert_eq!(exception["mechanism"]["handled"], false, "{event}");
    assert_eq!(exception["mechanism"]["type"], "signalhandler", "{event}");
    assert_eq!(
        exception["mechanism"]["description"],
        "written by the libstatus fatal-error handler, sent at the next start",
        "{event}"
    );
    assert_eq!(exception["mechanism"]["meta"]["signal"]["name"], ty, "{event}");
    assert_eq!(event["tags"]["fatal"], "true", "{event}");
    let images = event["debug_meta"]["images"].as_array().expect("debug_meta");
    assert_eq!(images.len(), 1, "{event}");
    let image = &images[0];
    assert_eq!(image["code_file"], "libstatus.so", "{image}");
    assert!(image["debug_id"].as_str().is_some_and(|s| !s.is_empty()), "{image}");
    let base = hex(&image["image_addr"]);
    let end = base + image["image_size"].as_u64().unwrap();
    let frames = exception["stacktrace"]["frames"].as_array().expect("frames");
    assert!(!frames.is_empty());
    let mut relative = Vec::new();
    for (i, frame) in frames.iter().rev().enumerate() {
        let addr = hex(&frame["instruction_addr"]);
        assert!((base..end).contains(&addr), "a frame outside our image: {frame}");
        assert!(frame.get("function").is_none(), "names are the server's job: {frame}");
        // The top frame's address is looked up as is; the callers' are return addresses.
        relative.push(addr - base - u64::from(i > 0));
    }
    let mut described = Vec::new();
    for (i, frame) in symbolicate(event, &relative).into_iter().enumerate() {
        for (function, file) in frame {
            if !is_std(&file) {
                return function;
            }
            described.push(format!("#{i} {function} ({file})"));
        }
    }
    panic!("only std frames: {described:#?}")
}

/// One fatal kind end to end: the host dies of `signal`, a report is on
/// disk, and at the next start it arrives with the right type and top frame.
fn fatal_end_to_end(action: &str, signal: i32, ty: &str, top: &[&str]) -> Value {
    let dir = data_dir();
    let run = run_host(dir.path(), action, &[]);
    assert_eq!(run.answer()["panicReporting"]["fatalErrors"], true, "{run}");
    assert!(run.stdout.contains("sigsegv handler: other"), "{run}");
    assert_eq!(run.signal(), Some(signal), "{run}");
    let text = report(dir.path()).unwrap_or_default();
    assert!(text.starts_with("libstatus-fatal 1\n") && text.ends_with("end\n"), "{text}\n{run}");
    assert!(text.contains(&format!("signal {signal}\n")), "{text}");
    let event = next_start(dir.path());
    let function = check_event(&event, ty);
    assert!(
        top.iter().any(|t| function.contains(t)),
        "top frame {function}, expected one of {top:?}: {event}"
    );
    event
}

#[test]
fn a_stack_overflow_is_reported_at_the_next_start() {
    if !support::isolated() {
        return;
    }
    let event = fatal_end_to_end("kind:100", libc::SIGSEGV, "SIGSEGV", &["test_kinds::stack_overflow"]);
    assert_eq!(event["tags"]["endpoint"], "IntendedPanic", "{event}");
}

#[test]
fn a_panic_in_a_drop_during_unwinding_is_reported_at_the_next_start() {
    if !support::isolated() {
        return;
    }
    let event = fatal_end_to_end(
        "kind:101",
        libc::SIGABRT,
        "SIGABRT",
        &["test_kinds::drop_during_unwind", "PanicsOnDrop"],
    );
    let value = event["exception"]["values"][0]["value"].as_str().unwrap();
    assert!(value.contains("a Drop panicked during unwinding"), "{value}");
}

#[test]
fn a_bad_pointer_read_is_reported_at_the_next_start() {
    if !support::isolated() {
        return;
    }
    let event = fatal_end_to_end("kind:102", libc::SIGSEGV, "SIGSEGV", &["test_kinds::bad_pointer"]);
    let value = event["exception"]["values"][0]["value"].as_str().unwrap();
    assert!(value.contains("at 0x10"), "{value}");
}

#[test]
fn abort_and_allocation_failure_are_reported_at_the_next_start() {
    if !support::isolated() {
        return;
    }
    fatal_end_to_end("kind:103", libc::SIGABRT, "SIGABRT", &["test_kinds::abort"]);
    fatal_end_to_end("kind:104", libc::SIGABRT, "SIGABRT", &["test_kinds::alloc"]);
}

#[test]
fn a_dangling_pointer_passed_to_a_real_export_is_reported_at_the_next_start() {
    if !support::isolated() {
        return;
    }
    let event = fatal_end_to_end(
        "dangling",
        libc::SIGSEGV,
        "SIGSEGV",
        &["status::guard", "ToggleCentralizedMetrics"],
    );
    assert_eq!(event["tags"]["endpoint"], "ToggleCentralizedMetrics", "{event}");
}

#[test]
fn off_by_default_and_for_opted_out_users_no_handler_and_nothing_written() {
    if !support::isolated() {
        return;
    }
    for env in [&[("FATAL_OPTION", "0")][..], &[("FATAL_OPT_IN", "0")][..]] {
        let dir = data_dir();
        let run = run_host(dir.path(), "kind:102", env);
        assert_eq!(run.answer()["panicReporting"]["fatalErrors"], false, "{env:?}: {run}");
        assert!(run.stdout.contains("sigsegv handler: default"), "{env:?}: a handler was installed: {run}");
        assert_eq!(run.signal(), Some(libc::SIGSEGV), "{run}");
        assert_eq!(report(dir.path()), None, "{env:?}: a report was written");
    }
}

#[test]
fn an_opt_out_stops_writing_and_drops_a_report_not_yet_sent() {
    if !support::isolated() {
        return;
    }
    // Opted out after the handler was installed: it stays, writes nothing.
    let dir = data_dir();
    let run = run_host(dir.path(), "kind:102", &[("FATAL_OPT_OUT_LATER", "1")]);
    assert_eq!(run.answer()["panicReporting"]["fatalErrors"], true, "{run}");
    assert!(run.stdout.contains("sigsegv handler: other"), "{run}");
    assert_eq!(run.signal(), Some(libc::SIGSEGV), "{run}");
    assert_eq!(report(dir.path()).as_deref(), Some(""), "written after an opt-out");

    // Opted in at the crash, out before the next start: removed, not sent.
    let dir = data_dir();
    let run = run_host(dir.path(), "kind:102", &[]);
    assert_eq!(run.signal(), Some(libc::SIGSEGV), "{run}");
    assert!(report(dir.path()).is_some_and(|r| r.contains("signal 11")), "{run}");
    std::fs::write(dir.path().join("centralized-metrics.json"), r#"{"enabled":false,"userConfirmed":true}"#)
        .unwrap();
    set_environment("ci-main");
    let receiver = Receiver::start();
    let answer = lib().init(json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn()}));
    assert_eq!(answer["panicReporting"]["active"], false, "{answer}");
    assert_eq!(report(dir.path()), None, "the report of an opted-out user is removed");
    assert_eq!(support::outbox_files(dir.path()), 0);
    assert_eq!(receiver.wait_for_requests(1, Duration::from_millis(500)), 0);
}

#[test]
fn a_host_handler_installed_first_keeps_its_faults_and_gets_ours_after_the_report() {
    if !support::isolated() {
        return;
    }
    let handler = [("FATAL_HOST_HANDLER", "1")];
    // The host's own fault: straight to its handler, nothing written.
    let dir = data_dir();
    let run = run_host(dir.path(), "host-segv", &handler);
    assert_eq!(run.answer()["panicReporting"]["fatalErrors"], true, "{run}");
    assert!(run.stdout.contains("sigsegv handler: other"), "{run}");
    assert_eq!(run.code(), Some(42), "{run}");
    assert!(run.stderr.contains("host handler: signal 11"), "{run}");
    assert_eq!(report(dir.path()).as_deref(), Some(""), "the host's fault is not ours to write");

    // The library's faults: written, then the host's handler gets them.
    for (action, signal) in
        [("kind:102", libc::SIGSEGV), ("kind:103", libc::SIGABRT), ("dangling", libc::SIGSEGV)]
    {
        let dir = data_dir();
        let run = run_host(dir.path(), action, &handler);
        assert_eq!(run.code(), Some(42), "{action}: {run}");
        assert!(run.stderr.contains(&format!("host handler: signal {signal}")), "{action}: {run}");
        let text = report(dir.path()).unwrap_or_default();
        assert!(text.contains(&format!("signal {signal}\n")) && text.ends_with("end\n"), "{action}: {text}");
    }
}

/// The Go peer built with its own build.sh (needs Debian's golang-go).
fn go_peer() -> &'static Path {
    static PEER: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = PEER.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let build = Path::new(ROOT).join("../shared/peers/go-cshared/build.sh");
        let build =
            if build.exists() { build } else { PathBuf::from("/work/shared/peers/go-cshared/build.sh") };
        run_checked(Command::new("bash").arg(&build).arg(dir.path()));
        let path = dir.path().join("libstatusgo-shape.so");
        (dir, path)
    });
    path
}

#[test]
fn a_go_library_in_the_process_still_recovers_its_own_nil_dereference() {
    if !support::isolated() {
        return;
    }
    let go = go_peer().to_str().unwrap().to_owned();
    let dir = data_dir();
    let run = run_host(dir.path(), "go", &[("FATAL_GO", &go)]);
    assert_eq!(run.answer()["panicReporting"]["fatalErrors"], true, "{run}");
    assert_eq!(run.code(), Some(0), "{run}");
    assert!(
        run.stdout.contains("go: {\"error\":\"recovered: runtime error: invalid memory address"),
        "{run}"
    );
    assert_eq!(report(dir.path()).as_deref(), Some(""), "Go's fault is not ours to write");

    // With Go's handler behind ours, the library's own fault is still written.
    let dir = data_dir();
    let run = run_host(dir.path(), "go", &[("FATAL_GO", &go), ("FATAL_THEN_KIND", "102")]);
    assert!(run.stdout.contains("recovered"), "{run}");
    assert_eq!(run.signal(), Some(libc::SIGSEGV), "{run}");
    let text = report(dir.path()).unwrap_or_default();
    assert!(text.contains("signal 11\n") && text.ends_with("end\n"), "{text}\n{run}");
}
