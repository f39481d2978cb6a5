//! The delivery policy, as pure code: what a server's answer means, how long
//! to wait before the next try, how fast one client may send, and how much
//! the outbox keeps. No threads, no sockets, no clock of its own: every
//! function takes the time (`Instant` for waits, `SystemTime` only to read an
//! HTTP date) and the random source it needs, so that the sender and the fleet
//! simulation (`sim/`) run the very same code.
//!
//! What a fleet of clients does to one server after an outage is decided here
//! (see `docs/scale.md` for the model and the figures):
//!
//! - **Our backoff** (network errors, 5xx, 3xx): exponential with "equal
//!   jitter" (the AWS architecture blog's "Exponential Backoff And Jitter"):
//!   the ceiling doubles from [`BACKOFF_START`] to [`BACKOFF_MAX`], each wait
//!   is drawn between half the ceiling and the ceiling; a delivery resets it.
//!   Clients that failed together do not come back together, and a long
//!   outage never leaves clients on short waits ([`Backoff`] says why not
//!   decorrelated jitter).
//! - **The server's waits** (`429`, `503` with `Retry-After`, and
//!   `X-Sentry-Rate-Limits` on *any* response, 2xx included) are honoured as a
//!   minimum, then spread by up to [`SERVER_WAIT_SPREAD`] of their length so a
//!   fleet told "60 s" does not return in the same second. No server can make a
//!   client wait more than [`MAX_SERVER_WAIT`]; an unreadable value on a 429
//!   means [`DEFAULT_RETRY_AFTER`].
//! - **Initial delay**: the first send after `InitializeApplication` waits a
//!   random time up to [`INITIAL_DELAY_MAX`] (a fleet launched by the same
//!   push, update or recovery does not send in the same second);
//!   `FlushPanicReports` skips it, as it skips our backoff and the budget
//!   (never the server's waits).
//! - **Send budget**: at most [`BUDGET_PER_MINUTE`] envelopes a minute per
//!   client sustained, and never more than [`BUDGET_BURST`] +
//!   [`BUDGET_PER_MINUTE`] in any minute (a token bucket), whatever its
//!   backlog (storm control is per site: 5 a minute from each of 256 sites
//!   could otherwise be 1,280). Only a `FlushPanicReports` sends what is
//!   pending (at most the outbox's bound) without waiting for the budget. A
//!   client whose panics outrun the budget evicts its oldest reports and
//!   counts them on the next event (see Bounds): the server's load is capped
//!   per client, the host's record of what happened is not lost.
//! - **Bounds**: the outbox keeps at most [`Bounds::max_items`] reports and
//!   [`Bounds::max_bytes`] bytes; past that the oldest go first ([`evictions`]).
//!
//! Parsing is total: no header value panics, overflows or waits longer than
//! [`MAX_SERVER_WAIT`] (fuzz-style test below).

use std::time::{Duration, Instant, SystemTime};

/// The longest a server can make a client wait (one day).
pub const MAX_SERVER_WAIT: Duration = Duration::from_secs(24 * 3600);
/// A 429 that says nothing readable about how long: one minute (as Sentry's SDKs).
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The first wait of our own backoff (the lower end of every draw).
pub const BACKOFF_START: Duration = Duration::from_secs(1);
/// The longest wait of our own backoff.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// The first send after `InitializeApplication` waits up to this long.
pub const INITIAL_DELAY_MAX: Duration = Duration::from_secs(5);
/// Envelopes one client may send per minute, whatever its backlog.
pub const BUDGET_PER_MINUTE: u32 = 10;
/// How many envelopes a client may send at once before the budget applies:
/// a full outbox ([`Bounds::max_items`]) goes out in one flush, and no
/// minute ever sees more than `BUDGET_BURST + BUDGET_PER_MINUTE` (40) sends.
pub const BUDGET_BURST: u32 = 30;
/// A server's wait is spread by up to this fraction of its length (so up to
/// 25 % later than asked, never earlier, never past [`MAX_SERVER_WAIT`]).
pub const SERVER_WAIT_SPREAD: f64 = 0.25;
/// Header values longer than this are not read (treated as unreadable).
pub const MAX_HEADER_LEN: usize = 4096;

