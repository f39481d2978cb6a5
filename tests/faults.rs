//! Faults a user's disk brings, through the built `.so`: corrupt and truncated
//! outbox files and consent files, and a dataDir the user can read but not
//! write (as a non-root user: root ignores modes). Every call answers JSON,
//! nothing panics out, nothing is sent that should not be, and a corrupt
//! report is rejected by the server or dropped, never the end of delivery.
// The helpers of the Unix-only tests below are unused on Windows.
#![cfg_attr(windows, allow(dead_code, unused_imports))]

mod support;

use std::fs;
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use support::{
    closed_port, data_dir, dsn_for, lib, outbox_files, parse, set_environment, Receiver, Reply, OPTED_IN,
};

/// An answer that keeps the rules: a JSON object, `error` first when it failed.
fn checked(answer: String) -> Value {
    let value = parse(&answer);
    assert!(value.is_object(), "{answer}");
    if value.get("error").and_then(Value::as_str).is_some_and(|e| !e.is_empty()) {
        assert!(answer.starts_with(r#"{"error":""#), "`error` is not first: {answer}");
        assert!(value["code"].is_string(), "{answer}");
    }
    value
}

/// One call of every export, each answer checked.
fn every_export() {
    checked(lib().call_void("CentralizedMetricsInfo"));
    checked(lib().call("IntendedPanic", "a panic among faults"));
    checked(lib().call("IntendedBackgroundPanic", "a background panic among faults"));
    checked(lib().call_int("FlushPanicReports", 0));
    checked(lib().call("ToggleCentralizedMetrics", "{\"enabled\":"));
}

fn messages(receiver: &Receiver) -> Vec<String> {
    receiver
        .delivered_events()
        .iter()
        .filter_map(|e| e["exception"]["values"][0]["value"].as_str().map(str::to_owned))
        .collect()
}

fn init(dir: &Path, dsn: &str) -> Value {
    checked(lib().call(
        "InitializeApplication",
        &json!({"dataDir": dir, "sentryDSN": dsn, "panicStormWindowMs": 100}).to_string(),
    ))
}

#[test]
fn corrupt_and_truncated_outbox_files_are_rejected_or_dropped_and_delivery_goes_on() {
    if !support::isolated() {
        return;
    }
    // The envelopes planted here are corrupt on purpose: they are not for
    // the CI's pass of Sentry's normaliser over what the suites received.
    std::env::remove_var("LIBSTATUS_CAPTURE_DIR");
    set_environment("ci-main");
    let dir = data_dir();
    let folder = dir.path().join("panic-reports");
    fs::create_dir_all(&folder).unwrap();
    #[cfg(unix)]
    fs::set_permissions(&folder, fs::Permissions::from_mode(0o700)).unwrap();
    // A temporary file a crash left mid-write: removed at open, never sent.
    fs::write(folder.join(".tmpA1b2C3"), b"{\"event_id\":\"0123").unwrap();

    // A real report, kept on disk (nobody listens).
    init(dir.path(), &dsn_for(closed_port()));
    lib().opt_in(true);
    checked(lib().call("IntendedPanic", "the real report"));
    assert!(!folder.join(".tmpA1b2C3").exists(), "a crash's temporary file is removed at open");
    let real = fs::read_dir(&folder)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".envelope"))
        .expect("the real report is on disk")
        .path();
    let bytes = fs::read(&real).unwrap();

    // Torn and corrupt reports, named to be sent first.
    let header_only = bytes.split(|b| *b == b'\n').next().unwrap().to_vec();
    let mut wrong_length = header_only.clone();
    wrong_length.extend_from_slice(b"\n{\"type\":\"event\",\"length\":999999}\n{}");
    let junk: Vec<Vec<u8>> = vec![
        bytes[..bytes.len() / 2].to_vec(),
        bytes[..10].to_vec(),
        Vec::new(),
        header_only,
        wrong_length,
        vec![0xff, 0xfe, 0x00, 0x80, 0x0a],
        vec![b'{'; 900 * 1024],
    ];
    for (i, body) in junk.iter().enumerate() {
        // (An hour old: older than the real report, younger than the 30
        // days after which a report is dropped unsent.)
        support::plant_report(dir.path(), Duration::from_secs(3600), i as u32, 0, body);
    }

    // The server rejects what it cannot parse (as Sentry answers 400).
    let receiver = Receiver::start();
    receiver.queue(junk.iter().map(|_| Reply::Status(400, vec![])));
    let answer = init(dir.path(), &receiver.dsn());
    assert_eq!(answer["centralizedMetricsInfo"]["enabled"], true, "{answer}");
    every_export();
    checked(lib().call("IntendedPanic", "after the junk"));
    assert_eq!(lib().flush(15_000), 0, "every file was sent once and answered");
    assert_eq!(outbox_files(dir.path()), 0);
    let received = receiver.received();
    let junk_sent = received.iter().filter(|r| junk.contains(&r.body)).count();
    assert_eq!(junk_sent, junk.len(), "each corrupt report sent once, rejected, deleted");
    let got = messages(&receiver);
    for expected in
        ["the real report", "after the junk", "a panic among faults", "a background panic among faults"]
    {
        assert!(got.iter().any(|m| m == expected), "{expected} not delivered: {got:?}");
    }
}

