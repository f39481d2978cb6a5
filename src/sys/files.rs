//! Files and folders, each platform's way: opening a name without following a
//! link there, private modes, replacing a file atomically, and a file's
//! identity. `crate::files` states the rules once on top of these.
//!
//! | | Unix | Windows |
//! |---|---|---|
//! | no link followed | `O_NOFOLLOW` (the open fails with `ELOOP`) | `FILE_FLAG_OPEN_REPARSE_POINT`: the link itself is opened, and is then refused as not a regular file |
//! | no FIFO waited on | `O_NONBLOCK` | no FIFOs in folders (named pipes live under `\\.\pipe\` only) |
//! | private | folders 0700, files 0600, whatever the umask | the ACL inherited from the folder, in the user's profile only the user, SYSTEM and Administrators (the library sets no ACL of its own) |
//! | atomic replace | `rename(2)` | `MoveFileExW(MOVEFILE_REPLACE_EXISTING)` (std), retried briefly while another process (an antivirus, an indexer) holds the file |
//! | a folder of the path is a file | `ENOTDIR` | `ERROR_PATH_NOT_FOUND`, told apart from an absent file by looking at the folder, and reported as `NotADirectory` too |
//! | identity | device and inode | volume serial number and file index (`GetFileInformationByHandle`) |

use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::path::Path;

/// Which file a name led to (a replaced folder or lock file gets another).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    volume: u64,
    index: u64,
}

/// How long, at most, a replacement waits for another process to let go of
/// the file (Windows only; a sharing violation lasts as long as an
/// antivirus's scan). Five tries, 1 + 2 + 4 + 8 ms apart.
pub const REPLACE_TRIES: u32 = 5;

