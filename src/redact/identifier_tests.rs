//! Tests of the identifiers of Status's world, the host's known values, the
//! key spellings and the survive-corpus (issue 21). Valid instances of each
//! class are generated from their specifications: EIP-55 checksums with
//! keccak (`sha3`, a dev-dependency only), base58btc of multicodec keys and
//! multihashes (`bs58`), random ENS labels, E.164 numbers.

use proptest::prelude::*;
use sha3::{Digest, Keccak256};

use super::*;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The EIP-55 spelling of a 20-byte address: a hex letter is upper-case when
/// the matching nibble of keccak256(lower-case hex) is 8 or more.
fn eip55(address: &[u8; 20]) -> String {
    let lower = hex(address);
    let hash = Keccak256::digest(lower.as_bytes());
    let mixed: String = lower
        .chars()
        .enumerate()
        .map(|(i, c)| {
            let nibble = (hash[i / 2] >> if i % 2 == 0 { 4 } else { 0 }) & 0x0f;
            if c.is_ascii_alphabetic() && nibble >= 8 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    format!("0x{mixed}")
}

/// status-go's compressed chat key: `z` + base58btc(e7 01 + 33-byte key).
fn chat_key(key: &[u8; 32], odd: bool) -> String {
    let mut bytes = vec![0xe7, 0x01, if odd { 0x03 } else { 0x02 }];
    bytes.extend_from_slice(key);
    format!("z{}", bs58::encode(bytes).into_string())
}

/// A libp2p peer id: `Qm…` (sha256 multihash), `12D3KooW…` (identity of an
/// ed25519 key) or `16Uiu2…` (identity of a compressed secp256k1 key).
fn peer_id(key: &[u8; 32], kind: u8) -> String {
    let bytes = match kind % 3 {
        0 => [&[0x12, 0x20][..], key].concat(),
        1 => [&[0x00, 0x24, 0x08, 0x01, 0x12, 0x20][..], key].concat(),
        _ => [&[0x00, 0x25, 0x08, 0x02, 0x12, 0x21, 0x02][..], key].concat(),
    };
    bs58::encode(bytes).into_string()
}

#[test]
fn generated_examples_have_their_documented_shapes() {
    let key = [7u8; 32];
    let chat = chat_key(&key, false);
    assert!(chat.starts_with("zQ3sh") && (48..=50).contains(&chat.len()), "{chat}");
    assert!(peer_id(&key, 0).starts_with("Qm") && peer_id(&key, 0).len() == 46);
    assert!(peer_id(&key, 1).starts_with("12D3KooW"), "{}", peer_id(&key, 1));
    assert!(peer_id(&key, 2).starts_with("16Uiu2"), "{}", peer_id(&key, 2));
    // The EIP-55 test vector of the standard.
    let addr: [u8; 20] = [
        0x5a, 0xae, 0xb6, 0x05, 0x3f, 0x3e, 0x94, 0xc9, 0xb9, 0xa0, 0x9f, 0x33, 0x66, 0x94, 0x35, 0xe7, 0xef,
        0x1b, 0xea, 0xed,
    ];
    assert_eq!(eip55(&addr), "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed");
}

#[test]
fn each_class_is_masked() {
    let key = [0xabu8; 32];
    let chat = chat_key(&key, true);
    let cases: Vec<(String, &str)> = vec![
        (format!("contact {chat} blocked"), "contact *** blocked"),
        (format!("peer {} gone", peer_id(&key, 0)), "peer *** gone"),
        (format!("peer {} gone", peer_id(&key, 1)), "peer *** gone"),
        (format!("peer {} gone", peer_id(&key, 2)), "peer *** gone"),
        ("to 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed now".into(), "to 0x*** now"),
        ("to 5aaeb6053f3e94c9b9a09f33669435e7ef1beaed now".into(), "to *** now"),
        (format!("pk 0x04{} x", "ab".repeat(64)), "pk 0x*** x"),
        (format!("pk 0x02{} x", "cd".repeat(32)), "pk 0x*** x"),
        (format!("tx 0x{} x", "ef".repeat(32)), "tx 0x*** x"),
        ("name alice.eth here".into(), "name ***.eth here"),
        ("name Alice.stateofus.eth, ok".into(), "name ***.eth, ok"),
        ("name 🦄.eth.".into(), "name ***.eth."),
        (
            format!("dial /ip4/192.168.1.2/tcp/30303/p2p/{} x", peer_id(&key, 2)),
            "dial /ip4/***/tcp/30303/p2p/*** x",
        ),
        (
            format!("dial /dns4/node.example.org/tcp/443/wss/p2p/{}", peer_id(&key, 1)),
            "dial /dns4/node.example.org/tcp/443/wss/p2p/***",
        ),
        (format!("enode://{}@10.1.2.3:30303 x", "a1".repeat(64)), "enode://***@***:30303 x"),
        (
            "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0 x"
                .into(),
            "enr:*** x",
        ),
        ("call +41 79 123 45 67 now".into(), "call *** now"),
        ("call +14155552671.".into(), "call ***."),
        ("call +1 (415) 555-2671 now".into(), "call *** now"),
        ("call (415) 555-2671 now".into(), "call *** now"),
        ("call 415-555-2671 now".into(), "call *** now"),
        ("call 020 7946 0958 now".into(), "call *** now"),
        ("call 06 12 34 56 78 now".into(), "call *** now"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U end"
                .into(),
            "jwt *** end",
        ),
        ("unsigned eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0. end".into(), "unsigned *** end"),
    ];
    for (input, want) in cases {
        assert_eq!(redact(&input), want, "{input}");
    }
}

/// Identifiers of Status's world that are hex: community ids (compressed
/// keys), one-to-one chat ids (the contact's key), group chat ids
/// (`<uuid>-0x04…`), message ids (0x + 64 hex).
#[test]
fn community_chat_and_message_ids_are_masked() {
    let community = format!("0x03{}", "9f".repeat(32));
    let group_chat = format!("8a3c1d2e-8b1f-4a3e-9b2c-1234567890ab-0x04{}", "3e".repeat(64));
    let message = format!("0x{}", "1d".repeat(32));
    for id in [&community, &group_chat, &message] {
        let out = redact(&format!(r#"{{"chatId":"{id}","n":1}}"#));
        assert!(!out.contains(&id[id.len() - 40..]), "{out}");
        assert!(out.contains(r#""n":1"#), "{out}");
    }
}

/// The key class of issue 21: a key whose words run together in one case
/// (no hump, no separator) reads as its camelCase spelling.
#[test]
fn keys_match_across_case_and_separators() {
    for key in [
        "AUTHTOKEN",
        "authtoken",
        "Authtoken",
        "ACCESSTOKEN",
        "REFRESH_TOKEN",
        "x-auth-token",
        "SESSIONID",
        "sessionid",
        "NEWPIN",
        "newpin",
        "pincode",
        "PINCODE",
        "seedwords",
        "OTPCODE",
        "JWTTOKEN",
        "PASSWORD",
        "PrivateKey",
        "PRIVATE_KEY",
        "MNEMONIC",
        "KEYUID",
        "redact",
        "ReDaCt",
        "redactValues",
    ] {
        assert!(is_sensitive_key(key), "{key} should be sensitive");
        assert_eq!(redact(&format!(r#"{{"{key}":"Qsecret77"}}"#)), format!(r#"{{"{key}":"***"}}"#));
    }
    for key in [
        "ping",
        "PING",
        "shipping",
        "SHIPPING",
        "spinner",
        "author",
        "AUTHOR",
        "seeded",
        "passed",
        "sidebar",
        "tokens",
        "tokenId",
        "TOKENID",
        "tokenaddress",
        "passenger",
        "redacted",
        "mapping",
        "sessions",
    ] {
        assert!(!is_sensitive_key(key), "{key} should not be sensitive");
    }
}

/// Strings that must come out unchanged: a redactor that masks everything
/// is useless to whoever reads the report.
pub(super) const SURVIVE: &[&str] = &[
    "panicked at src/api/mod.rs:120:5",
    "src/reporting/scrub.rs:77:23",
    "called `Option::unwrap()` on a `None` value",
    "status::reporting::pipeline::on_caught_panic",
    // (`…>::fmt` is not here: `::f` after punctuation reads as an IPv6
    // address, an over-masking docs/hardening.md lists.)
    "<alloc::vec::Vec<u8> as core::fmt::Display>::to_string",
    "std::collections::HashMap<String, serde_json::Value>",
    "libstatus 0.1.0 (rustc 1.95.0)",
    "v2.31.0-rc.1",
    "release libstatus@0.1.0+build.7",
    "error E0308: mismatched types",
    "os error 2 (ENOENT), code 0x1f, errno -110",
    "HTTP/1.1 503 Service Unavailable",
    "HTTP/2 429 Too Many Requests, retry after 60 seconds",
    "the index is 7 but the len is 3; took 1234 ms over 999999 bytes",
    "Waiting for 12 peers out of 250 on the network, 98.6% done",
    "event 0123456789abcdef0123456789abcdef sent",
    "a uuid 550e8400-e29b-41d4-a716-446655440000",
    "at 2026-12-06 05:52:00 UTC, +00:00",
    "ranges 100-200 and 3.14159 and 1 000 and 42",
    "The Ethereum network and ENS names, see eth docs.",
    "read 4096 of 65536 bytes at offset 131072",
    "thread 'libstatus-sender' panicked, 3 reports pending",
    "fn sha256(data: &[u8]) -> [u8; 32]",
    "Qm is a prefix, 16Uiu2 too, and zQ3sh alone is not a key",
    "im.status.ethereum/files/keys",
    "",
];

#[test]
fn the_survive_corpus_is_left_alone() {
    for keep in SURVIVE {
        assert_eq!(redact(keep), *keep);
    }
}

/// A real `16Uiu2…` peer id (for the benchmark).
pub(super) fn example_peer_id() -> String {
    peer_id(&[0x42; 32], 2)
}

pub(super) fn known_list(values: &[&str], keys: &[&str]) -> Known {
    known(values, keys)
}

fn known(values: &[&str], keys: &[&str]) -> Known {
    let list = RedactList {
        values: values.iter().map(|v| zeroize::Zeroizing::new((*v).to_owned())).collect(),
        keys: keys.iter().map(|k| zeroize::Zeroizing::new((*k).to_owned())).collect(),
    };
    Known::new(list).unwrap()
}

fn redact_known(text: &str, k: &Known) -> String {
    redact_prefix_with(text, text.len(), Some(k))
}

#[test]
fn known_values_are_masked_in_every_form() {
    let k = known(
        &["Zoë Bright", "vitalik", "0xAb5801a7D398351b8bE11C439e05C5B3259aeC9B"],
        &["customSecretField", "favouriteColour"],
    );
    let cases = [
        ("hello Zoë Bright!", "hello ***!"),
        ("hello zoë bright and ZOË BRIGHT", "hello *** and ***"),
        ("inside wordsVitalikwords", "inside words***words"),
        ("https://x.org/u/vitalik?x=1", "https://x.org/u/***?x=1"),
        ("/tmp/vitalik/db", "/tmp/***/db"),
        (r#"{"n":"Zo\u00eb Bright"}"#, r#"{"n":"***"}"#),
        (r#"q=Zo%C3%AB%20Bright&r"#, "q=***&r"),
        ("q=Zo%C3%AB+Bright&r", "q=***&r"),
        ("addr 0xab5801a7d398351b8be11c439e05c5b3259aec9b", "addr ***"),
        (
            r#"{"customSecretField":"Qv7","CUSTOM_SECRET_FIELD":"Qv8"}"#,
            r#"{"customSecretField":"***","CUSTOM_SECRET_FIELD":"***"}"#,
        ),
    ];
    for (input, want) in cases {
        assert_eq!(redact_known(input, &k), want, "{input}");
    }
    // A host's key that holds no sensitive word of ours ("secret" above
    // does), in any spelling: masked through the list alone.
    let colours = r#"{"favouriteColour":"teal","FAVOURITE_COLOUR":"red","favourite-colour-2":"blue"}"#;
    assert_eq!(redact(colours), colours, "no sensitive word of ours");
    assert_eq!(
        redact_known(colours, &k),
        r#"{"favouriteColour":"***","FAVOURITE_COLOUR":"***","favourite-colour-2":"***"}"#
    );
    // Overlapping values: both masked whole.
    let k = known(&["abcd", "cdef"], &[]);
    assert_eq!(redact_known("xabcdefx", &k), "x***x");
    // Too short to mask: ignored.
    let short: String = "Al".chars().take(MIN_VALUE_CHARS - 1).collect();
    let k = known(&[&short, "", "   ", " x "], &[]);
    assert_eq!(redact_known("Already   indented x ", &k), "Already   indented x ");
    // The list is a secret: its Debug prints counts only.
    let list = RedactList { values: vec![zeroize::Zeroizing::new("Zoë".into())], keys: vec![] };
    assert_eq!(format!("{list:?}"), "RedactList { 1 values, 0 keys }");
}

/// The list in force is the last one installed; installing none clears it.
#[test]
fn the_installed_list_is_used_until_replaced() {
    let marker = "Qkzwxv9installed";
    assert_eq!(redact(marker), marker);
    known::install(Some(known(&[marker], &[])));
    assert_eq!(redact(&format!("a {marker} b")), "a *** b");
    known::install(Some(known(&["Qkzwxv9other"], &[])));
    assert_eq!(redact(marker), marker);
    // A list of keys only is a list too.
    let colour = r#"{"favouriteColour":"teal"}"#;
    known::install(Some(known(&[], &["favouriteColour"])));
    assert_eq!(redact(colour), r#"{"favouriteColour":"***"}"#);
    known::install(None);
    assert_eq!(redact("Qkzwxv9other"), "Qkzwxv9other");
    assert_eq!(redact(colour), colour);
}

/// The other multibase keys: `z` + an uncompressed secp256k1 key (`e7 01
/// 04` + 64 bytes, about 93 characters) and `z` + an ed25519 key (`ed 01` +
/// 32 bytes); and peer segments of multiaddrs that no base58 detector reads
/// (a CIDv1 in base32), after `/p2p/` and `/ipfs/`.
#[test]
fn uncompressed_and_ed25519_keys_and_any_peer_segment_are_masked() {
    let uncompressed =
        format!("z{}", bs58::encode([&[0xe7, 0x01, 0x04][..], &[0x5c; 64]].concat()).into_string());
    let ed25519 = format!("z{}", bs58::encode([&[0xed, 0x01][..], &[0x5c; 32]].concat()).into_string());
    for key in [&uncompressed, &ed25519] {
        assert_eq!(redact(&format!("key {key} x")), "key *** x", "{key}");
    }
    let cid = "bafzbeigai3eoy2ccc7ybwjfz5r3rdxqrinwi4rwytly24tdbh6yk7zslrm";
    assert_eq!(
        redact(&format!("dial /dns4/x.org/tcp/443/wss/p2p/{cid} x")),
        "dial /dns4/x.org/tcp/443/wss/p2p/*** x"
    );
    assert_eq!(redact(&format!("get /ipfs/{cid}/a.txt")), "get /ipfs/***/a.txt");
}

/// Words of the base58 alphabet and of an identifier's length that decode
/// to no key and no peer id stay, and so do near misses of each layout: a
/// key one byte short, an identity multihash whose length byte is off by
/// one, and a tiny identity multihash (no real key is that short).
#[test]
fn base58_words_that_are_no_identifier_stay() {
    let near = |bytes: &[u8]| bs58::encode(bytes).into_string();
    let words = [
        "x".repeat(46),
        format!("Q{}", "x".repeat(45)),
        format!("1{}", "x".repeat(45)),
        format!("z{}", "x".repeat(47)),
        format!("z{}", "x".repeat(92)),
        format!("z{}", near(&[&[0xe7, 0x01, 0x04][..], &[0x5c; 63]].concat())),
        format!("z{}", near(&[&[0xed, 0x01][..], &[0x5c; 31]].concat())),
        format!("z{}", near(&[&[0xe7, 0x01, 0x02][..], &[0x5c; 31]].concat())),
        near(&[&[0x12, 0x20][..], &[0x5c; 31]].concat()),
        near(&[&[0x00, 0x23, 0x08, 0x01, 0x12, 0x20][..], &[0x5c; 32]].concat()),
        near(&[0x00, 0x05, 0x08, 0x01, 0x12, 0x01, 0x5c]),
    ];
    for word in &words {
        let text = format!("word {word} x");
        assert_eq!(redact(&text), text);
    }
}

/// ENS labels hold `-` and `_` (and any non-ASCII): the whole name before
/// `.eth` is masked, not only its last part.
#[test]
fn ens_labels_with_dashes_and_underscores_are_masked_whole() {
    assert_eq!(redact("to my-wallet.eth ok"), "to ***.eth ok");
    assert_eq!(redact("to my_wallet.eth ok"), "to ***.eth ok");
    assert_eq!(redact("to café-2.stateofus.eth ok"), "to ***.eth ok");
}

/// A name at the very start, after another name, after leading dots; and
/// phone numbers: one glued to a word does not start, one after `+(` does.
#[test]
fn ens_names_and_phone_numbers_at_their_edges() {
    assert_eq!(redact("alice.eth is mine"), "***.eth is mine");
    assert_eq!(redact("alice.eth and bob.eth"), "***.eth and ***.eth");
    assert_eq!(redact("alice.eth.bob.eth"), "***.eth.***.eth");
    assert_eq!(redact("see .alice.eth"), "see .***.eth");
    assert_eq!(redact("x ..eth y"), "x ..eth y");
    assert_eq!(redact("ref abc020 7946 0958"), "ref abc020 7946 0958");
    assert_eq!(redact("call +(1) 415 555 2671 now"), "call *** now");
}

/// Phone numbers glued to what follows (a letter, `_`, `:` and a digit)
/// are none; 9 to 12 digits with an area code in parentheses are one, and
/// without it are not.
#[test]
fn phone_numbers_end_clear_and_need_their_shape() {
    for text in ["v 415-555-2671x", "v 415-555-2671_a", "at 415-555-2671:30", "ids 12 3456 789 x"] {
        assert_eq!(redact(text), text);
    }
    assert_eq!(redact("call (12) 3456 7890 now"), "call *** now");
    assert_eq!(redact("call 415-555-2671. Bye"), "call ***. Bye");
    // An area code in parentheses right after the country code.
    assert_eq!(redact("call +1(415)555-2671 now"), "call *** now");
    assert_eq!(redact("call +44(20) 7946 0958 now"), "call *** now");
    // An unclosed `(` is no area code: the number after it is read alone.
    assert_eq!(redact("call (415 555-2671 now"), "call (*** now");
    // More groups than a number reads (8): read, left, no panic.
    assert_eq!(redact("n 1 2 3 4 5 6 7 8 9 1 2"), "n 1 2 3 4 5 6 7 8 9 1 2");
}

/// JWTs anywhere in a text, the first one at its very start; and
/// `Bearer` only as a whole word followed by a space.
#[test]
fn jwts_at_the_start_and_bearer_as_a_word() {
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    assert_eq!(redact(&format!("{jwt} and {jwt} and {jwt}")), "*** and *** and ***");
    assert_eq!(redact("token eyJhbGciOiJIUzI1NiJ9"), "token ***");
    // `eyJ` inside a word, or too short and alone, is no JWT.
    for text in ["id keyJhbGciOiJIUzI1NiJ9abc x", "this long text mentions eyJx once"] {
        assert_eq!(redact(text), text);
    }
    // A first segment of 8 to 15 characters counts with a second segment.
    assert_eq!(redact("t eyJhbGciOiJ9.eyJzdWIiOiJ4In0 x"), "t *** x");
    assert_eq!(redact("t eyJhbGciOiJ9 x"), "t eyJhbGciOiJ9 x");
    assert_eq!(redact("t eyJhbGciOiJ9. x"), "t eyJhbGciOiJ9. x");
    // A trailing `.` is the JWT's (empty signature) before a space, a quote
    // or the end, and punctuation before anything else.
    assert_eq!(redact(r#"{"t":"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}"#), r#"{"t":"***"}"#);
    assert_eq!(redact("t eyJhbGciOiJIUzI1NiJ9."), "t ***");
    assert_eq!(redact("(eyJhbGciOiJIUzI1NiJ9.)"), "(***.)");
    assert_eq!(redact("the bearers of bad news"), "the bearers of bad news");
    assert_eq!(redact("Bearer"), "Bearer");
    assert_eq!(redact("no credentials after Bearer "), "no credentials after Bearer ");
}

mod property {
    use super::*;

    const SEPARATORS: &[&str] = &[" ", ", ", "\n", ": ", "=", "(", ") ", "\t", "/", " - "];

    fn prose() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                "[a-z]{1,9}",
                Just("the".to_owned()),
                Just("error".to_owned()),
                Just("é".to_owned()),
                Just("😀".to_owned()),
                Just("{".to_owned()),
                Just("\"".to_owned()),
                Just("\\".to_owned()),
            ],
            0..10,
        )
        .prop_map(|w| w.join(" "))
    }

    /// A valid instance of one identifier class: (the text, the parts that
    /// must not survive).
    fn identifier() -> impl Strategy<Value = (String, Vec<String>)> {
        let key = any::<[u8; 32]>();
        prop_oneof![
            (key, any::<bool>()).prop_map(|(k, odd)| {
                let c = chat_key(&k, odd);
                (c.clone(), vec![c[2..].to_owned()])
            }),
            (key, any::<u8>()).prop_map(|(k, kind)| {
                let p = peer_id(&k, kind);
                (p.clone(), vec![p[2..].to_owned()])
            }),
            (any::<[u8; 20]>(), 0..3u8).prop_map(|(a, form)| {
                let text = match form {
                    0 => eip55(&a),
                    1 => format!("0x{}", hex(&a)),
                    _ => hex(&a),
                };
                let body = text.trim_start_matches("0x").to_owned();
                (text, vec![body[..20].to_owned(), body[20..].to_owned()])
            }),
            (key, any::<[u8; 32]>(), 0..4u8).prop_map(|(a, b, form)| {
                let text = match form {
                    0 => format!("0x04{}{}", hex(&a), hex(&b)),
                    1 => format!("0x02{}", hex(&a)),
                    2 => format!("0x03{}", hex(&a)),
                    _ => format!("0x{}", hex(&b)),
                };
                (text, vec![hex(&a[..10]), hex(&b[..10])])
            }),
            ("[a-z0-9][a-z0-9-]{1,14}[a-z0-9]", proptest::option::of("[a-z0-9]{3,10}"), any::<bool>())
                .prop_map(|(label, parent, upper)| {
                    let name = match &parent {
                        Some(p) => format!("{label}.{p}.eth"),
                        None => format!("{label}.eth"),
                    };
                    let name = if upper { name.to_uppercase() } else { name };
                    let mut gone = vec![format!("{label}.").to_uppercase(), format!("{label}.")];
                    gone.extend(parent.map(|p| format!(".{p}.")));
                    (name, gone)
                }),
            (key, any::<u8>(), any::<[u8; 4]>(), 1000u16..65535, any::<bool>()).prop_map(
                |(k, kind, ip, port, dns)| {
                    let p = peer_id(&k, kind);
                    let host = if dns {
                        "/dns4/node-01.example.org".to_owned()
                    } else {
                        format!("/ip4/{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3])
                    };
                    (format!("{host}/tcp/{port}/p2p/{p}"), vec![p[2..].to_owned()])
                }
            ),
            (key, any::<[u8; 32]>(), any::<[u8; 4]>()).prop_map(|(a, b, ip)| {
                let id = format!("{}{}", hex(&a), hex(&b));
                let text = format!("enode://{id}@{}.{}.{}.{}:30303", ip[0], ip[1], ip[2], ip[3]);
                (text, vec![id[..40].to_owned(), id[88..].to_owned()])
            }),
            "[A-Za-z0-9_-]{60,200}".prop_map(|body| (format!("enr:-{body}"), vec![body])),
            (1u8..=9, "[0-9]{7,13}", 0..3u8).prop_map(|(cc, rest, form)| {
                let digits = format!("{cc}{rest}");
                let text = match form {
                    0 => format!("+{digits}"),
                    1 => {
                        let parts: Vec<&str> = [&digits[..1], &digits[1..4], &digits[4..]].to_vec();
                        format!("+{}", parts.join(" "))
                    }
                    _ => format!("+{} {}-{}", &digits[..2], &digits[2..5], &digits[5..]),
                };
                (text, vec![digits[2..].to_owned(), digits[digits.len() - 6..].to_owned()])
            }),
            ("[2-9][0-9]{2}", "[2-9][0-9]{2}", "[0-9]{4}", 0..3u8).prop_map(|(a, b, c, form)| {
                let text = match form {
                    0 => format!("({a}) {b}-{c}"),
                    1 => format!("{a}-{b}-{c}"),
                    _ => format!("{a}.{b}.{c}"),
                };
                (text, vec![format!("{b}"), c])
            }),
            ("[A-Za-z0-9_-]{10,40}", "[A-Za-z0-9_-]{10,60}", "[A-Za-z0-9_-]{0,43}").prop_map(|(h, p, s)| {
                let jwt = format!("eyJ{h}.eyJ{p}.{s}");
                (jwt, vec![h, p])
            }),
        ]
    }

    /// How an identifier reaches the text: as is in prose, as a JSON value,
    /// JSON escaped inside a JSON string, or `Debug` output of a struct.
    fn plant(id: &str, form: u8, before: &str, after: &str, sep: &str) -> String {
        match form % 4 {
            0 => format!("{before}{sep}{id}{sep}{after}"),
            1 => serde_json::json!({"note": before, "chatId": id, "list": [after, id]}).to_string(),
            2 => {
                let inner = serde_json::json!({"from": id, "text": after}).to_string();
                serde_json::json!({ "payload": inner }).to_string()
            }
            _ => {
                #[derive(Debug)]
                #[allow(dead_code)]
                struct Contact<'a> {
                    id: &'a str,
                    name: String,
                    nick: Option<&'a str>,
                }
                format!("{before} {:?}", Contact { id, name: after.to_owned(), nick: Some(id) })
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn generated_identifiers_never_survive(
            (id, gone) in identifier(),
            form in any::<u8>(),
            before in prose(),
            after in prose(),
            sep in proptest::sample::select(SEPARATORS),
        ) {
            let text = plant(&id, form, &before, &after, sep);
            let out = redact(&text);
            for part in &gone {
                prop_assert!(!out.contains(part.as_str()), "{:?} survived:\n in: {:?}\nout: {:?}", part, text, out);
            }
        }

        #[test]
        fn known_values_never_survive(
            value in "[A-Za-zéöü😀 ._-]{3,24}",
            other in "[a-z]{4,10}",
            form in any::<u8>(),
            before in prose(),
            after in prose(),
            case in 0..3u8,
        ) {
            prop_assume!(value.trim().chars().count() >= 3);
            let k = known(&[&value, &other], &[]);
            let shown = match case { 0 => value.clone(), 1 => value.to_lowercase(), _ => value.to_uppercase() };
            // Inside a word, a URL and a path too.
            let id = format!("x{shown}y https://h.org/{shown}/p?q=1 /data/{other}/f");
            let text = plant(&id, form, &before, &after, " ");
            let out = redact_known(&text, &k);
            let json = serde_json::Value::String(shown.clone()).to_string();
            let json = &json[1..json.len() - 1];
            for part in [shown.as_str(), json, &shown.escape_debug().to_string(), other.as_str()] {
                prop_assert!(!out.contains(part), "{:?} survived:\n in: {:?}\nout: {:?}", part, text, out);
            }
        }

        #[test]
        fn the_survive_corpus_survives_in_any_container(idx in 0..SURVIVE.len(), form in any::<u8>()) {
            let keep = SURVIVE[idx];
            let text = match form % 3 {
                0 => keep.to_owned(),
                1 => serde_json::json!({"message": keep}).to_string(),
                _ => format!("{keep:?}"),
            };
            prop_assert_eq!(redact(&text), text);
        }
    }
}
