//! Consent under races and faults, through the built `.so`: a failed init
//! changes nothing, an opt-out that answered is never undone, no request
//! starts after an opt-out answered, an opt-out that cannot be written still
//! holds, and the library's files are private.
// The helpers of the Unix-only tests below are unused on Windows.
#![cfg_attr(windows, allow(dead_code, unused_imports))]

mod support;

#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
#[cfg(target_os = "linux")]
use support::StampedReceiver;
use support::{assert_error, data_dir, lib, parse, set_environment, Blackhole, Receiver, KEY};

fn file_enabled(dir: &Path) -> bool {
    let raw = std::fs::read_to_string(dir.join("centralized-metrics.json")).unwrap_or_default();
    serde_json::from_str::<Value>(&raw).ok().and_then(|v| v["enabled"].as_bool()).unwrap_or(false)
}

fn info_enabled() -> bool {
    parse(&lib().call_void("CentralizedMetricsInfo"))["enabled"].as_bool().expect("enabled")
}

fn toggle(enabled: bool) -> String {
    lib().call("ToggleCentralizedMetrics", &json!({ "enabled": enabled }).to_string())
}

/// Account B (never opted in) is current; account A had opted in. An init
/// with A's dataDir that fails must not apply A's opt-in to B.
fn a_failed_init_keeps_the_previous_account(
    fail_init_of_a: impl FnOnce(&Path, &Receiver) -> String,
    code: &str,
) {
    set_environment("ci-main");
    let receiver = Receiver::start();
    let b = data_dir();
    let a = data_dir();
    support::write_opted_in(a.path());
    let answer = lib().init(json!({"dataDir": b.path(), "sentryDSN": receiver.dsn()}));
    assert_eq!(answer["centralizedMetricsInfo"]["enabled"], false);
    let failed = fail_init_of_a(a.path(), &receiver);
    let error = assert_error(&failed, code);
    assert!(error["error"].as_str().unwrap().contains("nothing changed"), "{error}");
    assert!(!info_enabled(), "B is still not opted in");
    lib().intended_panic("B's panic after A's failed init");
    assert_eq!(lib().flush(2_000), 0);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.request_count(), 0, "B's panic must not be sent with A's consent");
    // B's settings are still the live ones: B can opt in and report.
    lib().opt_in(true);
    lib().intended_panic("B opted in");
    assert_eq!(lib().flush(10_000), 0);
    assert_eq!(receiver.delivered_events().len(), 1);
}

#[test]
fn a_failed_init_with_an_unusable_log_dir_keeps_the_previous_accounts_consent() {
    if !support::isolated() {
        return;
    }
    a_failed_init_keeps_the_previous_account(
        |a, receiver| {
            let not_a_folder = a.join("file");
            std::fs::write(&not_a_folder, b"x").unwrap();
            lib().call(
                "InitializeApplication",
                &json!({"dataDir": a, "sentryDSN": receiver.dsn(), "logEnabled": true,
                        "logDir": not_a_folder.join("logs")})
                .to_string(),
            )
        },
        "internal",
    );
}