#[cfg(unix)]
mod imp {
    use super::*;
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};

    /// Mode of every folder the library creates.
    const DIR_MODE: u32 = 0o700;
    /// Mode of every file the library creates.
    const FILE_MODE: u32 = 0o600;

    /// Opens the name itself: a link there makes the open fail (`ELOOP`), a
    /// FIFO does not block it when `nonblocking`; never inherited by a child.
    pub fn no_follow(options: &mut OpenOptions, nonblocking: bool) -> &mut OpenOptions {
        let nonblock = if nonblocking { libc::O_NONBLOCK } else { 0 };
        options.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | nonblock)
    }

    /// Whether an open failed because the name is a link.
    pub fn is_link_refusal(e: &io::Error) -> bool {
        e.raw_os_error() == Some(libc::ELOOP)
    }

    /// An open's error as the library reads it: on Unix the system already
    /// says `ENOTDIR` when a folder of the path is a file.
    pub fn open_error(e: io::Error, _: &Path) -> io::Error {
        e
    }

    /// A file created with these options is private (0600).
    pub fn private_file(options: &mut OpenOptions) -> &mut OpenOptions {
        options.mode(FILE_MODE)
    }

    /// Makes an opened regular file private if it is not.
    pub fn restrict_file(file: &File, meta: &Metadata) -> io::Result<()> {
        if meta.permissions().mode() & 0o777 != FILE_MODE {
            file.set_permissions(fs::Permissions::from_mode(FILE_MODE))?;
        }
        Ok(())
    }

    /// Creates `dir` and its missing parents as private folders: 0700 exactly
    /// (the umask may have taken bits away, never added any; but a umask of
    /// 0o777 would leave the folder unusable).
    pub fn create_private_dirs(dir: &Path) -> io::Result<()> {
        fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))
    }

    /// Makes an existing folder private (best effort: on a read-only disk
    /// nobody can add to it anyway).
    pub fn restrict_dir(dir: &Path, meta: &Metadata) {
        if meta.permissions().mode() & 0o777 != DIR_MODE {
            let _ = fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE));
        }
    }

    /// A private temporary file in `dir`.
    pub fn private_temp_file(dir: &Path, prefix: &str) -> io::Result<tempfile::NamedTempFile> {
        tempfile::Builder::new()
            .prefix(prefix)
            .permissions(fs::Permissions::from_mode(FILE_MODE))
            .tempfile_in(dir)
    }

    /// Never: a rename on Unix does not care who has the file open.
    pub fn held_by_another_process(_: &io::Error) -> bool {
        false
    }

    /// The identity of the folder at `dir` itself (not of a link's target);
    /// `None` when there is none, or something else than a folder.
    pub fn dir_id(dir: &Path) -> Option<FileId> {
        fs::symlink_metadata(dir).ok().filter(|m| m.is_dir()).map(|m| id_of(&m))
    }

    /// The identity of whatever is at `path`, links not followed.
    pub fn path_id(path: &Path) -> io::Result<FileId> {
        fs::symlink_metadata(path).map(|m| id_of(&m))
    }

    /// The identity of an open file.
    pub fn file_id(file: &File) -> io::Result<FileId> {
        file.metadata().map(|m| id_of(&m))
    }

    fn id_of(meta: &Metadata) -> FileId {
        FileId { volume: meta.dev(), index: meta.ino() }
    }

    /// Test support: whether `meta` has the private mode (files 0600, folders 0700).
    #[cfg(test)]
    pub fn is_private(meta: &Metadata) -> bool {
        meta.permissions().mode() & 0o777 == if meta.is_dir() { DIR_MODE } else { FILE_MODE }
    }

    /// Test support: a symbolic link at `link` to `target`.
    #[cfg(test)]
    pub fn symlink(target: &Path, link: &Path) -> io::Result<()> {
        std::os::unix::fs::symlink(target, link)
    }

    /// Test support: a FIFO at `path`; `false` where the platform has none.
    #[cfg(test)]
    pub fn make_fifo(path: &Path) -> bool {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("no NUL in a test path");
        // SAFETY: a valid NUL-terminated path.
        let made = unsafe { libc::mkfifo(c.as_ptr(), 0o600) } == 0;
        assert!(made, "mkfifo {}: {}", path.display(), io::Error::last_os_error());
        made
    }

    /// Test support: a Unix domain socket's file at `path` (which `open`
    /// refuses with ENXIO); `false` where the platform has none.
    #[cfg(test)]
    pub fn make_socket(path: &Path) -> bool {
        std::os::unix::net::UnixListener::bind(path).is_ok()
    }

    /// Test support: the file at `path` cannot be written by this process
    /// until the answer is dropped: mode 0400 for a user other than root; for
    /// root, whom modes do not stop, its folder is a read-only bind mount in
    /// a mount namespace of this thread's own (Linux; `None` elsewhere, or
    /// where the namespace cannot be made).
    #[cfg(test)]
    pub fn unwritable(path: &Path) -> Option<Unwritable> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(0o400)).ok()?;
            return Some(Unwritable(None));
        }
        read_only_mount(path.parent()?).map(|dir| Unwritable(Some(dir)))
    }

    /// See [`unwritable`]: unmounts the read-only view, if any.
    #[cfg(test)]
    pub struct Unwritable(Option<std::ffi::CString>);

    #[cfg(test)]
    impl Drop for Unwritable {
        fn drop(&mut self) {
            if let Some(dir) = &self.0 {
                unmount(dir);
            }
        }
    }

    #[cfg(all(test, target_os = "linux"))]
    fn read_only_mount(dir: &Path) -> Option<std::ffi::CString> {
        let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
        let none = std::ptr::null();
        // SAFETY: valid NUL-terminated paths or null where mount(2) takes
        // none; the mounts happen in this thread's own mount namespace, made
        // private first so that nothing reaches the host's.
        let mounted = unsafe {
            libc::unshare(libc::CLONE_NEWNS) == 0
                && libc::mount(none, c"/".as_ptr(), none, libc::MS_REC | libc::MS_PRIVATE, none.cast()) == 0
                && libc::mount(c.as_ptr(), c.as_ptr(), none, libc::MS_BIND, none.cast()) == 0
                && libc::mount(
                    none,
                    c.as_ptr(),
                    none,
                    libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                    none.cast(),
                ) == 0
        };
        mounted.then_some(c)
    }

    #[cfg(all(test, target_os = "linux"))]
    fn unmount(dir: &std::ffi::CStr) {
        // SAFETY: a valid NUL-terminated path; this thread's namespace only.
        unsafe { libc::umount2(dir.as_ptr(), libc::MNT_DETACH) };
    }

    #[cfg(all(test, not(target_os = "linux")))]
    fn read_only_mount(_: &Path) -> Option<std::ffi::CString> {
        None
    }

    #[cfg(all(test, not(target_os = "linux")))]
    fn unmount(_: &std::ffi::CStr) {}

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::files::{create_private_dir, open_private_append, write_atomically};

        #[test]
        fn folders_and_files_are_private_whatever_the_umask() {
            let root = tempfile::tempdir().unwrap();
            // SAFETY: umask(2) only changes this process's file-creation mask.
            let old = unsafe { libc::umask(0) };
            let dir = root.path().join("a/b");
            create_private_dir(&dir, true).unwrap();
            let file = dir.join("f");
            write_atomically(&file, b"x", ".tmp", true).unwrap();
            drop(open_private_append(&dir.join("log")).unwrap());
            // SAFETY: as above; restores the mask.
            unsafe { libc::umask(old) };
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(&root.path().join("a")), 0o700);
            assert_eq!(mode(&file), 0o600);
            assert_eq!(mode(&dir.join("log")), 0o600);
        }
    }
}

