//! The sender: a loop on a library thread that delivers the outbox's files,
//! oldest first.
//!
//! Right before each request, under the `link` lock, it asks the gate (the
//! `target` callback) and notes the link's generation; then, under the
//! outbox's lock, it checks that the report is still listed (no purge,
//! deletion or eviction took it since its file was read) and marks it in
//! flight. An opt-out moves the generation on under
//! the same lock and shuts down the connection in flight: a request that has
//! not written a byte yet never does, so no request starts after an
//! opt-out has answered.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::http;
use super::policy::{self, Classified, Headers, Verdict, Wait};
use super::store::{count_attempt, remove_entry, written_and_attempts, MAX_ENVELOPE_BYTES};
use super::wire::Endpoint;
use super::{Outbox, State, REQUEST_TIMEOUT};
use crate::files;

/// Where and how to deliver: built from the live DSN right before a request.
pub struct Target {
    pub endpoint: Endpoint,
    /// The envelope endpoint's URL (what a host's own sender posts to).
    pub url: String,
    pub auth: String,
    pub proxy: Option<super::proxy::Proxy>,
    /// `None`: the default trust (the Mozilla roots and the system's store).
    pub tls: Option<super::tls::Config>,
    /// How the request starts its resolver thread (the library's wrapper).
    pub spawn: http::Spawn,
}

impl Target {
    /// The request's headers (besides `Host` and `Content-Length`), for the
    /// library's client and a host's alike.
    pub(super) fn headers(&self) -> [(&'static str, &str); 3] {
        [
            ("User-Agent", USER_AGENT),
            ("Content-Type", "application/x-sentry-envelope"),
            ("X-Sentry-Auth", self.auth.as_str()),
        ]
    }
}

const USER_AGENT: &str = concat!("libstatus/", env!("CARGO_PKG_VERSION"));

/// The sender's connection in flight, and the generation an opt-out (or a
/// new DSN) moves on.
#[derive(Default)]
pub(super) struct Link {
    pub(super) generation: u64,
    live: Option<TcpStream>,
}

impl Outbox {
    /// When the next request may start: after our backoff, the initial delay
    /// and the send budget (all three skipped by a flush) and after the
    /// server's waits (never skipped).
    pub(super) fn not_before(&self, state: &State, now: Instant) -> Instant {
        let ours = if state.skip_backoff {
            [None; 3]
        } else {
            [state.retry_at, state.initial_until, state.budget_until]
        };
        ours.into_iter().chain([state.server_retry_at]).flatten().max().unwrap_or(now)
    }

    /// Takes one send from the budget: `false` (and the time it refills) when
    /// it is spent. A flush sends anyway, and its sends still count.
    fn spend_budget(&self, state: &mut State, now: Instant) -> bool {
        match state.budget.take(&self.policy, now) {
            Ok(()) => {
                state.budget_until = None;
                true
            }
            Err(_) if state.skip_backoff => true,
            Err(refill) => {
                log::debug!("send budget spent; next send in {:?}", refill.saturating_duration_since(now));
                state.budget_until = Some(refill);
                false
            }
        }
    }

    /// Ends every request in flight and makes sure no request that passed
    /// the gate before this call can start: called by an opt-out, before it
    /// answers (after the consent switch is off).
    pub fn cut_off(&self) {
        let mut link = self.link.lock();
        link.generation += 1;
        if let Some(live) = link.live.take() {
            // A reset: what the kernel still queues of the request is
            // dropped, not sent after the opt-out has answered.
            crate::sys::socket::abort(&live);
        }
    }

