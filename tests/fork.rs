//! `fork()` while the library is busy, through the built `.so`: whatever the
//! parent's library threads are doing at the fork (idle, in a request to a
//! server that never answers, settling and syncing after writes, evicting
//! from a full outbox, purging on an opt-out, writing log lines), a child
//! calls every export, including inits of the parent's dataDir and of
//! another one, and each call answers: no export in a child waits on
//! anything a parent's thread held. The child never touches the parent's
//! outbox (no report of the child's arrives, the parent's still does).

#![cfg(unix)]

mod support;

use std::ffi::{c_char, c_int, c_void, CStr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{data_dir, lib, outbox_files, parse, set_environment, Blackhole, Receiver};

/// How long a child may take for all its calls (a loaded machine, debug build).
const CHILD_DEADLINE: Duration = Duration::from_secs(30);
/// Forks per state of the parent.
const ROUNDS: usize = 6;

type StrFn = unsafe extern "C" fn(*const c_char) -> *mut c_char;
type VoidFn = unsafe extern "C" fn() -> *mut c_char;
type IntFn = unsafe extern "C" fn(c_int) -> *mut c_char;
type FreeFn = unsafe extern "C" fn(*mut c_void);
type TestPanicFn = unsafe extern "C" fn(c_int, *const c_char) -> *mut c_char;

/// Every export, resolved in the parent before any fork: the child calls
/// them without `dlsym` (the loader's lock is not the library's to answer for).
#[derive(Clone, Copy)]
struct Exports {
    init: StrFn,
    toggle: StrFn,
    info: VoidFn,
    panic: StrFn,
    background_panic: StrFn,
    flush: IntFn,
    free: FreeFn,
    test_panic: TestPanicFn,
}

impl Exports {
    fn resolve() -> Self {
        let path = support::so_path();
        // SAFETY: the library the tests already loaded (the same handle, one more reference).
        let library = Box::leak(Box::new(unsafe { libloading::Library::new(&path) }.unwrap()));
        fn get<T: Copy>(library: &libloading::Library, name: &str) -> T {
            // SAFETY: each name is given the type include/libstatus.h declares.
            unsafe { *library.get::<T>(name.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}")) }
        }
        Exports {
            init: get(library, "InitializeApplication"),
            toggle: get(library, "ToggleCentralizedMetrics"),
            info: get(library, "CentralizedMetricsInfo"),
            panic: get(library, "IntendedPanic"),
            background_panic: get(library, "IntendedBackgroundPanic"),
            flush: get(library, "FlushPanicReports"),
            free: get(library, "Free"),
            test_panic: get(library, "TestPanic"),
        }
    }

    /// The answer as text; freed with the library's `Free`.
    fn take(&self, answer: *mut c_char) -> String {
        if answer.is_null() {
            return "NULL".to_owned();
        }
        // SAFETY: a NUL-terminated string the library allocated, freed once.
        let text = unsafe { CStr::from_ptr(answer) }.to_string_lossy().into_owned();
        // SAFETY: freed once, with the library's own Free.
        unsafe { (self.free)(answer.cast()) };
        text
    }

    fn str_call(&self, f: StrFn, arg: &str) -> String {
        let mut owned = arg.as_bytes().to_vec();
        owned.push(0);
        // SAFETY: a NUL-terminated buffer alive for the call.
        self.take(unsafe { f(owned.as_ptr().cast()) })
    }
}

/// What the child does: every export, the inits with the parent's dataDir
/// and another one, each answer recorded with the step's name. It writes the
/// name of each step before the call, so a hang names the call that hung.
fn child_calls(exports: &Exports, parent_dir: &str, other_dir: &str, dsn: &str, pipe: c_int) -> ! {
    let write = |text: &str| {
        // SAFETY: writing a live buffer to our pipe.
        unsafe { libc::write(pipe, text.as_ptr().cast(), text.len()) };
    };
    let e = exports;
    let step = |name: &str, call: &dyn Fn() -> String| {
        write(&format!("{name}\t"));
        let answer = call();
        write(&format!("{}\n", answer.replace(['\n', '\t'], " ")));
    };
    let init = |dir: &str| {
        json!({"dataDir": dir, "sentryDSN": dsn, "logEnabled": true, "apiLoggingEnabled": true,
               "logLevel": "debug", "panicStormWindowMs": 100})
        .to_string()
    };
    step("info", &|| e.take(unsafe_void(e.info)));
    step("toggle-on", &|| e.str_call(e.toggle, r#"{"enabled":true}"#));
    step("panic", &|| e.str_call(e.panic, "child panic"));
    step("test-panic", &|| {
        // SAFETY: an int and a NUL-terminated literal.
        e.take(unsafe { (e.test_panic)(1, c"child test panic".as_ptr()) })
    });
    step("background-panic", &|| e.str_call(e.background_panic, "child background panic"));
    step("flush", &|| e.take(unsafe_int(e.flush, 1_000)));
    step("init-parent-dir", &|| e.str_call(e.init, &init(parent_dir)));
    step("panic-after-init", &|| e.str_call(e.panic, "child panic after init"));
    step("flush-after-init", &|| e.take(unsafe_int(e.flush, 1_000)));
    step("init-other-dir", &|| e.str_call(e.init, &init(other_dir)));
    step("toggle-off", &|| e.str_call(e.toggle, r#"{"enabled":false}"#));
    step("toggle-on-again", &|| e.str_call(e.toggle, r#"{"enabled":true}"#));
    step("info-after-toggle", &|| e.take(unsafe_void(e.info)));
    step("background-panic-after-init", &|| e.str_call(e.background_panic, "child background 2"));
    step("flush-last", &|| e.take(unsafe_int(e.flush, 0)));
    step("free-null", &|| {
        // SAFETY: Free accepts NULL.
        unsafe { (e.free)(std::ptr::null_mut()) };
        "freed".to_owned()
    });
    write("done\n");
    // SAFETY: leaving without the parent's atexit handlers or destructors.
    unsafe { libc::_exit(0) }
}

fn unsafe_void(f: VoidFn) -> *mut c_char {
    // SAFETY: no arguments.
    unsafe { f() }
}

fn unsafe_int(f: IntFn, n: c_int) -> *mut c_char {
    // SAFETY: a plain int.
    unsafe { f(n) }
}

/// Forks a child that runs [`child_calls`]; waits for it up to the deadline
/// (killing it and failing when it has not finished) and returns its steps.
fn fork_and_check(
    exports: &Exports,
    state: &str,
    round: usize,
    parent_dir: &Path,
    dsn: &str,
) -> Vec<(String, String)> {
    let other = data_dir();
    // Leaked: the child must not remove it, the parent removes it below.
    let other_dir = other.path().join(format!("child-{state}-{round}")).display().to_string();
    let parent_dir = parent_dir.display().to_string();
    let mut fds = [0; 2];
    // SAFETY: a two-int array for pipe(2).
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: fork(2); the child only calls the library through resolved
    // pointers, writes to its pipe and _exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: closing the child's copy of the read end.
        unsafe { libc::close(fds[0]) };
        child_calls(exports, &parent_dir, &other_dir, dsn, fds[1]);
    }
    assert!(pid > 0, "fork failed");
    // SAFETY: closing our copy of the write end.
    unsafe { libc::close(fds[1]) };
    let mut output = Vec::new();
    let deadline = Instant::now() + CHILD_DEADLINE;
    let mut status = 0;
    let mut hung = false;
    loop {
        read_available(fds[0], &mut output);
        // SAFETY: waiting for our own child.
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
            break;
        }
        if Instant::now() > deadline {
            // SAFETY: killing our own hung child, then reaping it.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            hung = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    read_available(fds[0], &mut output);
    // SAFETY: closing our read end.
    unsafe { libc::close(fds[0]) };
    let text = String::from_utf8_lossy(&output).into_owned();
    assert!(!hung, "state {state}, round {round}: the child hung; its steps so far:\n{text}");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "state {state}, round {round}: the child ended with status {status}; its steps:\n{text}"
    );
    assert!(text.ends_with("done\n"), "state {state}, round {round}: {text}");
    let steps: Vec<(String, String)> = text
        .lines()
        .filter(|l| *l != "done")
        .map(|l| {
            let (name, answer) = l.split_once('\t').unwrap_or((l, ""));
            (name.to_owned(), answer.to_owned())
        })
        .collect();
    check_child_answers(state, round, &steps);
    let other_dir = Path::new(&other_dir);
    assert!(other_dir.exists(), "the child's init created its dataDir");
    assert!(
        !other_dir.join("panic-reports").exists(),
        "a child opens no outbox, not even in its own dataDir"
    );
    steps
}

fn read_available(fd: c_int, into: &mut Vec<u8>) {
    // SAFETY: fcntl on our own pipe end.
    unsafe { libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK) };
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: reading into a live buffer from our pipe.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return;
        }
        into.extend_from_slice(&buf[..n as usize]);
    }
}

fn check_child_answers(state: &str, round: usize, steps: &[(String, String)]) {
    let at = |name: &str| -> Value {
        let answer = &steps.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no step {name}")).1;
        if answer == "freed" {
            return json!("freed");
        }
        serde_json::from_str(answer)
            .unwrap_or_else(|e| panic!("state {state}, round {round}, {name}: {e}: {answer}"))
    };
    let ok = json!({"error": ""});
    assert_eq!(at("toggle-on"), ok, "{state}/{round}");
    assert_eq!(at("panic")["code"], "panic", "{state}/{round}");
    assert_eq!(at("test-panic")["code"], "panic", "{state}/{round}");
    assert_eq!(at("background-panic"), ok, "{state}/{round}");
    assert_eq!(at("flush")["pending"], 0, "{state}/{round}: nothing pending in a child");
    for init in ["init-parent-dir", "init-other-dir"] {
        let answer = at(init);
        assert!(answer.get("error").is_none(), "{state}/{round} {init}: {answer}");
        assert_eq!(answer["panicReporting"]["active"], false, "{state}/{round} {init}: {answer}");
        let reason = answer["panicReporting"]["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("fork"), "{state}/{round} {init}: {answer}");
    }
    assert_eq!(at("panic-after-init")["code"], "panic", "{state}/{round}");
    assert_eq!(at("flush-after-init")["pending"], 0, "{state}/{round}");
    assert_eq!(at("toggle-off"), ok, "{state}/{round}");
    assert_eq!(at("toggle-on-again"), ok, "{state}/{round}");
    assert_eq!(at("info-after-toggle")["enabled"], true, "{state}/{round}");
    assert_eq!(at("background-panic-after-init"), ok, "{state}/{round}");
    assert_eq!(at("flush-last")["pending"], 0, "{state}/{round}");
    assert_eq!(at("free-null"), json!("freed"));
}

/// Host threads that keep the library busy until dropped.
struct Busy {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<u64>>,
}

impl Busy {
    fn start(jobs: Vec<Box<dyn Fn(u64) + Send>>) -> Self {
        let stop: Arc<AtomicBool> = Arc::default();
        let threads = jobs
            .into_iter()
            .map(|job| {
                let stop = stop.clone();
                #[allow(clippy::disallowed_methods)] // the test's own host threads
                std::thread::spawn(move || {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        job(n);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        Busy { stop, threads }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            assert!(thread.join().expect("a busy thread failed") > 0, "a busy thread never ran");
        }
    }
}

fn panicking(prefix: &'static str) -> Box<dyn Fn(u64) + Send> {
    Box::new(move |n| {
        // Several sites (the test kinds), so storm control admits more.
        let answer = lib().test_panic((n % 5) as i32, &format!("{prefix} {n}"));
        assert_eq!(answer["code"], "panic", "{answer}");
    })
}

fn init(dir: &Path, dsn: &str, logging: bool) {
    let answer = lib().init(json!({
        "dataDir": dir, "sentryDSN": dsn, "panicStormWindowMs": 100,
        "logEnabled": logging, "apiLoggingEnabled": logging, "logLevel": "debug",
    }));
    assert!(answer.get("error").is_none(), "{answer}");
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "the parent never got {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_child_forked_in_any_state_of_the_parent_answers_every_export() {
    if !support::isolated() {
        return;
    }
    set_environment("ci-main");
    let exports = Exports::resolve();
    let forks = AtomicU64::new(0);
    let run_state = |state: &str, dir: &Path, dsn: &str| {
        for round in 0..ROUNDS {
            fork_and_check(&exports, state, round, dir, dsn);
            forks.fetch_add(1, Ordering::Relaxed);
            // Forks land at different moments of the busy threads' work.
            std::thread::sleep(Duration::from_millis(3 + 7 * round as u64));
        }
    };

    // Idle: delivered everything; the sender waits on its condition variable.
    let receiver = Receiver::start();
    let idle = data_dir();
    init(idle.path(), &receiver.dsn(), false);
    lib().opt_in(true);
    lib().intended_panic("parent idle");
    assert_eq!(lib().flush(20_000), 0);
    run_state("idle", idle.path(), &receiver.dsn());

    // Mid-request: the server accepts and never answers.
    let blackhole = Blackhole::start();
    let slow = data_dir();
    init(slow.path(), &blackhole.dsn(), false);
    lib().opt_in(true);
    lib().intended_panic("parent's pending report");
    assert_eq!(lib().flush(0), 1);
    wait_for("a request in flight", || blackhole.connections() > 0);
    run_state("mid-request", slow.path(), &blackhole.dsn());

    // Settling and syncing: a stream of reports, delivered as they come.
    let settling = data_dir();
    init(settling.path(), &receiver.dsn(), false);
    lib().opt_in(true);
    let busy = Busy::start(vec![panicking("settling"), panicking("settling too")]);
    wait_for("deliveries", || receiver.delivered_events().len() > 2);
    run_state("settling", settling.path(), &receiver.dsn());
    busy.stop();

    // Evicting: a full outbox (nothing is delivered), and panics keep coming.
    let full = data_dir();
    init(full.path(), &blackhole.dsn(), false);
    lib().opt_in(true);
    let busy = Busy::start(vec![panicking("evicting"), panicking("evicting too")]);
    wait_for("a full outbox", || outbox_files(full.path()) >= 30);
    run_state("evicting", full.path(), &blackhole.dsn());
    busy.stop();

    // Purging: opt-outs (cut-offs, purges) race panics being written.
    let purging = data_dir();
    init(purging.path(), &blackhole.dsn(), false);
    let toggles: Box<dyn Fn(u64) + Send> = Box::new(|n| lib().opt_in(n % 2 == 0));
    let busy = Busy::start(vec![panicking("purging"), toggles]);
    run_state("purging", purging.path(), &blackhole.dsn());
    busy.stop();

    // Logging: every call writes api.log lines, panics and toggles status.log
    // lines (the panic log's thread writes them).
    let logging = data_dir();
    init(logging.path(), &receiver.dsn(), true);
    let info: Box<dyn Fn(u64) + Send> =
        Box::new(|_| assert!(!lib().call_void("CentralizedMetricsInfo").is_empty()));
    let toggles: Box<dyn Fn(u64) + Send> = Box::new(|n| lib().opt_in(n % 3 != 0));
    let busy = Busy::start(vec![panicking("logging"), info, toggles]);
    wait_for("log lines", || std::fs::metadata(logging.path().join("status.log")).is_ok_and(|m| m.len() > 0));
    run_state("logging", logging.path(), &receiver.dsn());
    busy.stop();
    let log = std::fs::read_to_string(logging.path().join("status.log")).unwrap();
    assert!(!log.contains("child"), "a child logs nothing");
    let api = std::fs::read_to_string(logging.path().join("api.log")).unwrap();
    assert!(!api.contains("child"), "a child logs nothing");

    // The parent goes on: back on the mid-request outbox, its report is
    // delivered once a server answers; no child's report went anywhere.
    assert_eq!(forks.load(Ordering::Relaxed), 6 * ROUNDS as u64);
    init(slow.path(), &blackhole.dsn(), false);
    lib().opt_in(true);
    let addr = blackhole.close();
    let answering = Receiver::start_on(&addr.to_string());
    assert_eq!(lib().flush(40_000), 0);
    let delivered: Vec<String> = answering
        .delivered_events()
        .iter()
        .chain(receiver.delivered_events().iter())
        .filter_map(|e| e["exception"]["values"][0]["value"].as_str().map(str::to_owned))
        .collect();
    assert!(delivered.iter().any(|v| v == "parent's pending report"), "{delivered:?}");
    assert!(!delivered.iter().any(|v| v.contains("child")), "a child reports nothing: {delivered:?}");
    assert_eq!(parse(&lib().call_void("CentralizedMetricsInfo"))["enabled"], true);
}
