//! Redaction: the one function that the logs, the answers and the Sentry
//! events use, so a secret hidden in one is hidden in all.
//!
//! [`redact`] works on any text, not only on valid JSON, because panic messages
//! and log lines embed fragments of requests, Debug-formatted strings and plain
//! prose. It runs a fixed number of detectors, each a single linear scan of the
//! input that records the byte ranges to replace; the ranges are then merged
//! and the output is built in one more pass. No detector searches again from
//! every position, so the cost is linear in the input length whatever it holds.
//! A range is only ever widened when detectors overlap, never narrowed, so one
//! detector cannot undo another.
//!
//! What is replaced (see `docs/hardening.md`, section Redaction, for the
//! reasoning and the limits):
//!
//! - the value under a sensitive key (`is_sensitive_key`), whatever its JSON
//!   type (`null` stays), in JSON, in JSON escaped once or twice more (what
//!   `{:?}` of a string holding JSON prints), with `\uXXXX`-escaped keys, and in
//!   `key=value`, `key: value`, `key = "value"`, `key => value` text;
//! - a run of 12 or more words of the BIP-39 English list (a recovery phrase);
//! - 40 or more hex digits in a row (raw private keys, public keys, wallet
//!   addresses, hashes, community/chat/message ids; the `0x` stays),
//!   PEM key blocks, `Bearer` tokens, the user part of URLs (`https://u:p@host`);
//! - the identifiers of Status's world (`redact/identifiers.rs`): multibase
//!   chat keys and libp2p peer ids (decoded from base58), `/p2p/` segments
//!   and ENR bodies, ENS names, phone numbers, JWTs without `Bearer`;
//! - every value of the host's `redact` list (`redact/known.rs`), in every
//!   form it travels in;
//! - e-mail, IPv4, IPv6 and MAC addresses, 15/16-digit numbers (IMEI, card
//!   numbers) and Luhn-valid card numbers of other lengths, IBANs;
//! - the user or app part of paths: `/home/<user>`, `/Users/<user>`,
//!   `C:\Users\<user>` (escaped too) and `/root` become `~`; Android's
//!   `/data/data/<package>`, `/data/user/<n>/<package>` and iOS's
//!   `/var/mobile/Containers/Data/Application/<UUID>` become `<app>`;
//!   `/storage/emulated/<n>` becomes `<storage>`; the rest of the path stays.
//!
//! (Longer than the house's 400 lines on purpose: the detectors share one
//! scanner and one list of ranges, and each must stay linear; kept together,
//! the one-pass design stays visible. The tests are in `redact/tests.rs`.)

/// Lower-case substrings that mark a key as sensitive, compared with the key
/// lower-cased and stripped of everything but letters and digits (so
/// `private_key`, `Private-Key` and `privateKey` all read `privatekey`).
///
/// status-go's list (`password`, `newPassword`, `mnemonic`, `openseaAPIKey`,
/// `poktToken`, `infuraToken`, `alchemy*`, `rarible*`, `statusProxyBlockchainUser`,
/// `verifyENSURL`, `verifyTransactionURL`, `gifs/api-key`) plus the generic parts
/// this library adds so that new keys are covered by default.
pub const SENSITIVE_KEY_PARTS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "passcode",
    "mnemonic",
    "seedphrase",
    "openseaapikey",
    "pokttoken",
    "infuratoken",
    "alchemy",
    "rarible",
    "statusproxyblockchainuser",
    "verifyensurl",
    "verifytransactionurl",
    "gifsapikey",
    "secret",
    "privatekey",
    "apikey",
    "keyuid",
    "cookie",
    "credential",
    "dsn",
];

/// Short names that mark a key as sensitive only as a whole word of it (words
/// are split at `_`, `-`, `.`, spaces and camelCase humps): `pin`, `newPin` and
/// `PIN_CODE` are sensitive, `shipping`, `ping` and `spinner` are not; `auth`
/// and `authToken` are, `author` is not; `seed` and `seedWords` are,
/// `seeded` is not.
pub const SENSITIVE_KEY_WORDS: &[&str] = &[
    "pin",
    "pwd",
    "pass",
    "auth",
    "oauth",
    "authorization",
    "seed",
    "session",
    "sid",
    "otp",
    "jwt",
    "redact",
];

/// `token` marks a key when it is its **last** word (`token`, `accessToken`,
/// `csrf_token`): the key then names a token. In a wallet `tokenAddress`,
/// `tokenId` or `tokens` name crypto tokens, which are not secrets.
const LAST_WORD_TOKEN: &str = "token";

/// The replacement for a redacted value.
pub const MASK: &str = "***";
/// The replacement for a home directory (`/home/<user>`...).
const HOME: &str = "~";
/// The replacement for an app's private folder (Android and iOS).
const APP: &str = "<app>";
/// The replacement for Android's shared storage root of one user.
const STORAGE: &str = "<storage>";

/// Whether a JSON key names a sensitive value (the tests pin the key rules
/// through it).
#[cfg(test)]
pub fn is_sensitive_key(key: &str) -> bool {
    sensitive(key.as_bytes(), &mut Vec::new(), None)
}

/// Returns `text` with every secret and identifier described in the module
/// documentation replaced. Linear in `text.len()`; never panics.
pub fn redact(text: &str) -> String {
    redact_prefix(text, text.len())
}

