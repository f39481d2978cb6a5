//! The host's transport (`"transport":"host"`): the host's own network stack
//! carries the reports, the library keeps everything else.
//!
//! The host pulls the next report ([`Outbox::lease_next`]), sends it however
//! it likes, and reports what the server answered ([`Outbox::acknowledge`]).
//! What is due and may be sent is decided by the very code the library's own
//! sender runs ([`Outbox::clear_next`]: the gate, the purges, our
//! backoff, the initial delay, the send budget and the server's waits), and
//! an answer is applied by the same step ([`Outbox::apply_outcome`]: the
//! policy's classification, the waits, the deletion of a report answered for
//! good). Nothing here decides anything of its own but the lease:
//!
//! - A report handed out is *leased*: it is the one in flight (never evicted)
//!   and nothing else is handed out until its answer comes or the lease
//!   expires; then it is due again (under a new id), and the old id is no
//!   longer accepted once the report was handed out again.
//! - A purge (an opt-out) while the host holds the report deletes it like any
//!   other; its acknowledgement is then refused, so it is never counted as
//!   sent, and the next pull finds nothing (the gate is closed).
//! - A failure after the link moved on (a new DSN) is not the server's: no
//!   backoff, the report stays.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use super::policy::{self, Headers, Verdict, Wait};
use super::sender::{Next, Target};
use super::Outbox;

/// How long a host holds a report when it does not say (`leaseMs`): twice
/// the library's own request deadline.
pub const LEASE_DEFAULT: Duration = Duration::from_secs(60);

/// When nothing is pending or the gate is closed: how long a host that does
/// not wait in the pull (`waitMs`) may sleep before asking again. A new
/// report, a flush or an opt-in end a waiting pull at once.
const IDLE_RETRY: Duration = Duration::from_secs(60);

/// A report the host holds.
#[derive(Debug)]
pub(super) struct Lease {
    id: u64,
    path: PathBuf,
    epoch: u64,
    generation: u64,
    /// For the sent history, once the server took it.
    event_id: Option<String>,
    expires: Instant,
}

/// What a pull found.
#[derive(Debug)]
pub enum Pulled {
    /// Send this, then acknowledge `id`.
    Report { id: u64, url: String, headers: Vec<(&'static str, String)>, body: String, lease: Duration },
    /// Nothing may be sent now; ask again in `retry_in` at the latest.
    Nothing { retry_in: Duration, pending: usize },
}

/// What the host's request got.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// The server's answer: its status and the two headers the policy reads.
    Answered { status: u16, retry_after: Option<&'a str>, rate_limits: Option<&'a str> },
    /// No answer (no route, a refused connection, a time-out, a cancel).
    NetworkError,
}

/// What became of an acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acknowledged {
    /// Applied as the library's own sender applies an answer.
    Applied(Verdict),
    /// Not applied, and why (the report is not counted as sent).
    Refused(&'static str),
}

impl Outbox {
    /// Switches between the library's sender and the host's pulls. A report
    /// the host held is released (due again; its acknowledgement refused).
    pub fn set_host_transport(&self, host: bool) {
        let mut state = self.state.lock();
        state.host_transport = host;
        if !host && state.lease.take().is_some() {
            state.in_flight = None;
        }
        state.kicked = true;
        self.changed.notify_all();
    }

