//! Egress proxies for the delivery: an HTTP proxy (absolute-form requests
//! for an `http://` DSN, a `CONNECT` tunnel for an `https://` one, Basic
//! proxy authentication) or a SOCKS5 proxy (RFC 1928; user and password,
//! RFC 1929). `socks5://` resolves the Sentry host here; `socks5h://` leaves
//! it to the proxy, so that a Tor/Orbot user leaks no DNS lookup.
//!
//! Which proxy: the `sentryProxy` key of `InitializeApplication` when given
//! (`""` means none, whatever the environment says); without the key,
//! `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` (and their lower-case forms) read as
//! Go's `ProxyFromEnvironment` reads them (golang.org/x/net/http/httpproxy),
//! as status-go does, once per init (never on the sender's thread: a C host
//! may be calling `setenv`).
//!
//! A proxy's credentials are secrets: never in a log line, an answer or an
//! event (`Debug` hides them; the scrubber masks them, see
//! [`Proxy::secrets`]).

use std::fmt;
use std::io::{Read, Write};
use std::net::IpAddr;

use super::wire::{Endpoint, Failure};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Http,
    /// `remote_dns`: `socks5h://`, the proxy resolves the Sentry host.
    Socks5 {
        remote_dns: bool,
    },
}

#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    pub kind: Kind,
    pub host: String,
    pub port: u16,
    credentials: Option<(String, String)>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Proxy({:?}, <secret>)", self.kind)
    }
}

/// What `sentryProxy` says, or its absence.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Setting {
    /// No key: the environment, as Go reads it (read once, at init).
    #[default]
    FromEnvironment,
    /// The environment's variables as read at init.
    Environment(Environment),
    /// `""`: no proxy, whatever the environment says.
    Off,
    Explicit(Proxy),
}

/// The proxy variables as Go's `httpproxy.FromEnvironment` reads them: the
/// upper-case name first, then the lower-case one; `HTTP_PROXY` is ignored
/// under CGI (`REQUEST_METHOD` set).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Environment {
    http: Option<String>,
    https: Option<String>,
    no_proxy: String,
}

impl Environment {
    pub fn read(var: impl Fn(&str) -> Option<String>) -> Self {
        let either = |upper: &str, lower: &str| var(upper).filter(|v| !v.is_empty()).or_else(|| var(lower));
        let cgi = var("REQUEST_METHOD").is_some();
        Self {
            http: either("HTTP_PROXY", "http_proxy").filter(|_| !cgi).filter(|v| !v.is_empty()),
            https: either("HTTPS_PROXY", "https_proxy").filter(|v| !v.is_empty()),
            no_proxy: either("NO_PROXY", "no_proxy").unwrap_or_default(),
        }
    }

    /// The proxy for `endpoint`, if any: Go's `ProxyFunc`. A value that is
    /// not a proxy this library speaks (an `https://` proxy) is no proxy.
    pub fn proxy_for(&self, endpoint: &Endpoint) -> Option<Proxy> {
        let value = if endpoint.tls { self.https.as_deref()? } else { self.http.as_deref()? };
        if !self.use_proxy(&endpoint.host, endpoint.port) {
            return None;
        }
        // Go: a value that does not parse as a URL with a scheme is tried
        // again with `http://` in front.
        Proxy::parse(value).ok().or_else(|| {
            if value.contains("://") {
                None
            } else {
                Proxy::parse(&format!("http://{value}")).ok()
            }
        })
    }

    /// Go's `useProxy`: never for `localhost` or a loopback address; never
    /// for a `NO_PROXY` match (`*`, an IP, a CIDR block, a domain and its
    /// subdomains, `.domain` or `*.domain` for subdomains only, each with an
    /// optional port).
    fn use_proxy(&self, host: &str, port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        if host == "localhost" {
            return false;
        }
        let ip = host.parse::<IpAddr>().ok();
        if ip.is_some_and(|ip| ip.is_loopback()) {
            return false;
        }
        for entry in self.no_proxy.split(',') {
            let entry = entry.trim().to_ascii_lowercase();
            if entry.is_empty() {
                continue;
            }
            if entry == "*" {
                return false;
            }
            if let Some((network, bits)) = entry.split_once('/') {
                if let (Some(ip), Ok(network), Ok(bits)) = (ip, network.parse::<IpAddr>(), bits.parse::<u8>())
                {
                    if in_block(ip, network, bits) {
                        return false;
                    }
                }
                continue;
            }
            let (name, entry_port) = split_port(&entry);
            if entry_port.is_some_and(|p| p != port) {
                continue;
            }
            if let Ok(entry_ip) = name.parse::<IpAddr>() {
                if ip == Some(entry_ip) {
                    return false;
                }
                continue;
            }
            let name = name.strip_prefix('*').unwrap_or(name);
            let matched = match name.strip_prefix('.') {
                Some(_) => host.ends_with(name),
                None => host == name || host.ends_with(&format!(".{name}")),
            };
            if matched {
                return false;
            }
        }
        true
    }
}

