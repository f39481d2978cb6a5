//! One HTTP/1.1 request: the POST of one envelope to the DSN's host, over
//! TLS ([`super::tls`]: rustls with ring, the Mozilla roots of
//! `webpki-roots` and the system's store, TLS 1.2 and 1.3; absent from a
//! build without the `library-tls` feature) or plain TCP for an `http://`
//! DSN.
//!
//! Not a general client, and deliberately so: it replaces ureq, whose pool,
//! proxy, redirect, cookie and body machinery cost the shipped library about
//! 200 KB while a delivery needs none of it (see BENCHMARKS.md). What it does:
//!
//! - one connection per request, `Connection: close`: at most a few requests a
//!   minute (the send budget), so a handshake each is cheap, and no idle
//!   connection is kept open in the host's process;
//! - a proxy only when configured ([`super::proxy`]: HTTP CONNECT or
//!   absolute form, SOCKS5); no redirect followed (a 3xx is the server's
//!   answer, which the policy classifies; the envelope and its credentials go
//!   to the DSN's host only);
//! - one deadline for the whole request ([`super::REQUEST_TIMEOUT`]): name
//!   resolution (on a thread abandoned at the deadline, see [`resolve`]),
//!   connect, handshake, and every single `send` and `recv` (the socket's
//!   time-out is re-armed to what is left before each, see [`Socket`]), so a
//!   peer that trickles a TLS record or stops reading cannot hold the sender
//!   longer;
//! - the status and the two headers the policy reads (`Retry-After`,
//!   `X-Sentry-Rate-Limits`) are all it reads: at most [`MAX_HEAD`] bytes, the
//!   body never; past that, or past 64 fields, the status line alone.
//!   Informational answers (`100 Continue`, `103 Early Hints`) are skipped;
//!   an answer sent before the server stopped reading is read, over TLS from
//!   what rustls decrypted (see [`super::tls::exchange`]);
//! - the caller's guard is asked at every step before a byte is written
//!   (while the name resolves, before and after each connect, with the
//!   socket), so that an opt-out can abort it from another thread
//!   ([`crate::sys::socket::abort`], a reset) or stop the request from starting at all.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket as Socket2, Type};

use super::proxy::{Kind, Proxy};
use super::tls;
use super::wire::{exchange, read_head, remaining, Endpoint, Failure, Response, Socket};

/// Starts a named thread running the closure: the library's thread wrapper
/// (`reporting::spawn_thread`), handed down by the code that builds the
/// request's target, so that this module starts no thread of its own.
pub type Spawn = fn(&str, Box<dyn FnOnce() + Send>) -> io::Result<()>;

/// How requests go out: the resolver (and how its thread starts) and the
/// TLS configuration.
#[derive(Clone)]
pub struct Client {
    pub resolve: Resolve,
    pub spawn: Spawn,
    pub tls: tls::Config,
    /// The egress proxy, if any.
    pub proxy: Option<Proxy>,
}

impl Client {
    /// The system's resolver and the default trust: the Mozilla roots and
    /// the system's store (built once per process, the first time a request
    /// is made, see [`tls::Config`]).
    pub fn system(spawn: Spawn) -> Self {
        Self { resolve: system_resolve, spawn, tls: tls::Config::system(), proxy: None }
    }
}

/// Name resolution: the system's (`getaddrinfo`), or a test's.
pub type Resolve = fn(&str, u16) -> io::Result<Vec<SocketAddr>>;

/// The system's resolver (`getaddrinfo`, through std).
pub fn system_resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    (host, port).to_socket_addrs().map(Iterator::collect)
}

/// How many resolver threads may still be waiting for `getaddrinfo` after
/// their requests gave up on them; past it, a request fails at once (as
/// timed out) instead of leaving one more thread behind.
pub const MAX_STUCK_RESOLVERS: usize = 2;
static RESOLVING: AtomicUsize = AtomicUsize::new(0);

/// How often a request waiting for its resolver looks at its guard (an
/// opt-out ends the wait within this).
const RESOLVE_POLL: Duration = Duration::from_millis(50);

