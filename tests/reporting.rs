//! Panic reports as they arrive over the wire at a loopback envelope receiver:
//! what an event holds, and when nothing is sent at all.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};
use support::{data_dir, lib, set_environment, Receiver, KEY};

/// Initialises with the receiver's DSN in `environment` and the given opt-in.
fn setup(receiver: &Receiver, environment: &str, opted_in: bool) -> (tempfile::TempDir, Value) {
    set_environment(environment);
    let dir = data_dir();
    let answer = lib().init(json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn()}));
    if opted_in {
        lib().opt_in(true);
    }
    (dir, answer)
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_owned()
}

/// Nothing that identifies the user or the machine, nor the DSN, anywhere.
fn assert_private(raw: &str) {
    let host = host_name();
    if host.len() >= 3 {
        assert!(!raw.contains(&host), "host name {host} in {raw}");
    }
    if let Ok(home) = std::env::var("HOME") {
        if home.len() > 1 {
            assert!(!raw.contains(&home), "home {home} in {raw}");
        }
    }
    assert!(!raw.contains("/home/") && !raw.contains("/root/") && !raw.contains("/Users/"), "{raw}");
    assert!(!raw.contains(KEY), "DSN key in {raw}");
    assert!(!raw.contains(env!("CARGO_MANIFEST_DIR")), "build path in {raw}");
    assert!(!raw.contains("\"server_name\""), "server_name in {raw}");
}

#[test]
fn an_opted_in_panic_arrives_once_with_the_documented_fields() {
    if !support::isolated() {
        return;
    }
    let receiver = Receiver::start();
    let (dir, answer) = setup(&receiver, "ci-main", false);
    assert_eq!(answer["panicReporting"]["active"], false);
    assert!(answer["panicReporting"]["reason"].as_str().unwrap().contains("opted in"));
    lib().opt_in(true);

    let v = lib().intended_panic(r#"boom {"password":"hunter2"} 😀"#);
    assert_eq!(v["code"], "panic");
    assert_eq!(v["error"], r#"boom {"password":"***"} 😀"#);
    lib().intended_panic("second");
    assert_eq!(lib().call("IntendedBackgroundPanic", "from a library thread"), r#"{"error":""}"#);
    assert_eq!(lib().flush(10_000), 0);
    assert_eq!(support::outbox_files(dir.path()), 0);

    let received = receiver.received();
    assert_eq!(received.len(), 3, "one request per panic");
    for r in &received {
        assert_eq!(r.path, format!("/api/{}/envelope/", support::PROJECT));
        assert!(r.auth.contains(&format!("sentry_key={KEY}")), "{}", r.auth);
        let raw = String::from_utf8_lossy(&r.body);
        let header: Value = serde_json::from_str(raw.lines().next().unwrap()).unwrap();
        assert!(header.get("dsn").is_none() && header.get("trace").is_none(), "{header}");
        assert_private(&raw);
    }
    let events: Vec<Value> = received.iter().map(|r| r.event().expect("an event item")).collect();
    let release = format!("libstatus@{}", env!("CARGO_PKG_VERSION"));
    for e in &events {
        assert_eq!(e["environment"], "ci-main");
        assert_eq!(e["release"], release.as_str());
        assert!(e.get("server_name").is_none() && e.get("user").is_none() && e.get("modules").is_none());
        assert_eq!(e["exception"]["values"][0]["type"], "IntendedPanic");
        assert_eq!(e["tags"]["panic.intended"], "true");
        let contexts = e["contexts"].as_object().unwrap();
        assert_eq!(contexts.keys().collect::<Vec<_>>(), ["trace"], "only the trace context");
    }
    let first = &events[0];
    assert_eq!(first["tags"]["endpoint"], "IntendedPanic");
    assert_eq!(first["exception"]["values"][0]["value"], r#"boom {"password":"***"} 😀"#);
    let frames = first["exception"]["values"][0]["stacktrace"]["frames"].as_array().unwrap();
    let top = frames.last().unwrap();
    assert_eq!(top["function"], "status::api::intended_panic", "top frame: {top}");
    assert_eq!(top["filename"], "src/api/mod.rs");
    assert!(top.get("abs_path").is_none());
    assert_eq!(top["in_app"], true);
    for f in frames {
        let function = f["function"].as_str().unwrap_or("");
        for machinery in ["rust_begin_unwind", "PanicHookInfo", "status::panics::", "panic_any"] {
            assert!(!function.contains(machinery), "panic machinery left in the stack: {function}");
        }
    }

    let background = &events[2];
    assert_eq!(background["tags"]["thread"], "libstatus-intended-panic");
    assert!(background["tags"].get("endpoint").is_none());
    assert_eq!(background["exception"]["values"][0]["value"], "from a library thread");

    let trace_ids: HashSet<&str> =
        events.iter().map(|e| e["contexts"]["trace"]["trace_id"].as_str().unwrap()).collect();
    assert_eq!(trace_ids.len(), events.len(), "trace ids must be unique per event");
    let event_ids: HashSet<&str> = events.iter().map(|e| e["event_id"].as_str().unwrap()).collect();
    assert_eq!(event_ids.len(), events.len());
}

#[test]
fn nothing_is_sent_without_consent() {
    if !support::isolated() {
        return;
    }
    let receiver = Receiver::start();
    let (dir, answer) = setup(&receiver, "ci-main", false);
    assert_eq!(answer["panicReporting"]["active"], false);
    lib().intended_panic("not opted in");
    lib().call("IntendedBackgroundPanic", "not opted in");
    assert_eq!(lib().flush(500), 0);
    assert_eq!(support::outbox_files(dir.path()), 0, "nothing is even written");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.request_count(), 0);
}

#[test]
fn nothing_is_sent_from_environments_that_are_not_reported() {
    if !support::isolated() {
        return;
    }
    let receiver = Receiver::start();
    for environment in ["development", "ci-pr", "production", "staging", ""] {
        let (_dir, answer) = setup(&receiver, environment, true);
        let status = &answer["panicReporting"];
        assert_eq!(status["active"], false, "{environment}: {status}");
        assert!(status["reason"].as_str().unwrap().contains("environment"), "{status}");
        lib().intended_panic("wrong environment");
        lib().flush(200);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.request_count(), 0);
}

#[test]
fn nothing_is_sent_without_a_dsn_and_the_host_environment_cannot_provide_one() {
    if !support::isolated() {
        return;
    }
    let receiver = Receiver::start();
    // The host's own SENTRY_DSN / SENTRY_RELEASE / SSL_VERIFY must not matter.
    std::env::set_var("SENTRY_DSN", receiver.dsn());
    std::env::set_var("SENTRY_RELEASE", "hijacked@1");
    std::env::set_var("SSL_VERIFY", "false");
    set_environment("ci-main");
    let dir = data_dir();
    let answer = lib().init(json!({"dataDir": dir.path()}));
    assert_eq!(answer["panicReporting"]["active"], false);
    assert!(answer["panicReporting"]["reason"].as_str().unwrap().contains("no Sentry DSN"));
    lib().opt_in(true);
    lib().intended_panic("no dsn");
    lib().flush(300);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.request_count(), 0);

    // With a DSN the release is still ours.
    lib().init(json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn()}));
    lib().intended_panic("with dsn");
    assert_eq!(lib().flush(10_000), 0);
    let events = receiver.delivered_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["release"], format!("libstatus@{}", env!("CARGO_PKG_VERSION")).as_str());
    // The DSN never shows in an answer.
    assert!(!answer.to_string().contains(KEY));
}