/// Holds the outbox of `LIBSTATUS_HOLD_DIR` until killed.
#[test]
fn hold_outbox_helper() {
    let Ok(dir) = std::env::var("LIBSTATUS_HOLD_DIR") else { return };
    lib().init(json!({ "dataDir": dir }));
    println!("HOLDING");
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn a_failed_init_with_an_outbox_held_by_another_process_keeps_the_previous_accounts_consent() {
    if !support::isolated() {
        return;
    }
    let mut holder: Option<std::process::Child> = None;
    a_failed_init_keeps_the_previous_account(
        |a, receiver| {
            let mut child = support::self_command()
                .args(["--exact", "hold_outbox_helper", "--nocapture", "--test-threads=1"])
                .env("LIBSTATUS_HOLD_DIR", a)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let stdout = child.stdout.take().unwrap();
            use std::io::BufRead;
            let held =
                std::io::BufReader::new(stdout).lines().map_while(Result::ok).any(|l| l.contains("HOLDING"));
            assert!(held, "the helper did not take the outbox");
            holder = Some(child);
            lib().call(
                "InitializeApplication",
                &json!({"dataDir": a, "sentryDSN": receiver.dsn()}).to_string(),
            )
        },
        "invalid-request",
    );
    if let Some(mut child) = holder {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn a_null_byte_in_a_path_is_an_invalid_request() {
    if !support::isolated() {
        return;
    }
    let dir = data_dir();
    let with_nul = format!("{}/a\u{0}b", dir.path().display());
    assert_error(
        &lib().call("InitializeApplication", &json!({ "dataDir": with_nul }).to_string()),
        "invalid-request",
    );
    assert_error(
        &lib().call("InitializeApplication", &json!({"dataDir": dir.path(), "logDir": with_nul}).to_string()),
        "invalid-request",
    );
    assert_error(&lib().call_void("CentralizedMetricsInfo"), "not-initialized");
}

#[test]
fn an_opt_out_is_never_undone_by_a_racing_init() {
    if !support::isolated() {
        return;
    }
    set_environment("ci-main");
    let receiver = Receiver::start();
    let dir = data_dir();
    let request = json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn()}).to_string();
    lib().init(serde_json::from_str(&request).unwrap());
    for round in 0..500 {
        lib().opt_in(true);
        let barrier = Arc::new(Barrier::new(2));
        let (b, r) = (barrier.clone(), request.clone());
        #[allow(clippy::disallowed_methods)] // the test's own host threads
        let init = std::thread::spawn(move || {
            b.wait();
            lib().call("InitializeApplication", &r)
        });
        barrier.wait();
        assert_eq!(toggle(false), r#"{"error":""}"#);
        let answer = parse(&init.join().unwrap());
        assert!(answer.get("error").is_none(), "{answer}");
        assert!(!file_enabled(dir.path()), "round {round}: the file says opted in");
        assert!(
            !info_enabled(),
            "round {round}: CentralizedMetricsInfo says opted in after the opt-out answered"
        );
        let fresh = lib().init(serde_json::from_str(&request).unwrap());
        assert_eq!(fresh["panicReporting"]["active"], false, "round {round}: the gate is open: {fresh}");
    }
    lib().intended_panic("after every opt-out");
    assert_eq!(lib().flush(2_000), 0);
    assert_eq!(receiver.request_count(), 0);
}

/// What one host thread did, and when (wall clock, to compare with the
/// kernel's receive times).
#[derive(Debug, Clone)]
enum Act {
    OptIn {
        start: SystemTime,
    },
    OptOut {
        end: SystemTime,
    },
    /// An `IntendedPanic` or an `IntendedBackgroundPanic` call began.
    Panic {
        id: String,
        start: SystemTime,
    },
}

#[test]
#[cfg(target_os = "linux")] // kernel receive timestamps
fn no_report_of_an_opted_out_user_leaves_whatever_the_interleaving() {
    if !support::isolated() {
        return;
    }
    set_environment("ci-main");
    let receiver = StampedReceiver::start();
    let dir = data_dir();
    let request =
        json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn(), "panicStormWindowMs": 100}).to_string();
    lib().init(serde_json::from_str(&request).unwrap());
    let acts: Arc<Mutex<Vec<Act>>> = Arc::default();
    const ROUNDS: usize = 400;
    let mut interleavings = 0;
    for round in 0..ROUNDS {
        let barrier = Arc::new(Barrier::new(4));
        let mut threads = Vec::new();
        // One thread toggles (so "the last toggle that returned" is well
        // defined), one re-initialises, two panic.
        {
            let (barrier, acts) = (barrier.clone(), acts.clone());
            #[allow(clippy::disallowed_methods)] // the test's own host threads
            threads.push(std::thread::spawn(move || {
                barrier.wait();
                for i in 0..3 {
                    let enabled = (round + i) % 2 == 0;
                    let start = SystemTime::now();
                    assert_eq!(toggle(enabled), r#"{"error":""}"#);
                    let end = SystemTime::now();
                    acts.lock().unwrap().push(if enabled {
                        Act::OptIn { start }
                    } else {
                        Act::OptOut { end }
                    });
                    // Long enough for the sender to start requests that the
                    // next opt-out must cut off.
                    std::thread::sleep(Duration::from_millis(2 + (round % 3) as u64));
                }
            }));
        }
        {
            let (barrier, request) = (barrier.clone(), request.clone());
            #[allow(clippy::disallowed_methods)] // the test's own host threads
            threads.push(std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..2 {
                    let answer = parse(&lib().call("InitializeApplication", &request));
                    assert!(answer.get("error").is_none(), "{answer}");
                }
            }));
        }
        for t in 0..2 {
            let (barrier, acts) = (barrier.clone(), acts.clone());
            #[allow(clippy::disallowed_methods)] // the test's own host threads
            threads.push(std::thread::spawn(move || {
                barrier.wait();
                for i in 0..3 {
                    let id = format!("race-{round}-{t}-{i}");
                    let start = SystemTime::now();
                    // Two panic sites, so that storm control lets more through.
                    if t == 0 {
                        assert_eq!(lib().intended_panic(&id)["code"], "panic");
                    } else {
                        assert_eq!(lib().call("IntendedBackgroundPanic", &id), r#"{"error":""}"#);
                    }
                    acts.lock().unwrap().push(Act::Panic { id, start });
                    if t == 0 {
                        // As a host does when it goes to the background: the
                        // sender skips its initial delay and backoff.
                        lib().flush(0);
                    }
                }
            }));
        }
        for thread in threads {
            thread.join().unwrap();
        }
        interleavings += 1;
        // The last toggle that returned is the truth for the file and the answer.
        let last_enabled = (round + 2) % 2 == 0;
        assert_eq!(file_enabled(dir.path()), last_enabled, "round {round}: file");
        assert_eq!(info_enabled(), last_enabled, "round {round}: CentralizedMetricsInfo");
    }
    acts.lock().unwrap().push(Act::OptIn { start: SystemTime::now() });
    toggle(true);
    // Nothing races this one: it is reported (consent is judged when a panic
    // happens, and only a withdrawal during its handling drops it, which in
    // the rounds above, with a toggle every few hundred microseconds, is
    // most of them).
    std::thread::sleep(Duration::from_millis(150)); // past the storm window
    assert_eq!(lib().intended_panic("race-final")["code"], "panic");
    assert_eq!(lib().flush(20_000), 0);
    toggle(false);
    acts.lock().unwrap().push(Act::OptOut { end: SystemTime::now() });
    std::thread::sleep(Duration::from_millis(300));

    // Forbidden windows: from an opt-out's answer to the next opt-in's call.
    let mut acts = acts.lock().unwrap().clone();
    let at = |a: &Act| match a {
        Act::OptIn { start } => *start,
        Act::OptOut { end } => *end,
        Act::Panic { start, .. } => *start,
    };
    acts.sort_by_key(at);
    let mut windows: Vec<(SystemTime, SystemTime)> = Vec::new();
    let mut open: Option<SystemTime> = None;
    for act in &acts {
        match act {
            Act::OptOut { end } if open.is_none() => open = Some(*end),
            Act::OptIn { start } => {
                if let Some(from) = open.take() {
                    windows.push((from, *start));
                }
            }
            _ => {}
        }
    }
    if let Some(from) = open {
        windows.push((from, SystemTime::now()));
    }
    let forbidden = |t: SystemTime| windows.iter().any(|(from, to)| t > *from && t < *to);
    let requests = receiver.requests();
    let mut late = Vec::new();
    for request in &requests {
        for stamp in &request.stamps {
            if forbidden(*stamp) {
                late.push(
                    String::from_utf8_lossy(&request.bytes[..request.bytes.len().min(200)]).into_owned(),
                );
            }
        }
    }
    assert!(late.is_empty(), "{} request chunks arrived after an opt-out answered: {late:?}", late.len());
    let sent_events: Vec<Value> = requests.iter().filter_map(|r| r.event()).collect();
    let id_of = |e: &Value| e["exception"]["values"][0]["value"].as_str().map(str::to_owned);
    // A panic happens after its call's `start`: inside the call, or later on
    // a library thread for a background one. Either may come after the next
    // opt-in (a loaded machine can hold a calling thread back past it), and
    // is then rightly reported. So each is judged by its event's timestamp,
    // taken after the panic: a timestamp inside the window that holds its
    // start proves it panicked in that window. One not sent has no
    // timestamp, and counts as panicked in its start's window.
    let event_time = |id: &str| {
        sent_events.iter().find(|e| id_of(e).as_deref() == Some(id)).and_then(|e| e["timestamp"].as_f64())
    };
    let same_window = |start: SystemTime, at: SystemTime| {
        windows.iter().any(|(from, to)| start > *from && start < *to && at > *from && at < *to)
    };
    let panics_in_windows: Vec<&String> = acts
        .iter()
        .filter_map(|a| match a {
            Act::Panic { id, start, .. } if forbidden(*start) => {
                let at = event_time(id).map(|secs| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs));
                at.is_none_or(|at| same_window(*start, at)).then_some(id)
            }
            _ => None,
        })
        .collect();
    let sent: Vec<String> = sent_events.iter().filter_map(id_of).collect();
    for id in &panics_in_windows {
        assert!(!sent.contains(id), "{id} panicked while opted out and was sent");
    }
    eprintln!(
        "race: {interleavings} rounds, {} acts, {} opt-out windows, {} panics while opted out, {} requests, {} events",
        acts.len(),
        windows.len(),
        panics_in_windows.len(),
        requests.len(),
        sent.len()
    );
    assert!(
        sent.iter().any(|id| id == "race-final"),
        "the panic after the rounds was not reported: {sent:?}"
    );
    assert!(interleavings * 11 >= 2_000 && !panics_in_windows.is_empty());
}

