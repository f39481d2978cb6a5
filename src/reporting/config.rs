//! Which environment the library reports from, which DSN it uses, and how
//! events are labelled: the seed README's configuration tables as code.
//!
//! Build time (baked in by `build.rs`, never read from the host's environment
//! at run time): `SENTRY_CONTEXT_NAME`, `SENTRY_CONTEXT_VERSION`,
//! `SENTRY_PRODUCTION`, optional `SENTRY_DSN`. Run time: `SENTRY_ENVIRONMENT`,
//! read at `InitializeApplication`. The library never reads the host's
//! `SENTRY_DSN`, `SENTRY_RELEASE` or `SSL_VERIFY`; status-backend, a binary of
//! this crate, reads its own `SENTRY_DSN` and hands it in as a [`HostProfile`].

use super::build_env::{is_production_flag, non_empty};

/// Environments whose panics are reported. `development`, `ci-pr` and anything
/// else (or nothing) are not: we only want panics from stable code.
pub const REPORTED_ENVIRONMENTS: &[&str] = &["production", "ci-main", "ci-nightly"];

/// What `build.rs` baked into this binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildConfig {
    pub context_name: Option<&'static str>,
    pub context_version: Option<&'static str>,
    pub production: bool,
    pub dsn: Option<&'static str>,
}

impl BuildConfig {
    /// The values of this build.
    pub fn current() -> Self {
        Self {
            context_name: option_env!("LIBSTATUS_SENTRY_CONTEXT_NAME").and_then(non_empty),
            context_version: option_env!("LIBSTATUS_SENTRY_CONTEXT_VERSION").and_then(non_empty),
            production: option_env!("LIBSTATUS_SENTRY_PRODUCTION").is_some_and(is_production_flag),
            dsn: option_env!("LIBSTATUS_SENTRY_DSN").and_then(non_empty),
        }
    }
}

/// A value that must never be printed: `Debug` shows that it is set, never
/// what it is (a DSN carries the project's key).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

/// Who embeds the library, when it is not an app: a binary of this crate
/// (status-backend) sets it once at start-up, before any call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostProfile {
    /// Replaces the build's `SENTRY_CONTEXT_NAME` / `SENTRY_CONTEXT_VERSION`.
    pub context_name: Option<String>,
    pub context_version: Option<String>,
    /// A DSN from the binary's own configuration; the request's still wins.
    pub dsn: Option<Secret<String>>,
    /// status-go's status-backend reports without the metrics opt-in; apps never do.
    pub consent_required: bool,
}

/// Everything that decides whether and how panics are reported, resolved once
/// per `InitializeApplication`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportingConfig {
    /// As given (for scrubbing), and parsed once: `None` when it is not a
    /// valid DSN. Never printed.
    pub dsn: Option<Secret<String>>,
    pub parsed_dsn: Option<Secret<sentry::types::Dsn>>,
    /// Empty when unset or refused.
    pub environment: String,
    pub release: String,
    pub context_name: Option<String>,
    pub context_version: Option<String>,
    /// Whether the user's opt-in is needed (always, but for status-backend).
    pub consent_required: bool,
    /// The egress proxy (`sentryProxy`, or the environment as read at init).
    pub proxy: crate::outbox::proxy::Setting,
    /// The authorities `sentryCaCerts` adds; `None`: the Mozilla roots and
    /// the system's store only.
    pub tls: Option<Tls>,
    /// The host's own network stack carries the reports
    /// (`"transport":"host"`), not the library's sender.
    pub host_transport: bool,
}

/// A trust (its TLS configuration built on the first request), equal only
/// to itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls(pub crate::outbox::TlsConfig);