/// The random source of the policy: a small seeded generator (no system
/// entropy needed, deterministic in the simulation).
pub type Rng = fastrand::Rng;

/// Every knob of the policy, with the documented values as [`Default`]. The
/// simulation varies them (jitter off, another cap); the library uses the
/// defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Jitter in our backoff, the initial delay and the spread of server waits.
    /// Off only in the simulation, to compare.
    pub jitter: bool,
    pub backoff_start: Duration,
    pub backoff_max: Duration,
    pub initial_delay_max: Duration,
    pub budget_per_minute: u32,
    pub budget_burst: u32,
    pub server_wait_spread: f64,
    pub max_server_wait: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            jitter: true,
            backoff_start: BACKOFF_START,
            backoff_max: BACKOFF_MAX,
            initial_delay_max: INITIAL_DELAY_MAX,
            budget_per_minute: BUDGET_PER_MINUTE,
            budget_burst: BUDGET_BURST,
            server_wait_spread: SERVER_WAIT_SPREAD,
            max_server_wait: MAX_SERVER_WAIT,
        }
    }
}

/// How long to wait before the next try, when a send must be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Our own jittered backoff (network error, 3xx, 5xx without a server wait).
    Backoff,
    /// What the server asked for (already clamped to [`MAX_SERVER_WAIT`]).
    Server(Duration),
}

/// What a server's answer means for the envelope that was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: delivered, delete.
    Delivered,
    /// A permanent 4xx (not 429): delete, never retry.
    Rejected(u16),
    /// Keep the envelope and try again later.
    Retry(Wait),
}

/// A verdict plus the rate limit the response carries for *later* requests
/// (`X-Sentry-Rate-Limits` on any status, 2xx included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classified {
    pub verdict: Verdict,
    /// Send nothing (of error events) for this long, whatever the verdict.
    pub rate_limit: Option<Duration>,
}

/// The response headers the policy reads (raw values, as received).
#[derive(Debug, Clone, Copy, Default)]
pub struct Headers<'a> {
    pub retry_after: Option<&'a str>,
    pub rate_limits: Option<&'a str>,
}

/// What a response means. `status` 0 (or any value outside 100..=599) is a
/// network failure; `now` is the wall clock, used only to read an HTTP-date
/// `Retry-After`.
///
/// - 2xx: delivered.
/// - 429: retry after the server's wait: `X-Sentry-Rate-Limits` for errors,
///   else `Retry-After`, else [`DEFAULT_RETRY_AFTER`].
/// - 503 with a readable `Retry-After` (HTTP's meaning: a maintenance page):
///   retry after that wait; without one, our backoff.
/// - 3xx: a retryable failure (redirects are not followed: a redirect would
///   re-send the report as a GET without a body, to another host).
/// - Other 4xx (413 included): rejected for good.
/// - 5xx, 1xx, anything else: our backoff, unless the response carries a rate
///   limit for errors, which then is the wait.
pub fn classify(status: u16, headers: Headers<'_>, now: SystemTime) -> Classified {
    let rate_limit = headers.rate_limits.and_then(parse_rate_limits);
    let retry_after = || headers.retry_after.and_then(|v| parse_retry_after(v, now));
    let verdict = match status {
        200..=299 => Verdict::Delivered,
        429 => Verdict::Retry(Wait::Server(rate_limit.or_else(retry_after).unwrap_or(DEFAULT_RETRY_AFTER))),
        300..=399 => Verdict::Retry(rate_limit.map_or(Wait::Backoff, Wait::Server)),
        400..=499 => Verdict::Rejected(status),
        503 => Verdict::Retry(rate_limit.or_else(retry_after).map_or(Wait::Backoff, Wait::Server)),
        _ => Verdict::Retry(rate_limit.map_or(Wait::Backoff, Wait::Server)),
    };
    Classified { verdict, rate_limit }
}

/// `Retry-After` as delta-seconds (an integer or, as sentry-rust accepts, a
/// decimal) or an HTTP-date. `None` when unreadable (negative, NaN, infinite,
/// garbage, too long); clamped to [`MAX_SERVER_WAIT`]; a date in the past is
/// no wait.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() || value.len() > MAX_HEADER_LEN {
        return None;
    }
    if let Some(wait) = parse_seconds(value) {
        return Some(wait);
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO).min(MAX_SERVER_WAIT))
}