#[cfg(windows)]
mod imp {
    use super::*;
    use std::os::windows::fs::OpenOptionsExt;
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::Foundation::{
        ERROR_ACCESS_DENIED, ERROR_LOCK_VIOLATION, ERROR_SHARING_VIOLATION,
    };
    use windows_sys::Win32::Storage::FileSystem::{
        GetFileInformationByHandle, BY_HANDLE_FILE_INFORMATION, FILE_FLAG_BACKUP_SEMANTICS,
        FILE_FLAG_OPEN_REPARSE_POINT,
    };

    /// Opens the name itself: a link (a symbolic link or a junction, both
    /// reparse points) is opened as the link, which the caller then refuses
    /// as not a regular file; a folder can be opened (to be refused the same
    /// way). Handles are never inherited by a child (std's default).
    pub fn no_follow(options: &mut OpenOptions, _nonblocking: bool) -> &mut OpenOptions {
        options.custom_flags(FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS)
    }

    /// Never: a link is opened (and refused after), not an error.
    pub fn is_link_refusal(_: &io::Error) -> bool {
        false
    }

    /// An open's error as the library reads it, as Unix reports it: Windows
    /// says "path not found" (`ERROR_PATH_NOT_FOUND`) when the folder a
    /// file should be in is a file, which std reads as `NotFound`, as for a
    /// file that is simply absent. That case is `NotADirectory` here, as
    /// `ENOTDIR` is on Unix, so that a dataDir that is a file is warned about
    /// rather than read as "nothing stored yet".
    pub fn open_error(e: io::Error, path: &Path) -> io::Error {
        use windows_sys::Win32::Foundation::ERROR_PATH_NOT_FOUND;
        let folder_is_a_file =
            || path.parent().and_then(|p| fs::metadata(p).ok()).is_some_and(|m| !m.is_dir());
        if e.raw_os_error() == Some(ERROR_PATH_NOT_FOUND as i32) && folder_is_a_file() {
            io::Error::from(io::ErrorKind::NotADirectory)
        } else {
            e
        }
    }

    /// Nothing to add: the file inherits its folder's ACL.
    pub fn private_file(options: &mut OpenOptions) -> &mut OpenOptions {
        options
    }

    /// Nothing to do: the file inherits its folder's ACL.
    pub fn restrict_file(_: &File, _: &Metadata) -> io::Result<()> {
        Ok(())
    }

