//! The endpoints, as plain Rust: a typed request in, a JSON answer or an
//! [`ApiError`] out. No C types, no `unsafe`, no panic handling (the guard does
//! that): the C ABI, the JNI glue and status-backend all call [`call`].

mod error;
mod request;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

pub use self::error::{ApiError, ErrorCode};
use crate::consent::{ConsentStore, MetricsInfo};
use crate::logging::{self, LogSettings};
use crate::panics::panic_intended;
use crate::reporting::{self, limiter, BuildConfig, PanicReportingStatus, ReportingConfig};

/// The answer of endpoints without a payload (status-go's convention; Android's
/// bridge checks this prefix).
pub const OK: &str = r#"{"error":""}"#;

/// The longest `timeoutMs` FlushPanicReports accepts: one minute.
pub const MAX_FLUSH_TIMEOUT_MS: i64 = 60_000;

/// Every export. The name is the C symbol, the HTTP path segment and the
/// `endpoint` tag on events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    InitializeApplication,
    ToggleCentralizedMetrics,
    CentralizedMetricsInfo,
    IntendedPanic,
    IntendedBackgroundPanic,
    FlushPanicReports,
}

/// What an endpoint takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// Nothing.
    None,
    /// A JSON object, as text.
    Json,
    /// Plain text.
    Text,
    /// A number.
    Int,
}

/// An endpoint's argument, decoded from the host's representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg<'a> {
    None,
    Str(&'a str),
    Int(i64),
}

impl Arg<'_> {
    /// The argument as text, for the API log.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Arg::None => None,
            Arg::Str(s) => Some((*s).to_owned()),
            Arg::Int(n) => Some(n.to_string()),
        }
    }
}

impl Endpoint {
    pub const ALL: [Endpoint; 6] = [
        Endpoint::InitializeApplication,
        Endpoint::ToggleCentralizedMetrics,
        Endpoint::CentralizedMetricsInfo,
        Endpoint::IntendedPanic,
        Endpoint::IntendedBackgroundPanic,
        Endpoint::FlushPanicReports,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Endpoint::InitializeApplication => "InitializeApplication",
            Endpoint::ToggleCentralizedMetrics => "ToggleCentralizedMetrics",
            Endpoint::CentralizedMetricsInfo => "CentralizedMetricsInfo",
            Endpoint::IntendedPanic => "IntendedPanic",
            Endpoint::IntendedBackgroundPanic => "IntendedBackgroundPanic",
            Endpoint::FlushPanicReports => "FlushPanicReports",
        }
    }

    pub fn from_name(name: &str) -> Option<Endpoint> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }

    pub const fn arg_kind(self) -> ArgKind {
        match self {
            Endpoint::InitializeApplication | Endpoint::ToggleCentralizedMetrics => ArgKind::Json,
            Endpoint::CentralizedMetricsInfo => ArgKind::None,
            Endpoint::IntendedPanic | Endpoint::IntendedBackgroundPanic => ArgKind::Text,
            Endpoint::FlushPanicReports => ArgKind::Int,
        }
    }
}

