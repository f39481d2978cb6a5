//! Never block the host, never lose a report: the durable outbox against
//! real sockets on loopback (a blackhole, a closed port, a receiver that
//! answers 429/500/413), a SIGKILLed process, opt-out mid-retry, and a storm.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{data_dir, dsn_for, lib, outbox_files, set_environment, Blackhole, Receiver, Reply};

/// Generous: proves "does not wait on the network", not a speed (the figures
/// are in the benchmark).
const DOES_NOT_BLOCK: Duration = Duration::from_secs(1);

fn opted_in(dir: &tempfile::TempDir, dsn: &str) {
    set_environment("ci-main");
    let answer = lib().init(json!({"dataDir": dir.path(), "sentryDSN": dsn}));
    assert_eq!(
        answer["panicReporting"]["reason"],
        "the user has not opted in to metrics (ToggleCentralizedMetrics)"
    );
    lib().opt_in(true);
}

fn timed_panic(message: &str) -> Duration {
    let started = Instant::now();
    let v = lib().intended_panic(message);
    let took = started.elapsed();
    assert_eq!(v["code"], "panic");
    assert_eq!(v["error"], message);
    took
}

fn events_with(receiver: &Receiver, message: &str) -> usize {
    receiver.delivered_events().iter().filter(|e| e["exception"]["values"][0]["value"] == message).count()
}

#[test]
fn a_blackholed_server_does_not_block_and_the_report_is_delivered_once_it_is_back() {
    if !support::isolated() {
        return;
    }
    let blackhole = Blackhole::start();
    let dir = data_dir();
    opted_in(&dir, &blackhole.dsn());
    let took = timed_panic("during the blackhole");
    assert!(took < DOES_NOT_BLOCK, "a panicking call took {took:?}");
    assert_eq!(outbox_files(dir.path()), 1, "the report is on disk before the call returns");
    // The sender is stuck on the blackhole; more panics still return at once.
    for _ in 0..3 {
        let took = timed_panic("during the blackhole");
        assert!(took < DOES_NOT_BLOCK, "a panicking call took {took:?}");
    }
    let started = Instant::now();
    assert_eq!(lib().flush(300), 4, "nothing could be delivered");
    assert!(started.elapsed() < Duration::from_secs(3));

    // The server comes back on the same address.
    let addr = blackhole.close();
    let receiver = Receiver::start_on(&addr.to_string());
    assert_eq!(lib().flush(20_000), 0);
    assert_eq!(events_with(&receiver, "during the blackhole"), 4, "each report exactly once");
    assert_eq!(outbox_files(dir.path()), 0);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(receiver.request_count(), 4, "no duplicates");
}

#[test]
fn a_closed_port_does_not_block_and_the_report_waits_on_disk() {
    if !support::isolated() {
        return;
    }
    let addr = support::closed_port();
    let dir = data_dir();
    opted_in(&dir, &dsn_for(addr));
    let took = timed_panic("port closed");
    assert!(took < DOES_NOT_BLOCK, "a panicking call took {took:?}");
    assert_eq!(lib().flush(500), 1);
    assert_eq!(outbox_files(dir.path()), 1);
    let receiver = Receiver::start_on(&addr.to_string());
    assert_eq!(lib().flush(20_000), 0);
    assert_eq!(events_with(&receiver, "port closed"), 1);
}

/// The child of `a_report_survives_sigkill`: opts in, panics, and waits to be killed.
#[test]
fn sigkill_child() {
    let Ok(dir) = std::env::var("LIBSTATUS_KILL_CHILD_DIR") else { return };
    let blackhole = Blackhole::start();
    set_environment("ci-main");
    lib().init(json!({"dataDir": dir, "sentryDSN": blackhole.dsn()}));
    lib().opt_in(true);
    lib().intended_panic("killed before delivery");
    println!("PANICKED");
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn a_report_survives_sigkill_and_is_sent_once_by_the_next_process() {
    if !support::isolated() {
        return;
    }
    let dir = data_dir();
    let mut child = support::self_command()
        .args(["--exact", "sigkill_child", "--nocapture", "--test-threads=1"])
        .env("LIBSTATUS_KILL_CHILD_DIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let panicked = BufReader::new(stdout).lines().map_while(Result::ok).any(|l| l.contains("PANICKED"));
    assert!(panicked, "the child did not panic");
    // SIGKILL on Unix, TerminateProcess on Windows: no code of the child runs.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(outbox_files(dir.path()), 1, "the report is on disk");

    let receiver = Receiver::start();
    set_environment("ci-main");
    let answer = lib().init(json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn()}));
    assert_eq!(answer["panicReporting"]["active"], true, "the opt-in survived: {answer}");
    assert_eq!(lib().flush(20_000), 0);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.request_count(), 1);
    assert_eq!(events_with(&receiver, "killed before delivery"), 1);
}