/// The addresses of `host`, before `deadline`. `getaddrinfo` cannot be
/// interrupted and has no deadline of its own (glibc's retries pass 30 s), so
/// it runs on a thread of its own (the library's thread wrapper), which the
/// request abandons at the deadline or at an opt-out: the thread ends when
/// the system's resolver gives up, and at most [`MAX_STUCK_RESOLVERS`] of
/// them are ever left waiting. An IP address needs no resolver.
fn resolve(
    host: &str,
    port: u16,
    deadline: Instant,
    client: &Client,
    guard: &dyn Fn(Option<&TcpStream>) -> bool,
) -> Result<Vec<SocketAddr>, Failure> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    // (The request at hand and the stuck ones.)
    if RESOLVING.fetch_add(1, Ordering::SeqCst) > MAX_STUCK_RESOLVERS {
        RESOLVING.fetch_sub(1, Ordering::SeqCst);
        return Err(Failure::TimedOut);
    }
    let (answer, answered) = mpsc::sync_channel(1);
    let name = host.to_owned();
    let resolver = client.resolve;
    let started = (client.spawn)(
        "libstatus-resolve",
        Box::new(move || {
            let addresses = resolver(&name, port);
            RESOLVING.fetch_sub(1, Ordering::SeqCst);
            let _ = answer.send(addresses);
        }),
    );
    if started.is_err() {
        RESOLVING.fetch_sub(1, Ordering::SeqCst);
        return Err(Failure::HostNotFound);
    }
    loop {
        if !guard(None) {
            return Err(Failure::CutOff);
        }
        match answered.recv_timeout(remaining(deadline)?.min(RESOLVE_POLL)) {
            Ok(Ok(addresses)) if !addresses.is_empty() => return Ok(addresses),
            Ok(_) | Err(mpsc::RecvTimeoutError::Disconnected) => return Err(Failure::HostNotFound),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

/// Connects to one of `addresses` before `deadline`. Each socket is shown to
/// `guard` before it connects (so that an opt-out can abort the connect) and
/// again once connected: an opt-out meanwhile ends the request with a reset,
/// before a byte is written.
fn connect(
    addresses: &[SocketAddr],
    deadline: Instant,
    guard: &dyn Fn(Option<&TcpStream>) -> bool,
) -> Result<TcpStream, Failure> {
    let mut last = Failure::ConnectionFailed;
    let count = addresses.len();
    for (tried, address) in addresses.iter().enumerate() {
        let time = share(remaining(deadline)?, count - tried);
        let socket = Socket2::new(Domain::for_address(*address), Type::STREAM, Some(Protocol::TCP))
            .map_err(|_| Failure::ConnectionFailed)?;
        let stream = TcpStream::from(socket.try_clone().map_err(|_| Failure::ConnectionFailed)?);
        if !guard(Some(&stream)) {
            return Err(Failure::CutOff);
        }
        match socket.connect_timeout(&(*address).into(), time) {
            Ok(()) => {
                if !guard(Some(&stream)) {
                    crate::sys::socket::abort(&stream);
                    return Err(Failure::CutOff);
                }
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) => {
                last = Failure::TimedOut
            }
            Err(_) => {}
        }
    }
    if !guard(None) {
        return Err(Failure::CutOff);
    }
    Err(last)
}

/// How long one connection attempt may take when `untried` addresses (this
/// one included) share what is `left` of the deadline: an address that
/// swallows packets (a dead IPv6 route) leaves the others their share.
fn share(left: Duration, untried: usize) -> Duration {
    left / u32::try_from(untried.max(1)).unwrap_or(u32::MAX)
}

/// POSTs `body` to `endpoint` with `headers` (name, value; the request line,
/// `Host`, `Content-Length` and `Connection` are added) and reads the
/// answer's head, all before `deadline`. `guard` is asked at every step
/// before a byte is written (while the name resolves, before and after each
/// connect, with the socket once there is one, for an opt-out to abort): on
/// `false` the request stops as [`Failure::CutOff`].
pub fn post(
    client: &Client,
    endpoint: &Endpoint,
    headers: &[(&str, &str)],
    body: &[u8],
    deadline: Instant,
    guard: &dyn Fn(Option<&TcpStream>) -> bool,
) -> Result<Response, Failure> {
    // Through an HTTP proxy, an `http://` request goes in absolute form (the
    // proxy forwards it); every other route is a tunnel to the Sentry host.
    let forwarded = client.proxy.as_ref().filter(|p| p.kind == Kind::Http && !endpoint.tls);
    let target = match forwarded {
        Some(_) => format!("http://{}{}", endpoint.authority(), endpoint.path),
        None => endpoint.path.clone(),
    };
    let mut head = format!("POST {target} HTTP/1.1\r\nHost: {}\r\n", endpoint.authority());
    if let Some(value) = forwarded.and_then(Proxy::authorization) {
        head.push_str(&format!("Proxy-Authorization: {value}\r\n"));
    }
    for (name, value) in headers {
        // A value with a line break would smuggle headers: never sent.
        if value.contains(['\r', '\n']) || name.contains(['\r', '\n', ':']) {
            return Err(Failure::Protocol("a header that cannot be sent"));
        }
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));

    let (host, port) = match &client.proxy {
        Some(proxy) => (proxy.host.as_str(), proxy.port),
        None => (endpoint.host.as_str(), endpoint.port),
    };
    let addresses = resolve(host, port, deadline, client, guard)?;
    if !guard(None) {
        return Err(Failure::CutOff);
    }
    let stream = connect(&addresses, deadline, guard)?;
    let mut socket = Socket { stream, deadline };
    if let Some(proxy) = client.proxy.as_ref().filter(|_| forwarded.is_none()) {
        proxy.tunnel(&mut socket, endpoint, || {
            resolve(&endpoint.host, endpoint.port, deadline, client, guard)
        })?;
        if !guard(None) {
            return Err(Failure::CutOff);
        }
    }
    if endpoint.tls {
        tls::exchange(&client.tls, &endpoint.host, &mut socket, &head, body)
    } else {
        exchange(&mut socket, &head, body, read_head)
    }
}

/// Test support: a plain named thread, for a [`Client`] in this module's
/// tests (the library's wrapper lives in `reporting`, above this module).
#[cfg(test)]
pub(super) fn test_spawn(name: &str, f: Box<dyn FnOnce() + Send>) -> io::Result<()> {
    #[allow(clippy::disallowed_methods)] // a test's own thread
    std::thread::Builder::new().name(name.to_owned()).spawn(f).map(drop)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::super::wire::{io_failure, parse_head, MAX_HEAD};
    use super::*;

    fn head(text: &str) -> Result<Option<Response>, Failure> {
        parse_head(&mut text.as_bytes().to_vec())
    }

    #[test]
    fn the_final_answer_and_its_two_headers_are_read() {
        let answer =
            head("HTTP/1.1 429 Too Many\r\nretry-after: 60 \r\nX-Sentry-Rate-Limits: 60:error\r\n\r\nbody")
                .unwrap()
                .unwrap();
        assert_eq!(answer.status, 429);
        assert_eq!(answer.retry_after.as_deref(), Some("60"));
        assert_eq!(answer.rate_limits.as_deref(), Some("60:error"));
    }

    #[test]
    fn informational_answers_are_skipped_and_a_partial_head_waits() {
        let answer =
            head("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nLink: x\r\n\r\nHTTP/1.0 200 OK\r\n\r\n");
        assert_eq!(answer.unwrap().unwrap().status, 200);
        assert!(head("HTTP/1.1 200 OK\r\nRetry-After: 1").unwrap().is_none());
        assert!(head("HTTP/1.1 100 Continue\r\n\r\n").unwrap().is_none());
    }

    #[test]
    fn odd_answers_are_failures_not_statuses() {
        assert!(matches!(head("HELLO\r\n\r\n"), Err(Failure::Protocol(_))));
        assert!(matches!(head("HTTP/1.1 2000 OK\r\n\r\n"), Err(Failure::Protocol(_))));
        let binary = head("HTTP/1.1 429 No\r\nRetry-After: \u{ff}\r\n\r\n").unwrap().unwrap();
        assert_eq!(binary.status, 429);
    }

    #[test]
    fn endpoints_come_from_http_and_https_urls_only() {
        let url = |u: &str| url::Url::parse(u).unwrap();
        let e = Endpoint::from_url(&url("https://sentry.example/api/1/envelope/")).unwrap();
        assert_eq!(
            (e.tls, e.port, e.authority().as_str(), e.path.as_str()),
            (true, 443, "sentry.example", "/api/1/envelope/")
        );
        let e = Endpoint::from_url(&url("http://[::1]:9000/api/2/envelope/?x=1")).unwrap();
        assert_eq!(
            (e.tls, e.host.as_str(), e.authority().as_str(), e.path.as_str()),
            (false, "::1", "[::1]:9000", "/api/2/envelope/?x=1")
        );
        assert!(Endpoint::from_url(&url("ftp://h/x")).is_none());
    }

    /// A loopback server that reads the request's head and body, then
    /// answers `answer` and closes, or (`hold`) keeps the connection open
    /// until the client goes.
    fn answering(answer: Vec<u8>, hold: bool) -> Endpoint {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        #[allow(clippy::disallowed_methods)] // the test's own server thread
        std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut chunk = [0u8; 4096];
            while !request.ends_with(b"body") {
                match socket.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => request.extend_from_slice(&chunk[..n]),
                }
            }
            let _ = socket.write_all(&answer);
            if hold {
                let _ = socket.read(&mut chunk);
            }
        });
        Endpoint { tls: false, host: "127.0.0.1".into(), port, path: "/api/1/envelope/".into() }
    }

    fn ask(endpoint: &Endpoint) -> Result<Response, Failure> {
        let deadline = Instant::now() + Duration::from_secs(10);
        post(
            &Client::system(test_spawn),
            endpoint,
            &[("X-Sentry-Auth", "Sentry sentry_key=k")],
            b"body",
            deadline,
            &|_| true,
        )
    }

    #[test]
    fn a_long_answer_head_is_read_up_to_sixteen_kibibytes_and_no_further() {
        let pad = |n: usize| format!("X-Pad: {}\r\n", "p".repeat(n));
        let long = format!("HTTP/1.1 429 Slow\r\n{}Retry-After: 7\r\n\r\n", pad(12 * 1024));
        let answer = ask(&answering(long.into_bytes(), true)).unwrap();
        assert_eq!((answer.status, answer.retry_after.as_deref()), (429, Some("7")));
        // Past 16 KiB, the status line alone: a 2xx is a delivery.
        let endless = format!("HTTP/1.1 200 OK\r\n{}", pad(MAX_HEAD + 1024)).into_bytes();
        assert_eq!(ask(&answering(endless, true)).unwrap().status, 200);
        let garbage = format!("HTTP/1.1 OK\r\n{}", pad(MAX_HEAD + 1024)).into_bytes();
        assert!(matches!(ask(&answering(garbage, true)), Err(Failure::Protocol(_))));
    }

    #[test]
    fn a_server_that_closes_without_answering_is_a_failure_not_a_status() {
        assert!(matches!(ask(&answering(b"HTTP/1.1 200".to_vec(), false)), Err(Failure::Protocol(_))));
    }

    #[test]
    fn each_address_gets_its_share_of_what_is_left_and_a_refusal_is_not_a_time_out() {
        let second = Duration::from_secs(1);
        assert_eq!(share(30 * second, 3), 10 * second);
        assert_eq!(share(30 * second, 1), 30 * second);
        assert_eq!(share(30 * second, 0), 30 * second);
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let address = SocketAddr::from(([127, 0, 0, 1], closed));
        let refused = connect(&[address], Instant::now() + 10 * second, &|_| true);
        assert!(matches!(refused, Err(Failure::ConnectionFailed)), "{refused:?}");
    }

    /// What the sender logs of a failure: its kind, never a host or a URL.
    #[test]
    fn failures_say_their_kind() {
        let other = io::Error::new(io::ErrorKind::InvalidData, "not TLS");
        assert!(matches!(io_failure(other), Failure::Io(io::ErrorKind::InvalidData)));
        assert!(matches!(io_failure(io::ErrorKind::WouldBlock.into()), Failure::TimedOut));
        for (failure, text) in [
            (Failure::HostNotFound, "host not found"),
            (Failure::ConnectionFailed, "connection failed"),
            (Failure::Tls, "TLS error"),
            (Failure::TimedOut, "timed out"),
            (Failure::Protocol("malformed head"), "bad HTTP answer (malformed head)"),
            (Failure::Io(io::ErrorKind::ConnectionReset), "I/O error (ConnectionReset)"),
            (Failure::CutOff, "cut off"),
        ] {
            assert_eq!(failure.to_string(), text);
        }
    }

    #[test]
    fn a_header_with_a_line_break_is_never_sent() {
        let endpoint = Endpoint { tls: false, host: "127.0.0.1".into(), port: 9, path: "/".into() };
        let deadline = Instant::now() + Duration::from_secs(1);
        let sent = post(
            &Client::system(test_spawn),
            &endpoint,
            &[("X-Sentry-Auth", "a\r\nEvil: 1")],
            b"",
            deadline,
            &|_| true,
        );
        assert!(matches!(sent, Err(Failure::Protocol(_))));
    }
}

