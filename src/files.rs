//! The library's files on the user's disk: private (folders 0700, files 0600
//! whatever the host's umask; on Windows the ACL of the user's profile),
//! never reached through a symbolic link, and replaced atomically where a torn
//! write would matter. Shared by the consent file, the outbox and the logs, so
//! the rules exist once; how each platform keeps them is `crate::sys::files`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write};
use std::path::Path;

use crate::sys::files as sys;
pub use crate::sys::files::{dir_id, file_id, path_id, FileId};

/// Creates `dir` (and missing parents) as private folders. An existing folder
/// is left as it is (it may be the host's), unless `restrict` asks to make it
/// private too (folders that only the library uses).
pub fn create_private_dir(dir: &Path, restrict: bool) -> io::Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            if restrict {
                sys::restrict_dir(dir, &meta);
            }
            return Ok(());
        }
        Ok(_) if restrict => {
            // A file or a symbolic link where our own folder should be: never
            // follow it; take the name back (a link to a folder on Windows is
            // removed as a folder).
            fs::remove_file(dir).or_else(|_| fs::remove_dir(dir))?;
        }
        // The host's link to a folder of its own (a dataDir it named that
        // way): left as it is, like the folder itself; making the folder
        // "private" through the link would change the mode of the host's
        // folder.
        Ok(_) if fs::metadata(dir).is_ok_and(|target| target.is_dir()) => return Ok(()),
        _ => {}
    }
    sys::create_private_dirs(dir)
}

/// Options that open the name itself (never a link's target) and create a
/// private file.
fn options(nonblocking: bool) -> OpenOptions {
    let mut options = OpenOptions::new();
    sys::private_file(sys::no_follow(&mut options, nonblocking));
    options
}

/// Whether an open failed because a link is at the name.
pub fn is_link_refusal(e: &io::Error) -> bool {
    sys::is_link_refusal(e)
}

/// Opens (creating) a private file for appending, without following a
/// symbolic link at its name.
pub fn open_private_append(path: &Path) -> io::Result<File> {
    let file = options(false).create(true).append(true).open(path)?;
    ensure_private(&file)?;
    Ok(file)
}

/// Opens (creating) a private lock file, never through a symbolic link. On a
/// read-only disk an existing lock file is opened read-only (`flock` needs no
/// write access), so the outbox can still be locked and read there. Anything
/// at the name that is not a regular file is an `InvalidInput` error (a
/// folder too, which the systems refuse to open for writing each in its own
/// words), for the caller to take the name back.
pub fn open_lock_file(path: &Path) -> io::Result<File> {
    let opened = options(false).create(true).truncate(false).write(true).read(true).open(path);
    let file = match opened {
        // Something that is neither a file nor a link (which the caller
        // tells apart) at the name: a folder, or a socket (ENXIO).
        Err(_) if fs::symlink_metadata(path).is_ok_and(|meta| !meta.is_file() && !meta.is_symlink()) => {
            return Err(not_regular())
        }
        Err(e) if matches!(e.kind(), io::ErrorKind::ReadOnlyFilesystem | io::ErrorKind::PermissionDenied) => {
            options(false).read(true).open(path)?
        }
        other => other?,
    };
    match ensure_private(&file) {
        // Its type is checked; its mode is best effort (a read-only disk
        // refuses the change, and nobody can write there anyway).
        Err(e) if e.kind() != io::ErrorKind::InvalidInput => {}
        other => other?,
    }
    Ok(file)
}

/// A regular file (not a link, FIFO, folder or device reached by its name),
/// made private.
fn ensure_private(file: &File) -> io::Result<()> {
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    sys::restrict_file(file, &meta)
}

fn not_regular() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "not a regular file")
}

/// What [`read_regular`] found at a name.
#[derive(Debug)]
pub enum Read {
    Bytes(Vec<u8>),
    /// Not a regular file (a symbolic link, a FIFO, a folder, a device).
    NotRegular,
    /// Larger than the bound.
    TooLarge(u64),
}

impl std::fmt::Display for Read {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Read::Bytes(bytes) => write!(f, "{} bytes", bytes.len()),
            Read::NotRegular => f.write_str("not a regular file"),
            Read::TooLarge(len) => write!(f, "{len} bytes, over the size bound"),
        }
    }
}

