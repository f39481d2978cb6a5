//! What a server answers, from the bytes on the wire to the sender's wait:
//! the HTTP client's head parser (`outbox::http::parse_head`) on any bytes,
//! then `policy::classify` with the status and headers it found (or any
//! status and any header text), the two header parsers on their own, and the
//! backoff and server-wait arithmetic on what they return.
//!
//! Invariants: nothing panics; a parsed head has a status in 100..=999 that
//! is not informational (1xx are skipped), and its header values are the
//! trimmed text of the bytes; no wait exceeds `MAX_SERVER_WAIT` (so the
//! sender's `Instant + wait` cannot overflow); the verdict follows the
//! status class (2xx delivered, 429 a server wait, other 4xx rejected, 3xx
//! and the rest retried, with the server's wait only when it gave one); the
//! backoff stays within its bounds.
#![no_main]

use std::time::{Duration, Instant, SystemTime};

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use status::fuzzing::policy::{self, Headers, Policy, Rng, Verdict, Wait};
use status::fuzzing::{parse_head, MAX_HEAD};

#[derive(Arbitrary, Debug)]
struct Response {
    /// What the server sent, from the status line on.
    wire: Vec<u8>,
    status: u16,
    retry_after: Option<Vec<u8>>,
    rate_limits: Option<Vec<u8>>,
    /// The wall clock, as seconds and nanoseconds after the epoch.
    now_secs: u64,
    now_nanos: u32,
    failures: u8,
    seed: u64,
}

/// A header value as the sender sees it: text, or absent.
fn text(value: &Option<Vec<u8>>) -> Option<&str> {
    value.as_deref().and_then(|b| std::str::from_utf8(b).ok())
}

fn check(status: u16, retry_after: Option<&str>, rate_limits: Option<&str>, now: SystemTime) {
    let limited = rate_limits.and_then(policy::parse_rate_limits);
    let delayed = retry_after.and_then(|v| policy::parse_retry_after(v, now));
    for wait in [limited, delayed].into_iter().flatten() {
        assert!(wait <= policy::MAX_SERVER_WAIT, "{wait:?}");
        assert!(Instant::now().checked_add(wait).is_some());
    }
    let classified = policy::classify(status, Headers { retry_after, rate_limits }, now);
    assert_eq!(classified.rate_limit, limited);
    match (status, classified.verdict) {
        (200..=299, Verdict::Delivered) => {}
        (429, Verdict::Retry(Wait::Server(wait))) => {
            assert_eq!(wait, limited.or(delayed).unwrap_or(policy::DEFAULT_RETRY_AFTER));
        }
        (400..=499, Verdict::Rejected(s)) if status != 429 => assert_eq!(s, status),
        (503, Verdict::Retry(wait)) => {
            assert_eq!(wait, limited.or(delayed).map_or(Wait::Backoff, Wait::Server));
        }
        (s, Verdict::Retry(wait)) if !(200..=299).contains(&s) && !(400..=499).contains(&s) => {
            assert_eq!(wait, limited.map_or(Wait::Backoff, Wait::Server));
        }
        (s, verdict) => panic!("status {s} classified as {verdict:?}"),
    }
}

fuzz_target!(|r: Response| {
    let now = SystemTime::UNIX_EPOCH
        .checked_add(Duration::new(r.now_secs % (1 << 40), r.now_nanos % 1_000_000_000))
        .unwrap_or(SystemTime::UNIX_EPOCH);

    // The wire, as the client reads it: at most MAX_HEAD bytes of head.
    let mut wire = r.wire.clone();
    wire.truncate(MAX_HEAD + 2048);
    if let Ok(Some(head)) = parse_head(&mut wire) {
        assert!(
            (100..=999).contains(&head.status) && !(100..200).contains(&head.status) || head.status == 101
        );
        for value in [&head.retry_after, &head.rate_limits].into_iter().flatten() {
            assert_eq!(value.trim(), value);
        }
        check(head.status, head.retry_after.as_deref(), head.rate_limits.as_deref(), now);
    }

    // Any status with any header text (what a malformed head cannot reach).
    check(r.status, text(&r.retry_after), text(&r.rate_limits), now);

    let policy = Policy::default();
    let mut rng = Rng::with_seed(r.seed);
    let mut backoff = policy::Backoff::default();
    for _ in 0..r.failures {
        let wait = backoff.next(&policy, &mut rng);
        assert!((policy::BACKOFF_START..=policy::BACKOFF_MAX).contains(&wait), "{wait:?}");
    }
    for wait in [policy::MAX_SERVER_WAIT, Duration::MAX, Duration::ZERO] {
        assert!(policy.server_wait(wait, &mut rng) <= policy::MAX_SERVER_WAIT);
    }
});
