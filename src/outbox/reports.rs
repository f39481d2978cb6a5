//! What `PanicReports` and `DeletePanicReports` see and do: the pending
//! reports with the exact bytes the sender will post, and their deletion
//! with the guarantee an opt-out gives (no request for a deleted report
//! starts, and one in flight is cut off, before the deletion answers).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::history::{self, Cause, Sent};
use super::store::{written_and_attempts, MAX_ENVELOPE_BYTES};
use super::Outbox;
use crate::files;

/// The bodies of one `PanicReports` answer stop past this many bytes (a
/// report larger than that alone still comes, alone): with the rest of the
/// answer, well under what a host reads in one call.
pub const MAX_PAGE_BODY_BYTES: usize = 1024 * 1024;

/// One pending report, as `PanicReports` lists it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    /// The id to pass to `DeletePanicReports` (the file's name without its
    /// suffix and without the attempt count the name carries, so that it
    /// stays the same across attempts; ids sort by age).
    pub id: String,
    pub event_id: Option<String>,
    /// When the report was written (within milliseconds of the panic), Unix ms.
    pub happened_at_ms: u64,
    /// The export whose call panicked (`tags.endpoint`), or the library
    /// thread that did (`tags.thread`).
    pub endpoint: Option<String>,
    pub thread: Option<String>,
    /// `file:line:column` in the library's source.
    pub site: Option<String>,
    /// The panics the event counts besides its own.
    pub carries: Carries,
    /// The server's answers that did not take it so far, across restarts
    /// (counted in its file name; network failures do not count; at
    /// `policy::MAX_ATTEMPTS` it is dropped).
    pub attempts: u32,
    /// The sender holds it in a request right now.
    pub in_flight: bool,
    pub bytes: usize,
    /// The exact body the sender will post (`None`: the file is not UTF-8
    /// text, which the library never writes).
    pub body: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Carries {
    /// Identical panics (same site) storm control did not report.
    pub same_site: u64,
    /// Panics of sites storm control forgot.
    pub other_sites: u64,
    /// Reports the outbox's bound evicted before this one was written.
    pub dropped_reports: u64,
}

/// A page of pending reports.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingPage {
    pub pending: Vec<Pending>,
    /// Reports pending in all (this page and the others).
    pub pending_total: usize,
    /// Pass as `after` for the next page; `None`: this was the last one.
    pub next: Option<String>,
}

/// What a deletion did.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deleted {
    pub deleted: usize,
    /// Ids asked for that were not pending (delivered, evicted or unknown).
    pub not_pending: usize,
}

fn id_of(path: &Path) -> String {
    super::store::report_id(path)
}

/// When a report was written, from its name (`<nanoseconds>-...`).
fn written_ms(id: &str) -> u64 {
    id.split('-').next().and_then(|n| n.parse::<u128>().ok()).map_or(0, |ns| (ns / 1_000_000) as u64)
}

/// The event id of an envelope (its header line).
pub(super) fn event_id(body: &[u8]) -> Option<String> {
    let header = body.split(|&b| b == b'\n').next()?;
    let header: Value = serde_json::from_slice(header).ok()?;
    header.get("event_id")?.as_str().map(str::to_owned)
}

/// The event of an envelope: the payload after the item header.
fn event(body: &[u8]) -> Option<Value> {
    let mut lines = body.splitn(3, |&b| b == b'\n');
    let (_, _, payload) = (lines.next()?, lines.next()?, lines.next()?);
    serde_json::from_slice(payload.strip_suffix(b"\n").unwrap_or(payload)).ok()
}

fn describe(path: &Path, body: Vec<u8>, attempts: u32, in_flight: bool) -> Pending {
    let id = id_of(path);
    let event = event(&body).unwrap_or(Value::Null);
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let count = |key: &str| event["extra"][key].as_u64().unwrap_or(0);
    Pending {
        happened_at_ms: written_ms(&id),
        event_id: event_id(&body),
        endpoint: text(&event["tags"]["endpoint"]),
        thread: text(&event["tags"]["thread"]),
        site: text(&event["extra"]["panic.location"]),
        carries: Carries {
            same_site: count("libstatus.suppressed_since_last"),
            other_sites: count("libstatus.suppressed_other_sites"),
            dropped_reports: count("libstatus.dropped_reports"),
        },
        attempts,
        in_flight,
        bytes: body.len(),
        body: String::from_utf8(body).ok(),
        id,
    }
}

