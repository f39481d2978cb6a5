//! What the tests (and the demo) use to act as a host: the built `libstatus.so`
//! loaded with `dlopen` (`status.dll` with `LoadLibraryW` on Windows), and a Sentry envelope receiver on loopback that
//! records what really arrived over the wire.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// Real proxies on loopback (the same file the HTTP client's unit tests use).
#[path = "../../src/outbox/test_proxies.rs"]
pub mod proxies;

/// The public key of the receiver's DSN.
pub const KEY: &str = "5ecre7f00dfacade5ecre7f00dfacade";
pub const PROJECT: u32 = 42;

/// Every export, with the kind of argument it takes (`nm -D` is checked
/// against this table).
pub const EXPORTS: &[(&str, Kind)] = &[
    ("InitializeApplication", Kind::Str),
    ("ToggleCentralizedMetrics", Kind::Str),
    ("CentralizedMetricsInfo", Kind::Void),
    ("IntendedPanic", Kind::Str),
    ("IntendedBackgroundPanic", Kind::Str),
    ("FlushPanicReports", Kind::Int),
    ("PanicReports", Kind::Str),
    ("DeletePanicReports", Kind::Str),
    ("Free", Kind::Free),
    ("NextPanicReport", Kind::Str),
    ("PanicReportOutcome", Kind::Str),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Void,
    Int,
    Free,
}

/// The library keeps one state per process, as it does in a host, so each
/// test that loads it needs a process of its own. Under cargo-nextest every
/// test already has one: this returns `true` and the test goes on. Under plain
/// `cargo test` (tests as threads of one process) it runs the calling test
/// again in a child process, asserts that it passed, and returns `false`: the
/// caller then returns at once.
pub fn isolated() -> bool {
    if std::env::var_os("NEXTEST").is_some() || std::env::var_os("LIBSTATUS_ISOLATED").is_some() {
        return true;
    }
    let name = std::thread::current().name().expect("libtest names test threads").to_owned();
    let output = self_command()
        .args(["--exact", &name, "--nocapture", "--test-threads=1"])
        .env("LIBSTATUS_ISOLATED", "1")
        .output()
        .expect("run the test in its own process");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{name} failed in its own process:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    false
}

/// A command that runs `program`, a program built for the target under test:
/// the program itself, or the program under `LIBSTATUS_TEST_RUNNER` (what
/// scripts/cross sets for a target this machine runs only in an emulator,
/// such as `qemu-aarch64 -L /usr/aarch64-linux-gnu`: qemu-user runs the test,
/// but a program the test starts runs only if the kernel can run it).
pub fn target_command(program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    let runner = std::env::var("LIBSTATUS_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    let Some(emulator) = words.next() else { return std::process::Command::new(program) };
    let mut command = std::process::Command::new(emulator);
    command.args(words).arg(program);
    command
}

/// A binutils or C compiler command for the target under test (`nm`, `gcc`,
/// `addr2line`...): `LIBSTATUS_TEST_TOOL_PREFIX` (scripts/cross sets
/// `aarch64-linux-gnu-` for an arm64 build) before its name.
pub fn target_tool(name: &str) -> std::process::Command {
    let prefix = std::env::var("LIBSTATUS_TEST_TOOL_PREFIX").unwrap_or_default();
    std::process::Command::new(format!("{prefix}{name}"))
}

/// This test binary again, as a child process (see [`target_command`]).
pub fn self_command() -> std::process::Command {
    target_command(std::env::current_exe().expect("current_exe"))
}

/// The directory cargo builds into (`target/debug`), from this test's path.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LIBSTATUS_LIB_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") || dir.ends_with("examples") {
        dir.pop();
    }
    dir
}

