//! The server-response handling: `policy::classify` with any status and any
//! `Retry-After` / `X-Sentry-Rate-Limits` bytes (as the sender passes them:
//! only header values that are text), the two parsers on their own, the
//! backoff, and the sender's arithmetic on what they return.
//!
//! Invariants: nothing panics; no wait exceeds `MAX_SERVER_WAIT` (so the
//! sender's `Instant + wait` cannot overflow); the outcome follows the status
//! class (2xx delivered, 429 a server wait, other 4xx rejected, the rest our
//! own backoff unless a rate limit says more); the backoff stays within its
//! bounds and never shrinks as failures grow.
#![no_main]

use std::time::{Duration, Instant, SystemTime};

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use status::fuzzing::policy::{self, Outcome};

#[derive(Arbitrary, Debug)]
struct Response {
    status: u16,
    retry_after: Option<Vec<u8>>,
    rate_limits: Option<Vec<u8>>,
    /// The wall clock, as seconds and nanoseconds after the epoch.
    now_secs: u64,
    now_nanos: u32,
    failures: u32,
}

/// A header value as the sender sees it: text, or absent.
fn text(value: &Option<Vec<u8>>) -> Option<&str> {
    value.as_deref().and_then(|b| std::str::from_utf8(b).ok())
}

fuzz_target!(|r: Response| {
    let now = SystemTime::UNIX_EPOCH
        .checked_add(Duration::new(r.now_secs % (1 << 40), r.now_nanos % 1_000_000_000))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let (retry_after, rate_limits) = (text(&r.retry_after), text(&r.rate_limits));

    let limited = rate_limits.and_then(policy::parse_rate_limits);
    let delayed = retry_after.and_then(|v| policy::parse_retry_after(v, now));
    for wait in [limited, delayed].into_iter().flatten() {
        assert!(wait <= policy::MAX_SERVER_WAIT, "{wait:?} from {r:?}");
        assert!(Instant::now().checked_add(wait).is_some());
    }

    let verdict = policy::classify(r.status, retry_after, rate_limits, now);
    assert_eq!(verdict.rate_limit, limited, "{r:?}");
    match (r.status, verdict.outcome) {
        (200..=299, Outcome::Delivered) => {}
        (429, Outcome::Retry { server_wait: Some(wait) }) => {
            assert_eq!(wait, limited.or(delayed).unwrap_or(policy::DEFAULT_RETRY_AFTER), "{r:?}");
        }
        (400..=499, Outcome::Rejected(status)) if r.status != 429 => assert_eq!(status, r.status),
        (status, Outcome::Retry { server_wait })
            if !(200..=299).contains(&status) && !(400..=499).contains(&status) =>
        {
            assert_eq!(server_wait, limited, "{r:?}");
        }
        (_, outcome) => panic!("{r:?} classified as {outcome:?}"),
    }

    let backoff = policy::backoff(r.failures);
    assert!((policy::BACKOFF_START..=policy::BACKOFF_MAX).contains(&backoff), "{backoff:?}");
    assert!(backoff <= policy::backoff(r.failures.saturating_add(1)));
});
