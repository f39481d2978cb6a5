//! status-backend as its users see it: the real binary on 127.0.0.1:0, driven
//! over real HTTP, with a loopback Sentry receiver for the reports.
#![cfg(unix)] // status-backend is built for Unix (signals, SO_REUSEADDR semantics)

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use status::guard::MAX_REQUEST_BYTES;
use status::reporting::EVENTS_PER_WINDOW;
use support::{assert_error, parse, Receiver};

const BIN: &str = env!("CARGO_BIN_EXE_status-backend");

/// One running status-backend; killed when dropped.
struct Backend {
    child: Child,
    addr: String,
    agent: ureq::Agent,
    _stdout: BufReader<ChildStdout>,
    stderr_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Backend {
    /// Starts the binary with a clean Sentry environment plus `env`.
    fn start(env: &[(&str, &str)]) -> Self {
        let dir = support::data_dir();
        let stderr_path = dir.path().join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
        let mut command = support::target_command(BIN);
        command
            .args(["--address", "127.0.0.1:0"])
            .env_remove("SENTRY_DSN")
            .env_remove("SENTRY_DSN_STATUS_GO")
            .env_remove("SENTRY_ENVIRONMENT")
            .env_remove("STATUS_BACKEND_TEST_PANIC_IN_MAIN")
            // The default hook prints every panic; symbolising a backtrace for
            // each of the load test's panics would dominate its time.
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start status-backend");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read the address");
        let addr = line.trim().to_owned();
        if addr.is_empty() {
            let _ = child.wait();
            panic!("status-backend printed no address; stderr:\n{}", read(&stderr_path));
        }
        Backend { child, addr, agent: agent(), _stdout: stdout, stderr_path, _dir: dir }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `POST /statusgo/<endpoint>`; `None` sends no body.
    fn post(&self, endpoint: &str, body: Option<&[u8]>) -> (u16, String) {
        post(&self.agent, &self.url(&format!("/statusgo/{endpoint}")), body)
    }

    fn stderr(&self) -> String {
        read(&self.stderr_path)
    }

    fn pid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child, which has not been reaped yet.
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0, "kill");
    }

    /// Waits for the process to exit, up to `timeout`.
    fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "status-backend did not exit; stderr:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn post(agent: &ureq::Agent, url: &str, body: Option<&[u8]>) -> (u16, String) {
    let request = agent.post(url);
    let response = match body {
        Some(body) => request.send(body),
        None => request.send_empty(),
    };
    finish(response.unwrap_or_else(|e| panic!("POST {url}: {e}")))
}

fn finish(mut response: ureq::http::Response<ureq::Body>) -> (u16, String) {
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let body = response.body_mut().read_to_string().expect("read the answer");
    assert_eq!(content_type, "application/json", "status {status}: {body}");
    (status, body)
}

/// Events delivered to `receiver` whose tag `key` is `value`.
fn events_tagged(receiver: &Receiver, key: &str, value: &str) -> Vec<Value> {
    receiver.delivered_events().into_iter().filter(|e| e["tags"][key] == value).collect()
}

fn exception_value(event: &Value) -> String {
    event["exception"]["values"][0]["value"].as_str().unwrap_or("").to_owned()
}

#[allow(clippy::disallowed_methods)] // the test's own client threads
fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    std::thread::spawn(f)
}

