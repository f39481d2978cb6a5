//! status-backend: the library's API over HTTP, for functional tests (status-go's
//! `cmd/status-backend`). See `docs/status-backend.md`.
//!
//! It shares the library's endpoints and its one guard ([`status::guard::run`]):
//! `POST /statusgo/<Endpoint>` answers exactly what the C ABI answers. Any panic
//! is reported: in an endpoint (the guard), in the server's own request code (a
//! per-request `catch_unwind` in each worker), in any thread started here
//! ([`reporting::spawn_thread`]) and in `main` itself (`catch_unwind` around
//! the body of `main`).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};
use status::api::{ApiError, Arg, ArgKind, Endpoint};
use status::guard::{self, MAX_REQUEST_BYTES};
use status::reporting::{self, HostProfile, Origin};
use tiny_http::{Header, Method, Request, Response, Server};

/// How long shutdown waits for queued panic reports to be delivered.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(5);
/// How long shutdown waits for the workers to finish the requests in flight.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);
/// How often an idle worker looks at the stop flag.
const POLL: Duration = Duration::from_millis(100);
/// The exit code after a panic in `main` (Rust's own for a panicking `main`).
const EXIT_PANIC: u8 = 101;
/// Test only: set to `1` to panic in `main` right after the address is printed.
const TEST_PANIC_IN_MAIN: &str = "STATUS_BACKEND_TEST_PANIC_IN_MAIN";
/// A `Content-Length` this far over the limit is answered without letting
/// tiny_http drain the body (its drain allocates the announced length at once).
const ABSURD_BODY_BYTES: usize = 64 * MAX_REQUEST_BYTES;

/// status-backend: libstatus's API over HTTP (`POST /statusgo/<Endpoint>`).
#[derive(Debug, Parser)]
#[command(name = "status-backend", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port. The bound address is
    /// the first line printed on stdout.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "HOST:PORT")]
    address: String,
    /// dataDir for the start-up InitializeApplication (panic-report outbox,
    /// logs). Default: a fresh temporary directory, removed at exit.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Worker threads serving requests.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: u16,
    /// Log the library's messages to stderr at this level (error, warn, info,
    /// debug, trace). Default: the library's logging stays off.
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
}

fn main() -> ExitCode {
    status::panics::install_hook();
    // Outlives the body's `catch_unwind`: a panic in main is written to the
    // outbox under this directory, then flushed, and only then is it removed.
    let mut scratch: Option<tempfile::TempDir> = None;
    let outcome = catch_unwind(AssertUnwindSafe(|| run(&mut scratch)));
    let code = match outcome {
        Ok(code) => code,
        Err(payload) => {
            let message = guard::report_caught_panic(payload, Origin::Thread("main"));
            eprintln!("status-backend: panic in main: {message}");
            flush_reports();
            ExitCode::from(EXIT_PANIC)
        }
    };
    drop(scratch);
    code
}

