//! The library's own TLS, behind one seam: the only file that names
//! `rustls` or `webpki_roots`, and the only place the `library-tls` feature
//! is looked at.
//!
//! With `library-tls` (the default): rustls with ring, TLS 1.2 and 1.3,
//! trusting the Mozilla roots of `webpki-roots`, the operating system's store
//! (`os_store` below) and the authorities a host adds (`sentryCaCerts`).
//! Without it (`--no-default-features`): no TLS at all, and
//! none of rustls, ring or webpki-roots linked; the library sends `http://`
//! only, and an `https://` DSN needs the host's transport (the gate says so,
//! `Blocker::NoLibraryTls`, before a request could reach [`exchange`]).
//!
//! What the rest of the delivery sees: [`AVAILABLE`], an opaque [`Config`]
//! ([`Config::system`], [`Config::trusting`]; the rustls configuration
//! itself is built the first time a request needs it, on the sender thread,
//! so that reading the system's store never slows an init down), the
//! authorities of a PEM file
//! ([`pem_certificates`]), and [`exchange`]: the request and its answer over TLS on a connected socket.

pub use imp::*;

#[cfg(feature = "library-tls")]
mod imp {
    use std::fmt;
    use std::io::{self, Read, Write};
    use std::sync::{Arc, OnceLock};

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};

    use super::super::wire::{exchange as send_and_read, read_head, Failure, Response, Socket, TlsFailed};

    /// This build carries its own TLS.
    pub const AVAILABLE: bool = true;

    /// One authority's certificate (DER).
    pub struct Certificate(CertificateDer<'static>);

    /// The authorities a delivery trusts: the Mozilla roots, the system's
    /// store and `extra` (`sentryCaCerts`), as a TLS configuration built the
    /// first time a request asks for it. Equal only to itself (one per init,
    /// compared by identity).
    #[derive(Clone)]
    pub struct Config(Arc<Trust>);

    struct Trust {
        extra: Vec<CertificateDer<'static>>,
        built: OnceLock<Option<Arc<rustls::ClientConfig>>>,
    }

    impl fmt::Debug for Config {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "tls::Config({} added authorities)", self.0.extra.len())
        }
    }

    impl PartialEq for Config {
        fn eq(&self, other: &Self) -> bool {
            Arc::ptr_eq(&self.0, &other.0)
        }
    }

    impl Eq for Config {}

    impl Config {
        /// The default trust: the Mozilla roots and the system's store (one
        /// per process).
        pub fn system() -> Self {
            static DEFAULT: OnceLock<Config> = OnceLock::new();
            DEFAULT
                .get_or_init(|| {
                    #[allow(unused_mut)]
                    let mut extra = Vec::new();
                    // Test builds only: one more root, for a certificate
                    // authority made up by tests/tls.rs.
                    #[cfg(feature = "test-tls-root")]
                    if let Some(der) =
                        std::env::var_os("LIBSTATUS_TEST_TLS_ROOT").and_then(|p| std::fs::read(p).ok())
                    {
                        extra.push(Certificate(CertificateDer::from(der)));
                    }
                    Self::trusting(extra)
                })
                .clone()
        }

        /// The default trust and `extra`.
        pub fn trusting(extra: Vec<Certificate>) -> Self {
            let extra = extra.into_iter().map(|Certificate(der)| der).collect();
            Self(Arc::new(Trust { extra, built: OnceLock::new() }))
        }

        /// The rustls configuration, built once; `None` if it cannot be
        /// (never seen: only a crypto provider without a safe protocol
        /// version fails). A certificate that is not a usable trust anchor
        /// is left out, the others kept.
        fn client_config(&self) -> Option<Arc<rustls::ClientConfig>> {
            let trust = &*self.0;
            trust
                .built
                .get_or_init(|| {
                    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
                    roots.add_parsable_certificates(os_store::certificates().iter().cloned());
                    roots.add_parsable_certificates(trust.extra.iter().cloned());
                    let provider = Arc::new(rustls::crypto::ring::default_provider());
                    let config = rustls::ClientConfig::builder_with_provider(provider)
                        .with_safe_default_protocol_versions()
                        .ok()?
                        .with_root_certificates(roots)
                        .with_no_client_auth();
                    Some(Arc::new(config))
                })
                .clone()
        }
    }

    /// The certificates of a PEM file (its `CERTIFICATE` blocks; anything
    /// else in it is skipped).
    pub fn pem_certificates(pem: &[u8]) -> Vec<Certificate> {
        CertificateDer::pem_slice_iter(pem).filter_map(Result::ok).map(Certificate).collect()
    }

    /// A failed handshake or certificate: rustls reports it as
    /// `InvalidData` carrying its own error.
    fn is_tls_error(e: &io::Error) -> bool {
        e.kind() == io::ErrorKind::InvalidData && e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>())
    }

    /// A rustls failure inside an `io::Error` becomes the mark that
    /// `wire::io_failure` reads as [`Failure::Tls`]; any other error (the
    /// socket's) is left as it is.
    fn mark(e: io::Error) -> io::Error {
        if is_tls_error(&e) {
            io::Error::new(io::ErrorKind::InvalidData, TlsFailed)
        } else {
            e
        }
    }

    /// rustls's stream, its failures marked ([`mark`]).
    struct Marked<'a>(rustls::Stream<'a, rustls::ClientConnection, Socket>);

    impl Write for Marked<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.write(buf).map_err(mark)
        }
        fn flush(&mut self) -> io::Result<()> {
            self.0.flush().map_err(mark)
        }
    }

    /// Writes the request (`head`, `body`) over TLS to `host` on the
    /// connected `socket`, then reads the answer's head, also after a failed
    /// write: from what rustls already decrypted, then from the socket
    /// ([`TlsAnswer`]).
    pub(in crate::outbox) fn exchange(
        config: &Config,
        host: &str,
        socket: &mut Socket,
        head: &str,
        body: &[u8],
    ) -> Result<Response, Failure> {
        let name = ServerName::try_from(host.to_owned()).map_err(|_| Failure::Tls)?;
        let client = config.client_config().ok_or(Failure::Tls)?;
        let mut connection = rustls::ClientConnection::new(client, name).map_err(|_| Failure::Tls)?;
        let mut stream = Marked(rustls::Stream::new(&mut connection, socket));
        send_and_read(&mut stream, head, body, |Marked(stream)| {
            read_head(&mut TlsAnswer { connection: stream.conn, socket: stream.sock, ended: false })
        })
    }

    /// The answer over TLS as the server sent it: what rustls has already
    /// decrypted, then more records from the socket, never a write. After a
    /// failed write (a server that answered 413 and stopped reading), going
    /// through `rustls::Stream` would first retry the unsent records, fail
    /// again and lose the answer that is waiting in the socket.
    struct TlsAnswer<'a> {
        connection: &'a mut rustls::ClientConnection,
        socket: &'a mut Socket,
        ended: bool,
    }

    impl Read for TlsAnswer<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            loop {
                match self.connection.reader().read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // A peer that closes without close_notify: no more answer.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                    done => return done.map_err(mark),
                }
                if self.ended || self.connection.is_handshaking() {
                    return Ok(0);
                }
                if self.connection.read_tls(self.socket)? == 0 {
                    self.ended = true;
                }
                self.connection
                    .process_new_packets()
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, TlsFailed))?;
            }
        }
    }

    impl Write for TlsAnswer<'_> {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::Unsupported.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The operating system's certificate store, the third source of trust
    /// besides the Mozilla roots and `sentryCaCerts`: an authority that a company
    /// installs on its machines (a private Sentry, a TLS-inspecting proxy) is
    /// trusted without configuring the library.
    ///
    /// `rustls-native-certs` reads it: on Linux and the BSDs the distribution's
    /// bundle (`/etc/ssl/certs/ca-certificates.crt` and the like), on macOS the
    /// Security framework's trust settings, on Windows the system store; on all
    /// three `SSL_CERT_FILE` / `SSL_CERT_DIR` instead when either is set (they
    /// can only add trust: the Mozilla roots stay). Android and iOS have no store
    /// this way (the crate would look for Linux files there): the Mozilla roots
    /// and `sentryCaCerts` are what a phone trusts (docs/hardening.md, "Real
    /// networks").
    ///
    /// Read once per process, the first time a request is made, on the sender
    /// thread: reading parses some 150 certificates from disk (a few ms, more on a
    /// cold disk), which no export waits for. Whatever fails (an unreadable file,
    /// a certificate that does not parse, even a panic in the reader) leaves the
    /// store empty or partial, never the Mozilla roots out.
    pub(super) mod os_store {
        use std::sync::OnceLock;

        use rustls::pki_types::CertificateDer;

        /// The certificates of the system's store, read once per process.
        pub fn certificates() -> &'static [CertificateDer<'static>] {
            static STORE: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
            STORE.get_or_init(|| std::panic::catch_unwind(load).unwrap_or_default())
        }

        #[cfg(not(any(
            target_os = "android",
            target_os = "ios",
            target_os = "tvos",
            target_os = "watchos",
            target_os = "visionos"
        )))]
        fn load() -> Vec<CertificateDer<'static>> {
            let found = rustls_native_certs::load_native_certs();
            if !found.errors.is_empty() {
                // What failed, not where: a path may name the user.
                log::warn!(
                    "the system's certificate store: {} certificates read, {} failures (the Mozilla roots are still trusted)",
                    found.certs.len(),
                    found.errors.len()
                );
            }
            found.certs
        }

        #[cfg(any(
            target_os = "android",
            target_os = "ios",
            target_os = "tvos",
            target_os = "watchos",
            target_os = "visionos"
        ))]
        fn load() -> Vec<CertificateDer<'static>> {
            Vec::new()
        }
    }

    /// Test support: a TLS server on loopback, signed by an authority that
    /// only the [`Config`] handed with it trusts.
    #[cfg(test)]
    pub(in crate::outbox) mod testing {
        use std::net::TcpStream;
        use std::sync::Arc;

        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

        use super::{Certificate, Config};

        /// A server configuration for `localhost`.
        #[derive(Clone)]
        pub struct Server(Arc<rustls::ServerConfig>);

        /// A certificate authority, a server configuration for `localhost`
        /// it signed, and a client configuration that trusts it. `None` in a
        /// build without TLS.
        pub fn pair() -> Option<(Server, Config)> {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
            let key = KeyPair::generate().unwrap();
            let leaf =
                CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&key, &ca).unwrap();
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let server = rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(
                    vec![leaf.der().clone()],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
                )
                .unwrap();
            let client = Config::trusting(vec![Certificate(ca.der().clone())]);
            Some((Server(Arc::new(server)), client))
        }

        impl Server {
            /// Serves one accepted connection after the handshake.
            pub fn serve(self, socket: TcpStream, serve: impl FnOnce(&mut dyn super::super::ReadWrite)) {
                let connection = rustls::ServerConnection::new(self.0).unwrap();
                let mut stream = rustls::StreamOwned::new(connection, socket);
                serve(&mut stream);
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use std::io::{self, Write};
        use std::net::TcpStream;
        use std::time::{Duration, Instant};

        use super::super::super::wire::{io_failure, Failure, Socket};
        use super::*;

        #[test]
        fn a_rustls_error_is_a_tls_failure() {
            let tls = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::DecryptError);
            assert!(is_tls_error(&tls));
            assert!(matches!(io_failure(mark(tls)), Failure::Tls));
            let other = io::Error::new(io::ErrorKind::InvalidData, "not TLS");
            assert!(!is_tls_error(&other));
            assert!(matches!(io_failure(mark(other)), Failure::Io(io::ErrorKind::InvalidData)));
        }

        /// A host that is not a Rust program does not ignore SIGPIPE: a write
        /// to a socket that an opt-out shut down (or that the server reset)
        /// must fail with an error, never raise the signal that kills the
        /// process. rustls writes records with `write_vectored`, which std's
        /// `TcpStream` makes a `writev` (no `MSG_NOSIGNAL`).
        #[test]
        fn a_tls_write_to_a_shut_down_socket_raises_no_sigpipe() {
            crate::sys::process::default_sigpipe();
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let socket = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            socket.shutdown(std::net::Shutdown::Both).unwrap();
            let name = ServerName::try_from("localhost").unwrap();
            let connection =
                rustls::ClientConnection::new(Config::system().client_config().unwrap(), name).unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut stream = rustls::StreamOwned::new(connection, Socket { stream: socket, deadline });
            let written = stream.write_all(b"POST / HTTP/1.1\r\n\r\n");
            assert!(written.is_err(), "the ClientHello cannot go out on a shut-down socket");
        }

        #[test]
        fn a_pem_file_gives_its_certificates_only() {
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = rcgen::CertificateParams::new(vec!["a.example".to_owned()])
                .unwrap()
                .self_signed(&key)
                .unwrap();
            let pem = format!("junk\n{}{}", cert.pem(), key.serialize_pem());
            assert_eq!(pem_certificates(pem.as_bytes()).len(), 1);
            assert!(pem_certificates(b"no PEM here").is_empty());
            let config = Config::trusting(pem_certificates(pem.as_bytes()));
            assert_eq!(config, config.clone());
            assert_ne!(config, Config::system());
            assert_eq!(Config::system(), Config::system(), "one default per process");
            assert!(config.client_config().is_some());
        }
    }
}