/// [`redact`] of `text`, keeping only what comes from its first `keep` bytes:
/// every secret is recognised in the whole of `text` (a secret that starts
/// before `keep` and ends after it is masked whole), and nothing after `keep`
/// is returned. For cutting a value to a size bound without leaking the part
/// of a secret that the bound cuts off.
pub fn redact_prefix(text: &str, keep: usize) -> String {
    redact_prefix_with(text, keep, known::current().as_deref())
}

/// [`redact_prefix`] with the host's list `known` (the one in force, or a
/// test's own).
fn redact_prefix_with(text: &str, keep: usize, known: Option<&Known>) -> String {
    let keep = floor_boundary(text, keep);
    let b = text.as_bytes();
    let mut spans = Vec::new();
    if let Some(known) = known {
        known.values(b, &mut spans);
    }
    key_values(b, &mut spans, known);
    paths(b, &mut spans);
    pem_blocks(b, &mut spans);
    bearer_tokens(b, &mut spans);
    url_credentials(b, &mut spans);
    emails(b, &mut spans);
    hex_runs(b, &mut spans);
    ipv6_and_mac(b, &mut spans);
    ipv4(b, &mut spans);
    long_numbers(b, &mut spans);
    ibans(b, &mut spans);
    mnemonics(b, &mut spans);
    identifiers::base58_identifiers(b, &mut spans);
    identifiers::multiaddr_peers_and_enr(b, &mut spans);
    identifiers::ens_names(b, &mut spans);
    identifiers::phone_numbers(b, &mut spans);
    identifiers::jwts(b, &mut spans);
    if spans.is_empty() {
        return text[..keep].to_owned();
    }
    apply(text, spans, keep)
}

/// A byte range of the input and what replaces it.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    with: &'static str,
}

fn push(spans: &mut Vec<Span>, start: usize, end: usize, with: &'static str) {
    if start < end {
        spans.push(Span { start, end, with });
    }
}

/// Merges overlapping ranges (a range inside another takes the outer one's
/// replacement; ranges that only overlap become [`MASK`]) and builds the text.
fn apply(text: &str, mut spans: Vec<Span>, keep: usize) -> String {
    spans.sort_unstable_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut out = String::with_capacity(keep);
    let mut copied = 0;
    let mut iter = spans.into_iter().peekable();
    while let Some(mut cur) = iter.next() {
        if cur.start >= keep {
            break;
        }
        while let Some(next) = iter.peek() {
            if next.start >= cur.end {
                break;
            }
            if next.end > cur.end {
                cur.end = next.end;
                cur.with = MASK;
            }
            iter.next();
        }
        // Every detector cuts next to ASCII bytes; widen to char boundaries anyway.
        let start = floor_boundary(text, cur.start.max(copied));
        let end = ceil_boundary(text, cur.end);
        if end <= copied {
            continue;
        }
        let start = start.max(copied);
        out.push_str(&text[copied..start]);
        out.push_str(cur.with);
        copied = end;
    }
    // Nothing when the last range ran past `keep`.
    if let Some(rest) = text.get(copied..keep) {
        out.push_str(rest);
    }
    out
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Whether a word may start at `i` (`\b` before an ASCII letter or digit).
fn word_start(b: &[u8], i: usize) -> bool {
    i == 0 || !is_word(b[i - 1])
}

fn starts_with_ignore_case(b: &[u8], i: usize, lit: &[u8]) -> bool {
    b.len() >= i + lit.len() && b[i..i + lit.len()].eq_ignore_ascii_case(lit)
}

// ---------------------------------------------------------------- key = value

fn is_key_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')
}

/// Scans the key word starting at `i` (letters, digits, `_-.` and `\uXXXX`
/// escapes of them, at any escaping depth) into `key`; returns its end.
fn scan_key(b: &[u8], mut i: usize, key: &mut Vec<u8>) -> usize {
    key.clear();
    while i < b.len() {
        let c = b[i];
        if is_key_byte(c) {
            key.push(c);
            i += 1;
        } else if c == b'\\' {
            let run = b[i..].iter().take_while(|&&c| c == b'\\').count();
            let u = i + run;
            match decode_u_escape(b, u) {
                Some(decoded) if is_key_byte(decoded) => {
                    key.push(decoded);
                    i = u + 5;
                }
                _ => break,
            }
        } else {
            break;
        }
    }
    i
}

/// `uXXXX` at `i` (the backslashes already skipped), when it is ASCII.
fn decode_u_escape(b: &[u8], i: usize) -> Option<u8> {
    let hex = b.get(i..i + 5)?;
    if hex[0] != b'u' {
        return None;
    }
    let mut value = 0u32;
    for &h in &hex[1..] {
        value = value * 16 + (h as char).to_digit(16)?;
    }
    u8::try_from(value).ok().filter(u8::is_ascii)
}