#[test]
fn reports_left_by_an_earlier_process_are_dropped_when_consent_is_gone() {
    if !support::isolated() {
        return;
    }
    let dir = data_dir();
    let blackhole = Blackhole::start();
    opted_in(&dir, &blackhole.dsn());
    lib().intended_panic("left behind");
    assert_eq!(outbox_files(dir.path()), 1);
    // The opt-in file says "no" at the next start (changed by another install, say).
    std::fs::write(dir.path().join("centralized-metrics.json"), r#"{"enabled":false,"userConfirmed":true}"#)
        .unwrap();
    let receiver = Receiver::start();
    lib().init(json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn()}));
    assert_eq!(outbox_files(dir.path()), 0);
    lib().flush(300);
    assert_eq!(receiver.request_count(), 0);
}

#[test]
fn reports_left_by_an_earlier_process_wait_while_the_environment_is_not_reported() {
    if !support::isolated() {
        return;
    }
    let dir = data_dir();
    let blackhole = Blackhole::start();
    opted_in(&dir, &blackhole.dsn());
    lib().intended_panic("left behind in ci-main");
    assert_eq!(outbox_files(dir.path()), 1);
    // The next start runs as a development build: nothing may leave.
    let receiver = Receiver::start();
    set_environment("development");
    let answer = lib().init(json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn()}));
    assert_eq!(answer["panicReporting"]["active"], false);
    assert_eq!(lib().flush(500), 1, "kept, not sent");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.request_count(), 0);
    // Back in a reported environment, it goes out once. (The old server is
    // gone: the sender's request to it, hung until now, fails and it moves on.)
    blackhole.close();
    set_environment("ci-main");
    lib().init(json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn()}));
    assert_eq!(lib().flush(10_000), 0);
    assert_eq!(events_with(&receiver, "left behind in ci-main"), 1);
}

/// A report the gate held back leaves on its own once an init opens the
/// gate (no flush from the host), and the server's wait after a failed first
/// attempt is honoured as such: the sender had found the gate closed before
/// (a flush made it ask), and an init that opens it must make it forget
/// that, or it would idle for a minute between attempts as if still closed.
#[test]
fn a_report_held_back_by_the_gate_leaves_on_its_own_once_an_init_opens_it() {
    if !support::isolated() {
        return;
    }
    let receiver = Receiver::start();
    receiver.queue([Reply::Status(503, vec![("Retry-After".to_owned(), "1".to_owned())])]);
    let dir = data_dir();
    let left_behind = support::planted_envelope("left while the gate was closed");
    support::plant_report(dir.path(), Duration::ZERO, 0, 0, &left_behind);
    support::write_opted_in(dir.path());

    // A development build: nothing may leave. The flush makes the sender ask.
    set_environment("development");
    let answer = lib().init(json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn()}));
    assert_eq!(answer["panicReporting"]["active"], false, "{answer}");
    assert_eq!(lib().flush(2_000), 1, "kept, not sent");
    assert_eq!(receiver.request_count(), 0);

    // The same DSN in a reported environment: no flush from here on.
    set_environment("ci-main");
    let answer = lib().init(json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn()}));
    assert_eq!(answer["panicReporting"]["active"], true, "{answer}");
    // 503 with Retry-After: 1, then the retry (1 to 1.25 s later) is taken.
    assert_eq!(
        receiver.wait_for_requests(2, Duration::from_secs(15)),
        2,
        "the retry after the server's wait"
    );
    let received = receiver.received();
    assert!(received.iter().all(|r| r.body == left_behind), "only the planted report");
    let gap = received[1].at - received[0].at;
    assert!(gap >= Duration::from_millis(900), "the server's wait was honoured: {gap:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while outbox_files(dir.path()) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(outbox_files(dir.path()), 0, "deleted once delivered");
}

#[test]
fn server_errors_are_retried_with_backoff() {
    if !support::isolated() {
        return;
    }
    let receiver = Receiver::start();
    receiver.queue([Reply::Status(500, vec![]), Reply::Status(503, vec![])]);
    let dir = data_dir();
    opted_in(&dir, &receiver.dsn());
    lib().intended_panic("retried");
    // Without a flush the sender waits out its backoff (1 s, then 2 s).
    assert_eq!(receiver.wait_for_requests(3, Duration::from_secs(15)), 3);
    assert_eq!(lib().flush(5_000), 0);
    let statuses: Vec<Option<u16>> = receiver.received().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Some(500), Some(503), Some(200)]);
    assert_eq!(events_with(&receiver, "retried"), 1);
}

fn gap_between_first_two_requests(receiver: &Receiver) -> Duration {
    let times = receiver.arrival_times();
    times[1].duration_since(times[0])
}

