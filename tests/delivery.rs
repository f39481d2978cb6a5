//! Delivery that cannot be killed, wedged or tricked, through the built `.so`:
//! hostile headers, a vanished dataDir, switching dataDirs, redirects,
//! `fork()`, a flush racing an init, and hostile files in the outbox.
// The helpers of the Unix-only tests below are unused on Windows.
#![cfg_attr(windows, allow(dead_code, unused_imports))]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{data_dir, lib, outbox_files, parse, proxies, set_environment, Blackhole, Receiver, Reply};

/// Storm control's window is short here: these tests panic at one site often.
fn opted_in(dir: &Path, dsn: &str) {
    set_environment("ci-main");
    lib().init(json!({"dataDir": dir, "sentryDSN": dsn, "panicStormWindowMs": 100}));
    lib().opt_in(true);
}

/// Removes a folder the library may be re-creating at the same moment.
fn remove_all(dir: &Path) {
    for _ in 0..100 {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    panic!("cannot remove {}", dir.display());
}

fn values(receiver: &Receiver) -> Vec<String> {
    receiver
        .delivered_events()
        .iter()
        .filter_map(|e| e["exception"]["values"][0]["value"].as_str().map(str::to_owned))
        .collect()
}

fn header(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

#[test]
fn absurd_rate_limit_headers_neither_kill_the_sender_nor_hold_it_forever() {
    if !support::isolated() {
        return;
    }
    for (status, headers) in [
        (429, vec![header("Retry-After", "1e20")]),
        (429, vec![header("Retry-After", "1e19")]),
        (429, vec![header("X-Sentry-Rate-Limits", "1e20:error:key")]),
        (200, vec![header("X-Sentry-Rate-Limits", "1e308:error:key")]),
        (429, vec![header("Retry-After", "-1"), header("X-Sentry-Rate-Limits", "NaN:error:key, inf::org")]),
    ] {
        let hostile = Receiver::start();
        hostile.queue([Reply::Status(status, headers.clone())]);
        let dir = data_dir();
        opted_in(dir.path(), &hostile.dsn());
        lib().intended_panic("first");
        hostile.wait_for_requests(1, Duration::from_secs(10));
        lib().intended_panic("second: waits for the server's limit");
        let pending = lib().flush(500);
        assert!(pending >= 1, "{status} {headers:?}: the server's wait is honoured (clamped, not ignored)");
        // The sender is alive: a new server (a new DSN) gets everything.
        let healthy = Receiver::start();
        lib().init(json!({"dataDir": dir.path(), "sentryDSN": healthy.dsn(), "panicStormWindowMs": 100}));
        assert_eq!(lib().flush(15_000), 0, "{status} {headers:?}: the sender died or is stuck");
        let got = values(&healthy);
        assert!(got.contains(&"second: waits for the server's limit".to_owned()), "{got:?}");
    }
}

#[test]
// Windows: Wine cannot remove a folder while the library holds its lock file
// open (Windows 10's POSIX-semantics deletion can; untested here).
#[cfg(unix)]
fn a_removed_data_dir_is_recreated_and_nothing_later_is_lost() {
    if !support::isolated() {
        return;
    }
    let receiver = Receiver::start();
    let dir = data_dir();
    opted_in(dir.path(), &receiver.dsn());
    // Removed while running: the next report re-creates the folder.
    remove_all(dir.path());
    lib().intended_panic("after the folder vanished");
    assert_eq!(lib().flush(10_000), 0);
    assert!(dir.path().join("panic-reports/.lock").is_file(), "the lock is back");
    // Removed, then the same path initialised again (the opt-in went with it).
    remove_all(dir.path());
    lib().init(json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn(), "panicStormWindowMs": 100}));
    lib().opt_in(true);
    for i in 0..3 {
        lib().intended_panic(&format!("after re-init {i}"));
    }
    assert_eq!(lib().call("IntendedBackgroundPanic", "background after re-init"), r#"{"error":""}"#);
    assert_eq!(lib().flush(10_000), 0);
    assert_eq!(outbox_files(dir.path()), 0);
    let got = values(&receiver);
    assert_eq!(got.len(), 5, "{got:?}");
    assert!(dir.path().join("panic-reports/.lock").is_file());
}

#[test]
fn switching_data_dirs_back_and_forth_never_locks_the_process_out() {
    if !support::isolated() {
        return;
    }
    set_environment("ci-main");
    let blackhole = Blackhole::start();
    let receiver = Receiver::start();
    let (a, b) = (data_dir(), data_dir());
    opted_in(a.path(), &blackhole.dsn());
    lib().intended_panic("A's sender is stuck on a blackhole");
    let deadline = Instant::now() + Duration::from_secs(5);
    while blackhole.connections() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    for round in 0..50 {
        for (dir, dsn) in [(&b, receiver.dsn()), (&a, blackhole.dsn())] {
            let answer = lib().init(json!({"dataDir": dir.path(), "sentryDSN": dsn}));
            assert!(answer.get("error").is_none(), "round {round}: {answer}");
        }
    }
    // A's report is still there, and goes out once A's server answers.
    assert_eq!(outbox_files(a.path()), 1);
    lib().init(json!({"dataDir": a.path(), "sentryDSN": receiver.dsn()}));
    assert_eq!(lib().flush(10_000), 0);
    assert_eq!(values(&receiver), ["A's sender is stuck on a blackhole"]);
}

/// The library's sender threads (`libstatus-outbox`, as the kernel keeps its
/// first 15 bytes).
#[cfg(target_os = "linux")]
fn sender_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.trim_end() == "libstatus-outbo")
        })
        .count()
}