/// `host:port`, `[v6]:port`, `[v6]`, `host`: the name and the port.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        if let Some((ip, after)) = rest.split_once(']') {
            return (ip, after.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    match entry.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => (name, port.parse().ok()),
        _ => (entry, None),
    }
}

fn in_block(ip: IpAddr, network: IpAddr, bits: u8) -> bool {
    let (ip, network, width) = match (ip, network) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b)), 32u32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    if u32::from(bits) > width {
        return false;
    }
    let shift = width - u32::from(bits);
    shift >= 128 || (ip >> shift) == (network >> shift)
}

impl Setting {
    /// From `sentryProxy` (`None`: the key was absent).
    pub fn from_request(value: Option<&str>) -> Result<Self, &'static str> {
        match value {
            None => Ok(Setting::FromEnvironment),
            Some(v) if v.trim().is_empty() => Ok(Setting::Off),
            Some(v) => Proxy::parse(v.trim()).map(Setting::Explicit),
        }
    }

    /// Reads the environment now if this setting needs it.
    pub fn resolved(self, var: impl Fn(&str) -> Option<String>) -> Self {
        match self {
            Setting::FromEnvironment => Setting::Environment(Environment::read(var)),
            other => other,
        }
    }

    pub fn proxy_for(&self, endpoint: &Endpoint) -> Option<Proxy> {
        match self {
            Setting::Explicit(proxy) => Some(proxy.clone()),
            Setting::Environment(environment) => environment.proxy_for(endpoint),
            Setting::FromEnvironment | Setting::Off => None,
        }
    }

    /// What the scrubber must mask: the user name and password of every
    /// proxy this setting may use.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut add = |value: Option<&str>| {
            if let Some(proxy) = value.and_then(|v| Proxy::parse(v).ok()) {
                out.extend(proxy.secrets());
            }
        };
        match self {
            Setting::Explicit(proxy) => out.extend(proxy.secrets()),
            Setting::Environment(e) => {
                add(e.http.as_deref());
                add(e.https.as_deref());
            }
            Setting::FromEnvironment | Setting::Off => {}
        }
        out
    }
}

