//! Storm control: one panic site may send at most [`EVENTS_PER_WINDOW`] events
//! per [`WINDOW`]. The rest are counted, and the count rides on the next event
//! from that site (`extra["libstatus.suppressed_since_last"]`), so the server
//! still learns how often it happened. A panic loop in a host thread therefore
//! costs a handful of events, not a flood, and the memory used is bounded by
//! [`MAX_SITES`].

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Events one site may send per window.
pub const EVENTS_PER_WINDOW: u32 = 5;
/// The window: one minute.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Sites tracked at once; the least recently seen is forgotten first, and its
/// unreported count moves to the next admitted event of any site.
pub const MAX_SITES: usize = 256;

/// The verdict for one panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Report it, with the number of panics from the same site suppressed
    /// since the last admitted one (and from forgotten sites).
    Admit { suppressed_here: u64, suppressed_elsewhere: u64 },
    /// Count it; do not report it.
    Suppress,
}

#[derive(Debug)]
struct Site {
    window_start: Instant,
    admitted_in_window: u32,
    suppressed: u64,
    last_seen: Instant,
}

/// Storm control over sites named by `K` (the library's panics use a typed
/// fingerprint, `event::Fingerprint`; the simulation names sites with strings).
#[derive(Debug)]
pub struct StormLimiter<K = String> {
    per_window: u32,
    window: Duration,
    max_sites: usize,
    sites: HashMap<K, Site>,
    forgotten_suppressed: u64,
}

impl<K: Hash + Eq + Clone> Default for StormLimiter<K> {
    fn default() -> Self {
        Self::new(EVENTS_PER_WINDOW, WINDOW, MAX_SITES)
    }
}

impl<K: Hash + Eq + Clone> StormLimiter<K> {
    pub fn new(per_window: u32, window: Duration, max_sites: usize) -> Self {
        Self {
            per_window,
            window,
            max_sites: max_sites.max(1),
            sites: HashMap::new(),
            forgotten_suppressed: 0,
        }
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    pub fn admit<Q>(&mut self, fingerprint: &Q, now: Instant) -> Admission
    where
        K: Borrow<Q>,
        Q: ToOwned<Owned = K> + Hash + Eq + ?Sized,
    {
        if !self.sites.contains_key(fingerprint) && self.sites.len() >= self.max_sites {
            self.forget_oldest();
        }
        let site = self.sites.entry(fingerprint.to_owned()).or_insert(Site {
            window_start: now,
            admitted_in_window: 0,
            suppressed: 0,
            last_seen: now,
        });
        site.last_seen = now;
        if now.duration_since(site.window_start) >= self.window {
            site.window_start = now;
            site.admitted_in_window = 0;
        }
        if site.admitted_in_window >= self.per_window {
            site.suppressed += 1;
            return Admission::Suppress;
        }
        site.admitted_in_window += 1;
        Admission::Admit {
            suppressed_here: std::mem::take(&mut site.suppressed),
            suppressed_elsewhere: std::mem::take(&mut self.forgotten_suppressed),
        }
    }

    /// Panics counted but not yet attached to any event.
    #[cfg(test)]
    pub fn unreported(&self) -> u64 {
        self.forgotten_suppressed + self.sites.values().map(|s| s.suppressed).sum::<u64>()
    }

    fn forget_oldest(&mut self) {
        let oldest = self.sites.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| k.clone());
        if let Some(key) = oldest {
            if let Some(site) = self.sites.remove(&key) {
                self.forgotten_suppressed += site.suppressed;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_per_window_then_counts() {
        let mut l = StormLimiter::new(2, Duration::from_secs(60), 8);
        let t0 = Instant::now();
        assert_eq!(l.admit("a", t0), Admission::Admit { suppressed_here: 0, suppressed_elsewhere: 0 });
        assert_eq!(l.admit("a", t0), Admission::Admit { suppressed_here: 0, suppressed_elsewhere: 0 });
        for _ in 0..10 {
            assert_eq!(l.admit("a", t0), Admission::Suppress);
        }
        // Another site is independent.
        assert!(matches!(l.admit("b", t0), Admission::Admit { .. }));
        assert_eq!(l.unreported(), 10);
        let later = t0 + Duration::from_secs(61);
        assert_eq!(l.admit("a", later), Admission::Admit { suppressed_here: 10, suppressed_elsewhere: 0 });
        assert_eq!(l.unreported(), 0);
    }

    /// The window is the configured one (a re-init compares it to keep the
    /// counts: see `reporting::commit`).
    #[test]
    fn the_window_is_the_configured_one() {
        let window = Duration::from_millis(100);
        assert_eq!(StormLimiter::<String>::new(5, window, 8).window(), window);
        assert_eq!(StormLimiter::<String>::default().window(), WINDOW);
    }

    #[test]
    fn bounded_sites_keep_counts_exact() {
        let mut l = StormLimiter::new(1, Duration::from_secs(60), 2);
        let t0 = Instant::now();
        l.admit("a", t0);
        l.admit("a", t0); // suppressed
        l.admit("b", t0 + Duration::from_millis(1));
        // "c" evicts "a" (oldest), whose count moves to the next admitted event.
        let verdict = l.admit("c", t0 + Duration::from_millis(2));
        assert_eq!(verdict, Admission::Admit { suppressed_here: 0, suppressed_elsewhere: 1 });
        assert!(l.sites.len() <= 2);
    }
}
