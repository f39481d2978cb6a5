//! What the user can see of the reports that left (`PanicReports`): the last
//! delivered reports, without their payloads, and the counts of what was
//! removed before it could leave.
//!
//! The history is a small JSON file in the outbox folder
//! ([`HISTORY_FILE`]): private like the reports (0600 in a 0700 folder),
//! replaced atomically, never read or written through a link, bounded
//! ([`MAX_SENT`] entries, [`MAX_AGE`]), and read as empty when it is
//! unreadable or corrupt. It holds ids, event ids and times only.
//!
//! The dropped counts are per process (since [`Dropped::since_ms`]): counting
//! them on disk would add a write to a panicking thread's path.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::files;

/// The history's file, in the outbox folder (a hidden name: never listed as
/// a report, never removed as a leftover).
pub const HISTORY_FILE: &str = ".sent-history.json";
/// At most this many delivered reports are remembered...
pub const MAX_SENT: usize = 100;
/// ...and for at most this long after they were accepted.
pub const MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);
/// A history file larger than this is not read (100 entries take about 15 KB).
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// One delivered report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sent {
    /// The report's id while it was pending.
    pub id: String,
    /// The event's id, as the server knows it.
    pub event_id: Option<String>,
    /// When the report was written (the panic), Unix milliseconds.
    pub happened_at_ms: u64,
    /// When the server accepted it, Unix milliseconds.
    pub accepted_at_ms: u64,
}

/// Serialises the history's read-modify-write cycles in this process (one
/// process per outbox folder, by its lock file).
static HISTORY: Mutex<()> = Mutex::new(());

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The delivered reports remembered in `dir`, oldest first, within the bounds.
pub fn read(dir: &Path) -> Vec<Sent> {
    let _held = HISTORY.lock().unwrap_or_else(PoisonError::into_inner);
    read_unlocked(dir)
}

fn read_unlocked(dir: &Path) -> Vec<Sent> {
    let Ok(files::Read::Bytes(bytes)) = files::read_regular(&dir.join(HISTORY_FILE), MAX_FILE_BYTES) else {
        return Vec::new();
    };
    let mut sent: Vec<Sent> = serde_json::from_slice(&bytes).unwrap_or_default();
    bound(&mut sent, now_ms());
    sent
}

/// Keeps the newest [`MAX_SENT`] entries accepted within [`MAX_AGE`].
fn bound(sent: &mut Vec<Sent>, now_ms: u64) {
    let oldest = now_ms.saturating_sub(MAX_AGE.as_millis() as u64);
    sent.retain(|s| s.accepted_at_ms >= oldest);
    let over = sent.len().saturating_sub(MAX_SENT);
    sent.drain(..over);
}

/// Adds a delivered report (the sender, off the host's threads).
pub fn record(dir: &Path, entry: Sent) {
    let _held = HISTORY.lock().unwrap_or_else(PoisonError::into_inner);
    let mut sent = read_unlocked(dir);
    sent.push(entry);
    bound(&mut sent, now_ms());
    write(dir, &sent);
}

/// Forgets every delivered report.
pub fn clear(dir: &Path) {
    let _held = HISTORY.lock().unwrap_or_else(PoisonError::into_inner);
    write(dir, &[]);
}

fn write(dir: &Path, sent: &[Sent]) {
    let Ok(bytes) = serde_json::to_vec(sent) else { return };
    // The temporary file's prefix is the outbox's, which an open cleans up.
    if let Err(e) = files::write_atomically(&dir.join(HISTORY_FILE), &bytes, ".tmp", true) {
        log::warn!("cannot write the history of delivered panic reports: {e}");
    }
}

/// Why reports were removed before they could leave, counted in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Storm control did not report a panic (its count rides on the next
    /// event from its site).
    StormControl,
    /// The outbox's bound evicted a report (or refused one over 1 MiB); its
    /// counts ride on the next event.
    OutboxBound,
    /// An opt-out (or an init without the opt-in) deleted a pending report.
    OptOut,
    /// `DeletePanicReports` deleted a pending report.
    DeletedByUser,
}

static COUNTS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
static SINCE_MS: OnceLock<u64> = OnceLock::new();

/// Counts `n` reports removed for `cause`.
pub fn count_dropped(cause: Cause, n: u64) {
    start_counting();
    COUNTS[cause as usize].fetch_add(n, Ordering::Relaxed);
}

/// Starts the counts' clock (the first outbox opened in this process).
pub fn start_counting() {
    SINCE_MS.get_or_init(now_ms);
}

/// The counts, as `PanicReports` answers them.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dropped {
    pub storm_control: u64,
    pub outbox_bound: u64,
    pub opt_out: u64,
    pub deleted_by_user: u64,
    /// Since when (Unix milliseconds): counted per process.
    pub since_ms: u64,
}

pub fn dropped() -> Dropped {
    let get = |cause: Cause| COUNTS[cause as usize].load(Ordering::Relaxed);
    Dropped {
        storm_control: get(Cause::StormControl),
        outbox_bound: get(Cause::OutboxBound),
        opt_out: get(Cause::OptOut),
        deleted_by_user: get(Cause::DeletedByUser),
        since_ms: *SINCE_MS.get_or_init(now_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, accepted_at_ms: u64) -> Sent {
        Sent { id: id.into(), event_id: Some(format!("e-{id}")), happened_at_ms: 1, accepted_at_ms }
    }

    #[test]
    fn bounded_private_and_corrupt_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..(MAX_SENT + 5) {
            record(dir.path(), entry(&i.to_string(), now_ms()));
        }
        let sent = read(dir.path());
        assert_eq!(sent.len(), MAX_SENT);
        assert_eq!(sent[0].id, "5", "the oldest go first");
        let path = dir.path().join(HISTORY_FILE);
        assert!(crate::sys::files::is_private(&std::fs::metadata(&path).unwrap()));
        std::fs::write(&path, b"{not json").unwrap();
        assert!(read(dir.path()).is_empty());
        record(dir.path(), entry("after", now_ms()));
        assert_eq!(read(dir.path()).len(), 1, "a corrupt history is started afresh");
        clear(dir.path());
        assert!(read(dir.path()).is_empty());
    }

    #[test]
    fn entries_older_than_thirty_days_are_forgotten() {
        let mut sent = vec![entry("old", 1_000), entry("new", 40 * 24 * 3600 * 1000)];
        bound(&mut sent, 40 * 24 * 3600 * 1000 + 5);
        assert_eq!(sent, [entry("new", 40 * 24 * 3600 * 1000)]);
    }

    #[test]
    fn a_link_at_the_history_s_name_is_neither_followed_nor_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, br#"[{"id":"x","eventId":null,"happenedAtMs":1,"acceptedAtMs":1}]"#)
            .unwrap();
        let folder = dir.path().join("reports");
        std::fs::create_dir(&folder).unwrap();
        if crate::sys::files::symlink(&outside, &folder.join(HISTORY_FILE)).is_err() {
            return; // (said why: a system without links as reparse points)
        }
        assert!(read(&folder).is_empty(), "never read through a link");
        record(&folder, entry("new", now_ms()));
        assert!(std::fs::symlink_metadata(folder.join(HISTORY_FILE)).unwrap().is_file());
        assert!(std::fs::read_to_string(&outside).unwrap().contains("\"x\""), "the target is untouched");
    }
}