impl Proxy {
    /// `http://[user:pass@]host[:port]` (port 80 by default),
    /// `socks5://...` or `socks5h://...` (1080). The error never repeats the
    /// value (it may hold a password).
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        const WHAT: &str =
            "sentryProxy must be http://[user:password@]host:port, socks5://... or socks5h://...";
        let url = url::Url::parse(text).map_err(|_| WHAT)?;
        let kind = match url.scheme() {
            "http" => Kind::Http,
            "socks5" => Kind::Socks5 { remote_dns: false },
            "socks5h" => Kind::Socks5 { remote_dns: true },
            _ => return Err(WHAT),
        };
        let host = match url.host().ok_or(WHAT)? {
            url::Host::Domain(name) => name.to_owned(),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => ip.to_string(),
        };
        let port = url.port().unwrap_or(if kind == Kind::Http { 80 } else { 1080 });
        let decode = |s: &str| percent_decode(s).ok_or(WHAT);
        let credentials = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            Some((decode(url.username())?, decode(url.password().unwrap_or(""))?))
        };
        if !matches!(url.path(), "" | "/") || url.query().is_some() {
            return Err(WHAT);
        }
        Ok(Self { kind, host, port, credentials })
    }

    /// The user name and password (at least 4 characters each, as the
    /// scrubber masks), as given and as sent.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some((user, password)) = &self.credentials {
            out.push(user.clone());
            out.push(password.clone());
            out.push(basic(user, password));
        }
        out.retain(|s| s.len() >= 4);
        out
    }

    /// The `Proxy-Authorization` header's value, if the proxy has
    /// credentials (HTTP proxies).
    pub fn authorization(&self) -> Option<String> {
        self.credentials.as_ref().map(|(user, password)| format!("Basic {}", basic(user, password)))
    }

    /// Opens a tunnel to `endpoint` over `stream`, which is connected to this
    /// proxy: `CONNECT` (an HTTP proxy, for an `https://` DSN) or SOCKS5.
    /// `resolve` gives the addresses of the Sentry host for `socks5://`.
    pub fn tunnel(
        &self,
        stream: &mut (impl Read + Write),
        endpoint: &Endpoint,
        resolve: impl FnOnce() -> Result<Vec<std::net::SocketAddr>, Failure>,
    ) -> Result<(), Failure> {
        match self.kind {
            Kind::Http => self.connect(stream, endpoint),
            Kind::Socks5 { remote_dns } => {
                let target = if remote_dns || endpoint.host.parse::<IpAddr>().is_ok() {
                    Target::Name(&endpoint.host)
                } else {
                    Target::Ip(resolve()?.first().ok_or(Failure::HostNotFound)?.ip())
                };
                self.socks5(stream, target, endpoint.port)
            }
        }
    }

    fn connect(&self, stream: &mut (impl Read + Write), endpoint: &Endpoint) -> Result<(), Failure> {
        let authority = endpoint.host_port();
        let mut head = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
        if let Some(value) = self.authorization() {
            head.push_str(&format!("Proxy-Authorization: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).map_err(super::wire::io_failure)?;
        // Byte by byte: whatever follows the head is the server's TLS.
        let mut answer = Vec::with_capacity(256);
        let mut byte = [0u8; 1];
        while !answer.ends_with(b"\r\n\r\n") {
            if answer.len() >= super::wire::MAX_HEAD {
                return Err(Failure::Proxy("answer head over 16 KiB"));
            }
            match stream.read(&mut byte) {
                Ok(0) => return Err(Failure::Proxy("closed during CONNECT")),
                Ok(_) => answer.push(byte[0]),
                Err(e) => return Err(super::wire::io_failure(e)),
            }
        }
        match super::wire::parse_head(&mut answer) {
            Ok(Some(response)) if (200..300).contains(&response.status) => Ok(()),
            Ok(Some(response)) if response.status == 407 => {
                Err(Failure::Proxy("authentication refused (407)"))
            }
            _ => Err(Failure::Proxy("CONNECT refused")),
        }
    }

    fn socks5(&self, stream: &mut (impl Read + Write), target: Target<'_>, port: u16) -> Result<(), Failure> {
        let io = super::wire::io_failure;
        let method: u8 = if self.credentials.is_some() { 2 } else { 0 };
        stream.write_all(&[5, 1, method]).map_err(io)?;
        let mut reply = [0u8; 2];
        stream.read_exact(&mut reply).map_err(io)?;
        if reply != [5, method] {
            return Err(Failure::Proxy("SOCKS5 method refused"));
        }
        if let Some((user, password)) = &self.credentials {
            let (user, password) = (user.as_bytes(), password.as_bytes());
            let (Ok(ulen), Ok(plen)) = (u8::try_from(user.len()), u8::try_from(password.len())) else {
                return Err(Failure::Proxy("SOCKS5 credentials over 255 bytes"));
            };
            let mut message = vec![1, ulen];
            message.extend_from_slice(user);
            message.push(plen);
            message.extend_from_slice(password);
            stream.write_all(&message).map_err(io)?;
            stream.read_exact(&mut reply).map_err(io)?;
            if reply[1] != 0 {
                return Err(Failure::Proxy("SOCKS5 authentication refused"));
            }
        }
        let target = match target {
            Target::Name(name) => name.parse::<IpAddr>().map_or(Target::Name(name), Target::Ip),
            ip => ip,
        };
        let mut request = vec![5, 1, 0];
        match target {
            Target::Ip(IpAddr::V4(ip)) => {
                request.push(1);
                request.extend_from_slice(&ip.octets());
            }
            Target::Ip(IpAddr::V6(ip)) => {
                request.push(4);
                request.extend_from_slice(&ip.octets());
            }
            Target::Name(name) => {
                request.push(3);
                request.push(u8::try_from(name.len()).map_err(|_| Failure::HostNotFound)?);
                request.extend_from_slice(name.as_bytes());
            }
        }
        request.extend_from_slice(&port.to_be_bytes());
        stream.write_all(&request).map_err(io)?;
        let mut head = [0u8; 4];
        stream.read_exact(&mut head).map_err(io)?;
        if head[0] != 5 {
            return Err(Failure::Proxy("not a SOCKS5 answer"));
        }
        if head[1] != 0 {
            return Err(match head[1] {
                4 => Failure::Proxy("SOCKS5: host unreachable"),
                5 => Failure::Proxy("SOCKS5: connection refused"),
                _ => Failure::Proxy("SOCKS5 CONNECT refused"),
            });
        }
        let rest = match head[3] {
            1 => 4 + 2,
            4 => 16 + 2,
            3 => {
                let mut length = [0u8; 1];
                stream.read_exact(&mut length).map_err(io)?;
                usize::from(length[0]) + 2
            }
            _ => return Err(Failure::Proxy("not a SOCKS5 answer")),
        };
        let mut bound = vec![0u8; rest];
        stream.read_exact(&mut bound).map_err(io)
    }
}

#[derive(Clone, Copy)]
enum Target<'a> {
    Ip(IpAddr),
    Name(&'a str),
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `user:password` in base64, for Basic authentication.
fn basic(user: &str, password: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}");
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.as_bytes().chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(url: &str) -> Endpoint {
        Endpoint::from_url(&url::Url::parse(url).unwrap()).unwrap()
    }

    #[test]
    fn proxies_parse_with_their_defaults_and_errors_never_repeat_the_value() {
        let p = Proxy::parse("http://us%40er:p%3Ass@proxy.example:3128").unwrap();
        assert_eq!((p.kind, p.host.as_str(), p.port), (Kind::Http, "proxy.example", 3128));
        assert_eq!(p.authorization().unwrap(), format!("Basic {}", basic("us@er", "p:ss")));
        assert_eq!(basic("Aladdin", "open sesame"), "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert_eq!(basic("a", "b"), "YTpi");
        assert_eq!(Proxy::parse("http://[::1]").unwrap().port, 80);
        assert_eq!(Proxy::parse("socks5h://tor:9050").unwrap().kind, Kind::Socks5 { remote_dns: true });
        assert_eq!(Proxy::parse("socks5://10.0.0.1").unwrap().port, 1080);
        for bad in ["https://user:hunter22@p:1", "ftp://p", "p:1", "http://user:hunter22@p:1/path", ""] {
            let e = Proxy::parse(bad).unwrap_err();
            assert!(!e.contains("hunter22"), "{e}");
        }
        assert!(!format!("{p:?}").contains("p:ss") && !format!("{p:?}").contains("us"));
        assert!(p.secrets().contains(&"p:ss".to_owned()) || p.secrets().contains(&basic("us@er", "p:ss")));
        assert_eq!(Setting::from_request(Some("")).unwrap(), Setting::Off);
        assert_eq!(Setting::from_request(None).unwrap(), Setting::FromEnvironment);
    }

    /// Go's `httpproxy.Config.ProxyFunc`, case by case.
    #[test]
    fn the_environment_is_read_as_go_reads_it() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            Environment::read(|name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned()))
        };
        let https = endpoint("https://sentry.example.com/api/1/envelope/");
        let http = endpoint("http://sentry.example.com:9000/api/1/envelope/");
        let e = env(&[("HTTPS_PROXY", "proxy:3128"), ("http_proxy", "socks5h://tor:9050")]);
        let p = e.proxy_for(&https).unwrap();
        assert_eq!((p.kind, p.host.as_str(), p.port), (Kind::Http, "proxy", 3128), "scheme-less: http://");
        assert_eq!(e.proxy_for(&http).unwrap().kind, Kind::Socks5 { remote_dns: true }, "lower case");
        // Upper case wins; CGI ignores HTTP_PROXY.
        let e = env(&[("HTTP_PROXY", "http://upper:1"), ("http_proxy", "http://lower:1")]);
        assert_eq!(e.proxy_for(&http).unwrap().host, "upper");
        assert!(e.proxy_for(&https).is_none(), "HTTP_PROXY is for http:// only");
        let e = env(&[("HTTP_PROXY", "http://upper:1"), ("REQUEST_METHOD", "GET")]);
        assert!(e.proxy_for(&http).is_none());
        // Never for loopback or localhost.
        let e = env(&[("HTTPS_PROXY", "http://p:1")]);
        for host in
            ["https://localhost/api/1/envelope/", "https://127.0.0.1/api/1/envelope/", "https://[::1]/api/1/"]
        {
            assert!(e.proxy_for(&endpoint(host)).is_none(), "{host}");
        }
        // NO_PROXY: domains and subdomains, .domain, *.domain, ports, IPs, CIDR, *.
        let cases: &[(&'static str, bool)] = &[
            ("example.com", false),
            ("sentry.example.com", false),
            (".example.com", false),
            ("*.example.com", false),
            ("ample.com", true),
            (".sentry.example.com", true),
            ("example.com:443", false),
            ("example.com:80", true),
            ("*", false),
            (" other.org , example.com ", false),
            ("other.org", true),
        ];
        for (no_proxy, proxied) in cases {
            let e = Environment {
                https: Some("http://p:1".into()),
                http: None,
                no_proxy: (*no_proxy).to_owned(),
            };
            assert_eq!(e.proxy_for(&https).is_some(), *proxied, "NO_PROXY={no_proxy}");
        }
        let ip = endpoint("https://10.1.2.3:8443/api/1/envelope/");
        for (no_proxy, proxied) in
            [("10.0.0.0/8", false), ("10.1.2.3", false), ("10.1.2.3:8443", false), ("11.0.0.0/8", true)]
        {
            let e = Environment { https: Some("http://p:1".into()), http: None, no_proxy: no_proxy.into() };
            assert_eq!(e.proxy_for(&ip).is_some(), proxied, "NO_PROXY={no_proxy}");
        }
        let e = env(&[("HTTPS_PROXY", "https://p:1")]);
        assert!(e.proxy_for(&https).is_none(), "an https:// proxy is not spoken");
    }
}