/// The networks users are on (issue 20): hostile or broken peers on
/// loopback, over plain HTTP and TLS, each showing the request's one
/// deadline or the behaviour asked. Deadlines are short here (the sender's is
/// [`super::REQUEST_TIMEOUT`]); a bound is checked with a wide margin against
/// what the peer would hold the request for without it.
#[cfg(test)]
mod real_networks {
    use super::super::test_proxies;
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    use crate::outbox::proxy::Proxy;

    use crate::outbox::tls::testing::{self as tls_testing, Server as TlsServer};
    use crate::outbox::tls::ReadWrite;

    const SHORT: Duration = Duration::from_millis(1500);

    #[allow(clippy::disallowed_methods)] // the tests' own threads
    fn thread(f: impl FnOnce() + Send + 'static) {
        std::thread::spawn(f);
    }

    /// A TLS server configuration for `localhost` and a client that trusts
    /// its authority; `None` in a build without TLS.
    fn tls_pair() -> Option<(TlsServer, Client)> {
        let (server, tls) = tls_testing::pair()?;
        Some((server, Client { resolve: system_resolve, spawn: test_spawn, tls, proxy: None }))
    }

    /// The routes a test runs over: plain HTTP, and TLS when this build has
    /// it (a server's side and the client for it).
    fn routes() -> Vec<(Option<TlsServer>, Client)> {
        let mut routes = vec![(None, Client::system(test_spawn))];
        routes.extend(tls_pair().map(|(server, client)| (Some(server), client)));
        routes
    }