fn run(scratch: &mut Option<tempfile::TempDir>) -> ExitCode {
    let args = Args::parse();
    reporting::set_host_profile(HostProfile {
        context_name: Some("status-backend".into()),
        context_version: Some(env!("CARGO_PKG_VERSION").into()),
        dsn: dsn_from_environment(),
        consent_required: false,
    });
    let data_dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => match tempfile::Builder::new().prefix("status-backend-").tempdir() {
            Ok(dir) => scratch.insert(dir).path().to_owned(),
            Err(e) => return fail(format_args!("cannot create a temporary data directory: {e}")),
        },
    };
    if let Err(message) = initialize(&data_dir, args.log_level.as_deref()) {
        return fail(format_args!("InitializeApplication failed at start-up: {message}"));
    }

    let listener = match TcpListener::bind(&args.address) {
        Ok(listener) => listener,
        Err(e) => return fail(format_args!("cannot listen on {}: {e}", args.address)),
    };
    let listener_fd = listener.as_raw_fd();
    let address = match listener.local_addr() {
        Ok(address) => address,
        Err(e) => return fail(format_args!("cannot read the bound address: {e}")),
    };
    let server = match Server::from_listener(listener, None) {
        Ok(server) => server,
        Err(e) => return fail(format_args!("cannot start the HTTP server: {e}")),
    };
    // Registered before the address is printed: a test may signal right after.
    let mut signals = match Signals::new([SIGINT, SIGTERM]) {
        Ok(signals) => signals,
        Err(e) => return fail(format_args!("cannot install signal handlers: {e}")),
    };
    let shared = Arc::new(Shared {
        server,
        stopping: AtomicBool::new(false),
        drain_deadline: OnceLock::new(),
        signals: signals.handle(),
    });
    let (done_tx, done_rx) = mpsc::channel();
    let mut started = 0;
    for i in 0..args.workers {
        let (shared, done) = (shared.clone(), done_tx.clone());
        let name = format!("status-backend-worker-{i}");
        let thread_name = name.clone();
        match reporting::spawn_thread(&name, move || {
            let _done = Done(done);
            worker(&shared, &thread_name);
        }) {
            Ok(_) => started += 1,
            Err(e) => return fail(format_args!("cannot start worker thread {name}: {e}")),
        }
    }
    drop(done_tx);

    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{address}");
    let _ = stdout.flush();
    drop(stdout);
    eprintln!("status-backend: listening on http://{address} with {started} workers");

    if std::env::var_os(TEST_PANIC_IN_MAIN).is_some_and(|v| v == "1") {
        panic!("{TEST_PANIC_IN_MAIN}=1: a deliberate panic in main (test only)");
    }

    let signal = signals.forever().next();
    let began = Instant::now();
    let clean = match signal {
        Some(signal) => {
            eprintln!("status-backend: signal {signal}: stopping");
            true
        }
        None => {
            eprintln!("status-backend: the HTTP server stopped accepting connections: stopping");
            false
        }
    };
    // Stop accepting: new connections are refused from here on. Requests
    // already received are still answered by the workers.
    shared.stop(started);
    stop_listening(listener_fd);
    let deadline = Instant::now() + SHUTDOWN_DRAIN;
    let mut finished = 0;
    while finished < started {
        match done_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(()) => finished += 1,
            Err(_) => break,
        }
    }
    if finished < started {
        eprintln!(
            "status-backend: {} workers still busy after {SHUTDOWN_DRAIN:?}; not waiting",
            started - finished
        );
    }
    flush_reports();
    eprintln!("status-backend: stopped in {} ms", began.elapsed().as_millis());
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// status-go's status-backend reads `SENTRY_DSN_STATUS_GO`; `SENTRY_DSN` is
/// the usual name and wins when both are set.
fn dsn_from_environment() -> Option<String> {
    ["SENTRY_DSN", "SENTRY_DSN_STATUS_GO"]
        .into_iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|dsn| !dsn.trim().is_empty())
}

/// The start-up InitializeApplication, through the guard like any call, so
/// that panic reporting is configured before the first request.
fn initialize(data_dir: &std::path::Path, log_level: Option<&str>) -> Result<(), String> {
    let mut request = serde_json::json!({ "dataDir": data_dir });
    if let Some(level) = log_level {
        request["logToStderr"] = true.into();
        request["logLevel"] = level.into();
    }
    let request = request.to_string();
    let answer = guard::run(Endpoint::InitializeApplication, || Ok(Arg::Str(&request)));
    let value: serde_json::Value =
        serde_json::from_str(&answer).map_err(|e| format!("answer is not JSON ({e}): {answer}"))?;
    if let Some(error) = value.get("error").and_then(|e| e.as_str()).filter(|e| !e.is_empty()) {
        return Err(error.to_owned());
    }
    let reporting = &value["panicReporting"];
    if reporting["active"] == true {
        eprintln!(
            "status-backend: panic reporting active (environment {})",
            reporting["environment"].as_str().unwrap_or("")
        );
    } else {
        eprintln!(
            "status-backend: panic reporting off: {}",
            reporting["reason"].as_str().unwrap_or("unknown reason")
        );
    }
    Ok(())
}

fn fail(message: std::fmt::Arguments<'_>) -> ExitCode {
    eprintln!("status-backend: {message}");
    ExitCode::FAILURE
}

fn flush_reports() {
    let started = Instant::now();
    let pending_before = reporting::flush(Duration::ZERO);
    let pending = reporting::flush(SHUTDOWN_FLUSH);
    eprintln!(
        "status-backend: panic reports: {pending_before} pending, {pending} left after {} ms",
        started.elapsed().as_millis()
    );
}

