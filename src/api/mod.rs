//! The endpoints, as plain Rust: a typed request in, a JSON answer or an
//! [`ApiError`] out. No C types, no `unsafe`, no panic handling (the guard does
//! that): the C ABI, the JNI glue and status-backend all call [`call`].

mod error;
mod reports;
mod request;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use self::error::{ApiError, ErrorCode};
pub use self::reports::{DeletePanicReportsRequest, PanicReportsRequest, MAX_PAGE_REPORTS};
use crate::consent::{self, MetricsInfo, ToggleError};
pub use crate::endpoint::{Arg, ArgKind, Endpoint};
use crate::files;
use crate::logging::{self, LogSettings};
use crate::outbox::policy::Verdict;
use crate::outbox::proxy::Setting as ProxySetting;
use crate::outbox::{
    pem_certificates, Acknowledged, OpenError, Outcome, Pulled, TlsConfig, LEASE_DEFAULT, LIBRARY_TLS,
};
use crate::panics::panic_intended;
use crate::redact::{self, Known, RedactList};
use crate::reporting::config::Tls;
use crate::reporting::{
    self, limiter, BuildConfig, HostTransportError, PanicReportingStatus, ReportingConfig, ReportingError,
};

/// The answer of endpoints without a payload (status-go's convention; Android's
/// bridge checks this prefix).
pub const OK: &str = r#"{"error":""}"#;

/// The longest `timeoutMs` FlushPanicReports accepts: one minute.
pub const MAX_FLUSH_TIMEOUT_MS: i64 = 60_000;

/// An endpoint's JSON answer: borrowed when it is a constant (most calls on
/// the hot path answer one), so that answering allocates nothing but the
/// host's copy.
pub type Reply = Cow<'static, str>;

/// Runs one endpoint. Panics propagate to the caller (the guard).
// Inlined into each export, where the endpoint is a constant: only its arm remains.
#[inline(always)]
pub fn call(endpoint: Endpoint, arg: Arg<'_>) -> Result<Reply, ApiError> {
    match (endpoint, arg) {
        (Endpoint::InitializeApplication, Arg::Str(json)) => initialize_application(parse(json)?),
        (Endpoint::ToggleCentralizedMetrics, Arg::Str(json)) => toggle_centralized_metrics(parse(json)?),
        (Endpoint::CentralizedMetricsInfo, Arg::None) => centralized_metrics_info(),
        (Endpoint::IntendedPanic, Arg::Str(message)) => intended_panic(message),
        (Endpoint::IntendedBackgroundPanic, Arg::Str(message)) => intended_background_panic(message),
        (Endpoint::FlushPanicReports, Arg::Int(timeout_ms)) => flush_panic_reports(timeout_ms),
        (Endpoint::PanicReports, Arg::Str(json)) => reports::panic_reports(parse(json)?),
        (Endpoint::DeletePanicReports, Arg::Str(json)) => reports::delete_panic_reports(parse(json)?),
        (Endpoint::NextPanicReport, Arg::Str(json)) => next_panic_report(parse(json)?),
        (Endpoint::PanicReportOutcome, Arg::Str(json)) => panic_report_outcome(parse(json)?),
        (endpoint, arg) => Err(ApiError::invalid_request(format!(
            "{} takes {:?}, got {arg:?}",
            endpoint.name(),
            endpoint.arg_kind()
        ))),
    }
}

/// A JSON object into a typed request, read as status-go's Go code reads it
/// (`request.rs`: case-insensitive keys, missing booleans false, `null` as
/// absent, unknown keys ignored); wrong types are refused.
fn parse<T: request::GoRequest>(json: &str) -> Result<T, ApiError> {
    request::parse(json)
}

fn to_json<T: Serialize>(answer: &T) -> Result<Reply, ApiError> {
    serde_json::to_string(answer)
        .map(Cow::Owned)
        .map_err(|e| ApiError::internal(format!("cannot encode the answer: {e}")))
}