/// The library the tests load: the freshest build of it. `cargo build`
/// writes `target/debug/libstatus.so`; `cargo nextest run`, `cargo test` and
/// `cargo build --tests` rebuild only `target/debug/deps/libstatus.so` (and
/// cargo-mutants builds in a fresh copy), so a test never loads yesterday's
/// library because someone forgot a `cargo build`.
pub fn so_path() -> PathBuf {
    let dir = target_dir();
    let candidates = [dir.join("deps").join(LIB_FILE), dir.join(LIB_FILE)];
    let modified = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    candidates
        .iter()
        .filter(|p| modified(p).is_some())
        .max_by_key(|p| modified(p))
        .cloned()
        .unwrap_or_else(|| dir.join(LIB_FILE))
}

/// The file cargo builds the library into: `libstatus.so` on Linux,
/// `status.dll` for Windows (cargo names a cdylib after the lib name there;
/// scripts/dist ships it as `libstatus.dll`).
pub const LIB_FILE: &str = if cfg!(windows) { "status.dll" } else { "libstatus.so" };

/// The library as a host sees it.
pub struct Lib {
    lib: libloading::Library,
}

type StrFn = unsafe extern "C" fn(*const c_char) -> *mut c_char;
type VoidFn = unsafe extern "C" fn() -> *mut c_char;
type IntFn = unsafe extern "C" fn(c_int) -> *mut c_char;
type FreeFn = unsafe extern "C" fn(*mut c_void);

pub fn lib() -> &'static Lib {
    static LIB: OnceLock<Lib> = OnceLock::new();
    LIB.get_or_init(|| {
        let path = so_path();
        // SAFETY: loading our own library, whose initialisers are Rust's.
        let lib = unsafe { libloading::Library::new(&path) }
            .unwrap_or_else(|e| panic!("cannot load {}: {e}", path.display()));
        Lib { lib }
    })
}

