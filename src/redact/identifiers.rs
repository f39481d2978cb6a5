//! Detectors for the identifiers of a wallet-and-messenger user (Status's
//! world), each read from its specification and each one forward scan:
//!
//! - base58btc words that decode to a multicodec public key (`z` multibase
//!   chat keys, `zQ3sh…`) or to a libp2p peer id's multihash (`Qm…` sha256,
//!   `12D3KooW…` ed25519 and `16Uiu2…` secp256k1 identity multihashes);
//! - whatever follows `/p2p/` or `/ipfs/` in a multiaddr (a peer id in any
//!   encoding, CIDv1 included), and the body of an `enr:` record;
//! - names under the naming service (`label.eth`, `name.stateofus.eth`);
//! - phone numbers (E.164 `+…`, and national spellings with a trunk `0`, an
//!   area code in parentheses, or the North American 3-3-4 grouping);
//! - JWTs without a `Bearer` (base64url of a JSON object, `eyJ…`, and its
//!   dot-separated segments).
//!
//! Hex identifiers (keys, addresses, hashes, community and chat ids, enode
//! ids) are `hex_runs`'s in `redact.rs`: any run of 40 or more hex digits.

use super::{for_each_run, push, starts_with_ignore_case, word_start, Span, MASK};

fn is_base58(c: u8) -> bool {
    c.is_ascii_alphanumeric() && !matches!(c, b'0' | b'O' | b'I' | b'l')
}

fn is_base64url(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

/// The lengths of the base58 identifiers decoded: `z` + a compressed or
/// ed25519 key (48-50), peer ids (46, 52, 53), `z` + an uncompressed key
/// (about 93); with a margin.
fn base58_length(len: usize) -> bool {
    (44..=56).contains(&len) || (88..=96).contains(&len)
}

/// Base58btc words (maximal runs of the alphabet) of an identifier's length
/// that decode to a multibase public key or a peer id. A word of bounded
/// length is decoded once, so the scan stays linear.
pub(super) fn base58_identifiers(b: &[u8], spans: &mut Vec<Span>) {
    for_each_run(
        b,
        |c| is_base58(*c),
        |s, e| {
            // Each class begins with one character (its first bytes are fixed:
            // `e7 01` gives `z` + `Q…`, `12 20` gives `Qm`, `00` gives `1`);
            // only words that could be one are decoded.
            if base58_length(e - s) && matches!(b[s], b'z' | b'Q' | b'1') && is_base58_identifier(&b[s..e]) {
                push(spans, s, e, MASK);
            }
        },
    );
}

pub(super) fn is_base58_identifier(text: &[u8]) -> bool {
    let mut buf = [0u8; 80];
    let decoded = |text: &[u8], buf: &mut [u8; 80]| bs58::decode(text).onto(&mut buf[..]).ok();
    if let Some(rest) = text.strip_prefix(b"z") {
        if let Some(n) = decoded(rest, &mut buf) {
            if is_multicodec_key(&buf[..n]) {
                return true;
            }
        }
    }
    decoded(text, &mut buf).is_some_and(|n| is_peer_multihash(&buf[..n]))
}

/// A multicodec-prefixed public key: secp256k1-pub (varint 0xe7, so `e7 01`)
/// compressed (`02`/`03` + 32 bytes) or uncompressed (`04` + 64 bytes), or
/// ed25519-pub (`ed 01` + 32 bytes).
fn is_multicodec_key(d: &[u8]) -> bool {
    match d {
        [0xe7, 0x01, 0x02 | 0x03, rest @ ..] => rest.len() == 32,
        [0xe7, 0x01, 0x04, rest @ ..] => rest.len() == 64,
        [0xed, 0x01, rest @ ..] => rest.len() == 32,
        _ => false,
    }
}

/// A libp2p peer id's multihash: sha256 (`12 20` + 32 bytes) of a public
/// key, or the identity multihash (`00 <n>` + n bytes, n at most 42) of a
/// protobuf `PublicKey` (`08 <type 0-3> 12 <len>` + the key).
fn is_peer_multihash(d: &[u8]) -> bool {
    match d {
        [0x12, 0x20, rest @ ..] => rest.len() == 32,
        [0x00, n, 0x08, 0..=3, 0x12, len, key @ ..] => {
            usize::from(*n) == d.len() - 2 && *n <= 42 && usize::from(*len) == key.len()
        }
        _ => false,
    }
}

/// The segment after `/p2p/` or `/ipfs/` in a multiaddr (a peer id, whatever
/// its encoding), and the base64url body of an `enr:` record.
pub(super) fn multiaddr_peers_and_enr(b: &[u8], spans: &mut Vec<Span>) {
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let after = if c == b'/' && b[i..].starts_with(b"/p2p/") {
            Some(i + 5)
        } else if c == b'/' && b[i..].starts_with(b"/ipfs/") {
            Some(i + 6)
        } else if (c | 0x20) == b'e' && word_start(b, i) && starts_with_ignore_case(b, i, b"enr:") {
            Some(i + 4)
        } else {
            None
        };
        let Some(s) = after else {
            i += 1;
            continue;
        };
        let mut e = s;
        while e < b.len() && is_base64url(b[e]) {
            e += 1;
        }
        // Empty after `/p2p/`: `push` drops it. `e` is past `i` either way.
        push(spans, s, e, MASK);
        i = e;
    }
}