/// status-go's request, minus what this library does not do. Other keys
/// (mixpanel, waku, metricsEnabled...) are accepted and ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeApplicationRequest {
    pub data_dir: String,
    #[serde(default, rename = "sentryDSN")]
    pub sentry_dsn: Option<String>,
    #[serde(default)]
    pub log_dir: Option<String>,
    #[serde(default)]
    pub log_enabled: Option<bool>,
    #[serde(default)]
    pub log_level: Option<String>,
    #[serde(default)]
    pub log_to_stderr: Option<bool>,
    #[serde(default)]
    pub api_logging_enabled: Option<bool>,
    /// Storm control's window in milliseconds (default one minute): each panic
    /// site sends at most `EVENTS_PER_WINDOW` events per window. For tests
    /// and CI that cannot wait a minute; apps leave it out.
    #[serde(default)]
    pub panic_storm_window_ms: Option<u64>,
    /// Values and key names to mask wherever they appear, until the next
    /// init (`src/redact/known.rs`). A secret: its `Debug` prints counts only.
    #[serde(default)]
    pub redact: Option<RedactList>,
    /// The egress proxy for panic reports (`http://[user:password@]host:port`,
    /// `socks5://...`, `socks5h://...`); `""`: none, whatever the
    /// environment says; absent: `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` as Go
    /// reads them. A secret: never repeated in an answer or a log line.
    #[serde(default)]
    pub sentry_proxy: Option<String>,
    /// A PEM file of certificate authorities trusted for the Sentry server,
    /// besides the Mozilla roots (a self-hosted Sentry on a company's own
    /// authority, or behind TLS inspection).
    #[serde(default)]
    pub sentry_ca_certs: Option<String>,
    /// Report fatal errors (signals, aborts) at the next start: installs the
    /// library's signal handler for users who opted in (src/fatal/).
    #[serde(default)]
    pub report_fatal_errors: Option<bool>,
    /// Who sends the reports: `"library"` (the default: its own sender) or
    /// `"host"` (the host's network stack, through `NextPanicReport` and
    /// `PanicReportOutcome`; the library's sender then never opens a socket).
    #[serde(default)]
    pub transport: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeApplicationAnswer {
    pub centralized_metrics_info: MetricsInfo,
    pub panic_reporting: PanicReportingStatus,
}

/// The TLS configuration that trusts the certificates of the PEM file at
/// `path` besides the Mozilla roots (`sentryCaCerts`).
fn trusted_authorities(path: &Path) -> Result<TlsConfig, ApiError> {
    let pem = match files::read_regular(path, 4 << 20) {
        Ok(files::Read::Bytes(pem)) => pem,
        _ => {
            return Err(ApiError::invalid_request(
                "sentryCaCerts: the file cannot be read (a regular file up to 4 MiB)",
            ))
        }
    };
    let certificates = pem_certificates(&pem);
    if certificates.is_empty() {
        return Err(ApiError::invalid_request("sentryCaCerts: the file holds no PEM certificate"));
    }
    // The TLS configuration is built on the first request (on the sender
    // thread: it reads the system's store too).
    Ok(TlsConfig::trusting(certificates))
}

/// A path from the request: not empty, no NUL byte.
fn request_path(key: &str, value: &str) -> Result<PathBuf, ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::invalid_request(format!("{key} must not be empty")));
    }
    if !files::is_usable_path(value) {
        return Err(ApiError::invalid_request(format!("{key} must not contain a NUL character")));
    }
    Ok(PathBuf::from(value))
}