/// Waits up to 10 s for [`sender_threads`] to be `n` (a thread takes its
/// name once it runs; one that was told to stop ends soon after), and
/// answers the last count.
#[cfg(target_os = "linux")]
fn sender_threads_become(n: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let count = sender_threads();
        if count == n || Instant::now() >= deadline {
            return count;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// However often the host initialises the same dataDir, one sender serves
/// its outbox: two would send reports side by side past the send budget, or
/// race for the same one. (Each init asks for a sender; only the first
/// claim starts one.)
#[test]
#[cfg(target_os = "linux")]
fn reinitialising_one_data_dir_keeps_one_sender() {
    if !support::isolated() {
        return;
    }
    let receiver = Receiver::start();
    let dir = data_dir();
    support::write_opted_in(dir.path());
    set_environment("ci-main");
    let request = json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn()});
    for _ in 0..5 {
        let answer = lib().init(request.clone());
        assert_eq!(answer["panicReporting"]["active"], true, "{answer}");
    }
    assert_eq!(sender_threads_become(1), 1);
    // A second sender would have taken its name by now.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sender_threads(), 1, "one outbox, one sender");
}

/// A dataDir switch stops the old outbox's sender (its thread ends, even
/// while it waits out a server's Retry-After), so switching does not leave a
/// thread behind per folder; the old outbox's report stays on disk, is not
/// sent while another dataDir is the current one, and goes out once its
/// dataDir is initialised again. (Linux: the threads are read from /proc.)
#[test]
#[cfg(target_os = "linux")]
fn switching_data_dirs_stops_the_old_sender_and_its_report_waits_on_disk() {
    if !support::isolated() {
        return;
    }
    let receiver = Receiver::start();
    receiver.queue([Reply::Status(503, vec![header("Retry-After", "1")])]);
    let (a, b, c) = (data_dir(), data_dir(), data_dir());
    opted_in(a.path(), &receiver.dsn());
    lib().intended_panic("A's report");
    lib().flush(100); // (skips the random delay before a first send)
    assert_eq!(receiver.wait_for_requests(1, Duration::from_secs(10)), 1);
    let first = Instant::now();
    assert_eq!(sender_threads_become(1), 1, "A's sender, waiting out the server's Retry-After");

    opted_in(b.path(), &receiver.dsn());
    opted_in(c.path(), &receiver.dsn());
    assert_eq!(sender_threads_become(1), 1, "only the current outbox's sender runs");
    // Past A's server wait (1 to 1.25 s): nothing more was sent, the report is kept.
    std::thread::sleep(Duration::from_millis(2_500).saturating_sub(first.elapsed()));
    assert_eq!(receiver.request_count(), 1);
    assert_eq!(outbox_files(a.path()), 1);

    let answer = lib().init(json!({"dataDir": a.path(), "sentryDSN": receiver.dsn()}));
    assert_eq!(answer["panicReporting"]["active"], true, "{answer}");
    assert_eq!(lib().flush(10_000), 0);
    assert_eq!(values(&receiver), ["A's report"]);
    assert_eq!(receiver.request_count(), 2);
    assert_eq!(outbox_files(a.path()), 0);
    assert_eq!(sender_threads_become(1), 1, "C's sender stopped in turn");
}

