//! Values the host knows: the `redact` list of `InitializeApplication`
//! (its account's chat key, display name, ENS name, wallet addresses... and
//! extra sensitive key names), masked by every call of [`super::redact`]
//! until the next `InitializeApplication` replaces the list.
//!
//! One Aho-Corasick automaton (the `aho-corasick` crate) holds every value in
//! every form it travels in (as given, lower and upper case, JSON-escaped
//! once and twice, with non-ASCII as `\uXXXX`, Debug-escaped once and twice,
//! percent-encoded), matched ASCII-case-insensitively and overlapping, so the
//! search is one linear pass over the text whatever the number of values.
//!
//! The list is a secret: it is never logged nor written (its `Debug` prints
//! counts only), and the copies this module owns are zeroed when the next
//! init drops them (`zeroize`). What cannot be zeroed: the automaton's tables,
//! which encode the values (the crate offers no way to wipe them; they are
//! freed, and the allocator may hand that memory out again unwiped), and the
//! request's own text and parsed JSON (freed by the request's parser).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::sync::RwLock;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use zeroize::Zeroizing;

use super::{push, Span, MASK};

/// At most this many values and keys, each at most this many bytes (longer
/// lists or entries are `invalid-request`).
pub const MAX_VALUES: usize = 64;
pub const MAX_VALUE_BYTES: usize = 256;
pub const MAX_KEYS: usize = 64;
pub const MAX_KEY_BYTES: usize = 64;
/// Values shorter than this many characters (leading and trailing
/// whitespace aside) are ignored: a two-letter name masked inside every word
/// would leave nothing of a report to read.
pub const MIN_VALUE_CHARS: usize = 3;

/// The `redact` object of a request, as given (entries checked for type and
/// bounds by the request parser).
#[derive(Default)]
pub struct RedactList {
    pub values: Vec<Zeroizing<String>>,
    pub keys: Vec<Zeroizing<String>>,
}

impl fmt::Debug for RedactList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedactList {{ {} values, {} keys }}", self.values.len(), self.keys.len())
    }
}

/// The compiled list.
pub struct Known {
    values: Option<AhoCorasick>,
    /// The host's key names, lower-cased and stripped to letters and digits.
    keys: Vec<Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for Known {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Known {{ {} keys }}", self.keys.len())
    }
}

impl Known {
    /// Compiles `list` (consumed: its strings are zeroed when this returns).
    pub fn new(list: RedactList) -> Result<Self, String> {
        let mut needles: Vec<Zeroizing<String>> = Vec::new();
        // Blank padding does not count: `"   "` would mask every indentation.
        for value in list.values.iter().filter(|v| v.trim().chars().count() >= MIN_VALUE_CHARS) {
            for form in forms(value) {
                if !needles.iter().any(|n| n.eq_ignore_ascii_case(&form)) {
                    needles.push(form);
                }
            }
        }
        let values = if needles.is_empty() {
            None
        } else {
            let automaton = AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                // Not a DFA (the crate's pick for few patterns): a list's
                // tables stay small on a phone, and the search stays linear.
                .kind(Some(AhoCorasickKind::ContiguousNFA))
                .build(needles.iter().map(|n| n.as_bytes()))
                .map_err(|_| "the redact list cannot be compiled".to_owned())?;
            Some(automaton)
        };
        let keys = list
            .keys
            .iter()
            .map(|k| Zeroizing::new(normalize_key(k.as_bytes())))
            .filter(|k| k.len() >= 3)
            .collect();
        Ok(Self { values, keys })
    }

    /// Heap bytes of the automaton (for the documentation's figures).
    #[cfg(test)]
    pub fn memory_usage(&self) -> usize {
        self.values.as_ref().map_or(0, AhoCorasick::memory_usage)
    }

    /// Every place of `b` where a value appears, masked.
    pub(super) fn values(&self, b: &[u8], spans: &mut Vec<Span>) {
        if let Some(automaton) = &self.values {
            for m in automaton.find_overlapping_iter(b) {
                push(spans, m.start(), m.end(), MASK);
            }
        }
    }

    /// Whether a key (already lower-cased and stripped to letters and digits)
    /// holds one of the host's key names.
    pub(super) fn is_sensitive_key(&self, normalized: &[u8]) -> bool {
        self.keys.iter().any(|k| normalized.windows(k.len()).any(|w| w == k.as_slice()))
    }
}

/// Lower-cased, letters and digits only: `custom_Secret-Field` is
/// `customsecretfield`.
pub fn normalize_key(key: &[u8]) -> Vec<u8> {
    key.iter().filter(|c| c.is_ascii_alphanumeric()).map(u8::to_ascii_lowercase).collect()
}

/// The forms a value travels in.
fn forms(value: &str) -> Vec<Zeroizing<String>> {
    let json = |s: &str| {
        let quoted = Zeroizing::new(serde_json::to_string(s).unwrap_or_default());
        Zeroizing::new(quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or_default().to_owned())
    };
    let debug = |s: &str| Zeroizing::new(s.escape_debug().to_string());
    let json_once = json(value);
    let debug_once = debug(value);
    let mut ascii_json = Zeroizing::new(String::new());
    for c in json_once.chars() {
        if c.is_ascii() {
            ascii_json.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                ascii_json.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    let mut percent = Zeroizing::new(String::new());
    let mut form = Zeroizing::new(String::new());
    for &byte in value.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            percent.push(char::from(byte));
            form.push(char::from(byte));
        } else {
            percent.push_str(&format!("%{byte:02X}"));
            if byte == b' ' {
                form.push('+');
            } else {
                form.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    vec![
        Zeroizing::new(value.to_owned()),
        Zeroizing::new(value.to_lowercase()),
        Zeroizing::new(value.to_uppercase()),
        json(&json_once),
        debug(&debug_once),
        json_once,
        debug_once,
        ascii_json,
        percent,
        form,
    ]
}

/// Whether any list is installed: one atomic load on the hot path when none is.
static ACTIVE: AtomicBool = AtomicBool::new(false);
static CURRENT: RwLock<Option<Arc<Known>>> = RwLock::new(None);

/// The list in force, if any.
pub fn current() -> Option<Arc<Known>> {
    if !ACTIVE.load(Ordering::Acquire) {
        return None;
    }
    CURRENT.read().clone()
}

/// Holds the list's lock for a `fork()` (`reporting::fork`): a child then
/// never inherits it half-written by an init on another thread, and its
/// redactions (every answer is redacted) never wait on it.
pub(crate) fn hold_for_fork() -> std::sync::RwLockWriteGuard<'static, Option<Arc<Known>>> {
    CURRENT.write()
}

/// Replaces the list in force (`None`: no list). The previous one is dropped
/// here, or by the last redaction still using it.
pub fn install(known: Option<Known>) {
    let known = known.filter(|k| k.values.is_some() || !k.keys.is_empty()).map(Arc::new);
    let active = known.is_some();
    let previous = std::mem::replace(&mut *CURRENT.write(), known);
    ACTIVE.store(active, Ordering::Release);
    drop(previous);
}