/// Seconds as Sentry and HTTP write them: digits, optionally a fraction.
/// Anything `f64` reads that is finite and non-negative is accepted; the
/// result is clamped to [`MAX_SERVER_WAIT`] *before* it becomes a `Duration`
/// (so `1e20` is one day, not a panic).
pub fn parse_seconds(value: &str) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() || value.len() > 64 {
        return None;
    }
    let seconds: f64 = value.parse().ok()?;
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(seconds.min(MAX_SERVER_WAIT.as_secs_f64())))
}

/// `X-Sentry-Rate-Limits: 60:error;transaction:key, 2700:default:organization`:
/// the longest wait among the limits that apply to error events (an empty
/// category list means every category; `error` and `default` are ours).
/// Unreadable limits are skipped; `None` when none applies.
pub fn parse_rate_limits(value: &str) -> Option<Duration> {
    if value.len() > MAX_HEADER_LEN {
        return None;
    }
    value
        .split(',')
        .filter_map(|limit| {
            let mut parts = limit.trim().split(':');
            let wait = parse_seconds(parts.next()?)?;
            let categories = parts.next().unwrap_or("");
            let applies = categories.trim().is_empty()
                || categories.split(';').any(|c| matches!(c.trim(), "error" | "default"));
            applies.then_some(wait)
        })
        .max()
}

/// `now + wait`, saturating (an `Instant` cannot overflow here).
pub fn after(now: Instant, wait: Duration) -> Instant {
    now.checked_add(wait.min(MAX_SERVER_WAIT))
        .or_else(|| now.checked_add(Duration::from_secs(1)))
        .unwrap_or(now)
}

impl Policy {
    /// How long to honour a server's wait: at least `wait`, spread by up to
    /// [`Policy::server_wait_spread`] of it, never more than
    /// [`Policy::max_server_wait`].
    pub fn server_wait(&self, wait: Duration, rng: &mut Rng) -> Duration {
        let wait = wait.min(self.max_server_wait);
        if !self.jitter || self.server_wait_spread <= 0.0 {
            return wait;
        }
        let spread = wait.mul_f64(self.server_wait_spread.min(1.0) * rng.f64());
        (wait + spread).min(self.max_server_wait).max(wait)
    }

    /// The random delay before the first send after `InitializeApplication`.
    pub fn initial_delay(&self, rng: &mut Rng) -> Duration {
        if !self.jitter {
            return Duration::ZERO;
        }
        self.initial_delay_max.mul_f64(rng.f64())
    }
}

/// Our own backoff after network errors, 3xx and 5xx. Reset on delivery.
///
/// The ceiling doubles from [`Policy::backoff_start`] with each failure up to
/// [`Policy::backoff_max`]; with jitter each wait is drawn uniformly between
/// half the ceiling and the ceiling ("equal jitter" in the AWS architecture
/// blog's terms). Unlike full or decorrelated jitter, no draw ever falls back
/// to a few seconds after a long outage: the fleet simulation showed
/// decorrelated jitter (`uniform(start, 3 * last)`) keeping a third of the
/// failing fleet on short waits, so the retry rate during a long outage (and
/// the first minute after it) stayed several times higher than with plain
/// doubling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backoff {
    /// Failures since the last delivery.
    failures: u32,
}

impl Backoff {
    /// The wait after one more failure.
    pub fn next(&mut self, policy: &Policy, rng: &mut Rng) -> Duration {
        let start = policy.backoff_start.max(Duration::from_millis(1));
        let max = policy.backoff_max.max(start);
        let ceiling = start.saturating_mul(1u32 << self.failures.min(31)).min(max);
        self.failures = self.failures.saturating_add(1);
        if !policy.jitter {
            return ceiling;
        }
        (ceiling / 2 + (ceiling / 2).mul_f64(rng.f64())).clamp(start, max)
    }

    /// A delivery: the next failure starts from the beginning again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// The send budget: a token bucket of [`Policy::budget_burst`] tokens that
/// refills at [`Policy::budget_per_minute`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    tokens: f64,
    at: Option<Instant>,
}