impl Lib {
    fn symbol<T: Copy>(&self, name: &str) -> T {
        // SAFETY: the caller names the type the header gives for that symbol.
        unsafe { *self.lib.get::<T>(name.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}")) }
    }

    /// Copies the answer, frees it with the library's `Free`, returns the copy.
    fn take(&self, ptr: *mut c_char) -> String {
        assert!(!ptr.is_null(), "the library answered NULL");
        // SAFETY: the library returns a NUL-terminated string it allocated.
        let text = unsafe { CStr::from_ptr(ptr) }.to_str().expect("answer is UTF-8").to_owned();
        let free: FreeFn = self.symbol("Free");
        // SAFETY: freed once, with the library's own Free.
        unsafe { free(ptr.cast()) };
        text
    }

    /// Calls a `char *f(const char *)` export; `None` passes NULL; the bytes
    /// need not be UTF-8.
    pub fn call_raw(&self, name: &str, arg: Option<&[u8]>) -> String {
        let f: StrFn = self.symbol(name);
        let owned = arg.map(|bytes| {
            let mut v = bytes.to_vec();
            v.push(0);
            v
        });
        let ptr = owned.as_ref().map_or(std::ptr::null(), |v| v.as_ptr().cast());
        // SAFETY: NULL or a NUL-terminated buffer alive for the call.
        self.take(unsafe { f(ptr) })
    }

    pub fn call(&self, name: &str, arg: &str) -> String {
        self.call_raw(name, Some(arg.as_bytes()))
    }

    pub fn call_void(&self, name: &str) -> String {
        let f: VoidFn = self.symbol(name);
        // SAFETY: no arguments.
        self.take(unsafe { f() })
    }

    pub fn call_int(&self, name: &str, n: i32) -> String {
        let f: IntFn = self.symbol(name);
        // SAFETY: a plain int argument.
        self.take(unsafe { f(n) })
    }

    pub fn free_null(&self) {
        let free: FreeFn = self.symbol("Free");
        // SAFETY: Free accepts NULL.
        unsafe { free(std::ptr::null_mut()) }
    }

    pub fn json(&self, name: &str, arg: &Value) -> Value {
        parse(&self.call(name, &arg.to_string()))
    }

    pub fn init(&self, request: Value) -> Value {
        self.json("InitializeApplication", &request)
    }

    pub fn opt_in(&self, enabled: bool) {
        let answer = self.call("ToggleCentralizedMetrics", &json!({ "enabled": enabled }).to_string());
        assert_eq!(answer, r#"{"error":""}"#);
    }

    pub fn intended_panic(&self, message: &str) -> Value {
        parse(&self.call("IntendedPanic", message))
    }

    /// `TestPanic(kind, message)`: only in libraries built with the
    /// `test-panics` feature (see src/ffi.rs).
    pub fn test_panic(&self, kind: i32, message: &str) -> Value {
        type TestPanicFn = unsafe extern "C" fn(c_int, *const c_char) -> *mut c_char;
        let f: TestPanicFn = self.symbol("TestPanic");
        let mut owned = message.as_bytes().to_vec();
        owned.push(0);
        // SAFETY: an int and a NUL-terminated buffer alive for the call.
        parse(&self.take(unsafe { f(kind, owned.as_ptr().cast()) }))
    }

    pub fn flush(&self, timeout_ms: i32) -> u64 {
        let answer = parse(&self.call_int("FlushPanicReports", timeout_ms));
        assert_eq!(answer["error"], "", "{answer}");
        answer["pending"].as_u64().expect("pending")
    }
}

pub fn parse(answer: &str) -> Value {
    serde_json::from_str(answer).unwrap_or_else(|e| panic!("answer is not JSON ({e}): {answer}"))
}

/// Asserts an error answer: `error` is the first key and non-empty, with `code`.
pub fn assert_error(answer: &str, code: &str) -> Value {
    assert!(answer.starts_with(r#"{"error":""#), "error is not the first key: {answer}");
    let v = parse(answer);
    assert!(!v["error"].as_str().unwrap_or("").is_empty(), "empty error: {answer}");
    assert_eq!(v["code"], code, "{answer}");
    v
}

/// Sets the host's environment as CI would (before `InitializeApplication`).
pub fn set_environment(value: &str) {
    std::env::set_var("SENTRY_ENVIRONMENT", value);
}

/// How the receiver answers a request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16, Vec<(String, String)>),
    /// Keep the connection open and never answer.
    Hang,
}

impl Reply {
    pub fn ok() -> Self {
        Reply::Status(200, vec![])
    }
}

/// One request that reached the receiver.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub auth: String,
    pub body: Vec<u8>,
    pub status: Option<u16>,
    pub at: Instant,
}

impl Received {
    /// The event item of the envelope.
    pub fn event(&self) -> Option<Value> {
        envelope_event(&self.body)
    }
}

/// The event payload of an envelope (header line, then item header and payload).
pub fn envelope_event(body: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(body).ok()?;
    let mut lines = text.lines();
    let _header: Value = serde_json::from_str(lines.next()?).ok()?;
    while let Some(item_header) = lines.next() {
        let item: Value = serde_json::from_str(item_header).ok()?;
        let payload = lines.next()?;
        if item["type"] == "event" {
            return serde_json::from_str(payload).ok();
        }
    }
    None
}

#[derive(Default)]
struct ReceiverState {
    received: Vec<Received>,
    replies: VecDeque<Reply>,
    default_reply: Option<Reply>,
    hung: Vec<tiny_http::Request>,
}

/// A minimal envelope of one event with `message`: what an earlier process
/// could have left in the outbox, for tests that plant reports (a real
/// envelope, since every body a receiver gets goes through Sentry's
/// normaliser in CI).
pub fn planted_envelope(message: &str) -> Vec<u8> {
    let id = "0123456789abcdef0123456789abcdef";
    let event =
        json!({"event_id": id, "platform": "native", "level": "error", "message": {"formatted": message}})
            .to_string();
    format!("{{\"event_id\":\"{id}\"}}\n{{\"type\":\"event\",\"length\":{}}}\n{event}\n", event.len())
        .into_bytes()
}

/// A report an earlier process left in `data_dir`'s outbox, named as the
/// library names its reports (names it never writes are removed unread):
/// written `ago` (a report older than 30 days is dropped unsent), the `seq`-th
/// of its instant, and answered `attempts` times without being taken (in its
/// name when above 0). Creates the folder, private as the library makes it.
pub fn plant_report(data_dir: &Path, ago: Duration, seq: u32, attempts: u32, body: &[u8]) -> PathBuf {
    let folder = data_dir.join("panic-reports");
    std::fs::create_dir_all(&folder).unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(&folder, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let nanos = (SystemTime::now() - ago).duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let tries = if attempts > 0 { format!("-{attempts}") } else { String::new() };
    let path = folder.join(format!("{nanos:024}-{seq:08}-1{tries}.envelope"));
    std::fs::write(&path, body).unwrap();
    path
}

/// With `LIBSTATUS_CAPTURE_DIR` set, every envelope that reaches a receiver is
/// also written there, so that CI can pass each one through Sentry's own
/// normaliser (`scripts/normalize_events.py`).
fn capture(body: &[u8]) {
    static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let Some(dir) = std::env::var_os("LIBSTATUS_CAPTURE_DIR") else { return };
    let _ = std::fs::create_dir_all(&dir);
    let n = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("{}-{}-{n}.envelope", std::process::id(), Instant::now().elapsed().as_nanos());
    let _ = std::fs::write(PathBuf::from(dir).join(name), body);
}

/// A Sentry-compatible envelope endpoint on 127.0.0.1 (`/api/<id>/envelope/`).
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<Mutex<ReceiverState>>,
    server: Arc<tiny_http::Server>,
}

impl Receiver {
    pub fn start() -> Self {
        Self::start_on("127.0.0.1:0")
    }

    pub fn start_on(addr: &str) -> Self {
        let server = Arc::new(tiny_http::Server::http(addr).expect("bind receiver"));
        let addr = server.server_addr().to_ip().expect("ip address");
        let state: Arc<Mutex<ReceiverState>> = Arc::default();
        let (srv, st) = (server.clone(), state.clone());
        #[allow(clippy::disallowed_methods)] // the test's own server thread
        std::thread::spawn(move || {
            for mut request in srv.incoming_requests() {
                let mut body = Vec::new();
                let _ = request.as_reader().read_to_end(&mut body);
                let auth = request
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("X-Sentry-Auth"))
                    .map(|h| h.value.to_string())
                    .unwrap_or_default();
                let mut state = st.lock().unwrap();
                let reply = state
                    .replies
                    .pop_front()
                    .or_else(|| state.default_reply.clone())
                    .unwrap_or_else(Reply::ok);
                let path = request.url().to_owned();
                capture(&body);
                match reply {
                    Reply::Hang => {
                        state.received.push(Received { path, auth, body, status: None, at: Instant::now() });
                        state.hung.push(request);
                    }
                    Reply::Status(code, headers) => {
                        state.received.push(Received {
                            path,
                            auth,
                            body,
                            status: Some(code),
                            at: Instant::now(),
                        });
                        drop(state);
                        let mut response = tiny_http::Response::from_string("{}").with_status_code(code);
                        for (k, v) in headers {
                            response.add_header(
                                tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap(),
                            );
                        }
                        let _ = request.respond(response);
                    }
                }
            }
        });
        Receiver { addr, state, server }
    }

    pub fn dsn(&self) -> String {
        format!("http://{KEY}@{}/{PROJECT}", self.addr)
    }

    /// Answers the next requests with these replies, in order.
    pub fn queue(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().unwrap().replies.extend(replies);
    }

    /// The reply once the queue is empty (200 by default).
    pub fn set_default(&self, reply: Reply) {
        self.state.lock().unwrap().default_reply = Some(reply);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// When each request arrived.
    pub fn arrival_times(&self) -> Vec<Instant> {
        self.received().iter().map(|r| r.at).collect()
    }

    pub fn request_count(&self) -> usize {
        self.state.lock().unwrap().received.len()
    }

    /// Events from requests answered with a 2xx.
    pub fn delivered_events(&self) -> Vec<Value> {
        self.received()
            .iter()
            .filter(|r| r.status.is_some_and(|s| (200..300).contains(&s)))
            .filter_map(Received::event)
            .collect()
    }

    /// Waits until `n` requests have arrived (or the timeout passed).
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let count = self.request_count();
            if count >= n || Instant::now() >= deadline {
                return count;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

/// A loopback server that reads a request and never answers: the library's
/// report stays in flight for as long as the test holds the connection.
pub struct SilentServer {
    listener: TcpListener,
}

impl SilentServer {
    pub fn start() -> Self {
        Self { listener: TcpListener::bind("127.0.0.1:0").unwrap() }
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap()
    }

    /// Accepts the sender's connection and reads the request until
    /// `in_flight()` says the report is in flight (the library lists it so);
    /// the connection, held unanswered.
    pub fn hold(&self, in_flight: impl Fn() -> bool) -> TcpStream {
        use std::io::Read;
        let (mut stream, _) = self.listener.accept().unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 4096];
        while !in_flight() {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "the sender closed the connection by itself");
        }
        stream
    }
}

/// Whether the sender ends `stream` (an EOF or a reset) within `limit`; what
/// is still sent meanwhile (the rest of the request) is read and dropped.
pub fn connection_ends_within(stream: &mut TcpStream, limit: Duration) -> bool {
    use std::io::Read;
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false, // timed out: still held
        }
    }
}