    /// One connection's server side: `serve` gets the accepted socket (plain
    /// or, with `tls`, after the handshake).
    fn server(tls: Option<TlsServer>, serve: impl FnOnce(&mut dyn ReadWrite) + Send + 'static) -> Endpoint {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let secure = tls.is_some();
        thread(move || {
            let (socket, _) = listener.accept().unwrap();
            // As servers do: an answer is not held back behind an unacknowledged
            // handshake record (Nagle).
            socket.set_nodelay(true).unwrap();
            match tls {
                None => serve(&mut { socket }),
                Some(config) => config.serve(socket, serve),
            }
        });
        let host = if secure { "localhost" } else { "127.0.0.1" };
        Endpoint { tls: secure, host: host.into(), port, path: "/api/1/envelope/".into() }
    }

    /// Reads up to the end of the request's head.
    fn read_request_head(stream: &mut dyn ReadWrite) {
        let mut seen = Vec::new();
        let mut byte = [0u8; 1];
        while !seen.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => seen.push(byte[0]),
                _ => return,
            }
        }
    }

    fn send(
        client: &Client,
        endpoint: &Endpoint,
        body: &[u8],
        deadline: Instant,
    ) -> Result<Response, Failure> {
        post(client, endpoint, &[("X-Sentry-Auth", "Sentry sentry_key=k")], body, deadline, &|_| true)
    }

    /// Case 1: a peer that starts a TLS record (`16 03 03 3f ff`: a
    /// handshake record of 16383 bytes) and sends one byte of it every
    /// 100 ms would hold a request for half an hour; the deadline ends it. The
    /// same peer over plain HTTP trickles the answer's head.
    #[test]
    fn a_record_or_a_head_trickled_a_byte_at_a_time_ends_at_the_deadline() {
        // (Over TLS only in a build that has it.)
        for tls in [true, false].into_iter().filter(|&tls| !tls || tls::AVAILABLE) {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            thread(move || {
                let (mut socket, _) = listener.accept().unwrap();
                let mut chunk = [0u8; 4096];
                let _ = socket.read(&mut chunk);
                let start: &[u8] = if tls { &[0x16, 0x03, 0x03, 0x3f, 0xff] } else { b"HTTP/1.1 200 OK\r\n" };
                let _ = socket.write_all(start);
                while socket.write_all(b"x").is_ok() {
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
            let endpoint = Endpoint { tls, host: "127.0.0.1".into(), port, path: "/".into() };
            let client = Client::system(test_spawn);
            let started = Instant::now();
            let sent = send(&client, &endpoint, b"body", started + SHORT);
            assert!(matches!(sent, Err(Failure::TimedOut)), "tls {tls}: {sent:?}");
            assert!(started.elapsed() < SHORT + Duration::from_secs(2), "tls {tls}: {:?}", started.elapsed());
        }
    }

    /// Case 1: a server that stops reading (the request is 8 MiB, more than
    /// the kernel's buffers hold) holds every write until the deadline and no
    /// longer.
    #[test]
    fn a_server_that_stops_reading_ends_at_the_deadline() {
        for (tls, client) in routes() {
            let endpoint = server(tls, |stream| {
                read_request_head(stream);
                std::thread::sleep(Duration::from_secs(10));
            });
            let started = Instant::now();
            let sent = send(&client, &endpoint, &vec![b'x'; 8 << 20], started + SHORT);
            assert!(matches!(sent, Err(Failure::TimedOut)), "{sent:?}");
            assert!(started.elapsed() < SHORT + Duration::from_secs(2), "{:?}", started.elapsed());
        }
    }

    /// Case 3: a 413 (or 429) that the server sends after the head and before
    /// reading the body, then closing: the answer counts, over TLS too
    /// (read from what rustls decrypted, without retrying the failed write).
    #[test]
    fn an_answer_sent_before_the_body_was_read_is_the_answer() {
        for (tls, client) in routes() {
            let secure = tls.is_some();
            let endpoint = server(tls, |stream| {
                read_request_head(stream);
                let _ = stream.write_all(b"HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n");
                let _ = stream.flush();
                // Closed with the body unread (once the answer has left): a
                // reset for the client's writes.
                std::thread::sleep(Duration::from_millis(200));
            });
            let sent =
                send(&client, &endpoint, &vec![b'x'; 8 << 20], Instant::now() + Duration::from_secs(10));
            assert!(matches!(sent, Ok(Response { status: 413, .. })), "tls {secure}: {sent:?}");
        }
    }

    /// Case 4: a 2xx is a delivery whatever its head (70 fields here; over
    /// 16 KiB in the tests above), over TLS and plain HTTP.
    #[test]
    fn a_2xx_with_seventy_fields_is_a_delivery() {
        for (tls, client) in routes() {
            let endpoint = server(tls, |stream| {
                read_request_head(stream);
                let mut buf = [0u8; 4];
                let _ = stream.read_exact(&mut buf);
                let fields: String = (0..70).map(|i| format!("X-Field-{i}: {i}\r\n")).collect();
                let _ = stream.write_all(format!("HTTP/1.1 200 OK\r\n{fields}\r\n").as_bytes());
                let _ = stream.flush();
            });
            let sent = send(&client, &endpoint, b"body", Instant::now() + Duration::from_secs(10));
            assert_eq!(sent.unwrap().status, 200);
        }
    }

    /// The sender's side of an opt-out, as `Outbox::cut_off` and the sender's
    /// guard do it: a generation and the connection in flight.
    #[derive(Default)]
    struct Link(Mutex<(u64, Option<TcpStream>)>);

    impl Link {
        fn guard(&self, generation: u64, socket: Option<&TcpStream>) -> bool {
            let mut link = self.0.lock().unwrap();
            if link.0 != generation {
                return false;
            }
            if let Some(socket) = socket {
                link.1 = socket.try_clone().ok();
            }
            true
        }
        fn cut_off(&self) {
            let mut link = self.0.lock().unwrap();
            link.0 += 1;
            if let Some(live) = link.1.take() {
                crate::sys::socket::abort(&live);
            }
        }
    }

    /// Sleeps for two seconds, then fails: `getaddrinfo` on a resolver that
    /// never answers (glibc would retry for 30 s and more).
    fn stuck_resolver(_: &str, _: u16) -> io::Result<Vec<SocketAddr>> {
        std::thread::sleep(Duration::from_secs(2));
        Err(io::ErrorKind::TimedOut.into())
    }

    /// Case 2: a resolver that never answers holds a request until the
    /// deadline and no longer; an opt-out during resolution ends the request
    /// at once; and resolver threads left behind are bounded (the next
    /// request fails at once instead of leaving one more). One test, as the
    /// bound is the process's.
    #[test]
    fn a_resolver_that_never_answers_is_abandoned_at_the_deadline_or_an_opt_out() {
        let client = Client { resolve: stuck_resolver, ..Client::system(test_spawn) };
        let endpoint = Endpoint { tls: true, host: "sentry.invalid".into(), port: 443, path: "/".into() };
        let short = Duration::from_millis(300);

        let started = Instant::now();
        assert!(matches!(send(&client, &endpoint, b"body", started + short), Err(Failure::TimedOut)));
        assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());

        let link = Arc::new(Link::default());
        let cutter = link.clone();
        thread(move || {
            std::thread::sleep(Duration::from_millis(200));
            cutter.cut_off();
        });
        let started = Instant::now();
        let sent =
            post(&client, &endpoint, &[], b"body", started + Duration::from_secs(10), &|s| link.guard(0, s));
        assert!(matches!(sent, Err(Failure::CutOff)), "{sent:?}");
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());

        // Two resolver threads are stuck now; one more may be, then none.
        let started = Instant::now();
        assert!(matches!(send(&client, &endpoint, b"body", started + short), Err(Failure::TimedOut)));
        let refused = Instant::now();
        assert!(matches!(
            send(&client, &endpoint, b"body", refused + Duration::from_secs(10)),
            Err(Failure::TimedOut)
        ));
        assert!(
            refused.elapsed() < Duration::from_secs(1),
            "no thread started, no wait: {:?}",
            refused.elapsed()
        );
        // Once the stuck resolvers give up, requests resolve again.
        std::thread::sleep(Duration::from_millis(2500));
        assert_eq!(RESOLVING.load(Ordering::SeqCst), 0);
    }

    /// Case 2: an opt-out during a connect that hangs (a server whose accept
    /// queue is full drops SYNs) aborts it: the request ends at once, cut
    /// off, and the server never gets the connection.
    // Linux's accept queue drops SYNs when full (other systems refuse or
    // accept them), and only Linux aborts a connect on `shutdown`.
    #[cfg(target_os = "linux")]
    #[test]
    fn an_opt_out_during_connect_aborts_it() {
        let listener = Socket2::new(Domain::IPV4, Type::STREAM, None).unwrap();
        listener.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
        listener.listen(0).unwrap();
        let address = listener.local_addr().unwrap().as_socket().unwrap();
        // Fill the accept queue; then SYNs go unanswered.
        let mut fillers = Vec::new();
        while fillers.len() < 8 {
            match Socket2::new(Domain::IPV4, Type::STREAM, None)
                .and_then(|s| s.connect_timeout(&address.into(), Duration::from_millis(200)).map(|()| s))
            {
                Ok(s) => fillers.push(s),
                Err(_) => break,
            }
        }
        assert!(fillers.len() < 8, "the accept queue never filled");
        let link = Arc::new(Link::default());
        let cutter = link.clone();
        thread(move || {
            std::thread::sleep(Duration::from_millis(300));
            cutter.cut_off();
        });
        let endpoint =
            Endpoint { tls: false, host: "127.0.0.1".into(), port: address.port(), path: "/".into() };
        let started = Instant::now();
        let sent = post(
            &Client::system(test_spawn),
            &endpoint,
            &[],
            b"body",
            started + Duration::from_secs(10),
            &|s| link.guard(0, s),
        );
        assert!(matches!(sent, Err(Failure::CutOff)), "{sent:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }

    /// Case 5: an opt-out while the kernel holds part of the request (the
    /// server stopped reading) drops what is queued: the server never gets
    /// the whole request, and its connection ends with a reset, not a FIN.
    // Relies on Linux's buffer sizes and on a reset reaching the server as
    // `ECONNRESET` (under Wine the read fails otherwise): the reset itself
    // (SO_LINGER 0) is the same call everywhere.
    #[cfg(target_os = "linux")]
    #[test]
    fn an_opt_out_drops_what_the_kernel_still_queues() {
        let listener = Socket2::new(Domain::IPV4, Type::STREAM, None).unwrap();
        listener.set_recv_buffer_size(16 * 1024).unwrap();
        listener.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
        listener.listen(1).unwrap();
        let port = listener.local_addr().unwrap().as_socket().unwrap().port();
        let body = vec![b'x'; 4 << 20];
        let total = body.len();
        let link = Arc::new(Link::default());
        let sender = link.clone();
        let (done, finished) = mpsc::channel();
        thread(move || {
            let endpoint = Endpoint { tls: false, host: "127.0.0.1".into(), port, path: "/".into() };
            let sent = post(
                &Client::system(test_spawn),
                &endpoint,
                &[],
                &body,
                Instant::now() + Duration::from_secs(20),
                &|s| sender.guard(0, s),
            );
            let _ = done.send(sent);
        });
        let (server, _) = listener.accept().unwrap();
        let mut server = TcpStream::from(server);
        // The sender writes until the kernel's buffers are full.
        std::thread::sleep(Duration::from_millis(500));
        link.cut_off();
        let sent = finished.recv_timeout(Duration::from_secs(5)).expect("the request ends at the opt-out");
        assert!(sent.is_err());
        server.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut received = 0;
        let mut chunk = vec![0u8; 64 * 1024];
        let ending = loop {
            match server.read(&mut chunk) {
                Ok(0) => break Ok(()),
                Ok(n) => received += n,
                Err(e) => break Err(e.kind()),
            }
        };
        assert!(received < total, "the whole request arrived after the opt-out ({received} bytes)");
        assert_eq!(ending, Err(io::ErrorKind::ConnectionReset), "after {received} of {total} bytes");
    }

    /// A server (TLS or plain) that answers 200 to one request and hands
    /// over its request head.
    fn accepting(tls: Option<TlsServer>) -> (Endpoint, mpsc::Receiver<String>) {
        let (seen, heads) = mpsc::channel();
        let endpoint = server(tls, move |stream| {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let mut body = [0u8; 4];
            let _ = stream.read_exact(&mut body);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            let _ = stream.flush();
            let _ = seen.send(String::from_utf8_lossy(&head).into_owned());
        });
        (endpoint, heads)
    }

    /// A small CONNECT proxy on loopback, written here: it checks the Basic
    /// credentials (`user:secret-pass`), opens the tunnel and relays both
    /// ways. It hands over every request head it got. (For a TLS tunnel.)
    #[cfg(feature = "library-tls")]
    fn connect_proxy() -> (u16, mpsc::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (seen, heads) = mpsc::channel();
        thread(move || {
            for client in listener.incoming().flatten() {
                let seen = seen.clone();
                thread(move || {
                    let mut client = client;
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && client.read(&mut byte).is_ok_and(|n| n == 1) {
                        head.push(byte[0]);
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let _ = seen.send(head.clone());
                    let authorized = head
                        .contains(&format!("Proxy-Authorization: Basic {}\r\n", "dXNlcjpzZWNyZXQtcGFzcw=="));
                    let target =
                        head.strip_prefix("CONNECT ").and_then(|r| r.split(' ').next()).map(str::to_owned);
                    let (Some(target), true) = (target, authorized) else {
                        let _ = client.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n");
                        return;
                    };
                    let Ok(upstream) = TcpStream::connect(target.replace("localhost", "127.0.0.1")) else {
                        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
                        return;
                    };
                    let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                    let (mut a, mut b) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                    thread(move || {
                        let _ = io::copy(&mut a, &mut { upstream });
                    });
                    let _ = io::copy(&mut b, &mut { client });
                });
            }
        });
        (port, heads)
    }

    /// A report reaches a TLS server through an HTTP CONNECT proxy with
    /// Basic credentials; wrong credentials are a proxy failure that names
    /// neither the proxy nor the credentials.
    #[test]
    #[cfg(feature = "library-tls")] // (a TLS server)
    fn a_connect_proxy_with_credentials_tunnels_tls() {
        let (config, client) = tls_pair().unwrap();
        let (proxy_port, proxy_heads) = connect_proxy();
        let (endpoint, heads) = accepting(Some(config));
        let proxy = Proxy::parse(&format!("http://user:secret-pass@127.0.0.1:{proxy_port}")).unwrap();
        let through = Client { proxy: Some(proxy), ..client.clone() };
        let sent = send(&through, &endpoint, b"body", Instant::now() + Duration::from_secs(10));
        assert_eq!(sent.unwrap().status, 200);
        assert!(proxy_heads
            .recv()
            .unwrap()
            .starts_with(&format!("CONNECT localhost:{} HTTP/1.1\r\n", endpoint.port)));
        assert!(heads.recv().unwrap().starts_with("POST /api/1/envelope/ HTTP/1.1\r\n"));

        let wrong = Proxy::parse(&format!("http://user:wrong-pass@127.0.0.1:{proxy_port}")).unwrap();
        let refused = send(
            &Client { proxy: Some(wrong), ..client },
            &endpoint,
            b"body",
            Instant::now() + Duration::from_secs(10),
        );
        let failure = refused.unwrap_err();
        assert!(matches!(failure, Failure::Proxy(_)), "{failure:?}");
        assert!(!failure.to_string().contains("pass") && !failure.to_string().contains("127.0.0.1"));
    }

    /// tinyproxy (Debian's): an `http://` DSN in absolute form, an
    /// `https://` one through CONNECT, with Basic credentials.
    #[test]
    fn tinyproxy_forwards_http_and_tunnels_https() {
        let Some(running) = test_proxies::tinyproxy() else { return };
        let proxy = Proxy::parse(&running.url("http")).unwrap();

        let (endpoint, heads) = accepting(None);
        let client = Client { proxy: Some(proxy.clone()), ..Client::system(test_spawn) };
        let sent = send(&client, &endpoint, b"body", Instant::now() + Duration::from_secs(10));
        assert_eq!(sent.unwrap().status, 200);
        let head = heads.recv().unwrap();
        assert!(head.starts_with("POST /api/1/envelope/ HTTP/1.1\r\n"), "{head}");
        assert!(!head.contains("Proxy-Authorization"), "the proxy keeps its credentials: {head}");

        // (Over TLS only in a build that has it.)
        if let Some((config, tls_client)) = tls_pair() {
            let (endpoint, heads) = accepting(Some(config));
            let client = Client { proxy: Some(proxy), ..tls_client };
            let sent = send(&client, &endpoint, b"body", Instant::now() + Duration::from_secs(10));
            assert_eq!(sent.unwrap().status, 200);
            assert!(heads.recv().unwrap().starts_with("POST /api/1/envelope/ HTTP/1.1\r\n"));
        }
    }

    /// microsocks (Debian's SOCKS5 proxy), with a user and password:
    /// `socks5://` (the name resolved here) and `socks5h://` (by the proxy),
    /// over TLS and plain HTTP.
    #[test]
    fn microsocks_carries_socks5_and_socks5h() {
        let Some(running) = test_proxies::microsocks() else { return };
        static LOOKUPS: AtomicUsize = AtomicUsize::new(0);
        fn counting(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
            LOOKUPS.fetch_add(1, Ordering::SeqCst);
            system_resolve(host, port)
        }
        for scheme in ["socks5", "socks5h"] {
            let proxy = Proxy::parse(&running.url(scheme)).unwrap();
            LOOKUPS.store(0, Ordering::SeqCst);
            let routes = routes();
            let count = routes.len();
            for (tls, base) in routes {
                let secure = tls.is_some();
                let (mut endpoint, heads) = accepting(tls);
                endpoint.host = "localhost".into();
                let client = Client { proxy: Some(proxy.clone()), resolve: counting, ..base };
                let sent = send(&client, &endpoint, b"body", Instant::now() + Duration::from_secs(10));
                assert_eq!(sent.map(|r| r.status).ok(), Some(200), "{scheme}, tls {secure}");
                assert!(heads.recv().unwrap().starts_with("POST /api/1/envelope/ HTTP/1.1\r\n"));
            }
            // socks5h: the name goes to the proxy, no lookup here.
            let expected = if scheme == "socks5h" { 0 } else { count };
            assert_eq!(LOOKUPS.load(Ordering::SeqCst), expected, "{scheme}: local lookups");
            let wrong =
                Proxy::parse(&format!("{scheme}://user:wrong-pass@127.0.0.1:{}", running.port)).unwrap();
            let (endpoint, _) = accepting(None);
            let client = Client { proxy: Some(wrong), ..Client::system(test_spawn) };
            let refused = send(&client, &endpoint, b"body", Instant::now() + Duration::from_secs(10));
            assert!(refused.is_err(), "{scheme}: wrong credentials");
        }
    }
}