impl Default for Budget {
    /// The documented budget, full.
    fn default() -> Self {
        Self::new(&Policy::default())
    }
}

impl Budget {
    pub fn new(policy: &Policy) -> Self {
        Self { tokens: f64::from(policy.budget_burst.max(1)), at: None }
    }

    fn refill(&mut self, policy: &Policy, now: Instant) {
        let burst = f64::from(policy.budget_burst.max(1));
        if let Some(at) = self.at {
            let elapsed = now.saturating_duration_since(at).as_secs_f64();
            self.tokens = (self.tokens + elapsed * f64::from(policy.budget_per_minute) / 60.0).min(burst);
        }
        self.at = Some(now);
    }

    /// Takes one send from the budget, or answers when the next one is
    /// available.
    pub fn take(&mut self, policy: &Policy, now: Instant) -> Result<(), Instant> {
        self.refill(policy, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        let per_second = f64::from(policy.budget_per_minute.max(1)) / 60.0;
        let missing = ((1.0 - self.tokens) / per_second).clamp(0.0, 3600.0);
        Err(after(now, Duration::from_secs_f64(missing)))
    }
}

/// How many times the server may answer a report without taking it (a 5xx,
/// a 3xx, a 429, an answer that cannot be read) before the report is dropped
/// with a count (it rides on the next event as `libstatus.dropped_reports`).
/// Network failures (no route, no name, a time-out, a reset, TLS) are not
/// attempts: an offline device keeps its reports, up to [`MAX_AGE`].
pub const MAX_ATTEMPTS: u32 = 20;

/// How old a report may grow before it is dropped with a count, sent or not
/// (sentry-native's `cache_max_age`; its `cache_max_items` is [`Bounds`]).
pub const MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Why a report written at `written` and answered `attempts` times without
/// being taken is dropped before its next request, if it is. A clock set
/// back (a report from the future) is not a reason.
pub fn expired(attempts: u32, written: SystemTime, now: SystemTime) -> Option<&'static str> {
    if attempts >= MAX_ATTEMPTS {
        Some("its attempts ran out")
    } else if now.duration_since(written).is_ok_and(|age| age > MAX_AGE) {
        Some("it grew too old")
    } else {
        None
    }
}

/// How much the outbox keeps (sentry-native keeps 30 items by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub max_items: usize,
    pub max_bytes: u64,
}

impl Default for Bounds {
    fn default() -> Self {
        Self { max_items: 30, max_bytes: 8 * 1024 * 1024 }
    }
}

