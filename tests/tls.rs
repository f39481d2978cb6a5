//! Delivery over TLS, through the built `.so`: a real TLS 1.3 / 1.2 server on
//! loopback with a certificate for `localhost` from a certificate authority
//! made up here. The library trusts the Mozilla roots, the system's store and
//! `sentryCaCerts`, so a server it cannot verify gets no report (and the
//! report stays); the test build's `test-tls-root` feature lets this test add
//! its authority (`LIBSTATUS_TEST_TLS_ROOT`) beside the Mozilla roots, and
//! `SSL_CERT_FILE` in this process's environment stands for the system's
//! store (as Linux reads it) to see each route verified end to end.
//! Not in a build without the library's TLS (`--no-default-features`).
#![cfg(feature = "library-tls")]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;
use support::{data_dir, envelope_event, lib, outbox_files, set_environment, KEY, PROJECT};

struct Authority {
    root: CertificateDer<'static>,
    root_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

/// A certificate authority and a `localhost` certificate it signed.
fn authority() -> Authority {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf =
        CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&leaf_key, &ca).unwrap();
    Authority {
        root: ca.der().clone(),
        root_pem: ca.pem(),
        chain: vec![leaf.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    }
}

/// What one TLS connection sent: the request head and body, or the error.
type Seen = Result<(String, Vec<u8>), String>;

/// A TLS server on 127.0.0.1 that answers every request 200 and reports what
/// each connection sent. `versions`: the TLS versions it accepts.
fn serve(
    authority: &Authority,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> (u16, mpsc::Receiver<Seen>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(authority.chain.clone(), authority.key.clone_key())
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    #[allow(clippy::disallowed_methods)] // the test's own server thread
    std::thread::spawn(move || {
        for socket in listener.incoming().flatten() {
            socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let connection = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(connection, socket);
            let seen = (|| -> std::io::Result<(String, Vec<u8>)> {
                let mut reader = BufReader::new(&mut tls);
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line)? == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                    })
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                reader.read_exact(&mut body)?;
                tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")?;
                tls.flush()?;
                Ok((head, body))
            })();
            let _ = tx.send(seen.map_err(|e| e.to_string()));
        }
    });
    (port, rx)
}

fn dsn(port: u16) -> String {
    format!("https://{KEY}@localhost:{port}/{PROJECT}")
}

fn panic_once(dir: &std::path::Path, dsn: &str, message: &str) {
    set_environment("ci-main");
    lib().init(json!({"dataDir": dir, "sentryDSN": dsn}));
    lib().opt_in(true);
    lib().intended_panic(message);
}

#[test]
fn a_report_goes_out_over_verified_tls_1_3_and_1_2() {
    if !support::isolated() {
        return;
    }
    let authority = authority();
    let root = data_dir();
    let root_file = root.path().join("root.der");
    std::fs::write(&root_file, &authority.root).unwrap();
    std::env::set_var("LIBSTATUS_TEST_TLS_ROOT", &root_file);
    for (versions, name) in
        [(&[&rustls::version::TLS13][..], "TLS 1.3"), (&[&rustls::version::TLS12][..], "TLS 1.2")]
    {
        let (port, seen) = serve(&authority, versions);
        let dir = data_dir();
        panic_once(dir.path(), &dsn(port), &format!("over {name}"));
        assert_eq!(lib().flush(10_000), 0, "{name}: delivered");
        let (head, body) = seen.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
        assert!(head.starts_with(&format!("POST /api/{PROJECT}/envelope/ HTTP/1.1\r\n")), "{head}");
        assert!(head.contains(&format!("Host: localhost:{port}\r\n")), "{head}");
        assert!(head.to_ascii_lowercase().contains("x-sentry-auth: sentry sentry_key="), "{head}");
        let event = envelope_event(&body).expect("an envelope with an event");
        assert_eq!(event["exception"]["values"][0]["value"], format!("over {name}"));
        assert_eq!(outbox_files(dir.path()), 0);
    }
}

#[test]
fn a_server_the_library_cannot_verify_gets_nothing_and_the_report_stays() {
    if !support::isolated() {
        return;
    }
    std::env::remove_var("LIBSTATUS_TEST_TLS_ROOT");
    let (port, seen) = serve(&authority(), &[&rustls::version::TLS13, &rustls::version::TLS12]);
    let dir = data_dir();
    panic_once(dir.path(), &dsn(port), "not for an unverified server");
    assert_eq!(lib().flush(3_000), 1, "not delivered: still pending");
    // (A flush retries at once: perhaps several attempts, each refused.)
    let first = seen.recv_timeout(Duration::from_secs(10)).unwrap();
    for attempt in std::iter::once(first).chain(seen.try_iter()) {
        assert!(attempt.is_err(), "the handshake must fail before any request: {attempt:?}");
    }
    assert_eq!(outbox_files(dir.path()), 1, "the report is kept for a server that can be verified");
}

