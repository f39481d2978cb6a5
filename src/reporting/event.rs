//! Turning a caught panic into a Sentry event (before scrubbing, which
//! `before_send` does for every event), and into a line of `status.log`.
//!
//! Nothing is symbolicated in the process, in any build: an event carries the
//! return addresses of the panicking thread's frames that lie in this
//! library's own image, and the image's identity (`debug_meta`: code id, debug
//! id, load address and size, file name). The server symbolicates them with
//! the debug file that `scripts/dist` split off and that was uploaded
//! (`sentry-cli debug-files upload`); `tools/symbolicate` does the same
//! offline. The top frame is the panic site ([`panics::site_index`]),
//! and the event's fingerprint is the site, so that one bug is one issue
//! whatever its message.

use std::borrow::Cow;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::OnceLock;

use sentry::protocol::{Addr, DebugImage, Event, Exception, Frame, Level, Mechanism, Stacktrace, Value};
use sentry::Envelope;

use super::config::ReportingConfig;
use super::Origin;
use crate::logging;
use crate::panics::{self, PanicLocation, PanicRecord};

/// The exception type of `IntendedPanic` events; real bugs have `panic`.
pub const INTENDED_PANIC_TYPE: &str = "IntendedPanic";
pub const PANIC_TYPE: &str = "panic";

/// At most this many frames go into an event (Sentry keeps 250).
pub const MAX_EVENT_FRAMES: usize = 200;

/// Counts that ride on an event (see the limiter and the outbox bounds).
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub suppressed_here: u64,
    pub suppressed_elsewhere: u64,
    pub dropped_reports: u64,
}

fn kind(record: &PanicRecord) -> &'static str {
    if record.intended {
        INTENDED_PANIC_TYPE
    } else {
        PANIC_TYPE
    }
}

/// Where the panic happened, as shown to people and servers: the crate-relative
/// file (never a build machine's path), line and column.
fn site(location: &PanicLocation) -> String {
    let file = super::scrub::relative_source_path(&location.file);
    format!("{file}:{}:{}", location.line, location.column)
}

