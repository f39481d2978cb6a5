//! The host's transport (`"transport":"host"`), through the built `.so`: a
//! host sender written here as an app would write it (pull, POST with its own
//! HTTP client, report the outcome) against a real envelope receiver on
//! loopback. The library's own sender must never open a socket meanwhile, and
//! no backoff, budget, server wait or consent is bypassed.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{data_dir, lib, outbox_files, set_environment, Blackhole, Receiver, Reply};

/// A host that sends the reports itself, opted in.
fn host_opted_in(dir: &Path, dsn: &str) -> Value {
    set_environment("ci-main");
    support::write_opted_in(dir);
    lib().init(json!({
        "dataDir": dir, "sentryDSN": dsn, "panicStormWindowMs": 100, "transport": "host"
    }))
}

fn pull(lease_ms: u64, wait_ms: u64) -> Value {
    let answer = lib().json("NextPanicReport", &json!({"leaseMs": lease_ms, "waitMs": wait_ms}));
    assert_eq!(answer["error"], "", "{answer}");
    answer
}

/// Pulls until a report comes (the initial delay of up to 5 s included).
fn pull_report() -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = pull(60_000, 5_000);
        if answer["id"].is_string() {
            return answer;
        }
        assert!(Instant::now() < deadline, "no report came: {answer}");
    }
}

fn outcome(request: Value) -> Value {
    let answer = lib().json("PanicReportOutcome", &request);
    assert_eq!(answer["error"], "", "{answer}");
    answer
}

/// What a host's HTTP client got: the status and the two headers the library reads.
struct Answered {
    status: u16,
    retry_after: Option<String>,
    rate_limits: Option<String>,
}