#[test]
fn a_429_is_retried_only_after_retry_after() {
    if !support::isolated() {
        return;
    }
    let receiver = Receiver::start();
    receiver.queue([Reply::Status(429, vec![("Retry-After".into(), "2".into())])]);
    let dir = data_dir();
    opted_in(&dir, &receiver.dsn());
    lib().intended_panic("rate limited");
    assert_eq!(receiver.wait_for_requests(1, Duration::from_secs(10)), 1);
    // A flush does not override the server's wish.
    assert_eq!(lib().flush(20_000), 0);
    assert_eq!(receiver.request_count(), 2);
    let gap = gap_between_first_two_requests(&receiver);
    assert!(gap >= Duration::from_millis(1900), "retried after {gap:?}");
    assert_eq!(events_with(&receiver, "rate limited"), 1);
}

#[test]
fn x_sentry_rate_limits_are_honoured() {
    if !support::isolated() {
        return;
    }
    let receiver = Receiver::start();
    receiver.queue([Reply::Status(
        429,
        vec![
            ("X-Sentry-Rate-Limits".into(), "3:error;transaction:key".into()),
            ("Retry-After".into(), "1".into()),
        ],
    )]);
    let dir = data_dir();
    opted_in(&dir, &receiver.dsn());
    lib().intended_panic("limited by category");
    assert_eq!(lib().flush(20_000), 0);
    assert_eq!(receiver.request_count(), 2);
    let gap = gap_between_first_two_requests(&receiver);
    assert!(gap >= Duration::from_millis(2900), "retried after {gap:?}");
}

#[test]
fn a_413_is_never_retried() {
    if !support::isolated() {
        return;
    }
    let receiver = Receiver::start();
    receiver.queue([Reply::Status(413, vec![]), Reply::Status(400, vec![])]);
    let dir = data_dir();
    opted_in(&dir, &receiver.dsn());
    lib().intended_panic("too large");
    assert_eq!(lib().flush(10_000), 0);
    lib().intended_panic("bad request");
    assert_eq!(lib().flush(10_000), 0);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(receiver.request_count(), 2, "permanent rejections are deleted, not retried");
    assert_eq!(outbox_files(dir.path()), 0);
}

#[test]
fn opting_out_while_the_sender_retries_purges_everything() {
    if !support::isolated() {
        return;
    }
    let receiver = Receiver::start();
    receiver.set_default(Reply::Status(500, vec![]));
    let dir = data_dir();
    opted_in(&dir, &receiver.dsn());
    lib().intended_panic("queued before the opt-out");
    lib().intended_panic("queued before the opt-out");
    assert_eq!(receiver.wait_for_requests(1, Duration::from_secs(10)), 1);
    lib().opt_in(false);
    let after_opt_out = receiver.request_count();
    assert_eq!(outbox_files(dir.path()), 0, "purged before the toggle answered");
    assert_eq!(lib().flush(1_000), 0);
    // The sender would have retried after 1 s and 2 s.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(receiver.request_count(), after_opt_out, "a request reached the server after the opt-out");
    // Opting in again does not bring anything back.
    receiver.set_default(Reply::ok());
    lib().opt_in(true);
    assert_eq!(lib().flush(2_000), 0);
    assert_eq!(receiver.request_count(), after_opt_out);
}

fn extra_count(event: &Value, key: &str) -> u64 {
    event["extra"][key].as_u64().unwrap_or(0)
}

