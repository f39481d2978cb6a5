//! What every layer of one request shares (the plain client in
//! [`super::http`], the proxy's tunnel in [`super::proxy`] and the TLS in
//! [`super::tls`]): the DSN's endpoint, why a request got no answer, the
//! socket with its deadline, and how an answer's head is read. Below all
//! three; it names none of them.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

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

    /// `host:port` (an IPv6 address in brackets): a tunnel's target.
    pub(super) fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The `Host` header: the port only when it is not the scheme's.
    pub(super) fn authority(&self) -> String {
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
    /// The proxy refused or failed the tunnel (never its address or
    /// credentials).
    Proxy(&'static str),
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
            Failure::Proxy(what) => write!(f, "proxy failure ({what})"),
        }
    }
}

pub fn io_failure(e: io::Error) -> Failure {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Failure::TimedOut,
        // A failed handshake or certificate (the TLS seam's mark).
        _ if e.get_ref().is_some_and(|inner| inner.is::<TlsFailed>()) => Failure::Tls,
        kind => Failure::Io(kind),
    }
}

/// A failed TLS handshake, certificate or record, as the TLS seam reports it
/// inside an `io::Error` (see [`io_failure`]): the one thing this module
/// knows of TLS.
#[derive(Debug)]
pub struct TlsFailed;

impl fmt::Display for TlsFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TLS failure")
    }
}

impl std::error::Error for TlsFailed {}

/// The connected socket, with the request's deadline: before every system
/// call (each `send`, each `recv`, however many a write or a TLS record
/// takes) its time-out is re-armed to what is left, and once the deadline has
/// passed the call fails as timed out. A peer that trickles a TLS record a
/// byte at a time, or stops reading, holds the request until the deadline and
/// no longer.
///
/// Every write is a `send` with `MSG_NOSIGNAL` (std's `TcpStream::write`;
/// `SO_NOSIGPIPE` on Apple systems), one buffer at a time. rustls writes with
/// `write_vectored`, which `TcpStream` makes a `writev`: on a socket an
/// opt-out shut down, or that the server reset, that raises SIGPIPE, and a
/// host that is not a Rust program (a C, Nim or Qt one) dies of it. Not
/// overriding `write_vectored` makes the default one call `write`.
pub(super) struct Socket {
    pub(super) stream: TcpStream,
    pub(super) deadline: Instant,
}

impl Socket {
    fn arm(&self, write: bool) -> io::Result<()> {
        let left = remaining(self.deadline).map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?;
        if write {
            self.stream.set_write_timeout(Some(left))
        } else {
            self.stream.set_read_timeout(Some(left))
        }
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm(false)?;
        (&self.stream).read(buf)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm(true)?;
        (&self.stream).write(buf)
    }
    /// (A socket has nothing to flush.)
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What is left until `deadline`, or a time-out.
pub(super) fn remaining(deadline: Instant) -> Result<Duration, Failure> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(Failure::TimedOut)
    } else {
        Ok(left)
    }
}

/// Writes the request, then reads the answer's head (`answer`), also after a
/// failed write: a server may answer (a 413) and close before it has read
/// the whole request, and that answer is the one that counts.
pub(super) fn exchange<S: Write>(
    stream: &mut S,
    head: &str,
    body: &[u8],
    answer: impl FnOnce(&mut S) -> Result<Response, Failure>,
) -> Result<Response, Failure> {
    let sent =
        stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body)).and_then(|()| stream.flush());
    match sent {
        Ok(()) => answer(stream),
        Err(e) => {
            let failure = io_failure(e);
            if matches!(failure, Failure::TimedOut | Failure::Tls) {
                return Err(failure);
            }
            answer(stream).map_err(|_| failure)
        }
    }
}

pub(super) fn read_head(stream: &mut impl Read) -> Result<Response, Failure> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(response) = parse_head(&mut buffer)? {
            return Ok(response);
        }
        if buffer.len() >= MAX_HEAD {
            // The status is what counts (a 2xx is a delivery): its headers
            // are too long to read, not the answer.
            return status_only(&buffer).ok_or(Failure::Protocol("answer head over 16 KiB"));
        }
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
            Err(httparse::Error::TooManyHeaders) => {
                return status_only(buffer).map(Some).ok_or(Failure::Protocol("over 64 header fields"))
            }
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

/// The answer from its status line alone (`HTTP/1.x NNN ...`), for a final
/// answer whose head is too long or has too many fields to read: the status
/// is what the policy needs, and a 2xx is a delivery whatever follows it.
fn status_only(buffer: &[u8]) -> Option<Response> {
    let line = &buffer[..buffer.iter().position(|&b| b == b'\n')?];
    let rest = line.strip_prefix(b"HTTP/1.").filter(|rest| rest.len() >= 5 && rest[1] == b' ')?;
    let digits = &rest[2..5];
    if !digits.iter().all(u8::is_ascii_digit) || rest.get(5).is_some_and(|&b| b != b' ' && b != b'\r') {
        return None;
    }
    let status = std::str::from_utf8(digits).ok()?.parse::<u16>().ok()?;
    (200..600).contains(&status).then_some(Response { status, retry_after: None, rate_limits: None })
}