    /// The sender's loop; returns when the outbox is closed, releasing the
    /// claim of [`Outbox::claim_sender`] in the same step (a re-open right
    /// then starts a new sender). `target` is asked right before every
    /// request: `None` means the gate is closed.
    pub fn run_sender(&self, target: &dyn Fn() -> Option<Target>) {
        loop {
            {
                let mut state = self.state.lock();
                loop {
                    if state.closed || state.host_transport {
                        state.sender_running = false;
                        return;
                    }
                    let now = Instant::now();
                    let due = state.pending > 0 && !state.blocked && self.not_before(&state, now) <= now;
                    if due || state.kicked {
                        // A burst of writes first settles (a flush does not wait).
                        match state.settle_until {
                            Some(settle) if settle > now && !state.skip_backoff => {
                                self.changed.wait_until(&mut state, settle);
                                continue;
                            }
                            _ => {}
                        }
                        state.settle_until = None;
                        state.settle_cap = None;
                        state.kicked = false;
                        break;
                    }
                    let wake_at = if state.pending > 0 && !state.blocked {
                        self.not_before(&state, now)
                    } else {
                        now + Duration::from_secs(60)
                    };
                    self.changed.wait_until(&mut state, wake_at);
                }
            }
            self.send_pending(target);
        }
    }

    /// One pass over the files, oldest first, until one must wait.
    fn send_pending(&self, target: &dyn Fn() -> Option<Target>) {
        self.take_out_trash();
        self.sync_written();
        {
            let mut state = self.state.lock();
            if let Err(e) = self.ensure_folder(&mut state) {
                log::warn!("the panic-report folder cannot be re-opened: {e}");
            }
        }
        loop {
            let cleared = match self.clear_next(target, false) {
                Next::Send(cleared) => cleared,
                Next::Blocked => return,
                Next::Wait(_) => break,
            };
            let (classified, answered) = self.post(cleared.generation, &cleared.target, &cleared.body);
            let failed = matches!(classified.verdict, Verdict::Retry(Wait::Backoff));
            if failed && self.link.lock().generation != cleared.generation {
                // Cut off meanwhile (an opt-out, a new DSN): not the server's
                // failure; look at the gate again.
                let mut state = self.state.lock();
                state.in_flight = None;
                state.kicked = true;
                break;
            }
            let event_id = super::reports::event_id(&cleared.body);
            self.apply_outcome(&cleared.path, cleared.epoch, classified, answered, event_id);
            if matches!(classified.verdict, Verdict::Retry(_)) {
                break;
            }
        }
        let mut state = self.state.lock();
        state.pending = self.listing(&mut state).len();
        if state.pending == 0 {
            state.skip_backoff = false;
        }
        self.changed.notify_all();
    }