pub fn panic_event(
    record: &PanicRecord,
    stacktrace: Option<Stacktrace>,
    origin: &Origin<'_>,
    config: &ReportingConfig,
    counts: Counts,
) -> Event<'static> {
    let mut event = Event { level: Level::Error, platform: Cow::Borrowed("native"), ..Default::default() };
    event.exception.values.push(Exception {
        ty: kind(record).to_owned(),
        value: Some(record.message.clone()),
        stacktrace,
        mechanism: Some(Mechanism {
            ty: "panic".to_owned(),
            // The guard or the thread wrapper caught it: the host lives on.
            handled: Some(true),
            description: Some(match origin {
                Origin::Api(_) => "caught by the libstatus API guard".to_owned(),
                Origin::Thread(_) => "caught by the libstatus thread wrapper".to_owned(),
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    // One issue per panic site, whatever the message (which stays the value):
    // Sentry and Bugsink both group by an explicit fingerprint.
    if let Some(location) = &record.location {
        event.fingerprint = Cow::Owned(vec![Cow::Borrowed(kind(record)), Cow::Owned(site(location))]);
    }
    if let Some(name) = &config.context_name {
        event.tags.insert("context.name".into(), name.clone());
    }
    if let Some(version) = &config.context_version {
        event.tags.insert("context.version".into(), version.clone());
    }
    match origin {
        Origin::Api(endpoint) => {
            event.tags.insert("endpoint".into(), (*endpoint).to_owned());
        }
        Origin::Thread(name) => {
            event.tags.insert("thread".into(), (*name).to_owned());
        }
    }
    event.tags.insert("panic.intended".into(), record.intended.to_string());
    if let Some(image) = own_image() {
        event.debug_meta.to_mut().images.push(DebugImage::Symbolic(image.clone()));
    }
    if let Some(location) = &record.location {
        event.extra.insert("panic.location".into(), Value::String(site(location)));
    }
    for (key, count) in [
        ("libstatus.suppressed_since_last", counts.suppressed_here),
        ("libstatus.suppressed_other_sites", counts.suppressed_elsewhere),
        ("libstatus.dropped_reports", counts.dropped_reports),
    ] {
        if count > 0 {
            event.extra.insert(key.into(), Value::from(count));
        }
    }
    event
}

/// The frames of a panic that lie in this library's image, from the panic
/// site down (innermost first): return addresses, the site's made a call-site
/// address (see [`panic_stacktrace`]).
fn own_frames(record: &PanicRecord) -> Vec<u64> {
    let site = panics::site_index(calibration(), &record.frames);
    let own = own_module_range();
    record.frames[site.min(record.frames.len())..]
        .iter()
        .map(|&ip| ip as u64)
        .filter(|ip| own.as_ref().is_none_or(|range| range.contains(ip)))
        .take(MAX_EVENT_FRAMES)
        .collect()
}

/// The stack of a panic for the server to symbolicate: every frame of the
/// panicking thread that lies in this library's image, from the panic site
/// down, oldest first as Sentry wants, each with its instruction address.
///
/// Addresses are return addresses, which Sentry's symbolication moves back
/// into the call instruction for every frame but the top one (the crashing
/// frame, which it takes as is): so the top frame carries the address of its
/// call into the panic machinery (return address - 1). The top frame also
/// carries the panic's location, known without debug information, so a server
/// that does not symbolicate (Bugsink) still shows where it happened.
///
/// The host's frames (the JVM, Python, Qt...) say nothing about our bug and
/// are left out. No frame has a function name: the shipped library has no
/// symbols, and debug information is never read in process.
pub fn panic_stacktrace(record: &mut PanicRecord) -> Option<Stacktrace> {
    let addresses = own_frames(record);
    let mut frames: Vec<Frame> = addresses
        .iter()
        .enumerate()
        .map(|(i, &ip)| Frame {
            instruction_addr: Some(Addr(if i == 0 { ip.saturating_sub(1) } else { ip })),
            ..Default::default()
        })
        .collect();
    if let (Some(top), Some(location)) = (frames.first_mut(), &record.location) {
        let file = super::scrub::relative_source_path(&location.file).into_owned();
        // Our own sources are crate-relative; std's (/rustc/...) and the
        // registry's are not ours.
        top.in_app = Some(file.starts_with("src/"));
        top.filename = Some(file);
        top.lineno = Some(u64::from(location.line));
        top.colno = Some(u64::from(location.column));
    }
    frames.reverse();
    (!frames.is_empty()).then(|| Stacktrace { frames, ..Default::default() })
}

/// The debug image of the module this code is linked into (libstatus.so, or
/// the executable for status-backend), found once. Events carry this image
/// only: it is what a server needs to symbolicate our frames, and the host's
/// list of loaded libraries is none of its business.
fn own_image() -> Option<&'static sentry::protocol::SymbolicDebugImage> {
    static IMAGE: OnceLock<Option<sentry::protocol::SymbolicDebugImage>> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let marker =
                own_image as fn() -> Option<&'static sentry::protocol::SymbolicDebugImage> as usize as u64;
            sentry::integrations::debug_images::debug_images().into_iter().find_map(|image| match image {
                DebugImage::Symbolic(image) => {
                    let start = image.image_addr.0;
                    (start..start.saturating_add(image.image_size)).contains(&marker).then_some(image)
                }
                _ => None,
            })
        })
        .as_ref()
}

fn own_module_range() -> Option<std::ops::Range<u64>> {
    own_image().map(|image| image.image_addr.0..image.image_addr.0.saturating_add(image.image_size))
}

/// The panic machinery's calibration, learned on a library thread the first
/// time (see [`panics::calibration_or`]).
fn calibration() -> Option<&'static panics::Calibration> {
    panics::calibration_or(|calibrate| {
        super::spawn_thread("libstatus-calibrate", calibrate).ok()?.join().ok().flatten()
    })
}

/// Run once on a library thread at `InitializeApplication`: learns the panic
/// machinery (calibration), reads our own image's identity and starts the
/// panic log's thread, so that the first panicking call pays for none of it.
/// No debug information is read.
pub fn warm_up_symbols() {
    let _ = calibration();
    let _ = own_image();
    let _ = log_queue();
}

/// Storm control groups panics by where they happened.
pub fn fingerprint(record: &PanicRecord) -> String {
    match &record.location {
        Some(l) => format!("{}@{}:{}:{}", kind(record), l.file, l.line, l.column),
        None => format!("{}:{}", kind(record), record.message),
    }
}

/// The stack as log text: image-relative call-site addresses, innermost
/// first, for `tools/symbolicate` or `addr2line -f -C -i -e <debug file>`.
pub fn format_stacktrace(stacktrace: &Stacktrace) -> String {
    let base = own_image().map_or(0, |image| image.image_addr.0);
    let mut out = String::new();
    for (i, frame) in stacktrace.frames.iter().rev().enumerate() {
        let Some(Addr(addr)) = frame.instruction_addr else { continue };
        // The top frame's address already is a call site; the others are
        // return addresses.
        let call = if i == 0 { addr } else { addr.saturating_sub(1) };
        out.push_str(&format!(" {:#x}", call.saturating_sub(base)));
    }
    out
}

/// Logs a caught panic: one line (on stderr too when `logToStderr` is set),
/// holding the redacted message, the site and the whole stack as addresses.
/// A library thread writes it: the caller's thread only queues it.
pub fn log_panic(origin: &Origin<'_>, message: &str, record: &PanicRecord, stacktrace: Option<&Stacktrace>) {
    if !log::log_enabled!(log::Level::Error) {
        return;
    }
    let at = record.location.as_ref().map(|l| format!(" at {}", site(l))).unwrap_or_default();
    let mut line = format!("panic in {origin}{at}: {message}");
    if let Some(stacktrace) = stacktrace {
        let image = own_image();
        let file = image.map(|i| file_name(&i.name).to_owned()).unwrap_or_default();
        let debug_id = image.map(|i| i.id.to_string()).unwrap_or_default();
        line.push_str(&format!(
            " [stack in {file} (debug id {debug_id}), call sites, innermost first:{}]",
            format_stacktrace(stacktrace)
        ));
    }
    // Written where the logging configuration of this moment says.
    let Some(destination) = logging::Destination::now() else { return };
    match log_queue() {
        Some(queue) => match queue.try_send((destination, line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => log::warn!("panic log queue full: a panic was not logged"),
            Err(TrySendError::Disconnected((destination, line))) => {
                destination.write(log::Level::Error, module_path!(), &line)
            }
        },
        None => destination.write(log::Level::Error, module_path!(), &line),
    }
}

/// A panic's log line and where it goes.
type QueuedLine = (logging::Destination, String);

/// The panic log's queue and thread, started once.
fn log_queue() -> Option<&'static SyncSender<QueuedLine>> {
    static QUEUE: OnceLock<Option<SyncSender<QueuedLine>>> = OnceLock::new();
    QUEUE
        .get_or_init(|| {
            let (sender, receiver) = mpsc::sync_channel::<QueuedLine>(64);
            super::spawn_thread("libstatus-panic-log", move || {
                for (destination, line) in receiver {
                    destination.write(log::Level::Error, module_path!(), &line);
                }
            })
            .ok()?;
            Some(sender)
        })
        .as_ref()
}

/// The envelope of an event, as the outbox stores it: the event only, with
/// the debug image in the form Sentry's native symbolication reads (`type`
/// `elf`, `code_file`, `debug_id`, `code_id`, `image_addr`, `image_size`),
/// which the `sentry` crate's legacy `symbolic` image does not write.
pub fn envelope_bytes(event: Event<'static>) -> std::io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    Envelope::from(event).to_writer(&mut raw)?;
    let mut parts = raw.splitn(3, |&b| b == b'\n');
    let (Some(header), Some(_item), Some(payload)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(std::io::Error::other("unexpected envelope layout"));
    };
    let mut event: serde_json::Value = serde_json::from_slice(payload.trim_ascii_end())?;
    if let Some(images) = event.pointer_mut("/debug_meta/images").and_then(|v| v.as_array_mut()) {
        images.iter_mut().for_each(native_image);
    }
    let payload = serde_json::to_vec(&event)?;
    let mut out = Vec::with_capacity(payload.len() + header.len() + 40);
    out.extend_from_slice(header);
    out.extend_from_slice(format!("\n{{\"type\":\"event\",\"length\":{}}}\n", payload.len()).as_bytes());
    out.extend_from_slice(&payload);
    out.push(b'\n');
    Ok(out)
}

fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// `{"type":"symbolic","name":..,"id":..}` into `{"type":"elf","code_file":..,"debug_id":..}`.
fn native_image(image: &mut serde_json::Value) {
    let Some(image) = image.as_object_mut() else { return };
    if image.get("type").and_then(|t| t.as_str()) != Some("symbolic") {
        return;
    }
    let ty = if cfg!(target_vendor = "apple") {
        "macho"
    } else if cfg!(windows) {
        "pe"
    } else {
        "elf"
    };
    image.insert("type".into(), ty.into());
    if let Some(name) = image.remove("name") {
        let file = name.as_str().map(|n| file_name(n).to_owned()).unwrap_or_default();
        image.insert("code_file".into(), file.into());
    }
    if let Some(id) = image.remove("id") {
        image.insert("debug_id".into(), id);
    }
    image.remove("arch").filter(|a| !a.is_null()).map(|a| image.insert("arch".into(), a));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_written_as_native_images() {
        let mut image = serde_json::json!({
            "type": "symbolic", "name": "/data/app/lib/libstatus.so", "arch": null,
            "image_addr": "0x7f0000000000", "image_size": 4096,
            "id": "c0ffee00-1234-5678-9abc-def012345678", "code_id": "00eeffc03412"
        });
        native_image(&mut image);
        assert_eq!(image["type"], "elf");
        assert_eq!(image["code_file"], "libstatus.so");
        assert_eq!(image["debug_id"], "c0ffee00-1234-5678-9abc-def012345678");
        assert!(image.get("name").is_none() && image.get("id").is_none() && image.get("arch").is_none());
        assert_eq!(image["image_size"], 4096);
    }

    #[test]
    fn the_envelope_holds_the_event_with_its_length() {
        let mut event = Event::default();
        event.debug_meta.to_mut().images.push(DebugImage::Symbolic(sentry::protocol::SymbolicDebugImage {
            name: "libstatus.so".into(),
            arch: None,
            image_addr: Addr(0x1000),
            image_size: 10,
            image_vmaddr: Addr(0),
            id: Default::default(),
            code_id: None,
            debug_file: None,
        }));
        let bytes = envelope_bytes(event).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        let item: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(item["type"], "event");
        assert_eq!(item["length"], lines[2].len());
        let event: serde_json::Value = serde_json::from_str(lines[2]).unwrap();
        assert_eq!(event["debug_meta"]["images"][0]["type"], "elf");
    }
}
