//! The outbox's files: a private folder under `dataDir`, followed when it
//! vanishes or is replaced; only regular files inside it are read, never
//! through a link, never past the size bound; the bounds (items, bytes) evict
//! the oldest valid reports, and odd files are removed rather than counted.

use std::fs::{self, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::history::{self, Cause};
use super::{policy, Identity, OpenError, Outbox, State, MAX_SETTLE, SETTLE};
use crate::files;

/// The folder under `dataDir`.
pub const DIR_NAME: &str = "panic-reports";
const LOCK_FILE: &str = ".lock";
pub(super) const SUFFIX: &str = ".envelope";
const TEMP_PREFIX: &str = ".tmp";
/// Evicted reports waiting for the sender to delete them (never sent).
const TRASH_PREFIX: &str = ".evicted-";
/// Sentry's own limit for one event item; larger files are never read.
pub const MAX_ENVELOPE_BYTES: usize = 1024 * 1024;

impl Outbox {
    /// Checks that the folder and its lock file are still the ones this
    /// outbox opened and locked; re-creates and re-locks them when they
    /// vanished or were replaced (a deleted dataDir, a link put in place).
    pub(super) fn ensure_folder(&self, state: &mut State) -> Result<(), OpenError> {
        let current = files::dir_id(&self.dir);
        let lock_path = self.dir.join(LOCK_FILE);
        // (The held lock file's identity is the one it had when locked: a
        // descriptor's inode does not change.)
        let lock_intact = || {
            let (Some((_, held)), Ok(on_disk)) = (state.lock.as_ref(), files::path_id(&lock_path)) else {
                return false;
            };
            *held == on_disk
        };
        if current.is_some() && current == state.folder && lock_intact() {
            return Ok(());
        }
        if state.folder.is_some() {
            log::warn!("the panic-report folder vanished or was replaced; re-creating it");
        }
        state.listing = None;
        files::create_private_dir(&self.dir, true).map_err(OpenError::Io)?;
        let lock = match files::open_lock_file(&lock_path) {
            Ok(lock) => lock,
            Err(e) if files::is_link_refusal(&e) || e.kind() == io::ErrorKind::InvalidInput => {
                // A link or something odd in place of the lock file: take the name back.
                remove_entry(&lock_path);
                files::open_lock_file(&lock_path).map_err(OpenError::Io)?
            }
            Err(e) => return Err(OpenError::Io(e)),
        };
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(OpenError::Locked(self.dir.clone())),
            Err(TryLockError::Error(e)) => return Err(OpenError::Io(e)),
        }
        state.folder = Some(files::path_id(&self.dir).map_err(OpenError::Io)?);
        let held: Identity = files::file_id(&lock).map_err(OpenError::Io)?;
        state.lock = Some((lock, held));
        Ok(())
    }

    /// Removes temporary files and evicted reports a crash may have left (at
    /// open only: in a running process, they are being written or deleted).
    pub(super) fn remove_temporary_files(&self) {
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with(TEMP_PREFIX) || name.starts_with(TRASH_PREFIX) {
                    remove_entry(&entry.path());
                }
            }
        }
    }

    /// [`Outbox::store_if`] without a condition (tests, fuzzing).
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn store(&self, envelope: &[u8]) -> io::Result<()> {
        self.store_if(envelope, carried_in(envelope), || true)
    }

    /// Writes one envelope (temporary file, rename), enforces the bounds, and
    /// wakes the sender. Returns once the file is in place: from then on the
    /// report survives the process being killed (the page cache is the
    /// kernel's). The fsync that makes it survive a power loss is the
    /// sender's, on its thread, right after (see [`Outbox::sync_written`]):
    /// never on the panicking caller's.
    ///
    /// Only if `still_wanted()`, asked under the outbox's lock (which a purge
    /// takes too): a report is either written before a purge (which then
    /// deletes it) or not written at all. Not wanted: `Ok`, nothing written.
    ///
    /// `carried`: the panics the envelope counts for others (what
    /// [`carried_panics`] would read back from it), which its eviction
    /// passes on.
    pub fn store_if(
        &self,
        envelope: &[u8],
        carried: u64,
        still_wanted: impl FnOnce() -> bool,
    ) -> io::Result<()> {
        let mut state = self.state.lock();
        if !still_wanted() {
            return Ok(());
        }
        if envelope.len() > MAX_ENVELOPE_BYTES {
            state.dropped += 1;
            history::count_dropped(Cause::OutboxBound, 1);
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "envelope over 1 MiB"));
        }
        self.ensure_folder(&mut state).map_err(|e| match e {
            OpenError::Io(e) => e,
            other => io::Error::other(other.to_string()),
        })?;
        let path = self.dir.join(next_file_name());
        // An evicted report's file, when there is one (an outbox at its
        // bound: offline, or a server that does not answer), becomes this
        // report's: no new inode, no deletion on this thread.
        let recycled = state.trash.pop().map(|old| {
            files::rewrite_and_rename(&old, envelope, &path).inspect_err(|_| empty_trash(vec![old])).is_ok()
        });
        if recycled != Some(true) {
            files::write_atomically(&path, envelope, TEMP_PREFIX, false)?;
        }
        if let Some(listing) = state.listing.as_mut() {
            let at = listing.partition_point(|(p, _)| *p < path);
            listing.insert(at, (path.clone(), envelope.len() as u64));
        }
        if let Some(name) = path.file_name() {
            state.carried.insert(name.to_owned(), carried);
        }
        state.unsynced.push(path);
        self.evict_over(&mut state, self.limits);
        let now = Instant::now();
        let cap = *state.settle_cap.get_or_insert(now + MAX_SETTLE);
        state.settle_until = Some((now + SETTLE).min(cap));
        state.kicked = true;
        self.changed.notify_all();
        Ok(())
    }

    /// Evicts the oldest reports (never the one in flight) until `bounds`
    /// hold, adding what each carried to the dropped count.
    fn evict_over(&self, state: &mut State, bounds: policy::Bounds) {
        // The report being sent is not the outbox's to evict. (Paths are
        // compared as bytes: `Path`'s `==` walks components, and this runs
        // on a panicking thread.)
        let in_flight = state.in_flight.clone();
        let is_in_flight = |p: &PathBuf| in_flight.as_ref().is_some_and(|f| f.as_os_str() == p.as_os_str());
        let candidates: Vec<&(PathBuf, u64)> =
            self.listing(state).iter().filter(|(p, _)| !is_in_flight(p)).collect();
        let sizes: Vec<u64> = candidates.iter().map(|(_, len)| *len).collect();
        let evict = policy::evictions(&sizes, bounds);
        let oldest: Vec<PathBuf> = candidates.iter().take(evict).map(|(p, _)| p.clone()).collect();
        for oldest in oldest {
            // The counts an evicted report carried are not lost: they ride
            // on the next event with its own.
            match self.take_out_unsent(state, &oldest) {
                (carried, Ok(())) => {
                    state.dropped += 1 + carried;
                    history::count_dropped(Cause::OutboxBound, 1);
                }
                // Gone already, or cannot go: the next look tells.
                (_, Err(_)) => state.listing = None,
            }
        }
        // A sender held in a request (a server that never answers) does not
        // let evicted reports pile up: past one outbox's worth, the oldest
        // is deleted here, one per eviction (never a whole backlog at once
        // on one panicking thread).
        let over = state.trash.len().saturating_sub(self.limits.max_items);
        empty_trash(state.trash.drain(..over).collect());
        state.pending = sizes.len() - evict + usize::from(in_flight.is_some());
    }

    /// Takes a report out of the outbox unsent (evicted, or expired): out of
    /// the listing's way at once, under the outbox's lock, and deleted by the
    /// sender (a rename costs a panicking thread far less than a deletion).
    /// Answers the panics it carried (for the caller to pass on) and whether
    /// the rename worked.
    pub(super) fn take_out_unsent(&self, state: &mut State, path: &Path) -> (u64, io::Result<()>) {
        let known = path.file_name().and_then(|name| state.carried.get(name)).copied();
        let carried = known.unwrap_or_else(|| carried_panics(path));
        let trash = trash_path(path);
        let moved = fs::rename(path, &trash);
        if moved.is_ok() {
            state.trash.push(trash);
        }
        state.forget(path);
        (carried, moved)
    }

    /// Called right before an event is built: makes room for one more report
    /// (so that the eviction its write would cause happens now, and the counts
    /// of what it evicts ride on this event rather than wait in memory for the
    /// next one), then takes the dropped count for the event.
    /// The folder is not checked here: the write right after checks it (and
    /// an eviction in a vanished folder finds nothing to remove).
    pub fn make_room_and_take_dropped(&self) -> u64 {
        let mut state = self.state.lock();
        if !state.closed {
            let room =
                policy::Bounds { max_items: self.limits.max_items.saturating_sub(1).max(1), ..self.limits };
            self.evict_over(&mut state, room);
        }
        std::mem::take(&mut state.dropped)
    }

    /// Deletes the evicted reports (the sender, off the host's threads).
    pub(super) fn take_out_trash(&self) {
        let trash = std::mem::take(&mut self.state.lock().trash);
        empty_trash(trash);
    }

    /// Makes the reports written since the last call durable (fsync of each
    /// file, then of the folder). The sender calls it, off the host's threads.
    pub(super) fn sync_written(&self) {
        let written = std::mem::take(&mut self.state.lock().unsynced);
        if written.is_empty() {
            return;
        }
        for path in &written {
            if let Ok(file) = fs::File::open(path) {
                let _ = file.sync_all();
            }
        }
        files::sync_dir(&self.dir);
    }

    /// Deletes every pending report (an opt-out); a sender mid-retry will
    /// not send them. Reports that cannot be deleted (a read-only disk) are
    /// never sent by this process. Returns how many were deleted.
    pub fn purge(&self) -> usize {
        let deleted = self.remove_reports(None);
        history::count_dropped(Cause::OptOut, deleted as u64);
        deleted
    }

    /// Deletes the pending reports with these ids ([`report_id`]) (every one, and the
    /// evicted ones, with `None`); a sender that read one of them before
    /// will not send it (it is no longer listed), and the outcome of one in
    /// flight is not applied as its own (the epoch moves on). Reports that
    /// cannot be deleted are never sent by this process. Returns how many
    /// were deleted.
    pub(super) fn remove_reports(&self, ids: Option<&[String]>) -> usize {
        let mut state = self.state.lock();
        if ids.is_none() {
            empty_trash(std::mem::take(&mut state.trash));
        }
        let chosen = |path: &Path| ids.is_none_or(|ids| ids.contains(&report_id(path)));
        // The report in flight (the sender's request, the host's lease) is
        // no longer its request's to settle once it is deleted; the others
        // in flight are not touched by a deletion of other reports.
        if state.in_flight.as_deref().is_some_and(chosen) {
            state.epoch += 1;
        }
        let mut deleted = 0;
        for (path, _) in self.files(&mut state) {
            if !chosen(&path) {
                continue;
            }
            if fs::remove_file(&path).is_ok() {
                deleted += 1;
            } else {
                state.embargoed.push(path.clone());
            }
            state.forget(&path);
        }
        // (An opt-out, or an init without consent: most often nothing to
        // delete, and then no fsync on the caller's thread.)
        if deleted > 0 {
            files::sync_dir(&self.dir);
        }
        if !state.embargoed.is_empty() {
            log::warn!("{} panic reports could not be deleted; they will not be sent", state.embargoed.len());
        }
        state.pending = self.files(&mut state).len();
        if ids.is_none() {
            state.dropped = 0;
            state.carried.clear();
            state.retry_at = None;
            state.backoff.reset();
        }
        self.changed.notify_all();
        deleted
    }

    /// Reports waiting, oldest first, with their sizes: the listing kept in
    /// memory (borrowed, not copied: a count needs no copy under the lock a
    /// panicking thread may wait for), or a fresh look at the folder when
    /// there is none.
    pub(super) fn listing<'s>(&self, state: &'s mut State) -> &'s [(PathBuf, u64)] {
        if state.listing.is_none() {
            self.files(state);
        }
        state.listing.as_deref().unwrap_or_default()
    }

    /// Reports waiting, oldest first, with their sizes. Anything at an
    /// envelope's name that is not a small regular file (a link, a FIFO, a
    /// folder, a 50 MB file) is removed, with a log line, and never counted.
    pub(super) fn files(&self, state: &mut State) -> Vec<(PathBuf, u64)> {
        let Ok(entries) = fs::read_dir(&self.dir) else { return Vec::new() };
        let mut reports = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || !name.ends_with(SUFFIX) {
                continue;
            }
            let path = entry.path();
            // `DirEntry::metadata` does not follow links.
            let Ok(meta) = entry.metadata() else { continue };
            // Only names this library writes: eviction goes by name order, so
            // a stranger's `z.envelope` would otherwise pass for the newest
            // report and evict every real one on arrival.
            let ours = is_report_name(&name);
            if !ours || !meta.file_type().is_file() || meta.len() > MAX_ENVELOPE_BYTES as u64 {
                log::warn!(
                    "removed an outbox entry that is not a report (a name not ours, a link, a folder, a FIFO or over {MAX_ENVELOPE_BYTES} bytes)"
                );
                remove_entry(&path);
                state.dropped += 1;
                continue;
            }
            if state.embargoed.contains(&path) {
                continue;
            }
            reports.push((path, meta.len()));
        }
        reports.sort();
        state.listing = Some(reports.clone());
        reports
    }
}