fn sensitive(key: &[u8], scratch: &mut Vec<u8>, known: Option<&Known>) -> bool {
    if key.len() < 3 {
        return false;
    }
    scratch.clear();
    scratch.extend(key.iter().filter(|c| c.is_ascii_alphanumeric()).map(u8::to_ascii_lowercase));
    // A naive search beats `str::contains` here: keys are short, and a
    // searcher's set-up per part and word would cost more than the search.
    let hit = (0..scratch.len()).any(|i| {
        let rest = &scratch[i..];
        SENSITIVE_KEY_PARTS
            .iter()
            .any(|part| part.as_bytes()[0] == rest[0] && rest.starts_with(part.as_bytes()))
    });
    // `redact` in any case (`ReDaCt` is read as InitializeApplication's
    // `redact` too, but split into other words).
    if hit || scratch.as_slice() == b"redact" || known.is_some_and(|k| k.is_sensitive_key(scratch)) {
        return true;
    }
    let mut last: &[u8] = &[];
    let mut hit = false;
    for_each_word(key, |word| {
        hit |=
            SENSITIVE_KEY_WORDS.iter().any(|w| word.eq_ignore_ascii_case(w.as_bytes())) || run_together(word);
        last = word;
    });
    // `token`, `accessToken` and `ACCESSTOKEN` alike.
    hit || (last.len() >= LAST_WORD_TOKEN.len()
        && last[last.len() - LAST_WORD_TOKEN.len()..].eq_ignore_ascii_case(LAST_WORD_TOKEN.as_bytes()))
}

/// Words that, run together with a short sensitive word in one case
/// (`NEWPIN`, `pincode`, `AUTHTOKEN`, `sessionid`), spell the same key as
/// its camelCase or snake_case form (`newPin`, `pin_code`...), whose humps
/// or separators the split into words would have seen.
const BEFORE_WORD: &[&str] = &[
    "new", "old", "current", "confirm", "user", "access", "refresh", "api", "app", "wallet", "account",
    "login", "device", "client", "master", "x", "id",
];
const AFTER_WORD: &[&str] = &[
    "code", "id", "key", "token", "hash", "number", "num", "value", "words", "word", "phrase", "secret",
    "data", "hex", "str", "string",
];

/// Whether `word` (one word of a key, no visible boundary inside) is a short
/// sensitive word with only [`BEFORE_WORD`] before it and [`AFTER_WORD`]
/// after it, in any case: `ping`, `seeded`, `author`, `passed`, `sidebar` are
/// not. Only the few places where a [`BEFORE_WORD`] (or nothing) ends are
/// tried, so the cost does not grow with the word's length.
fn run_together(word: &[u8]) -> bool {
    let is_one_of = |part: &[u8], list: &[&str]| {
        part.is_empty() || list.iter().any(|w| part.eq_ignore_ascii_case(w.as_bytes()))
    };
    std::iter::once("").chain(BEFORE_WORD.iter().copied()).any(|before| {
        starts_with_ignore_case(word, 0, before.as_bytes()) && {
            let rest = &word[before.len()..];
            SENSITIVE_KEY_WORDS.iter().any(|w| {
                starts_with_ignore_case(rest, 0, w.as_bytes()) && is_one_of(&rest[w.len()..], AFTER_WORD)
            })
        }
    })
}

/// Calls `f` with each word of a key: split at non-alphanumerics, at a lower-
/// to upper-case step (`newPin`), before the last capital of a capital run
/// followed by a lower-case letter (`PINCode`), and between letters and digits.
fn for_each_word<'a>(key: &'a [u8], mut f: impl FnMut(&'a [u8])) {
    let mut start = None;
    for i in 0..=key.len() {
        let c = key.get(i).copied().unwrap_or(b' ');
        if !c.is_ascii_alphanumeric() {
            if let Some(s) = start.take() {
                f(&key[s..i]);
            }
            continue;
        }
        if let Some(s) = start {
            let p = key[i - 1];
            let boundary = (p.is_ascii_lowercase() && c.is_ascii_uppercase())
                || (p.is_ascii_uppercase()
                    && c.is_ascii_uppercase()
                    && key.get(i + 1).is_some_and(u8::is_ascii_lowercase))
                || (p.is_ascii_digit() != c.is_ascii_digit());
            if boundary {
                f(&key[s..i]);
                start = Some(i);
            }
        } else {
            start = Some(i);
        }
    }
}

fn key_values(b: &[u8], spans: &mut Vec<Span>, known: Option<&Known>) {
    let mut key = Vec::new();
    let mut scratch = Vec::new();
    let mut i = 0;
    // A key starts where no key byte comes before it, or right after an
    // escaped byte that may not be in a key: Go's JSON escapes `<`, `>` and
    // `&` (`\u003cpin=1234`), and the `u003c` is no part of the key after it.
    let mut after_escape = 0;
    while i < b.len() {
        let c = b[i];
        let word_start = i == after_escape || !is_key_byte(b[i - 1]);
        if c == b'\\' {
            let run = b[i..].iter().take_while(|&&c| c == b'\\').count();
            match decode_u_escape(b, i + run) {
                // `\u0070in`: a key that starts with an escaped letter.
                Some(decoded) if is_key_byte(decoded) && word_start => {}
                Some(decoded) => {
                    i += run + 5;
                    if !is_key_byte(decoded) {
                        after_escape = i;
                    }
                    continue;
                }
                // `\n`, `\"`...: the whole run of backslashes at once.
                None => {
                    i += run;
                    continue;
                }
            }
        } else if !is_key_byte(c) || !word_start {
            i += 1;
            continue;
        }
        let start = i;
        let end = scan_key(b, i, &mut key);
        i = end;
        // Cheap test first: most words are followed by no `:` or `=`.
        let Some((value, quoted, level)) = separator_after(b, end) else { continue };
        let mut is_sensitive = sensitive(&key, &mut scratch, known);
        // `\npin: 1234` inside a Debug-escaped string: the word after `\n` is `pin`.
        if !is_sensitive
            && start > 0
            && b[start - 1] == b'\\'
            && matches!(key.first(), Some(b'n' | b't' | b'r'))
        {
            is_sensitive = sensitive(&key[1..], &mut scratch, known);
        }
        if is_sensitive {
            i = mask_value(b, value, quoted, level, spans);
        }
    }
}