#[cfg(unix)]
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("SKIPPED: this fault injection needs root (mount, chattr)");
    }
    root
}

/// Runs `f` with a folder on a small tmpfs of its own (a disk that can fill).
#[cfg(unix)]
fn on_tmpfs(size: &str, f: impl FnOnce(&Path)) {
    let mount_point = data_dir();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
        .arg(mount_point.path())
        .status()
        .expect("mount");
    assert!(status.success(), "mount -t tmpfs failed");
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(self.0).status();
        }
    }
    let _unmount = Unmount(mount_point.path());
    f(mount_point.path());
}

/// Makes folders unwritable even for root (`chattr +i`), and writable again
/// when dropped.
struct Immutable(Vec<std::path::PathBuf>);

impl Immutable {
    fn set(paths: &[&Path]) -> Self {
        for p in paths {
            let status = Command::new("chattr").arg("+i").arg(p).status().expect("chattr");
            assert!(status.success(), "chattr +i {}", p.display());
        }
        Immutable(paths.iter().map(|p| p.to_path_buf()).collect())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = Command::new("chattr").arg("-i").arg(p).status();
        }
    }
}

#[test]
#[cfg(unix)] // mount, chattr
fn an_opt_out_that_cannot_be_written_still_holds_and_nothing_pending_is_sent() {
    if !support::isolated() || !is_root() {
        return;
    }
    set_environment("ci-main");
    let dir = data_dir();
    let blackhole = Blackhole::start();
    lib().init(json!({"dataDir": dir.path(), "sentryDSN": blackhole.dsn()}));
    lib().opt_in(true);
    lib().intended_panic("pending one");
    lib().intended_panic("pending two");
    assert_eq!(support::outbox_files(dir.path()), 2);
    let reports = dir.path().join("panic-reports");
    let frozen = Immutable::set(&[dir.path(), &reports]);
    let answer = toggle(false);
    let error = assert_error(&answer, "internal");
    assert!(error["error"].as_str().unwrap().contains("opt-out"), "{error}");
    assert!(!info_enabled(), "the opt-out holds in memory");
    assert!(file_enabled(dir.path()), "the file could not be written (test precondition)");
    assert_eq!(support::outbox_files(dir.path()), 2, "the reports could not be deleted (test precondition)");
    // A re-init reads the opt-out, not the stale file; the undeletable
    // reports are never sent, even to a healthy server.
    let receiver = Receiver::start();
    let answer = lib().init(json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn()}));
    assert_eq!(answer["centralizedMetricsInfo"]["enabled"], false, "{answer}");
    assert_eq!(answer["panicReporting"]["active"], false, "{answer}");
    assert_error(&toggle(true), "internal"); // an opt-in that cannot be written changes nothing
    assert!(!info_enabled());
    assert_eq!(lib().flush(1_000), 0);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.request_count(), 0, "nothing of an opted-out user leaves");
    drop(frozen);
    // Once the disk takes writes again, a new opt-in sends only new reports.
    lib().opt_in(true);
    lib().intended_panic("after the disk recovered");
    assert_eq!(lib().flush(10_000), 0);
    let values: Vec<Value> =
        receiver.delivered_events().iter().map(|e| e["exception"]["values"][0]["value"].clone()).collect();
    assert_eq!(values, [json!("after the disk recovered")]);
}