/// The CPU time the sender's thread has used so far, in clock ticks
/// (`utime + stime` of its `/proc` stat).
#[cfg(target_os = "linux")]
fn sender_cpu_ticks() -> u64 {
    let task = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .find(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.trim_end() == "libstatus-outbo")
        })
        .expect("a sender thread");
    let stat = std::fs::read_to_string(task.path().join("stat")).unwrap();
    // After the name in parentheses: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// The sender sleeps while there is nothing it may do: nothing pending, a
/// report waiting out the server's Retry-After, a report the gate holds
/// back. A loop that spins there costs a core for as long (a second of it
/// is a hundred clock ticks; sleeping costs none).
#[test]
#[cfg(target_os = "linux")]
fn the_sender_thread_sleeps_while_there_is_nothing_it_may_do() {
    if !support::isolated() {
        return;
    }
    let receiver = Receiver::start();
    receiver.queue([Reply::Status(429, vec![header("Retry-After", "30")])]);
    let dir = data_dir();
    opted_in(dir.path(), &receiver.dsn());
    assert_eq!(sender_threads_become(1), 1);
    let idle = |what: &str| {
        let before = sender_cpu_ticks();
        std::thread::sleep(Duration::from_secs(1));
        let used = sender_cpu_ticks() - before;
        assert!(used <= 10, "{what}: the sender used {used} ticks of CPU in a second");
    };
    assert_eq!(lib().flush(100), 0); // (no random delay before a first send either)
    idle("nothing pending");
    lib().intended_panic("waits out the server");
    lib().flush(100); // (skips the random delay before a first send)
    assert_eq!(receiver.wait_for_requests(1, Duration::from_secs(10)), 1);
    std::thread::sleep(Duration::from_millis(100));
    idle("the server's Retry-After");
    // Another DSN (the old server's wait is forgotten) in a development build.
    set_environment("development");
    let elsewhere = support::dsn_for(support::closed_port());
    lib().init(json!({"dataDir": dir.path(), "sentryDSN": elsewhere, "panicStormWindowMs": 100}));
    assert_eq!(lib().flush(1_000), 1, "the sender found the gate closed");
    idle("the gate closed");
    assert_eq!(receiver.request_count(), 1);
}

