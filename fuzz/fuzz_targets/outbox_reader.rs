//! The outbox reader: a fresh outbox folder filled with random entries (any
//! name, any contents; regular files, links to a file outside, folders, FIFOs,
//! files over the size bound, left-over temporary files), then the outbox is
//! opened, listed, written to, read, and purged.
//!
//! Invariants: nothing panics or blocks; after open, every entry the outbox
//! counts is a regular file of at most 1 MiB at an envelope's name, and the
//! odd ones are gone; a new report is always kept (no odd file evicts it);
//! the bounds hold; a link's target outside the folder is never touched; a
//! purge leaves nothing pending.
#![no_main]

#[path = "common.rs"]
mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use status::fuzzing::{read_regular, Outbox, OutboxLimits, Read, DIR_NAME};

/// The outbox's size bound for one file (`store::MAX_ENVELOPE_BYTES`).
const MAX_ENVELOPE_BYTES: u64 = 1024 * 1024;
const SENTINEL: &[u8] = b"outside the outbox: never read, never touched";

#[derive(Arbitrary, Debug)]
enum Kind {
    File(Vec<u8>),
    /// A sparse file of this many KiB (up to 2 MiB: over the bound past 1 MiB).
    Sized(u16),
    LinkOutside,
    LinkDangling,
    Folder,
    Fifo,
}

#[derive(Arbitrary, Debug)]
struct Entry {
    name: Vec<u8>,
    /// Appends `.envelope` to the name (most real names have it).
    envelope: bool,
    kind: Kind,
}

#[derive(Arbitrary, Debug)]
struct Scenario {
    entries: Vec<Entry>,
    max_items: u8,
    max_kib: u16,
    new_report: Vec<u8>,
}

fuzz_target!(
    init: { common::setup(); },
    |s: Scenario| {
        let base = tempfile::tempdir_in(common::root()).expect("tempdir");
        let data_dir = base.path().join("data");
        let folder = data_dir.join(DIR_NAME);
        fs::create_dir_all(&folder).unwrap();
        let outside = base.path().join("outside");
        fs::write(&outside, SENTINEL).unwrap();
        for entry in s.entries.iter().take(40) {
            make(&folder, entry, &outside);
        }

        let limits = OutboxLimits {
            max_items: usize::from(s.max_items % 40),
            max_bytes: u64::from(s.max_kib) * 1024,
        };
        let Ok(outbox) = Outbox::open(&data_dir, limits) else {
            panic!("a fresh folder with odd entries cannot be opened");
        };
        let counted = outbox.flush(Duration::ZERO);
        let reports = listed(&folder);
        assert_eq!(counted, reports.len(), "the count is the regular envelope files");

        let report = if s.new_report.is_empty() { b"x".to_vec() } else { s.new_report.clone() };
        let floor = format!("{:024}", std::time::UNIX_EPOCH.elapsed().unwrap().as_nanos());
        outbox.store(&report).expect("a new report is always kept");
        let after = listed(&folder);
        assert!(after.len() <= limits.max_items.max(1), "{} over {} items", after.len(), limits.max_items);
        // Eviction goes by name order (the library's own names sort by time):
        // the new report is kept whenever every other report's name sorts
        // before it; names that sort after it are a finding of their own
        // (docs/hardening.md, Fuzzing).
        let older = |p: &std::path::PathBuf| p.file_name().unwrap().as_encoded_bytes() < floor.as_bytes();
        if reports.iter().all(older) {
            assert!(after.iter().any(|p| fs::read(p).is_ok_and(|b| b == report)), "the new report was evicted");
        }
        assert_eq!(outbox.flush(Duration::ZERO), after.len());
        for path in &after {
            match read_regular(path, MAX_ENVELOPE_BYTES).expect("readable") {
                Read::Bytes(bytes) => assert!(bytes.len() as u64 <= MAX_ENVELOPE_BYTES),
                odd => panic!("{} is counted but reads as {odd}", path.display()),
            }
        }

        outbox.purge();
        assert_eq!(outbox.flush(Duration::ZERO), 0, "a purge leaves nothing pending");
        assert!(listed(&folder).is_empty());
        assert_eq!(fs::read(&outside).unwrap(), SENTINEL, "a link's target was touched");
        drop(outbox);
    }
);

/// Makes one entry; names are cut to a file name (no `/`, no NUL, not `.`,
/// `..` or `.lock`, at most 200 bytes).
fn make(folder: &Path, entry: &Entry, outside: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let mut name: Vec<u8> = entry.name.iter().copied().filter(|b| *b != b'/' && *b != 0).take(200).collect();
    if entry.envelope {
        name.extend_from_slice(b".envelope");
    }
    if name.is_empty() || name == b"." || name == b".." || name == b".lock" {
        return;
    }
    let path = folder.join(std::ffi::OsStr::from_bytes(&name));
    if fs::symlink_metadata(&path).is_ok() {
        return;
    }
    let _ = match &entry.kind {
        Kind::File(bytes) => fs::write(&path, bytes),
        Kind::Sized(kib) => {
            fs::File::create(&path).and_then(|f| f.set_len(u64::from(*kib % 2048 + 1) * 1024))
        }
        Kind::LinkOutside => std::os::unix::fs::symlink(outside, &path),
        Kind::LinkDangling => std::os::unix::fs::symlink(folder.join("nowhere"), &path),
        Kind::Folder => fs::create_dir(&path),
        Kind::Fifo => {
            let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
            Ok(())
        }
    };
}

/// The entries the outbox may count: at an envelope's name (not hidden), and
/// each must be a regular file within the bound: anything else at such a name
/// is a finding (it should have been removed).
fn listed(folder: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(folder).unwrap().flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || !name.ends_with(".envelope") {
            continue;
        }
        let meta = fs::symlink_metadata(entry.path()).unwrap();
        assert!(meta.file_type().is_file(), "{name:?} is not a regular file and was kept");
        assert!(meta.size() <= MAX_ENVELOPE_BYTES, "{name:?} is over the bound and was kept");
        out.push(entry.path());
    }
    out
}