/// Removes whatever is at `path` (a file, a link itself, a FIFO, a folder),
/// without following links.
pub(super) fn remove_entry(path: &Path) {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            let _ = fs::remove_dir_all(path);
        }
        Ok(_) => {
            let _ = fs::remove_file(path);
        }
        Err(_) => {}
    }
}

/// The panics an envelope counted but did not report itself (the counters
/// that ride on an event): an eviction passes them on. Reads a bounded,
/// regular file only.
fn carried_panics(path: &Path) -> u64 {
    match files::read_regular(path, MAX_ENVELOPE_BYTES as u64) {
        Ok(files::Read::Bytes(body)) => carried_in(&body),
        _ => 0,
    }
}

/// [`carried_panics`] of an envelope in memory.
pub(crate) fn carried_in(envelope: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(envelope);
    [
        "\"libstatus.suppressed_since_last\":",
        "\"libstatus.suppressed_other_sites\":",
        "\"libstatus.dropped_reports\":",
    ]
    .iter()
    .filter_map(|key| {
        let value = text[text.find(key)? + key.len()..].trim_start();
        let digits = value.bytes().take_while(u8::is_ascii_digit).count();
        value[..digits].parse::<u64>().ok()
    })
    .fold(0u64, u64::saturating_add)
}

/// Where an evicted report waits for its deletion: a hidden name in the
/// same folder, which no listing counts and no sender sends.
fn trash_path(report: &Path) -> PathBuf {
    let name = report.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let stem = name.strip_suffix(SUFFIX).unwrap_or(&name);
    report.with_file_name(format!("{TRASH_PREFIX}{stem}"))
}

