//! fleet-sim: what a fleet of devices running libstatus does to one
//! self-hosted Sentry through an outage. Every device runs the library's real
//! delivery policy (`status::internals::policy`: classification and header
//! parsing, jittered backoff, the initial delay, the send budget, the outbox
//! bounds) and its real storm control (`status::internals::limiter`), driven
//! by an event queue instead of threads and sockets. Deterministic for a seed.
//!
//! The scenario (times from the start of the run):
//! - devices open and close the app (sessions of 30 min on average, 2.5 h
//!   closed in between: the app runs a sixth of the time); while it runs, it
//!   panics about once a day per device on average (a bad release), and 1 in
//!   500 panics is a panic loop (100 panics in 20 s from one site);
//! - 0 to 1 h: warm-up; 1 to 2 h: the steady state that is measured;
//! - 2 to 3 h: the server is down (connections refused, or 503);
//! - from 3 h: the server is back, with a capacity of `--capacity` requests per
//!   second (default: three times the steady rate, at least 5); requests over
//!   it in a second are answered 503;
//! - panics stop at 9 h and the run goes on until every report is delivered
//!   (or 72 h).
//!
//! `cargo run --release --features sim --bin fleet-sim -- --devices 1000000`
//! prints the figures of `docs/scale.md`; `sim/plot.py` draws the picture.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime};

use status::internals::limiter::{Admission, StormLimiter};
use status::internals::policy::{self, Backoff, Bounds, Budget, Headers, Policy, Rng, Verdict, Wait};

const SECOND: u64 = 1000;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;

/// What the model server does while it is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutageKind {
    /// Connections refused (a network error for the client).
    Refused,
    /// 503 without `Retry-After` (a proxy in front of a dead backend).
    Unavailable,
    /// The edge (load balancer) stays up and answers 503 with a
    /// `Retry-After` it draws per response, uniformly in `from..to` seconds.
    EdgeRetryAfter { from: u32, to: u32 },
}

/// What the server does when it comes back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Recovery {
    /// Nothing special: serve up to capacity, 503 above it.
    Plain,
    /// Admission control at the edge: for `window`, requests above
    /// `admit_factor` times the steady rate per second get `429` with
    /// `X-Sentry-Rate-Limits: <R>::organization`, R drawn by the edge
    /// uniformly in 0..`spread` (cheap: the edge never passes them on).
    Shed { admit_factor: f64, spread: Duration, window: Duration },
}

#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub devices: u32,
    pub seed: u64,
    pub policy: Policy,
    /// Panics per device per day (averaged over the day, app running or not).
    pub panics_per_day: f64,
    pub session_mean: Duration,
    pub closed_mean: Duration,
    /// One panic in this many is a loop.
    pub storm_one_in: u32,
    pub outage_start: Duration,
    pub outage: Duration,
    pub outage_kind: OutageKind,
    pub recovery: Recovery,
    /// Requests per second the server serves; `None`: 3x the steady rate (>= 5).
    pub capacity: Option<f64>,
    pub panics_until: Duration,
    pub give_up: Duration,
}

impl Scenario {
    pub fn new(devices: u32, seed: u64, policy: Policy) -> Self {
        Self {
            devices,
            seed,
            policy,
            panics_per_day: 1.0,
            session_mean: Duration::from_secs(30 * 60),
            closed_mean: Duration::from_secs(150 * 60),
            storm_one_in: 500,
            outage_start: Duration::from_secs(2 * 3600),
            outage: Duration::from_secs(3600),
            outage_kind: OutageKind::Refused,
            recovery: Recovery::Plain,
            capacity: None,
            panics_until: Duration::from_secs(9 * 3600),
            give_up: Duration::from_secs(72 * 3600),
        }
    }

    fn ms(d: Duration) -> u64 {
        d.as_millis() as u64
    }