/// The sender's thread cannot start (a host at its memory or thread limit:
/// here the address space is capped just above what the process uses, so
/// no thread stack fits): the init still answers, and the next init starts
/// the sender. The failed start must not leave the outbox marked as having
/// a sender.
#[test]
#[cfg(target_os = "linux")]
fn an_init_after_the_sender_could_not_start_starts_it() {
    if !support::isolated() {
        return;
    }
    // No receiver: its server starts threads of its own, which the cap
    // below would make fail (seen: tiny_http's pool, now and then). A
    // closed port keeps the report pending, and the sender's thread is what
    // the test looks at.
    let dir = data_dir();
    support::write_opted_in(dir.path());
    set_environment("ci-main");
    let request =
        json!({"dataDir": dir.path(), "sentryDSN": "http://5ecre7f00dfacade5ecre7f00dfacade@127.0.0.1:9/42"});
    let lib = lib(); // loaded before the cap
                     // Room for the init's own allocations, not for a thread's stack (2 MiB
                     // and a guard page for Rust's threads).
    const ROOM: u64 = (2 << 20) - (128 << 10);
    let answer = {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: a valid out-pointer.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) }, 0);
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: u64 = statm.split_whitespace().next().unwrap().parse().unwrap();
        // SAFETY: no preconditions.
        let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
        // (`rlim_t` is 32 bits on a 32-bit target, where a process is under 4 GiB.)
        let cur = libc::rlim_t::try_from(pages * page_size + ROOM).expect("within rlim_t");
        let capped = libc::rlimit { rlim_cur: cur, rlim_max: limit.rlim_max };
        // SAFETY: valid rlimit structures; the soft limit goes back up to
        // where it was (at most the hard limit, which is unchanged).
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &capped) }, 0);
        let answer = lib.init(request.clone());
        // SAFETY: as above.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) }, 0);
        answer
    };
    assert_eq!(answer["panicReporting"]["active"], true, "{answer}");
    lib.intended_panic("while no sender could run");
    assert_eq!(lib.flush(300), 1, "nobody sends it");
    assert_eq!(sender_threads(), 0, "the fault was not injected: the sender started");

    let answer = lib.init(request);
    assert_eq!(answer["panicReporting"]["active"], true, "{answer}");
    assert_eq!(sender_threads_become(1), 1, "the sender runs now");
}

/// A process out of file descriptors cannot open a dataDir's outbox, and
/// says so; it never removes the lock file that another holder has locked
/// (here the test's own open file description, which `flock` treats as
/// another process's): with that lock gone, a third process could lock a new
/// one and two would send the same reports.
#[test]
#[cfg(target_os = "linux")]
fn an_init_out_of_file_descriptors_never_removes_a_held_lock_file() {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    if !support::isolated() {
        return;
    }
    let dir = data_dir();
    let folder = dir.path().join("panic-reports");
    std::fs::create_dir_all(&folder).unwrap();
    let lock = folder.join(".lock");
    let held = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock).unwrap();
    held.try_lock().unwrap();
    let lib = lib(); // loaded before the descriptors run out
    let request = json!({ "dataDir": dir.path() }).to_string();
    let answer = {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: a valid out-pointer.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
        // The lowest free descriptor (the one an open gets) becomes the limit.
        let lowest_free = std::fs::File::open("/dev/null").unwrap().as_raw_fd();
        let capped = libc::rlimit { rlim_cur: lowest_free as libc::rlim_t, rlim_max: limit.rlim_max };
        // SAFETY: valid rlimit structures; the soft limit goes back to where it was.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &capped) }, 0);
        let answer = lib.call("InitializeApplication", &request);
        // SAFETY: as above.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
        answer
    };
    let error = support::assert_error(&answer, "internal");
    assert!(error["error"].as_str().unwrap().contains("panic-report outbox"), "{error}");
    let on_disk = std::fs::metadata(&lock).expect("the held lock file is still there");
    assert_eq!(on_disk.ino(), held.metadata().unwrap().ino(), "the held lock file was replaced");
    // With descriptors again, the lock still keeps this dataDir to its holder.
    support::assert_error(&lib.call("InitializeApplication", &request), "invalid-request");
}

#[test]
fn a_redirect_is_not_followed_and_the_report_is_kept() {
    if !support::isolated() {
        return;
    }
    let elsewhere = Receiver::start();
    let receiver = Receiver::start();
    let target = format!("http://{}/api/42/envelope/", elsewhere.addr);
    receiver.queue([
        Reply::Status(301, vec![header("Location", &target)]),
        Reply::Status(302, vec![header("Location", &target)]),
        Reply::Status(307, vec![header("Location", &target)]),
    ]);
    let dir = data_dir();
    opted_in(dir.path(), &receiver.dsn());
    lib().intended_panic("behind a redirect");
    assert_eq!(lib().flush(20_000), 0, "delivered once the server stops redirecting");
    assert_eq!(elsewhere.request_count(), 0, "nothing, and no credentials, went to another host");
    let received = receiver.received();
    assert_eq!(received.len(), 4, "three redirects (retried), then delivered");
    assert!(received.iter().all(|r| !r.body.is_empty()), "always a POST with its body");
    assert_eq!(values(&receiver), ["behind a redirect"]);
}

