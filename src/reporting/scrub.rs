//! Privacy: what may not leave the process in an event, taken out of it.
//!
//! Applied by the reporter to every event, whatever built it: no server name,
//! no modules, no user, no request, no host name, no home directory, no DSN, no
//! absolute path from the build machine or the user's disk, sensitive JSON
//! values masked (the same [`crate::redact`] rule as the logs), and a fresh
//! trace id so that two events cannot be linked through it.

use std::borrow::Cow;

use sentry::protocol::{Context, DebugImage, Event, Frame, Stacktrace, TraceContext, Value};

use crate::redact::{redact, redact_prefix, MASK};

/// The longest exception value kept (Sentry itself trims longer ones).
pub const MAX_VALUE_CHARS: usize = 8 * 1024;

/// How far past a bound text is scrubbed before it is cut at the bound: longer
/// than any secret [`redact`] recognises only whole (a 24-word phrase, a key,
/// an address...). Secrets it masks from their start to the end of the text
/// (an unterminated JSON string, a PEM block, a bearer token) need no margin.
pub const CUT_MARGIN_CHARS: usize = 1024;

/// What must not appear in an event, learned at `InitializeApplication`.
#[derive(Clone, Default)]
pub struct Scrubber {
    /// The DSN and its public key: masked wherever they appear.
    secrets: Vec<String>,
    /// Home directories and the host name: replaced by `~` / masked.
    homes: Vec<String>,
    host_name: Option<String>,
}

impl Scrubber {
    pub fn new(dsn: Option<&str>) -> Self {
        let mut secrets = Vec::new();
        if let Some(dsn) = dsn {
            secrets.push(dsn.to_owned());
            if let Ok(parsed) = dsn.parse::<sentry::types::Dsn>() {
                secrets.push(parsed.public_key().to_owned());
                if let Some(secret) = parsed.secret_key() {
                    secrets.push(secret.to_owned());
                }
            }
        }
        secrets.retain(|s| s.len() >= 4);
        // The user's home (on Android, the app's data directory). Other homes
        // (`/home/<user>`...) are `redact`'s, build paths `relative_source_path`'s.
        // On Windows, `%USERPROFILE%` (`C:\Users\<name>`).
        let mut homes: Vec<String> =
            ["HOME", "USERPROFILE"].iter().filter_map(|v| std::env::var(v).ok()).collect();
        homes.retain(|h| h.len() > 1 && h != "/");
        let host_name = host_name().filter(|h| h.len() >= 3);
        Self { secrets, homes, host_name }
    }

    /// Also masks `secrets` (a proxy's user name and password).
    pub fn with_secrets(mut self, secrets: Vec<String>) -> Self {
        self.secrets.extend(secrets.into_iter().filter(|s| s.len() >= 4));
        self
    }

    /// Scrubs any text that leaves in an event: the DSN, the host name and the
    /// home directory of this machine (known needles, each replaced in one
    /// linear pass), then everything [`redact`] finds.
    pub fn text(&self, text: &str) -> String {
        redact(&self.needles(text))
    }

    /// [`Self::text`] for a value kept to `max_chars`, cut **before** it is
    /// scrubbed: only `max_chars + CUT_MARGIN_CHARS` characters are scrubbed,
    /// however long the text. Secrets are recognised in all of them, but
    /// nothing of the last [`CUT_MARGIN_CHARS`] is kept when the text was cut,
    /// so a secret that the first cut split (and that may no longer be
    /// recognisable) never shows.
    pub fn bounded_text(&self, text: &str, max_chars: usize) -> String {
        let head = truncate_chars(text, max_chars + CUT_MARGIN_CHARS);
        let was_cut = head.len() < text.len();
        let head = self.needles(head);
        let chars = head.chars().count();
        let keep_chars =
            if was_cut { max_chars.min(chars.saturating_sub(CUT_MARGIN_CHARS)) } else { max_chars };
        let keep = truncate_chars(&head, keep_chars).len();
        let dropped = keep < head.len();
        let mut out = redact_prefix(&head, keep);
        if dropped || out.chars().count() > max_chars {
            out = truncate_chars(&out, max_chars).to_owned();
            out.push('…');
        }
        out
    }

