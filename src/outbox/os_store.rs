//! The operating system's certificate store, the third source of trust
//! besides the Mozilla roots and `sentryCaCerts`: an authority that a company
//! installs on its machines (a private Sentry, a TLS-inspecting proxy) is
//! trusted without configuring the library.
//!
//! `rustls-native-certs` reads it: on Linux and the BSDs the distribution's
//! bundle (`/etc/ssl/certs/ca-certificates.crt` and the like), on macOS the
//! Security framework's trust settings, on Windows the system store; on all
//! three `SSL_CERT_FILE` / `SSL_CERT_DIR` instead when either is set (they
//! can only add trust: the Mozilla roots stay). Android and iOS have no store
//! this way (the crate would look for Linux files there): the Mozilla roots
//! and `sentryCaCerts` are what a phone trusts (docs/hardening.md, "Real
//! networks").
//!
//! Read once per process, the first time a request is made, on the sender
//! thread: reading parses some 150 certificates from disk (a few ms, more on a
//! cold disk), which no export waits for. Whatever fails (an unreadable file,
//! a certificate that does not parse, even a panic in the reader) leaves the
//! store empty or partial, never the Mozilla roots out.

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