    /// Creates `dir` and its missing parents; they inherit the ACL of the
    /// folder above (the user's profile).
    pub fn create_private_dirs(dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    /// Nothing to do: the folder keeps the ACL it inherited.
    pub fn restrict_dir(_: &Path, _: &Metadata) {}

    /// A temporary file in `dir` (its ACL inherited from the folder).
    pub fn private_temp_file(dir: &Path, prefix: &str) -> io::Result<tempfile::NamedTempFile> {
        tempfile::Builder::new().prefix(prefix).tempfile_in(dir)
    }

    /// Another process has the file open without sharing its deletion (an
    /// antivirus or an indexer scanning a file just written): a replacement
    /// is refused until it lets go.
    pub fn held_by_another_process(e: &io::Error) -> bool {
        matches!(
            e.raw_os_error().map(|code| code as u32),
            Some(ERROR_SHARING_VIOLATION | ERROR_LOCK_VIOLATION | ERROR_ACCESS_DENIED)
        )
    }

    /// The identity of the folder at `dir` itself (not of a link's target);
    /// `None` when there is none, or something else than a folder.
    pub fn dir_id(dir: &Path) -> Option<FileId> {
        let handle = open_itself(dir).ok()?;
        if !handle.metadata().ok()?.is_dir() {
            return None;
        }
        file_id(&handle).ok()
    }

    /// The identity of whatever is at `path`, links not followed.
    pub fn path_id(path: &Path) -> io::Result<FileId> {
        file_id(&open_itself(path)?)
    }

    /// The identity of an open file.
    pub fn file_id(file: &File) -> io::Result<FileId> {
        // SAFETY: all-zero is a valid BY_HANDLE_FILE_INFORMATION (integers and
        // FILETIMEs); it is only read after the call filled it.
        let mut info: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
        // SAFETY: a handle `file` owns for the duration of the call, and a
        // valid out-pointer.
        if unsafe { GetFileInformationByHandle(file.as_raw_handle(), &mut info) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(FileId {
            volume: u64::from(info.dwVolumeSerialNumber),
            index: (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow),
        })
    }

    /// A handle on the entry at `path` itself, with no access to its content
    /// (attributes only: no sharing conflict with anyone).
    fn open_itself(path: &Path) -> io::Result<File> {
        OpenOptions::new()
            .access_mode(0)
            .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS)
            .open(path)
    }

    /// Test support: files and folders carry no mode of their own on Windows
    /// (their ACL is inherited); a read-only attribute would be wrong.
    #[cfg(test)]
    pub fn is_private(meta: &Metadata) -> bool {
        !meta.permissions().readonly()
    }

    /// Test support: a symbolic link at `link` to `target` (a reparse
    /// point). An error where links cannot be made (no privilege, no
    /// developer mode), or where the system does not show the link as one:
    /// Wine 8 makes a Unix symbolic link, which Win32 then sees as the folder
    /// or file it points to, so no test of links can run there.
    #[cfg(test)]
    pub fn symlink(target: &Path, link: &Path) -> io::Result<()> {
        if target.is_dir() {
            std::os::windows::fs::symlink_dir(target, link)?;
        } else {
            std::os::windows::fs::symlink_file(target, link)?;
        }
        if fs::symlink_metadata(link)?.file_type().is_symlink() {
            return Ok(());
        }
        let _ = fs::remove_file(link).or_else(|_| fs::remove_dir(link));
        eprintln!("SKIPPED: this system does not show links as reparse points (Wine 8)");
        Err(io::Error::new(io::ErrorKind::Unsupported, "links are not reparse points here"))
    }

    /// Test support: no FIFO can be made in a folder on Windows.
    #[cfg(test)]
    pub fn make_fifo(_: &Path) -> bool {
        false
    }

    /// Test support: no socket file is made here on Windows.
    #[cfg(test)]
    pub fn make_socket(_: &Path) -> bool {
        false
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::files::write_atomically;
        use std::time::{Duration, Instant};

        /// A file open with no sharing at all, as an antivirus scanning it.
        fn held(path: &Path) -> File {
            OpenOptions::new().read(true).share_mode(0).open(path).unwrap()
        }

        #[test]
        fn a_replacement_waits_briefly_for_another_process_to_let_go() {
            let dir = tempfile::tempdir().unwrap();
            let target = dir.path().join("consent.json");
            fs::write(&target, b"old").unwrap();
            let scan = held(&target);
            #[allow(clippy::disallowed_methods)] // the test's stand-in for another process
            let release = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(3));
                drop(scan);
            });
            write_atomically(&target, b"new", ".tmp", false).unwrap();
            release.join().unwrap();
            assert_eq!(fs::read(&target).unwrap(), b"new");
        }

        #[test]
        fn a_file_held_longer_is_an_error_not_a_wait() {
            let dir = tempfile::tempdir().unwrap();
            let target = dir.path().join("consent.json");
            fs::write(&target, b"old").unwrap();
            let _scan = held(&target);
            let started = Instant::now();
            let e = write_atomically(&target, b"new", ".tmp", false).unwrap_err();
            assert!(held_by_another_process(&e), "{e:?}");
            assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
            drop(_scan);
            assert_eq!(fs::read(&target).unwrap(), b"old", "the old content, whole");
            let left: Vec<_> = fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
            assert_eq!(left.len(), 1, "no temporary file left: {left:?}");
        }
    }
}

pub use imp::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_tell_files_and_folders_apart_and_follow_no_link() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, b"a").unwrap();
        fs::write(&b, b"b").unwrap();
        let opened = File::open(&a).unwrap();
        assert_eq!(path_id(&a).unwrap(), file_id(&opened).unwrap(), "a name and its open file");
        assert_ne!(path_id(&a).unwrap(), path_id(&b).unwrap());
        assert_eq!(dir_id(&a), None, "a file is not a folder");
        let folder = dir_id(dir.path()).expect("a folder");
        assert_eq!(Some(folder), dir_id(dir.path()), "stable");
        let before = file_id(&opened).unwrap();
        drop(opened); // (Windows refuses to replace a file open without shared deletion)
        fs::rename(&b, &a).unwrap();
        assert_ne!(path_id(&a).unwrap(), before, "replaced: another file");
        let link = dir.path().join("link");
        if symlink(dir.path(), &link).is_ok() {
            assert_eq!(dir_id(&link), None, "a link to a folder is not the folder");
        }
    }
}
