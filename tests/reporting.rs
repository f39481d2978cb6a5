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

/// The event's frames symbolicated offline (binutils' addr2line over the
/// built library's debug information), top first, each with its inline
/// frames (innermost first) as (function, file:line). Addresses are adjusted
/// as Sentry does: the top frame as is, the others are return addresses.
fn symbolicate(event: &Value) -> Vec<Vec<(String, String)>> {
    let image = &event["debug_meta"]["images"][0];
    // Sentry's native image forms: ELF here, PE for the Windows DLL.
    assert_eq!(image["type"], if cfg!(windows) { "pe" } else { "elf" }, "{image}");
    let hex = |v: &Value| u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let base = hex(&image["image_addr"]);
    let frames = event["exception"]["values"][0]["stacktrace"]["frames"].as_array().unwrap();
    let addresses: Vec<String> = frames
        .iter()
        .rev()
        .enumerate()
        .map(|(i, f)| {
            assert!(f.get("function").is_none(), "names are the server's job: {f}");
            format!("{:#x}", hex(&f["instruction_addr"]) - base - u64::from(i > 0))
        })
        .collect();
    let output = support::target_tool("addr2line")
        .args(["-a", "-f", "-C", "-i", "-e"])
        .arg(support::so_path())
        .args(&addresses)
        .output()
        .expect("addr2line (binutils)");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut out: Vec<Vec<(String, String)>> = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("0x") {
            out.push(Vec::new());
        } else if let (Some(frame), Some(location)) = (out.last_mut(), lines.next()) {
            frame.push((line.to_owned(), location.to_owned()));
        }
    }
    assert_eq!(out.len(), addresses.len(), "{text}");
    out
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
        assert_eq!(e["platform"], "native");
        let mechanism = &e["exception"]["values"][0]["mechanism"];
        assert_eq!(mechanism["type"], "panic", "{mechanism}");
        assert_eq!(mechanism["handled"], true, "the host lives on: {mechanism}");
        let contexts = e["contexts"].as_object().unwrap();
        assert_eq!(contexts.keys().collect::<Vec<_>>(), ["trace"], "only the trace context");
    }
    let first = &events[0];
    assert_eq!(first["tags"]["endpoint"], "IntendedPanic");
    let caught_by = |e: &Value| e["exception"]["values"][0]["mechanism"]["description"].clone();
    assert_eq!(caught_by(first), "caught by the libstatus API guard");
    assert_eq!(first["exception"]["values"][0]["value"], r#"boom {"password":"***"} 😀"#);
    let frames = first["exception"]["values"][0]["stacktrace"]["frames"].as_array().unwrap();
    let top = frames.last().unwrap();
    // The top frame carries the panic's location (known without symbols)...
    assert_eq!(top["filename"], "src/api/mod.rs", "top frame: {top}");
    assert!(top.get("abs_path").is_none());
    assert_eq!(top["in_app"], true);
    // ...and every frame an address the server symbolicates: done here
    // offline, against the library itself, as Sentry would.
    if cfg!(windows) {
        // No binutils under Wine: scripts/windows symbolicates the C host's
        // event against the shipped DLL's debug file instead.
        eprintln!("SKIPPED (Windows): offline symbolication with addr2line");
        return;
    }
    let symbolicated = symbolicate(first);
    let site = symbolicated[0]
        .iter()
        .find(|(_, file)| !file.starts_with("/rustc/"))
        .unwrap_or_else(|| panic!("{symbolicated:#?}"));
    assert_eq!(site.0, "status::api::intended_panic", "top frame: {symbolicated:#?}");
    assert!(site.1.contains("src/api/mod.rs:"), "{site:?}");
    assert_eq!(site.1.rsplit(':').next(), top["lineno"].as_u64().map(|l| l.to_string()).as_deref());
    for (function, _) in symbolicated.iter().flatten() {
        for machinery in [
            "rust_begin_unwind",
            "PanicHookInfo",
            "panic_with_hook",
            "status::panics::record",
            "status::panics::capture",
            "status::panics::panic_intended",
            "panic_any",
            "backtrace::",
        ] {
            assert!(!function.contains(machinery), "panic machinery left in the stack: {symbolicated:#?}");
        }
    }
    assert!(
        symbolicated.iter().flatten().any(|(f, _)| f.starts_with("status::guard::run")),
        "the guard is in the stack: {symbolicated:#?}"
    );

    let background = &events[2];
    assert_eq!(background["tags"]["thread"], "libstatus-intended-panic");
    assert!(background["tags"].get("endpoint").is_none());
    assert_eq!(background["exception"]["values"][0]["value"], "from a library thread");
    assert_eq!(caught_by(background), "caught by the libstatus thread wrapper");

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

/// A panic the gate holds back (here the environment; the user opted in and
/// a DSN is set) changes nothing in the outbox: the reports an earlier run
/// left, at the outbox's bound of 30, are not evicted to make room for an
/// event that is never written, and all of them leave once the environment
/// is a reported one.
#[test]
fn a_panic_the_gate_holds_back_evicts_nothing_from_a_full_outbox() {
    if !support::isolated() {
        return;
    }
    let receiver = Receiver::start();
    let dir = data_dir();
    for i in 0..30 {
        support::plant_report(
            dir.path(),
            Duration::ZERO,
            i,
            0,
            &support::planted_envelope(&format!("left behind {i}")),
        );
    }
    support::write_opted_in(dir.path());
    set_environment("development");
    let request = json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn()});
    let answer = lib().init(request.clone());
    assert_eq!(answer["panicReporting"]["active"], false, "{answer}");
    lib().intended_panic("held back by the environment");
    assert_eq!(lib().call("IntendedBackgroundPanic", "held back too"), r#"{"error":""}"#);
    assert_eq!(support::outbox_files(dir.path()), 30, "nothing evicted for them");

    set_environment("ci-main");
    let answer = lib().init(request);
    assert_eq!(answer["panicReporting"]["active"], true, "{answer}");
    assert_eq!(lib().flush(30_000), 0);
    let messages: HashSet<String> = receiver
        .delivered_events()
        .iter()
        .filter_map(|e| e["message"]["formatted"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(messages.len(), 30, "every report left behind arrives: {messages:?}");
    assert_eq!(receiver.request_count(), 30, "and nothing else");
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

/// An opt-out ends the request in flight before it answers: a server that
/// has the whole request but has not answered sees the connection end at
/// once, not at the request's 30 s deadline (its answer could no longer
/// matter, and the connection should not outlive the user's choice).
#[test]
fn an_opt_out_ends_the_request_in_flight_at_once() {
    if !support::isolated() {
        return;
    }
    set_environment("ci-main");
    let server = support::SilentServer::start();
    let dir = data_dir();
    let dsn = format!("http://{KEY}@{}/{}", server.addr(), support::PROJECT);
    lib().init(json!({"dataDir": dir.path(), "sentryDSN": dsn}));
    lib().opt_in(true);
    assert_eq!(lib().intended_panic("held by a silent server")["code"], "panic");
    lib().flush(0);
    // The whole request, then silence: the report is in flight.
    let mut stream =
        server.hold(|| support::parse(&lib().call("PanicReports", "{}"))["pending"][0]["inFlight"] == true);
    lib().opt_in(false);
    assert!(
        support::connection_ends_within(&mut stream, Duration::from_secs(3)),
        "the request in flight outlived the opt-out"
    );
    assert_eq!(support::outbox_files(dir.path()), 0);
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