    /// The expected steady request rate (one request per report).
    pub fn expected_rate(&self) -> f64 {
        f64::from(self.devices) * self.panics_per_day / 86_400.0
    }

    pub fn capacity(&self) -> f64 {
        self.capacity.unwrap_or_else(|| (3.0 * self.expected_rate()).max(5.0))
    }
}

#[derive(Debug, Clone, Copy)]
struct Report {
    created: u64,
    /// The device's running clock when it was created.
    clock: u64,
}

struct Device {
    running: bool,
    /// Start of the current session (when running).
    run_since: u64,
    quit_at: u64,
    /// Running time before `run_since`.
    clock: u64,
    /// The running clock at the recovery (set at the first event after it).
    clock_at_recovery: Option<u64>,
    reports: Vec<Report>,
    backoff: Backoff,
    budget: Budget,
    backoff_until: u64,
    server_until: u64,
    initial_until: u64,
    /// The one wake-up queued for the sender (`u64::MAX`: none).
    wake_at: u64,
    limiter: Option<Box<StormLimiter>>,
}

impl Device {
    fn new(policy: &Policy) -> Self {
        Device {
            running: false,
            run_since: 0,
            quit_at: 0,
            clock: 0,
            clock_at_recovery: None,
            reports: Vec::new(),
            backoff: Backoff::default(),
            budget: Budget::new(policy),
            backoff_until: 0,
            server_until: 0,
            initial_until: 0,
            wake_at: u64::MAX,
            limiter: None,
        }
    }

    fn clock_at(&self, t: u64) -> u64 {
        if self.running {
            self.clock + (t - self.run_since)
        } else {
            self.clock
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Launch,
    Quit,
    Panic,
    Wake,
}

/// Totals of one run.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub devices: u32,
    pub jitter: bool,
    pub capacity: f64,
    /// Mean requests per second over the steady hour before the outage.
    pub steady_rate: f64,
    /// The highest one-minute request rate after the recovery.
    pub peak_rate: f64,
    /// The same, of requests that reached the backend (not answered at the
    /// edge).
    pub peak_backend_rate: f64,
    /// The highest one-second request count after the recovery.
    pub peak_second: u32,
    /// Seconds after the recovery in which more requests reached the backend
    /// than its capacity (judged over 10-second windows).
    pub seconds_over_capacity: u32,
    /// Reports made before the recovery and still undelivered then.
    pub backlog: u64,
    /// From the recovery until 99 % / all of the backlog was delivered.
    pub drain_99: Duration,
    pub drain_all: Duration,
    /// The longest a report waited after the recovery while its app was
    /// running (the bound `docs/scale.md` states).
    pub max_running_wait: Duration,
    pub panics: u64,
    pub suppressed: u64,
    pub stored: u64,
    pub delivered: u64,
    pub evicted: u64,
    pub rejected: u64,
    pub undelivered: u64,
    pub requests: u64,
    pub events: u64,
    /// Requests per 10-second bin, from the start.
    pub per_10s: Vec<u32>,
    pub wall: Duration,
}

struct Sim<'a> {
    s: &'a Scenario,
    rng: Rng,
    base: Instant,
    wall_base: SystemTime,
    queue: BinaryHeap<Reverse<(u64, u32, Kind)>>,
    devices: Vec<Device>,
    per_second: Vec<u32>,
    admitted_second: Vec<u32>,
    /// Requests that reached the backend (not answered by the edge).
    backend_second: Vec<u32>,
    out: Outcome,
    backlog_left: u64,
    backlog_delivered: Vec<u64>,
    bounds: Bounds,
    capacity: f64,
    recovery: u64,
}