#[test]
fn a_panic_storm_sends_a_bounded_number_of_events_and_counts_the_rest() {
    if !support::isolated() {
        return;
    }
    const THREADS: usize = 4;
    const PER_THREAD: usize = 2_500;
    const WINDOW_MS: u64 = 1_000;
    let receiver = Receiver::start();
    let dir = data_dir();
    set_environment("ci-main");
    lib().init(json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn(), "panicStormWindowMs": WINDOW_MS}));
    lib().opt_in(true);

    let started = Instant::now();
    let max_outbox = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (max_outbox, path) = (max_outbox.clone(), dir.path().to_owned());
            #[allow(clippy::disallowed_methods)] // host threads
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let v = lib().intended_panic("storm");
                    assert_eq!(v["code"], "panic", "thread {t} call {i}: {v}");
                    if i % 250 == 0 {
                        max_outbox.fetch_max(outbox_files(&path), std::sync::atomic::Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let storm = started.elapsed();
    // One more panic from the same site after the window carries the rest.
    std::thread::sleep(Duration::from_millis(WINDOW_MS + 100));
    lib().intended_panic("storm");
    assert_eq!(lib().flush(20_000), 0);

    let events: Vec<Value> = receiver.delivered_events();
    let windows = storm.as_millis() as u64 / WINDOW_MS + 2;
    let bound = 5 * windows as usize;
    assert!(events.len() <= bound, "{} events for {windows} windows (bound {bound})", events.len());
    let suppressed: u64 = events.iter().map(|e| extra_count(e, "libstatus.suppressed_since_last")).sum();
    let dropped: u64 = events.iter().map(|e| extra_count(e, "libstatus.dropped_reports")).sum();
    let total = (THREADS * PER_THREAD + 1) as u64;
    assert_eq!(
        events.len() as u64 + suppressed + dropped,
        total,
        "{} events + {suppressed} suppressed + {dropped} dropped",
        events.len()
    );
    assert!(max_outbox.load(std::sync::atomic::Ordering::Relaxed) <= 30);
    println!(
        "storm: {total} panics in {storm:?} ({:.1} us/panic), {} events sent, {suppressed} suppressed",
        storm.as_micros() as f64 / (THREADS * PER_THREAD) as f64,
        events.len()
    );
}

/// The send budget (10 a minute, bursts of 30): a client whose panics outrun
/// it never sends faster, whatever its backlog; what it cannot send is
/// evicted and counted, so every panic is still accounted for, and a flush
/// sends what is left.
#[test]
fn one_client_never_sends_more_than_its_budget_and_counts_what_it_evicts() {
    if !support::isolated() {
        return;
    }
    const WINDOW_MS: u64 = 100;
    const STORM: Duration = Duration::from_secs(8);
    let receiver = Receiver::start();
    let dir = data_dir();
    set_environment("ci-main");
    let started = Instant::now();
    let answer = lib()
        .init(json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn(), "panicStormWindowMs": WINDOW_MS}));
    assert!(answer.get("error").is_none(), "{answer}");
    lib().opt_in(true);
    // Up to 5 events per 100 ms window from one site: about 50 a second,
    // five times what the budget lets out in a minute, every second.
    let mut panics = 0u64;
    while started.elapsed() < STORM {
        assert_eq!(lib().intended_panic("over budget")["code"], "panic");
        panics += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_secs(1));
    let elapsed = started.elapsed();
    let sent = receiver.request_count();
    let budget = 30 + (10.0 * elapsed.as_secs_f64() / 60.0).ceil() as usize;
    println!(
        "{panics} panics in {elapsed:?}: {sent} requests (budget {budget}), {} in the outbox",
        outbox_files(dir.path())
    );
    assert!(sent <= budget, "{sent} requests in {elapsed:?}: over the budget of {budget}");
    // The initial delay is at most 5 s and the burst goes out at once.
    assert!(sent >= 30, "only {sent} requests in {elapsed:?}: the burst did not go out");
    assert!(outbox_files(dir.path()) <= 30, "the outbox stays within its bound");

    // After the window, one more panic carries the last counts; the flush
    // sends what is pending regardless of the budget.
    std::thread::sleep(Duration::from_millis(WINDOW_MS + 50));
    lib().intended_panic("over budget");
    panics += 1;
    assert_eq!(lib().flush(20_000), 0);
    let events = receiver.delivered_events();
    let suppressed: u64 = events.iter().map(|e| extra_count(e, "libstatus.suppressed_since_last")).sum();
    let dropped: u64 = events.iter().map(|e| extra_count(e, "libstatus.dropped_reports")).sum();
    assert_eq!(
        events.len() as u64 + suppressed + dropped,
        panics,
        "{} events + {suppressed} suppressed + {dropped} evicted",
        events.len()
    );
    assert!(dropped > 0, "the storm outran the budget, so reports were evicted (and counted)");
}

/// A size past 4 GiB must not wrap where `usize` is 32 bits (scripts/cross
/// runs this on i686): a report file of 4 GiB + 100 bytes (sparse: it takes no
/// room on disk) left in the outbox is removed as too large, never read as a
/// 100-byte report nor sent, and the count that `FlushPanicReports` answers
/// does not include it.
#[test]
fn a_report_file_past_4_gib_is_removed_and_never_sent() {
    if !support::isolated() {
        return;
    }
    let dir = data_dir();
    support::write_opted_in(dir.path());
    let huge = support::plant_report(dir.path(), Duration::ZERO, 0, 0, b"");
    std::fs::OpenOptions::new().write(true).open(&huge).unwrap().set_len((1 << 32) + 100).unwrap();
    assert_eq!(outbox_files(dir.path()), 1);
    let receiver = Receiver::start();
    set_environment("ci-main");
    let answer = lib().init(json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn()}));
    assert_eq!(answer["panicReporting"]["active"], true, "{answer}");
    assert_eq!(lib().flush(5_000), 0, "the huge file is not a pending report");
    assert!(!huge.exists(), "the huge file was removed");
    assert_eq!(receiver.request_count(), 0, "nothing was sent");
}
