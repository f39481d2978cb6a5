//! One HTTP/1.1 request: the POST of one envelope to the DSN's host, over
//! TLS (rustls with ring, the Mozilla roots of `webpki-roots`, TLS 1.2 and
//! 1.3) or plain TCP for an `http://` DSN.
//!
//! Not a general client, and deliberately so: it replaces ureq, whose pool,
//! proxy, redirect, cookie and body machinery cost the shipped library about
//! 200 KB while a delivery needs none of it (see BENCHMARKS.md). What it does:
//!
//! - one connection per request, `Connection: close`: at most a few requests a
//!   minute (the send budget), so a handshake each is cheap, and no idle
//!   connection is kept open in the host's process;
//! - no proxy (a guest in the host's process: the host's proxy variables do
//!   not redirect crash reports), no redirect followed (a 3xx is the server's
//!   answer, which the policy classifies; the envelope and its credentials go
//!   to the DSN's host only);
//! - one deadline for the whole request ([`super::REQUEST_TIMEOUT`]): connect,
//!   handshake, write and every read get what is left of it, so a server that
//!   trickles its answer a byte at a time cannot hold the sender longer. Name
//!   resolution is the system's `getaddrinfo`, bounded by the resolver's own
//!   timeouts, on the sender's thread (no thread of its own);
//! - the status and the two headers the policy reads (`Retry-After`,
//!   `X-Sentry-Rate-Limits`) are all it reads: at most [`MAX_HEAD`] bytes, the
//!   body never. Informational answers (`100 Continue`, `103 Early Hints`)
//!   are skipped;
//! - the caller sees the socket once it is connected (`register`), before a
//!   byte is written, so that an opt-out can shut it down from another thread
//!   or stop the request from starting at all.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
#[cfg(feature = "library-tls")]
use std::sync::{Arc, OnceLock};
use std::time::Instant;

#[cfg(feature = "library-tls")]
use rustls::pki_types::ServerName;

/// Whether this build carries its own TLS (the default feature
/// `library-tls`). Without it, only `http://` is sent by the library; an
/// `https://` DSN needs the host's transport (`"transport":"host"`).
pub const LIBRARY_TLS: bool = cfg!(feature = "library-tls");

/// The most a response's status line and headers may take.
pub const MAX_HEAD: usize = 16 * 1024;

/// Where to deliver, from the DSN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub tls: bool,
    /// A DNS name or an IP address (an IPv6 one without brackets).
    pub host: String,
    pub port: u16,
    /// The path and query of the envelope endpoint.
    pub path: String,
}

impl Endpoint {
    /// From the envelope URL of a DSN: `http` or `https` only.
    pub fn from_url(url: &url::Url) -> Option<Self> {
        let tls = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        let host = match url.host()? {
            url::Host::Domain(name) => name.to_owned(),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => ip.to_string(),
        };
        let mut path = url.path().to_owned();
        if let Some(query) = url.query() {
            path.push('?');
            path.push_str(query);
        }
        Some(Self { tls, host, port: url.port_or_known_default()?, path })
    }

    /// The `Host` header: the port only when it is not the scheme's.
    fn authority(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        let default = if self.tls { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// What the server answered (what the delivery policy reads of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub retry_after: Option<String>,
    pub rate_limits: Option<String>,
}

/// Why a request got no answer. Never names the host or the URL (a log line
/// must not carry the DSN's parts).
#[derive(Debug)]
pub enum Failure {
    /// The name did not resolve.
    HostNotFound,
    /// No address accepted a connection.
    ConnectionFailed,
    /// The handshake or the certificate failed.
    Tls,
    TimedOut,
    /// A malformed or oversized answer, or a connection closed before one.
    Protocol(&'static str),
    Io(io::ErrorKind),
    /// Stopped by the caller (an opt-out) before anything was sent.
    CutOff,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::HostNotFound => f.write_str("host not found"),
            Failure::ConnectionFailed => f.write_str("connection failed"),
            Failure::Tls => f.write_str("TLS error"),
            Failure::TimedOut => f.write_str("timed out"),
            Failure::Protocol(what) => write!(f, "bad HTTP answer ({what})"),
            Failure::Io(kind) => write!(f, "I/O error ({kind:?})"),
            Failure::CutOff => f.write_str("cut off"),
        }
    }
}

fn io_failure(e: io::Error) -> Failure {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Failure::TimedOut,
        // rustls reports a failed handshake or certificate as InvalidData.
        #[cfg(feature = "library-tls")]
        io::ErrorKind::InvalidData if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => {
            Failure::Tls
        }
        kind => Failure::Io(kind),
    }
}