#[test]
#[cfg(unix)] // Windows has no fork()
fn a_forked_child_never_hangs_and_reports_nothing() {
    if !support::isolated() {
        return;
    }
    let blackhole = Blackhole::start();
    let dir = data_dir();
    opted_in(dir.path(), &blackhole.dsn());
    lib().intended_panic("parent's pending report");
    // The sender is now blocked in a request, or waiting on its condition variable.
    std::thread::sleep(Duration::from_millis(200));
    for round in 0..20 {
        let mut fds = [0; 2];
        // SAFETY: a two-int array for pipe(2).
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: fork(2); the child only makes library calls, writes to the pipe and _exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let child_dir = format!("{}/child-{round}", dir.path().display());
            let mut out = Vec::new();
            for i in 0..3 {
                out.push(lib().intended_panic(&format!("child {i}"))["code"].clone());
            }
            out.push(json!(lib().flush(1_000)));
            out.push(parse(&lib().call_void("CentralizedMetricsInfo"))["enabled"].clone());
            out.push(json!(lib().call("ToggleCentralizedMetrics", r#"{"enabled":true}"#)));
            out.push(
                lib().init(json!({"dataDir": child_dir, "sentryDSN": blackhole.dsn()}))["panicReporting"]
                    .clone(),
            );
            out.push(json!(lib().call("IntendedBackgroundPanic", "child background")));
            let text = serde_json::to_string(&out).unwrap();
            // SAFETY: writing a live buffer to our pipe, then leaving without
            // running the parent's atexit handlers or destructors.
            unsafe {
                libc::write(fds[1], text.as_ptr().cast(), text.len());
                libc::_exit(0);
            }
        }
        assert!(pid > 0);
        // SAFETY: closing our copy of the write end.
        unsafe { libc::close(fds[1]) };
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut status = 0;
        loop {
            // SAFETY: waiting for our own child.
            let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if done == pid {
                break;
            }
            if Instant::now() > deadline {
                // SAFETY: killing our own hung child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                panic!("round {round}: the forked child hung");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "round {round}: status {status}");
        let mut buf = vec![0u8; 64 * 1024];
        // SAFETY: reading into a live buffer from our pipe.
        let n = unsafe { libc::read(fds[0], buf.as_mut_ptr().cast(), buf.len()) };
        // SAFETY: closing our read end.
        unsafe { libc::close(fds[0]) };
        let out: Vec<Value> = serde_json::from_slice(&buf[..n.max(0) as usize]).expect("the child's results");
        assert_eq!(out[0], "panic");
        assert_eq!(out[3], 0, "nothing pending in a child");
        assert_eq!(out[4], true, "the child sees the consent it inherited");
        assert_eq!(out[5], r#"{"error":""}"#);
        assert_eq!(out[6]["active"], false);
        assert!(out[6]["reason"].as_str().unwrap().contains("fork"), "{}", out[6]);
        assert_eq!(out[7], r#"{"error":""}"#);
    }
    // The parent goes on: its report is still pending, its sender alive.
    let addr = blackhole.close();
    let receiver = Receiver::start_on(&addr.to_string());
    assert_eq!(lib().flush(40_000), 0);
    let got = values(&receiver);
    assert!(got.contains(&"parent's pending report".to_owned()), "{got:?}");
    assert!(!got.iter().any(|v| v.starts_with("child")), "a child reports nothing: {got:?}");
}

#[test]
fn a_long_flush_never_freezes_an_init_or_a_panicking_call() {
    if !support::isolated() {
        return;
    }
    let blackhole = Blackhole::start();
    let dir = data_dir();
    opted_in(dir.path(), &blackhole.dsn());
    lib().intended_panic("pending on a blackhole");
    #[allow(clippy::disallowed_methods)] // the host's own thread
    let flusher = std::thread::spawn(|| lib().flush(8_000));
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let dsn = blackhole.dsn();
    let dir_path = dir.path().to_owned();
    #[allow(clippy::disallowed_methods)] // the host's own thread
    let initializer = std::thread::spawn(move || {
        let started = Instant::now();
        lib().init(json!({"dataDir": dir_path, "sentryDSN": dsn}));
        started.elapsed()
    });
    std::thread::sleep(Duration::from_millis(50));
    let panic_started = Instant::now();
    lib().intended_panic("while a flush waits");
    let panic_took = panic_started.elapsed();
    let init_took = initializer.join().unwrap();
    assert!(init_took < Duration::from_secs(2), "an init waited {init_took:?} for a flush");
    assert!(panic_took < Duration::from_secs(2), "a panicking call waited {panic_took:?}");
    assert!(started.elapsed() < Duration::from_secs(4));
    flusher.join().unwrap();
}

#[test]
fn hostile_files_in_the_outbox_are_never_sent_and_never_wedge_it() {
    if !support::isolated() {
        return;
    }
    set_environment("ci-main");
    let receiver = Receiver::start();
    let dir = data_dir();
    let reports = dir.path().join("panic-reports");
    std::fs::create_dir_all(&reports).unwrap();
    support::write_opted_in(dir.path());
    let outside = data_dir();
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "SECRET-OUTSIDE-THE-OUTBOX").unwrap();
    let linked = support::symlink(&secret, &reports.join("0-link.envelope"));
    std::fs::create_dir(reports.join("1-dir.envelope")).unwrap();
    support::make_fifo(&reports.join("2-fifo.envelope"));
    std::fs::write(reports.join("3-huge.envelope"), vec![b'x'; 50 << 20]).unwrap();
    std::fs::write(reports.join("zzzz-newest-9MiB.envelope"), vec![b'y'; 9 << 20]).unwrap();
    let lock_target = outside.path().join("lock-target");
    let linked = linked && support::symlink(&lock_target, &reports.join(".lock"));

    let answer = lib().init(json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn()}));
    assert_eq!(answer["panicReporting"]["active"], true, "{answer}");
    for i in 0..3 {
        lib().intended_panic(&format!("real report {i}"));
    }
    let started = Instant::now();
    assert_eq!(lib().flush(10_000), 0, "odd files never count as pending");
    assert!(started.elapsed() < Duration::from_secs(8));
    let got = values(&receiver);
    assert_eq!(got.len(), 3, "{got:?}");
    for r in receiver.received() {
        assert!(!String::from_utf8_lossy(&r.body).contains("SECRET-OUTSIDE"), "a file outside was posted");
        assert!(r.body.len() < 1 << 20);
    }
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "SECRET-OUTSIDE-THE-OUTBOX");
    assert!(!lock_target.exists(), "the lock file's link was never followed");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 1);
    if !linked {
        eprintln!("SKIPPED (links only): no links on this system");
    }
}

#[test]
fn a_linked_outbox_folder_is_never_followed() {
    if !support::isolated() {
        return;
    }
    set_environment("ci-main");
    let receiver = Receiver::start();
    let dir = data_dir();
    let outside = data_dir();
    if !support::symlink(outside.path(), &dir.path().join("panic-reports")) {
        return; // (printed SKIPPED: no links on this system)
    }
    support::write_opted_in(dir.path());
    lib().init(json!({"dataDir": dir.path(), "sentryDSN": Blackhole::start().dsn()}));
    lib().intended_panic("must stay inside the dataDir");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0, "nothing written outside the dataDir");
    assert!(std::fs::symlink_metadata(dir.path().join("panic-reports")).unwrap().is_dir());
    assert_eq!(outbox_files(dir.path()), 1);
    lib().init(json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn()}));
    assert_eq!(lib().flush(10_000), 0);
    assert_eq!(values(&receiver), ["must stay inside the dataDir"]);
}

