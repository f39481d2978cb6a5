//! A small fleet on loopback: 16 processes, each a host with the real
//! `libstatus.so`, against one receiver that answers 429 (`Retry-After` and
//! `X-Sentry-Rate-Limits`) until a moment, then 200. No process sends inside
//! the window it was given, every report arrives exactly once after it, and
//! the processes do not come back in the same instant.

mod support;

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use support::{data_dir, envelope_event, lib, outbox_files, set_environment, KEY, PROJECT};

const PROCESSES: usize = 16;
const REPORTS_PER_PROCESS: usize = 3;
/// From the first request the receiver sees until it accepts.
const WINDOW: Duration = Duration::from_secs(10);

/// One request that reached the window receiver.
#[derive(Debug, Clone)]
struct Hit {
    at: Instant,
    status: u16,
    message: String,
}

/// Answers 429 until [`WINDOW`] after the first request, telling each client
/// exactly how long is left, then 200.
struct WindowReceiver {
    addr: std::net::SocketAddr,
    hits: Arc<Mutex<Vec<Hit>>>,
    window_end: Arc<Mutex<Option<Instant>>>,
    server: Arc<tiny_http::Server>,
}

impl WindowReceiver {
    fn start() -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind"));
        let addr = server.server_addr().to_ip().expect("ip");
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let window_end: Arc<Mutex<Option<Instant>>> = Arc::default();
        let (srv, log, end) = (server.clone(), hits.clone(), window_end.clone());
        #[allow(clippy::disallowed_methods)] // the test's own server thread
        std::thread::spawn(move || {
            for mut request in srv.incoming_requests() {
                let mut body = Vec::new();
                let _ = request.as_reader().read_to_end(&mut body);
                let at = Instant::now();
                let until = *end.lock().unwrap().get_or_insert(at + WINDOW);
                let message = envelope_event(&body)
                    .and_then(|e| e["exception"]["values"][0]["value"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                let left = until.saturating_duration_since(at);
                let (status, headers) = if left > Duration::ZERO {
                    let seconds = left.as_secs_f64();
                    (
                        429,
                        vec![
                            ("Retry-After".to_owned(), format!("{}", seconds.ceil() as u64)),
                            // Exact, so that clients without spread would
                            // all come back at the same instant.
                            (
                                "X-Sentry-Rate-Limits".to_owned(),
                                format!("{seconds:.3}:error;transaction:key"),
                            ),
                        ],
                    )
                } else {
                    (200, vec![])
                };
                log.lock().unwrap().push(Hit { at, status, message });
                let mut response = tiny_http::Response::from_string("{}").with_status_code(status);
                for (k, v) in headers {
                    response.add_header(tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap());
                }
                let _ = request.respond(response);
            }
        });
        WindowReceiver { addr, hits, window_end, server }
    }

    fn dsn(&self) -> String {
        format!("http://{KEY}@{}/{PROJECT}", self.addr)
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

impl Drop for WindowReceiver {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

/// One device of the fleet (run by the test below as a child process): opts
/// in, panics a few times, and waits until its outbox is empty.
#[test]
fn fleet_child() {
    let Ok(spec) = std::env::var("LIBSTATUS_FLEET_CHILD") else { return };
    let mut parts = spec.splitn(4, '|');
    let (index, dir, go, dsn) =
        (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    // Loaded and ready; the fleet starts together (processes start slowly on
    // a loaded machine, and a window is only a test if most meet it).
    lib();
    std::fs::write(std::path::Path::new(dir).join("ready"), b"").unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !std::path::Path::new(go).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    set_environment("ci-main");
    let answer = lib().init(json!({"dataDir": dir, "sentryDSN": dsn}));
    assert!(answer.get("error").is_none(), "{answer}");
    lib().opt_in(true);
    for k in 0..REPORTS_PER_PROCESS {
        assert_eq!(lib().intended_panic(&format!("process {index} report {k}"))["code"], "panic");
    }
    // No flush: the sender's own pace is what is tested (a flush would skip
    // the initial delay, as it does at quit).
    let deadline = Instant::now() + Duration::from_secs(60);
    while outbox_files(std::path::Path::new(dir)) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("PENDING {}", outbox_files(std::path::Path::new(dir)));
}

/// The most items of `times` (sorted) within any `span`.
fn largest_burst(times: &[Instant], span: Duration) -> usize {
    (0..times.len())
        .map(|i| times[i..].iter().take_while(|t| t.duration_since(times[i]) < span).count())
        .max()
        .unwrap_or(0)
}

#[test]
fn sixteen_processes_wait_out_a_429_window_then_deliver_everything_once_spread_out() {
    if !support::isolated() {
        return;
    }
    let receiver = WindowReceiver::start();
    let dirs: Vec<tempfile::TempDir> = (0..PROCESSES).map(|_| data_dir()).collect();
    let go_dir = data_dir();
    let go = go_dir.path().join("go");
    let children: Vec<_> = dirs
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            support::self_command()
                .args(["--exact", "fleet_child", "--nocapture", "--test-threads=1"])
                .env(
                    "LIBSTATUS_FLEET_CHILD",
                    format!("{i}|{}|{}|{}", dir.path().display(), go.display(), receiver.dsn()),
                )
                .env_remove("LIBSTATUS_ISOLATED")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while dirs.iter().any(|d| !d.path().join("ready").exists()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::write(&go, b"").unwrap();
    let started = Instant::now();
    for (i, child) in children.into_iter().enumerate() {
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("PENDING 0"),
            "process {i}:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    let hits = receiver.hits();
    let window_end = receiver.window_end.lock().unwrap().expect("a request came");
    let ms = |t: Instant| t.duration_since(started).as_millis();

    // Each process is told about the window by its first request and then
    // sends nothing until the window is over.
    let mut by_process: HashMap<String, Vec<&Hit>> = HashMap::new();
    for hit in &hits {
        let process = hit.message.split(" report").next().unwrap_or("").to_owned();
        by_process.entry(process).or_default().push(hit);
    }
    assert_eq!(by_process.len(), PROCESSES, "every process sent: {:?}", by_process.keys());
    let mut told = 0;
    for (process, hits) in &by_process {
        let refused: Vec<u128> = hits.iter().filter(|h| h.status == 429).map(|h| ms(h.at)).collect();
        assert!(refused.len() <= 1, "{process} sent again inside the window it was given, at {refused:?} ms");
        told += refused.len();
        let early: Vec<u128> =
            hits.iter().filter(|h| h.status == 200 && h.at < window_end).map(|h| ms(h.at)).collect();
        assert!(early.is_empty(), "{process}: accepted before the window ended: {early:?}");
    }
    assert!(
        told >= PROCESSES / 2,
        "only {told} processes reached the receiver inside the window: the test proved little"
    );

    // Every report exactly once.
    let mut delivered: Vec<&str> =
        hits.iter().filter(|h| h.status == 200).map(|h| h.message.as_str()).collect();
    delivered.sort_unstable();
    let mut expected: Vec<String> = (0..PROCESSES)
        .flat_map(|i| (0..REPORTS_PER_PROCESS).map(move |k| format!("process {i} report {k}")))
        .collect();
    expected.sort_unstable();
    assert_eq!(delivered, expected, "each report delivered exactly once");

    // Spread out after the window: the processes told "come back at T" do not
    // all come back at T (without the policy's spread they would, to the
    // millisecond: the rate limit tells each one the exact time left).
    let mut returns: Vec<Instant> = by_process
        .values()
        .filter(|hits| hits.iter().any(|h| h.status == 429))
        .filter_map(|hits| hits.iter().filter(|h| h.status == 200).map(|h| h.at).min())
        .collect();
    returns.sort_unstable();
    let burst = largest_burst(&returns, Duration::from_millis(250));
    let after: Vec<u128> = returns.iter().map(|t| ms(*t)).collect();
    let first: Vec<u128> = by_process.values().map(|h| ms(h[0].at)).collect();
    println!("first requests at {first:?} ms");
    println!(
        "window ends at {} ms; processes came back at {after:?} ms; largest burst in 250 ms: {burst}",
        ms(window_end)
    );
    assert!(
        burst <= returns.len().div_ceil(2).max(3),
        "{burst} of {} processes came back within 250 ms: {after:?}",
        returns.len()
    );
}