/// The TLS configuration, built once (the root store is about 150 anchors).
#[cfg(feature = "library-tls")]
fn tls_config() -> Result<Arc<rustls::ClientConfig>, Failure> {
    static CONFIG: OnceLock<Option<Arc<rustls::ClientConfig>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            #[allow(unused_mut)]
            let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
            // Test builds only: one more root, for a certificate authority
            // made up by tests/tls.rs.
            #[cfg(feature = "test-tls-root")]
            if let Some(der) = std::env::var_os("LIBSTATUS_TEST_TLS_ROOT").and_then(|p| std::fs::read(p).ok())
            {
                let _ = roots.add(rustls::pki_types::CertificateDer::from(der));
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .ok()?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Some(Arc::new(config))
        })
        .clone()
        .ok_or(Failure::Tls)
}

/// The socket as rustls writes to it: every write a `send` with
/// `MSG_NOSIGNAL` (std's `TcpStream::write`; `SO_NOSIGPIPE` on Apple
/// systems), one buffer at a time. rustls writes with `write_vectored`, which
/// `TcpStream` makes a `writev`: on a socket an opt-out shut down, or that the
/// server reset, that raises SIGPIPE, and a host that is not a Rust program
/// (a C, Nim or Qt one) dies of it. Not overriding `write_vectored` makes the
/// default one call `write`.
struct Socket(TcpStream);

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    /// (A socket has nothing to flush.)
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What is left until `deadline`, or a time-out.
fn remaining(deadline: Instant) -> Result<std::time::Duration, Failure> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(Failure::TimedOut)
    } else {
        Ok(left)
    }
}

fn connect(endpoint: &Endpoint, deadline: Instant) -> Result<TcpStream, Failure> {
    let addresses: Vec<_> = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .map_err(|_| Failure::HostNotFound)?
        .collect();
    if addresses.is_empty() {
        return Err(Failure::HostNotFound);
    }
    let mut last = Failure::ConnectionFailed;
    let count = addresses.len();
    for (tried, address) in addresses.into_iter().enumerate() {
        match TcpStream::connect_timeout(&address, share(remaining(deadline)?, count - tried)) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) => {
                last = Failure::TimedOut
            }
            Err(_) => {}
        }
    }
    Err(last)
}

/// How long one connection attempt may take when `untried` addresses (this
/// one included) share what is `left` of the deadline: an address that
/// swallows packets (a dead IPv6 route) leaves the others their share.
fn share(left: std::time::Duration, untried: usize) -> std::time::Duration {
    left / u32::try_from(untried.max(1)).unwrap_or(u32::MAX)
}