/// A byte of an ENS label: ASCII letters, digits, `-`, `_`, or any byte of a
/// non-ASCII character (normalised ENS names hold Unicode, emoji included).
fn is_label_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c >= 0x80
}

/// `label.eth`, `name.stateofus.eth` (any case): the labels before `.eth`
/// are masked, `.eth` stays. `.eth` must end the name (`.ethereum`, `.eth2`
/// are not it). Each byte is walked back over at most once: a walk stops where
/// the previous name ended.
pub(super) fn ens_names(b: &[u8], spans: &mut Vec<Span>) {
    let mut floor = 0;
    let mut i = 0;
    while i + 4 <= b.len() {
        let Some(p) = b[i..].iter().position(|&c| c == b'.') else { return };
        let dot = i + p;
        i = dot + 1;
        if !starts_with_ignore_case(b, dot, b".eth") || b.get(dot + 4).is_some_and(|&c| is_label_byte(c)) {
            continue;
        }
        let mut s = dot;
        while s > floor && (is_label_byte(b[s - 1]) || b[s - 1] == b'.') {
            s -= 1;
        }
        // Leading dots are no label (`.alice.eth`). `b[dot + 1]` is the `e`
        // of `.eth`, so this stops by `dot + 1`, where the range is empty.
        while b[s] == b'.' {
            s += 1;
        }
        push(spans, s, dot, MASK);
        floor = dot + 4;
    }
}