/// All or nothing: everything is validated and opened first (dataDir, log
/// files, outbox and its lock); only then, under the consent lock, does the
/// process switch over (consent read for the new dataDir, logging, reporting).
/// A failure leaves consent, DSN, dataDir, outbox and logging as they were.
fn initialize_application(mut request: InitializeApplicationRequest) -> Result<Reply, ApiError> {
    let data_dir = request_path("dataDir", &request.data_dir)?;
    let log_dir = match request.log_dir.as_deref().filter(|d| !d.trim().is_empty()) {
        Some(dir) => request_path("logDir", dir)?,
        None => data_dir.clone(),
    };
    let storm_window = match request.panic_storm_window_ms {
        None => limiter::WINDOW,
        Some(ms @ 100..=3_600_000) => Duration::from_millis(ms),
        Some(ms) => {
            return Err(ApiError::invalid_request(format!(
                "panicStormWindowMs must be between 100 and 3600000, got {ms}"
            )))
        }
    };
    let proxy = ProxySetting::from_request(request.sentry_proxy.as_deref())
        .map_err(ApiError::invalid_request)?
        .resolved(|name| std::env::var(name).ok());
    let mut ca_certs_ignored = false;
    let tls = match request.sentry_ca_certs.as_deref().filter(|p| !p.trim().is_empty()) {
        None => None,
        // A build without the library's TLS verifies no certificate (the
        // host's transport does, with its own trust): the key is accepted,
        // its path checked as any, the file not read.
        Some(path) if !LIBRARY_TLS => {
            request_path("sentryCaCerts", path)?;
            ca_certs_ignored = true;
            None
        }
        Some(path) => Some(Tls(trusted_authorities(&request_path("sentryCaCerts", path)?)?)),
    };
    let host_transport = match request.transport.as_deref().map(str::trim) {
        None | Some("" | "library") => false,
        Some("host") => true,
        Some(other) => {
            return Err(ApiError::invalid_request(format!(
                "transport must be \"library\" or \"host\", got `{other}`"
            )))
        }
    };
    let level = match request.log_level.as_deref().filter(|l| !l.trim().is_empty()) {
        None => log::LevelFilter::Info,
        Some(level) => logging::parse_level(level).ok_or_else(|| {
            ApiError::invalid_request(format!(
                "logLevel `{level}` is not one of error, warn, info, debug, trace"
            ))
        })?,
    };
    reporting::install_fork_handlers();
    let known = request.redact.take().map(Known::new).transpose().map_err(ApiError::invalid_request)?;
    let _initializing = reporting::initializing();
    files::create_private_dir(&data_dir, false)
        .map_err(|e| ApiError::internal(format!("cannot create dataDir: {e}; nothing changed")))?;
    let writers = logging::prepare(&LogSettings {
        enabled: request.log_enabled.unwrap_or(false),
        dir: log_dir,
        level,
        to_stderr: request.log_to_stderr.unwrap_or(false),
        api_logging: request.api_logging_enabled.unwrap_or(false),
    })
    .map_err(|e| ApiError::internal(format!("{e}; nothing changed")))?;
    let runtime_environment = std::env::var("SENTRY_ENVIRONMENT").ok();
    let config = ReportingConfig {
        proxy,
        tls,
        host_transport,
        ..ReportingConfig::resolve(
            &BuildConfig::current(),
            reporting::host_profile().as_deref(),
            request.sentry_dsn.as_deref(),
            runtime_environment.as_deref(),
        )
    };
    let prepared = reporting::prepare(config, &data_dir, storm_window).map_err(|e| {
        let message = format!("{e}; nothing changed");
        match e {
            ReportingError::Outbox(OpenError::Locked(_)) => ApiError::invalid_request(message),
            _ => ApiError::internal(message),
        }
    })?;

    // The switch-over: nothing below can fail.
    redact::install_known(known);
    let switch = consent::begin_switch();
    let metrics = switch.read(&data_dir);
    logging::commit(writers);
    let panic_reporting = reporting::commit(prepared, metrics.enabled);
    let panic_reporting =
        reporting::commit_fatal(&data_dir, request.report_fatal_errors.unwrap_or(false), panic_reporting);
    switch.commit(&data_dir, metrics);
    if ca_certs_ignored {
        log::info!("sentryCaCerts ignored: this build of the library has no TLS of its own (the host's transport verifies the Sentry server)");
    }
    log::info!(
        "initialized: panic reporting {}{}",
        if panic_reporting.active { "active" } else { "off: " },
        panic_reporting.reason
    );
    to_json(&InitializeApplicationAnswer { centralized_metrics_info: metrics, panic_reporting })
}

