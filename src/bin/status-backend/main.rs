//! status-backend: the library's API over HTTP, for functional tests (status-go's
//! `cmd/status-backend`). See `docs/status-backend.md`.
//!
//! It shares the library's endpoints and its one guard ([`status::guard::run`]):
//! `POST /statusgo/<Endpoint>` answers exactly what the C ABI answers. Any panic
//! is reported: in an endpoint (the guard), in the server's own request code (a
//! per-request `catch_unwind` in each worker), in any thread started here
//! ([`reporting::spawn_thread`]) and in `main` itself (`catch_unwind` around
//! the body of `main`).
//!
//! - `main.rs`: arguments, start-up, signals, shutdown.
//! - `server.rs`: the listener and the worker threads.
//! - `routes.rs`: one request: routing, the body, the answer.

mod routes;
mod server;

use std::io::Write;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use status::api::{Arg, Endpoint};
use status::guard;
use status::reporting::{self, HostProfile, Origin};
use tiny_http::Server;

use self::server::{stop_listening, worker, Done, Shared};

/// How long shutdown waits for queued panic reports to be delivered.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(5);
/// How long shutdown waits for the workers to finish the requests in flight.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);
/// The exit code after a panic in `main` (Rust's own for a panicking `main`).
const EXIT_PANIC: u8 = 101;
/// Test only: set to `1` to panic in `main` right after the address is printed.
const TEST_PANIC_IN_MAIN: &str = "STATUS_BACKEND_TEST_PANIC_IN_MAIN";

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
        dsn: dsn_from_environment().map(reporting::Secret::new),
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
        stopping: std::sync::atomic::AtomicBool::new(false),
        drain_deadline: std::sync::OnceLock::new(),
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
    let value: serde_json::Value = serde_json::from_str(&answer.json)
        .map_err(|e| format!("answer is not JSON ({e}): {}", answer.json))?;
    if answer.code.is_some() {
        return Err(value["error"].as_str().unwrap_or("unknown error").to_owned());
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