fn empty_trash(trash: Vec<PathBuf>) {
    for path in trash {
        let _ = fs::remove_file(path);
    }
}

/// `<24 digits>-<8 digits>-<digits>.envelope`: the names [`next_file_name`]
/// writes, and `<24 digits>-<8 digits>-<digits>-<attempts>.envelope` once the
/// server has answered without taking the report ([`count_attempt`]). (A
/// library older than the attempt count removes the second form as not its
/// own, counting it dropped.)
fn is_report_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(SUFFIX) else { return false };
    let parts: Vec<&str> = stem.split('-').collect();
    let digits = |s: &str, len: Option<usize>| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && len.is_none_or(|n| s.len() == n)
    };
    (parts.len() == 3 || (parts.len() == 4 && parts[3].len() <= 4 && digits(parts[3], None)))
        && digits(parts[0], Some(24))
        && digits(parts[1], Some(8))
        && digits(parts[2], None)
}

/// When a report was written and how many times the server answered it
/// without taking it, from its name.
pub(super) fn written_and_attempts(path: &Path) -> (SystemTime, u32) {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let stem = name.strip_suffix(SUFFIX).unwrap_or(&name);
    let mut parts = stem.split('-');
    let nanos = parts.next().and_then(|p| p.parse::<u128>().ok()).unwrap_or(0);
    let written = UNIX_EPOCH + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
    (written, parts.nth(2).and_then(|p| p.parse().ok()).unwrap_or(0))
}