/// How many of the oldest reports to evict so the rest fit the bounds, given
/// every report's size, oldest first (the newest last). The newest is never
/// evicted for size alone: at least one report stays.
pub fn evictions(sizes: &[u64], bounds: Bounds) -> usize {
    let max_items = bounds.max_items.max(1);
    let mut total: u128 = sizes.iter().map(|s| u128::from(*s)).sum();
    let mut evicted = 0;
    while sizes.len() - evicted > max_items
        || (total > u128::from(bounds.max_bytes) && sizes.len() - evicted > 1)
    {
        total -= u128::from(sizes[evicted]);
        evicted += 1;
    }
    evicted
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented bounds in use: a server may make the client wait one
    /// day at most (a Retry-After of two days waits one), and a report is
    /// kept for 30 days (29 days and 23 hours old it stays, 30 days and an
    /// hour it goes).
    #[test]
    fn a_server_waits_one_day_at_most_and_a_report_lives_thirty_days() {
        let day = Duration::from_secs(24 * 3600);
        assert_eq!(parse_seconds("172800"), Some(day));
        assert_eq!(parse_seconds("86399"), Some(day - Duration::from_secs(1)));
        let now = SystemTime::now();
        let hour = Duration::from_secs(3600);
        assert_eq!(expired(0, now - (30 * day - hour), now), None);
        assert_eq!(expired(0, now - (30 * day + hour), now), Some("it grew too old"));
    }

    const NOW: Duration = Duration::from_secs(1_700_000_000);

    fn now_wall() -> SystemTime {
        SystemTime::UNIX_EPOCH + NOW
    }

    fn classify_str(status: u16, retry_after: Option<&str>, rate_limits: Option<&str>) -> Classified {
        classify(status, Headers { retry_after, rate_limits }, now_wall())
    }

    fn verdict(status: u16, retry_after: Option<&str>, rate_limits: Option<&str>) -> Verdict {
        classify_str(status, retry_after, rate_limits).verdict
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn classify_follows_the_sentry_rules() {
        assert_eq!(verdict(200, None, None), Verdict::Delivered);
        assert_eq!(verdict(202, None, None), Verdict::Delivered);
        assert_eq!(verdict(413, Some("5"), None), Verdict::Rejected(413));
        assert_eq!(verdict(400, None, None), Verdict::Rejected(400));
        assert_eq!(verdict(403, None, None), Verdict::Rejected(403));
        assert_eq!(verdict(429, Some("7"), None), Verdict::Retry(Wait::Server(secs(7))));
        assert_eq!(verdict(429, None, None), Verdict::Retry(Wait::Server(DEFAULT_RETRY_AFTER)));
        assert_eq!(verdict(429, Some("7"), Some("30:error:key")), Verdict::Retry(Wait::Server(secs(30))));
        // A limit for other categories only: the 429 itself still says how long.
        assert_eq!(
            verdict(429, Some("7"), Some("30:transaction:key")),
            Verdict::Retry(Wait::Server(secs(7)))
        );
        assert_eq!(verdict(500, None, None), Verdict::Retry(Wait::Backoff));
        assert_eq!(verdict(502, Some("3"), None), Verdict::Retry(Wait::Backoff));
        assert_eq!(verdict(503, None, None), Verdict::Retry(Wait::Backoff));
        assert_eq!(verdict(503, Some("3"), None), Verdict::Retry(Wait::Server(secs(3))));
        assert_eq!(verdict(503, Some("soon"), None), Verdict::Retry(Wait::Backoff));
        assert_eq!(verdict(500, None, Some("120::organization")), Verdict::Retry(Wait::Server(secs(120))));
        assert_eq!(verdict(0, None, None), Verdict::Retry(Wait::Backoff), "a network error");
        assert_eq!(verdict(999, None, None), Verdict::Retry(Wait::Backoff));
        assert_eq!(verdict(101, None, None), Verdict::Retry(Wait::Backoff));
    }

    #[test]
    fn redirects_are_retryable_failures_not_rejections() {
        for status in [301, 302, 303, 307, 308] {
            assert_eq!(verdict(status, None, None), Verdict::Retry(Wait::Backoff), "{status}");
        }
    }

    #[test]
    fn rate_limits_on_a_2xx_apply_to_later_requests() {
        let c = classify_str(200, None, Some("60:error:key"));
        assert_eq!(c.verdict, Verdict::Delivered);
        assert_eq!(c.rate_limit, Some(secs(60)));
        assert_eq!(classify_str(200, None, Some("60:transaction:key")).rate_limit, None);
        assert_eq!(
            classify_str(200, Some("60"), None).rate_limit,
            None,
            "Retry-After alone is for this request"
        );
    }

    #[test]
    fn rate_limit_header_parsing() {
        assert_eq!(parse_rate_limits("60:error;transaction:key"), Some(secs(60)));
        assert_eq!(parse_rate_limits("60:transaction:key, 10::organization"), Some(secs(10)));
        assert_eq!(parse_rate_limits("60:transaction:key"), None);
        assert_eq!(parse_rate_limits("5:default:org, 9:error:key"), Some(secs(9)));
        assert_eq!(
            parse_rate_limits("60:error;transaction:key, 2700:default:organization"),
            Some(secs(2700))
        );
        assert_eq!(parse_rate_limits("30"), Some(secs(30)), "no category list: every category");
        assert_eq!(parse_rate_limits("2.5:error"), Some(Duration::from_millis(2500)));
        assert_eq!(parse_rate_limits(" 7 : error ; attachment : key : quota_exceeded"), Some(secs(7)));
        assert_eq!(parse_rate_limits("garbage"), None);
        assert_eq!(
            parse_rate_limits("garbage, 4:error"),
            Some(secs(4)),
            "one bad limit does not hide the others"
        );
        assert_eq!(parse_rate_limits(""), None);
        assert_eq!(parse_rate_limits("1e20:error:key"), Some(MAX_SERVER_WAIT));
        assert_eq!(parse_rate_limits("-5:error:key"), None);
        assert_eq!(parse_rate_limits("NaN:error"), None);
        assert_eq!(parse_rate_limits(&"1,".repeat(5000)), None, "too long to read");
    }

    #[test]
    fn retry_after_seconds_and_dates_are_total_and_clamped() {
        let now = now_wall();
        assert_eq!(parse_retry_after("120", now), Some(secs(120)));
        assert_eq!(parse_retry_after(" 1.5 ", now), Some(Duration::from_millis(1500)));
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("1e20", now), Some(MAX_SERVER_WAIT));
        assert_eq!(parse_retry_after("1e19", now), Some(MAX_SERVER_WAIT));
        assert_eq!(parse_retry_after("18446744073709551616", now), Some(MAX_SERVER_WAIT));
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("NaN", now), None);
        assert_eq!(parse_retry_after("inf", now), None);
        assert_eq!(parse_retry_after("-inf", now), None);
        assert_eq!(parse_retry_after("", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after(&"9".repeat(100_000), now), None);
        let in_90s = httpdate::fmt_http_date(now + secs(90));
        assert_eq!(parse_retry_after(&in_90s, now), Some(secs(90)));
        let past = httpdate::fmt_http_date(now - secs(90));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now), Some(MAX_SERVER_WAIT));
        assert_eq!(parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Sun, 99 Nov 1994 08:49:37 GMT", now), None);
        // On a 429, unreadable means the documented default.
        for bad in ["-1", "NaN", "inf", "soon", "", "1e"] {
            assert_eq!(
                verdict(429, Some(bad), None),
                Verdict::Retry(Wait::Server(DEFAULT_RETRY_AFTER)),
                "{bad}"
            );
        }
        assert_eq!(verdict(429, Some(&in_90s), None), Verdict::Retry(Wait::Server(secs(90))));
        assert_eq!(
            verdict(429, Some("1e20"), Some("1e20:error:key")),
            Verdict::Retry(Wait::Server(MAX_SERVER_WAIT))
        );
    }

    /// A header value built from pieces a hostile or broken server could send.
    fn hostile_value(rng: &mut Rng) -> String {
        const PIECES: &[&str] = &[
            "0",
            "1",
            "60",
            "-1",
            "1e19",
            "1e20",
            "1e308",
            "-0",
            "NaN",
            "inf",
            "-inf",
            "1.5",
            ".5",
            "5.",
            "18446744073709551615",
            "18446744073709551616",
            "9999999999999999999999",
            "0x10",
            ":",
            ";",
            ",",
            " ",
            "\t",
            "error",
            "default",
            "transaction",
            "key",
            "organization",
            "Sun, 06 Nov 1994",
            "08:49:37 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "é",
            "\u{0}",
            "\u{7f}",
            "+",
            "e",
            "E",
            "_",
        ];
        let n = rng.usize(0..12);
        let mut value = String::new();
        for _ in 0..n {
            if rng.u8(0..8) == 0 {
                value.push(char::from_u32(rng.u32(0..0x11_0000)).unwrap_or('?'));
            } else {
                value.push_str(PIECES[rng.usize(0..PIECES.len())]);
            }
        }
        value
    }

    #[test]
    fn no_header_value_panics_and_no_wait_exceeds_the_maximum() {
        let mut rng = Rng::with_seed(0x5eed);
        let policy = Policy::default();
        let now = Instant::now();
        for i in 0..200_000u32 {
            let retry_after = hostile_value(&mut rng);
            let rate_limits = hostile_value(&mut rng);
            let status = match i % 6 {
                0 => 429,
                1 => 503,
                2 => 200,
                3 => rng.u16(..),
                4 => 500,
                _ => 302,
            };
            let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(rng.u64(0..300_000_000_000));
            let headers = Headers { retry_after: Some(&retry_after), rate_limits: Some(&rate_limits) };
            let c = classify(status, headers, wall);
            let mut waits = vec![];
            if let Verdict::Retry(Wait::Server(w)) = c.verdict {
                waits.push(w);
            }
            waits.extend(c.rate_limit);
            for w in waits {
                assert!(w <= MAX_SERVER_WAIT, "{status} {retry_after:?} {rate_limits:?}: {w:?}");
                let honoured = policy.server_wait(w, &mut rng);
                assert!(honoured >= w && honoured <= MAX_SERVER_WAIT);
                assert!(after(now, honoured) >= now);
            }
        }
    }

    #[test]
    fn jittered_backoff_stays_within_its_bounds_and_resets() {
        let policy = Policy::default();
        let mut rng = Rng::with_seed(7);
        let mut backoff = Backoff::default();
        for n in 0..200u32 {
            let wait = backoff.next(&policy, &mut rng);
            let ceiling = BACKOFF_START.saturating_mul(1 << n.min(31)).min(BACKOFF_MAX);
            assert!(wait >= BACKOFF_START && wait <= BACKOFF_MAX, "{wait:?}");
            assert!(
                wait >= ceiling / 2 && wait <= ceiling,
                "failure {n}: {wait:?} for a ceiling of {ceiling:?}"
            );
        }
        backoff.reset();
        assert_eq!(backoff.next(&policy, &mut rng), BACKOFF_START);
    }

    #[test]
    fn jittered_backoff_spreads_clients_that_failed_together() {
        let policy = Policy::default();
        let mut rng = Rng::with_seed(11);
        // 1000 clients fail at the same instant, five times in a row.
        let mut totals: Vec<Duration> = (0..1000)
            .map(|_| {
                let mut b = Backoff::default();
                (0..5).map(|_| b.next(&policy, &mut rng)).sum()
            })
            .collect();
        totals.sort();
        let spread = totals[899] - totals[99];
        assert!(spread > Duration::from_secs(3), "80 % of the clients spread over {spread:?}");
        // Without jitter, all come back at the same instant.
        let plain = Policy { jitter: false, ..policy };
        let mut b = Backoff::default();
        let waits: Vec<u64> = (0..10).map(|_| b.next(&plain, &mut rng).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
    }

    #[test]
    fn server_waits_are_a_minimum_and_spread() {
        let policy = Policy::default();
        let mut rng = Rng::with_seed(3);
        let waits: Vec<Duration> = (0..1000).map(|_| policy.server_wait(secs(60), &mut rng)).collect();
        assert!(waits.iter().all(|w| *w >= secs(60) && *w <= secs(75)));
        assert!(*waits.iter().max().unwrap() - *waits.iter().min().unwrap() > secs(10));
        assert_eq!(policy.server_wait(secs(1_000_000), &mut rng), MAX_SERVER_WAIT);
        let plain = Policy { jitter: false, ..policy };
        assert_eq!(plain.server_wait(secs(60), &mut rng), secs(60));
    }

    #[test]
    fn initial_delay_is_small_and_random() {
        let policy = Policy::default();
        let mut rng = Rng::with_seed(5);
        let delays: Vec<Duration> = (0..1000).map(|_| policy.initial_delay(&mut rng)).collect();
        assert!(delays.iter().all(|d| *d <= INITIAL_DELAY_MAX));
        assert!(delays.iter().any(|d| *d < secs(1)) && delays.iter().any(|d| *d > secs(4)));
        assert_eq!(Policy { jitter: false, ..policy }.initial_delay(&mut rng), Duration::ZERO);
    }

    #[test]
    fn the_budget_caps_sends_per_minute_whatever_the_backlog() {
        let policy = Policy::default();
        let mut budget = Budget::new(&policy);
        let start = Instant::now();
        let mut now = start;
        let mut sent = 0;
        // A client with an endless backlog sends whenever the budget lets it.
        while now < start + secs(600) {
            match budget.take(&policy, now) {
                Ok(()) => sent += 1,
                Err(next) => {
                    assert!(next > now);
                    now = next;
                }
            }
        }
        let most = BUDGET_BURST + BUDGET_PER_MINUTE * 10;
        assert!(sent <= most && sent >= most - 2, "{sent} sends in 10 minutes");
        // Idle time refills up to the burst only.
        let mut budget = Budget::new(&policy);
        budget.take(&policy, start).unwrap();
        let later = start + secs(3600);
        let burst = (0..100).take_while(|_| budget.take(&policy, later).is_ok()).count();
        assert_eq!(burst, BUDGET_BURST as usize);
    }

    #[test]
    fn bounds_evict_the_oldest_first() {
        let bounds = Bounds::default();
        assert_eq!(evictions(&[], bounds), 0);
        assert_eq!(evictions(&[10; 30], bounds), 0);
        assert_eq!(evictions(&[10; 31], bounds), 1);
        assert_eq!(evictions(&[10; 45], bounds), 15);
        let small = Bounds { max_items: 30, max_bytes: 25 };
        assert_eq!(evictions(&[10, 10, 10], small), 1);
        assert_eq!(evictions(&[100], small), 0, "the newest is never evicted for size alone");
        assert_eq!(evictions(&[1, 1, 100], small), 2);
        assert_eq!(evictions(&[u64::MAX, u64::MAX, 1], small), 2, "no overflow");
        assert_eq!(evictions(&[1, 2, 3], Bounds { max_items: 0, max_bytes: 0 }), 2);
    }

    /// Found by mutation testing: the wait for the next send is what is
    /// missing of a token, not a whole period whatever was refilled.
    #[test]
    fn an_empty_budget_waits_only_for_the_missing_part_of_a_token() {
        let policy = Policy::default();
        let period = Duration::from_secs(60) / BUDGET_PER_MINUTE;
        let mut budget = Budget::new(&policy);
        let start = Instant::now();
        for _ in 0..BUDGET_BURST {
            budget.take(&policy, start).unwrap();
        }
        let next = budget.take(&policy, start).unwrap_err();
        assert!(next.duration_since(start).abs_diff(period) < Duration::from_millis(1), "{:?}", next - start);
        // Half a token refilled: the other half is what is left to wait.
        let halfway = start + period / 2;
        let next = budget.take(&policy, halfway).unwrap_err();
        assert!(next.duration_since(start).abs_diff(period) < Duration::from_millis(1), "{:?}", next - start);
    }

    /// Found by mutation testing: seconds longer than 64 characters are
    /// refused, whatever they say (a bound on what is parsed); 64 are read.
    #[test]
    fn seconds_are_read_up_to_sixty_four_characters() {
        let longest = format!("{}7", "0".repeat(63));
        assert_eq!(parse_seconds(&longest), Some(secs(7)));
        assert_eq!(parse_seconds(&format!("0{longest}")), None);
        assert_eq!(parse_seconds(&"0".repeat(65)), None);
        assert_eq!(parse_seconds(""), None);
        assert_eq!(parse_rate_limits(&format!("0{longest}:error")), None);
    }

    #[test]
    fn a_report_expires_after_its_attempts_or_its_age_not_a_clock_set_back() {
        let now = SystemTime::now();
        assert_eq!(expired(0, now, now), None);
        assert_eq!(expired(MAX_ATTEMPTS - 1, now - MAX_AGE, now), None);
        assert!(expired(MAX_ATTEMPTS, now, now).is_some());
        assert!(expired(0, now - MAX_AGE - Duration::from_secs(1), now).is_some());
        assert_eq!(expired(0, now + MAX_AGE * 2, now), None);
    }

    /// Found by mutation testing: the bounds are inclusive (a header of
    /// exactly `MAX_HEADER_LEN` bytes is read; an outbox of exactly
    /// `max_bytes` keeps everything).
    #[test]
    fn the_bounds_themselves_are_allowed() {
        let limit = "60:error:key";
        let exactly = format!("{limit}{}", ",".repeat(MAX_HEADER_LEN - limit.len()));
        assert_eq!(exactly.len(), MAX_HEADER_LEN);
        assert_eq!(parse_rate_limits(&exactly), Some(secs(60)));
        assert_eq!(parse_rate_limits(&format!("{exactly},")), None);
        let small = Bounds { max_items: 30, max_bytes: 25 };
        assert_eq!(evictions(&[10, 15], small), 0);
        assert_eq!(evictions(&[10, 16], small), 1);
    }
}