/// A loopback port that accepts connections and never reads or answers.
pub struct Blackhole {
    pub addr: SocketAddr,
    accepted: Arc<Mutex<Vec<TcpStream>>>,
    closing: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Blackhole {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind blackhole");
        let addr = listener.local_addr().unwrap();
        let accepted: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let closing: Arc<std::sync::atomic::AtomicBool> = Arc::default();
        let (keep, stop) = (accepted.clone(), closing.clone());
        #[allow(clippy::disallowed_methods)] // the test's own server thread
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                keep.lock().unwrap().push(stream);
            }
        });
        Blackhole { addr, accepted, closing, thread: Some(thread) }
    }

    pub fn dsn(&self) -> String {
        format!("http://{KEY}@{}/{PROJECT}", self.addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.lock().unwrap().len()
    }

    /// Stops listening and resets every held connection; the port is free again.
    pub fn close(mut self) -> SocketAddr {
        self.closing.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        self.accepted.lock().unwrap().clear();
        self.addr
    }
}

/// A loopback address nobody listens on.
pub fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

pub fn dsn_for(addr: SocketAddr) -> String {
    format!("http://{KEY}@{addr}/{PROJECT}")
}

/// A fresh data directory, removed when dropped.
pub fn data_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("libstatus-test-").tempdir().expect("tempdir")
}