/// Whitespace, and the escaped line breaks and tabs of Debug-formatted text.
fn skip_space(b: &[u8], mut i: usize) -> usize {
    loop {
        match b.get(i) {
            Some(c) if c.is_ascii_whitespace() => i += 1,
            Some(b'\\') if matches!(b.get(i + 1), Some(b'n' | b'r' | b't')) => i += 2,
            _ => return i,
        }
    }
}

/// What follows a key ending at `end`: its closing quote (when quoted, and
/// how deeply escaped), then `:`, `=`, `=>` or `==`. Returns where the value
/// starts, or `None` when no value follows (a word in a sentence, an array
/// item...).
fn separator_after(b: &[u8], end: usize) -> Option<(usize, bool, usize)> {
    // How the key was quoted: `"`, `\"`, `\\\"`..., `'`, or not at all. A key
    // inside a string (`"note":"pin: 1234"`) is not quoted itself; the closing
    // quote decides (`"gifs/api-key":` opens before the part that matched).
    let mut j = end;
    let run = b[j..].iter().take_while(|&&c| c == b'\\').count();
    let quoted = matches!(b.get(j + run), Some(b'"' | b'\''));
    let level = if quoted { run } else { 0 };
    if quoted {
        j += run + 1;
    }
    j = skip_space(b, j);
    match b.get(j) {
        Some(b':') if b.get(j + 1) != Some(&b':') => j += 1,
        Some(b'=') => {
            j += 1;
            if matches!(b.get(j), Some(b'>' | b'=')) {
                j += 1;
            }
        }
        _ => return None,
    }
    Some((j, quoted, level))
}

/// Masks the value of a sensitive key, which starts at `j` (after the
/// separator). Returns where scanning goes on.
fn mask_value(b: &[u8], j: usize, quoted: bool, level: usize, spans: &mut Vec<Span>) -> usize {
    let v = skip_space(b, j);
    if v >= b.len() {
        return v;
    }
    let k = b[v..].iter().take_while(|&&c| c == b'\\').count();
    match b.get(v + k) {
        Some(&q @ (b'"' | b'\'')) => {
            let open = v + k + 1;
            match closing_quote(b, open, q, k) {
                Some(close) => {
                    push(spans, open, close - k, MASK);
                    close + 1
                }
                None => {
                    push(spans, open, b.len(), MASK);
                    b.len()
                }
            }
        }
        Some(b'[' | b'{') => {
            let close = closing_bracket(b, v, level);
            let end = close.map_or(b.len(), |c| c + 1);
            push(spans, v, end, if quoted { quoted_mask(level) } else { MASK });
            end
        }
        _ => {
            if k == 0 && b[v..].starts_with(b"null") && b.get(v + 4).is_none_or(|&c| ends_bare_value(c)) {
                return v + 4;
            }
            // Backslashes before the value are part of it (`password=\\secret`).
            let mut e = v + k;
            while e < b.len() && !ends_bare_value(b[e]) {
                e += 1;
            }
            if e == v {
                return v;
            }
            // `Authorization: Basic xyz`: the scheme, then the credentials.
            let word = &b[v..e];
            if [&b"bearer"[..], b"basic", b"digest", b"token", b"negotiate", b"ntlm"]
                .iter()
                .any(|s| word.eq_ignore_ascii_case(s))
            {
                let mut t = e;
                while t < b.len() && matches!(b[t], b' ' | b'\t') {
                    t += 1;
                }
                let mut u = t;
                while u < b.len() && !ends_bare_value(b[u]) {
                    u += 1;
                }
                if u > t {
                    e = u;
                }
            }
            push(spans, v, e, if quoted { quoted_mask(level) } else { MASK });
            e
        }
    }
}

fn ends_bare_value(c: u8) -> bool {
    c.is_ascii_whitespace()
        || matches!(c, b',' | b';' | b'}' | b']' | b')' | b'&' | b'"' | b'\'' | b'<' | b'>' | b'\\')
}

/// `"***"` quoted as the key was: plain JSON, or JSON escaped once or twice.
fn quoted_mask(level: usize) -> &'static str {
    match level {
        0 => "\"***\"",
        1 => "\\\"***\\\"",
        3 => "\\\\\\\"***\\\\\\\"",
        _ => MASK,
    }
}

/// Whether a quote preceded by `run` backslashes closes a string opened with
/// `level` backslashes: at level 0 an even run; at level 1 (`\"`) a run of 1,
/// 5, 9...; in general `run ≡ level (mod 2·(level+1))`.
fn closes(run: usize, level: usize) -> bool {
    run >= level && (run - level).is_multiple_of(2 * (level + 1))
}

/// Index of the quote byte that closes the string whose content starts at `i`.
fn closing_quote(b: &[u8], mut i: usize, q: u8, level: usize) -> Option<usize> {
    let mut run = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => run += 1,
            c if c == q && closes(run, level) => return Some(i),
            _ => run = 0,
        }
        i += 1;
    }
    None
}