impl Sim<'_> {
    fn instant(&self, t: u64) -> Instant {
        self.base + Duration::from_millis(t)
    }

    fn ms_after(&self, t: u64, d: Duration) -> u64 {
        t.saturating_add(d.as_millis() as u64)
    }

    fn ms_of(&self, i: Instant) -> u64 {
        i.saturating_duration_since(self.base).as_millis() as u64
    }

    fn exp(&mut self, mean: Duration) -> u64 {
        let u = 1.0 - self.rng.f64(); // (0, 1]
        (-u.ln() * mean.as_millis() as f64) as u64
    }

    fn push(&mut self, t: u64, device: u32, kind: Kind) {
        self.queue.push(Reverse((t, device, kind)));
    }

    fn wake(&mut self, t: u64, d: u32) {
        let dev = &mut self.devices[d as usize];
        if dev.wake_at <= t {
            return;
        }
        dev.wake_at = t;
        self.push(t, d, Kind::Wake);
    }

    /// Panic rate while the app runs, as a mean time between panics.
    fn panic_gap(&self) -> Duration {
        let run_fraction = self.s.session_mean.as_secs_f64()
            / (self.s.session_mean.as_secs_f64() + self.s.closed_mean.as_secs_f64());
        Duration::from_secs_f64(86_400.0 * run_fraction / self.s.panics_per_day)
    }

    fn schedule_panic(&mut self, t: u64, d: u32) {
        let at = t + self.exp(self.panic_gap());
        if at < self.devices[d as usize].quit_at && at < Scenario::ms(self.s.panics_until) {
            self.push(at, d, Kind::Panic);
        }
    }

    fn start_session(&mut self, t: u64, d: u32, length: u64) {
        let initial = self.s.policy.initial_delay(&mut self.rng);
        let budget = Budget::new(&self.s.policy);
        let initial_until = self.ms_after(t, initial);
        let dev = &mut self.devices[d as usize];
        dev.running = true;
        dev.run_since = t;
        dev.quit_at = t + length;
        // A new process: its backoff, budget and server waits start afresh.
        dev.backoff = Backoff::default();
        dev.budget = budget;
        dev.backoff_until = 0;
        dev.server_until = 0;
        dev.initial_until = initial_until;
        let has_reports = !dev.reports.is_empty();
        self.push(t + length, d, Kind::Quit);
        self.schedule_panic(t, d);
        if has_reports {
            self.wake(initial_until, d);
        }
    }

    fn note_recovery(&mut self, t: u64, d: u32) {
        let recovery = self.recovery;
        let dev = &mut self.devices[d as usize];
        if t >= recovery && dev.clock_at_recovery.is_none() {
            // No state change happened between the recovery and this event.
            dev.clock_at_recovery = Some(dev.clock_at(recovery));
        }
    }

    fn panic(&mut self, t: u64, d: u32) {
        self.schedule_panic(t, d);
        let storm = self.rng.u32(0..self.s.storm_one_in.max(1)) == 0;
        let (count, site) = if storm { (100, 1000) } else { (1, self.rng.u32(0..20)) };
        let site = format!("site-{site}");
        for i in 0..count {
            let at = t + i * 200;
            self.out.panics += 1;
            let dev = &mut self.devices[d as usize];
            let limiter = dev.limiter.get_or_insert_with(Box::default);
            if limiter.admit(&site, self.base + Duration::from_millis(at)) == Admission::Suppress {
                self.out.suppressed += 1;
                continue;
            }
            let clock = dev.clock_at(at);
            dev.reports.push(Report { created: at, clock });
            self.out.stored += 1;
            // The real store's bounds: reports of 20 KiB.
            let sizes = vec![20 * 1024; dev.reports.len()];
            let evict = policy::evictions(&sizes, self.bounds);
            for report in dev.reports.drain(..evict) {
                self.out.evicted += 1;
                if report.created < self.recovery && at >= self.recovery {
                    self.backlog_left = self.backlog_left.saturating_sub(1);
                }
            }
        }
        let initial = self.devices[d as usize].initial_until;
        self.wake(t.max(initial), d);
    }

    /// The model server's answer to one request at `t`: the status, a
    /// `Retry-After` and an `X-Sentry-Rate-Limits` value.
    fn serve(&mut self, t: u64) -> (u16, Option<String>, Option<String>) {
        let second = (t / SECOND) as usize;
        if second >= self.per_second.len() {
            self.per_second.resize(second + 1, 0);
            self.admitted_second.resize(second + 1, 0);
            self.backend_second.resize(second + 1, 0);
        }
        self.per_second[second] += 1;
        self.out.requests += 1;
        let start = Scenario::ms(self.s.outage_start);
        if (start..self.recovery).contains(&t) {
            return match self.s.outage_kind {
                OutageKind::Refused => (0, None, None),
                OutageKind::Unavailable => (503, None, None),
                OutageKind::EdgeRetryAfter { from, to } => {
                    let wait = self.rng.u32(from..=to.max(from));
                    (503, Some(wait.to_string()), None)
                }
            };
        }
        if let Recovery::Shed { admit_factor, spread, window } = self.s.recovery {
            let admit = (self.out.steady_rate.max(self.s.expected_rate()) * admit_factor).max(1.0);
            if t >= self.recovery
                && t < self.recovery + Scenario::ms(window)
                && f64::from(self.backend_second[second]) >= admit
            {
                let wait = spread.as_secs_f64() * self.rng.f64();
                return (429, None, Some(format!("{wait:.0}::organization:shed")));
            }
        }
        self.backend_second[second] += 1;
        if f64::from(self.admitted_second[second]) >= self.capacity {
            return (503, None, None);
        }
        self.admitted_second[second] += 1;
        (200, None, None)
    }

    /// One attempt of the device's sender (the real sender's loop, one step).
    fn send(&mut self, t: u64, d: u32, flushing: bool) -> bool {
        let policy = self.s.policy;
        let dev = &self.devices[d as usize];
        if dev.reports.is_empty() {
            return false;
        }
        let not_before = if flushing {
            dev.server_until
        } else {
            dev.backoff_until.max(dev.server_until).max(dev.initial_until)
        };
        if t < not_before {
            if !flushing {
                self.wake(not_before, d);
            }
            return false;
        }
        let now = self.instant(t);
        // A flush skips the budget too (it sends at most the outbox's bound).
        if let Err(next) = self.devices[d as usize].budget.take(&policy, now) {
            if !flushing {
                let next = self.ms_of(next).max(t + 1);
                self.wake(next, d);
                return false;
            }
        }
        let (status, retry_after, rate_limits) = self.serve(t);
        let wall = self.wall_base + Duration::from_millis(t);
        let headers = Headers { retry_after: retry_after.as_deref(), rate_limits: rate_limits.as_deref() };
        let c = policy::classify(status, headers, wall);
        let mut ok = false;
        if let Some(limit) = c.rate_limit {
            let wait = policy.server_wait(limit, &mut self.rng);
            self.devices[d as usize].server_until = self.ms_after(t, wait);
        }
        match c.verdict {
            Verdict::Delivered | Verdict::Rejected(_) => {
                if matches!(c.verdict, Verdict::Rejected(_)) {
                    self.out.rejected += 1;
                } else {
                    self.out.delivered += 1;
                }
                let recovery = self.recovery;
                self.note_recovery(t, d);
                let dev = &mut self.devices[d as usize];
                let report = dev.reports.remove(0);
                dev.backoff.reset();
                dev.backoff_until = 0;
                if report.created < recovery && t >= recovery {
                    self.backlog_left = self.backlog_left.saturating_sub(1);
                    self.backlog_delivered.push(t - recovery);
                }
                if t >= recovery {
                    let from = report.clock.max(dev.clock_at_recovery.unwrap_or(0));
                    let waited = Duration::from_millis(dev.clock_at(t).saturating_sub(from));
                    self.out.max_running_wait = self.out.max_running_wait.max(waited);
                }
                ok = true;
            }
            Verdict::Retry(Wait::Backoff) => {
                let wait = self.devices[d as usize].backoff.next(&policy, &mut self.rng);
                self.devices[d as usize].backoff_until = self.ms_after(t, wait);
            }
            Verdict::Retry(Wait::Server(wait)) => {
                let wait = policy.server_wait(wait, &mut self.rng);
                self.devices[d as usize].server_until = self.ms_after(t, wait);
            }
        }
        if !flushing {
            self.wake(t, d);
        }
        ok
    }

    fn run(&mut self) {
        let s = self.s;
        // The stationary start: each device is running with the right odds.
        let run_fraction =
            s.session_mean.as_secs_f64() / (s.session_mean.as_secs_f64() + s.closed_mean.as_secs_f64());
        for d in 0..s.devices {
            if self.rng.f64() < run_fraction {
                let length = self.exp(s.session_mean);
                self.start_session(0, d, length);
            } else {
                let at = self.exp(s.closed_mean);
                self.push(at, d, Kind::Launch);
            }
        }
        let steady_from = Scenario::ms(s.outage_start) - HOUR;
        let mut steady_measured = false;
        let mut backlog_counted = false;
        let give_up = Scenario::ms(s.give_up);
        let panics_until = Scenario::ms(s.panics_until);
        while let Some(Reverse((t, d, kind))) = self.queue.pop() {
            if t > give_up || (t > panics_until && self.out.stored == self.out.delivered + self.out.evicted) {
                break;
            }
            if !steady_measured && t >= Scenario::ms(s.outage_start) {
                let from = (steady_from / SECOND) as usize;
                let requests: u64 =
                    self.per_second.get(from..).unwrap_or(&[]).iter().map(|c| u64::from(*c)).sum();
                self.out.steady_rate = requests as f64 / 3600.0;
                steady_measured = true;
            }
            if t >= self.recovery && !backlog_counted {
                // First event after the recovery: count the backlog once.
                let backlog: u64 = self.devices.iter().map(|dev| dev.reports.len() as u64).sum();
                self.out.backlog = backlog;
                self.backlog_left = backlog;
                backlog_counted = true;
            }
            self.out.events += 1;
            self.note_recovery(t, d);
            match kind {
                Kind::Launch => {
                    let length = self.exp(s.session_mean);
                    self.start_session(t, d, length);
                }
                Kind::Quit => {
                    // The app calls FlushPanicReports at quit: one pass that
                    // skips our backoff, the initial delay and the budget,
                    // not the server's waits; stops at the first failure.
                    while self.send(t, d, true) {}
                    let dev = &mut self.devices[d as usize];
                    dev.clock += t - dev.run_since;
                    dev.running = false;
                    dev.wake_at = u64::MAX;
                    let at = t + self.exp(s.closed_mean);
                    self.push(at, d, Kind::Launch);
                }
                Kind::Panic => {
                    if self.devices[d as usize].running {
                        self.panic(t, d);
                    }
                }
                Kind::Wake => {
                    let dev = &mut self.devices[d as usize];
                    if dev.wake_at != t || !dev.running {
                        continue;
                    }
                    dev.wake_at = u64::MAX;
                    self.send(t, d, false);
                }
            }
        }
        self.out.undelivered = self.devices.iter().map(|dev| dev.reports.len() as u64).sum();
    }

    fn finish(mut self) -> Outcome {
        let end = (Scenario::ms(self.s.panics_until) / SECOND) as usize;
        if self.per_second.len() < end {
            self.per_second.resize(end, 0);
        }
        self.backend_second.resize(self.per_second.len(), 0);
        let rec_s = (self.recovery / SECOND) as usize;
        let after = self.per_second.get(rec_s..).unwrap_or(&[]);
        let backend = self.backend_second.get(rec_s..).unwrap_or(&[]);
        let peak_minute = |series: &[u32]| {
            series
                .chunks(60)
                .map(|m| m.iter().map(|c| u64::from(*c)).sum::<u64>() as f64 / 60.0)
                .fold(0.0, f64::max)
        };
        self.out.peak_second = after.iter().copied().max().unwrap_or(0);
        // A server queues a burst for a few seconds: capacity is judged over
        // 10-second windows (each counted as 10 seconds over).
        self.out.seconds_over_capacity = 10
            * backend.chunks(10).filter(|c| f64::from(c.iter().sum::<u32>()) > 10.0 * self.capacity).count()
                as u32;
        self.out.peak_rate = peak_minute(after);
        self.out.peak_backend_rate = peak_minute(backend);
        self.out.per_10s = self.per_second.chunks(10).map(|c| c.iter().sum()).collect();
        let mut drained = std::mem::take(&mut self.backlog_delivered);
        drained.sort_unstable();
        if let Some(last) = drained.last() {
            self.out.drain_all = Duration::from_millis(*last);
            let i = ((drained.len() as f64 * 0.99).ceil() as usize).clamp(1, drained.len()) - 1;
            self.out.drain_99 = Duration::from_millis(drained[i]);
        }
        self.out
    }
}