/// `shutdown(2)` on the listening socket: Linux wakes the blocked `accept`
/// with an error, tiny_http's accept thread ends, and new connections are
/// refused, while connections already accepted keep working.
fn stop_listening(fd: RawFd) {
    // SAFETY: `fd` is the listening socket owned by the server, which is alive
    // (the workers hold it) for the whole shutdown; shutdown(2) does not close it.
    let _ = unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
}

struct Shared {
    server: Server,
    stopping: AtomicBool,
    /// Set at the stop: after it, workers leave the remaining queue alone.
    drain_deadline: OnceLock<Instant>,
    signals: Handle,
}

impl Shared {
    /// From here on, workers answer what is queued and end: one unblock per
    /// worker goes behind the requests already queued, and a worker that meets
    /// one (or an empty queue) ends.
    fn stop(&self, workers: usize) {
        let _ = self.drain_deadline.set(Instant::now() + SHUTDOWN_DRAIN);
        self.stopping.store(true, Ordering::SeqCst);
        for _ in 0..workers {
            self.server.unblock();
        }
    }
}

/// Tells `main` that a worker ended, however it ended (even by a panic).
struct Done(mpsc::Sender<()>);

impl Drop for Done {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// One worker: takes requests from the server until the stop, then answers
/// what is already queued and ends.
fn worker(shared: &Shared, name: &str) {
    loop {
        let stopping = shared.stopping.load(Ordering::SeqCst);
        if stopping && shared.drain_deadline.get().is_some_and(|d| Instant::now() >= *d) {
            return;
        }
        let next = if stopping { shared.server.try_recv() } else { shared.server.recv_timeout(POLL) };
        match next {
            Ok(Some(request)) => {
                // The request code outside the guard (routing, reading,
                // answering): a panic there is reported and this worker keeps
                // serving; tiny_http answers the dropped request with a 500.
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| serve(request))) {
                    guard::report_caught_panic(payload, Origin::Thread(name));
                }
            }
            // Read the flag again: the stop may have come while waiting (an
            // unblock, or the accept thread's error when the listener shuts).
            Ok(None) | Err(_) if shared.stopping.load(Ordering::SeqCst) => return,
            Ok(None) => {}
            Err(e) => {
                // tiny_http's accept thread has ended (e.g. out of file
                // descriptors): nothing new will come. Stop the process.
                eprintln!("status-backend: accepting connections failed: {e}");
                shared.signals.close();
                return;
            }
        }
    }
}