#[test]
fn opt_out_stops_reports_at_once() {
    if !support::isolated() {
        return;
    }
    let receiver = Receiver::start();
    let (_dir, answer) = setup(&receiver, "ci-nightly", true);
    assert_eq!(answer["panicReporting"]["environment"], "ci-nightly");
    lib().intended_panic("while opted in");
    assert_eq!(lib().flush(10_000), 0);
    assert_eq!(receiver.request_count(), 1);
    lib().opt_in(false);
    lib().intended_panic("after opt-out");
    lib().call("IntendedBackgroundPanic", "after opt-out");
    lib().flush(300);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.request_count(), 1);
}

#[test]
fn reinitialization_applies_to_threads_that_already_exist() {
    if !support::isolated() {
        return;
    }
    let receiver = Receiver::start();
    set_environment("ci-main");
    let dir = data_dir();
    // A host thread that exists before InitializeApplication and panics after it.
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    #[allow(clippy::disallowed_methods)] // a host thread
    let host_thread = std::thread::spawn(move || {
        go_rx.recv().unwrap();
        lib().intended_panic("from an old thread");
    });
    lib().init(json!({"dataDir": dir.path(), "sentryDSN": "http://nobody@127.0.0.1:9/1"}));
    lib().opt_in(true);
    // Logout and login again with the real DSN: the old thread reports there.
    lib().init(json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn()}));
    go_tx.send(()).unwrap();
    host_thread.join().unwrap();
    assert_eq!(lib().flush(10_000), 0);
    let events = receiver.delivered_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["exception"]["values"][0]["value"], "from an old thread");
}