    /// The next report the host may send, leased for `lease_for`; waits up
    /// to `wait` for one to become due (a new report, a flush, an opt-in, a
    /// wait that ends), holding no lock meanwhile. `target` is the gate, as
    /// for the library's sender.
    pub fn lease_next(
        &self,
        target: &dyn Fn() -> Option<Target>,
        lease_for: Duration,
        wait: Duration,
    ) -> Pulled {
        let deadline = Instant::now() + wait;
        loop {
            // What the library's sender does before a pass: evicted reports
            // deleted, new ones made durable (on the host's sender thread,
            // never a panicking one).
            self.take_out_trash();
            self.sync_written();
            let held_until = {
                let mut state = self.state.lock();
                let now = Instant::now();
                if !state.host_transport || state.closed {
                    return Pulled::Nothing { retry_in: IDLE_RETRY, pending: state.pending };
                }
                let held = match &state.lease {
                    Some(lease) if lease.epoch != state.epoch => {
                        // Purged while held: its file is gone, it holds nothing up
                        // (kept only to refuse its acknowledgement by name).
                        state.in_flight = None;
                        None
                    }
                    Some(lease) if lease.expires > now => Some(lease.expires),
                    Some(_) => {
                        log::info!(
                            "the host did not answer for a panic report within its lease; it is due again"
                        );
                        state.lease = None;
                        state.in_flight = None;
                        None
                    }
                    None => None,
                };
                // A burst of writes settles first, as for the library's sender
                // (and then the policy's waits still apply).
                held.or(match state.settle_until {
                    Some(settle) if settle > now && !state.skip_backoff => {
                        Some(settle.max(self.not_before(&state, now)))
                    }
                    _ => {
                        state.settle_until = None;
                        state.settle_cap = None;
                        None
                    }
                })
            };
            let wake_at = match held_until {
                Some(at) => Some(at),
                None => match self.clear_next(target, true) {
                    Next::Send(cleared) => match String::from_utf8(cleared.body) {
                        Ok(body) => {
                            let mut state = self.state.lock();
                            state.last_lease += 1;
                            let id = state.last_lease;
                            state.lease = Some(Lease {
                                id,
                                path: cleared.path,
                                epoch: cleared.epoch,
                                generation: cleared.generation,
                                event_id: super::reports::event_id(body.as_bytes()),
                                expires: Instant::now() + lease_for,
                            });
                            let headers =
                                cleared.target.headers().iter().map(|(n, v)| (*n, (*v).to_owned())).collect();
                            return Pulled::Report {
                                id,
                                url: cleared.target.url,
                                headers,
                                body,
                                lease: lease_for,
                            };
                        }
                        Err(_) => {
                            // This library writes JSON envelopes only: not one of them.
                            log::warn!("removed an outbox entry that is not a report (not UTF-8)");
                            let mut state = self.state.lock();
                            super::store::remove_entry(&cleared.path);
                            state.forget(&cleared.path);
                            state.in_flight = None;
                            continue;
                        }
                    },
                    Next::Wait(at) => at,
                    Next::Blocked => None,
                },
            };
            let mut state = self.state.lock();
            let now = Instant::now();
            if now >= deadline || state.closed || !state.host_transport {
                let retry_in = wake_at.map_or(IDLE_RETRY, |at| at.saturating_duration_since(now));
                return Pulled::Nothing { retry_in, pending: state.pending };
            }
            if !state.kicked {
                let until = wake_at.map_or(deadline, |at| at.min(deadline));
                self.changed.wait_until(&mut state, until);
            }
            state.kicked = false;
        }
    }

    /// The host's answer for lease `id`, applied as the library's sender
    /// applies its own (see the module's documentation for what is refused).
    pub fn acknowledge(&self, id: u64, outcome: Outcome<'_>) -> Acknowledged {
        let lease = {
            let mut state = self.state.lock();
            let Some(lease) = state.lease.take_if(|lease| lease.id == id) else {
                return Acknowledged::Refused(
                    "no report is leased under this id (answered already, or its lease expired and it was handed out again)",
                );
            };
            if lease.epoch != state.epoch {
                state.in_flight = None;
                self.changed.notify_all();
                return Acknowledged::Refused(
                    "the report was deleted while the host held it (an opt-out): not counted as sent",
                );
            }
            lease
        };
        // A status given is the server's answer (a retry then counts as one
        // of the report's attempts); a network failure is not.
        let (classified, answered) = match outcome {
            Outcome::Answered { status, retry_after, rate_limits } => {
                (policy::classify(status, Headers { retry_after, rate_limits }, SystemTime::now()), true)
            }
            // Status 0: a network failure, for the policy.
            Outcome::NetworkError => (policy::classify(0, Headers::default(), SystemTime::now()), false),
        };
        let failed = matches!(classified.verdict, Verdict::Retry(Wait::Backoff));
        if failed && self.link.lock().generation != lease.generation {
            let mut state = self.state.lock();
            state.in_flight = None;
            state.kicked = true;
            self.changed.notify_all();
            return Acknowledged::Refused(
                "the Sentry DSN changed while the host held the report: not the server's failure; it stays",
            );
        }
        if self.apply_outcome(&lease.path, lease.epoch, classified, answered, lease.event_id) {
            Acknowledged::Applied(classified.verdict)
        } else {
            Acknowledged::Refused(
                "the report was deleted while the host held it (an opt-out): not counted as sent",
            )
        }
    }
}