/// Reads a regular file of at most `max` bytes: never follows a symbolic link,
/// never blocks on a FIFO, and never reads past the bound.
pub fn read_regular(path: &Path, max: u64) -> io::Result<Read> {
    let file = match options(true).read(true).open(path) {
        Ok(file) => file,
        Err(e) if sys::is_link_refusal(&e) => return Ok(Read::NotRegular),
        Err(e) => return Err(sys::open_error(e, path)),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(Read::NotRegular);
    }
    if meta.len() > max {
        return Ok(Read::TooLarge(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Ok(Read::TooLarge(bytes.len() as u64));
    }
    Ok(Read::Bytes(bytes))
}

/// Replaces `path` with `bytes` atomically: a private temporary file in the
/// same folder, written, optionally fsynced, renamed over `path`, and (with
/// `durable`) the folder fsynced, so that a crash leaves the old or the new
/// content, never a torn one.
pub fn write_atomically(path: &Path, bytes: &[u8], temp_prefix: &str, durable: bool) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = sys::private_temp_file(dir, temp_prefix)?;
    tmp.write_all(bytes)?;
    if durable {
        tmp.as_file().sync_all()?;
    }
    retrying(
        tmp,
        |tmp| tmp.persist(path).map(drop).map_err(|e| (e.error, e.file)),
        sys::held_by_another_process,
    )?;
    if durable {
        sync_dir(dir);
    }
    Ok(())
}

/// Puts `bytes` at `to` by reusing the file at `from` (a file of ours that
/// is no longer needed, under a name nothing reads): overwritten in place,
/// cut to length, renamed over `to`. Like [`write_atomically`], a crash
/// leaves `to` absent or whole; unlike it, no inode is created (the costliest
/// step of a write on some filesystems, and a deletion saved too). Only a
/// regular file is reused: a link is not followed, a FIFO not waited on.
pub fn rewrite_and_rename(from: &Path, bytes: &[u8], to: &Path) -> io::Result<()> {
    let mut file = options(true).write(true).open(from)?;
    if !file.metadata()?.is_file() {
        return Err(not_regular());
    }
    file.write_all(bytes)?;
    file.set_len(bytes.len() as u64)?;
    drop(file);
    rename(from, to)
}

/// Renames `from` over `to` (atomic), retried briefly while another process
/// holds the file where the platform refuses that (Windows).
pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    retrying((), |()| fs::rename(from, to).map_err(|e| (e, ())), sys::held_by_another_process)
}

/// The retry policy of a replacement, the same on every platform: `op` is
/// tried up to [`sys::REPLACE_TRIES`] times, again only after an error that
/// `transient` accepts (what is transient is the platform's to say: another
/// process holding the file, on Windows), [`wait_before_try`] apart. `op`
/// hands back with its error what the next try needs (the temporary file not
/// yet in place); the last error is the answer.
fn retrying<S, T, E>(
    mut state: S,
    mut op: impl FnMut(S) -> Result<T, (E, S)>,
    transient: impl Fn(&E) -> bool,
) -> Result<T, E> {
    let mut tries = 1;
    loop {
        match op(state) {
            Ok(done) => return Ok(done),
            Err((e, next)) if tries < sys::REPLACE_TRIES && transient(&e) => state = next,
            Err((e, _)) => return Err(e),
        }
        std::thread::sleep(wait_before_try(tries));
        tries += 1;
    }
}

/// 1, 2, 4, 8 ms: at most 15 ms in all before the last try.
fn wait_before_try(tries: u32) -> std::time::Duration {
    std::time::Duration::from_millis(1 << (tries - 1))
}