#[derive(Debug, Deserialize)]
pub struct ToggleCentralizedMetricsRequest {
    #[serde(default)]
    pub enabled: bool,
}

fn toggle_centralized_metrics(request: ToggleCentralizedMetricsRequest) -> Result<Reply, ApiError> {
    reporting::install_fork_handlers(); // before the consent lock is first taken
    consent::toggle(request.enabled, reporting::apply_consent).map_err(|e| match e {
        ToggleError::NotInitialized => ApiError::not_initialized(),
        other => ApiError::internal(other.to_string()),
    })?;
    Ok(Cow::Borrowed(OK))
}

fn centralized_metrics_info() -> Result<Reply, ApiError> {
    let metrics: MetricsInfo = consent::info().map_err(|_| ApiError::not_initialized())?;
    Ok(Cow::Borrowed(metrics.json()))
}

fn intended_panic(message: &str) -> Result<Reply, ApiError> {
    panic_intended(message.to_owned())
}

fn intended_background_panic(message: &str) -> Result<Reply, ApiError> {
    let message = message.to_owned();
    let thread = reporting::spawn_thread("libstatus-intended-panic", move || panic_intended(message))
        .map_err(|e| ApiError::internal(ReportingError::Thread(e).to_string()))?;
    // The wrapper has reported the panic by the time the thread has ended.
    let _ = thread.join();
    Ok(Cow::Borrowed(OK))
}

#[derive(Debug, Serialize)]
struct FlushAnswer {
    error: &'static str,
    pending: usize,
}

fn flush_panic_reports(timeout_ms: i64) -> Result<Reply, ApiError> {
    if !(0..=MAX_FLUSH_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(ApiError::invalid_request(format!(
            "timeoutMs must be between 0 and {MAX_FLUSH_TIMEOUT_MS}, got {timeout_ms}"
        )));
    }
    let pending = reporting::flush(Duration::from_millis(timeout_ms as u64));
    to_json(&FlushAnswer { error: "", pending })
}