impl Outbox {
    /// The pending reports after the one with id `after` (all with `None`),
    /// oldest first: at most `limit`, and the bodies past
    /// [`MAX_PAGE_BODY_BYTES`] left for the next page.
    ///
    /// Each body is read from the report's file, which nothing rewrites once
    /// written (a new report gets a new name), and kept only if the report
    /// is still listed after the read: the sender posts that same file.
    pub fn pending_reports(&self, after: Option<&str>, limit: usize) -> PendingPage {
        let (candidates, total) = {
            let mut state = self.state.lock();
            let listing = self.listing(&mut state).to_vec();
            let total = listing.len();
            let candidates: Vec<(PathBuf, u32, bool)> = listing
                .into_iter()
                .filter(|(p, _)| after.is_none_or(|after| id_of(p).as_str() > after))
                .map(|(p, _)| {
                    let attempts = written_and_attempts(&p).1;
                    let in_flight = state.in_flight.as_ref().is_some_and(|f| f.as_os_str() == p.as_os_str());
                    (p, attempts, in_flight)
                })
                .collect();
            (candidates, total)
        };
        let mut pending = Vec::new();
        let mut next = None;
        let mut bytes = 0;
        for (path, attempts, in_flight) in candidates {
            let Ok(files::Read::Bytes(body)) = files::read_regular(&path, MAX_ENVELOPE_BYTES as u64) else {
                continue;
            };
            if pending.len() >= limit || (!pending.is_empty() && bytes + body.len() > MAX_PAGE_BODY_BYTES) {
                next = pending.last().map(|(_, p): &(PathBuf, Pending)| p.id.clone());
                break;
            }
            bytes += body.len();
            pending.push((path.clone(), describe(&path, body, attempts, in_flight)));
        }
        // Evicted meanwhile (its file may since hold another report): not listed.
        let state = self.state.lock();
        let still: Vec<&PathBuf> = state.listing.iter().flatten().map(|(p, _)| p).collect();
        let pending = pending
            .into_iter()
            .filter(|(path, _)| still.iter().any(|p| p.as_os_str() == path.as_os_str()))
            .map(|(_, report)| report)
            .collect();
        PendingPage { pending, pending_total: total, next }
    }

    /// Deletes the pending reports with these ids (all of them, and the
    /// history of delivered ones, with `None`), durably, before it returns;
    /// none of them is sent after that, even one the sender holds in a
    /// request at this moment: the purge's epoch (checked right before every
    /// request) moves on, then [`Outbox::cut_off`] ends the request in flight.
    /// A report that cannot be deleted (a read-only disk) is never sent by
    /// this process.
    pub fn delete_reports(&self, ids: Option<&[String]>) -> Deleted {
        let deleted = self.remove_reports(ids);
        // After the epoch moved on: a request that read it before is refused
        // its connection, or has it shut down.
        self.cut_off();
        history::count_dropped(Cause::DeletedByUser, deleted as u64);
        if ids.is_none() {
            history::clear(&self.dir);
        }
        let asked = ids.map_or(0, |ids| {
            let mut unique = ids.to_vec();
            unique.sort();
            unique.dedup();
            unique.len()
        });
        Deleted { deleted, not_pending: asked.saturating_sub(deleted) }
    }

    /// The delivered reports remembered, oldest first.
    pub fn sent_reports(&self) -> Vec<Sent> {
        history::read(&self.dir)
    }

    /// Remembers a report the server accepted (the sender, after deleting it).
    pub(super) fn remember_sent(&self, path: &Path, event_id: Option<String>) {
        let id = id_of(path);
        let entry = Sent { happened_at_ms: written_ms(&id), event_id, accepted_at_ms: history::now_ms(), id };
        history::record(&self.dir, entry);
    }
}