/// Makes renames and deletions in `dir` durable (best effort: some
/// filesystems refuse to sync a folder).
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// A path the kernel can take: no NUL byte (it would cut the path short).
pub fn is_usable_path(path: &str) -> bool {
    !path.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dataDir that the host names through a link to a folder of its own
    /// is used as it is: the folder's mode stays the host's (before, the
    /// folder behind the link was made 0700).
    #[test]
    fn a_hosts_link_to_its_folder_is_used_and_the_folder_left_alone() {
        let root = tempfile::tempdir().unwrap();
        let host = root.path().join("host");
        fs::create_dir(&host).unwrap();
        let link = root.path().join("link");
        if sys::symlink(&host, &link).is_err() {
            eprintln!("SKIPPED: no symbolic links here");
            return;
        }
        let before = fs::metadata(&host).unwrap().permissions();
        create_private_dir(&link, false).unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(fs::metadata(&host).unwrap().permissions(), before);
    }

    /// What a log line says was found at a report's name instead of a report.
    #[test]
    fn what_was_read_says_what_it_was() {
        assert_eq!(Read::Bytes(b"abc".to_vec()).to_string(), "3 bytes");
        assert_eq!(Read::NotRegular.to_string(), "not a regular file");
        assert_eq!(Read::TooLarge(5_000_000).to_string(), "5000000 bytes, over the size bound");
    }

    /// A file that holds more than its size said when it was opened (one
    /// that grows meanwhile; Linux's /proc files all say 0) is too large: it
    /// is never cut at the bound and taken for whole.
    #[test]
    #[cfg(target_os = "linux")]
    fn a_file_larger_than_its_stated_size_is_too_large() {
        let status = Path::new("/proc/self/status");
        assert_eq!(fs::metadata(status).unwrap().len(), 0, "the test's premise");
        assert!(matches!(read_regular(status, 10).unwrap(), Read::TooLarge(11)));
    }

    /// A rename that fails (here the target's folder is gone) answers the
    /// system's error at once: only a file another process holds open
    /// (Windows) is tried again.
    #[test]
    fn a_failed_rename_answers_its_error() {
        let root = tempfile::tempdir().unwrap();
        let from = root.path().join("from");
        fs::write(&from, b"kept").unwrap();
        let err = rename(&from, &root.path().join("gone").join("to")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(fs::read(&from).unwrap(), b"kept");
    }

    #[test]
    fn links_fifos_and_large_files_are_not_read() {
        let root = tempfile::tempdir().unwrap();
        let outside = root.path().join("outside");
        fs::write(&outside, b"secret").unwrap();
        let link = root.path().join("link");
        let linked = sys::symlink(&outside, &link).is_ok();
        if linked {
            assert!(matches!(read_regular(&link, 100).unwrap(), Read::NotRegular));
        }
        let fifo = root.path().join("fifo");
        if sys::make_fifo(&fifo) {
            assert!(matches!(read_regular(&fifo, 100).unwrap(), Read::NotRegular));
        }
        fs::create_dir(root.path().join("dir")).unwrap();
        assert!(matches!(read_regular(&root.path().join("dir"), 100).unwrap(), Read::NotRegular));
        assert!(matches!(read_regular(&outside, 3).unwrap(), Read::TooLarge(6)));
        assert!(matches!(read_regular(&outside, 5).unwrap(), Read::TooLarge(6)), "one byte over the bound");
        assert!(matches!(read_regular(&outside, 6).unwrap(), Read::Bytes(b) if b == b"secret"));
        if linked {
            assert!(open_private_append(&link).is_err(), "never writes through a link");
        }
        assert_eq!(fs::read(&outside).unwrap(), b"secret");
    }

    #[test]
    fn a_link_in_place_of_a_private_folder_is_replaced() {
        let root = tempfile::tempdir().unwrap();
        let elsewhere = root.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        let dir = root.path().join("reports");
        if sys::symlink(&elsewhere, &dir).is_err() {
            return; // (a system without links: nothing to test)
        }
        create_private_dir(&dir, true).unwrap();
        assert!(fs::symlink_metadata(&dir).unwrap().is_dir());
        assert!(elsewhere.is_dir(), "the link's target is left alone");
    }

    #[test]
    #[cfg(unix)] // modes
    fn an_existing_lock_or_log_file_is_made_private() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let (lock, log) = (root.path().join(".lock"), root.path().join("status.log"));
        for path in [&lock, &log] {
            fs::write(path, b"").unwrap();
            fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
        }
        drop(open_lock_file(&lock).unwrap());
        drop(open_private_append(&log).unwrap());
        for path in [&lock, &log] {
            let mode = fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
    }

    #[test]
    #[cfg(unix)] // (Windows has no read-only disk to lend a test)
    fn a_lock_file_that_cannot_be_written_is_opened_read_only_and_locks() {
        let root = tempfile::tempdir().unwrap();
        let lock = root.path().join(".lock");
        fs::write(&lock, b"").unwrap();
        let Some(_unwritable) = sys::unwritable(&lock) else {
            eprintln!("SKIPPED: root, and no mount namespace to make a read-only folder in");
            return;
        };
        assert!(OpenOptions::new().append(true).open(&lock).is_err(), "the test's own premise");
        let mut file = open_lock_file(&lock).unwrap();
        file.try_lock().unwrap();
        assert!(file.write_all(b"x").is_err(), "opened read-only");
    }

    #[test]
    #[cfg(target_os = "linux")] // ETXTBSY
    fn only_a_read_only_disk_or_a_denied_write_opens_a_lock_file_read_only() {
        // A lock file that cannot be written for another reason is an error,
        // not a read-only lock: here a program that is running (ETXTBSY).
        let Some(sleep) = ["/bin/sleep", "/usr/bin/sleep"].into_iter().find(|p| Path::new(p).is_file())
        else {
            eprintln!("SKIPPED: no sleep program to run");
            return;
        };
        let root = tempfile::tempdir().unwrap();
        let lock = root.path().join(".lock");
        fs::copy(sleep, &lock).unwrap();
        let mut tries = 0;
        let mut running = loop {
            match std::process::Command::new(&lock).arg("60").spawn() {
                // (Another thread's fork may hold the copy open for writing a moment.)
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 100 => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    tries += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    eprintln!("SKIPPED: no program can run from the temporary folder (noexec?): {e}");
                    return;
                }
                spawned => break spawned.unwrap(),
            }
        };
        let opened = open_lock_file(&lock);
        running.kill().unwrap();
        running.wait().unwrap();
        assert_eq!(opened.unwrap_err().raw_os_error(), Some(libc::ETXTBSY));
    }

    /// (An evicted report's file is reused: `outbox::store`'s tests.)
    #[test]
    fn nothing_but_a_regular_file_is_reused_for_a_report() {
        let root = tempfile::tempdir().unwrap();
        let to = root.path().join("2.envelope");
        fs::write(&to, b"a report").unwrap();
        let folder = root.path().join("folder");
        fs::create_dir(&folder).unwrap();
        assert!(rewrite_and_rename(&folder, b"x", &to).is_err());
        let fifo = root.path().join("fifo");
        if sys::make_fifo(&fifo) {
            assert!(rewrite_and_rename(&fifo, b"x", &to).is_err(), "never waits on a FIFO");
        }
        assert!(folder.is_dir());
        assert_eq!(fs::read(&to).unwrap(), b"a report", "left as it was");
    }

    /// Runs [`retrying`] over an operation that fails `failures` times (its
    /// error is the try's number), then succeeds: the outcome and the tries.
    fn retried(failures: u32, transient: impl Fn(&u32) -> bool) -> (Result<&'static str, u32>, u32) {
        let mut tries = 0;
        let outcome = retrying(
            0,
            |failed| {
                tries += 1;
                if failed < failures {
                    Err((failed + 1, failed + 1))
                } else {
                    Ok("done")
                }
            },
            transient,
        );
        (outcome, tries)
    }

    #[test]
    fn a_transient_failure_is_tried_again_up_to_the_bound() {
        let always = |_: &u32| true;
        assert_eq!(retried(0, always), (Ok("done"), 1));
        assert_eq!(retried(1, always), (Ok("done"), 2));
        assert_eq!(retried(sys::REPLACE_TRIES - 1, always), (Ok("done"), sys::REPLACE_TRIES), "the last try");
        assert_eq!(
            retried(sys::REPLACE_TRIES, always),
            (Err(sys::REPLACE_TRIES), sys::REPLACE_TRIES),
            "its error"
        );
        assert_eq!(retried(100, always), (Err(sys::REPLACE_TRIES), sys::REPLACE_TRIES), "and no more tries");
    }

    #[test]
    fn a_lasting_failure_is_not_tried_again() {
        assert_eq!(retried(3, |_| false), (Err(1), 1));
        assert_eq!(retried(3, |&failed| failed != 2), (Err(2), 2), "the first lasting error is the answer");
    }

    #[test]
    fn tries_are_1_2_4_and_8_ms_apart() {
        let waits: Vec<_> = (1..sys::REPLACE_TRIES).map(wait_before_try).collect();
        assert_eq!(waits, [1, 2, 4, 8].map(std::time::Duration::from_millis));
    }
}
