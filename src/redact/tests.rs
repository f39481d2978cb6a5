//! Unit and property tests of the redactor (kept apart: `redact.rs` holds the
//! detectors, this file every shape they must catch and the edge cases).

use super::*;

/// The words of a valid 24-word phrase (BIP-39 test vector words).
const PHRASE_24: &str =
    "abandon ability able about above absent absorb abstract absurd abuse access accident \
                         account accuse achieve acid acoustic acquire across act action actor actress actual";
const KEY_HEX: &str = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";

fn assert_gone(input: &str, secret: &str) -> String {
    let out = redact(input);
    assert!(!out.contains(secret), "{secret:?} survived: {input:?} -> {out:?}");
    out
}

#[test]
fn masks_status_go_keys_case_insensitively() {
    let input = r#"{"password":"p1","newPassword":"p2","Mnemonic":"a b c","openseaAPIKey":"k","alchemyArbitrumMainnetToken":"t","raribleMainnetAPIKey":"r","gifs/api-key":"g","statusProxyBlockchainUser":"u","verifyENSURL":"https://x","verifyTransactionURL":"https://y","poktToken":"p","infuraToken":"i","keep":"visible"}"#;
    let out = redact(input);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for (k, val) in v.as_object().unwrap() {
        if k == "keep" {
            assert_eq!(val, "visible");
        } else {
            assert_eq!(val, MASK, "{k} not masked in {out}");
        }
    }
}