#[test]
fn corrupt_and_truncated_consent_files_read_as_not_opted_in_and_nothing_is_sent() {
    if !support::isolated() {
        return;
    }
    set_environment("ci-main");
    let receiver = Receiver::start();
    let junk: [&[u8]; 10] = [
        b"{\"enabled\":tr",
        &OPTED_IN.as_bytes()[..OPTED_IN.len() - 1],
        b"",
        b"\xff\xfe{\"enabled\":true}",
        b"[]",
        b"null",
        b"{\"enabled\":\"yes\",\"userConfirmed\":true}",
        b"{\"enabled\":1,\"userConfirmed\":1}",
        b"\0\0\0\0\0\0\0\0",
        &[b' '; 5000],
    ];
    for bytes in junk {
        let dir = data_dir();
        fs::write(dir.path().join("centralized-metrics.json"), bytes).unwrap();
        // A report an earlier process left: not to be sent without consent.
        support::plant_report(dir.path(), Duration::from_secs(60), 0, 0, b"{}\n");
        let answer = init(dir.path(), &receiver.dsn());
        let case = String::from_utf8_lossy(bytes);
        assert_eq!(answer["centralizedMetricsInfo"]["enabled"], false, "{case:?}: {answer}");
        assert_eq!(answer["panicReporting"]["active"], false, "{case:?}: {answer}");
        assert_eq!(checked(lib().call_void("CentralizedMetricsInfo"))["enabled"], false, "{case:?}");
        assert_eq!(checked(lib().call("IntendedPanic", "not opted in"))["code"], "panic");
        assert_eq!(checked(lib().call_int("FlushPanicReports", 0))["pending"], 0, "{case:?}");
        assert_eq!(outbox_files(dir.path()), 0, "{case:?}: the left report is deleted, not kept");
    }
    // A consent file corrupted while the process runs: the next init reads
    // it as not opted in, and the report waiting for a dead server goes.
    let dir = data_dir();
    init(dir.path(), &dsn_for(closed_port()));
    lib().opt_in(true);
    // Past storm control's window (100 ms here): the loop above panicked at
    // the same site more than 5 times in it.
    std::thread::sleep(std::time::Duration::from_millis(150));
    checked(lib().call("IntendedPanic", "waiting for a server"));
    assert_eq!(outbox_files(dir.path()), 1);
    fs::write(dir.path().join("centralized-metrics.json"), &OPTED_IN.as_bytes()[..20]).unwrap();
    assert_eq!(
        checked(lib().call_void("CentralizedMetricsInfo"))["enabled"],
        true,
        "in memory until re-read"
    );
    let answer = init(dir.path(), &receiver.dsn());
    assert_eq!(answer["centralizedMetricsInfo"]["enabled"], false, "{answer}");
    assert_eq!(outbox_files(dir.path()), 0);
    every_export();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.request_count(), 0, "nothing is sent without a readable opt-in");

    // Opting in again rewrites the file whole, and delivery works.
    lib().opt_in(true);
    assert_eq!(fs::read_to_string(dir.path().join("centralized-metrics.json")).unwrap(), OPTED_IN);
    checked(lib().call("IntendedPanic", "opted in again"));
    assert_eq!(lib().flush(10_000), 0);
    assert_eq!(messages(&receiver), ["opted in again"]);
}