/// POSTs `body` to `endpoint` with `headers` (name, value; the request line,
/// `Host`, `Content-Length` and `Connection` are added) and reads the
/// answer's head, all before `deadline`. `register` sees the connected socket
/// before anything is written and may stop the request (`false`).
pub fn post(
    endpoint: &Endpoint,
    headers: &[(&str, &str)],
    body: &[u8],
    deadline: Instant,
    register: impl FnOnce(&TcpStream) -> bool,
) -> Result<Response, Failure> {
    let mut head = format!("POST {} HTTP/1.1\r\nHost: {}\r\n", endpoint.path, endpoint.authority());
    for (name, value) in headers {
        // A value with a line break would smuggle headers: never sent.
        if value.contains(['\r', '\n']) || name.contains(['\r', '\n', ':']) {
            return Err(Failure::Protocol("a header that cannot be sent"));
        }
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));

    let socket = connect(endpoint, deadline)?;
    if !register(&socket) {
        return Err(Failure::CutOff);
    }
    let timed = |socket: &TcpStream| -> Result<(), Failure> {
        let left = remaining(deadline)?;
        socket.set_read_timeout(Some(left)).map_err(io_failure)?;
        socket.set_write_timeout(Some(left)).map_err(io_failure)
    };
    if endpoint.tls {
        #[cfg(feature = "library-tls")]
        {
            let name = ServerName::try_from(endpoint.host.clone()).map_err(|_| Failure::Tls)?;
            let connection = rustls::ClientConnection::new(tls_config()?, name).map_err(|_| Failure::Tls)?;
            let mut stream = rustls::StreamOwned::new(connection, Socket(socket));
            exchange(&mut stream, &head, body, &mut |s: &mut rustls::StreamOwned<_, Socket>| timed(&s.sock.0))
        }
        // Never reached: the gate refuses an https DSN to the library's
        // transport in a build without TLS (see `LIBRARY_TLS`).
        #[cfg(not(feature = "library-tls"))]
        Err(Failure::Tls)
    } else {
        let mut stream = Socket(socket);
        exchange(&mut stream, &head, body, &mut |s: &mut Socket| timed(&s.0))
    }
}

/// Writes the request and reads the answer's head, re-arming the socket's
/// time-outs (`timed`) before each step.
fn exchange<S: Read + Write>(
    stream: &mut S,
    head: &str,
    body: &[u8],
    timed: &mut dyn FnMut(&mut S) -> Result<(), Failure>,
) -> Result<Response, Failure> {
    timed(stream)?;
    let sent =
        stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body)).and_then(|()| stream.flush());
    match sent {
        Ok(()) => read_head(stream, timed),
        Err(e) => {
            let failure = io_failure(e);
            if matches!(failure, Failure::TimedOut | Failure::Tls) {
                return Err(failure);
            }
            // A server may answer (a 413) and close before it has read the
            // whole request: that answer is the one that counts.
            read_head(stream, timed).map_err(|_| failure)
        }
    }
}

fn read_head<S: Read + Write>(
    stream: &mut S,
    timed: &mut dyn FnMut(&mut S) -> Result<(), Failure>,
) -> Result<Response, Failure> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(response) = parse_head(&mut buffer)? {
            return Ok(response);
        }
        if buffer.len() >= MAX_HEAD {
            return Err(Failure::Protocol("answer head over 16 KiB"));
        }
        timed(stream)?;
        let read = match stream.read(&mut chunk) {
            Ok(0) => return Err(Failure::Protocol("connection closed before an answer")),
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_failure(e)),
        };
        buffer.extend_from_slice(&chunk[..read]);
    }
}

/// The final answer's head if `buffer` holds it all; informational (1xx)
/// answers in front of it are taken off the buffer.
pub fn parse_head(buffer: &mut Vec<u8>) -> Result<Option<Response>, Failure> {
    loop {
        let mut fields = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut fields);
        let length = match response.parse(buffer) {
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => return Err(Failure::Protocol("over 64 header fields")),
            Err(_) => return Err(Failure::Protocol("malformed head")),
        };
        let status = response.code.ok_or(Failure::Protocol("no status"))?;
        if (100..200).contains(&status) && status != 101 {
            buffer.drain(..length);
            continue;
        }
        let header = |name: &str| {
            response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .and_then(|h| std::str::from_utf8(h.value).ok())
                .map(|v| v.trim().to_owned())
        };
        return Ok(Some(Response {
            status,
            retry_after: header("retry-after"),
            rate_limits: header("x-sentry-rate-limits"),
        }));
    }
}