#[test]
fn masks_nested_and_embedded_fragments() {
    let out = redact(r#"bad request {"a":{"password" : "hunter2"},"list":["password","x"]} end"#);
    assert_eq!(out, r#"bad request {"a":{"password" : "***"},"list":["password","x"]} end"#);
}

#[test]
fn masks_values_of_every_json_type_but_null() {
    assert_eq!(redact(r#"{"password":12345678,"n":1}"#), r#"{"password":"***","n":1}"#);
    assert_eq!(redact(r#"{"pin": -12.5e3}"#), r#"{"pin": "***"}"#);
    assert_eq!(redact(r#"{"seed":true}"#), r#"{"seed":"***"}"#);
    assert_eq!(redact(r#"{"password":null,"n":1}"#), r#"{"password":null,"n":1}"#);
    let out = redact(r#"{"mnemonic":["abandon","ab]le"],"k":1}"#);
    assert_eq!(out, r#"{"mnemonic":"***","k":1}"#);
    let out = redact(r#"{"privateKey":{"hex":"abc","n":[1,{"x":"}"}]},"k":"v"}"#);
    assert_eq!(out, r#"{"privateKey":"***","k":"v"}"#);
    // Still JSON.
    serde_json::from_str::<serde_json::Value>(&out).unwrap();
}

#[test]
fn masks_debug_formatted_json() {
    let json = r#"{"password":"hunter2","mnemonic":["w1","w2"],"pin":1234,"k":"v"}"#;
    let debug = format!("{json:?}");
    let out = redact(&debug);
    assert_eq!(out, r#""{\"password\":\"***\",\"mnemonic\":\"***\",\"pin\":\"***\",\"k\":\"v\"}""#);
    // Twice: Debug of a Debug.
    let twice = format!("{debug:?}");
    let out = assert_gone(&twice, "hunter2");
    assert!(!out.contains("1234") && !out.contains("w1"), "{out}");
}

#[test]
fn an_escaped_quote_does_not_end_a_secret() {
    assert_eq!(redact(r#"{"password":"a\"b"}"#), r#"{"password":"***"}"#);
    assert_eq!(redact(r#"{"password":"a\\"}"#), r#"{"password":"***"}"#);
    let debug = format!("{:?}", r#"{"password":"a\"bcdef","k":"v"}"#);
    let out = assert_gone(&debug, "bcdef");
    assert!(out.contains(r#"\"k\":\"v\""#), "{out}");
}

#[test]
fn unicode_escaped_keys_are_read() {
    assert_eq!(redact(r#"{"pass\u0077ord":"x1"}"#), r#"{"pass\u0077ord":"***"}"#);
    assert_gone(r#"{"\u0070in":"4321"}"#, "4321");
    assert_gone(&format!("{:?}", r#"{"pass\u0077ord":"hunter2"}"#), "hunter2");
}

#[test]
fn text_forms_are_masked() {
    assert_eq!(redact("login password=hunter2 user=bob"), "login password=*** user=bob");
    assert_eq!(redact("password: hunter2, next"), "password: ***, next");
    assert_eq!(redact(r#"password = "hunter 2" then"#), r#"password = "***" then"#);
    assert_eq!(
        redact("Login { password: \"pw\", user: \"bob\" }"),
        "Login { password: \"***\", user: \"bob\" }"
    );
    assert_eq!(redact("?api_key=abc&x=1"), "?api_key=***&x=1");
    assert_eq!(redact("mnemonic => 'a b c'"), "mnemonic => '***'");
    assert_gone("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz");
    assert_gone("\"line1\\npin: 9876\"", "9876");
}

#[test]
fn short_key_words_match_whole_words_only() {
    for key in [
        "pin",
        "newPin",
        "PIN_CODE",
        "pinCode",
        "auth",
        "authToken",
        "Authorization",
        "seed",
        "seedWords",
        "sessionId",
        "session",
        "accessToken",
        "csrf_token",
        "token",
        "keyUid",
        "Cookie",
        "privateKey",
        "private_key",
        "api-key",
        "passphrase",
        "client_secret",
        "sentryDSN",
    ] {
        assert!(is_sensitive_key(key), "{key} should be sensitive");
    }
    for key in [
        "shipping",
        "ping",
        "spinner",
        "author",
        "seeded",
        "tokenAddress",
        "tokens",
        "tokenId",
        "mapping",
        "keep",
        "typing",
        "passed",
        "id",
    ] {
        assert!(!is_sensitive_key(key), "{key} should not be sensitive");
    }
    assert_eq!(
        redact(r#"{"tokenAddress":"0xabc","shipping":"x"}"#),
        r#"{"tokenAddress":"0xabc","shipping":"x"}"#
    );
}

#[test]
fn recovery_phrases_are_masked() {
    let twelve: Vec<&str> = PHRASE_24.split(' ').take(12).collect();
    assert_eq!(redact(&format!("phrase: {} zzz", twelve.join(" "))), "phrase: *** zzz");
    assert_eq!(redact(&format!("x {PHRASE_24}")), "x ***");
    assert_gone(&PHRASE_24.to_uppercase(), "ABANDON");
    assert_gone(&twelve.join(", "), "abandon");
    assert_gone(&format!("{:?}", twelve), "abandon");
    assert_gone(&twelve.join("\n  "), "ability");
    assert_gone(&format!("{:?}", twelve.join("\n")), "ability");
    // Eleven list words are a sentence, not a phrase.
    let eleven = twelve[..11].join(" ");
    assert_eq!(redact(&eleven), eleven);
    // A word that is not on the list breaks the run.
    let broken = format!("{} zebraz {}", twelve[..6].join(" "), twelve[6..].join(" "));
    assert_eq!(redact(&broken), broken);
}

#[test]
fn raw_keys_pem_bearer_and_url_credentials_are_masked() {
    assert_eq!(redact(&format!("key {KEY_HEX} end")), "key *** end");
    assert_eq!(redact(&format!("key 0x{KEY_HEX}.")), "key 0x***.");
    assert_eq!(redact(&format!("k={}", KEY_HEX.to_uppercase())), "k=***");
    let address = "0x52908400098527886E0F7030069857D2E4169EE7";
    assert_eq!(redact(address), "0x***", "40-hex wallet addresses are masked too (issue 21)");
    let pem = "a -----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK==\n-----END RSA PRIVATE KEY----- b";
    assert_eq!(redact(pem), "a *** b");
    assert_eq!(redact("x -----BEGIN PRIVATE KEY-----\\nMIIEcut"), "x ***");
    assert_eq!(redact("cert -----BEGIN CERTIFICATE----- y"), "cert -----BEGIN CERTIFICATE----- y");
    assert_eq!(redact("Authorization: Bearer eyJhbGciOi.eyJzdWIi.sig"), "Authorization: ***");
    assert_eq!(redact("header bearer abc.def-ghi next"), "header *** next");
    // (`s3cret@example.org` also reads as an e-mail address: the host goes too.)
    assert_eq!(redact("https://alice:s3cret@example.org/x"), "https://***/x");
    assert_eq!(redact("https://alice:s3cret@10.0.0.1/x"), "https://***@***/x");
    assert_eq!(redact("ftp://bob@host/"), "ftp://***@host/");
    assert_eq!(redact("see https://example.org/a/b@"), "see https://example.org/a/b@");
}

#[test]
fn addresses_and_numbers_are_masked() {
    assert_eq!(redact("mail alice.b+x@mail.example.com now"), "mail *** now");
    assert_eq!(redact("release libstatus@0.1.0"), "release libstatus@0.1.0");
    assert_eq!(redact("from 192.168.1.20:8080"), "from ***:8080");
    assert_eq!(redact("v 1.2.300.4"), "v 1.2.300.4");
    for v6 in [
        "2001:db8:85a3::8a2e:370:7334",
        "::1",
        "fe80::1ff:fe23:4567:890a",
        "2001:0db8:0000:0000:0000:ff00:0042:8329",
        "::ffff:10.0.0.1",
    ] {
        assert_eq!(redact(&format!("ip {v6} x")), "ip *** x", "{v6}");
    }
    assert_eq!(redact("mac 00:1A:2b:3c:4D:5e and 00-1a-2b-3c-4d-5e"), "mac *** and ***");
    assert_eq!(redact("imei 490154203237518"), "imei ***");
    assert_eq!(redact("imei 49-015420-323751-8"), "imei ***");
    assert_eq!(redact("card 4111 1111 1111 1111."), "card ***.");
    assert_eq!(redact("card 4111-1111-1111-1111"), "card ***");
    assert_eq!(redact("amex 378282246310005"), "amex ***");
    assert_eq!(redact("visa 4222222222222"), "visa ***");
    assert_eq!(redact("iban DE89370400440532013000 ok"), "iban *** ok");
    // Ordinary numbers stay.
    for keep in [
        "took 1234 ms",
        "ts 1732760000000",
        "v 0.1.0",
        "12:30:45",
        "a uuid 550e8400-e29b-41d4-a716-446655440000",
    ] {
        assert_eq!(redact(keep), keep);
    }
}

#[test]
fn rust_text_is_left_alone() {
    for keep in [
        "called `Option::unwrap()` on a `None` value",
        "status::api::intended_panic at src/api/mod.rs:120:5",
        "index out of bounds: the len is 3 but the index is 7",
        "Vec::<u8>::with_capacity",
        "no json here",
        "",
        "😀 é ü",
    ] {
        assert_eq!(redact(keep), keep);
    }
}

#[test]
fn user_and_app_paths_lose_the_identifying_part_only() {
    let cases = [
        ("at /home/alice/src/x.rs:3", "at ~/src/x.rs:3"),
        ("/Users/bob/Library/Logs", "~/Library/Logs"),
        (r"C:\Users\Carol Ann\AppData\x.log", r"~\AppData\x.log"),
        (r#"{"p":"C:\\Users\\dan\\x"}"#, r#"{"p":"~\\x"}"#),
        ("c:/users/erin/x", "~/x"),
        ("/root/.cache/y", "~/.cache/y"),
        ("/data/user/0/im.status.ethereum/files/keys", "<app>/files/keys"),
        ("/data/user_de/10/im.status.ethereum/x", "<app>/x"),
        ("/data/data/im.status.ethereum/databases/a.db", "<app>/databases/a.db"),
        (
            "/var/mobile/Containers/Data/Application/3F2504E0-4F89-11D3-9A0C-0305E82C3301/Documents/x",
            "<app>/Documents/x",
        ),
        (
            "/private/var/mobile/Containers/Data/Application/3F2504E0-4F89-11D3-9A0C-0305E82C3301/tmp",
            "<app>/tmp",
        ),
        ("/private/var/mobile/Library/Caches", "~/Library/Caches"),
        ("/storage/emulated/0/Download/a.txt", "<storage>/Download/a.txt"),
        ("/home/alice", "~"),
        ("paths /home/a and /home/b, ok", "paths ~ and ~, ok"),
    ];
    for (input, want) in cases {
        assert_eq!(redact(input), want, "{input}");
    }
    // Not a user's folder.
    for keep in ["/var/mobilex", "/rootfs/x", "src/api/mod.rs", "/home/", "/data/data/"] {
        assert_eq!(redact(keep), keep);
    }
}

#[test]
fn edge_cases_neither_panic_nor_loop() {
    let cases = [
        r#"{"password":"abc"#,
        r#"{"password":"#,
        r#"{"password""#,
        r#""password""#,
        r#""password":"#,
        "password:",
        "password=",
        r#""password"#,
        "\"",
        "\"\"",
        r#"[""]"#,
        r#"["password",""]"#,
        "é\"password\":\"x\"",
        "é\"password\":1",
        "\\",
        "\\\\\\",
        "\\u",
        "\\u00",
        "\\u0070assword:x",
        "\\uzzzz",
        r#""pass\u00"#,
        r#"{"pin":[1,2"#,
        r#"{"pin":{"#,
        "-----BEGIN",
        "-----BEGIN PRIVATE KEY",
        "bearer",
        "Bearer ",
        "//",
        "@",
        "a@",
        "@b.cc",
        ":",
        "::",
        "/home",
        "C:",
        "\0\0",
    ];
    for input in cases {
        let _ = redact(input);
    }
    assert_eq!(redact(r#"unterminated "password":"abc"#), r#"unterminated "password":"***"#);
    assert_eq!(redact(r#"{"pin":[1,2"#), r#"{"pin":"***""#);
    assert_eq!(redact("é\"password\":\"x\""), "é\"password\":\"***\"");
}

#[test]
fn huge_inputs_finish() {
    for unit in [
        "/home/",
        r#""password":""#,
        "a",
        "\\",
        "\"",
        "1 ",
        "::",
        "ab:",
        "abandon ",
        "x@",
        "//a",
        "-----BEGIN KEY-----",
    ] {
        let text = unit.repeat((1 << 20) / unit.len());
        let start = std::time::Instant::now();
        let _ = redact(&text);
        // Generous: a quadratic scan of 1 MiB would take minutes.
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "{unit:?}: {:?}", start.elapsed());
    }
}

/// Worst cases at 1 MiB, timed: `cargo test --release --lib -- --ignored --nocapture redact_benchmark`.
#[test]
#[ignore = "a benchmark figure, not a test"]
fn redact_benchmark() {
    // CPU time of this thread: wall time means little on a loaded machine.
    let cpu = crate::sys::process::thread_cpu_time;
    let phrase_run = format!("{PHRASE_24} ");
    // Issue 21's detectors at their worst: a word that passes the base58
    // length and first-character filters and is decoded (a real peer id,
    // and one that fails the check), `.eth` names, phone-like digit groups,
    // `eyJ` words, `/p2p/` segments.
    let peer = format!("{} ", super::identifier_tests::example_peer_id());
    let not_peer = format!("Qm{} ", "z".repeat(44));
    for unit in [
        "/home/",
        r#""password":""#,
        "x@y.co ",
        &phrase_run,
        "0123456789abcdef",
        "1.2.3.4 ",
        "plain words of a log line without secrets, ",
        &peer,
        &not_peer,
        "a.eth ",
        "a.b.",
        "+41 79 123 45 67 ",
        "1 2 3 4 5 6 7 8 9 ",
        "eyJhbGciOiJIUzI1NiJ9.x.y ",
        "eyJeyJeyJ",
        "/p2p/",
    ] {
        let text = unit.repeat((1 << 20) / unit.len());
        let (wall, start) = (std::time::Instant::now(), cpu());
        let out = redact(&text);
        let (cpu_time, wall_time) = (cpu() - start, wall.elapsed());
        let shown: String = unit.chars().take(24).collect();
        println!(
            "redact 1 MiB of {shown:?}...: {cpu_time:?} CPU ({wall_time:?} wall), {} bytes out",
            out.len()
        );
    }
    // The common case: one API call's log line, no secret in it.
    let line = r#"{"dataDir":"/tmp/libstatus-data","logDir":"/tmp/libstatus-data/logs","logEnabled":true,"logLevel":"info","apiLoggingEnabled":true,"mixpanelAppId":"","metricsEnabled":false} -> {"centralizedMetricsInfo":{"enabled":true,"userConfirmed":true},"panicReporting":{"active":true,"reason":"","environment":"ci-main"}}"#;
    let calls = 20_000;
    let start = cpu();
    for _ in 0..calls {
        std::hint::black_box(redact(std::hint::black_box(line)));
    }
    println!("redact one {}-byte API log line: {:?} CPU per call", line.len(), (cpu() - start) / calls);
    // The same line with a host's list in force (64 values of 40 bytes: the
    // search is one automaton pass), and 1 MiB of the worst list case.
    let values: Vec<String> = (0..64).map(|n| format!("Qvalue{n:02}{}", "x".repeat(32))).collect();
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    let k = super::identifier_tests::known_list(&refs, &["customSecretField"]);
    let start = cpu();
    for _ in 0..calls {
        std::hint::black_box(redact_prefix_with(std::hint::black_box(line), line.len(), Some(&k)));
    }
    println!("the same line with a 64-value list: {:?} CPU per call", (cpu() - start) / calls);
    let text = values.join(" ").repeat((1 << 20) / (64 * 41));
    let start = cpu();
    let out = redact_prefix_with(&text, text.len(), Some(&k));
    println!(
        "redact 1 MiB of list values with the 64-value list: {:?} CPU, {} bytes out",
        cpu() - start,
        out.len()
    );
    let full: Vec<String> = (0..64).map(|n| format!("{n:02}{}", "é".repeat(127))).collect();
    let refs: Vec<&str> = full.iter().map(String::as_str).collect();
    let k = super::identifier_tests::known_list(&refs, &[]);
    println!(
        "the largest list (64 values of 256 bytes, every form): {} bytes of automaton",
        k.memory_usage()
    );
    let typical = super::identifier_tests::known_list(
        &[
            "zQ3shPyZJnxZK4Bwyx9QsaksNKDYTPmpwPvGSjMYVHoXHeEgB",
            "Zoë Bright",
            "zoe.stateofus.eth",
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        ],
        &[],
    );
    println!(
        "a typical list (chat key, name, ENS name, address): {} bytes of automaton",
        typical.memory_usage()
    );
}

pub(super) mod property {
    use proptest::prelude::*;

    use super::super::redact;

    /// Sensitive keys as hosts spell them.
    const KEYS: &[&str] = &[
        "password",
        "newPassword",
        "mnemonic",
        "privateKey",
        "private_key",
        "passphrase",
        "pin",
        "PIN",
        "apiKey",
        "secret",
        "authToken",
        "auth",
        "seed",
        "sessionId",
        "cookie",
        "keyUid",
        "infuraToken",
        "sentryDSN",
    ];

    fn core() -> impl Strategy<Value = String> {
        // Starts with a capital Q and holds a digit: never a list word, never
        // produced by the filler's own alphabet by chance at this length.
        "Q[a-z]{4}[0-9][a-zA-Z0-9]{4,10}"
    }

    fn filler() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just(" ".to_owned()),
                "[a-z]{1,8}",
                Just("{".to_owned()),
                Just("}".to_owned()),
                Just("\"".to_owned()),
                Just(":".to_owned()),
                Just(",".to_owned()),
                Just("\\".to_owned()),
                Just("é".to_owned()),
                Just("😀".to_owned()),
                Just("\n".to_owned()),
                Just("[".to_owned()),
                Just("'".to_owned()),
                Just("=".to_owned()),
            ],
            0..24,
        )
        .prop_map(|parts| parts.concat())
    }

    fn hex(n: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(b"0123456789abcdefABCDEF".to_vec()), n)
            .prop_map(|v| String::from_utf8(v).unwrap())
    }

    /// Appends the Luhn check digit that makes `digits` valid.
    pub(in crate::redact) fn luhn_complete(digits: &mut Vec<u32>) {
        let sum: u32 = digits
            .iter()
            .rev()
            .enumerate()
            .map(|(n, &d)| {
                if n % 2 == 0 {
                    if d * 2 > 9 {
                        d * 2 - 9
                    } else {
                        d * 2
                    }
                } else {
                    d
                }
            })
            .sum();
        digits.push((10 - sum % 10) % 10);
    }

    /// A secret in one of the listed shapes: (text to plant, substrings that must not survive).
    fn secret() -> impl Strategy<Value = (String, Vec<String>)> {
        let key = proptest::sample::select(KEYS);
        let words = proptest::sample::subsequence(bip39::Language::English.word_list().to_vec(), 24)
            .prop_shuffle()
            .prop_flat_map(|w| (Just(w), prop_oneof![Just(12usize), Just(15), Just(18), Just(21), Just(24)]));
        prop_oneof![
            (key.clone(), core()).prop_map(|(k, c)| (format!(r#"{{"{k}":"{c}"}}"#), vec![c])),
            (key.clone(), core(), core())
                .prop_map(|(k, a, b)| (format!(r#"{{"{k}":"{a}\"{b}"}}"#), vec![a, b])),
            (key.clone(), 10_000_000u64..u64::MAX)
                .prop_map(|(k, n)| (format!(r#"{{"{k}":{n}}}"#), vec![n.to_string()])),
            (key.clone(), core(), core())
                .prop_map(|(k, a, b)| (format!(r#"{{"{k}":["{a}",{{"x":"{b}"}}]}}"#), vec![a, b])),
            (key.clone(), core()).prop_map(|(k, c)| (format!(r#"{{"{k}":{{"hex":"{c}","n":1}}}}"#), vec![c])),
            (key.clone(), core()).prop_map(|(k, c)| {
                // The key's first letter as a \u escape.
                let first = k.chars().next().unwrap();
                (format!(r#"{{"\u{:04x}{}":"{c}"}}"#, first as u32, &k[1..]), vec![c])
            }),
            (key.clone(), core(), 0..4usize).prop_map(|(k, c, form)| {
                let text = match form {
                    0 => format!("{k}={c}"),
                    1 => format!("{k}: {c}"),
                    2 => format!("{k} = \"{c}\""),
                    _ => format!("{k}:{c}"),
                };
                (text, vec![c])
            }),
            (words, proptest::sample::select(&[" ", ", ", "\n", "  ", "\t"][..])).prop_map(
                |((w, n), sep)| {
                    let phrase = w[..n].join(sep);
                    let pairs = w[..n].windows(2).map(|p| format!("{}{sep}{}", p[0], p[1])).collect();
                    (phrase, pairs)
                }
            ),
            (hex(64), any::<bool>())
                .prop_map(|(h, prefix)| (if prefix { format!("0x{h}") } else { h.clone() }, vec![h])),
            core().prop_map(|c| (
                format!("-----BEGIN EC PRIVATE KEY-----\n{c}\n{c}==\n-----END EC PRIVATE KEY-----"),
                vec![c]
            )),
            core().prop_map(|c| (format!("Bearer {c}.{c}"), vec![c])),
            (core(), core()).prop_map(|(u, p)| (format!("https://{u}:{p}@example.org/path"), vec![u, p])),
            core().prop_map(|c| (format!("{c}@mail.example.com"), vec![c])),
            (any::<[u8; 4]>()).prop_map(|o| {
                let ip = format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3]);
                (ip.clone(), vec![ip])
            }),
            (any::<[u16; 8]>(), any::<bool>()).prop_map(|(g, compressed)| {
                let ip = if compressed {
                    format!("{:x}:{:x}::{:x}:{:x}", g[0] | 0x2000, g[1], g[2], g[3])
                } else {
                    g.iter().map(|x| format!("{x:x}")).collect::<Vec<_>>().join(":")
                };
                (ip.clone(), vec![ip])
            }),
            (any::<[u8; 6]>(), any::<bool>()).prop_map(|(m, dash)| {
                let sep = if dash { "-" } else { ":" };
                let mac = m.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(sep);
                (mac.clone(), vec![mac])
            }),
            proptest::collection::vec(0u32..10, 13).prop_map(|mut d| {
                d.insert(0, 3);
                luhn_complete(&mut d);
                let imei: String = d.iter().map(|x| x.to_string()).collect();
                (imei.clone(), vec![imei])
            }),
            (proptest::collection::vec(0u32..10, 11), any::<bool>()).prop_map(|(mut d, spaced)| {
                let mut card = vec![4, 1, 1, 1];
                card.append(&mut d);
                luhn_complete(&mut card);
                let digits: String = card.iter().map(|x| x.to_string()).collect();
                let text = if spaced {
                    digits
                        .as_bytes()
                        .chunks(4)
                        .map(|c| std::str::from_utf8(c).unwrap())
                        .collect::<Vec<_>>()
                        .join(" ")
                } else {
                    digits.clone()
                };
                (text.clone(), vec![text])
            }),
            "[0-9]{2}[0-9]{18}".prop_map(|d| {
                let iban = format!("DE{d}");
                (iban.clone(), vec![iban])
            }),
            (core(), 0..8usize).prop_map(|(c, form)| {
                let c2 = c.clone();
                let text = match form {
                    0 => format!("/home/{c}/src/lib.rs"),
                    1 => format!("/Users/{c}/Library"),
                    2 => format!(r"C:\Users\{c}\AppData"),
                    3 => format!(r"C:\\Users\\{c}\\AppData"),
                    4 => format!("/data/user/0/com.{c}.app/files"),
                    5 => format!("/data/data/com.{c}.app/db"),
                    6 => format!("/var/mobile/Containers/Data/Application/{c}-4F89/Documents"),
                    _ => format!("/private/var/mobile/Containers/Data/Application/{c}/tmp"),
                };
                (text, vec![c2])
            }),
        ]
    }

    /// How a secret reaches the text: as it is, inside request JSON, or
    /// Debug-formatted (escaped) once.
    fn plant(secret: &str, form: u8, filler: &str) -> String {
        match form % 3 {
            0 => secret.to_owned(),
            1 => {
                // In a request: the value of an ordinary key, nested.
                let request = serde_json::json!({"method": "x", "params": [filler, {"note": secret}]});
                request.to_string()
            }
            _ => format!("{secret:?}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4096, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn planted_secrets_never_survive(
            before in filler(),
            after in filler(),
            secrets in proptest::collection::vec((secret(), any::<u8>()), 1..4),
        ) {
            let mut text = before.clone();
            let mut cores = Vec::new();
            for ((shape, must_go), form) in &secrets {
                text.push(' ');
                text.push_str(&plant(shape, *form, &after));
                text.push(' ');
                cores.extend(must_go.iter().cloned());
            }
            text.push_str(&after);
            let out = redact(&text);
            for core in &cores {
                // As planted, and as escaping (JSON, Debug) writes it.
                let escaped = core.escape_debug().to_string();
                for form in [core.as_str(), escaped.as_str()] {
                    prop_assert!(!out.contains(form), "{:?} survived:\n in: {:?}\nout: {:?}", form, text, out);
                }
            }
        }

        #[test]
        fn never_panics_on_arbitrary_text(text in any::<String>()) {
            let _ = redact(&text);
        }

        #[test]
        fn never_panics_on_json_like_text(text in "[\"\\\\:{}\\[\\],a-z0-9 /@.=u\\-é]{0,200}") {
            let _ = redact(&text);
        }
    }
}

#[test]
#[ignore = "profiling aid"]
fn detector_profile() {
    let text = "plain words of a log line without secrets, ".repeat(1 << 14);
    let b = text.as_bytes();
    type Detector = fn(&[u8], &mut Vec<Span>);
    let detectors: [(&str, Detector); 17] = [
        ("key_values", |b, s| key_values(b, s, None)),
        ("paths", paths),
        ("pem", pem_blocks),
        ("bearer", bearer_tokens),
        ("url", url_credentials),
        ("emails", emails),
        ("hex", hex_runs),
        ("ipv6", ipv6_and_mac),
        ("ipv4", ipv4),
        ("numbers", long_numbers),
        ("ibans", ibans),
        ("mnemonics", mnemonics),
        ("base58 ids", identifiers::base58_identifiers),
        ("p2p and enr", identifiers::multiaddr_peers_and_enr),
        ("ens", identifiers::ens_names),
        ("phones", identifiers::phone_numbers),
        ("jwts", identifiers::jwts),
    ];
    for (name, f) in detectors {
        let mut spans = Vec::new();
        let start = std::time::Instant::now();
        f(b, &mut spans);
        println!("{name}: {:?}", start.elapsed());
    }
}

/// A value after an escaped line break or tab (`{:?}` of multi-line text):
/// the escape is skipped, the value masked whole from its first character.
#[test]
fn a_value_after_an_escaped_line_break_is_masked_whole() {
    assert_eq!(redact(r"pin:\n 9876 x"), r"pin:\n *** x");
    assert_eq!(redact(r"password:\t\thunter2 next"), r"password:\t\t*** next");
}

/// `null` is left only as a whole word: `nullsecret` is a value like any.
#[test]
fn only_a_whole_null_is_left_unmasked() {
    assert_eq!(redact("password=nullsecret x"), "password=*** x");
    assert_eq!(redact(r#"{"pin":null}"#), r#"{"pin":null}"#);
}

/// 15 or 16 digits are masked whatever their first digit and checksum (IMEI
/// and card lengths); other lengths need a card's first digit and Luhn.
#[test]
fn fifteen_and_sixteen_digits_are_masked_without_a_checksum() {
    assert_eq!(redact("id 912345678901234 x"), "id *** x");
    assert_eq!(redact("id 0000-1111-2222-3333 x"), "id *** x");
    assert_eq!(redact("id 91234567890123 x"), "id 91234567890123 x");
}