/// Runs one scenario.
pub fn simulate(s: &Scenario) -> Outcome {
    let started = Instant::now();
    let capacity = s.capacity();
    let mut sim = Sim {
        s,
        rng: Rng::with_seed(s.seed),
        base: Instant::now(),
        wall_base: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        queue: BinaryHeap::with_capacity(s.devices as usize * 2),
        devices: (0..s.devices).map(|_| Device::new(&s.policy)).collect(),
        per_second: Vec::new(),
        admitted_second: Vec::new(),
        backend_second: Vec::new(),
        out: Outcome { devices: s.devices, jitter: s.policy.jitter, capacity, ..Outcome::default() },
        backlog_left: 0,
        backlog_delivered: Vec::new(),
        bounds: Bounds::default(),
        capacity,
        recovery: Scenario::ms(s.outage_start + s.outage),
    };
    sim.run();
    let mut out = sim.finish();
    out.wall = started.elapsed();
    out
}

fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// The side-by-side table (markdown).
pub fn table(rows: &[(String, Outcome)]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| run | steady req/s | capacity req/s | peak req/s after recovery (x steady) | peak at the backend (x steady) | peak second | seconds over capacity | backlog | 99 % drained | all drained | longest wait while running | lost beyond bounds | evicted by bounds | storm-suppressed | requests | sim time |"
    );
    let _ = writeln!(t, "|{}", "---|".repeat(16));
    for (name, o) in rows {
        let steady = o.steady_rate.max(1e-9);
        let _ = writeln!(
            t,
            "| {name} | {:.2} | {:.1} | {:.1} ({:.1}x) | {:.1} ({:.1}x) | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0}s |",
            o.steady_rate,
            o.capacity,
            o.peak_rate,
            o.peak_rate / steady,
            o.peak_backend_rate,
            o.peak_backend_rate / steady,
            o.peak_second,
            o.seconds_over_capacity,
            o.backlog,
            fmt_duration(o.drain_99),
            fmt_duration(o.drain_all),
            fmt_duration(o.max_running_wait),
            o.undelivered + o.rejected,
            o.evicted,
            o.suppressed,
            o.requests,
            o.wall.as_secs_f64(),
        );
    }
    t
}