#[test]
fn every_endpoint_and_every_error_over_http() {
    let backend = Backend::start(&[]);
    let data = support::data_dir();

    // /health, and only GET/HEAD there.
    let (status, body) = finish(backend.agent.get(backend.url("/health")).call().unwrap());
    assert_eq!((status, body.as_str()), (200, r#"{"error":""}"#));
    let response = backend.agent.post(backend.url("/health")).send_empty().unwrap();
    assert_eq!(response.headers().get("allow").unwrap(), "GET, HEAD");
    let (status, body) = finish(response);
    assert_eq!(status, 405);
    assert_error(&body, "invalid-request");

    // Start-up initialised the library: metrics info answers at once.
    let (status, body) = backend.post("CentralizedMetricsInfo", None);
    assert_eq!((status, parse(&body)), (200, json!({"enabled": false, "userConfirmed": false})));

    // InitializeApplication with the host's own dataDir.
    let request = json!({ "dataDir": data.path() }).to_string();
    let (status, body) = backend.post("InitializeApplication", Some(request.as_bytes()));
    assert_eq!(status, 200, "{body}");
    let answer = parse(&body);
    assert_eq!(answer["panicReporting"]["contextName"], "status-backend");
    assert_eq!(answer["panicReporting"]["contextVersion"], env!("CARGO_PKG_VERSION"));
    assert_eq!(answer["panicReporting"]["active"], false, "no DSN in this test");

    let (status, body) = backend.post("ToggleCentralizedMetrics", Some(br#"{"enabled":true}"#));
    assert_eq!((status, body.as_str()), (200, r#"{"error":""}"#));
    let (status, body) = backend.post("CentralizedMetricsInfo", Some(b""));
    assert_eq!((status, parse(&body)), (200, json!({"enabled": true, "userConfirmed": true})));

    // A panic is a 500 with the guard's answer, and the server keeps serving.
    let (status, body) = backend.post("IntendedPanic", Some("over http 😀".as_bytes()));
    assert_eq!(status, 500);
    assert_eq!(assert_error(&body, "panic")["error"], "over http 😀");
    let (status, body) = backend.post("IntendedBackgroundPanic", Some(b"in a thread"));
    assert_eq!((status, body.as_str()), (200, r#"{"error":""}"#));
    let (status, body) = backend.post("FlushPanicReports", Some(b" 100\n"));
    assert_eq!((status, parse(&body)), (200, json!({"error": "", "pending": 0})));
    // What the user can see, and its deletion (nothing pending: no DSN).
    let (status, body) = backend.post("PanicReports", Some(br#"{"limit":10}"#));
    assert_eq!(status, 200, "{body}");
    let listed = parse(&body);
    assert_eq!((listed["pending"].clone(), listed["sent"].clone()), (json!([]), json!([])));
    assert!(listed["dropped"]["stormControl"].is_u64(), "{listed}");
    let (status, body) = backend.post("DeletePanicReports", Some(br#"{"ids":["no-such-report"]}"#));
    assert_eq!((status, parse(&body)), (200, json!({"error": "", "deleted": 0, "notPending": 1})));
    let (status, body) = backend.post("DeletePanicReports", Some(br#"{"all":true}"#));
    assert_eq!((status, parse(&body)), (200, json!({"error": "", "deleted": 0, "notPending": 0})));

    // Bad bodies: the guard's invalid-request, 400.
    for (endpoint, body, needle) in [
        ("InitializeApplication", &b"not json"[..], "not valid JSON"),
        ("InitializeApplication", b"[1]", "JSON object"),
        ("InitializeApplication", b"{}", "dataDir"),
        ("InitializeApplication", b"", "not valid JSON"),
        ("ToggleCentralizedMetrics", br#"{"enabled":"yes"}"#, "invalid type"),
        ("DeletePanicReports", b"{}", "ids"),
        ("PanicReports", br#"{"limit":0}"#, "limit"),
        ("IntendedPanic", b"\xff\xfe", "UTF-8"),
        ("InitializeApplication", b"{\"dataDir\":\"\xc3\x28\"}", "UTF-8"),
        ("FlushPanicReports", b"", "integer"),
        ("FlushPanicReports", b"soon", "integer"),
        ("FlushPanicReports", b"-1", "timeoutMs"),
        ("FlushPanicReports", b"60001", "timeoutMs"),
        ("CentralizedMetricsInfo", b"{}", "no argument"),
    ] {
        let (status, answer) = backend.post(endpoint, Some(body));
        assert_eq!(status, 400, "{endpoint} {body:?}: {answer}");
        let error = assert_error(&answer, "invalid-request");
        assert!(error["error"].as_str().unwrap().contains(needle), "{endpoint} {body:?}: {answer}");
    }

    // Unknown endpoint or path: 404.
    for path in ["/statusgo/Nope", "/statusgo/", "/statusgo/initializeapplication", "/", "/signals"] {
        let (status, body) = post(&backend.agent, &backend.url(path), Some(b"x"));
        assert_eq!(status, 404, "{path}: {body}");
        assert_error(&body, "invalid-request");
    }
    let (status, body) = finish(backend.agent.get(backend.url("/statusgo/Nope")).call().unwrap());
    assert_eq!(status, 404, "{body}");

    // Wrong method: 405 with Allow: POST.
    for response in [
        backend.agent.get(backend.url("/statusgo/IntendedPanic")).call().unwrap(),
        backend.agent.put(backend.url("/statusgo/CentralizedMetricsInfo")).send(&b"{}"[..]).unwrap(),
        backend.agent.delete(backend.url("/statusgo/FlushPanicReports")).call().unwrap(),
    ] {
        assert_eq!(response.headers().get("allow").unwrap(), "POST");
        let (status, body) = finish(response);
        assert_eq!(status, 405, "{body}");
        assert_error(&body, "invalid-request");
    }

    // A query string does not change the route.
    let (status, _) = post(&backend.agent, &backend.url("/statusgo/CentralizedMetricsInfo?x=1"), None);
    assert_eq!(status, 200);

    // The size limit: exactly MAX_REQUEST_BYTES is read; one more is a 413.
    let prefix = format!(r#"{{"dataDir":{},"pad":""#, serde_json::Value::from(data.path().to_str().unwrap()));
    let mut exact = prefix.into_bytes();
    exact.resize(MAX_REQUEST_BYTES - 2, b'x');
    exact.extend_from_slice(b"\"}");
    assert_eq!(exact.len(), MAX_REQUEST_BYTES);
    let (status, body) = backend.post("InitializeApplication", Some(&exact));
    assert_eq!(status, 200, "{}", &body[..body.len().min(300)]);
    let over = vec![b'x'; MAX_REQUEST_BYTES + 1];
    let (status, body) = backend.post("IntendedPanic", Some(&over));
    assert_eq!(status, 413);
    assert!(assert_error(&body, "invalid-request")["error"].as_str().unwrap().contains("limit"));
    // Still serving on the same agent after the 413.
    let (status, _) = backend.post("CentralizedMetricsInfo", None);
    assert_eq!(status, 200);
    // The library caught the panic and logs it itself: std's default hook
    // does not print it (nor its raw message) on stderr.
    assert!(!backend.stderr().contains("over http"), "a caught panic was printed: {}", backend.stderr());
}

/// A chunked body has no Content-Length: the read is capped instead.
#[test]
fn oversize_chunked_and_absurd_content_length_are_refused_without_harm() {
    let backend = Backend::start(&[]);
    let over = vec![b'x'; MAX_REQUEST_BYTES + 10];
    let response = backend
        .agent
        .post(backend.url("/statusgo/IntendedPanic"))
        .send(ureq::SendBody::from_reader(&mut &over[..]))
        .unwrap();
    let (status, body) = finish(response);
    assert_eq!(status, 413, "{body}");
    assert_error(&body, "invalid-request");

    // tiny_http drains an unread body into one buffer of the announced size;
    // an absurd Content-Length must not abort the server.
    let mut stream = TcpStream::connect(&backend.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
        .write_all(
            b"POST /statusgo/IntendedPanic HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000000\r\n\r\nabc",
        )
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"}") {
        assert_eq!(stream.read(&mut byte).expect("an answer"), 1, "closed early: {head:?}");
        head.push(byte[0]);
    }
    let text = String::from_utf8(head).unwrap();
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains(r#"{"error":"request is 100000000000000 bytes"#), "{text}");
    drop(stream);
    let (status, _) = backend.post("CentralizedMetricsInfo", None);
    assert_eq!(status, 200, "still alive; stderr:\n{}", backend.stderr());
}

#[test]
fn concurrent_clients_with_panics_are_all_answered() {
    const CLIENTS: usize = 8;
    const REQUESTS: usize = 500;
    let backend = Arc::new(Backend::start(&[]));
    let started = Instant::now();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let backend = backend.clone();
            spawn(move || {
                let agent = agent();
                let mut panics = 0;
                for i in 0..REQUESTS {
                    let (endpoint, body): (&str, Option<&[u8]>) = match i % 4 {
                        0 => ("IntendedPanic", Some(b"load")),
                        1 => ("CentralizedMetricsInfo", None),
                        2 => ("FlushPanicReports", Some(b"0")),
                        _ => ("ToggleCentralizedMetrics", Some(br#"{"enabled":false}"#)),
                    };
                    let url = backend.url(&format!("/statusgo/{endpoint}"));
                    let (status, answer) = post(&agent, &url, body);
                    let value = parse(&answer);
                    if endpoint == "IntendedPanic" {
                        assert_eq!((status, value["code"].as_str()), (500, Some("panic")), "{client}/{i}");
                        panics += 1;
                    } else {
                        assert_eq!(status, 200, "{client}/{i} {endpoint}: {answer}");
                    }
                }
                panics
            })
        })
        .collect();
    let panics: usize = threads.into_iter().map(|t| t.join().expect("client thread")).sum();
    let elapsed = started.elapsed();
    let total = CLIENTS * REQUESTS;
    eprintln!(
        "load: {total} requests ({panics} panics) in {elapsed:?}: {:.0} requests/s",
        total as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(panics, total / 4);
    assert!(elapsed < Duration::from_secs(120), "took {elapsed:?}");
    let (status, _) = backend.post("CentralizedMetricsInfo", None);
    assert_eq!(status, 200);
}

#[test]
fn intended_panic_over_http_is_reported_with_the_backend_context() {
    let receiver = Receiver::start();
    let dsn = receiver.dsn();
    let backend = Backend::start(&[("SENTRY_DSN", &dsn), ("SENTRY_ENVIRONMENT", "ci-main")]);
    assert!(backend.stderr().contains("panic reporting active"), "{}", backend.stderr());

    let (status, body) = backend.post("IntendedPanic", Some(b"reported over http"));
    assert_eq!(status, 500);
    assert_error(&body, "panic");
    let (status, body) = backend.post("FlushPanicReports", Some(b"10000"));
    assert_eq!((status, parse(&body)), (200, json!({"error": "", "pending": 0})));

    let events = receiver.delivered_events();
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert_eq!(event["tags"]["context.name"], "status-backend");
    assert_eq!(event["tags"]["context.version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(event["tags"]["endpoint"], "IntendedPanic");
    assert_eq!(event["environment"], "ci-main");
    assert_eq!(event["release"], format!("status-backend@{}", env!("CARGO_PKG_VERSION")));
    assert_eq!(exception_value(event), "reported over http");
    assert!(receiver.received().iter().all(|r| r.path == format!("/api/{}/envelope/", support::PROJECT)));

    // SENTRY_DSN_STATUS_GO (status-go's name) works too.
    let receiver = Receiver::start();
    let dsn = receiver.dsn();
    let backend = Backend::start(&[("SENTRY_DSN_STATUS_GO", &dsn), ("SENTRY_ENVIRONMENT", "ci-nightly")]);
    let (status, _) = backend.post("IntendedPanic", Some(b"status-go name"));
    assert_eq!(status, 500);
    let (_, body) = backend.post("FlushPanicReports", Some(b"10000"));
    assert_eq!(parse(&body)["pending"], 0);
    assert_eq!(events_tagged(&receiver, "endpoint", "IntendedPanic").len(), 1);
}

#[test]
fn unreported_environments_send_nothing() {
    let receiver = Receiver::start();
    let dsn = receiver.dsn();
    let backend = Backend::start(&[("SENTRY_DSN", &dsn), ("SENTRY_ENVIRONMENT", "ci-pr")]);
    assert!(backend.stderr().contains("panic reporting off"), "{}", backend.stderr());
    let (status, _) = backend.post("IntendedPanic", Some(b"not reported"));
    assert_eq!(status, 500);
    let (_, body) = backend.post("FlushPanicReports", Some(b"500"));
    assert_eq!(parse(&body)["pending"], 0);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.request_count(), 0);
}

#[test]
fn a_panic_in_main_is_reported_before_the_process_exits() {
    let receiver = Receiver::start();
    let dsn = receiver.dsn();
    let mut backend = Backend::start(&[
        ("SENTRY_DSN", &dsn),
        ("SENTRY_ENVIRONMENT", "ci-main"),
        ("STATUS_BACKEND_TEST_PANIC_IN_MAIN", "1"),
    ]);
    let status = backend.wait(Duration::from_secs(30));
    assert_eq!(status.code(), Some(101), "stderr:\n{}", backend.stderr());
    // Flushed before exiting: already delivered, no waiting here.
    let events = events_tagged(&receiver, "thread", "main");
    assert_eq!(events.len(), 1, "{:#?}\nstderr:\n{}", receiver.delivered_events(), backend.stderr());
    assert_eq!(events[0]["tags"]["context.name"], "status-backend");
    assert!(exception_value(&events[0]).contains("STATUS_BACKEND_TEST_PANIC_IN_MAIN"));
    assert!(backend.stderr().contains("panic in main"), "{}", backend.stderr());
}

#[test]
fn sigterm_during_load_exits_zero_and_loses_no_report() {
    let receiver = Receiver::start();
    // The first delivery fails: reports are still queued (in backoff) at the
    // signal, and only the shutdown flush can deliver them.
    receiver.queue([support::Reply::Status(503, vec![])]);
    let dsn = receiver.dsn();
    let mut backend = Backend::start(&[("SENTRY_DSN", &dsn), ("SENTRY_ENVIRONMENT", "ci-main")]);
    let backend_url = backend.url("");
    let signalled = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (signalled, answered, base) = (signalled.clone(), answered.clone(), backend_url.clone());
            spawn(move || {
                let agent = agent();
                loop {
                    let url = format!("{base}/statusgo/CentralizedMetricsInfo");
                    let response = agent.post(&url).send_empty();
                    // After the signal, refused, reset or unanswered requests
                    // are expected; before it, every answer must be right.
                    if signalled.load(Ordering::SeqCst)
                        && response.as_ref().map_or(true, |r| r.status() != 200)
                    {
                        break;
                    }
                    let (status, body) = finish(response.expect("answer before the signal"));
                    assert_eq!(status, 200, "{body}");
                    parse(&body);
                    answered.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    while answered.load(Ordering::SeqCst) < 50 {
        std::thread::sleep(Duration::from_millis(5));
    }

    // Reports made under load, before the signal: as many as storm control
    // admits (both intended panics panic at the same site, so they share it).
    let mut messages = Vec::new();
    for i in 0..EVENTS_PER_WINDOW {
        let (endpoint, expected) =
            if i % 2 == 0 { ("IntendedPanic", 500) } else { ("IntendedBackgroundPanic", 200) };
        let message = format!("before sigterm, {endpoint} {i}");
        let (status, _) = backend.post(endpoint, Some(message.as_bytes()));
        assert_eq!(status, expected);
        messages.push(message);
    }

    let at_signal = Instant::now();
    signalled.store(true, Ordering::SeqCst);
    backend.signal(libc::SIGTERM);
    let status = backend.wait(Duration::from_secs(30));
    let shutdown = at_signal.elapsed();
    for thread in load {
        thread.join().expect("load thread");
    }
    let stderr = backend.stderr();
    eprintln!(
        "sigterm: exited {status:?} {shutdown:?} after the signal, {} requests answered under load\n{}",
        answered.load(Ordering::SeqCst),
        stderr.lines().filter(|l| l.starts_with("status-backend:")).collect::<Vec<_>>().join("\n")
    );
    assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
    assert!(shutdown < Duration::from_secs(15), "{shutdown:?}");

    let mut delivered: Vec<String> = receiver.delivered_events().iter().map(exception_value).collect();
    delivered.sort();
    messages.sort();
    assert_eq!(delivered, messages, "stderr:\n{stderr}");
    assert!(receiver.received().iter().any(|r| r.status == Some(503)), "the 503 was used");
}

#[test]
fn sigint_stops_an_idle_backend_with_exit_code_zero() {
    let mut backend = Backend::start(&[]);
    let (status, _) = backend.post("CentralizedMetricsInfo", None);
    assert_eq!(status, 200);
    let signalled = Instant::now();
    backend.signal(libc::SIGINT);
    let status = backend.wait(Duration::from_secs(15));
    eprintln!("sigint: idle shutdown in {:?}", signalled.elapsed());
    assert_eq!(status.code(), Some(0), "stderr:\n{}", backend.stderr());
    // No longer accepting.
    assert!(TcpStream::connect(&backend.addr).is_err());
}

#[test]
fn a_bad_address_fails_at_start_up() {
    let output = support::target_command(BIN)
        .args(["--address", "not-an-address"])
        .env_remove("SENTRY_DSN")
        .env_remove("STATUS_BACKEND_TEST_PANIC_IN_MAIN")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot listen on not-an-address"));
}

/// The HTTP stack is the binary's alone: nothing of tiny_http (or the other
/// backend-only crates) is linked into libstatus.so.
#[test]
fn the_http_stack_is_not_in_libstatus_so() {
    let so = support::so_path();
    assert!(so.exists(), "{} is not built", so.display());
    for args in [&["-D", "--defined-only"][..], &["--defined-only"][..]] {
        let output = support::target_tool("nm").args(args).arg(&so).output().expect("run nm (binutils)");
        assert!(output.status.success(), "nm {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        let symbols = String::from_utf8_lossy(&output.stdout);
        assert!(symbols.lines().count() > 5, "nm {args:?} listed nothing");
        for crate_name in ["tiny_http", "signal_hook", "clap"] {
            let found: Vec<&str> = symbols.lines().filter(|l| l.contains(crate_name)).take(5).collect();
            assert!(found.is_empty(), "nm {args:?}: {crate_name} in libstatus.so: {found:#?}");
        }
    }
    // The binary does link it: the check would see it if it were there.
    let output = support::target_tool("nm").arg(BIN).output().expect("nm status-backend");
    assert!(String::from_utf8_lossy(&output.stdout).contains("tiny_http"));
}