impl ReportingConfig {
    /// Resolves the configuration from the build, the embedding binary's
    /// profile (if any), the request's `sentryDSN` and the runtime
    /// `SENTRY_ENVIRONMENT`.
    pub fn resolve(
        build: &BuildConfig,
        profile: Option<&HostProfile>,
        request_dsn: Option<&str>,
        runtime_environment: Option<&str>,
    ) -> Self {
        let context_name = profile
            .and_then(|p| p.context_name.as_deref())
            .or(build.context_name)
            .and_then(non_empty)
            .map(str::to_owned);
        let context_version = profile
            .and_then(|p| p.context_version.as_deref())
            .or(build.context_version)
            .and_then(non_empty)
            .map(str::to_owned);
        let fallback_dsn = profile
            .and_then(|p| p.dsn.as_ref())
            .map(|d| d.expose().as_str())
            .and_then(non_empty)
            .or(build.dsn);
        let dsn = effective_dsn(request_dsn, fallback_dsn);
        Self {
            dsn: dsn.map(|d| Secret::new(d.to_owned())),
            parsed_dsn: dsn.and_then(|d| d.parse::<sentry::types::Dsn>().ok()).map(Secret::new),
            environment: effective_environment(build.production, runtime_environment),
            release: release(context_name.as_deref()),
            context_name,
            context_version,
            consent_required: profile.is_none_or(|p| p.consent_required),
            proxy: Default::default(),
            tls: None,
            host_transport: false,
        }
    }

    /// Why this configuration cannot report; `None` when it can. Consent is
    /// the other input: see [`super::gate`].
    pub fn blocker(&self) -> Option<Blocker> {
        match (&self.dsn, &self.parsed_dsn) {
            (None, _) => return Some(Blocker::NoDsn),
            (Some(_), None) => return Some(Blocker::InvalidDsn),
            (Some(_), Some(dsn)) => {
                if dsn.expose().scheme() == sentry::types::Scheme::Https
                    && !self.host_transport
                    && !crate::outbox::LIBRARY_TLS
                {
                    return Some(Blocker::NoLibraryTls);
                }
            }
        }
        if !is_reported_environment(&self.environment) {
            return Some(if self.environment.is_empty() {
                Blocker::NoEnvironment
            } else {
                Blocker::EnvironmentNotReported(self.environment.clone())
            });
        }
        None
    }
}

/// Why panic reporting is off (the answer's `panicReporting.reason`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocker {
    NotInitialized,
    NoDsn,
    InvalidDsn,
    /// `SENTRY_ENVIRONMENT` unset, or `production` at run time.
    NoEnvironment,
    EnvironmentNotReported(String),
    NotOptedIn,
    /// This process is a `fork()` child of the one that set the library up.
    ForkedChild,
    /// An `https://` DSN, the library's transport, and a build without TLS.
    NoLibraryTls,
}

impl std::fmt::Display for Blocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Blocker::NotInitialized => f.write_str("InitializeApplication has not been called"),
            Blocker::NoDsn => f.write_str("no Sentry DSN: the request gave no sentryDSN and the build has none"),
            Blocker::InvalidDsn => f.write_str(
                "the Sentry DSN is not valid (an http or https URL with a key, an ASCII host (an internationalised domain name in its xn-- form) and a project id)",
            ),
            Blocker::NoEnvironment => f.write_str(
                "environment not reported: SENTRY_ENVIRONMENT is unset (or was `production` at run time, which only a production build may set)",
            ),
            Blocker::EnvironmentNotReported(env) => write!(
                f,
                "environment not reported: `{env}` is not one of {}",
                REPORTED_ENVIRONMENTS.join(", ")
            ),
            Blocker::NotOptedIn => f.write_str("the user has not opted in to metrics (ToggleCentralizedMetrics)"),
            Blocker::NoLibraryTls => f.write_str(
                "the Sentry DSN is https and this build of the library has no TLS of its own (built without the `library-tls` feature): pass \"transport\":\"host\" to InitializeApplication and send the reports with the host's network stack (NextPanicReport)",
            ),
            Blocker::ForkedChild => f.write_str(
                "this process was forked from the one that initialised the library: panic reporting is off in fork() children",
            ),
        }
    }
}

/// The request's DSN wins over the build's; blanks count as absent.
pub fn effective_dsn<'a>(request: Option<&'a str>, build: Option<&'a str>) -> Option<&'a str> {
    request.and_then(non_empty).or_else(|| build.and_then(non_empty))
}