/// The opt-in file of a user who opted in (what an earlier run left).
pub const OPTED_IN: &str = r#"{"enabled":true,"userConfirmed":true}"#;

/// Writes [`OPTED_IN`] into `data_dir`, as an earlier run of the app would have.
pub fn write_opted_in(data_dir: &std::path::Path) {
    std::fs::write(data_dir.join("centralized-metrics.json"), OPTED_IN).expect("write the opt-in file");
}

/// Files waiting in the outbox of a data directory.
pub fn outbox_files(data_dir: &std::path::Path) -> usize {
    std::fs::read_dir(data_dir.join("panic-reports"))
        .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".envelope")).count())
        .unwrap_or(0)
}

// Kernel receive timestamps (`SO_TIMESTAMPNS`) are Linux's.
#[cfg(target_os = "linux")]
mod stamped;
#[cfg(target_os = "linux")]
#[allow(unused_imports)] // not every suite uses it
pub use stamped::{StampedReceiver, StampedRequest};

/// A symbolic link at `link` to `target` (on Windows a reparse point, a
/// folder link for a folder). `false` when the system refused it (Windows
/// without the privilege or developer mode, or Wine before reparse points).
pub fn symlink(target: &std::path::Path, link: &std::path::Path) -> bool {
    #[cfg(unix)]
    let made = std::os::unix::fs::symlink(target, link);
    #[cfg(windows)]
    let made = if target.is_dir() {
        std::os::windows::fs::symlink_dir(target, link)
    } else {
        std::os::windows::fs::symlink_file(target, link)
    };
    match made {
        // Wine 8 makes a Unix symbolic link, which Win32 sees as what it
        // points to: no reparse point, nothing a test of links can use.
        Ok(()) if !std::fs::symlink_metadata(link).is_ok_and(|m| m.file_type().is_symlink()) => {
            let _ = std::fs::remove_file(link).or_else(|_| std::fs::remove_dir(link));
            eprintln!("SKIPPED: this system does not show links as reparse points (Wine 8)");
            false
        }
        Ok(()) => true,
        Err(e) => {
            eprintln!("SKIPPED: cannot link {} to {}: {e}", link.display(), target.display());
            false
        }
    }
}