/// `sentryCaCerts` names a PEM file: a server on a private authority is
/// reached once that authority is trusted that way, and not without it (nor
/// with a file that trusts another authority). A file that holds no
/// certificate is refused at init.
#[test]
fn a_private_authority_is_trusted_through_sentry_ca_certs_and_only_then() {
    if !support::isolated() {
        return;
    }
    std::env::remove_var("LIBSTATUS_TEST_TLS_ROOT");
    let authority = authority();
    let other = self::authority().root_pem;
    let dir = data_dir();
    let pem = dir.path().join("company-ca.pem");
    std::fs::write(&pem, &authority.root_pem).unwrap();
    let other_pem = dir.path().join("other-ca.pem");
    std::fs::write(&other_pem, other).unwrap();
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "no certificate here").unwrap();
    set_environment("ci-main");
    support::assert_error(
        &lib().call(
            "InitializeApplication",
            &json!({"dataDir": dir.path(), "sentryCaCerts": not_pem}).to_string(),
        ),
        "invalid-request",
    );

    let (port, seen) = serve(&authority, &[&rustls::version::TLS13, &rustls::version::TLS12]);
    let init = |ca: Option<&std::path::Path>| {
        let mut request = json!({"dataDir": dir.path(), "sentryDSN": dsn(port)});
        if let Some(ca) = ca {
            request["sentryCaCerts"] = json!(ca);
        }
        lib().init(request);
        lib().opt_in(true);
    };
    for (pending, ca) in [(1, None), (2, Some(other_pem.as_path()))] {
        init(ca);
        lib().intended_panic("only for a trusted server");
        assert_eq!(lib().flush(2_000), pending, "{ca:?}: not delivered");
        assert!(seen.try_iter().all(|attempt| attempt.is_err()), "{ca:?}: no request");
    }
    init(Some(&pem));
    assert_eq!(lib().flush(10_000), 0, "delivered once the authority is trusted");
    let (_, body) = seen.try_iter().find_map(Result::ok).expect("the request reached the server");
    assert_eq!(
        envelope_event(&body).unwrap()["exception"]["values"][0]["value"],
        "only for a trusted server"
    );
}