/// `production` for a production build whatever the runtime says; otherwise the
/// runtime value trimmed, where `production` is refused (empty), so that nobody
/// can make a development build pose as production.
pub fn effective_environment(production_build: bool, runtime: Option<&str>) -> String {
    if production_build {
        return "production".into();
    }
    match runtime.map(str::trim) {
        Some("production") | None => String::new(),
        Some(env) => env.to_owned(),
    }
}

pub fn is_reported_environment(environment: &str) -> bool {
    REPORTED_ENVIRONMENTS.contains(&environment)
}

/// `<context name or crate name>@<crate version>`.
pub fn release(context_name: Option<&str>) -> String {
    format!("{}@{}", context_name.unwrap_or(env!("CARGO_PKG_NAME")), env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(production: bool, dsn: Option<&'static str>) -> BuildConfig {
        BuildConfig { context_name: Some("status-desktop"), context_version: Some("2.1"), production, dsn }
    }

    #[test]
    fn production_flag_parsing() {
        for yes in ["true", "1", " true\n", "1\n", "\ttrue "] {
            assert!(is_production_flag(yes), "{yes:?}");
        }
        for no in ["", "0", "false", "TRUE", "yes", "True", "11", "t rue"] {
            assert!(!is_production_flag(no), "{no:?}");
        }
    }

    #[test]
    fn environment_table() {
        // (production build, runtime SENTRY_ENVIRONMENT) -> (effective, reported)
        let rows: &[(bool, Option<&str>, &str, bool)] = &[
            (true, None, "production", true),
            (true, Some("development"), "production", true),
            (true, Some("ci-pr"), "production", true),
            (true, Some("production"), "production", true),
            (false, Some("production"), "", false),
            (false, Some(" production\n"), "", false),
            (false, Some("ci-main"), "ci-main", true),
            (false, Some("ci-nightly\n"), "ci-nightly", true),
            (false, Some("development"), "development", false),
            (false, Some("ci-pr"), "ci-pr", false),
            (false, Some("staging"), "staging", false),
            (false, Some(""), "", false),
            (false, None, "", false),
        ];
        for &(prod, runtime, want, reported) in rows {
            let env = effective_environment(prod, runtime);
            assert_eq!(env, want, "{prod} {runtime:?}");
            assert_eq!(is_reported_environment(&env), reported, "{prod} {runtime:?}");
        }
    }

    #[test]
    fn dsn_precedence() {
        assert_eq!(effective_dsn(Some("req"), Some("build")), Some("req"));
        assert_eq!(effective_dsn(None, Some("build")), Some("build"));
        assert_eq!(effective_dsn(Some("  "), Some("build")), Some("build"));
        assert_eq!(effective_dsn(Some(""), None), None);
        assert_eq!(effective_dsn(None, None), None);
    }

    #[test]
    fn resolve_and_blockers() {
        let c = ReportingConfig::resolve(
            &build(false, None),
            None,
            Some("http://k@127.0.0.1:1/1"),
            Some("ci-main"),
        );
        assert_eq!(c.blocker(), None);
        assert_eq!(c.release, format!("status-desktop@{}", env!("CARGO_PKG_VERSION")));
        assert!(!format!("{c:?}").contains("127.0.0.1"), "Debug must hide the DSN");

        let c = ReportingConfig::resolve(&build(false, None), None, None, Some("ci-main"));
        assert_eq!(c.blocker(), Some(Blocker::NoDsn));
        let c = ReportingConfig::resolve(&build(false, None), None, Some("not a dsn"), Some("ci-main"));
        assert_eq!(c.blocker(), Some(Blocker::InvalidDsn));
        let c =
            ReportingConfig::resolve(&build(false, Some("http://k@h/1")), None, None, Some("development"));
        assert!(c.blocker().unwrap().to_string().contains("`development`"));
        let c = ReportingConfig::resolve(&build(false, Some("http://k@h/1")), None, None, Some("production"));
        assert!(c.blocker().unwrap().to_string().contains("unset"));
        let c = ReportingConfig::resolve(&build(true, Some("http://k@h/1")), None, None, Some("development"));
        assert_eq!(c.environment, "production");
        assert_eq!(c.blocker(), None);
    }

    /// The shipped library has no Unicode tables for host names (about
    /// 100 KB): a DSN names its host in ASCII, an IDN in its `xn--` form.
    #[test]
    fn a_dsn_host_is_ascii_and_an_idn_is_written_in_its_xn_form() {
        // (The host's transport: a build without TLS reads https DSNs too.)
        let resolve = |dsn| ReportingConfig {
            host_transport: true,
            ..ReportingConfig::resolve(&build(false, None), None, Some(dsn), Some("ci-main"))
        };
        assert_eq!(resolve("https://k@xn--sentr-zxa.example/1").blocker(), None);
        assert_eq!(resolve("https://k@sentry.example:8443/7").blocker(), None);
        assert_eq!(resolve("https://k@[::1]:9000/7").blocker(), None);
        let unicode = resolve("https://k@sentrÿ.example/1");
        assert_eq!(unicode.blocker(), Some(Blocker::InvalidDsn));
        assert!(unicode.blocker().unwrap().to_string().contains("xn--"));
    }

    /// A build without the library's TLS (`--no-default-features`) leaves an
    /// https DSN to the host's transport, and says so.
    #[test]
    fn an_https_dsn_needs_the_library_tls_or_the_host_transport() {
        let mut c =
            ReportingConfig::resolve(&build(false, None), None, Some("https://k@h/1"), Some("ci-main"));
        if crate::outbox::LIBRARY_TLS {
            assert_eq!(c.blocker(), None);
        } else {
            assert_eq!(c.blocker(), Some(Blocker::NoLibraryTls));
            assert!(c.blocker().unwrap().to_string().contains(r#""transport":"host""#));
        }
        c.host_transport = true;
        assert_eq!(c.blocker(), None);
        let plain =
            ReportingConfig::resolve(&build(false, None), None, Some("http://k@h/1"), Some("ci-main"));
        assert_eq!(plain.blocker(), None, "the library sends http itself in every build");
    }

    #[test]
    fn a_host_profile_replaces_context_and_consent_and_supplies_a_dsn() {
        let profile = HostProfile {
            context_name: Some("status-backend".into()),
            context_version: Some("9.9".into()),
            dsn: Some(Secret::new("http://env@h/2".into())),
            consent_required: false,
        };
        let c = ReportingConfig::resolve(
            &build(false, Some("http://k@h/1")),
            Some(&profile),
            None,
            Some("ci-main"),
        );
        assert_eq!(c.context_name.as_deref(), Some("status-backend"));
        assert_eq!(c.context_version.as_deref(), Some("9.9"));
        assert_eq!(c.dsn.as_ref().map(|d| d.expose().as_str()), Some("http://env@h/2"));
        assert!(!c.consent_required);
        assert_eq!(c.release, format!("status-backend@{}", env!("CARGO_PKG_VERSION")));
        let c = ReportingConfig::resolve(&build(false, None), Some(&profile), Some("http://req@h/3"), None);
        assert_eq!(
            c.dsn.as_ref().map(|d| d.expose().as_str()),
            Some("http://req@h/3"),
            "the request's DSN wins"
        );
        assert!(!format!("{profile:?} {c:?}").contains("req@h"), "Debug must hide every DSN");
        assert!(ReportingConfig::resolve(&build(false, None), None, None, None).consent_required);
    }

    #[test]
    fn a_secret_debug_prints_a_placeholder() {
        let dsn = Secret::new("http://k@h/1".to_owned());
        assert_eq!(format!("{dsn:?}"), "<secret>");
        assert_eq!(format!("{:?}", Some(&dsn)), "Some(<secret>)");
    }

    #[test]
    fn release_without_context_uses_crate_name() {
        assert_eq!(release(None), format!("libstatus@{}", env!("CARGO_PKG_VERSION")));
    }
}