/// Runs one endpoint. Panics propagate to the caller (the guard).
pub fn call(endpoint: Endpoint, arg: Arg<'_>) -> Result<String, ApiError> {
    match (endpoint, arg) {
        (Endpoint::InitializeApplication, Arg::Str(json)) => initialize_application(parse(json)?),
        (Endpoint::ToggleCentralizedMetrics, Arg::Str(json)) => toggle_centralized_metrics(parse(json)?),
        (Endpoint::CentralizedMetricsInfo, Arg::None) => centralized_metrics_info(),
        (Endpoint::IntendedPanic, Arg::Str(message)) => intended_panic(message),
        (Endpoint::IntendedBackgroundPanic, Arg::Str(message)) => intended_background_panic(message),
        (Endpoint::FlushPanicReports, Arg::Int(timeout_ms)) => flush_panic_reports(timeout_ms),
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

fn to_json<T: Serialize>(answer: &T) -> Result<String, ApiError> {
    serde_json::to_string(answer).map_err(|e| ApiError::internal(format!("cannot encode the answer: {e}")))
}

/// The state one `InitializeApplication` sets up.
struct AppState {
    consent: ConsentStore,
    metrics: MetricsInfo,
}

static APP: RwLock<Option<Arc<Mutex<AppState>>>> = RwLock::new(None);
static INITIALIZING: Mutex<()> = Mutex::new(());

fn app() -> Result<Arc<Mutex<AppState>>, ApiError> {
    APP.read().clone().ok_or_else(ApiError::not_initialized)
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
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeApplicationAnswer {
    pub centralized_metrics_info: MetricsInfo,
    pub panic_reporting: PanicReportingStatus,
}

fn initialize_application(request: InitializeApplicationRequest) -> Result<String, ApiError> {
    if request.data_dir.trim().is_empty() {
        return Err(ApiError::invalid_request("dataDir must not be empty"));
    }
    let storm_window = match request.panic_storm_window_ms {
        None => limiter::WINDOW,
        Some(ms @ 100..=3_600_000) => Duration::from_millis(ms),
        Some(ms) => {
            return Err(ApiError::invalid_request(format!(
                "panicStormWindowMs must be between 100 and 3600000, got {ms}"
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
    let _initializing = INITIALIZING.lock();
    let data_dir = PathBuf::from(&request.data_dir);
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| ApiError::internal(format!("cannot create dataDir: {e}")))?;
    let log_dir = match request.log_dir.as_deref().filter(|d| !d.trim().is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => data_dir.clone(),
    };
    logging::configure(&LogSettings {
        enabled: request.log_enabled.unwrap_or(false),
        dir: log_dir,
        level,
        to_stderr: request.log_to_stderr.unwrap_or(false),
        api_logging: request.api_logging_enabled.unwrap_or(false),
    })
    .map_err(ApiError::internal)?;

    let consent = ConsentStore::new(&data_dir);
    let metrics = consent.load();
    let runtime_environment = std::env::var("SENTRY_ENVIRONMENT").ok();
    let config = ReportingConfig::resolve(
        &BuildConfig::current(),
        reporting::host_profile().as_deref(),
        request.sentry_dsn.as_deref(),
        runtime_environment.as_deref(),
    );
    let panic_reporting = reporting::configure(config, &data_dir, metrics.enabled, storm_window)?;
    *APP.write() = Some(Arc::new(Mutex::new(AppState { consent, metrics })));
    log::info!(
        "initialized: panic reporting {} {}",
        if panic_reporting.active { "active" } else { "off:" },
        panic_reporting.reason
    );
    to_json(&InitializeApplicationAnswer { centralized_metrics_info: metrics, panic_reporting })
}

#[derive(Debug, Deserialize)]
pub struct ToggleCentralizedMetricsRequest {
    #[serde(default)]
    pub enabled: bool,
}

fn toggle_centralized_metrics(request: ToggleCentralizedMetricsRequest) -> Result<String, ApiError> {
    let app = app()?;
    let mut app = app.lock();
    let info = MetricsInfo { enabled: request.enabled, user_confirmed: true };
    // The in-memory switch first: an opt-out takes effect (and purges) even
    // when the disk refuses the write.
    reporting::set_consent(info.enabled);
    app.metrics = info;
    app.consent
        .store(info)
        .map_err(|e| ApiError::internal(format!("cannot store the metrics opt-in: {e}")))?;
    Ok(OK.to_owned())
}

fn centralized_metrics_info() -> Result<String, ApiError> {
    let metrics = app()?.lock().metrics;
    to_json(&metrics)
}

fn intended_panic(message: &str) -> Result<String, ApiError> {
    panic_intended(message.to_owned())
}

fn intended_background_panic(message: &str) -> Result<String, ApiError> {
    let message = message.to_owned();
    let thread = reporting::spawn_thread("libstatus-intended-panic", move || panic_intended(message))
        .map_err(|e| ApiError::internal(format!("cannot start a thread: {e}")))?;
    // The wrapper has reported the panic by the time the thread has ended.
    let _ = thread.join();
    Ok(OK.to_owned())
}

#[derive(Debug, Serialize)]
struct FlushAnswer {
    error: &'static str,
    pending: usize,
}

fn flush_panic_reports(timeout_ms: i64) -> Result<String, ApiError> {
    if !(0..=MAX_FLUSH_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(ApiError::invalid_request(format!(
            "timeoutMs must be between 0 and {MAX_FLUSH_TIMEOUT_MS}, got {timeout_ms}"
        )));
    }
    let pending = reporting::flush(Duration::from_millis(timeout_ms as u64));
    to_json(&FlushAnswer { error: "", pending })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_names_round_trip() {
        for endpoint in Endpoint::ALL {
            assert_eq!(Endpoint::from_name(endpoint.name()), Some(endpoint));
        }
        assert_eq!(Endpoint::from_name("Nope"), None);
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
    fn flush_timeout_is_validated() {
        assert_eq!(flush_panic_reports(-1).unwrap_err().code, ErrorCode::InvalidRequest);
        assert_eq!(
            flush_panic_reports(MAX_FLUSH_TIMEOUT_MS + 1).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
    }
}
