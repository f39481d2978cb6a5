//! The host's `RUST_BACKTRACE` changes nothing: a panic the library catches is
//! not printed by std's default hook (nor its raw, unredacted message), no
//! backtrace is symbolicated on the caller's thread, and the library logs the
//! panic itself: one redacted line on stderr only when `logToStderr` is set.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{data_dir, lib};

const SECRET: &str = "hunter2";

/// The host: a child process of this test binary, with the given environment.
fn host(rust_backtrace: Option<&str>) -> (String, String) {
    let mut command = support::self_command();
    command
        .args(["--exact", "host_helper", "--nocapture", "--test-threads=1"])
        .env("LIBSTATUS_BACKTRACE_HOST", "1");
    match rust_backtrace {
        Some(value) => command.env("RUST_BACKTRACE", value),
        None => command.env_remove("RUST_BACKTRACE"),
    };
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success() && stdout.contains("HOST-DONE"), "{stdout}\n{stderr}");
    (stdout, stderr)
}

fn figure(stdout: &str, name: &str) -> Duration {
    let tag = format!("{name}=");
    let value = stdout.split(tag.as_str()).nth(1).and_then(|rest| rest.split_whitespace().next());
    Duration::from_micros(value.unwrap_or_else(|| panic!("no {name} in {stdout}")).parse().unwrap())
}

#[test]
fn rust_backtrace_in_the_host_changes_nothing() {
    if !support::isolated() {
        return;
    }
    let (full_out, full_err) = host(Some("full"));
    let (plain_out, plain_err) = host(None);
    for stderr in [&full_err, &plain_err] {
        assert!(!stderr.contains(SECRET), "the raw message reached stderr:\n{stderr}");
        assert!(!stderr.contains("quiet-marker"), "a panic was printed without logToStderr:\n{stderr}");
        assert!(!stderr.contains("panicked at"), "std's default hook printed a caught panic:\n{stderr}");
        assert!(!stderr.contains("stack backtrace"), "a backtrace was printed:\n{stderr}");
        let logged: Vec<&str> = stderr.lines().filter(|l| l.contains("loud-marker")).collect();
        assert_eq!(logged.len(), 1, "one line with logToStderr:\n{stderr}");
        assert!(logged[0].contains(r#"{"password":"***"}"#), "{}", logged[0]);
    }
    let (full, plain) = (figure(&full_out, "slowest_us"), figure(&plain_out, "slowest_us"));
    println!("slowest panicking call: {full:?} with RUST_BACKTRACE=full, {plain:?} without");
    // Does not block (it used to take about 1.5 s in a debug build): a
    // generous bound, not a benchmark.
    assert!(full < Duration::from_millis(500), "{full:?}");
}

#[test]
fn host_helper() {
    if std::env::var_os("LIBSTATUS_BACKTRACE_HOST").is_none() {
        return;
    }
    let dir = data_dir();
    let receiver = support::Receiver::start();
    support::set_environment("ci-main");
    let init = |to_stderr: bool| {
        lib().init(json!({
            "dataDir": dir.path(), "sentryDSN": receiver.dsn(), "logEnabled": true,
            "logLevel": "info", "logToStderr": to_stderr
        }))
    };
    init(false);
    lib().opt_in(true);
    std::thread::sleep(Duration::from_millis(300)); // the warm-up thread
    let mut slowest = Duration::ZERO;
    for i in 0..3 {
        let started = Instant::now();
        let answer = lib().intended_panic(&format!(r#"quiet-marker {i} {{"password":"{SECRET}"}}"#));
        slowest = slowest.max(started.elapsed());
        assert_eq!(answer["code"], "panic");
        assert_eq!(lib().call("IntendedBackgroundPanic", "quiet-marker background"), r#"{"error":""}"#);
    }
    init(true);
    let started = Instant::now();
    lib().intended_panic(&format!(r#"loud-marker {{"password":"{SECRET}"}}"#));
    slowest = slowest.max(started.elapsed());
    assert_eq!(lib().flush(10_000), 0);
    // The panic log's thread writes the line: give it a moment.
    std::thread::sleep(Duration::from_millis(300));
    let log = std::fs::read_to_string(dir.path().join("status.log")).unwrap();
    assert!(log.contains("quiet-marker") && log.contains("loud-marker") && !log.contains(SECRET), "{log}");
    assert!(log.contains("[stack in "), "the stack is in status.log: {log}");
    println!("slowest_us={}", slowest.as_micros());
    println!("HOST-DONE");
}