/// Phone numbers: groups of digits separated by one space, `-` or `.`, an
/// area code possibly in parentheses. Masked: `+` and 8 to 15 digits (E.164);
/// an area code in parentheses and 9 to 12 digits in all; 10 or 11 digits in
/// 2 or more groups of 2 to 4 where the first starts with the trunk `0`
/// (`020 7946 0958`, `06 12 34 56 78`) or the groups are 3-3-4
/// (`415-555-2671`). Groups glued to letters or to other digits' punctuation
/// (`v1.2`, `10:30`, UUID parts) do not start a number.
pub(super) fn phone_numbers(b: &[u8], spans: &mut Vec<Span>) {
    let mut groups = [0usize; 8];
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let prev = if i > 0 { b[i - 1] } else { b' ' };
        let clean_before = !prev.is_ascii_alphanumeric() && !matches!(prev, b'.' | b'-' | b'+' | b':' | b'_');
        let next_digit = b.get(i + 1).is_some_and(u8::is_ascii_digit);
        let plus = c == b'+'
            && !prev.is_ascii_alphanumeric()
            && prev != b'+'
            && (next_digit || b.get(i + 1) == Some(&b'('));
        // (A `(` before no digit reads no group: it masks nothing.)
        let start = plus || (clean_before && (c.is_ascii_digit() || c == b'('));
        if !start {
            i += 1;
            continue;
        }
        let from = if plus { i + 1 } else { i };
        let (end, n, paren) = digit_groups(b, from, &mut groups);
        // Not glued to a word, nor to more digits after `.`, `:` or `-`.
        let glued = b.get(end).is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_')
            || (matches!(b.get(end), Some(b'.' | b':' | b'-'))
                && b.get(end + 1).is_some_and(u8::is_ascii_digit));
        let digits: usize = groups[..n].iter().sum();
        let lens_ok = groups[..n].iter().all(|g| (2..=4).contains(g));
        let national = paren && (9..=12).contains(&digits) && n >= 2
            || n >= 2
                && lens_ok
                && (10..=11).contains(&digits)
                && (b[from] == b'0' || groups[..n] == [3, 3, 4]);
        let is_phone = if plus { (8..=15).contains(&digits) } else { national };
        if !glued && is_phone {
            push(spans, i, end, MASK);
            // Past `i`: a number holds 8 digits or more.
            i = end;
        } else {
            // Not a number from here: a later group may start one (each group
            // is read again by at most the 8 starts before it; a digit after
            // a digit starts nothing).
            i += 1;
        }
    }
}

/// Reads digit groups from `i` into `groups`: returns where the last group
/// ends, how many there are (at most 8), and whether the first was in
/// parentheses.
fn digit_groups(b: &[u8], mut i: usize, groups: &mut [usize; 8]) -> (usize, usize, bool) {
    let (mut n, mut end, mut paren) = (0, i, false);
    while n < groups.len() {
        // An area code in parentheses: first, or after a country code.
        let open = b.get(i) == Some(&b'(') && n <= 1;
        let g = if open { i + 1 } else { i };
        let mut j = g;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j == g || (open && b.get(j) != Some(&b')')) {
            break;
        }
        groups[n] = j - g;
        n += 1;
        if open {
            j += 1;
            paren = true;
        }
        end = j;
        // One separator (`) ` counts as one), then the next group.
        if j < b.len() && matches!(b[j], b' ' | b'-' | b'.') {
            j += 1;
        }
        // (A `(` is read as an area code in the next round only after a
        // country code, `+1(415)` and `+1 (415)` alike.)
        if !b.get(j).is_some_and(|&c| c.is_ascii_digit() || c == b'(') {
            break;
        }
        i = j;
    }
    (end, n, paren)
}

/// JWTs (and any base64url-encoded JSON object) without a `Bearer`: a
/// base64url word starting `eyJ` (`{"` encoded) of 16 or more characters, or
/// of 8 or more followed by another segment, with up to four more
/// dot-separated segments (signature, JWE parts).
pub(super) fn jwts(b: &[u8], spans: &mut Vec<Span>) {
    let mut i = 0;
    // `i` never passes the end: it moves to a match's end or one byte past its start.
    loop {
        let Some(p) = b[i..].windows(3).position(|w| w == b"eyJ") else { return };
        let s = i + p;
        if s > 0 && is_base64url(b[s - 1]) {
            i = s + 1;
            continue;
        }
        let mut e = s;
        while e < b.len() && is_base64url(b[e]) {
            e += 1;
        }
        let first = e - s;
        let mut segments = 1;
        for _ in 0..4 {
            if b.get(e) != Some(&b'.') {
                break;
            }
            let mut t = e + 1;
            while t < b.len() && is_base64url(b[t]) {
                t += 1;
            }
            if t == e + 1
                && t < b.len()
                && !b[t].is_ascii_whitespace()
                && !matches!(b[t], b'"' | b'\'' | b'\\')
            {
                break;
            }
            segments += usize::from(t > e + 1);
            e = t;
        }
        if first >= 16 || (first >= 8 && segments >= 2) {
            push(spans, s, e, MASK);
        }
        // Past `s`: `eyJ` itself is base64url.
        i = e;
    }
}