    /// The DSN and its keys, the host name and the home directory replaced.
    fn needles<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        let masked = self.secrets.iter().chain(self.host_name.iter()).map(|s| (s.as_str(), MASK));
        for (needle, with) in masked.chain(self.homes.iter().map(|h| (h.as_str(), "~"))) {
            if out.contains(needle) {
                out = Cow::Owned(out.replace(needle, with));
            }
        }
        out
    }

    /// The whole event, in place.
    pub fn event(&self, mut event: Event<'static>) -> Event<'static> {
        event.server_name = None;
        event.user = None;
        event.request = None;
        event.modules.clear();
        event.breadcrumbs.values.clear();
        // Only the trace context survives, and it is new for every event.
        event.contexts.clear();
        // `TraceContext::default()` draws fresh random trace and span ids.
        event.contexts.insert("trace".into(), Context::Trace(Box::<TraceContext>::default()));
        if let Some(message) = event.message.take() {
            event.message = Some(self.text(&message));
        }
        if let Some(culprit) = event.culprit.take() {
            event.culprit = Some(self.text(&culprit));
        }
        if let Some(transaction) = event.transaction.take() {
            event.transaction = Some(self.text(&transaction));
        }
        for exception in event.exception.values.iter_mut() {
            if let Some(value) = exception.value.take() {
                exception.value = Some(self.bounded_text(&value, MAX_VALUE_CHARS));
            }
            if let Some(stacktrace) = exception.stacktrace.as_mut() {
                self.stacktrace(stacktrace);
            }
        }
        for thread in event.threads.values.iter_mut() {
            if let Some(stacktrace) = thread.stacktrace.as_mut() {
                self.stacktrace(stacktrace);
            }
        }
        if let Some(stacktrace) = event.stacktrace.as_mut() {
            self.stacktrace(stacktrace);
        }
        for value in event.tags.values_mut() {
            *value = self.text(value);
        }
        for value in event.extra.values_mut() {
            self.value(value);
        }
        for image in event.debug_meta.to_mut().images.iter_mut() {
            let (code_file, debug_file) = match image {
                DebugImage::Symbolic(image) => (&mut image.name, image.debug_file.as_mut()),
                DebugImage::Apple(image) => (&mut image.name, None),
                DebugImage::Wasm(image) => (&mut image.code_file, image.debug_file.as_mut()),
                _ => continue,
            };
            *code_file = file_name(code_file).to_owned();
            if let Some(debug_file) = debug_file {
                *debug_file = file_name(debug_file).to_owned();
            }
        }
        event
    }

    fn stacktrace(&self, stacktrace: &mut Stacktrace) {
        for frame in stacktrace.frames.iter_mut() {
            self.frame(frame);
        }
    }

    fn frame(&self, frame: &mut Frame) {
        let path = frame.abs_path.take().or_else(|| frame.filename.take());
        frame.filename = path.map(|p| self.text(&relative_source_path(&p)));
        frame.vars.clear();
    }

    fn value(&self, value: &mut Value) {
        match value {
            Value::String(s) => *s = self.text(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.value(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.value(v)),
            _ => {}
        }
    }
}

/// A source path without the machine it was built on: `<crate>-<version>/...`
/// for registry crates, `library/...` for std, and the bare file name for
/// anything else absolute. This crate's own panic locations are relative
/// already (`src/api/mod.rs`: cargo names the sources of the package it
/// builds relative to it); the build's folder is not compiled in to strip
/// it, since that would put the build machine's path into the library.
pub fn relative_source_path(path: &str) -> Cow<'_, str> {
    let normalized = path.replace('\\', "/");
    if !is_absolute(&normalized) {
        return if normalized == path { Cow::Borrowed(path) } else { Cow::Owned(normalized) };
    }
    // ~/.cargo/registry/src/<index>/<crate>-<version>/src/lib.rs
    if let Some((_, rest)) = normalized.split_once("/registry/src/") {
        if let Some((_, in_crate)) = rest.split_once('/') {
            return Cow::Owned(in_crate.to_owned());
        }
    }
    // ~/.cargo/git/checkouts/<repo>-<hash>/<rev>/...
    if let Some((_, rest)) = normalized.split_once("/git/checkouts/") {
        let mut parts = rest.splitn(3, '/');
        if let (Some(_), Some(_), Some(in_repo)) = (parts.next(), parts.next(), parts.next()) {
            return Cow::Owned(in_repo.to_owned());
        }
    }
    // /rustc/<commit>/library/std/src/panicking.rs, or a rustup toolchain's copy.
    if let Some(idx) = normalized.find("/library/") {
        if normalized.starts_with("/rustc/") || normalized.contains("/rustlib/") {
            return Cow::Owned(normalized[idx + 1..].to_owned());
        }
    }
    Cow::Owned(file_name(&normalized).to_owned())
}

fn is_absolute(path: &str) -> bool {
    path.starts_with('/') || path.as_bytes().get(1) == Some(&b':')
}

fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// The first `max_chars` characters of `text`.
fn truncate_chars(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((idx, _)) => &text[..idx],
        None => text,
    }
}

fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentry::protocol::{Exception, Map, SymbolicDebugImage, User};

    const DSN: &str = "https://0123456789abcdef@sentry.example.org/42";

    #[test]
    fn source_paths_lose_the_machine() {
        // This crate's own locations need nothing: they are relative.
        assert_eq!(file!(), "src/reporting/scrub.rs");
        assert_eq!(relative_source_path(file!()), "src/reporting/scrub.rs");
        let manifest = env!("CARGO_MANIFEST_DIR");
        assert_eq!(relative_source_path(&format!("{manifest}/src/api/mod.rs")), "mod.rs");
        assert_eq!(
            relative_source_path("/home/alice/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/sentry-core-0.49.5/src/client/mod.rs"),
            "sentry-core-0.49.5/src/client/mod.rs"
        );
        assert_eq!(
            relative_source_path("/rustc/59807616e1/library/std/src/panicking.rs"),
            "library/std/src/panicking.rs"
        );
        assert_eq!(
            relative_source_path("/home/bob/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/lib/rustlib/src/rust/library/core/src/panicking.rs"),
            "library/core/src/panicking.rs"
        );
        assert_eq!(relative_source_path("/Users/carol/work/x/main.c"), "main.c");

        assert_eq!(relative_source_path("C:\\Users\\dan\\x\\y.rs"), "y.rs");
        assert_eq!(relative_source_path("src/lib.rs"), "src/lib.rs");
    }

    #[test]
    fn text_masks_secrets_homes_and_sensitive_values() {
        let s = Scrubber::new(Some(DSN));
        let out = s.text(&format!(
            r#"sent to {DSN} key 0123456789abcdef {{"password":"hunter2"}} at /home/alice/x.rs and /Users/bob/y and /root/z"#
        ));
        assert!(!out.contains("sentry.example.org/42"), "{out}");
        assert!(!out.contains("0123456789abcdef"), "{out}");
        assert!(!out.contains("hunter2"), "{out}");
        assert!(!out.contains("alice") && !out.contains("bob") && !out.contains("/root/"), "{out}");
        assert!(out.contains(r#""password":"***""#), "{out}");
    }

    #[test]
    fn event_loses_identifying_fields() {
        let s = Scrubber::new(Some(DSN));
        let mut extra = Map::new();
        extra.insert("note".into(), Value::String(format!("dsn {DSN}")));
        let mut event = Event {
            server_name: Some("alices-laptop".into()),
            user: Some(User { username: Some("alice".into()), ..Default::default() }),
            extra,
            ..Default::default()
        };
        event.modules.insert("serde".into(), "1.0".into());
        event.contexts.insert("os".into(), Context::Other(Map::new()));
        event.exception.values.push(Exception {
            ty: "panic".into(),
            value: Some(format!(r#"{{"mnemonic":"a b c"}} {}"#, "x".repeat(MAX_VALUE_CHARS))),
            stacktrace: Some(Stacktrace {
                frames: vec![Frame {
                    abs_path: Some("/home/alice/src/libstatus/src/api/mod.rs".into()),
                    filename: Some("mod.rs".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        });
        event.debug_meta.to_mut().images.push(DebugImage::Symbolic(SymbolicDebugImage {
            name: "/home/alice/target/libstatus.so".into(),
            arch: None,
            image_addr: 0.into(),
            image_size: 0,
            image_vmaddr: 0.into(),
            id: Default::default(),
            code_id: None,
            debug_file: Some("/home/alice/libstatus.debug".into()),
        }));
        let a = s.event(event.clone());
        let b = s.event(event);
        assert!(a.server_name.is_none() && a.user.is_none() && a.modules.is_empty());
        assert_eq!(a.contexts.len(), 1);
        let trace_id = |e: &Event| match e.contexts.get("trace") {
            Some(Context::Trace(t)) => t.trace_id,
            _ => panic!("no trace context"),
        };
        assert_ne!(trace_id(&a), trace_id(&b), "trace ids must differ per event");
        let json = serde_json::to_string(&a).unwrap();
        for needle in ["alice", "sentry.example.org", "0123456789abcdef", "a b c"] {
            assert!(!json.contains(needle), "{needle} leaked: {json}");
        }
        let value = a.exception.values[0].value.as_deref().unwrap();
        assert!(value.chars().count() <= MAX_VALUE_CHARS + 1);
        let frame = &a.exception.values[0].stacktrace.as_ref().unwrap().frames[0];
        assert!(frame.abs_path.is_none());
        assert_eq!(frame.filename.as_deref(), Some("mod.rs"));
    }

    /// Every kind of debug image loses the folders of its files (they name
    /// the user or the build machine); only the file names are sent.
    #[test]
    fn debug_images_of_every_kind_keep_file_names_only() {
        use sentry::protocol::{AppleDebugImage, WasmDebugImage};
        let mut event = Event::default();
        let images = &mut event.debug_meta.to_mut().images;
        images.push(DebugImage::Apple(AppleDebugImage {
            name: "/Users/alice/Library/Status.app/Status".into(),
            arch: None,
            cpu_type: None,
            cpu_subtype: None,
            image_addr: 0.into(),
            image_size: 0,
            image_vmaddr: 0.into(),
            uuid: Default::default(),
        }));
        images.push(DebugImage::Wasm(WasmDebugImage {
            name: "status".into(),
            debug_id: Default::default(),
            debug_file: Some("/home/alice/build/status.debug.wasm".into()),
            code_id: None,
            code_file: "/home/alice/build/status.wasm".into(),
        }));
        let event = Scrubber::new(None).event(event);
        let images = &event.debug_meta.images;
        match &images[0] {
            DebugImage::Apple(image) => assert_eq!(image.name, "Status"),
            other => panic!("{other:?}"),
        }
        match &images[1] {
            DebugImage::Wasm(image) => {
                assert_eq!(image.code_file, "status.wasm");
                assert_eq!(image.debug_file.as_deref(), Some("status.debug.wasm"));
            }
            other => panic!("{other:?}"),
        }
    }

    /// The machine's host name is masked by a scrubber built the way the
    /// library builds it. The name is set here when the test may (a UTS
    /// namespace of this thread's own, as root, on Linux), else read
    /// independently of `host_name()`.
    #[test]
    fn the_machines_host_name_is_masked() {
        const NAME: &str = "libstatus-test-host";
        let own = crate::sys::process::set_thread_host_name(NAME);
        let host = crate::sys::process::host_name();
        if own {
            assert_eq!(host, NAME);
        }
        // Names under three characters are not masked (they would mask words).
        if host.len() >= 3 {
            let out = Scrubber::new(None).text(&format!("panic on {host}!"));
            assert_eq!(out, "panic on ***!");
        }
    }

    #[test]
    fn relative_windows_paths_are_normalised() {
        assert_eq!(relative_source_path("src\\api\\mod.rs"), "src/api/mod.rs");
    }

    /// The bound is 8 KiB of characters: a value of exactly 8192 is kept
    /// whole, one more is cut to 8192 and marked; a value that redaction
    /// lengthens past the bound is cut too.
    #[test]
    fn the_value_bound_is_eight_kibibytes_of_characters() {
        let s = Scrubber::new(None);
        let exact = "é".repeat(8192);
        assert_eq!(s.bounded_text(&exact, MAX_VALUE_CHARS), exact);
        let out = s.bounded_text(&format!("{exact}x"), MAX_VALUE_CHARS);
        assert_eq!(out, format!("{exact}…"));
        let mut event = Event::default();
        event
            .exception
            .values
            .push(sentry::protocol::Exception { value: Some(format!("{exact}tail")), ..Default::default() });
        let event = s.event(event);
        assert_eq!(event.exception.values[0].value.as_deref(), Some(format!("{exact}…").as_str()));
        // `{"pin":1}` becomes `{"pin":"***"}`: 819 of them grow past the bound.
        let growing = format!("{}xx", r#"{"pin":1} "#.repeat(819));
        assert_eq!(growing.chars().count(), 8192);
        let out = s.bounded_text(&growing, MAX_VALUE_CHARS);
        assert_eq!(out.chars().count(), 8193, "cut to the bound, then the mark");
        assert!(out.starts_with(r#"{"pin":"***"} {"pin":"***"}"#) && out.ends_with('…'), "{}", &out[..40]);
    }

    /// The home folder (a needle, replaced before redaction) shrinks the text
    /// that was cut at the bound plus the margin: the part of a secret that
    /// the cut split must still stay out, though it now lies before the bound.
    #[test]
    fn a_secret_split_by_the_cut_stays_out_when_needles_shrink_the_text() {
        let s = scrubber_with("alices-laptop", "/opt/alice-long-home");
        let key = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
        let homes = "/opt/alice-long-home ".repeat(100); // 2100 characters, 200 after scrubbing
        let pad = MAX_VALUE_CHARS + CUT_MARGIN_CHARS - 32 - homes.chars().count();
        let text = format!("{homes}{}{key} and more", "y".repeat(pad));
        let out = s.bounded_text(&text, MAX_VALUE_CHARS);
        assert!(!out.contains(&key[..16]), "a prefix of a key split by the first cut leaked");
        assert!(!out.contains("/opt/alice-long-home") && out.starts_with("~ ~ "), "{}", &out[..20]);
        assert!(out.ends_with('…'));
    }

    fn scrubber_with(host: &str, home: &str) -> Scrubber {
        Scrubber {
            secrets: vec![DSN.to_owned()],
            homes: vec![home.to_owned()],
            host_name: Some(host.to_owned()),
        }
    }

    #[test]
    fn host_name_and_home_are_masked_and_the_rest_of_a_path_kept() {
        let s = scrubber_with("alices-laptop", "/opt/alice");
        let out = s.text("on alices-laptop at /opt/alice/data/x.db and /home/bob/src/lib.rs:3");
        assert_eq!(out, "on *** at ~/data/x.db and ~/src/lib.rs:3");
        // The machine's real host name, as `Scrubber::new` reads it.
        if let Some(host) = host_name().filter(|h| h.len() >= 3) {
            let out = Scrubber::new(None).text(&format!("panic on {host}!"));
            assert!(!out.contains(&host), "{out}");
        }
    }

    #[test]
    fn the_dsn_is_masked_before_its_parts_are_touched() {
        let s = Scrubber::new(Some(DSN));
        let out = s.text(&format!("posting to {DSN}/api/ failed"));
        assert_eq!(out, "posting to ***/api/ failed");
    }

    #[test]
    fn strings_nested_in_extra_and_tags_are_scrubbed() {
        let s = scrubber_with("alices-laptop", "/opt/alice");
        let mut extra = Map::new();
        extra.insert(
            "request".into(),
            serde_json::json!({"list": [{"deep": "mail alice@example.com"}, "host alices-laptop"], "n": 1}),
        );
        let mut event = Event { extra, ..Default::default() };
        event.tags.insert("note".into(), "from 10.0.0.7 at /home/alice/x".into());
        let event = s.event(event);
        let json = serde_json::to_string(&event).unwrap();
        for needle in ["alice@example.com", "alices-laptop", "10.0.0.7", "/home/alice"] {
            assert!(!json.contains(needle), "{needle} leaked: {json}");
        }
        assert_eq!(event.extra["request"]["list"][0]["deep"], "mail ***");
        assert_eq!(event.extra["request"]["n"], 1);
        assert_eq!(event.tags["note"], "from *** at ~/x");
    }

    #[test]
    fn the_value_is_cut_to_its_bound_and_a_secret_across_the_bound_leaks_no_prefix() {
        let s = Scrubber::new(None);
        let key = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
        // The key crosses the 8 KiB bound.
        let text = format!("{}{key} tail", "x".repeat(MAX_VALUE_CHARS - 20));
        let out = s.bounded_text(&text, MAX_VALUE_CHARS);
        assert!(out.chars().count() <= MAX_VALUE_CHARS + 1);
        assert!(out.ends_with("***…"), "the key is masked whole: {}", &out[out.len() - 20..]);
        assert!(!out.contains(&key[..20]), "a prefix of the key leaked");
        // A 24-word phrase across the bound.
        let phrase = "abandon ability able about above absent absorb abstract absurd abuse access accident \
                      account accuse achieve acid acoustic acquire across act action actor actress actual";
        let text = format!("{} {phrase} {}", "x".repeat(MAX_VALUE_CHARS - 50), "y".repeat(5000));
        let out = s.bounded_text(&text, MAX_VALUE_CHARS);
        assert!(!out.contains("abandon ability"), "{}", &out[out.len() - 80..]);
        // A secret that the first cut (bound + margin) splits, after text that
        // scrubbing shrinks: its prefix must not slide under the bound.
        let paths = "/home/someone-long-name ".repeat((MAX_VALUE_CHARS + CUT_MARGIN_CHARS - 40) / 24);
        let pad = MAX_VALUE_CHARS + CUT_MARGIN_CHARS - 32 - paths.chars().count();
        let text = format!("{paths}{}{key}", " ".repeat(pad));
        let out = s.bounded_text(&text, MAX_VALUE_CHARS);
        assert!(!out.contains(&key[..16]), "a prefix of a key cut by the first cut leaked");
        // Short values are kept whole; 1 MiB costs only the bound.
        assert_eq!(s.bounded_text("short /home/bob/x", MAX_VALUE_CHARS), "short ~/x");
        let huge = "/home/".repeat(1 << 18);
        let start = std::time::Instant::now();
        let out = s.bounded_text(&huge, MAX_VALUE_CHARS);
        assert!(out.chars().count() <= MAX_VALUE_CHARS + 1);
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }
}