/// Routes and answers one request.
fn serve(mut request: Request) {
    let path = request.url().split('?').next().unwrap_or("").to_owned();
    if path == "/health" {
        return match request.method() {
            Method::Get | Method::Head => answer(request, 200, r#"{"error":""}"#.into(), None),
            _ => method_not_allowed(request, "GET, HEAD"),
        };
    }
    let Some(name) = path.strip_prefix("/statusgo/") else {
        let error = ApiError::invalid_request(format!("no such path: {path}; use POST /statusgo/<Endpoint>"));
        return answer(request, 404, guard::error_json(&error), None);
    };
    let Some(endpoint) = Endpoint::from_name(name) else {
        let error = ApiError::invalid_request(format!("unknown endpoint `{name}`"));
        return answer(request, 404, guard::error_json(&error), None);
    };
    if *request.method() != Method::Post {
        return method_not_allowed(request, "POST");
    }
    let body = match read_body(&mut request) {
        Ok(body) => body,
        Err(BodyError::TooLarge(size)) => return too_large(request, size),
        Err(BodyError::Io(e)) => {
            let error = ApiError::invalid_request(format!("cannot read the request body: {e}"));
            return answer(request, 400, guard::error_json(&error), None);
        }
    };
    let response = guard::run(endpoint, || decode_arg(endpoint, &body));
    let status = http_status(&response);
    answer(request, status, response, None);
}

enum BodyError {
    /// The announced or read size, when known.
    TooLarge(Option<usize>),
    Io(std::io::Error),
}

/// The body, at most [`MAX_REQUEST_BYTES`]: `Content-Length` is checked
/// before reading, and the read is capped (chunked bodies have no length).
fn read_body(request: &mut Request) -> Result<Vec<u8>, BodyError> {
    let announced = request.body_length();
    if let Some(length) = announced.filter(|&n| n > MAX_REQUEST_BYTES) {
        return Err(BodyError::TooLarge(Some(length)));
    }
    let mut body = Vec::with_capacity(announced.unwrap_or(0));
    request.as_reader().take(MAX_REQUEST_BYTES as u64 + 1).read_to_end(&mut body).map_err(BodyError::Io)?;
    if body.len() > MAX_REQUEST_BYTES {
        return Err(BodyError::TooLarge(None));
    }
    Ok(body)
}

/// The endpoint's argument from the body, read inside the guard: invalid
/// UTF-8 or a bad number is the guard's `invalid-request`, as over the C ABI.
fn decode_arg(endpoint: Endpoint, body: &[u8]) -> Result<Arg<'_>, ApiError> {
    let text = || {
        std::str::from_utf8(body)
            .map_err(|e| ApiError::invalid_request(format!("request is not valid UTF-8: {e}")))
    };
    match endpoint.arg_kind() {
        ArgKind::None if body.iter().all(u8::is_ascii_whitespace) => Ok(Arg::None),
        ArgKind::None => Err(ApiError::invalid_request(format!(
            "{} takes no argument: send an empty body",
            endpoint.name()
        ))),
        ArgKind::Json | ArgKind::Text => text().map(Arg::Str),
        ArgKind::Int => text()?.trim().parse::<i64>().map(Arg::Int).map_err(|_| {
            ApiError::invalid_request(format!("{} takes an integer as the body", endpoint.name()))
        }),
    }
}

/// The HTTP status for an answer of the guard, from its `code`: 200 ok,
/// 400 invalid-request, 409 not-initialized, 500 panic, internal or anything else.
fn http_status(answer: &str) -> u16 {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(answer) else {
        return 500;
    };
    // Answers without an error are objects without `error` or with it empty.
    if value.get("error").and_then(|e| e.as_str()).is_none_or(str::is_empty) {
        return 200;
    }
    match value.get("code").and_then(|c| c.as_str()) {
        Some("invalid-request") => 400,
        Some("not-initialized") => 409,
        _ => 500,
    }
}

fn method_not_allowed(request: Request, allow: &str) {
    let error =
        ApiError::invalid_request(format!("method {} is not allowed here; use {allow}", request.method()));
    answer(request, 405, guard::error_json(&error), Some(("Allow", allow)));
}

fn too_large(request: Request, size: Option<usize>) {
    let error = ApiError::invalid_request(match size {
        Some(size) => format!("request is {size} bytes; the limit is {MAX_REQUEST_BYTES}"),
        None => format!("request is over the limit of {MAX_REQUEST_BYTES} bytes"),
    });
    let body = guard::error_json(&error);
    if size.is_some_and(|n| n > ABSURD_BODY_BYTES) {
        // Dropping a request makes tiny_http read the rest of its body into one
        // buffer of the announced size: for an absurd Content-Length that
        // allocation fails and aborts the process (tiny_http 0.12). So take the
        // raw stream (an "upgrade": tiny_http writes the head without a length),
        // write the body, and leak the stream (a descriptor and tiny_http's
        // thread for that connection) rather than let it drain: the client sees
        // the 413 and its body, and must close the connection itself.
        let response = json_response(413, String::new(), None);
        let mut stream = request.upgrade("none", response);
        let _ = stream.write_all(body.as_bytes());
        let _ = stream.flush();
        std::mem::forget(stream);
        return;
    }
    answer(request, 413, body, None);
}

fn json_response(
    status: u16,
    body: String,
    extra: Option<(&str, &str)>,
) -> Response<std::io::Cursor<Vec<u8>>> {
    let mut response = Response::from_string(body).with_status_code(status);
    response.add_header(header("Content-Type", "application/json"));
    if let Some((name, value)) = extra {
        response.add_header(header(name, value));
    }
    response
}

fn answer(request: Request, status: u16, body: String, extra: Option<(&str, &str)>) {
    // An error here is the client having gone away: nothing to do.
    let _ = request.respond(json_response(status, body, extra));
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("static header names and values are valid")
}