/// The host's own HTTP client: one POST of `report` to `to` (the report's own
/// URL's path, another address: the host routes its traffic as it likes).
fn host_post(report: &Value, to: SocketAddr) -> std::io::Result<Answered> {
    let url = report["url"].as_str().unwrap();
    let path = &url[url.find("/api/").expect("an envelope URL")..];
    let body = report["body"].as_str().unwrap();
    let mut request = format!("POST {path} HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n");
    for (name, value) in report["headers"].as_object().unwrap() {
        request.push_str(&format!("{name}: {}\r\n", value.as_str().unwrap()));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    let mut stream = TcpStream::connect(to)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(request.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let header = |name: &str| {
        answer.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    Ok(Answered { status, retry_after: header("Retry-After"), rate_limits: header("X-Sentry-Rate-Limits") })
}

/// One round of the host's loop: the outcome of sending `report` to `to`.
fn send(report: &Value, to: SocketAddr) -> Value {
    let id = report["id"].clone();
    match host_post(report, to) {
        Ok(a) => outcome(json!({
            "id": id, "status": a.status, "retryAfter": a.retry_after, "rateLimits": a.rate_limits
        })),
        Err(e) => outcome(json!({"id": id, "networkError": e.to_string()})),
    }
}

fn message(body: &str) -> String {
    support::envelope_event(body.as_bytes()).expect("an event")["exception"]["values"][0]["value"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn the_host_pull_loop_delivers_and_the_library_never_opens_a_socket() {
    if !support::isolated() {
        return;
    }
    // The DSN names a port that counts connections; the host routes its
    // requests to the receiver instead.
    let counted = Blackhole::start();
    let receiver = Receiver::start();
    let dir = data_dir();
    let answer = host_opted_in(dir.path(), &counted.dsn());
    assert_eq!(answer["panicReporting"]["active"], true, "{answer}");
    assert_eq!(answer["panicReporting"]["transport"], "host", "{answer}");
    for i in 0..3 {
        lib().intended_panic(&format!("host transport {i}"));
    }
    for i in 0..3 {
        let report = pull_report();
        assert_eq!(report["url"], format!("http://{}/api/42/envelope/", counted.addr), "{report}");
        let auth = report["headers"]["X-Sentry-Auth"].as_str().unwrap();
        assert!(auth.contains(&format!("sentry_key={}", support::KEY)), "{auth}");
        assert_eq!(report["headers"]["Content-Type"], "application/x-sentry-envelope");
        assert_eq!(message(report["body"].as_str().unwrap()), format!("host transport {i}"), "oldest first");
        let acked = send(&report, receiver.addr);
        assert_eq!(acked, json!({"error": "", "accepted": true, "verdict": "delivered"}));
    }
    assert_eq!(outbox_files(dir.path()), 0, "a delivered report is deleted");
    assert_eq!(receiver.delivered_events().len(), 3);
    assert!(
        receiver.received().iter().all(|r| r.auth.contains(support::KEY)),
        "the host sent the auth header"
    );
    let nothing = pull(60_000, 0);
    assert_eq!(nothing["none"], true, "{nothing}");
    assert_eq!(nothing["pending"], 0, "{nothing}");
    // Nothing in all this went through the library's client.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(counted.connections(), 0, "the library's own sender opened a socket");
}

#[test]
fn a_429_with_retry_after_withholds_the_next_report_until_then() {
    if !support::isolated() {
        return;
    }
    let receiver = Receiver::start();
    receiver.queue([Reply::Status(429, vec![("Retry-After".into(), "2".into())])]);
    let dir = data_dir();
    host_opted_in(dir.path(), &receiver.dsn());
    lib().intended_panic("first, told to wait");
    let report = pull_report();
    let refused_at = Instant::now();
    assert_eq!(send(&report, receiver.addr)["verdict"], "retry");
    assert_eq!(outbox_files(dir.path()), 1, "kept");
    lib().intended_panic("second");
    // Not before the server's two seconds, whatever the host asks, a flush included.
    let waiting = pull(60_000, 0);
    assert_eq!(waiting["none"], true, "{waiting}");
    assert!(waiting["retryInMs"].as_u64().unwrap() >= 1_500, "{waiting}");
    assert_eq!(waiting["pending"], 2, "{waiting}");
    let flush = lib().call_int("FlushPanicReports", 0);
    assert!(flush.contains(r#""pending":2"#), "{flush}");
    assert_eq!(pull(60_000, 0)["none"], true, "a flush skips our backoff, never the server's wait");
    let report = pull_report();
    assert!(refused_at.elapsed() >= Duration::from_secs(2), "sent {:?} after the 429", refused_at.elapsed());
    assert_eq!(message(report["body"].as_str().unwrap()), "first, told to wait");
    assert_eq!(send(&report, receiver.addr)["verdict"], "delivered");
    let report = pull_report();
    assert_eq!(message(report["body"].as_str().unwrap()), "second");
    assert_eq!(send(&report, receiver.addr)["verdict"], "delivered");
    assert_eq!(outbox_files(dir.path()), 0);
}

#[test]
fn a_network_failure_keeps_the_report_and_backs_off() {
    if !support::isolated() {
        return;
    }
    let receiver = Receiver::start();
    let dir = data_dir();
    host_opted_in(dir.path(), &receiver.dsn());
    lib().intended_panic("through a dead network");
    let report = pull_report();
    let failed_at = Instant::now();
    let acked = send(&report, support::closed_port());
    assert_eq!(acked, json!({"error": "", "accepted": true, "verdict": "retry"}));
    assert_eq!(outbox_files(dir.path()), 1, "nothing dropped");
    let waiting = pull(60_000, 0);
    assert_eq!(waiting["none"], true, "backing off: {waiting}");
    assert!(waiting["retryInMs"].as_u64().unwrap() > 0, "{waiting}");
    let again = pull_report();
    assert!(failed_at.elapsed() >= Duration::from_millis(900), "our backoff starts at one second");
    assert_eq!(again["body"], report["body"], "the same report again");
    assert_ne!(again["id"], report["id"]);
    assert_eq!(send(&again, receiver.addr)["verdict"], "delivered");
    assert_eq!(receiver.delivered_events().len(), 1);
    assert_eq!(outbox_files(dir.path()), 0);
}

#[test]
fn a_report_whose_lease_expires_is_due_again_and_never_handed_out_twice_meanwhile() {
    if !support::isolated() {
        return;
    }
    let receiver = Receiver::start();
    let dir = data_dir();
    host_opted_in(dir.path(), &receiver.dsn());
    lib().intended_panic("held, then forgotten by the host");
    lib().intended_panic("behind it");
    let deadline = Instant::now() + Duration::from_secs(20);
    let held = loop {
        let answer = pull(500, 5_000);
        if answer["id"].is_string() {
            break answer;
        }
        assert!(Instant::now() < deadline, "{answer}");
    };
    let leased_at = Instant::now();
    // While it is leased, nothing else goes out (one request in flight).
    let meanwhile = pull(500, 0);
    assert_eq!(meanwhile["none"], true, "{meanwhile}");
    assert!(meanwhile["retryInMs"].as_u64().unwrap() <= 500, "{meanwhile}");
    // A waiting pull returns when the lease expires, with the same report.
    let again = pull(60_000, 5_000);
    assert!(leased_at.elapsed() >= Duration::from_millis(500));
    assert_eq!(again["body"], held["body"], "{again}");
    assert_ne!(again["id"], held["id"]);
    // The first lease's late answer is not the report's any more.
    let late = outcome(json!({"id": held["id"], "status": 200}));
    assert_eq!(late["accepted"], false, "{late}");
    assert_eq!(outbox_files(dir.path()), 2);
    assert_eq!(send(&again, receiver.addr)["verdict"], "delivered");
    let next = pull_report();
    assert_eq!(message(next["body"].as_str().unwrap()), "behind it");
    assert_eq!(send(&next, receiver.addr)["verdict"], "delivered");
    assert_eq!(outbox_files(dir.path()), 0);
}

#[test]
fn an_opt_out_while_the_host_holds_a_report_refuses_its_acknowledgement() {
    if !support::isolated() {
        return;
    }
    let receiver = Receiver::start();
    let dir = data_dir();
    host_opted_in(dir.path(), &receiver.dsn());
    lib().intended_panic("the user opts out while this is being sent");
    lib().intended_panic("never sent");
    let report = pull_report();
    lib().opt_in(false);
    assert_eq!(outbox_files(dir.path()), 0, "the opt-out deleted it from disk, the held one included");
    // The host's request completed anyway (too late to cancel it).
    let acked = send(&report, receiver.addr);
    assert_eq!(acked["accepted"], false, "{acked}");
    assert!(acked["reason"].as_str().unwrap().contains("opt-out"), "{acked}");
    let nothing = pull(60_000, 200);
    assert_eq!(nothing["none"], true, "{nothing}");
    assert_eq!(nothing["pending"], 0, "{nothing}");
    // Opted in again: nothing from before comes back.
    lib().opt_in(true);
    assert_eq!(pull(60_000, 0)["none"], true);
    assert_eq!(outbox_files(dir.path()), 0);
}

/// The user's deletion of another report (from the report list) while the
/// host holds one leaves the held one alone: its acknowledgement is applied
/// and it is sent once, not handed out again as if it had been deleted.
#[test]
fn deleting_another_report_while_the_host_holds_one_leaves_the_held_one_alone() {
    if !support::isolated() {
        return;
    }
    let receiver = Receiver::start();
    let dir = data_dir();
    host_opted_in(dir.path(), &receiver.dsn());
    lib().intended_panic("held by the host");
    lib().intended_panic("deleted by the user");
    let held = pull_report();
    assert_eq!(message(held["body"].as_str().unwrap()), "held by the host");
    let listed = lib().json("PanicReports", &json!({}));
    let other: Vec<&Value> = listed["pending"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["body"].as_str().unwrap().contains("held by the host"))
        .collect();
    assert_eq!(other.len(), 1, "{listed}");
    let deleted = lib().json("DeletePanicReports", &json!({"ids": [other[0]["id"]]}));
    assert_eq!(deleted["deleted"], 1, "{deleted}");
    let acked = send(&held, receiver.addr);
    assert_eq!(acked["accepted"], true, "{acked}");
    assert_eq!(acked["verdict"], "delivered", "{acked}");
    let nothing = pull(60_000, 200);
    assert_eq!(nothing["none"], true, "the held report was handed out again: {nothing}");
    assert_eq!(receiver.request_count(), 1);
    assert_eq!(outbox_files(dir.path()), 0);

    // The held report itself deleted: whatever the server answered, its
    // acknowledgement is refused (a retry is not kept for a report that is gone).
    lib().intended_panic("deleted while held");
    let held = pull_report();
    let listed = lib().json("PanicReports", &json!({}));
    let deleted = lib().json("DeletePanicReports", &json!({"ids": [listed["pending"][0]["id"]]}));
    assert_eq!(deleted["deleted"], 1, "{deleted}");
    let acked = outcome(json!({"id": held["id"], "status": 500}));
    assert_eq!(acked["accepted"], false, "{acked}");
    assert!(acked["reason"].as_str().unwrap().contains("deleted"), "{acked}");
    assert_eq!(pull(60_000, 200)["none"], true);
}

#[test]
fn the_pull_api_is_refused_to_a_host_that_did_not_ask_for_it_and_validates_its_requests() {
    if !support::isolated() {
        return;
    }
    let not_initialized = lib().call("NextPanicReport", "{}");
    support::assert_error(&not_initialized, "not-initialized");
    let receiver = Receiver::start();
    let dir = data_dir();
    set_environment("ci-main");
    let answer = lib().init(json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn()}));
    assert_eq!(answer["panicReporting"]["transport"], "library", "the default: {answer}");
    let refused = lib().call("NextPanicReport", "{}");
    assert!(support::assert_error(&refused, "invalid-request")["error"].as_str().unwrap().contains("host"));
    support::assert_error(&lib().call("PanicReportOutcome", r#"{"id":"1","status":200}"#), "invalid-request");
    let bad = lib().call(
        "InitializeApplication",
        &json!({"dataDir": dir.path(), "transport": "carrier pigeon"}).to_string(),
    );
    support::assert_error(&bad, "invalid-request");
    host_opted_in(dir.path(), &receiver.dsn());
    for request in [
        json!({"leaseMs": 0}),
        json!({"leaseMs": 600_001}),
        json!({"waitMs": 60_001}),
        json!({"leaseMs": "soon"}),
    ] {
        support::assert_error(&lib().call("NextPanicReport", &request.to_string()), "invalid-request");
    }
    for request in [
        json!({"status": 200}),
        json!({"id": "1"}),
        json!({"id": "x", "status": 200}),
        json!({"id": "1", "status": 200, "networkError": "both"}),
        json!({"id": "1", "status": 99}),
        json!({"id": "1", "status": 600}),
    ] {
        support::assert_error(&lib().call("PanicReportOutcome", &request.to_string()), "invalid-request");
    }
    let unknown = outcome(json!({"id": "12345", "status": 200}));
    assert_eq!(unknown["accepted"], false, "{unknown}");
}

/// A build without the library's TLS (`--no-default-features`): an https
/// DSN is for the host's transport only, and init says so.
#[cfg(not(feature = "library-tls"))]
#[test]
fn without_the_library_tls_an_https_dsn_needs_the_host_transport() {
    if !support::isolated() {
        return;
    }
    let dir = data_dir();
    set_environment("ci-main");
    support::write_opted_in(dir.path());
    let https = format!("https://{}@sentry.invalid/42", support::KEY);
    let answer = lib().init(json!({"dataDir": dir.path(), "sentryDSN": https}));
    assert_eq!(answer["panicReporting"]["active"], false, "{answer}");
    let reason = answer["panicReporting"]["reason"].as_str().unwrap();
    assert!(reason.contains("\"transport\":\"host\"") && reason.contains("TLS"), "{reason}");
    let answer = lib().init(json!({"dataDir": dir.path(), "sentryDSN": https, "transport": "host"}));
    assert_eq!(answer["panicReporting"]["active"], true, "{answer}");
    lib().intended_panic("sent by the host over its own TLS");
    let report = pull_report();
    assert_eq!(report["url"], "https://sentry.invalid/api/42/envelope/");
    // sentryCaCerts is the library's TLS's: accepted and ignored here (the
    // file is not read; a TLS build refuses a missing one), so the same
    // request initializes both builds.
    let missing = dir.path().join("no-such-ca.pem");
    let answer = lib().init(
        json!({"dataDir": dir.path(), "sentryDSN": https, "transport": "host", "sentryCaCerts": missing}),
    );
    assert_eq!(answer["panicReporting"]["active"], true, "{answer}");
    // Its path is still checked as any path.
    let nul =
        json!({"dataDir": dir.path(), "sentryDSN": https, "transport": "host", "sentryCaCerts": "a\u{0}b"});
    support::assert_error(&lib().call("InitializeApplication", &nul.to_string()), "invalid-request");
}

/// The attempt and age caps hold for the host's transport as for the
/// library's: a status the host reports is the server's answer and counts
/// towards a report's attempts (in its file name), a network failure does
/// not; a report past its attempts or its age is never handed to the host,
/// and is counted on the next event.
#[test]
fn the_host_answers_count_towards_the_attempt_cap_and_expired_reports_are_never_handed_out() {
    if !support::isolated() {
        return;
    }
    let receiver = Receiver::start();
    let dir = data_dir();
    support::plant_report(dir.path(), Duration::from_secs(31 * 24 * 3600), 1, 0, b"a report from last month");
    let nineteen =
        support::plant_report(dir.path(), Duration::from_secs(60), 0, 19, b"answered 19 times before");
    let nineteen = nineteen.file_name().unwrap().to_string_lossy().into_owned();
    let names = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("panic-reports"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".envelope"))
            .collect();
        names.sort();
        names
    };
    host_opted_in(dir.path(), &receiver.dsn());

    // The old one is dropped unsent; the next is handed out.
    let report = pull_report();
    assert_eq!(report["body"], "answered 19 times before", "{report}");
    assert_eq!(names(), std::slice::from_ref(&nineteen), "the report from last month is gone");
    // A network failure is no attempt: its name keeps 19.
    let acked = send(&report, support::closed_port());
    assert_eq!(acked["verdict"], "retry", "{acked}");
    assert_eq!(names(), std::slice::from_ref(&nineteen));
    // The server's 500, as the host reports it, is the twentieth.
    let again = pull_report();
    assert_eq!(again["body"], report["body"]);
    let acked = outcome(json!({"id": again["id"], "status": 500}));
    assert_eq!(acked["verdict"], "retry", "{acked}");
    let counted = names();
    assert_eq!(counted.len(), 1);
    assert!(counted[0].ends_with("-20.envelope"), "{counted:?}");
    // Past its cap: dropped when next due, never handed out.
    let deadline = Instant::now() + Duration::from_secs(20);
    while outbox_files(dir.path()) > 0 {
        let answer = pull(60_000, 1_000);
        assert!(!answer["id"].is_string(), "an expired report was handed out: {answer}");
        assert!(Instant::now() < deadline, "never dropped: {:?}", names());
    }
    // Both are counted on the next event.
    lib().intended_panic("the next one");
    let next = pull_report();
    let event = support::envelope_event(next["body"].as_str().unwrap().as_bytes()).expect("an event");
    assert_eq!(event["extra"]["libstatus.dropped_reports"], 2, "{event}");
    assert_eq!(send(&next, receiver.addr)["verdict"], "delivered");
    assert_eq!(receiver.request_count(), 1, "only the last report reached the server");
}