fn write_csv(path: &str, rows: &[(String, Outcome)]) -> std::io::Result<()> {
    let mut text = String::from("t_s");
    for (name, _) in rows {
        let _ = write!(text, ",{name}");
    }
    text.push('\n');
    let len = rows.iter().map(|(_, o)| o.per_10s.len()).max().unwrap_or(0);
    for i in 0..len {
        let _ = write!(text, "{}", i * 10);
        for (_, o) in rows {
            let _ = write!(text, ",{:.3}", f64::from(o.per_10s.get(i).copied().unwrap_or(0)) / 10.0);
        }
        text.push('\n');
    }
    std::fs::write(path, text)
}

fn usage() -> ! {
    eprintln!(
        "usage: fleet-sim [--devices N[,N...]] [--seed S] [--jitter on|off|both] [--backoff-max SECS]\n\
         \x20                [--outage refused|503|edge] [--recovery plain|shed] [--capacity REQ_PER_S]\n\
         \x20                [--csv FILE]"
    );
    std::process::exit(2)
}

fn main() {
    let mut devices = vec![10_000u32, 100_000, 1_000_000];
    let mut seed = 1u64;
    let mut jitter = vec![true, false];
    let mut backoff_max = None;
    let mut outage_kind = OutageKind::Refused;
    let mut recovery = Recovery::Plain;
    let mut capacity = None;
    let mut csv = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--devices" => {
                devices = value()
                    .split(',')
                    .map(|n| n.replace('_', "").parse().unwrap_or_else(|_| usage()))
                    .collect()
            }
            "--seed" => seed = value().parse().unwrap_or_else(|_| usage()),
            "--jitter" => {
                jitter = match value().as_str() {
                    "on" => vec![true],
                    "off" => vec![false],
                    "both" => vec![true, false],
                    _ => usage(),
                }
            }
            "--backoff-max" => {
                backoff_max = Some(Duration::from_secs(value().parse().unwrap_or_else(|_| usage())))
            }
            "--outage" => {
                outage_kind = match value().as_str() {
                    "refused" => OutageKind::Refused,
                    "503" => OutageKind::Unavailable,
                    "edge" => OutageKind::EdgeRetryAfter { from: 1800, to: 5400 },
                    _ => usage(),
                }
            }
            "--recovery" => {
                recovery = match value().as_str() {
                    "plain" => Recovery::Plain,
                    "shed" => Recovery::Shed {
                        admit_factor: 1.5,
                        spread: Duration::from_secs(3600),
                        window: Duration::from_secs(2 * 3600),
                    },
                    _ => usage(),
                }
            }
            "--capacity" => capacity = Some(value().parse().unwrap_or_else(|_| usage())),
            "--csv" => csv = Some(value()),
            _ => usage(),
        }
    }
    let mut rows = Vec::new();
    for &n in &devices {
        for &j in &jitter {
            let mut policy = Policy { jitter: j, ..Policy::default() };
            if let Some(max) = backoff_max {
                policy.backoff_max = max;
            }
            let mut s = Scenario::new(n, seed, policy);
            s.outage_kind = outage_kind;
            s.recovery = recovery;
            s.capacity = capacity;
            let name = format!("{n} {}", if j { "jitter" } else { "no jitter" });
            let o = simulate(&s);
            eprintln!("{name}: {} events in {:.1}s", o.events, o.wall.as_secs_f64());
            rows.push((name, o));
        }
    }
    print!("{}", table(&rows));
    if let Some(path) = csv {
        if let Err(e) = write_csv(&path, &rows) {
            eprintln!("cannot write {path}: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smoke run CI does: a thousand devices, the whole scenario, seconds.
    #[test]
    fn smoke_a_thousand_devices_lose_nothing_and_are_deterministic() {
        let s = Scenario::new(1000, 42, Policy::default());
        let a = simulate(&s);
        assert!(a.panics > 0 && a.delivered > 0);
        assert_eq!(a.undelivered, 0, "every report is delivered by the end");
        assert_eq!(a.rejected, 0);
        assert_eq!(a.stored, a.delivered + a.evicted, "nothing lost beyond the bounds");
        assert!(a.suppressed > 0, "panic loops meet storm control");
        assert!(a.backlog > 0, "the outage left a backlog");
        let b = simulate(&s);
        assert_eq!(
            (a.requests, a.delivered, a.per_10s.clone()),
            (b.requests, b.delivered, b.per_10s),
            "same seed, same run"
        );
    }
}