/// A FIFO at `path` (Unix; Windows has none in folders: `false`).
pub fn make_fifo(path: &std::path::Path) -> bool {
    #[cfg(unix)]
    {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {}", path.display());
        true
    }
    #[cfg(windows)]
    {
        let _ = path;
        false
    }
}

/// The functions the built library exports: `nm -D` on Linux; on Windows
/// the PE export table, read here (no binutils under Wine).
pub fn exported_functions() -> Vec<String> {
    let path = so_path();
    if cfg!(windows) {
        let image = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return pe_exports(&image);
    }
    elf_exported_functions(&path)
}

/// The functions an ELF shared library exports (`nm -D`, the target's).
pub fn elf_exported_functions(path: &std::path::Path) -> Vec<String> {
    let output =
        target_tool("nm").args(["-D", "--defined-only"]).arg(path).output().expect("nm (binutils) is needed");
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let (_addr, kind, name) = (parts.next()?, parts.next()?, parts.next()?);
            (kind == "T").then(|| name.to_owned())
        })
        .collect()
}

/// The names in a PE32+ image's export directory.
pub fn pe_exports(image: &[u8]) -> Vec<String> {
    let u16_at = |o: usize| u16::from_le_bytes(image[o..o + 2].try_into().unwrap()) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(image[o..o + 4].try_into().unwrap()) as usize;
    let pe = u32_at(0x3c);
    assert_eq!(&image[pe..pe + 4], b"PE\0\0", "not a PE image");
    let coff = pe + 4;
    let sections = u16_at(coff + 2);
    let optional = coff + 20;
    assert_eq!(u16_at(optional), 0x20b, "not PE32+");
    let export_rva = u32_at(optional + 112);
    let table = optional + u16_at(coff + 16);
    // A relative virtual address to a file offset, through the section table.
    let offset = |rva: usize| {
        (0..sections)
            .map(|i| table + i * 40)
            .find_map(|s| {
                let (va, size, raw) = (u32_at(s + 12), u32_at(s + 16).max(u32_at(s + 8)), u32_at(s + 20));
                (va..va + size).contains(&rva).then(|| rva - va + raw)
            })
            .expect("an address inside a section")
    };
    let dir = offset(export_rva);
    let (count, names) = (u32_at(dir + 24), offset(u32_at(dir + 32)));
    (0..count)
        .map(|i| {
            let name = offset(u32_at(names + 4 * i));
            let end = image[name..].iter().position(|&b| b == 0).unwrap();
            String::from_utf8_lossy(&image[name..name + end]).into_owned()
        })
        .collect()
}