/// A report's id: its name without the suffix and without the attempt
/// count, so that it stays the same while its attempts are counted.
pub(super) fn report_id(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let stem = name.strip_suffix(SUFFIX).unwrap_or(&name);
    stem.split('-').take(3).collect::<Vec<_>>().join("-")
}

/// Counts one more answer that did not take the report at `path`, in its
/// name (so the count outlives the process): the name it has now, or `None`
/// if it is gone.
pub(super) fn count_attempt(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    let stem = name.strip_suffix(SUFFIX)?;
    let (_, attempts) = written_and_attempts(path);
    let first_three: Vec<&str> = stem.split('-').take(3).collect();
    let renamed =
        path.with_file_name(format!("{}-{}{SUFFIX}", first_three.join("-"), (attempts + 1).min(9999)));
    fs::rename(path, &renamed).ok().map(|()| renamed)
}

/// Unique names that sort by age, across processes.
fn next_file_name() -> String {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    format!("{nanos:024}-{seq:08}-{}{SUFFIX}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::super::OutboxLimits;
    use super::*;

    fn pending(outbox: &Outbox) -> usize {
        let mut state = outbox.state.lock();
        outbox.files(&mut state).len()
    }

    fn take_dropped(outbox: &Outbox) -> u64 {
        std::mem::take(&mut outbox.state.lock().dropped)
    }

    /// What a host's `InitializeApplication` answers (and a log says) when
    /// the outbox cannot be opened: another process holds its lock (here
    /// another open file description of the lock file, which `flock`
    /// treats as another process would be), or its folder cannot be created.
    #[test]
    fn an_outbox_that_cannot_be_opened_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join(DIR_NAME);
        files::create_private_dir(&folder, true).unwrap();
        let held = files::open_lock_file(&folder.join(LOCK_FILE)).unwrap();
        held.try_lock().unwrap();
        match Outbox::open(dir.path(), OutboxLimits::default()) {
            Err(e @ OpenError::Locked(_)) => assert_eq!(e.to_string(), super::super::LOCKED),
            other => panic!("expected Locked, got {:?}", other.map(|_| ())),
        }
        drop(held);
        assert!(
            Outbox::open(dir.path(), OutboxLimits::default()).is_ok(),
            "free once the other holder is gone"
        );

        let not_a_dir = dir.path().join("a-file");
        fs::write(&not_a_dir, b"").unwrap();
        match Outbox::open(&not_a_dir, OutboxLimits::default()) {
            Err(e @ OpenError::Io(_)) => {
                let text = e.to_string();
                assert!(text.starts_with("cannot open the panic-report outbox: "), "{text}");
                assert!(
                    text.len() > "cannot open the panic-report outbox: ".len(),
                    "says what failed: {text}"
                );
            }
            other => panic!("expected Io, got {:?}", other.map(|_| ())),
        }
    }

    /// The lock file's name is the library's: whatever else is there (a FIFO,
    /// a socket, a folder, a link to a file elsewhere) is taken back, and the outbox
    /// opens with a private regular lock file; what a link pointed to is
    /// left alone.
    #[test]
    fn odd_things_at_the_lock_files_name_are_taken_back() {
        use crate::sys::files::{is_private, make_fifo, make_socket, symlink};
        let lock_of = |dir: &Path| dir.join(DIR_NAME).join(LOCK_FILE);
        let outside = tempfile::tempdir().unwrap();
        let elsewhere = outside.path().join("the host's file");
        fs::write(&elsewhere, b"not ours").unwrap();
        let folder =
            |lock: &Path| fs::create_dir(lock).and_then(|()| fs::write(lock.join("inside"), b"x")).is_ok();
        let link = |lock: &Path| symlink(&elsewhere, lock).is_ok();
        type Plant<'a> = &'a dyn Fn(&Path) -> bool;
        let plant: [(&str, Plant); 4] = [
            ("a FIFO", &|lock| make_fifo(lock)),
            ("a socket", &|lock| make_socket(lock)),
            ("a folder", &folder),
            ("a link", &link),
        ];
        for (what, plant) in plant {
            let dir = tempfile::tempdir().unwrap();
            files::create_private_dir(&dir.path().join(DIR_NAME), true).unwrap();
            if !plant(&lock_of(dir.path())) {
                continue; // (not on this platform)
            }
            let outbox = Outbox::open(dir.path(), OutboxLimits::default());
            assert!(outbox.is_ok(), "{what}: {:?}", outbox.err());
            let meta = fs::symlink_metadata(lock_of(dir.path())).unwrap();
            assert!(meta.is_file(), "{what} is still at the lock file's name");
            assert!(is_private(&meta), "{what}: the lock file is not private");
        }
        assert_eq!(fs::read(&elsewhere).unwrap(), b"not ours");
    }

    /// An evicted report's file becomes the next report's (no new inode, no
    /// deletion on the panicking thread), holding the new report whole and
    /// nothing of the old one.
    #[test]
    fn an_evicted_reports_file_is_reused_for_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path(), OutboxLimits { max_items: 1, max_bytes: 1 << 20 }).unwrap();
        let listed = |outbox: &Outbox| {
            let mut state = outbox.state.lock();
            outbox.files(&mut state)
        };
        outbox.store(b"the first report, the longest").unwrap();
        let first = files::path_id(&listed(&outbox)[0].0).unwrap();
        // Held open: were the file deleted, a new one could not take its number.
        let _held = fs::File::open(&listed(&outbox)[0].0).unwrap();
        outbox.store(b"the second").unwrap(); // evicts the first
        outbox.store(b"the third").unwrap(); // in the first's file; evicts the second
        let kept = listed(&outbox);
        assert_eq!(kept.len(), 1);
        assert_eq!(fs::read(&kept[0].0).unwrap(), b"the third");
        assert!(files::path_id(&kept[0].0).unwrap() == first, "a new file, not the evicted one");
    }

    #[test]
    fn store_bounds_and_purge() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path(), OutboxLimits { max_items: 3, max_bytes: 1 << 20 }).unwrap();
        for i in 0..5 {
            outbox.store(format!("envelope {i}").as_bytes()).unwrap();
        }
        assert_eq!(pending(&outbox), 3);
        assert_eq!(take_dropped(&outbox), 2);
        assert_eq!(take_dropped(&outbox), 0);
        let kept: Vec<String> = {
            let mut state = outbox.state.lock();
            outbox.files(&mut state).iter().map(|(p, _)| fs::read_to_string(p).unwrap()).collect()
        };
        assert_eq!(kept, ["envelope 2", "envelope 3", "envelope 4"], "the oldest go first");
        assert_eq!(outbox.purge(), 3);
        assert_eq!(pending(&outbox), 0);
    }

    #[test]
    fn byte_bound_and_oversize() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path(), OutboxLimits { max_items: 30, max_bytes: 25 }).unwrap();
        for _ in 0..3 {
            outbox.store(&[b'x'; 10]).unwrap();
        }
        assert_eq!(pending(&outbox), 2);
        assert!(outbox.store(&vec![b'x'; MAX_ENVELOPE_BYTES + 1]).is_err());
        assert_eq!(outbox.make_room_and_take_dropped(), 2);
        // Sentry's limit itself is allowed, and read back by the listing.
        let other = tempfile::tempdir().unwrap();
        let at_the_limit = Outbox::open(other.path(), OutboxLimits::default()).unwrap();
        at_the_limit.store(&vec![b'x'; MAX_ENVELOPE_BYTES]).unwrap();
        assert_eq!(pending(&at_the_limit), 1);
        assert_eq!(at_the_limit.make_room_and_take_dropped(), 0);
    }

    #[test]
    fn room_for_the_next_report_is_made_before_its_counts_are_taken() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path(), OutboxLimits { max_items: 3, max_bytes: 8 << 20 }).unwrap();
        outbox
            .store(br#"{"extra":{"libstatus.suppressed_since_last":7,"libstatus.dropped_reports":2}}"#)
            .unwrap();
        outbox.store(b"second").unwrap();
        outbox.store(b"third").unwrap();
        assert_eq!(pending(&outbox), 3, "full, nothing evicted yet");
        // The next event's counts include the report its write would evict,
        // and what that report carried (7 + 2).
        assert_eq!(outbox.make_room_and_take_dropped(), 1 + 9);
        assert_eq!(pending(&outbox), 2);
        outbox.store(b"fourth").unwrap();
        assert_eq!(pending(&outbox), 3);
        assert_eq!(outbox.make_room_and_take_dropped(), 1, "the second report, which carried nothing");
    }

    /// At its bound, the outbox's next report reuses the evicted report's
    /// file: the same inode, the new content only (nothing of the old one
    /// left past its end), no hidden file left; a purge deletes evicted
    /// reports not yet reused (they hold events).
    #[test]
    fn an_evicted_report_s_file_becomes_the_next_report_and_a_purge_takes_what_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path(), OutboxLimits { max_items: 2, max_bytes: 8 << 20 }).unwrap();
        let folder = dir.path().join(DIR_NAME);
        let names = || -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(&folder)
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names.retain(|n| n != LOCK_FILE);
            names
        };
        outbox.store(&[b'o'; 3000]).unwrap();
        outbox.store(b"second").unwrap();
        let oldest = folder.join(&names()[0]);
        let inode = files::path_id(&oldest).unwrap();
        assert_eq!(outbox.make_room_and_take_dropped(), 1);
        assert!(!oldest.exists());
        assert!(names()[0].starts_with(TRASH_PREFIX), "evicted, not yet deleted: {:?}", names());
        outbox.store(b"new").unwrap();
        let listed = names();
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert!(listed.iter().all(|n| is_report_name(n)), "nothing hidden left: {listed:?}");
        let newest = folder.join(&listed[1]);
        assert_eq!(fs::read(&newest).unwrap(), b"new");
        assert_eq!(files::path_id(&newest).unwrap(), inode, "the evicted report's file was reused");
        // Evicted and not reused: a purge deletes it with the rest.
        assert_eq!(outbox.make_room_and_take_dropped(), 1);
        assert!(names().iter().any(|n| n.starts_with(TRASH_PREFIX)));
        outbox.purge();
        assert!(names().is_empty(), "{:?}", names());
    }

    #[test]
    fn the_same_process_gets_the_same_outbox_and_files_survive_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = Outbox::open(dir.path(), OutboxLimits::default()).unwrap();
        first.store(b"kept").unwrap();
        let again = Outbox::open(dir.path(), OutboxLimits::default()).unwrap();
        assert!(std::sync::Arc::ptr_eq(&first, &again), "one object per folder in a process");
        drop((first, again));
        let second = Outbox::open(dir.path(), OutboxLimits::default()).unwrap();
        assert_eq!(pending(&second), 1, "files survive the object that wrote them");
    }

    #[test]
    fn odd_entries_are_removed_not_counted_and_never_evict_reports() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path(), OutboxLimits { max_items: 30, max_bytes: 8 << 20 }).unwrap();
        outbox.store(b"real").unwrap();
        let folder = dir.path().join(DIR_NAME);
        let outside = dir.path().join("outside");
        fs::write(&outside, b"not a report").unwrap();
        let _ = crate::sys::files::symlink(&outside, &folder.join("9-link.envelope"));
        fs::create_dir(folder.join("9-dir.envelope")).unwrap();
        fs::write(folder.join("zzzz-huge.envelope"), vec![b'x'; 9 << 20]).unwrap();
        crate::sys::files::make_fifo(&folder.join("9-fifo.envelope"));
        outbox.store(b"new").unwrap();
        assert_eq!(pending(&outbox), 2, "both real reports kept, nothing odd counted");
        assert_eq!(fs::read(&outside).unwrap(), b"not a report", "a link's target is never touched");
        assert_eq!(
            fs::read_dir(&folder).unwrap().flatten().filter(|e| e.file_name() != LOCK_FILE).count(),
            2
        );
    }

    #[test]
    fn names_the_library_never_writes_are_not_reports() {
        assert!(is_report_name(&next_file_name()));
        let counted = format!("{}-19{SUFFIX}", next_file_name().strip_suffix(SUFFIX).unwrap());
        assert!(is_report_name(&counted), "a report the server answered 19 times");
        assert_eq!(written_and_attempts(Path::new(&counted)).1, 19);
        assert_eq!(written_and_attempts(Path::new(&next_file_name())).1, 0);
        let renamed = count_attempt(&tempfile::tempdir().unwrap().path().join(next_file_name()));
        assert!(renamed.is_none(), "a report gone meanwhile");
        assert!(!is_report_name(&format!(
            "{}-12345{SUFFIX}",
            next_file_name().strip_suffix(SUFFIX).unwrap()
        )));
        for name in ["z.envelope", "000000000000000000000000-00000000-.envelope", "1-2-3.envelope", "x"] {
            assert!(!is_report_name(name), "{name}");
        }
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path(), OutboxLimits { max_items: 3, max_bytes: 1 << 20 }).unwrap();
        for i in 0..5 {
            fs::write(dir.path().join(DIR_NAME).join(format!("zz{i}.envelope")), b"{}").unwrap();
        }
        outbox.store(b"real").unwrap();
        let kept: Vec<String> = {
            let mut state = outbox.state.lock();
            outbox.files(&mut state).iter().map(|(p, _)| fs::read_to_string(p).unwrap()).collect()
        };
        assert_eq!(kept, ["real"], "strangers never evict a report");
    }

    #[test]
    fn a_vanished_folder_is_recreated_and_relocked() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path(), OutboxLimits::default()).unwrap();
        if fs::remove_dir_all(dir.path()).is_err() {
            // Wine: a folder whose lock file is held open cannot be removed.
            eprintln!("SKIPPED: this system cannot remove a folder with an open file");
            return;
        }
        outbox.store(b"after").unwrap();
        assert_eq!(pending(&outbox), 1);
        assert!(dir.path().join(DIR_NAME).join(LOCK_FILE).is_file(), "the lock is back");
    }

    /// A lock file removed from under the outbox (the folder itself still
    /// there) is re-created and locked again at the next write: another
    /// process opening the outbox then finds it held (here another open file
    /// description, which `flock` treats as another process would be).
    #[test]
    fn a_removed_lock_file_is_recreated_and_locked_again() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path(), OutboxLimits::default()).unwrap();
        let lock = dir.path().join(DIR_NAME).join(LOCK_FILE);
        if fs::remove_file(&lock).is_err() {
            // Windows: a file held open cannot be removed.
            eprintln!("SKIPPED: this system cannot remove a file held open");
            return;
        }
        outbox.store(b"after").unwrap();
        let other = fs::File::open(&lock).expect("the lock file is back");
        assert!(
            matches!(other.try_lock_shared(), Err(TryLockError::WouldBlock)),
            "the new lock file is not locked: another process could take the outbox"
        );
    }

    /// Whatever sits at a report's own name but is not a report of at most
    /// Sentry's 1 MiB (a folder, a FIFO, a link, a larger file) is removed
    /// and counted as a lost report; one of exactly 1 MiB is a report; a
    /// file of another kind of name (not an envelope's) is not the outbox's
    /// to remove or count.
    #[test]
    fn odd_entries_at_report_names_are_removed_and_counted_and_other_names_left() {
        use crate::sys::files::{make_fifo, symlink};
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path(), OutboxLimits::default()).unwrap();
        let folder = dir.path().join(DIR_NAME);
        let outside = dir.path().join("outside");
        fs::write(&outside, b"not a report").unwrap();
        let mut odd = 0;
        odd += usize::from(symlink(&outside, &folder.join(next_file_name())).is_ok());
        odd += usize::from(make_fifo(&folder.join(next_file_name())));
        fs::create_dir(folder.join(next_file_name())).unwrap();
        fs::write(folder.join(next_file_name()), vec![b'x'; MAX_ENVELOPE_BYTES + 1]).unwrap();
        odd += 2;
        fs::write(folder.join(next_file_name()), vec![b'x'; MAX_ENVELOPE_BYTES]).unwrap();
        fs::write(folder.join("notes.txt"), b"the host's").unwrap();
        outbox.state.lock().listing = None;
        assert_eq!(pending(&outbox), 1, "only the report of exactly 1 MiB is one");
        assert_eq!(take_dropped(&outbox), odd as u64, "each odd entry counts as one lost report");
        assert_eq!(fs::read(folder.join("notes.txt")).unwrap(), b"the host's");
        let left = fs::read_dir(&folder).unwrap().flatten().count();
        assert_eq!(left, 3, "the report, notes.txt and the lock file");
        assert_eq!(fs::read(&outside).unwrap(), b"not a report");
    }

    /// A report an earlier process left passes on the panics it counted
    /// (read from its file: this process never had them in memory) when the
    /// bounds evict it.
    #[test]
    fn an_earlier_processs_report_passes_on_its_counts_when_evicted() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join(DIR_NAME);
        fs::create_dir(&folder).unwrap();
        let left = br#"{"extra":{"libstatus.suppressed_since_last":7,"libstatus.dropped_reports":2}}"#;
        fs::write(folder.join(next_file_name()), left).unwrap();
        let outbox = Outbox::open(dir.path(), OutboxLimits { max_items: 1, max_bytes: 1 << 20 }).unwrap();
        outbox.store(b"new").unwrap();
        assert_eq!(take_dropped(&outbox), 1 + 7 + 2);
    }
}