/// A report the server keeps answering without taking it (a 500 here) is
/// sent at most `MAX_ATTEMPTS` (20) times, then dropped and counted on the
/// next event; the count is kept in the report's name, so it holds across
/// restarts (a report an earlier process left with 19 answers gets one
/// more); a report over 30 days old is dropped unsent, counted too.
#[test]
fn a_report_the_server_keeps_refusing_is_dropped_after_its_attempts_and_counted() {
    if !support::isolated() {
        return;
    }
    let receiver = Receiver::start();
    receiver.set_default(Reply::Status(500, vec![]));
    let dir = data_dir();
    let earlier = support::planted_envelope("an earlier process's report");
    support::plant_report(dir.path(), Duration::from_secs(60), 0, 19, &earlier);
    let last_month = support::planted_envelope("a report from last month");
    support::plant_report(dir.path(), Duration::from_secs(31 * 24 * 3600), 1, 0, &last_month);
    // (The earlier run was opted in: an opted-out start purges the outbox.)
    support::write_opted_in(dir.path());

    opted_in(dir.path(), &receiver.dsn());
    lib().intended_panic("refused every time");
    let deadline = Instant::now() + Duration::from_secs(60);
    while outbox_files(dir.path()) > 0 && Instant::now() < deadline {
        // Each flush skips our backoff once.
        lib().flush(300);
    }
    let names: Vec<_> = std::fs::read_dir(dir.path().join("panic-reports"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        outbox_files(dir.path()),
        0,
        "every report dropped in the end: {names:?} after {} requests",
        receiver.request_count()
    );
    let received = receiver.received();
    let sent = |body: &[u8]| received.iter().filter(|r| r.body == body).count();
    assert_eq!(sent(&earlier), 1, "19 answers before, one more now");
    assert_eq!(sent(&last_month), 0, "too old to send");
    assert_eq!(received.len(), 1 + 20, "the new report: 20 attempts, no more");

    receiver.set_default(Reply::ok());
    lib().intended_panic("the next one");
    assert_eq!(lib().flush(10_000), 0);
    let events = receiver.delivered_events();
    let next = events.iter().find(|e| e["exception"]["values"][0]["value"] == "the next one").unwrap();
    assert_eq!(next["extra"]["libstatus.dropped_reports"], 3, "{next}");
}

/// A panic reaches the receiver through `sentryProxy`: SOCKS5 with the name
/// left to the proxy (microsocks) and an HTTP proxy (tinyproxy), both with a
/// user and password; the password is in no answer, and a proxy value that
/// is not one is refused without being repeated.
#[test]
fn a_panic_reaches_the_receiver_through_a_socks5_and_an_http_proxy() {
    if !support::isolated() {
        return;
    }
    let dir = data_dir();
    let (Some(socks), Some(http)) = (proxies::microsocks(), proxies::tinyproxy()) else { return };
    set_environment("ci-main");
    let refused = lib().call(
        "InitializeApplication",
        &json!({"dataDir": dir.path(), "sentryProxy": "ftp://user:hunter22@proxy"}).to_string(),
    );
    support::assert_error(&refused, "invalid-request");
    assert!(!refused.contains("hunter22"), "{refused}");

    for (proxy, message) in
        [(socks.url("socks5h"), "through SOCKS5"), (http.url("http"), "through an HTTP proxy")]
    {
        let receiver = Receiver::start();
        let answer =
            lib().init(json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn(), "sentryProxy": proxy}));
        assert!(!answer.to_string().contains(proxies::PASSWORD), "{answer}");
        lib().opt_in(true);
        lib().intended_panic(&format!("{message} {}", proxies::PASSWORD));
        assert_eq!(lib().flush(10_000), 0, "{message}");
        let body = String::from_utf8_lossy(&receiver.received()[0].body).into_owned();
        assert!(body.contains(message), "{message}");
        assert!(!body.contains(proxies::PASSWORD), "the proxy's password is masked in the event");
    }
    // The proxy is the route: a proxy that is not there, no delivery.
    let receiver = Receiver::start();
    let gone = support::closed_port();
    lib().init(json!({"dataDir": dir.path(), "sentryDSN": receiver.dsn(), "sentryProxy": format!("socks5://{gone}")}));
    lib().intended_panic("no proxy, no delivery");
    assert_eq!(lib().flush(2_000), 1);
    assert_eq!(receiver.request_count(), 0);
}