/// The longest a host may hold a report (`leaseMs`), and the shortest.
pub const MAX_LEASE_MS: u64 = 600_000;
pub const MIN_LEASE_MS: u64 = 100;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NextPanicReportRequest {
    /// How long the host may take to send the report and answer
    /// (`MIN_LEASE_MS` to `MAX_LEASE_MS`; default one minute): past that it
    /// is due again.
    #[serde(default)]
    pub lease_ms: Option<u64>,
    /// How long to wait for a report to become due (0 to
    /// `MAX_FLUSH_TIMEOUT_MS`; default 0: answer at once). Only from the
    /// host's sender thread, never a UI thread.
    #[serde(default)]
    pub wait_ms: Option<u64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportAnswer<'a> {
    error: &'static str,
    id: String,
    url: &'a str,
    headers: std::collections::BTreeMap<&'static str, &'a str>,
    body: &'a str,
    lease_ms: u128,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NothingAnswer {
    error: &'static str,
    none: bool,
    retry_in_ms: u128,
    pending: usize,
}

fn host_transport_error(e: HostTransportError) -> ApiError {
    match e {
        HostTransportError::NotInitialized => ApiError::not_initialized(),
        HostTransportError::LibraryTransport => ApiError::invalid_request(
            "the library sends the panic reports itself: pass \"transport\":\"host\" to InitializeApplication to send them with the host's network stack",
        ),
    }
}

fn next_panic_report(request: NextPanicReportRequest) -> Result<Reply, ApiError> {
    let lease_ms = request.lease_ms.unwrap_or(LEASE_DEFAULT.as_millis() as u64);
    if !(MIN_LEASE_MS..=MAX_LEASE_MS).contains(&lease_ms) {
        return Err(ApiError::invalid_request(format!(
            "leaseMs must be between {MIN_LEASE_MS} and {MAX_LEASE_MS}, got {lease_ms}"
        )));
    }
    let wait_ms = request.wait_ms.unwrap_or(0);
    if wait_ms > MAX_FLUSH_TIMEOUT_MS as u64 {
        return Err(ApiError::invalid_request(format!(
            "waitMs must be between 0 and {MAX_FLUSH_TIMEOUT_MS}, got {wait_ms}"
        )));
    }
    let pulled = reporting::next_report(Duration::from_millis(lease_ms), Duration::from_millis(wait_ms))
        .map_err(host_transport_error)?;
    match pulled {
        Pulled::Report { id, url, headers, body, lease } => to_json(&ReportAnswer {
            error: "",
            id: id.to_string(),
            url: &url,
            headers: headers.iter().map(|(name, value)| (*name, value.as_str())).collect(),
            body: &body,
            lease_ms: lease.as_millis(),
        }),
        Pulled::Nothing { retry_in, pending } => {
            // Rounded up: a host that sleeps that long finds it due.
            let retry_in_ms = retry_in.as_micros().div_ceil(1000);
            to_json(&NothingAnswer { error: "", none: true, retry_in_ms, pending })
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PanicReportOutcomeRequest {
    /// The `id` NextPanicReport answered.
    pub id: String,
    /// The server's HTTP status (100 to 599)...
    #[serde(default)]
    pub status: Option<u64>,
    /// ...with its `Retry-After` and `X-Sentry-Rate-Limits` values as received.
    #[serde(default)]
    pub retry_after: Option<String>,
    #[serde(default)]
    pub rate_limits: Option<String>,
    /// Or, instead of a status: no answer (what went wrong, for the host's
    /// own logs: the library does not keep it).
    #[serde(default)]
    pub network_error: Option<String>,
}

#[derive(Debug, Serialize)]
struct OutcomeAnswer {
    error: &'static str,
    accepted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

fn panic_report_outcome(request: PanicReportOutcomeRequest) -> Result<Reply, ApiError> {
    let id: u64 = request
        .id
        .trim()
        .parse()
        .map_err(|_| ApiError::invalid_request("id must be the id NextPanicReport answered"))?;
    let outcome = match (request.status, request.network_error.as_deref()) {
        (Some(status @ 100..=599), None) => Outcome::Answered {
            status: status as u16,
            retry_after: request.retry_after.as_deref(),
            rate_limits: request.rate_limits.as_deref(),
        },
        (Some(status), None) => {
            return Err(ApiError::invalid_request(format!(
                "status must be an HTTP status (100 to 599), got {status}"
            )))
        }
        (None, Some(_)) => Outcome::NetworkError,
        _ => {
            return Err(ApiError::invalid_request(
                "give either the server's status or a networkError, exactly one of them",
            ))
        }
    };
    let answer = match reporting::acknowledge(id, outcome).map_err(host_transport_error)? {
        Acknowledged::Applied(verdict) => OutcomeAnswer {
            error: "",
            accepted: true,
            verdict: Some(match verdict {
                Verdict::Delivered => "delivered",
                Verdict::Rejected(_) => "rejected",
                Verdict::Retry(_) => "retry",
            }),
            reason: None,
        },
        Acknowledged::Refused(reason) => {
            OutcomeAnswer { error: "", accepted: false, verdict: None, reason: Some(reason) }
        }
    };
    to_json(&answer)
}

/// What `api.log` keeps of an answer: a report handed to the host is not
/// logged (its body, and its auth header, which carries the DSN's key).
pub fn loggable_answer(endpoint: Endpoint, json: &str) -> &str {
    if endpoint == Endpoint::NextPanicReport && json.starts_with(r#"{"error":"","id":"#) {
        r#"{"error":"","id":"(a report: not logged)"}"#
    } else {
        json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_names_round_trip() {
        for &endpoint in Endpoint::ALL {
            assert_eq!(Endpoint::from_name(endpoint.name()), Some(endpoint));
        }
        assert_eq!(Endpoint::from_name("Nope"), None);
    }

    /// The table is the one description of the endpoint set: every place
    /// that must name each endpoint is checked against it, so a forgotten
    /// place fails here (see the checklist in bindings/README.md).
    #[test]
    fn every_place_that_lists_the_endpoints_agrees_with_the_table() {
        let ffi = include_str!("../ffi.rs");
        let jni = include_str!("../jni.rs");
        let cbindgen = include_str!("../../cbindgen.toml");
        let header = include_str!("../../include/libstatus.h");
        let exported: Vec<&str> = ffi
            .split("extern \"C\" fn ")
            .skip(1)
            .filter_map(|rest| rest.split('(').next())
            // `Free` is not an endpoint; `TestPanic` is a test build's export
            // (feature `test-panics`), outside the ABI and the header.
            .filter(|name| !matches!(*name, "Free" | "TestPanic"))
            .collect();
        let names: Vec<&str> = Endpoint::ALL.iter().map(|e| e.name()).collect();
        assert_eq!(exported, names, "ffi.rs and the table differ (same order, please)");
        for name in names {
            let java = format!("Java_im_status_libstatus_LibStatus_native{name}");
            assert!(jni.contains(&format!("fn {java}<")), "jni.rs has no {java}");
            assert!(cbindgen.contains(&format!("\"{java}\"")), "cbindgen.toml does not exclude {java}");
            assert!(header.contains(&format!("char *{name}(")), "include/libstatus.h has no {name}");
        }
        assert!(header.contains("void Free(void *param);"));
    }

    #[test]
    fn requests_are_validated() {
        let err = parse::<InitializeApplicationRequest>("{}").unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidRequest);
        assert!(err.message.contains("dataDir"), "{}", err.message);
        let err =
            parse::<InitializeApplicationRequest>(r#"{"dataDir":"/x","logEnabled":"yes"}"#).unwrap_err();
        assert!(err.message.contains("invalid type"), "{}", err.message);
        assert!(parse::<InitializeApplicationRequest>("[1]").is_err());
        assert!(parse::<InitializeApplicationRequest>("nope").is_err());
        let ok: InitializeApplicationRequest = parse(
            r#"{"dataDir":"/x","mixpanelAppId":"a","wakuFleetsConfigFilePath":"b","metricsEnabled":true}"#,
        )
        .unwrap();
        assert_eq!(ok.data_dir, "/x");
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse::<ToggleCentralizedMetricsRequest>(&deep).is_err());
    }

    #[test]
    fn a_handed_out_report_is_never_logged() {
        let report = r#"{"error":"","id":"3","url":"http://h/api/1/envelope/","headers":{"X-Sentry-Auth":"Sentry sentry_key=k"},"body":"{}","leaseMs":60000}"#;
        let logged = loggable_answer(Endpoint::NextPanicReport, report);
        assert!(!logged.contains("sentry_key") && !logged.contains("envelope"), "{logged}");
        let nothing = r#"{"error":"","none":true,"retryInMs":5,"pending":0}"#;
        assert_eq!(loggable_answer(Endpoint::NextPanicReport, nothing), nothing);
        assert_eq!(loggable_answer(Endpoint::FlushPanicReports, report), report);
    }

    #[test]
    fn flush_timeout_is_validated() {
        assert_eq!(flush_panic_reports(-1).unwrap_err().code, ErrorCode::InvalidRequest);
        assert_eq!(
            flush_panic_reports(MAX_FLUSH_TIMEOUT_MS + 1).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
    }
}
