//! What the user can see and delete (`PanicReports`, `DeletePanicReports`),
//! against the built library and real requests on loopback: every pending
//! body listed is byte for byte the body the server receives; delivered
//! reports leave their ids and nothing of their payloads on disk; a deletion
//! racing the sender never lets a deleted report reach the server after it
//! answered.

mod support;

#[cfg(target_os = "linux")]
use std::collections::HashMap;
use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;
#[cfg(target_os = "linux")]
use std::time::SystemTime;

use serde_json::{json, Value};
#[cfg(target_os = "linux")]
use support::StampedReceiver;
use support::{assert_error, closed_port, data_dir, dsn_for, lib, parse, set_environment, Receiver, KEY};

fn reports(request: &Value) -> Value {
    let answer = lib().call("PanicReports", &request.to_string());
    assert!(answer.starts_with(r#"{"error":"","#), "{answer}");
    parse(&answer)
}

fn delete(request: &Value) -> Value {
    let answer = lib().call("DeletePanicReports", &request.to_string());
    assert!(answer.starts_with(r#"{"error":"","#), "{answer}");
    parse(&answer)
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

/// Every file under `dir`, with its bytes.
fn files_under(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            out.extend(files_under(&path));
        } else if entry.file_type().unwrap().is_file() {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn listed_bodies_are_what_the_server_receives_and_delivered_reports_leave_no_payload() {
    if !support::isolated() {
        return;
    }
    set_environment("ci-main");
    // Nobody listens there yet: every request fails, the reports wait.
    let addr = closed_port();
    let dir = data_dir();
    // A window long enough that a slow machine's seven panics fall in one.
    let init =
        lib().init(json!({"dataDir": dir.path(), "sentryDSN": dsn_for(addr), "panicStormWindowMs": 2000}));
    assert!(init.get("error").is_none(), "{init}");
    lib().opt_in(true);
    // Seven panics at one site: storm control reports five; the next one
    // after the window carries the two it held back.
    for i in 0..7 {
        assert_eq!(lib().intended_panic(&format!("exact-{i}"))["code"], "panic");
    }
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(lib().intended_panic("exact-after-the-window")["code"], "panic");
    // A message that holds the DSN: the event never does (scrubbed), so
    // neither does the listing.
    assert_eq!(
        lib().call("IntendedBackgroundPanic", &format!("exact-bg {}", dsn_for(addr))),
        r#"{"error":""}"#
    );
    assert_eq!(lib().flush(300), 7, "nothing can be delivered yet");

    let answer = lib().call("PanicReports", "{}");
    assert!(!answer.contains(KEY), "the DSN's key is in the answer");
    let listed = parse(&answer);
    let pending = listed["pending"].as_array().unwrap().clone();
    assert_eq!(pending.len(), 7, "{listed}");
    assert_eq!(listed["pendingTotal"], 7);
    assert_eq!(listed["next"], Value::Null);
    assert_eq!(listed["dropped"]["stormControl"], 2, "{listed}");
    assert!(listed["sent"].as_array().unwrap().is_empty());
    let mut ordered = ids(&listed["pending"]);
    ordered.sort();
    assert_eq!(ordered, ids(&listed["pending"]), "oldest first");
    // The flush tried the oldest, but a closed port is a network failure,
    // not an answer of the server: no attempt counts towards the cap (the
    // count kept in the report's name, tests/delivery.rs).
    assert!(pending.iter().all(|p| p["attempts"] == 0), "{}", pending[0]);
    for report in &pending {
        assert_eq!(report["bytes"].as_u64().unwrap() as usize, report["body"].as_str().unwrap().len());
        let event = support::envelope_event(report["body"].as_str().unwrap().as_bytes()).unwrap();
        assert_eq!(report["eventId"].as_str().unwrap().replace('-', ""), event["event_id"]);
        assert_eq!(report["site"], event["extra"]["panic.location"]);
    }
    assert_eq!(pending[0]["endpoint"], "IntendedPanic");
    assert_eq!(pending[5]["carries"]["sameSite"], 2, "{}", pending[5]);
    assert_eq!(pending[6]["thread"], "libstatus-intended-panic");
    assert_eq!(pending[6]["endpoint"], Value::Null);
    // Pages: two at a time, the same reports.
    let mut paged = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = reports(&json!({"after": after, "limit": 2}));
        paged.extend(ids(&page["pending"]));
        after = page["next"].clone();
        if after.is_null() {
            break;
        }
    }
    assert_eq!(paged, ids(&listed["pending"]));

    // The server is back: every listed body arrives as listed, byte for byte.
    let receiver = Receiver::start_on(&addr.to_string());
    assert_eq!(lib().flush(20_000), 0);
    let received = receiver.received();
    assert_eq!(received.len(), pending.len(), "one request per report");
    for report in &pending {
        let body = report["body"].as_str().unwrap().as_bytes();
        assert!(
            received.iter().any(|r| r.body == body && r.status == Some(200)),
            "no request carried exactly the listed body of {}",
            report["id"]
        );
    }

    let after = reports(&json!({}));
    assert!(after["pending"].as_array().unwrap().is_empty(), "{after}");
    let sent = after["sent"].as_array().unwrap();
    let sent_pairs: HashSet<(String, String)> = sent
        .iter()
        .map(|s| (s["id"].as_str().unwrap().into(), s["eventId"].as_str().unwrap().into()))
        .collect();
    for report in &pending {
        let pair = (report["id"].as_str().unwrap().into(), report["eventId"].as_str().unwrap().into());
        assert!(sent_pairs.contains(&pair), "{pair:?} not in the sent list {after}");
    }
    for s in sent {
        assert!(s["acceptedAtMs"].as_u64().unwrap() >= s["happenedAtMs"].as_u64().unwrap());
        assert_eq!(s.as_object().unwrap().len(), 4, "ids and times only: {s}");
    }
    // Nothing of the payloads is left on disk: no message, no stack, no body.
    for (path, bytes) in files_under(dir.path()) {
        for needle in [&b"exact-"[..], b"\"exception\"", b"stacktrace", b"IntendedPanic"] {
            assert!(
                !contains(&bytes, needle),
                "{} holds {:?}",
                path.display(),
                String::from_utf8_lossy(needle)
            );
        }
    }
    // `all` clears the history too.
    assert_eq!(delete(&json!({"all": true}))["deleted"], 0);
    assert!(reports(&json!({}))["sent"].as_array().unwrap().is_empty());
}

#[test]
fn the_calls_work_opted_out_and_without_a_dsn_and_count_what_an_opt_out_deleted() {
    if !support::isolated() {
        return;
    }
    set_environment("ci-main");
    let dir = data_dir();
    assert_error(&lib().call("PanicReports", "{}"), "not-initialized");
    lib().init(json!({"dataDir": dir.path()}));
    let answer = reports(&json!({}));
    assert_eq!(answer["pendingTotal"], 0);
    assert_eq!(delete(&json!({"ids": ["nope"]})), json!({"error": "", "deleted": 0, "notPending": 1}));
    assert_error(&lib().call("DeletePanicReports", "{}"), "invalid-request");
    assert_error(&lib().call("DeletePanicReports", r#"{"ids":["a"],"all":true}"#), "invalid-request");
    assert_error(&lib().call("PanicReports", r#"{"limit":0}"#), "invalid-request");

    // Opted in with a DSN nobody answers, then out: the opt-out's purge is counted.
    let addr = closed_port();
    lib().init(json!({"dataDir": dir.path(), "sentryDSN": dsn_for(addr)}));
    lib().opt_in(true);
    lib().intended_panic("to be purged");
    assert_eq!(reports(&json!({}))["pendingTotal"], 1);
    lib().opt_in(false);
    let answer = reports(&json!({}));
    assert_eq!(answer["pendingTotal"], 0);
    assert_eq!(answer["dropped"]["optOut"], 1, "{answer}");
    assert!(answer["dropped"]["sinceMs"].as_u64().unwrap() > 1_600_000_000_000);
}

/// One deletion in the race below.
#[cfg(target_os = "linux")]
struct Deletion {
    ids: Vec<String>,
    event_ids: Vec<String>,
    answered: SystemTime,
}

#[cfg(target_os = "linux")] // kernel receive timestamps
#[test]
fn a_deleted_report_never_reaches_the_server_after_the_deletion_answered() {
    if !support::isolated() {
        return;
    }
    set_environment("ci-main");
    // Slow: it holds every request 15 ms before it answers, so the sender
    // has a report in flight most of the time.
    let receiver = StampedReceiver::start_slow(Duration::from_millis(15));
    let dir = data_dir();
    lib().init(json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn(), "panicStormWindowMs": 100}));
    lib().opt_in(true);
    const ROUNDS: usize = 120;
    let mut deletions = Vec::new();
    let mut in_flight_when_deleted = 0;
    let mut deleted_total = 0;
    for round in 0..ROUNDS {
        // Three reports from sites that rotate (storm control allows five
        // a site per window).
        for i in 0..3 {
            let kind = (round * 3 + i) % 6;
            let message = format!("race-{round}-{i}");
            if kind == 5 {
                assert_eq!(lib().intended_panic(&message)["code"], "panic");
            } else {
                assert_eq!(lib().test_panic(kind as i32, &message)["code"], "panic");
            }
        }
        lib().flush(0); // the sender starts now, without its initial delay
        std::thread::sleep(Duration::from_micros((round as u64 * 1_777) % 25_000));
        let listed = reports(&json!({}));
        let pending = listed["pending"].as_array().unwrap();
        let chosen: Vec<&Value> = match round % 3 {
            0 => pending.iter().collect(),
            1 => pending.iter().step_by(2).collect(),
            _ => pending.iter().filter(|r| r["inFlight"] == true).collect(),
        };
        in_flight_when_deleted += chosen.iter().filter(|r| r["inFlight"] == true).count();
        let ids: Vec<String> = chosen.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
        let event_ids = chosen.iter().map(|r| r["eventId"].as_str().unwrap().replace('-', "")).collect();
        let answer =
            if round % 10 == 9 { delete(&json!({"all": true})) } else { delete(&json!({"ids": ids})) };
        let answered = SystemTime::now();
        deleted_total += answer["deleted"].as_u64().unwrap();
        // Those ids are no longer pending, at once.
        let left: HashSet<String> = support_ids(&reports(&json!({}))["pending"]);
        assert!(ids.iter().all(|id| !left.contains(id)), "round {round}: a deleted report is still listed");
        deletions.push(Deletion { ids, event_ids, answered });
    }
    assert_eq!(lib().flush(20_000), 0);
    std::thread::sleep(Duration::from_millis(100));
    // When each event reached the server whole (the kernel's stamp of its last byte).
    let mut arrived: HashMap<String, SystemTime> = HashMap::new();
    for request in receiver.requests() {
        if let Some(event) = request.event() {
            let id = event["event_id"].as_str().unwrap().to_owned();
            let at = *request.stamps.last().unwrap();
            arrived.entry(id).and_modify(|t| *t = (*t).max(at)).or_insert(at);
        }
    }
    let mut raced = 0;
    for deletion in &deletions {
        for (id, event_id) in deletion.ids.iter().zip(&deletion.event_ids) {
            if let Some(at) = arrived.get(event_id) {
                raced += 1;
                assert!(
                    *at <= deletion.answered,
                    "report {id} reached the server {:?} after its deletion answered",
                    at.duration_since(deletion.answered).unwrap()
                );
            }
        }
    }
    eprintln!(
        "{ROUNDS} rounds: {deleted_total} reports deleted, {in_flight_when_deleted} of them in flight when listed, \
         {raced} delivered before their deletion answered (all before it)"
    );
    assert!(deleted_total > 0 && in_flight_when_deleted > 0, "the deletions never raced the sender");
}

#[cfg(target_os = "linux")]
fn support_ids(list: &Value) -> HashSet<String> {
    ids(list).into_iter().collect()
}

/// A report in flight to a server that never answers: deleting it closes its
/// connection before the deletion answers (without that, the sender would
/// hold it until the 30 s deadline, and a server could still take it).
#[test]
fn deleting_the_report_in_flight_closes_its_connection_at_once() {
    if !support::isolated() {
        return;
    }
    set_environment("ci-main");
    let server = support::SilentServer::start();
    let dir = data_dir();
    lib().init(json!({"dataDir": dir.path(), "sentryDSN": dsn_for(server.addr())}));
    lib().opt_in(true);
    assert_eq!(lib().intended_panic("held by a silent server")["code"], "panic");
    lib().flush(0);
    // The whole request, then silence: the report is in flight.
    let mut stream = server.hold(|| reports(&json!({}))["pending"][0]["inFlight"] == true);
    let listed = reports(&json!({}));
    let id = listed["pending"][0]["id"].as_str().unwrap();
    assert_eq!(delete(&json!({"ids": [id]})), json!({"error": "", "deleted": 1, "notPending": 0}));
    // The connection ends at once (EOF or a reset), long before any deadline.
    assert!(
        support::connection_ends_within(&mut stream, Duration::from_secs(3)),
        "the deleted report's connection is still open"
    );
    assert_eq!(reports(&json!({}))["pendingTotal"], 0);
    assert_eq!(support::outbox_files(dir.path()), 0);
}