/// Index of the bracket that closes the array or object opening at `i`,
/// skipping strings quoted at `level`.
fn closing_bracket(b: &[u8], mut i: usize, level: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut run = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            run += 1;
            i += 1;
            continue;
        }
        if c == b'"' && closes(run, level) {
            in_string = !in_string;
        } else if !in_string {
            match c {
                b'[' | b'{' => depth += 1,
                b']' | b'}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            }
        }
        run = 0;
        i += 1;
    }
    None
}

// ---------------------------------------------------------------------- paths

/// Absolute prefixes of app and user folders (case-sensitive), how many path
/// segments after them identify the app or user, and their replacement.
const APP_PATHS: &[(&str, usize, &str)] = &[
    ("/private/var/mobile/Containers/Data/Application/", 1, APP),
    ("/private/var/mobile/Containers/Shared/AppGroup/", 1, APP),
    ("/private/var/containers/Bundle/Application/", 1, APP),
    ("/var/mobile/Containers/Data/Application/", 1, APP),
    ("/var/mobile/Containers/Shared/AppGroup/", 1, APP),
    ("/var/containers/Bundle/Application/", 1, APP),
    ("/private/var/mobile", 0, HOME),
    ("/var/mobile", 0, HOME),
    ("/data/user_de/", 2, APP),
    ("/data/user/", 2, APP),
    ("/data/data/", 1, APP),
    ("/storage/emulated/", 1, STORAGE),
    ("/root", 0, HOME),
];

/// Folder names after which the next segment is a user name (case-insensitive,
/// as Sentry Relay's `@userpath` rule reads them).
const USER_DIRS: &[&str] = &["home", "users", "documents and settings"];

/// Where a path segment starting at `i` ends. Windows user names may hold
/// spaces; Unix ones end at whitespace and punctuation too.
fn segment_end(b: &[u8], mut i: usize, windows: bool) -> usize {
    while i < b.len() {
        let c = b[i];
        let stop =
            matches!(c, b'/' | b'\\' | b'"' | b'\'' | b'`' | b'<' | b'>' | b'|' | b':' | b'*' | b'?' | 0)
                || c == b'\r'
                || c == b'\n'
                || c == b'\t'
                || (!windows
                    && (c == b' '
                        || matches!(c, b',' | b';' | b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'=')));
        if stop {
            break;
        }
        i += 1;
    }
    i
}

fn app_path(b: &[u8], i: usize) -> Option<(usize, &'static str)> {
    for &(prefix, segments, with) in APP_PATHS {
        if !b[i..].starts_with(prefix.as_bytes()) {
            continue;
        }
        let mut e = i + prefix.len();
        if segments == 0 {
            // The prefix must end a segment (`/var/mobile`, not `/var/mobilex`).
            if b.get(e).is_some() && segment_end(b, e, false) != e {
                continue;
            }
            return Some((e, with));
        }
        for n in 0..segments {
            if n > 0 {
                if b.get(e) != Some(&b'/') {
                    break;
                }
                e += 1;
            }
            let s = segment_end(b, e, false);
            if s == e {
                break;
            }
            e = s;
        }
        if e > i + prefix.len() {
            return Some((e, with));
        }
    }
    None
}

fn paths(b: &[u8], spans: &mut Vec<Span>) {
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' {
            if let Some((end, with)) = app_path(b, i) {
                push(spans, i, end, with);
                i = end;
                continue;
            }
        } else if c.is_ascii_alphabetic() && word_start(b, i) {
            if let Some(end) = user_path(b, i, spans) {
                i = end;
                continue;
            }
        }
        i += 1;
    }
}

/// `home/<user>`, `Users\<user>`, `<x>/profiles/<user>`... at `i`: masks the
/// folder, the user segment, and the slashes and drive letter before them.
fn user_path(b: &[u8], i: usize, spans: &mut Vec<Span>) -> Option<usize> {
    let after_slash = i > 0 && matches!(b[i - 1], b'/' | b'\\');
    let name_len = USER_DIRS
        .iter()
        .map(|d| d.as_bytes())
        .chain(after_slash.then_some(&b"profiles"[..]))
        .find(|d| starts_with_ignore_case(b, i, d))?
        .len();
    let mut j = i + name_len;
    let seps = b[j..].iter().take_while(|&&c| matches!(c, b'/' | b'\\')).count();
    if seps == 0 {
        return None;
    }
    let windows = b[j..j + seps].contains(&b'\\');
    j += seps;
    let end = segment_end(b, j, windows);
    if end == j {
        // `home/ x`: no user name here, but Relay would read ` x` as one.
        if matches!(b.get(j), None | Some(b'/' | b'\\' | b'\r' | b'\n' | 0)) {
            return None;
        }
    }
    let mut start = i;
    while start > 0 && matches!(b[start - 1], b'/' | b'\\') {
        start -= 1;
    }
    if start >= 2 && b[start - 1] == b':' && b[start - 2].is_ascii_alphabetic() && word_start(b, start - 2) {
        start -= 2;
    }
    push(spans, start, end, HOME);
    Some(end)
}

// ------------------------------------------------------------- fixed patterns