#[cfg(test)]
mod tests {
    use super::super::OutboxLimits;
    use super::*;

    fn envelope(message: &str) -> Vec<u8> {
        let payload = format!(
            r#"{{"tags":{{"endpoint":"IntendedPanic"}},"extra":{{"panic.location":"src/x.rs:1:2","libstatus.suppressed_since_last":4}},"message":"{message}"}}"#
        );
        format!("{{\"event_id\":\"abc\"}}\n{{\"type\":\"event\",\"length\":{}}}\n{payload}\n", payload.len())
            .into_bytes()
    }

    #[test]
    fn lists_exact_bodies_pages_and_deletes_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path(), OutboxLimits::default()).unwrap();
        let bodies: Vec<Vec<u8>> = (0..5).map(|i| envelope(&format!("m{i}"))).collect();
        for body in &bodies {
            outbox.store(body).unwrap();
        }
        let page = outbox.pending_reports(None, 3);
        assert_eq!((page.pending.len(), page.pending_total), (3, 5));
        let first = &page.pending[0];
        assert_eq!(first.body.as_deref().map(str::as_bytes), Some(&bodies[0][..]));
        assert_eq!(first.event_id.as_deref(), Some("abc"));
        assert_eq!(first.endpoint.as_deref(), Some("IntendedPanic"));
        assert_eq!(first.site.as_deref(), Some("src/x.rs:1:2"));
        assert_eq!(first.carries.same_site, 4);
        assert!(first.happened_at_ms > 1_600_000_000_000);
        let rest = outbox.pending_reports(page.next.as_deref(), 3);
        assert_eq!(rest.pending.len(), 2);
        assert!(rest.next.is_none());
        assert_eq!(rest.pending[1].body.as_deref().map(str::as_bytes), Some(&bodies[4][..]));

        // Ids name reports, never paths: nothing outside the listing is touched.
        std::fs::write(dir.path().join("victim.envelope"), b"x").unwrap();
        let hostile = ["../victim".to_owned(), "".to_owned(), "/".to_owned(), ".lock".to_owned()];
        assert_eq!(outbox.delete_reports(Some(&hostile)).deleted, 0);
        assert!(dir.path().join("victim.envelope").exists());
        assert_eq!(outbox.pending_reports(None, 30).pending_total, 5);
        let ids = vec![page.pending[1].id.clone(), "nope".to_owned(), page.pending[1].id.clone()];
        let deleted = outbox.delete_reports(Some(&ids));
        assert_eq!((deleted.deleted, deleted.not_pending), (1, 1));
        let left: Vec<String> = outbox.pending_reports(None, 30).pending.into_iter().map(|p| p.id).collect();
        assert_eq!(left.len(), 4);
        assert!(!left.contains(&page.pending[1].id));

        outbox.remember_sent(Path::new("000000000000001000000000-00000000-1.envelope"), event_id(&bodies[0]));
        assert_eq!(outbox.sent_reports().len(), 1);
        assert_eq!(outbox.delete_reports(None).deleted, 4);
        assert!(outbox.sent_reports().is_empty(), "all clears the history");
        assert_eq!(outbox.pending_reports(None, 30).pending_total, 0);
    }

    #[test]
    fn a_byte_budget_splits_pages_but_a_large_report_comes_alone() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path(), OutboxLimits::default()).unwrap();
        let big = vec![b'x'; MAX_PAGE_BODY_BYTES - 10];
        outbox.store(&big).unwrap();
        outbox.store(&big).unwrap();
        let page = outbox.pending_reports(None, 30);
        assert_eq!(page.pending.len(), 1);
        assert!(page.next.is_some());
        assert_eq!(page.pending[0].bytes, big.len());
        assert_eq!(page.pending[0].event_id, None, "not an envelope: listed all the same");
        assert_eq!(outbox.pending_reports(page.next.as_deref(), 30).pending.len(), 1);
    }
}