#[test]
#[cfg(unix)] // a tmpfs
fn a_full_disk_answers_errors_and_loses_nothing_silently() {
    if !support::isolated() || !is_root() {
        return;
    }
    set_environment("ci-main");
    on_tmpfs("256k", |mount| {
        let dir = mount.join("account");
        let receiver = Receiver::start();
        lib().init(json!({"dataDir": dir, "sentryDSN": receiver.dsn(), "logEnabled": true}));
        lib().opt_in(true);
        // Fill the disk.
        let filler = mount.join("filler");
        let _ = std::fs::write(&filler, vec![0u8; 512 * 1024]);
        for i in 0..3 {
            let v = lib().intended_panic(&format!("disk full {i}"));
            assert_eq!(v["code"], "panic", "a panic is still answered: {v}");
        }
        let answer = toggle(false);
        assert!(answer == r#"{"error":""}"# || parse(&answer)["code"] == "internal", "{answer}");
        assert!(!info_enabled());
        std::fs::remove_file(&filler).unwrap();
        assert_eq!(toggle(true), r#"{"error":""}"#);
        lib().intended_panic("disk has room again");
        assert_eq!(lib().flush(10_000), 0);
        let values: Vec<Value> = receiver.delivered_events();
        assert!(values.iter().any(|e| e["exception"]["values"][0]["value"] == "disk has room again"));
    });
}

#[test]
#[cfg(unix)] // modes and the umask (Windows: the profile's ACL, see README)
fn files_and_folders_are_private_whatever_the_umask_and_logs_never_name_the_dsn() {
    if !support::isolated() {
        return;
    }
    set_environment("ci-main");
    // SAFETY: umask(2) only changes this process's file-creation mask.
    unsafe { libc::umask(0) };
    let root = data_dir();
    let dir = root.path().join("new-account");
    let receiver = Receiver::start();
    lib().init(json!({"dataDir": dir, "sentryDSN": receiver.dsn(), "logEnabled": true, "logLevel": "trace",
                      "apiLoggingEnabled": true}));
    lib().opt_in(true);
    lib().call("ToggleCentralizedMetrics", r#"{"enabled":true}"#);
    let blackhole = Blackhole::start();
    lib().init(json!({"dataDir": dir, "sentryDSN": blackhole.dsn(), "logEnabled": true, "logLevel": "trace",
                      "apiLoggingEnabled": true}));
    lib().intended_panic("kept pending");
    let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "a dataDir the library creates");
    assert_eq!(mode(&dir.join("panic-reports")), 0o700);
    assert_eq!(mode(&dir.join("panic-reports/.lock")), 0o600);
    assert_eq!(mode(&dir.join("centralized-metrics.json")), 0o600);
    assert_eq!(mode(&dir.join("status.log")), 0o600);
    assert_eq!(mode(&dir.join("api.log")), 0o600);
    let envelope = std::fs::read_dir(dir.join("panic-reports"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".envelope"))
        .expect("a pending report");
    assert_eq!(mode(&envelope.path()), 0o600);
    // Delivery happened at trace level: no URL, host, port or key of any DSN.
    lib().init(json!({"dataDir": dir, "sentryDSN": receiver.dsn(), "logEnabled": true, "logLevel": "trace"}));
    assert_eq!(lib().flush(10_000), 0);
    let log = std::fs::read_to_string(dir.join("status.log")).unwrap()
        + &std::fs::read_to_string(dir.join("api.log")).unwrap();
    for needle in
        [KEY.to_owned(), receiver.addr.to_string(), blackhole.addr.to_string(), "/envelope".to_owned()]
    {
        assert!(!log.contains(&needle), "{needle} in the logs:\n{log}");
    }
    assert!(log.contains("panic in API call IntendedPanic"), "{log}");
}

/// The dataDir is the host's, unlike the library's own folders in it: a
/// symbolic link there (to the account's folder) is followed and stays, and
/// a file at its name is an error that leaves the file as it was.
#[test]
#[cfg(unix)] // links (Wine shows a Unix link as its target)
fn a_data_dir_link_is_kept_and_a_data_dir_replaced_by_a_file_is_left_to_the_host() {
    if !support::isolated() {
        return;
    }
    let root = data_dir();
    let account = root.path().join("account");
    std::fs::create_dir(&account).unwrap();
    std::fs::write(account.join("the host's own file"), b"kept").unwrap();
    let link = root.path().join("link");
    assert!(support::symlink(&account, &link));
    let answer = lib().init(json!({ "dataDir": link }));
    assert!(answer.get("error").is_none(), "{answer}");
    assert!(
        std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(),
        "the host's link was replaced"
    );
    assert!(account.join("panic-reports/.lock").is_file(), "the outbox is in the link's target");
    assert_eq!(std::fs::read(account.join("the host's own file")).unwrap(), b"kept");

    let file = root.path().join("a file");
    std::fs::write(&file, b"the host's").unwrap();
    let answer = lib().call("InitializeApplication", &json!({ "dataDir": file }).to_string());
    assert_error(&answer, "internal");
    assert_eq!(std::fs::read(&file).unwrap(), b"the host's");
}

#[test]
fn an_init_with_the_outbox_folder_replaced_by_a_file_takes_the_folder_back() {
    if !support::isolated() {
        return;
    }
    set_environment("ci-main");
    let receiver = Receiver::start();
    let dir = data_dir();
    support::write_opted_in(dir.path());
    std::fs::write(dir.path().join("panic-reports"), b"a regular file").unwrap();
    let answer = lib().init(json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn()}));
    assert_eq!(answer["panicReporting"]["active"], true, "{answer}");
    lib().intended_panic("outbox folder taken back");
    assert_eq!(lib().flush(10_000), 0);
    assert_eq!(receiver.delivered_events().len(), 1);
}