/// `-----BEGIN ... KEY-----` to `-----END ... KEY-----` (or to the end of the
/// text when the block was cut), markers included.
fn pem_blocks(b: &[u8], spans: &mut Vec<Span>) {
    const BEGIN: &[u8] = b"-----BEGIN";
    const END: &[u8] = b"-----END";
    let mut i = 0;
    while let Some(s) = find(b, i, BEGIN) {
        let mut h = s + BEGIN.len();
        let label_start = h;
        while h < b.len() && (b[h].is_ascii_uppercase() || b[h] == b' ') {
            h += 1;
        }
        if !(b[label_start..h].ends_with(b"KEY") && b[h..].starts_with(b"-----")) {
            i = s + BEGIN.len();
            continue;
        }
        match find(b, h, END) {
            Some(e) => {
                let mut t = e + END.len();
                while t < b.len() && (b[t].is_ascii_uppercase() || b[t] == b' ') {
                    t += 1;
                }
                if b[t..].starts_with(b"-----") {
                    t += 5;
                }
                push(spans, s, t, MASK);
                i = t;
            }
            None => {
                push(spans, s, b.len(), MASK);
                return;
            }
        }
    }
}

/// The first `needle` in `b` at or after `from`.
fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let first = needle[0];
    let mut i = from;
    while i + needle.len() <= b.len() {
        let offset = b[i..].iter().position(|&c| c == first)?;
        i += offset;
        if b[i..].starts_with(needle) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// `Bearer <token>`, the word `Bearer` included (Relay's `@bearer` reads any
/// non-space after it as a token, a mask too).
fn bearer_tokens(b: &[u8], spans: &mut Vec<Span>) {
    let mut i = 0;
    while i < b.len() {
        if (b[i] | 0x20) == b'b' && word_start(b, i) && starts_with_ignore_case(b, i, b"bearer") {
            let mut j = i + 6;
            let ws = b[j..].iter().take_while(|c| c.is_ascii_whitespace()).count();
            j += ws;
            if ws > 0 && j < b.len() {
                while j < b.len() && !ends_bare_value(b[j]) {
                    j += 1;
                }
                push(spans, i, j, MASK);
                // Past `Bearer` and its space.
                i = j;
                continue;
            }
        }
        i += 1;
    }
}

/// The user part of `scheme://user:pass@host` (and `//user@host`).
fn url_credentials(b: &[u8], spans: &mut Vec<Span>) {
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'/' && b[i + 1] == b'/' {
            let s = i + 2;
            let mut j = s;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b"%_.-~!$&()*+,;=:".contains(&b[j])) {
                j += 1;
            }
            // (`//@host`: `push` drops the empty range.)
            if b.get(j) == Some(&b'@') {
                push(spans, s, j, MASK);
            }
            // Past the `//` at least.
            i = j;
        } else {
            i += 1;
        }
    }
}

fn is_local_part(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b".!#$%&'*+/=?^_`{|}~-".contains(&c)
}

fn is_domain(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'.' || c == b'-'
}

/// `local@domain.tld`: some label after the first starts with two letters.
fn emails(b: &[u8], spans: &mut Vec<Span>) {
    for (at, _) in b.iter().enumerate().filter(|(_, &c)| c == b'@') {
        let mut l = at;
        while l > 0 && is_local_part(b[l - 1]) {
            l -= 1;
        }
        let mut r = at + 1;
        while r < b.len() && is_domain(b[r]) {
            r += 1;
        }
        if l == at {
            continue;
        }
        // From the `@`: the first piece (`@` and the first label) is skipped;
        // an empty domain has no piece after it.
        let has_tld = b[at..r].split(|&c| c == b'.').skip(1).any(|label| {
            label.len() >= 2 && label[0].is_ascii_alphabetic() && label[1].is_ascii_alphabetic()
        });
        if has_tld {
            push(spans, l, r, MASK);
        }
    }
}

/// The fewest hex digits in a row that are masked: a wallet address (40),
/// and so keys (64), public keys (66, 130), hashes, community and chat ids.
/// A 32-hex Sentry event id and shorter hashes and codes stay.
const MIN_HEX_RUN: usize = 40;

/// Runs of [`MIN_HEX_RUN`] or more hex digits (the `0x` before them stays):
/// raw private keys, public keys, wallet addresses (EIP-55 mixed case or
/// not: any case is masked, no checksum is needed to decide), transaction
/// and message hashes, community and chat ids, enode ids; git commit hashes
/// and other 40+ hex hashes go with them rather than telling them apart.
fn hex_runs(b: &[u8], spans: &mut Vec<Span>) {
    for_each_run(b, u8::is_ascii_hexdigit, |s, e| {
        if e - s >= MIN_HEX_RUN {
            push(spans, s, e, MASK);
        }
    });
}

/// Calls `f(start, end)` for each maximal run of bytes in `class`.
fn for_each_run(b: &[u8], class: impl Fn(&u8) -> bool, mut f: impl FnMut(usize, usize)) {
    let mut i = 0;
    while i < b.len() {
        if !class(&b[i]) {
            i += 1;
            continue;
        }
        let s = i;
        while i < b.len() && class(&b[i]) {
            i += 1;
        }
        f(s, i);
    }
}