#[cfg(test)]
mod tests {
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
        let many: String = (0..70).map(|i| format!("X-{i}: y\r\n")).collect();
        assert!(matches!(head(&format!("HTTP/1.1 200 OK\r\n{many}\r\n")), Err(Failure::Protocol(_))));
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
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        post(endpoint, &[("X-Sentry-Auth", "Sentry sentry_key=k")], b"body", deadline, |_| true)
    }

    #[test]
    fn a_long_answer_head_is_read_up_to_sixteen_kibibytes_and_no_further() {
        let pad = |n: usize| format!("X-Pad: {}\r\n", "p".repeat(n));
        let long = format!("HTTP/1.1 429 Slow\r\n{}Retry-After: 7\r\n\r\n", pad(12 * 1024));
        let answer = ask(&answering(long.into_bytes(), true)).unwrap();
        assert_eq!((answer.status, answer.retry_after.as_deref()), (429, Some("7")));
        let endless = format!("HTTP/1.1 200 OK\r\n{}", pad(MAX_HEAD + 1024)).into_bytes();
        assert!(matches!(ask(&answering(endless, true)), Err(Failure::Protocol(_))));
    }

    #[test]
    fn a_server_that_closes_without_answering_is_a_failure_not_a_status() {
        assert!(matches!(ask(&answering(b"HTTP/1.1 200".to_vec(), false)), Err(Failure::Protocol(_))));
    }

    #[test]
    fn each_address_gets_its_share_of_what_is_left_and_a_refusal_is_not_a_time_out() {
        let second = std::time::Duration::from_secs(1);
        assert_eq!(share(30 * second, 3), 10 * second);
        assert_eq!(share(30 * second, 1), 30 * second);
        assert_eq!(share(30 * second, 0), 30 * second);
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let endpoint = Endpoint { tls: false, host: "127.0.0.1".into(), port: closed, path: "/".into() };
        let refused = connect(&endpoint, Instant::now() + 10 * second);
        assert!(matches!(refused, Err(Failure::ConnectionFailed)), "{refused:?}");
    }

    /// What the sender logs of a failure: its kind, never a host or a URL.
    #[test]
    fn failures_say_their_kind() {
        #[cfg(feature = "library-tls")]
        {
            let tls = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::DecryptError);
            assert!(matches!(io_failure(tls), Failure::Tls));
        }
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
        let deadline = Instant::now() + std::time::Duration::from_secs(1);
        let sent = post(&endpoint, &[("X-Sentry-Auth", "a\r\nEvil: 1")], b"", deadline, |_| true);
        assert!(matches!(sent, Err(Failure::Protocol(_))));
    }
}

#[cfg(all(test, feature = "library-tls"))]
mod sigpipe {
    use super::*;

    /// A host that is not a Rust program does not ignore SIGPIPE: a write to a
    /// socket that an opt-out shut down (or that the server reset) must fail
    /// with an error, never raise the signal that kills the process. rustls
    /// writes records with `write_vectored`, which std's `TcpStream` makes a
    /// `writev` (no `MSG_NOSIGNAL`).
    #[test]
    fn a_tls_write_to_a_shut_down_socket_raises_no_sigpipe() {
        // SAFETY: restores the default action of SIGPIPE for this test
        // process (the test harness ignores it, as every Rust program does).
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let socket = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        socket.shutdown(std::net::Shutdown::Both).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let connection = rustls::ClientConnection::new(tls_config().unwrap(), name).unwrap();
        let mut stream = rustls::StreamOwned::new(connection, Socket(socket));
        let written = stream.write_all(b"POST / HTTP/1.1\r\n\r\n");
        assert!(written.is_err(), "the ClientHello cannot go out on a shut-down socket");
    }
}
