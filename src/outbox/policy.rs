//! What a server's answer means and how long to wait: pure decisions, no
//! threads, no sockets, no clock of their own, so that the sender and a
//! simulation call the same code.
//!
//! Parsing is total: no header value can panic the sender or make it wait
//! longer than [`MAX_SERVER_WAIT`].

use std::time::{Duration, SystemTime};

pub const BACKOFF_START: Duration = Duration::from_secs(1);
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// The wait after a 429 that does not say how long (Sentry's SDKs use 60 s).
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The longest a server can make a client wait, whatever it answers.
pub const MAX_SERVER_WAIT: Duration = Duration::from_secs(24 * 3600);

/// What the server's answer means for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: delivered, delete.
    Delivered,
    /// A permanent 4xx: delete, never retry.
    Rejected(u16),
    /// Keep the report. `server_wait` is what the server asked for (429 or rate
    /// limits); `None` means our own backoff (network error, 3xx, 5xx).
    Retry { server_wait: Option<Duration> },
}

/// The verdict on one response: the outcome for the report, and a rate limit
/// the response carried for later requests (a 2xx may carry one too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: Outcome,
    pub rate_limit: Option<Duration>,
}

/// Decides what a server's answer means. `now` reads HTTP dates.
pub fn classify(
    status: u16,
    retry_after: Option<&str>,
    rate_limits: Option<&str>,
    now: SystemTime,
) -> Verdict {
    let limited = rate_limits.and_then(parse_rate_limits);
    let outcome = match status {
        200..=299 => Outcome::Delivered,
        429 => Outcome::Retry {
            server_wait: Some(
                limited
                    .or_else(|| retry_after.and_then(|v| parse_retry_after(v, now)))
                    .unwrap_or(DEFAULT_RETRY_AFTER),
            ),
        },
        // Redirects are not followed (the envelope and its credentials go to
        // the DSN's host only): a retryable failure, as in Sentry's SDKs.
        300..=399 => Outcome::Retry { server_wait: limited },
        400..=499 => Outcome::Rejected(status),
        _ => Outcome::Retry { server_wait: limited },
    };
    Verdict { outcome, rate_limit: limited }
}

/// `Retry-After`: delta-seconds (an integer, or a float as sentry-rust
/// accepts) or an HTTP date; clamped to [`MAX_SERVER_WAIT`].
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Some(seconds) = parse_seconds(value) {
        return Some(seconds);
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO).min(MAX_SERVER_WAIT))
}

/// A number of seconds, clamped to [`MAX_SERVER_WAIT`]; negative, NaN and
/// garbage are `None`.
fn parse_seconds(value: &str) -> Option<Duration> {
    if value.len() > 64 {
        return None;
    }
    let seconds = value.parse::<f64>().ok().filter(|s| *s >= 0.0 && !s.is_nan())?;
    Some(Duration::from_secs_f64(seconds.min(MAX_SERVER_WAIT.as_secs_f64())))
}

/// `X-Sentry-Rate-Limits: 60:error;transaction:key, 2700:default:organization`:
/// the longest wait among the limits that apply to error events (an empty
/// category list means every category).
pub fn parse_rate_limits(value: &str) -> Option<Duration> {
    value
        .split(',')
        .take(64)
        .filter_map(|limit| {
            let mut parts = limit.trim().split(':');
            let wait = parse_seconds(parts.next()?.trim())?;
            let categories = parts.next().unwrap_or("");
            let applies = categories.trim().is_empty()
                || categories.split(';').any(|c| matches!(c.trim(), "error" | "default"));
            applies.then_some(wait)
        })
        .max()
}

/// Our own backoff after the `failures`-th failure in a row (1-based):
/// [`BACKOFF_START`] doubling to [`BACKOFF_MAX`].
pub fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    BACKOFF_START.saturating_mul(1 << doublings).min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: u16, retry_after: Option<&str>, limits: Option<&str>) -> Outcome {
        classify(status, retry_after, limits, SystemTime::now()).outcome
    }

    #[test]
    fn classify_follows_the_sentry_rules() {
        assert_eq!(outcome(200, None, None), Outcome::Delivered);
        assert_eq!(outcome(202, None, None), Outcome::Delivered);
        assert_eq!(outcome(413, Some("5"), None), Outcome::Rejected(413));
        assert_eq!(outcome(400, None, None), Outcome::Rejected(400));
        assert_eq!(outcome(403, None, None), Outcome::Rejected(403));
        assert_eq!(
            outcome(429, Some("7"), None),
            Outcome::Retry { server_wait: Some(Duration::from_secs(7)) }
        );
        assert_eq!(outcome(429, None, None), Outcome::Retry { server_wait: Some(DEFAULT_RETRY_AFTER) });
        assert_eq!(
            outcome(429, Some("7"), Some("30:error:key")),
            Outcome::Retry { server_wait: Some(Duration::from_secs(30)) }
        );
        assert_eq!(outcome(500, None, None), Outcome::Retry { server_wait: None });
        assert_eq!(outcome(503, Some("3"), None), Outcome::Retry { server_wait: None });
        assert_eq!(outcome(301, None, None), Outcome::Retry { server_wait: None });
        assert_eq!(outcome(308, None, None), Outcome::Retry { server_wait: None });
        let ok = classify(200, None, Some("60:error:key"), SystemTime::now());
        assert_eq!(ok.outcome, Outcome::Delivered);
        assert_eq!(ok.rate_limit, Some(Duration::from_secs(60)), "a 2xx may carry a limit");
    }

    #[test]
    fn rate_limit_header_parsing() {
        assert_eq!(parse_rate_limits("60:error;transaction:key"), Some(Duration::from_secs(60)));
        assert_eq!(parse_rate_limits("60:transaction:key, 10::organization"), Some(Duration::from_secs(10)));
        assert_eq!(parse_rate_limits("60:transaction:key"), None);
        assert_eq!(parse_rate_limits("5:default:org, 9:error:key"), Some(Duration::from_secs(9)));
        assert_eq!(parse_rate_limits("garbage"), None);
    }

    #[test]
    fn hostile_values_are_clamped_never_panic() {
        let now = SystemTime::now();
        for value in
            ["1e20", "1e19", "1e308", "inf", "+inf", "18446744073709551616", "9".repeat(400).as_str()]
        {
            if let Some(wait) = parse_retry_after(value, now) {
                assert!(wait <= MAX_SERVER_WAIT, "{value}");
            }
            let limits = format!("{value}:error:key");
            if let Some(wait) = parse_rate_limits(&limits) {
                assert!(wait <= MAX_SERVER_WAIT, "{value}");
            }
        }
        assert_eq!(parse_retry_after("1e20", now), Some(MAX_SERVER_WAIT));
        for junk in ["-1", "NaN", "-inf", "", " ", "1.5.2", "\u{0}", "Wed, 99 Foo 2015"] {
            assert_eq!(parse_retry_after(junk, now), None, "{junk:?}");
        }
        assert_eq!(parse_retry_after("2.5", now), Some(Duration::from_millis(2500)));
    }

    #[test]
    fn retry_after_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO),
            "past dates"
        );
        assert_eq!(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now), Some(MAX_SERVER_WAIT));
    }

    #[test]
    fn backoff_doubles_to_its_cap() {
        assert_eq!(backoff(1), BACKOFF_START);
        assert_eq!(backoff(2), BACKOFF_START * 2);
        assert_eq!(backoff(40), BACKOFF_MAX);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }
}