/// A panic reaches a TLS server through an HTTP CONNECT proxy (Debian's
/// tinyproxy, with Basic credentials), trusted through `sentryCaCerts`.
#[test]
fn a_panic_reaches_a_tls_server_through_a_connect_proxy() {
    if !support::isolated() {
        return;
    }
    std::env::remove_var("LIBSTATUS_TEST_TLS_ROOT");
    let dir = data_dir();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let conf = dir.path().join("tinyproxy.conf");
    std::fs::write(
        &conf,
        format!(
            "Port {port}\nListen 127.0.0.1\nAllow 127.0.0.1\nBasicAuth user secret-pass\nLogLevel Critical\n"
        ),
    )
    .unwrap();
    let Ok(child) = std::process::Command::new("tinyproxy")
        .args(["-d", "-c", conf.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    else {
        eprintln!("SKIPPED: tinyproxy is not installed (scripts/setup installs it)");
        return;
    };
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _proxy = Kill(child);
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let authority = authority();
    let pem = dir.path().join("ca.pem");
    std::fs::write(&pem, &authority.root_pem).unwrap();
    let (server_port, seen) = serve(&authority, &[&rustls::version::TLS13]);
    set_environment("ci-main");
    lib().init(json!({
        "dataDir": dir.path(),
        "sentryDSN": dsn(server_port),
        "sentryCaCerts": pem,
        "sentryProxy": format!("http://user:secret-pass@127.0.0.1:{port}"),
    }));
    lib().opt_in(true);
    lib().intended_panic("through a CONNECT proxy");
    assert_eq!(lib().flush(10_000), 0, "delivered through the tunnel");
    let (head, body) = seen.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    assert!(!head.contains("Proxy-Authorization"), "the credentials stay with the proxy: {head}");
    assert_eq!(envelope_event(&body).unwrap()["exception"]["values"][0]["value"], "through a CONNECT proxy");
}

/// Points the system's certificate store at `bundle` for this process (as
/// `rustls-native-certs` reads it on Linux: `SSL_CERT_FILE` instead of the
/// distribution's bundle), before the library makes its first request: it
/// reads the store once per process.
fn system_store(bundle: &std::path::Path) {
    std::env::remove_var("LIBSTATUS_TEST_TLS_ROOT");
    std::env::remove_var("SSL_CERT_DIR");
    std::env::set_var("SSL_CERT_FILE", bundle);
}

/// The system's store is the third route: a server on a private authority is
/// reached once the store holds that authority, with no `sentryCaCerts` and
/// with a `sentryCaCerts` that names another authority (the two add up).
#[test]
fn a_private_authority_is_trusted_through_the_system_store() {
    if !support::isolated() {
        return;
    }
    let authority = authority();
    let dir = data_dir();
    let bundle = dir.path().join("ca-certificates.crt");
    // A bundle as distributions write it: other authorities around it.
    let bundle_text = [self::authority().root_pem, authority.root_pem.clone(), self::authority().root_pem];
    std::fs::write(&bundle, bundle_text.concat()).unwrap();
    let other_pem = dir.path().join("other-ca.pem");
    std::fs::write(&other_pem, self::authority().root_pem).unwrap();
    system_store(&bundle);
    let (port, seen) = serve(&authority, &[&rustls::version::TLS13, &rustls::version::TLS12]);
    panic_once(dir.path(), &dsn(port), "trusted by the system");
    assert_eq!(lib().flush(10_000), 0, "delivered: the system's store trusts the authority");
    let (_, body) = seen.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    assert_eq!(envelope_event(&body).unwrap()["exception"]["values"][0]["value"], "trusted by the system");

    lib().init(json!({"dataDir": dir.path(), "sentryDSN": dsn(port), "sentryCaCerts": other_pem}));
    lib().opt_in(true);
    lib().intended_panic("with sentryCaCerts too");
    assert_eq!(lib().flush(10_000), 0, "delivered: sentryCaCerts adds to the system's store");
    let (_, body) = seen.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    assert_eq!(envelope_event(&body).unwrap()["exception"]["values"][0]["value"], "with sentryCaCerts too");
}

/// The same server is not reached when the system's store holds other
/// authorities only: the report stays, and no request went out.
#[test]
fn a_system_store_without_the_authority_reaches_nothing() {
    if !support::isolated() {
        return;
    }
    let dir = data_dir();
    let bundle = dir.path().join("ca-certificates.crt");
    std::fs::write(&bundle, [self::authority().root_pem, self::authority().root_pem].concat()).unwrap();
    system_store(&bundle);
    let (port, seen) = serve(&authority(), &[&rustls::version::TLS13, &rustls::version::TLS12]);
    panic_once(dir.path(), &dsn(port), "not for an authority the system does not trust");
    assert_eq!(lib().flush(3_000), 1, "not delivered: still pending");
    let first = seen.recv_timeout(Duration::from_secs(10)).unwrap();
    for attempt in std::iter::once(first).chain(seen.try_iter()) {
        assert!(attempt.is_err(), "the handshake must fail before any request: {attempt:?}");
    }
}

/// A system store that cannot be read (a missing bundle, a directory of
/// garbage) takes nothing away: the built-in roots still verify. The test
/// build's extra root (`LIBSTATUS_TEST_TLS_ROOT`, added with the Mozilla
/// roots) stands for a public authority, which no loopback server can have.
#[test]
fn a_system_store_that_cannot_be_read_leaves_the_built_in_roots() {
    if !support::isolated() {
        return;
    }
    let authority = authority();
    let dir = data_dir();
    let garbage = dir.path().join("certs");
    std::fs::create_dir(&garbage).unwrap();
    std::fs::write(garbage.join("0123abcd.0"), "-----BEGIN CERTIFICATE-----\nnot base64 !\n").unwrap();
    std::fs::write(garbage.join("unreadable.pem"), "x").unwrap();
    #[cfg(unix)] // (no file modes on Windows)
    std::fs::set_permissions(
        garbage.join("unreadable.pem"),
        std::os::unix::fs::PermissionsExt::from_mode(0o000),
    )
    .unwrap();
    std::env::set_var("SSL_CERT_FILE", dir.path().join("no-such-bundle.crt"));
    std::env::set_var("SSL_CERT_DIR", &garbage);
    let root_file = dir.path().join("root.der");
    std::fs::write(&root_file, &authority.root).unwrap();
    std::env::set_var("LIBSTATUS_TEST_TLS_ROOT", &root_file);
    let (port, seen) = serve(&authority, &[&rustls::version::TLS13]);
    panic_once(dir.path(), &dsn(port), "despite the system's store");
    assert_eq!(lib().flush(10_000), 0, "delivered with the built-in roots");
    let (_, body) = seen.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    assert_eq!(
        envelope_event(&body).unwrap()["exception"]["values"][0]["value"],
        "despite the system's store"
    );
}