/// IPv6 (any form Relay's `@ip` reads, `::1` included) and MAC addresses.
fn ipv6_and_mac(b: &[u8], spans: &mut Vec<Span>) {
    for_each_run(
        b,
        |c| c.is_ascii_hexdigit() || *c == b':',
        |s, e| {
            // Relay starts an address after a space or punctuation; inside a word
            // (`Option::unwrap`) only after a colon of the run.
            let s = if word_start(b, s) || b[s] == b':' && (s == 0 || !b[s - 1].is_ascii_alphanumeric()) {
                s
            } else {
                match b[s..e].iter().position(|&c| c == b':') {
                    Some(p) => s + p + 1,
                    None => return,
                }
            };
            let run = &b[s..e];
            let colons = run.iter().filter(|&&c| c == b':').count();
            let has_hex = run.iter().any(u8::is_ascii_hexdigit);
            let compressed = run.windows(2).any(|w| w == b"::");
            let ends_clear = !b.get(e).is_some_and(u8::is_ascii_alphanumeric);
            if (compressed && (has_hex || ends_clear)) || colons >= 7 {
                push(spans, s, e, MASK);
            }
        },
    );
    for_each_run(
        b,
        |c| c.is_ascii_hexdigit() || matches!(c, b':' | b'-'),
        |s, e| {
            let mut pairs = 0;
            for group in b[s..e].split(|&c| c == b':' || c == b'-') {
                pairs = if group.len() == 2 { pairs + 1 } else { 0 };
                if pairs >= 6 {
                    push(spans, s, e, MASK);
                    return;
                }
            }
        },
    );
}

/// Four dotted numbers of 1-3 digits up to 255 in a row.
fn ipv4(b: &[u8], spans: &mut Vec<Span>) {
    for_each_run(
        b,
        |c| c.is_ascii_digit() || *c == b'.',
        |s, e| {
            let mut octets = 0;
            for group in b[s..e].split(|&c| c == b'.') {
                let ok = (1..=3).contains(&group.len())
                    && group.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0')) <= 255;
                octets = if ok { octets + 1 } else { 0 };
                if octets >= 4 {
                    push(spans, s, e, MASK);
                    return;
                }
            }
        },
    );
}

/// Digits in groups separated by one space or dash: masked when some groups in
/// a row hold 15 or 16 digits (IMEI, most card numbers: Relay's `@imei` and
/// `@creditcard`), or the whole holds 13 to 19 digits, starts with 2-6 and
/// passes the Luhn check (other card numbers).
fn long_numbers(b: &[u8], spans: &mut Vec<Span>) {
    let mut groups: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let s = i;
        groups.clear();
        loop {
            let g = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            groups.push(i - g);
            if i + 1 < b.len() && (b[i] == b'-' || b[i].is_ascii_whitespace()) && b[i + 1].is_ascii_digit() {
                i += 1;
            } else {
                break;
            }
        }
        // Relay reads a number only between word boundaries: a group glued to
        // letters (`a716-446655440000` in a UUID) does not count.
        let mut inner = &groups[..];
        let mut text = &b[s..i];
        if !word_start(b, s) {
            text = &text[(inner[0] + 1).min(text.len())..];
            inner = &inner[1..];
        }
        if i < b.len() && is_word(b[i]) && !inner.is_empty() {
            let last = inner[inner.len() - 1];
            text = &text[..text.len().saturating_sub(last + 1)];
            inner = &inner[..inner.len() - 1];
        }
        if !inner.is_empty() && number_is_sensitive(text, inner) {
            push(spans, s, i, MASK);
        }
    }
}

