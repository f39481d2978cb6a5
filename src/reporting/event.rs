//! Turning a caught panic into a Sentry event (before scrubbing, which
//! the reporter does for every event), and into a line of `status.log`.
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

use std::io::Write;

use sentry::protocol::{
    Addr, DebugImage, Event, Exception, Frame, Level, Mechanism, Stacktrace, SystemSdkInfo, Value,
};
use sentry::types::{CodeId, DebugId};
use serde::Serialize;

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

impl Counts {
    /// Every panic the event counts besides its own.
    pub fn carried(&self) -> u64 {
        self.suppressed_here.saturating_add(self.suppressed_elsewhere).saturating_add(self.dropped_reports)
    }
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

/// The event of a fatal error an earlier process wrote down
/// ([`crate::fatal`]): level fatal, not handled, the signal as the exception
/// type, our image as it was loaded in that process, and the frames that lay
/// in it, for the server to symbolicate.
pub fn fatal_event(report: &crate::fatal::Report, config: &ReportingConfig) -> Event<'static> {
    let name = crate::fatal::signal_name(report.signal);
    let mut event = Event { level: Level::Fatal, platform: Cow::Borrowed("native"), ..Default::default() };
    let image = own_image().and_then(|own| {
        let (code_id, addr, size) = report.image.as_ref()?;
        let same =
            own.code_id.as_ref().is_some_and(|id| id.to_string() == *code_id) && own.image_size == *size;
        same.then(|| {
            let mut image = own.clone();
            image.image_addr = Addr(*addr);
            image
        })
    });
    let range = report.image.as_ref().map(|(_, addr, size)| *addr..addr.saturating_add(*size));
    let mut frames: Vec<Frame> = Vec::new();
    for (i, &ip) in report.frames.iter().enumerate() {
        if !range.as_ref().is_some_and(|r| r.contains(&ip)) || frames.len() >= MAX_EVENT_FRAMES {
            continue;
        }
        // The faulting instruction as it is; a return address moved back into its call.
        let exact = i == 0 && report.exact_top;
        let addr = if frames.is_empty() && !exact { ip.saturating_sub(1) } else { ip };
        frames.push(Frame { instruction_addr: Some(Addr(addr)), ..Default::default() });
    }
    frames.reverse();
    let value = match &report.panic {
        Some(text) => text.clone(),
        None if report.signal == libc::SIGABRT => "abort".to_owned(),
        None => format!("{name} at {:#x} (code {})", report.address, report.code),
    };
    event.exception.values.push(Exception {
        ty: name.to_owned(),
        value: Some(value),
        stacktrace: (!frames.is_empty()).then(|| Stacktrace { frames, ..Default::default() }),
        mechanism: Some(Mechanism {
            ty: "signalhandler".to_owned(),
            handled: Some(false),
            description: Some(
                "written by the libstatus fatal-error handler, sent at the next start".to_owned(),
            ),
            meta: sentry::protocol::MechanismMeta {
                signal: Some(sentry::protocol::PosixSignal {
                    number: report.signal,
                    code: Some(report.code),
                    name: Some(name.to_owned()),
                    code_name: None,
                }),
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    });
    if let Some(name) = &config.context_name {
        event.tags.insert("context.name".into(), name.clone());
    }
    if let Some(version) = &config.context_version {
        event.tags.insert("context.version".into(), version.clone());
    }
    match report.tag {
        0 => {}
        crate::fatal::THREAD_TAG => {
            event.tags.insert("thread".into(), "library thread".to_owned());
        }
        tag => {
            if let Some(endpoint) = crate::endpoint::Endpoint::from_tag(tag) {
                event.tags.insert("endpoint".into(), endpoint.name().to_owned());
            }
        }
    }
    event.tags.insert("fatal".into(), "true".to_owned());
    if let Some(image) = image {
        event.debug_meta.to_mut().images.push(DebugImage::Symbolic(image));
    }
    event
}

/// Our image as a fatal-error report names it.
pub fn fatal_image() -> Option<crate::fatal::Image> {
    let image = own_image()?;
    Some(crate::fatal::Image {
        code_id: image.code_id.as_ref()?.to_string(),
        addr: image.image_addr.0,
        size: image.image_size,
    })
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

pub(crate) fn own_module_range() -> Option<std::ops::Range<u64>> {
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
    if let Some(own) = own_module_range() {
        panics::set_own_image(own.start as usize..own.end as usize);
    }
    let _ = calibration();
    let _ = own_image();
    let _ = log_queue();
}

/// What storm control groups panics by: their kind and where they happened
/// (the message stands for the place when the compiler gave none).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Fingerprint {
    At { kind: &'static str, location: PanicLocation },
    Message { kind: &'static str, message: String },
}

pub fn fingerprint(record: &PanicRecord) -> Fingerprint {
    let kind = kind(record);
    match &record.location {
        Some(location) => Fingerprint::At { kind, location: location.clone() },
        None => Fingerprint::Message { kind, message: record.message.clone() },
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

/// The envelope of one event, as the outbox stores it and the sender posts
/// it: its header, the item header with the payload's length, the event.
/// Serialised once; our own image goes out in Sentry's native form (`elf`,
/// `macho`, `pe`, what symbolicators look up by code and debug id), which
/// `sentry-types` cannot write (it has the older `symbolic` form only).
pub fn envelope_bytes(mut event: Event<'static>) -> std::io::Result<Vec<u8>> {
    let meta = std::mem::take(event.debug_meta.to_mut());
    let mut payload = serde_json::to_vec(&event)?;
    if !meta.is_empty() {
        // `{...}` becomes `{...,"debug_meta":{...}}` (an event always has fields: its id).
        if payload.pop() != Some(b'}') {
            return Err(std::io::Error::other("an event that is not a JSON object"));
        }
        payload.push(b',');
        payload.extend_from_slice(b"\"debug_meta\":");
        let images = meta.images.iter().map(image_out).collect();
        serde_json::to_writer(&mut payload, &DebugMetaOut { sdk_info: meta.sdk_info.as_ref(), images })?;
        payload.push(b'}');
    }
    let mut out = Vec::with_capacity(payload.len() + 100);
    write!(
        out,
        "{{\"event_id\":\"{}\"}}\n{{\"type\":\"event\",\"length\":{}}}\n",
        event.event_id.hyphenated(),
        payload.len()
    )?;
    out.extend_from_slice(&payload);
    out.push(b'\n');
    Ok(out)
}

#[derive(Serialize)]
struct DebugMetaOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    sdk_info: Option<&'a SystemSdkInfo>,
    images: Vec<ImageOut<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ImageOut<'a> {
    Native(NativeImage<'a>),
    Kept(&'a DebugImage),
}

/// A `symbolic` image in Sentry's native form: `name` is `code_file` (the
/// file name only, never a path of the device), `id` is `debug_id`.
#[derive(Serialize)]
struct NativeImage<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    code_file: &'a str,
    debug_id: &'a DebugId,
    #[serde(skip_serializing_if = "Option::is_none")]
    code_id: Option<&'a CodeId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    debug_file: Option<&'a str>,
    image_addr: Addr,
    image_size: u64,
    #[serde(skip_serializing_if = "Addr::is_null")]
    image_vmaddr: Addr,
    #[serde(skip_serializing_if = "Option::is_none")]
    arch: Option<&'a str>,
}

/// The form of this platform's images in Sentry's `debug_meta`.
const IMAGE_TYPE: &str = if cfg!(target_vendor = "apple") {
    "macho"
} else if cfg!(windows) {
    "pe"
} else {
    "elf"
};

fn image_out(image: &DebugImage) -> ImageOut<'_> {
    let DebugImage::Symbolic(image) = image else { return ImageOut::Kept(image) };
    ImageOut::Native(NativeImage {
        ty: IMAGE_TYPE,
        code_file: file_name(&image.name),
        debug_id: &image.id,
        code_id: image.code_id.as_ref(),
        debug_file: image.debug_file.as_deref(),
        image_addr: image.image_addr,
        image_size: image.image_size,
        image_vmaddr: image.image_vmaddr,
        arch: image.arch.as_deref(),
    })
}

fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(name: &str, arch: Option<&str>) -> sentry::protocol::SymbolicDebugImage {
        sentry::protocol::SymbolicDebugImage {
            name: name.into(),
            arch: arch.map(str::to_owned),
            image_addr: Addr(0x7f0000000000),
            image_size: 4096,
            image_vmaddr: Addr(0),
            id: "c0ffee00-1234-5678-9abc-def012345678".parse().unwrap(),
            code_id: Some("00eeffc03412".parse().unwrap()),
            debug_file: None,
        }
    }

    fn payload(event: Event<'static>) -> serde_json::Value {
        let bytes = envelope_bytes(event).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        serde_json::from_str(text.lines().nth(2).unwrap()).unwrap()
    }

    #[test]
    fn images_are_written_as_native_images() {
        let mut event = Event::default();
        event
            .debug_meta
            .to_mut()
            .images
            .push(DebugImage::Symbolic(image("/data/app/lib/libstatus.so", None)));
        let event = payload(event);
        let image = &event["debug_meta"]["images"][0];
        assert_eq!(image["type"], IMAGE_TYPE);
        assert_eq!(image["code_file"], "libstatus.so");
        assert_eq!(image["debug_id"], "c0ffee00-1234-5678-9abc-def012345678");
        assert_eq!(image["code_id"], "00eeffc03412");
        assert_eq!(image["image_addr"], "0x7f0000000000");
        assert!(image.get("name").is_none() && image.get("id").is_none() && image.get("arch").is_none());
        assert!(image.get("image_vmaddr").is_none(), "{image}");
        assert_eq!(image["image_size"], 4096);
        assert_eq!(image.as_object().unwrap().len(), 6, "{image}");
    }

    #[test]
    fn an_architecture_and_other_image_kinds_are_kept() {
        let mut event = Event::default();
        let images = &mut event.debug_meta.to_mut().images;
        images.push(DebugImage::Symbolic(image("C:\\apps\\status.dll", Some("x86_64"))));
        images.push(DebugImage::Wasm(sentry::protocol::WasmDebugImage {
            name: "m.wasm".into(),
            debug_id: Default::default(),
            debug_file: None,
            code_id: None,
            code_file: "m.wasm".into(),
        }));
        let event = payload(event);
        let images = event["debug_meta"]["images"].as_array().unwrap();
        assert_eq!(images[0]["code_file"], "status.dll");
        assert_eq!(images[0]["arch"], "x86_64");
        assert_eq!(images[1]["type"], "wasm");
        assert_eq!(images[1]["code_file"], "m.wasm");
    }

    /// A caught panic with nothing but a message: no location, no frames.
    fn plain_record() -> PanicRecord {
        PanicRecord {
            message: "m".into(),
            intended: false,
            location: None,
            frames: Vec::new(),
            consent: crate::consent::at_panic(),
        }
    }

    #[test]
    fn the_count_an_event_carries_is_what_its_eviction_reads_back() {
        let record = plain_record();
        for counts in [
            Counts { suppressed_here: 3, suppressed_elsewhere: 40, dropped_reports: 500 },
            Counts { suppressed_here: 0, suppressed_elsewhere: 0, dropped_reports: 7 },
            Counts::default(),
        ] {
            let config =
                ReportingConfig::resolve(&super::super::config::BuildConfig::current(), None, None, None);
            let event = panic_event(&record, None, &Origin::Api("X"), &config, counts);
            let bytes = envelope_bytes(event).unwrap();
            assert_eq!(crate::outbox::carried_in(&bytes), counts.carried(), "{counts:?}");
        }
    }

    #[test]
    fn an_event_without_images_has_no_debug_meta() {
        let event = payload(Event { message: Some("m".into()), ..Default::default() });
        assert!(event.get("debug_meta").is_none(), "{event}");
        assert_eq!(event["message"], "m");
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
        let id = event.event_id;
        let bytes = envelope_bytes(event).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.ends_with('\n'));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        let header: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(header, serde_json::json!({ "event_id": id.hyphenated().to_string() }));
        let item: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(item["type"], "event");
        assert_eq!(item["length"], lines[2].len());
        let event: serde_json::Value = serde_json::from_str(lines[2]).unwrap();
        assert_eq!(event["debug_meta"]["images"][0]["type"], IMAGE_TYPE);
    }

    /// A count of zero is left out of the event (a server shows every extra).
    #[test]
    fn only_counts_above_zero_ride_on_an_event() {
        let record = plain_record();
        let config =
            ReportingConfig::resolve(&super::super::config::BuildConfig::current(), None, None, None);
        let counts = Counts { suppressed_here: 0, suppressed_elsewhere: 2, dropped_reports: 0 };
        let event = payload(panic_event(&record, None, &Origin::Api("X"), &config, counts));
        assert_eq!(event["extra"]["libstatus.suppressed_other_sites"], 2, "{event}");
        assert!(event["extra"].get("libstatus.suppressed_since_last").is_none(), "{event}");
        assert!(event["extra"].get("libstatus.dropped_reports").is_none(), "{event}");
    }

    #[cfg(unix)]
    fn fatal_report(
        signal: i32,
        frames: Vec<u64>,
        exact_top: bool,
        image: Option<(String, u64, u64)>,
    ) -> crate::fatal::Report {
        crate::fatal::Report { signal, code: 1, address: 0x10, tag: 0, image, panic: None, frames, exact_top }
    }

    #[cfg(unix)]
    fn fatal_payload(report: &crate::fatal::Report) -> serde_json::Value {
        let config =
            ReportingConfig::resolve(&super::super::config::BuildConfig::current(), None, None, None);
        payload(fatal_event(report, &config))
    }

    /// The instruction addresses of a fatal event's frames, oldest first.
    #[cfg(unix)]
    fn fatal_frames(report: &crate::fatal::Report) -> Vec<u64> {
        let event = fatal_payload(report);
        let frames =
            event["exception"]["values"][0]["stacktrace"]["frames"].as_array().cloned().unwrap_or_default();
        let hex = |v: &serde_json::Value| {
            u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
        };
        frames.iter().map(|f| hex(&f["instruction_addr"])).collect()
    }

    /// A fatal report's frames in the event: only those in our image (as it
    /// was loaded in the crashed process), at most [`MAX_EVENT_FRAMES`],
    /// oldest first; the faulting instruction as it is, the innermost return
    /// address of ours moved back into its call (Sentry moves the callers'
    /// back itself). Our image is attached only when the report's build id
    /// and size are ours.
    ///
    /// Not on Windows: fatal errors are not reported there, and a test
    /// executable has no CodeView record (build.rs asks for one for the DLL).
    #[test]
    #[cfg(unix)]
    fn a_fatal_events_frames_and_image_are_what_a_server_needs() {
        let own = fatal_image().expect("the test binary's own image, with a build id");
        let image = Some((own.code_id.clone(), own.addr, own.size));
        let inside = |n: u64| own.addr + 0x100 + n * 0x10;
        let outside = own.addr + own.size + 0x1000;
        // A fault in our code: the top frame is the faulting instruction.
        let fault =
            fatal_report(libc::SIGSEGV, vec![inside(0), outside, inside(1), inside(2)], true, image.clone());
        assert_eq!(fatal_frames(&fault), [inside(2), inside(1), inside(0)]);
        assert_eq!(fatal_payload(&fault)["exception"]["values"][0]["value"], "SIGSEGV at 0x10 (code 1)");
        // A fault outside it (libc): our innermost frame is a return address.
        let elsewhere = fatal_report(libc::SIGSEGV, vec![outside, inside(1), inside(2)], true, image.clone());
        assert_eq!(fatal_frames(&elsewhere), [inside(2), inside(1) - 1]);
        // An abort: every frame a return address.
        let abort = fatal_report(libc::SIGABRT, vec![inside(0), inside(1)], false, image.clone());
        assert_eq!(fatal_frames(&abort), [inside(1), inside(0) - 1]);
        let event = fatal_payload(&abort);
        assert_eq!(event["exception"]["values"][0]["value"], "abort", "{event}");
        assert_eq!(event["debug_meta"]["images"][0]["image_addr"], format!("{:#x}", own.addr), "{event}");
        // A stack deeper than the bound.
        let deep =
            fatal_report(libc::SIGSEGV, (0..MAX_EVENT_FRAMES as u64 + 5).map(inside).collect(), true, image);
        assert_eq!(fatal_frames(&deep).len(), MAX_EVENT_FRAMES);
        // Another build of the library (another build id, or another size):
        // its addresses mean nothing against our image, which is left out.
        for other in
            [("0badc0de".to_owned(), own.addr, own.size), (own.code_id.clone(), own.addr, own.size + 4096)]
        {
            let event = fatal_payload(&fatal_report(libc::SIGSEGV, vec![inside(0)], true, Some(other)));
            assert!(
                event.get("debug_meta").is_none_or(|m| m["images"].as_array().is_none_or(Vec::is_empty)),
                "{event}"
            );
        }
    }

    /// The log's stack: image-relative call sites, innermost first (the top
    /// frame's address as is, the callers' return addresses moved back into
    /// their calls), for `tools/symbolicate` or `addr2line`.
    ///
    /// Not on Windows: a test executable has no CodeView record there, so no
    /// image of its own (the DLL has one: build.rs asks the linker for it).
    #[test]
    #[cfg(unix)]
    fn the_logged_stack_is_call_sites_relative_to_our_image() {
        let base = own_image().expect("the test binary's own image").image_addr.0;
        let frame = |addr: u64| Frame { instruction_addr: Some(Addr(addr)), ..Default::default() };
        let stacktrace = Stacktrace {
            frames: vec![frame(base + 0x300), frame(base + 0x200), frame(base + 0x100)],
            ..Default::default()
        };
        assert_eq!(format_stacktrace(&stacktrace), " 0x100 0x1ff 0x2ff");
    }
}