    /// The one decision "what is due and may be sent now", shared by the
    /// library's sender and the host's pulls ([`super::lease`]): the oldest
    /// report, once our backoff, the initial delay, the send budget and the
    /// server's waits allow a request, and only if the gate (`target`) is
    /// open and the report is still listed (no purge, deletion or eviction
    /// took it since its file was read). A report cleared
    /// here has spent one send of the budget and is the one in flight (never
    /// evicted) until [`Outbox::apply_outcome`] or the caller clears it.
    ///
    /// `for_host`: asked by the host's pull, not the library's sender. Each
    /// gets nothing while the other transport is the current one, nor while
    /// another request is in flight (a switch of transport lets the request
    /// in flight end first: a report is never sent twice at once).
    pub(super) fn clear_next(&self, target: &dyn Fn() -> Option<Target>, for_host: bool) -> Next {
        loop {
            let path = {
                let mut state = self.state.lock();
                let now = Instant::now();
                if state.closed || state.host_transport != for_host {
                    return Next::Wait(None);
                }
                if state.in_flight.is_some() {
                    return Next::Wait(Some(now + Duration::from_millis(100)));
                }
                let not_before = self.not_before(&state, now);
                if not_before > now {
                    return Next::Wait(Some(not_before));
                }
                let Some((path, _)) = self.listing(&mut state).first() else { return Next::Wait(None) };
                let path = path.clone();
                // A report the server keeps answering without taking it, or
                // one too old, is dropped unsent, its counts passed on to
                // the next event: under this lock, as an eviction is, so
                // that the two never both count it.
                let (written, attempts) = written_and_attempts(&path);
                if let Some(why) = policy::expired(attempts, written, SystemTime::now()) {
                    log::warn!("dropped a panic report: {why}");
                    let (carried, moved) = self.take_out_unsent(&mut state, &path);
                    match moved {
                        Ok(()) => state.dropped = state.dropped.saturating_add(1 + carried),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(_) => {
                            // A read-only disk: dropped (and counted) once,
                            // never sent by this process.
                            state.dropped = state.dropped.saturating_add(1 + carried);
                            state.embargoed.push(path);
                        }
                    }
                    continue;
                }
                path
            };
            let body = match files::read_regular(&path, MAX_ENVELOPE_BYTES as u64) {
                Ok(files::Read::Bytes(body)) => body,
                Ok(odd) => {
                    log::warn!("removed an outbox entry that is not a report ({odd})");
                    remove_entry(&path);
                    self.state.lock().listing = None;
                    continue;
                }
                Err(_) => {
                    // Deleted meanwhile (a purge, an eviction, a stranger).
                    self.state.lock().forget(&path);
                    continue;
                }
            };
            // The gate and the generation, in one step with respect to an
            // opt-out (whose purge the next step sees: the report is no
            // longer listed).
            let (generation, target) = {
                let link = self.link.lock();
                let Some(target) = target() else {
                    drop(link);
                    self.state.lock().blocked = true;
                    self.changed.notify_all();
                    return Next::Blocked;
                };
                (link.generation, target)
            };
            let mut state = self.state.lock();
            // Evicted while this step had let go of the lock (a panicking
            // thread made room for its report after the file was read): its
            // counts went to the dropped ones, so it must not be sent as well.
            // From here on it is in flight, which no eviction touches.
            if !self.listing(&mut state).iter().any(|(p, _)| p.as_os_str() == path.as_os_str()) {
                continue;
            }
            // Only a request spends the budget (not a file a purge or an
            // eviction took meanwhile).
            let now = Instant::now();
            if !self.spend_budget(&mut state, now) {
                return Next::Wait(state.budget_until);
            }
            state.in_flight = Some(path.clone());
            let epoch = state.epoch;
            return Next::Send(Box::new(Cleared { path, body, epoch, generation, target }));
        }
    }