/// A host that forks while another of its threads toggles the opt-in (which
/// holds the consent lock across a file write and its fsync, and waits for
/// it while the fork holds it): the child never inherits that lock held by,
/// or handed over to, a thread it does not have, so its own calls answer;
/// the parent's toggles go on (the children write the same file: only the
/// parent's last toggle is checked).
///
/// Two toggling threads, so that one is often parked on the lock when the
/// fork happens: with parking_lot's locks the child hung now and then (its
/// table of parked threads is process-wide and not fork-safe); the locks a
/// child needs are std's now.
#[test]
#[cfg(unix)] // Windows has no fork()
fn a_fork_during_toggles_never_leaves_the_child_or_the_parent_locked() {
    if !support::isolated() {
        return;
    }
    let dir = data_dir();
    let answer = lib().init(json!({"dataDir": dir.path()}));
    assert!(answer.get("error").is_none(), "{answer}");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let togglers: Vec<_> = (0..2)
        .map(|t| {
            let stop = stop.clone();
            #[allow(clippy::disallowed_methods)] // the test's own host threads
            std::thread::spawn(move || {
                let mut n = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    assert_eq!(toggle((n + t).is_multiple_of(2)), r#"{"error":""}"#);
                    n += 1;
                }
                n
            })
        })
        .collect();
    for round in 0..60 {
        // SAFETY: fork(2); the child makes library calls and _exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let ok = toggle(true) == r#"{"error":""}"# && info_enabled();
            // SAFETY: leaving without the parent's atexit handlers or destructors.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        assert!(pid > 0);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut status = 0;
        loop {
            // SAFETY: waiting for our own child.
            if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
                break;
            }
            if std::time::Instant::now() > deadline {
                // SAFETY: killing our own hung child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                panic!("round {round}: the forked child hung");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "round {round}: status {status}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for toggler in togglers {
        assert!(toggler.join().unwrap() > 0, "the parent's toggles went on");
    }
    assert_eq!(toggle(false), r#"{"error":""}"#);
    assert!(!info_enabled() && !file_enabled(dir.path()));
}
