//! The library's locks: std's (a futex word each on Linux and Android, an
//! SRW lock on Windows, an os_unfair_lock on Apple), with the shape the code
//! was written for (`lock()` returns the guard; a condition variable waits on
//! `&mut guard` until a deadline).
//!
//! Why not `parking_lot`: it keeps the threads parked on any of its locks in
//! one process-wide table, guarded by locks of its own. A `fork()` taken
//! while another thread was parking or waking left that table, and the
//! word of the lock it was parked on, half-updated in the child, which then
//! hung in a lock no thread of it held (issue 22: an `InitializeApplication`
//! in a child, in the outbox's lock). A std lock is its own word and nothing
//! else: a lock the child inherits either is free, or is held by a thread
//! the child lacks, which `reporting::fork` rules out for every lock a child
//! reaches (it holds them across the fork, or the child never touches them).
//!
//! Poisoning is ignored: every critical section of the library completes its
//! writes or makes none, so a panic under a lock (caught by the guard or the
//! thread wrapper) leaves the state whole, and the next caller goes on.

use std::ops::{Deref, DerefMut};
use std::sync::PoisonError;
use std::time::Instant;

/// A mutex whose `lock` never fails (see the module's note on poisoning).
#[derive(Debug, Default)]
pub struct Mutex<T>(std::sync::Mutex<T>);

/// The guard of a [`Mutex`]; a [`Condvar`] lends it out while it waits.
pub struct MutexGuard<'a, T>(Option<std::sync::MutexGuard<'a, T>>);

impl<T> Mutex<T> {
    pub const fn new(value: T) -> Self {
        Self(std::sync::Mutex::new(value))
    }

    pub fn lock(&self) -> MutexGuard<'_, T> {
        MutexGuard(Some(self.0.lock().unwrap_or_else(PoisonError::into_inner)))
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        match &self.0 {
            Some(guard) => guard,
            // Only [`Condvar::wait_until`] empties it, and it refills it
            // before it returns.
            None => unreachable!("a guard is only empty inside Condvar::wait_until"),
        }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.0 {
            Some(guard) => guard,
            None => unreachable!("a guard is only empty inside Condvar::wait_until"),
        }
    }
}

/// What a wait ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// The deadline passed (rather than a notification).
    pub fn timed_out(self) -> bool {
        self.0
    }
}

/// A condition variable for a [`Mutex`].
#[derive(Debug, Default)]
pub struct Condvar(std::sync::Condvar);

impl Condvar {
    pub const fn new() -> Self {
        Self(std::sync::Condvar::new())
    }

    pub fn notify_all(&self) {
        self.0.notify_all();
    }

    /// Releases `guard`'s lock until notified or `deadline`, then takes it
    /// again. Callers look at their condition again (a wake-up may be
    /// spurious).
    pub fn wait_until<T>(&self, guard: &mut MutexGuard<'_, T>, deadline: Instant) -> WaitTimeoutResult {
        let timeout = deadline.saturating_duration_since(Instant::now());
        if timeout.is_zero() {
            return WaitTimeoutResult(true);
        }
        let Some(held) = guard.0.take() else {
            return WaitTimeoutResult(true);
        };
        let (held, result) = self.0.wait_timeout(held, timeout).unwrap_or_else(PoisonError::into_inner);
        guard.0 = Some(held);
        WaitTimeoutResult(result.timed_out())
    }
}

/// A reader-writer lock whose `read` and `write` never fail.
#[derive(Debug, Default)]
pub struct RwLock<T>(std::sync::RwLock<T>);

impl<T> RwLock<T> {
    pub const fn new(value: T) -> Self {
        Self(std::sync::RwLock::new(value))
    }

    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, T> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, T> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn a_wait_ends_at_its_deadline_or_when_notified_and_keeps_the_lock() {
        let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
        let (lock, changed) = &*pair;
        let mut guard = lock.lock();
        let start = Instant::now();
        assert!(changed.wait_until(&mut guard, start + Duration::from_millis(30)).timed_out());
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(changed.wait_until(&mut guard, start).timed_out(), "a past deadline does not wait");
        *guard += 1;
        drop(guard);

        let other = pair.clone();
        #[allow(clippy::disallowed_methods)] // a test's own thread
        let notifier = std::thread::spawn(move || {
            let (lock, changed) = &*other;
            std::thread::sleep(Duration::from_millis(20));
            *lock.lock() += 1;
            changed.notify_all();
        });
        let mut guard = lock.lock();
        let deadline = Instant::now() + Duration::from_secs(30);
        while *guard < 2 {
            assert!(!changed.wait_until(&mut guard, deadline).timed_out(), "notified long before");
        }
        assert_eq!(*guard, 2, "the guard holds the lock again after the wait");
        drop(guard);
        notifier.join().unwrap();
    }

    #[test]
    fn a_panic_under_a_lock_does_not_poison_it() {
        let lock = Arc::new(Mutex::new(1u8));
        let rw = Arc::new(RwLock::new(1u8));
        let (l, r) = (lock.clone(), rw.clone());
        #[allow(clippy::disallowed_methods)] // a test's own thread
        let panicked = std::thread::spawn(move || {
            let _held = l.lock();
            let _written = r.write();
            panic!("under both locks");
        })
        .join();
        assert!(panicked.is_err());
        *lock.lock() += 1;
        assert_eq!(*lock.lock(), 2);
        *rw.write() += 1;
        assert_eq!(*rw.read(), 2);
    }
}