fn number_is_sensitive(text: &[u8], groups: &[usize]) -> bool {
    // Two pointers: the shortest window from each start that reaches 15 digits.
    let (mut end, mut sum) = (0, 0);
    for start in 0..groups.len() {
        while end < groups.len() && sum < 15 {
            sum += groups[end];
            end += 1;
        }
        if sum == 15 || sum == 16 {
            return true;
        }
        // (The window is never empty here: from any start, a sum under 15
        // took at least its first group.)
        sum -= groups[start];
    }
    let total: usize = groups.iter().sum();
    let first = text.first().map_or(0, |&c| c.wrapping_sub(b'0'));
    if !(13..=19).contains(&total) || !(2..=6).contains(&first) {
        return false;
    }
    let digits = text.iter().rev().filter(|c| c.is_ascii_digit()).map(|&c| u32::from(c - b'0'));
    let sum: u32 = digits
        .enumerate()
        .map(|(n, d)| match (n % 2 == 1, d * 2) {
            (true, doubled) if doubled > 9 => doubled - 9,
            (true, doubled) => doubled,
            (false, _) => d,
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A word of two capital letters, two digits and 11 to 30 letters or digits.
fn ibans(b: &[u8], spans: &mut Vec<Span>) {
    for_each_run(
        b,
        |c| is_word(*c),
        |s, e| {
            let w = &b[s..e];
            if (15..=34).contains(&w.len())
                && w[..2].iter().all(u8::is_ascii_uppercase)
                && w[2..4].iter().all(u8::is_ascii_digit)
                && w.iter().all(u8::is_ascii_alphanumeric)
            {
                push(spans, s, e, MASK);
            }
        },
    );
}

// ------------------------------------------------------------------ mnemonics

/// The shortest recovery phrase (BIP-39 phrases have 12 to 24 words).
const MIN_PHRASE_WORDS: usize = 12;

fn is_phrase_separator(c: u8) -> bool {
    c.is_ascii_whitespace() || matches!(c, b',' | b'"' | b'\'' | b'\\' | b'[' | b']')
}

/// Whether `b[i]` is the letter of a `\n`, `\r` or `\t` escape.
fn escaped_space(b: &[u8], i: usize) -> bool {
    i > 0 && b[i - 1] == b'\\' && matches!(b[i], b'n' | b'r' | b't')
}

/// The BIP-39 English word list: the standard's `english.txt` as published
/// (2048 sorted lowercase words, one per line; SHA-256 2f5eed53...24dbda),
/// checked against the `bip39` crate by a test. Kept as one string rather
/// than the crate's `[&str; 2048]`: a table of 2048 pointers costs the
/// shipped library about 80 KB of relocations and pointer data.
const BIP39_ENGLISH: &str = include_str!("redact/bip39-english.txt");

/// Whether `word` is a line of `lines` (sorted, newline-separated): a
/// binary search over the bytes, each probe widened to its line.
fn is_sorted_line(lines: &[u8], word: &[u8]) -> bool {
    // `lo` is a line's start; `hi` ends a line (a newline or the end).
    let (mut lo, mut hi) = (0, lines.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let start = lines[lo..mid].iter().rposition(|&c| c == b'\n').map_or(lo, |p| lo + p + 1);
        let end = lines[start..hi].iter().position(|&c| c == b'\n').map_or(hi, |p| start + p);
        match lines[start..end].cmp(word) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => lo = end + 1,
            std::cmp::Ordering::Greater => hi = start,
        }
    }
    false
}

fn is_bip39_word(word: &[u8]) -> bool {
    if !(3..=8).contains(&word.len()) {
        return false;
    }
    let mut lower = [0u8; 8];
    for (l, c) in lower.iter_mut().zip(word) {
        *l = c.to_ascii_lowercase();
    }
    let lower = &lower[..word.len()];
    is_sorted_line(BIP39_ENGLISH.as_bytes(), lower)
}

/// Runs of 12 or more BIP-39 English words separated only by whitespace,
/// commas, quotes or brackets (`abandon ability ...`, `["abandon", ...]`).
fn mnemonics(b: &[u8], spans: &mut Vec<Span>) {
    let (mut run_start, mut run_end, mut count) = (0, 0, 0usize);
    let close = |spans: &mut Vec<Span>, start: usize, end: usize, count: usize| {
        if count >= MIN_PHRASE_WORDS {
            push(spans, start, end, MASK);
        }
    };
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_alphabetic() {
            i += 1;
            continue;
        }
        let mut s = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        // `abandon\nability` in Debug-formatted text: `\n` separates.
        if escaped_space(b, s) && i > s + 1 {
            s += 1;
        }
        let clean_edges = (s == 0 || is_phrase_separator(b[s - 1]) || escaped_space(b, s - 1))
            && (i == b.len() || is_phrase_separator(b[i]));
        if clean_edges && is_bip39_word(&b[s..i]) {
            if count > 0 && (run_end..s).all(|g| is_phrase_separator(b[g]) || escaped_space(b, g)) {
                count += 1;
            } else {
                close(spans, run_start, run_end, count);
                run_start = s;
                count = 1;
            }
            run_end = i;
        } else {
            close(spans, run_start, run_end, count);
            count = 0;
        }
    }
    close(spans, run_start, run_end, count);
}

mod identifiers;
mod known;

pub(crate) use known::hold_for_fork as hold_known_for_fork;
#[cfg(test)]
pub(crate) use known::MIN_VALUE_CHARS;
pub use known::{install as install_known, Known, RedactList};
pub use known::{MAX_KEYS, MAX_KEY_BYTES, MAX_VALUES, MAX_VALUE_BYTES};

#[cfg(test)]
mod edge_tests;
#[cfg(test)]
mod identifier_tests;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod word_list_tests {
    use super::*;

    #[test]
    fn the_word_list_is_the_standard_one() {
        let ours: Vec<&str> = BIP39_ENGLISH.lines().collect();
        assert_eq!(ours, bip39::Language::English.word_list().to_vec());
        assert!(ours.windows(2).all(|w| w[0] < w[1]), "sorted, no duplicates");
    }

    #[test]
    fn every_word_is_found_and_nothing_else() {
        for word in bip39::Language::English.word_list() {
            assert!(is_bip39_word(word.as_bytes()), "{word}");
            assert!(is_bip39_word(word.to_uppercase().as_bytes()), "{word} in capitals");
            for other in [format!("{word}s"), format!("a{word}"), word[..word.len() - 1].to_owned()] {
                let listed = bip39::Language::English.word_list().contains(&other.as_str());
                assert_eq!(is_bip39_word(other.as_bytes()), listed, "{other}");
            }
        }
        for odd in ["", "a", "\n", "abandon\nability", "zzzzzzzz", "aaaaaaaa", "zoo\n"] {
            assert!(!is_bip39_word(odd.as_bytes()), "{odd:?}");
        }
        // The search itself, on edge lists.
        assert!(!is_sorted_line(b"", b"a"));
        assert!(is_sorted_line(b"a", b"a") && is_sorted_line(b"a\nb\n", b"b"));
        assert!(!is_sorted_line(b"a\nc\n", b"b") && !is_sorted_line(b"a\nc\n", b""));
    }
}