/// The nobody user: reads what others may read, writes nothing of root's.
const NOBODY: u32 = 65534;

/// Run as `NOBODY` by the test below: calls every export against a dataDir
/// it can read but not write (`LIBSTATUS_FAULTS_RO_DIR`), with a receiver of
/// the parent (`LIBSTATUS_FAULTS_DSN`).
#[test]
#[cfg(unix)] // modes
fn read_only_data_dir_helper() {
    let (Ok(dir), Ok(dsn)) =
        (std::env::var("LIBSTATUS_FAULTS_RO_DIR"), std::env::var("LIBSTATUS_FAULTS_DSN"))
    else {
        return;
    };
    set_environment("ci-main");
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, NOBODY);
    let dir = Path::new(&dir);
    // Logs cannot be created there: the init fails and changes nothing.
    let answer = lib().call(
        "InitializeApplication",
        &json!({"dataDir": dir, "sentryDSN": dsn, "logEnabled": true}).to_string(),
    );
    support::assert_error(&answer, "internal");
    support::assert_error(&lib().call_void("CentralizedMetricsInfo"), "not-initialized");
    // Without logs it works: the opt-in and the outbox are read, not written.
    let answer = init(dir, &dsn);
    assert_eq!(answer["centralizedMetricsInfo"]["enabled"], true, "{answer}");
    assert_eq!(answer["panicReporting"]["active"], true, "{answer}");
    // The report left there is delivered; it cannot be deleted afterwards.
    std::thread::sleep(Duration::from_millis(1500));
    every_export();
    assert_eq!(checked(lib().call("IntendedPanic", "cannot be stored"))["code"], "panic");
    checked(lib().call_int("FlushPanicReports", 200));
    // A fresh look at the folder (here the user's deletion of a report that
    // is not there) finds the delivered report still on the disk: it is not
    // pending, nor sent again.
    checked(lib().call("DeletePanicReports", r#"{"ids":["000000000000000000000000-00000000-1"]}"#));
    assert_eq!(lib().flush(1_000), 0, "the delivered report that cannot be deleted is pending again");
    let answer = lib().call("ToggleCentralizedMetrics", r#"{"enabled":true}"#);
    support::assert_error(&answer, "internal");
    let answer = lib().call("ToggleCentralizedMetrics", r#"{"enabled":false}"#);
    support::assert_error(&answer, "internal");
    assert_eq!(checked(lib().call_void("CentralizedMetricsInfo"))["enabled"], false, "the opt-out holds");
    assert_eq!(lib().flush(500), 0, "what cannot be deleted is not pending either");
    checked(lib().call("IntendedPanic", "after the opt-out"));
    std::thread::sleep(Duration::from_millis(500));
    println!("READ-ONLY HELPER DONE");
}

/// Whether `NOBODY` can reach and read `path` (every folder on the way
/// searchable by others, the file readable by others).
#[cfg(unix)]
fn others_can_read(path: &Path) -> bool {
    let readable = fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o004 != 0);
    readable
        && path
            .ancestors()
            .skip(1)
            .all(|a| fs::metadata(a).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

#[test]
#[cfg(unix)] // modes, another user
fn a_read_only_data_dir_answers_json_sends_a_report_at_most_once_and_nothing_after_an_opt_out() {
    if !support::isolated() {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: needs root, to make a dataDir owned by root and run a helper as uid {NOBODY}");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let so = support::so_path();
    if !others_can_read(&exe) || !others_can_read(&so) {
        eprintln!(
            "SKIPPED: uid {NOBODY} cannot read {} or {} (a folder on the way is private)",
            exe.display(),
            so.display()
        );
        return;
    }
    // A dataDir as a user had it (opted in, one report pending), now owned
    // by root: the user reads it, writes nothing, changes no mode.
    let base = data_dir();
    fs::set_permissions(base.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let dir = base.path().join("data");
    let pending = b"{}\n{\"type\":\"event\"}\n{\"message\":\"left pending\"}\n".to_vec();
    let left = support::plant_report(&dir, Duration::from_secs(60), 0, 0, &pending);
    let folder = dir.join("panic-reports");
    fs::write(dir.join("centralized-metrics.json"), OPTED_IN).unwrap();
    fs::write(folder.join(".lock"), b"").unwrap();
    for (path, mode) in [
        (&dir, 0o755),
        (&folder, 0o755),
        (&dir.join("centralized-metrics.json"), 0o644),
        (&folder.join(".lock"), 0o644),
        (&left, 0o644),
    ] {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }
    let receiver = Receiver::start();
    let output = {
        use std::os::unix::process::CommandExt;
        support::target_command(&exe)
            .args(["--exact", "read_only_data_dir_helper", "--nocapture", "--test-threads=1"])
            .env("LIBSTATUS_ISOLATED", "1")
            .env("LIBSTATUS_FAULTS_RO_DIR", &dir)
            .env("LIBSTATUS_FAULTS_DSN", receiver.dsn())
            .env("LIBSTATUS_LIB_DIR", support::target_dir())
            .current_dir(base.path())
            .uid(NOBODY)
            .gid(NOBODY)
            .output()
            .expect("run the helper as nobody")
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("READ-ONLY HELPER DONE"),
        "the helper failed as uid {NOBODY}:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let received = receiver.received();
    let resent = received.iter().filter(|r| r.body == pending).count();
    assert_eq!(
        resent,
        1,
        "the pending report is sent once, not again and again: {} requests",
        received.len()
    );
    assert_eq!(received.len(), 1, "nothing else: the new panic could not be stored, then the user opted out");
    assert_eq!(fs::read(&left).unwrap(), pending, "the disk is as it was");
    assert_eq!(fs::read_to_string(dir.join("centralized-metrics.json")).unwrap(), OPTED_IN);
}

/// Storm control survives a re-init: an `InitializeApplication` with the same
/// `panicStormWindowMs` keeps the counts (a host that re-initialises on every
/// screen cannot turn a panic loop back into a flood); another window starts
/// storm control afresh.
#[test]
fn a_reinit_with_the_same_storm_window_keeps_storm_controls_counts() {
    if !support::isolated() {
        return;
    }
    set_environment("ci-main");
    let dir = data_dir();
    let receiver = Receiver::start();
    let request = |window_ms: u64| {
        json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn(), "panicStormWindowMs": window_ms})
            .to_string()
    };
    let hour = 3_600_000;
    checked(lib().call("InitializeApplication", &request(hour)));
    lib().opt_in(true);
    // One site (IntendedPanic's): five events per window, the rest counted.
    for i in 0..7 {
        checked(lib().call("IntendedPanic", &format!("storm {i}")));
    }
    let answer = checked(lib().call("InitializeApplication", &request(hour)));
    assert_eq!(answer["centralizedMetricsInfo"]["enabled"], true, "{answer}");
    checked(lib().call("IntendedPanic", "after a re-init with the same window"));
    assert_eq!(lib().flush(15_000), 0);
    let mut got = messages(&receiver);
    got.sort();
    assert_eq!(
        got,
        (0..5).map(|i| format!("storm {i}")).collect::<Vec<_>>(),
        "the re-init reset storm control"
    );

    // Another window: a new limiter, the site may report again.
    checked(lib().call("InitializeApplication", &request(hour - 1)));
    checked(lib().call("IntendedPanic", "after a re-init with another window"));
    assert_eq!(lib().flush(15_000), 0);
    let got = messages(&receiver);
    assert_eq!(got.len(), 6, "{got:?}");
    assert!(got.iter().any(|m| m == "after a re-init with another window"), "{got:?}");
}