#[cfg(not(feature = "library-tls"))]
mod imp {
    use super::super::wire::{Failure, Response, Socket};

    /// This build has no TLS of its own.
    pub const AVAILABLE: bool = false;

    /// No certificate is ever read in a build without TLS.
    pub enum Certificate {}

    /// No TLS: the one configuration there is, trusting nothing.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Config(());

    impl Config {
        pub fn system() -> Self {
            Self(())
        }

        pub fn trusting(extra: Vec<Certificate>) -> Self {
            drop(extra);
            Self(())
        }
    }

    /// No certificate is read without TLS (`sentryCaCerts` is ignored).
    pub fn pem_certificates(_: &[u8]) -> Vec<Certificate> {
        Vec::new()
    }

    /// Never reached: the gate refuses an `https://` DSN to the library's
    /// transport in a build without TLS (`Blocker::NoLibraryTls`).
    pub(in crate::outbox) fn exchange(
        _: &Config,
        _: &str,
        _: &mut Socket,
        _: &str,
        _: &[u8],
    ) -> Result<Response, Failure> {
        Err(Failure::Tls)
    }

    /// Test support: no TLS server in a build without TLS.
    #[cfg(test)]
    pub(in crate::outbox) mod testing {
        use std::net::TcpStream;

        use super::Config;

        #[derive(Clone)]
        pub enum Server {}

        pub fn pair() -> Option<(Server, Config)> {
            None
        }

        impl Server {
            pub fn serve(self, _: TcpStream, _: impl FnOnce(&mut dyn super::super::ReadWrite)) {
                match self {}
            }
        }
    }
}

/// A server's stream in tests: plain or TLS.
#[cfg(test)]
pub(in crate::outbox) trait ReadWrite: std::io::Read + std::io::Write {}
#[cfg(test)]
impl<T: std::io::Read + std::io::Write> ReadWrite for T {}