    /// What a server's answer (or a network failure) to the report at `path`
    /// means, applied: the server's waits and rate limits, our backoff, and
    /// the deletion of a report answered for good (outside the lock). The
    /// one step after a request, for the library's sender and the host's
    /// acknowledgements alike. Answers `false` when a purge (an opt-out) or
    /// the user's deletion overtook the request: the report was not this
    /// request's to delete, nor is it counted as sent (`event_id` goes to
    /// the sent history otherwise).
    ///
    /// `answered_by_server`: the server answered (a status, or an answer that
    /// could not be read), not a network failure: a retry then counts as one
    /// of the report's attempts ([`policy::MAX_ATTEMPTS`], in its file name).
    pub(super) fn apply_outcome(
        &self,
        path: &Path,
        epoch: u64,
        classified: Classified,
        answered_by_server: bool,
        event_id: Option<String>,
    ) -> bool {
        let mut answered = None;
        let mut state = self.state.lock();
        state.in_flight = None;
        let current = state.epoch == epoch;
        let now = Instant::now();
        if let Some(limit) = classified.rate_limit {
            let wait = self.policy.server_wait(limit, &mut state.rng);
            state.server_retry_at = Some(policy::after(now, wait));
        }
        match classified.verdict {
            Verdict::Delivered | Verdict::Rejected(_) => {
                if let Verdict::Rejected(status) = classified.verdict {
                    log::warn!("panic report rejected by the server with HTTP {status}; deleted");
                }
                // Off the listing now, off the disk once the lock is
                // released (a deletion must not hold up a panicking thread
                // that waits for this lock). Also after a purge or a
                // deletion meanwhile (the epoch moved on), which may have
                // spared this one: answered is answered.
                state.forget(path);
                answered = Some(path.to_path_buf());
                state.backoff.reset();
                state.retry_at = None;
            }
            Verdict::Retry(Wait::Server(limit)) => {
                let wait = self.policy.server_wait(limit, &mut state.rng);
                log::info!("panic report delivery deferred by the server for {wait:?}");
                state.server_retry_at = Some(policy::after(now, wait));
            }
            Verdict::Retry(Wait::Backoff) => {
                let State { backoff, rng, .. } = &mut *state;
                let wait = backoff.next(&self.policy, rng);
                log::info!("panic report delivery failed; retrying in {wait:?}");
                state.retry_at = Some(policy::after(now, wait));
                state.skip_backoff = false;
            }
        }
        if answered_by_server && matches!(classified.verdict, Verdict::Retry(_)) && current {
            // Counted in the report's name, so that the cap holds across
            // restarts.
            if count_attempt(path).is_some() {
                state.forget(path);
                state.listing = None;
            }
        }
        let mut taken = current;
        if let Some(path) = answered {
            state.deleting = true;
            drop(state);
            let deleted = std::fs::remove_file(&path);
            // Gone already: a purge (an opt-out) or the user's deletion took
            // it while it was in flight; it is then not counted as sent.
            taken = !matches!(&deleted, Err(e) if e.kind() == std::io::ErrorKind::NotFound);
            if taken && classified.verdict == Verdict::Delivered {
                self.remember_sent(&path, event_id);
            }
            state = self.state.lock();
            state.deleting = false;
            if let Err(e) = deleted {
                if e.kind() != std::io::ErrorKind::NotFound {
                    // A read-only disk: answered for good, so never sent
                    // again by this process (it would be, at once and
                    // forever).
                    log::warn!("a panic report the server answered cannot be deleted ({e}); this process will not send it again");
                    state.embargoed.push(path);
                }
            }
        }
        state.pending = self.listing(&mut state).len();
        self.changed.notify_all();
        taken
    }
}

/// A report cleared to leave by [`Outbox::clear_next`].
pub(super) struct Cleared {
    pub path: PathBuf,
    pub body: Vec<u8>,
    /// The outbox's epoch when it went in flight (see `State::epoch`).
    pub epoch: u64,
    /// The link's generation when the gate was asked.
    pub generation: u64,
    pub target: Target,
}

/// What [`Outbox::clear_next`] found.
pub(super) enum Next {
    /// (Boxed: a target with its proxy and TLS is large.)
    Send(Box<Cleared>),
    /// Nothing may be sent before then (our backoff, the initial delay, the
    /// budget, the server's wait); `None`: nothing is pending (or the
    /// outbox is closed).
    Wait(Option<Instant>),
    /// The gate is closed.
    Blocked,
}

impl Outbox {
    /// One envelope request, unless the link moved past `generation` (an
    /// opt-out) before it could start. Failures are logged by kind only:
    /// never the host or the URL.
    /// Also says whether the server answered (a status, or an answer that
    /// could not be read): an attempt that counts towards
    /// [`policy::MAX_ATTEMPTS`].
    fn post(&self, generation: u64, target: &Target, body: &[u8]) -> (Classified, bool) {
        let headers = target.headers();
        // Asked at every step before a byte is written: while the name
        // resolves, before and after each connect.
        let guard = |socket: Option<&TcpStream>| {
            let mut link = self.link.lock();
            if link.generation != generation {
                return false;
            }
            let Some(socket) = socket else { return true };
            // Without a handle for cut_off to abort, no request.
            link.live = socket.try_clone().ok();
            link.live.is_some()
        };
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        let system = http::Client::system(target.spawn);
        let tls = target.tls.clone().unwrap_or(system.tls);
        let client = http::Client { proxy: target.proxy.clone(), tls, ..system };
        let answer = http::post(&client, &target.endpoint, &headers, body, deadline, &guard);
        {
            let mut link = self.link.lock();
            if link.generation == generation {
                link.live = None;
            }
        }
        match answer {
            Ok(response) => {
                let status = response.status;
                if (300..400).contains(&status) {
                    log::warn!(
                        "the Sentry server answered a redirect (HTTP {status}); redirects are not followed"
                    );
                }
                let headers = Headers {
                    retry_after: response.retry_after.as_deref(),
                    rate_limits: response.rate_limits.as_deref(),
                };
                (policy::classify(status, headers, SystemTime::now()), true)
            }
            Err(e) => {
                log::debug!("panic report delivery failed: {e}");
                // Status 0: a network failure, for the policy.
                let answered = matches!(e, super::wire::Failure::Protocol(_));
                (policy::classify(0, Headers::default(), SystemTime::now()), answered)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::outbox::OutboxLimits;

    /// A plain-HTTP target on loopback.
    fn target_at(port: u16) -> Target {
        let url = url::Url::parse(&format!("http://127.0.0.1:{port}/api/1/envelope/")).unwrap();
        Target {
            endpoint: Endpoint::from_url(&url).unwrap(),
            url: url.to_string(),
            auth: "Sentry sentry_key=0".into(),
            proxy: None,
            tls: None,
            spawn: http::test_spawn,
        }
    }

    /// An outbox in a temporary folder, its start-up pacing over (the sender
    /// may send at once).
    fn ready_outbox(limits: OutboxLimits) -> (tempfile::TempDir, std::sync::Arc<Outbox>) {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path(), limits).unwrap();
        outbox.state.lock().initial_until = None;
        (dir, outbox)
    }

    /// A target no request is made to in the test.
    fn target() -> Target {
        target_at(9)
    }

    /// A report that a panicking thread's write evicts while the sender has
    /// it read but not yet in flight (the gate is asked in between, without
    /// the outbox's lock) is counted as dropped and not sent: never both,
    /// which would count one panic twice. The next report goes instead.
    #[test]
    fn a_report_evicted_while_it_is_read_is_dropped_not_sent() {
        let (_dir, outbox) = ready_outbox(OutboxLimits { max_items: 2, max_bytes: 1 << 20 });
        outbox.store(b"first").unwrap();
        outbox.store(b"second").unwrap();
        let asked = Cell::new(0);
        let gate = || {
            asked.set(asked.get() + 1);
            if asked.get() == 1 {
                // "first" is read; a panic's report arrives and evicts it.
                outbox.store(b"third").unwrap();
            }
            Some(target())
        };
        let Next::Send(cleared) = outbox.clear_next(&gate, false) else {
            panic!("nothing was cleared to leave")
        };
        assert_eq!(
            String::from_utf8_lossy(&cleared.body),
            "second",
            "the evicted report was cleared to leave"
        );
        assert_eq!(asked.get(), 2);
        let state = outbox.state.lock();
        assert_eq!(state.dropped, 1, "the evicted report is counted once, as dropped");
        assert_eq!(state.in_flight.as_deref(), Some(cleared.path.as_path()));
    }

    /// A report too old to send is dropped with what it carried, counted
    /// once, its file out of the listing under the same lock as an eviction
    /// takes (so the two never both count it), and the next report leaves.
    #[test]
    fn an_expired_report_is_dropped_once_with_its_counts_and_the_next_one_leaves() {
        let dir = tempfile::tempdir().unwrap();
        // (Left by an earlier process.)
        let folder = dir.path().join(super::super::store::DIR_NAME);
        std::fs::create_dir(&folder).unwrap();
        let month_ago = SystemTime::now() - Duration::from_secs(31 * 24 * 3600);
        let nanos = month_ago.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let old = folder.join(format!("{nanos:024}-00000000-1.envelope"));
        std::fs::write(&old, br#"{"extra":{"libstatus.dropped_reports":4}}"#).unwrap();
        let outbox = Outbox::open(dir.path(), OutboxLimits::default()).unwrap();
        outbox.state.lock().initial_until = None;
        outbox.store(b"fresh").unwrap();
        let Next::Send(cleared) = outbox.clear_next(&|| Some(target()), false) else {
            panic!("nothing was cleared to leave")
        };
        assert_eq!(String::from_utf8_lossy(&cleared.body), "fresh");
        assert!(!old.exists(), "the expired report left the listing");
        assert_eq!(
            std::mem::take(&mut outbox.state.lock().dropped),
            1 + 4,
            "counted once, with what it carried"
        );
        outbox.take_out_trash();
        let left: Vec<_> = std::fs::read_dir(&folder).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(left.len(), 2, "the fresh report and the lock file: {left:?}");
    }

    /// An opt-out that lands after the gate let a report through, before its
    /// request connected: the request never starts (`cut_off` moves the
    /// generation on, which the request checks before every step), so no
    /// byte of it reaches the server after the opt-out has answered.
    #[test]
    fn a_request_the_gate_cleared_before_a_cut_off_never_starts() {
        let (_dir, outbox) = ready_outbox(OutboxLimits::default());
        outbox.store(b"a report").unwrap();
        let (port, connections) = answering_server();
        let Next::Send(cleared) = outbox.clear_next(&|| Some(target_at(port)), false) else {
            panic!("nothing was cleared to leave")
        };
        outbox.cut_off();
        let (classified, _) = outbox.post(cleared.generation, &cleared.target, &cleared.body);
        assert!(connections.try_recv().is_err(), "the request connected after the cut-off");
        assert!(matches!(classified.verdict, Verdict::Retry(Wait::Backoff)), "{:?}", classified.verdict);
    }

    /// A write lets the outbox settle before the sender syncs and sends
    /// (so that a burst's fsyncs and requests do not compete with the
    /// panicking threads still writing): the request for a report starts no
    /// sooner than [`super::super::SETTLE`] after its write. (A lower bound: a
    /// loaded machine only makes the request later.)
    #[test]
    fn the_sender_lets_a_write_settle_before_it_sends() {
        let (_dir, outbox) = ready_outbox(OutboxLimits::default());
        let (port, arrivals) = answering_server();
        let sender = std::sync::Arc::clone(&outbox);
        http::test_spawn("sender", Box::new(move || sender.run_sender(&|| Some(target_at(port))))).unwrap();
        let written = Instant::now();
        outbox.store(b"a report").unwrap();
        let arrival = arrivals.recv_timeout(Duration::from_secs(30)).expect("the report was never sent");
        outbox.close();
        let waited = arrival - written;
        assert!(waited >= super::super::SETTLE, "sent {waited:?} after its write, before the outbox settled");
    }

    /// A loopback server that answers every request 200 and hands over each
    /// request's arrival time.
    fn answering_server() -> (u16, std::sync::mpsc::Receiver<Instant>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (arrived, arrivals) = std::sync::mpsc::channel();
        let server = move || {
            for mut socket in listener.incoming().flatten() {
                let _ = arrived.send(Instant::now());
                let mut request = [0u8; 4096];
                let _ = std::io::Read::read(&mut socket, &mut request);
                let _ =
                    std::io::Write::write_all(&mut socket, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            }
        };
        http::test_spawn("server", Box::new(server)).unwrap();
        (port, arrivals)
    }

    /// A flush skips our backoff, the start-up delay and the budget until
    /// the outbox is empty, not beyond: the reports of the next panics are
    /// paced again.
    #[test]
    fn a_flush_skips_the_pacing_only_until_the_outbox_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path(), OutboxLimits::default()).unwrap();
        let (port, arrivals) = answering_server();
        outbox.store(b"a report").unwrap();
        outbox.state.lock().skip_backoff = true; // (what a flush asks)
        outbox.send_pending(&|| Some(target_at(port)));
        arrivals.recv_timeout(Duration::from_secs(30)).expect("the flushed report was not sent");
        let state = outbox.state.lock();
        assert_eq!(state.pending, 0);
        assert!(!state.skip_backoff, "the pacing stays skipped after the flush emptied the outbox");
    }

    /// Nothing is handed to a transport that is not the current one, nor
    /// by a closed outbox; while a request is in flight, the other caller is
    /// told to look again a little later (not at once: no busy loop).
    #[test]
    fn only_the_current_transport_of_an_open_outbox_gets_a_report() {
        let (_dir, outbox) = ready_outbox(OutboxLimits::default());
        outbox.store(b"a report").unwrap();
        let gate = || Some(target());
        // The library's transport is the current one: a host's pull gets nothing.
        assert!(matches!(outbox.clear_next(&gate, true), Next::Wait(None)));
        // In flight: the next caller waits, for a moment in the future.
        let Next::Send(cleared) = outbox.clear_next(&gate, false) else {
            panic!("nothing was cleared to leave")
        };
        let asked = Instant::now();
        let Next::Wait(Some(again)) = outbox.clear_next(&gate, false) else { panic!("not told to wait") };
        assert!(again > asked, "told to look again at once, while a request is in flight");
        outbox.state.lock().in_flight = None;
        drop(cleared);
        outbox.close();
        assert!(
            matches!(outbox.clear_next(&gate, false), Next::Wait(None)),
            "a closed outbox handed out a report"
        );
    }

    /// An expired report whose file vanished meanwhile (a purge, a stranger)
    /// is not counted; one whose file cannot be moved away (here its trash
    /// name is taken by a folder; a read-only disk in the field) is counted
    /// once and never sent by this process.
    #[test]
    fn an_expired_report_is_counted_only_if_it_was_there() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join(super::super::store::DIR_NAME);
        std::fs::create_dir(&folder).unwrap();
        let month_ago = SystemTime::now() - Duration::from_secs(31 * 24 * 3600);
        let nanos = month_ago.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let vanished = folder.join(format!("{nanos:024}-00000000-1.envelope"));
        let stuck = folder.join(format!("{nanos:024}-00000001-1.envelope"));
        std::fs::write(&vanished, b"{}").unwrap();
        std::fs::write(&stuck, br#"{"extra":{"libstatus.suppressed_since_last":4}}"#).unwrap();
        let outbox = Outbox::open(dir.path(), OutboxLimits::default()).unwrap();
        outbox.state.lock().initial_until = None;
        {
            let mut state = outbox.state.lock();
            assert_eq!(outbox.listing(&mut state).len(), 2);
        }
        std::fs::remove_file(&vanished).unwrap();
        let trash = folder.join(format!(".evicted-{nanos:024}-00000001-1"));
        std::fs::create_dir(&trash).unwrap();
        std::fs::write(trash.join("in the way"), b"").unwrap();
        assert!(matches!(outbox.clear_next(&|| Some(target()), false), Next::Wait(None)));
        let state = outbox.state.lock();
        assert_eq!(
            state.dropped,
            1 + 4,
            "the vanished report was counted, or the stuck one (and what it carried) was not"
        );
        // (By name: the outbox's own paths are canonical, `\\?\C:\...` on Windows.)
        let embargoed: Vec<_> = state.embargoed.iter().map(|p| p.file_name().unwrap()).collect();
        assert_eq!(embargoed, [stuck.file_name().unwrap()], "the stuck report may be sent again");
    }

    /// The sent list (what `PanicReports` shows as sent) holds the reports
    /// the server took, not those it rejected: both are deleted, only one
    /// was delivered.
    #[test]
    fn a_rejected_report_is_deleted_but_not_listed_as_sent() {
        let (_dir, outbox) = ready_outbox(OutboxLimits::default());
        let gate = || Some(target());
        for (status, id) in [(400, "rejected"), (200, "taken")] {
            outbox.store(id.as_bytes()).unwrap();
            let Next::Send(cleared) = outbox.clear_next(&gate, false) else {
                panic!("nothing was cleared to leave")
            };
            let classified = policy::classify(status, Headers::default(), SystemTime::now());
            assert!(outbox.apply_outcome(
                &cleared.path,
                cleared.epoch,
                classified,
                true,
                Some(id.to_owned())
            ));
            assert!(!cleared.path.exists(), "HTTP {status}: the report was not deleted");
        }
        let sent: Vec<_> = outbox.sent_reports().into_iter().map(|s| s.event_id).collect();
        assert_eq!(sent, [Some("taken".to_owned())]);
    }

    /// The sender keeps no connection open after a request: the server
    /// sees the connection end once it has answered (the handle `cut_off`
    /// would abort is let go, not kept until the next request).
    #[test]
    fn no_connection_stays_open_after_a_request() {
        let (_dir, outbox) = ready_outbox(OutboxLimits::default());
        outbox.store(b"a report").unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (ended, ends) = std::sync::mpsc::channel();
        let server = move || {
            let Ok((mut socket, _)) = listener.accept() else { return };
            let mut request = [0u8; 4096];
            let _ = std::io::Read::read(&mut socket, &mut request);
            let _ = std::io::Write::write_all(&mut socket, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut rest = Vec::new();
            let _ = ended.send(std::io::Read::read_to_end(&mut socket, &mut rest).map_err(|e| e.kind()));
        };
        http::test_spawn("server", Box::new(server)).unwrap();
        let Next::Send(cleared) = outbox.clear_next(&|| Some(target_at(port)), false) else {
            panic!("nothing was cleared to leave")
        };
        let (classified, _) = outbox.post(cleared.generation, &cleared.target, &cleared.body);
        assert_eq!(classified.verdict, Verdict::Delivered);
        let end = ends.recv_timeout(Duration::from_secs(30)).unwrap();
        assert!(end.is_ok(), "the connection stayed open after the answer: {end:?}");
        assert!(outbox.link.lock().live.is_none());
    }

    /// The names in the outbox's folder.
    fn names_in(outbox: &Outbox) -> Vec<String> {
        let entries = std::fs::read_dir(&outbox.dir).unwrap().flatten();
        let mut names: Vec<String> = entries.map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    /// At its bound, the outbox evicts the oldest report that is not in
    /// flight (the one in flight is the request's, whatever its age), and
    /// counts the one in flight as pending.
    #[test]
    fn the_report_in_flight_is_never_evicted_and_stays_pending() {
        let (_dir, outbox) = ready_outbox(OutboxLimits { max_items: 2, max_bytes: 1 << 20 });
        outbox.store(b"in flight").unwrap();
        let Next::Send(cleared) = outbox.clear_next(&|| Some(target()), false) else {
            panic!("nothing was cleared to leave")
        };
        for body in ["second", "third", "fourth"] {
            outbox.store(body.as_bytes()).unwrap();
        }
        assert!(cleared.path.exists(), "the report in flight was evicted");
        assert_eq!(outbox.state.lock().dropped, 1, "the second (the oldest not in flight) is evicted");
        assert_eq!(outbox.flush(Duration::ZERO), 3, "pending: the one in flight and the two kept");
    }

    /// The sender deletes what the bounds evicted (a panicking thread only
    /// renamed it), at its next pass, even one that finds the gate closed.
    #[test]
    fn the_sender_deletes_the_evicted_reports() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path(), OutboxLimits { max_items: 2, max_bytes: 1 << 20 }).unwrap();
        for body in ["first", "second", "third"] {
            outbox.store(body.as_bytes()).unwrap();
        }
        let evicted =
            |outbox: &Outbox| names_in(outbox).into_iter().filter(|n| n.starts_with(".evicted-")).count();
        assert_eq!(evicted(&outbox), 1, "{:?}", names_in(&outbox));
        outbox.send_pending(&|| None);
        assert_eq!(evicted(&outbox), 0, "{:?}", names_in(&outbox));
        assert_eq!(outbox.flush(Duration::ZERO), 2);
    }
}
