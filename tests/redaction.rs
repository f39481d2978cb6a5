//! Secrets in a panic message, as a host meets them: through the built
//! `libstatus.so`, with the logs on and a loopback receiver. None may show in
//! the error answer, the event on the wire, the outbox file, `status.log`,
//! `api.log` or stderr.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use support::{data_dir, lib, set_environment, Receiver, Reply};

const CHILD: &str = "LIBSTATUS_REDACTION_CHILD";
const PHRASE: &str = "abandon ability able about above absent absorb abstract absurd abuse access accident \
                      account accuse achieve acid acoustic acquire across act action actor actress actual";
const KEY_HEX: &str = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";

/// The panic message (every shape the redactor knows) and the substrings of
/// it that must not come out anywhere.
fn message_and_secrets() -> (String, Vec<&'static str>) {
    let request = json!({
        "password": "Hunter2pw",
        "pin": 73914825,
        "mnemonic": ["zebra", "Wordsalad7"],
        "privateKey": {"hex": "Objhexval9"},
        "keyUid": "0xKeyuid5ecret",
        "note": "ok",
    })
    .to_string();
    let escaped_quote = r#"{"password":"Esc\"aped9q"}"#;
    let message = format!(
        "request {request}\n\
         debug {debug:?}\n\
         quote {escaped_quote}\n\
         unicode {{\"pass\\u0077ord\":\"Unicodepw8\"}}\n\
         text password=Textpw77 and secret: Colonpw66 and token = \"Quotedtok5\"\n\
         p1 {PHRASE}\n\
         keys {KEY_HEX} 0x{KEY_HEX}\n\
         -----BEGIN PRIVATE KEY-----\nPemBody11\n-----END PRIVATE KEY-----\n\
         auth Authorization: Bearer Beartok44.x\n\
         url https://urluser3:Urlpass3@example.org/x\n\
         mail mailuser9@example.com ip 192.168.77.31 and 2001:db8:85a3::8a2e:370:7334 mac 00:1a:2b:3c:4d:5e\n\
         imei 490154203237518 card 4111 1111 1111 1111 iban DE89370400440532013000\n\
         paths /home/homeuser7/x /Users/macuser7/y C:\\Users\\winuser7\\z /data/user/0/im.appname7.ethereum/files \
         /data/data/im.appname8.ethereum/db /var/mobile/Containers/Data/Application/UUID7-AAAA/Documents \
         /storage/emulated/0/Download",
        debug = r#"{"password":"Debugpw55","pin":"1357"}"#,
    );
    let secrets = vec![
        "Hunter2pw",
        "73914825",
        "Wordsalad7",
        "Objhexval9",
        "Keyuid5ecret",
        "Debugpw55",
        "Esc\\\"aped9q",
        "aped9q",
        "Unicodepw8",
        "Textpw77",
        "Colonpw66",
        "Quotedtok5",
        "abandon ability",
        "actress actual",
        &KEY_HEX[..32],
        "PemBody11",
        "Beartok44",
        "urluser3",
        "Urlpass3",
        "mailuser9",
        "192.168.77.31",
        "2001:db8:85a3",
        "00:1a:2b:3c:4d:5e",
        "490154203237518",
        "4111 1111 1111 1111",
        "DE89370400440532013000",
        "homeuser7",
        "macuser7",
        "winuser7",
        "appname7",
        "appname8",
        "UUID7",
        "emulated/0",
    ];
    (message, secrets)
}

fn assert_clean(what: &str, text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text.contains(secret), "{secret:?} leaked into {what}:\n{text}");
    }
}

fn read_dir_text(dir: &Path, suffix: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
                .map(|e| {
                    let bytes = std::fs::read(e.path()).unwrap_or_default();
                    (e.path().display().to_string(), String::from_utf8_lossy(&bytes).into_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Runs in the child process: the host's side of the scenario.
fn scenario() {
    let (message, secrets) = message_and_secrets();
    let receiver = Receiver::start();
    // The request is recorded, never answered: the report stays in the outbox
    // where this test can read it.
    receiver.set_default(Reply::Hang);
    set_environment("ci-main");
    let dir = data_dir();
    let logs = dir.path().join("logs");
    let answer = lib().init(json!({
        "dataDir": dir.path(), "sentryDSN": receiver.dsn(), "logDir": logs,
        "logEnabled": true, "logLevel": "debug", "apiLoggingEnabled": true, "logToStderr": true,
    }));
    assert_eq!(answer["panicReporting"]["active"], false, "{answer}");
    lib().opt_in(true);

    let raw = lib().call("IntendedPanic", &message);
    let v = support::assert_error(&raw, "panic");
    assert_clean("the error answer", &raw, &secrets);
    // The rest of the message is still there for whoever debugs it.
    let error = v["error"].as_str().unwrap();
    for kept in ["request", "\"note\":\"ok\"", "p1 ***", "~/x", "<app>/files", "<storage>/Download"] {
        assert!(error.contains(kept), "{kept:?} was lost: {error}");
    }

    assert_eq!(receiver.wait_for_requests(1, Duration::from_secs(20)), 1, "the event did not arrive");
    let received = receiver.received();
    let body = String::from_utf8_lossy(&received[0].body).into_owned();
    assert!(received[0].event().is_some(), "{body}");
    assert_clean("the event on the wire", &body, &secrets);
    let value = received[0].event().unwrap()["exception"]["values"][0]["value"].as_str().unwrap().to_owned();
    assert!(value.contains("p1 ***"), "{value}");

    let outbox = read_dir_text(&dir.path().join("panic-reports"), ".envelope");
    assert_eq!(outbox.len(), 1, "the report waits in the outbox: {outbox:?}");
    for (path, text) in &outbox {
        assert_clean(path, text, &secrets);
    }

    lib().call_int("FlushPanicReports", 0);
    let status = std::fs::read_to_string(logs.join("status.log")).unwrap();
    assert!(status.contains("panic in API call IntendedPanic"), "{status}");
    assert_clean("status.log", &status, &secrets);
    let api = std::fs::read_to_string(logs.join("api.log")).unwrap();
    assert!(api.contains("IntendedPanic"), "{api}");
    assert_clean("api.log", &api, &secrets);
}

/// Runs the scenario in a child process and returns its stderr.
fn run_child(test_name: &str) -> String {
    let output = support::self_command()
        .args(["--exact", test_name, "--nocapture", "--test-threads=1", "--include-ignored"])
        .env(CHILD, "1")
        .env("LIBSTATUS_ISOLATED", "1")
        .output()
        .expect("run the host in a child process");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success() && stdout.contains("1 passed"), "the host failed:\n{stdout}\n{stderr}");
    stderr
}

/// The lines of stderr that the library wrote (its log records, which start
/// with a date), apart from what Rust's default panic hook printed.
fn library_records(stderr: &str) -> String {
    let mut out = String::new();
    let mut ours = false;
    for line in stderr.lines() {
        let starts_record = line.len() > 10 && line.as_bytes()[4] == b'-' && line.as_bytes()[7] == b'-';
        if starts_record {
            ours = true;
        } else if line.starts_with("thread '") && line.contains("panicked at") {
            ours = false;
        }
        if ours {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The test `name` in two processes: in the child this test starts, runs
/// `scenario` and answers `None`; in the parent (when isolated), starts
/// that child and answers its stderr, which must hold the library's record
/// of the panic.
fn child_stderr(name: &str, scenario: fn()) -> Option<String> {
    if std::env::var_os(CHILD).is_some() {
        scenario();
        return None;
    }
    if !support::isolated() {
        return None;
    }
    let stderr = run_child(name);
    let ours = library_records(&stderr);
    assert!(ours.contains("panic in API call IntendedPanic"), "no log record on stderr:\n{stderr}");
    Some(stderr)
}

#[test]
fn secrets_in_a_panic_message_show_nowhere() {
    let Some(stderr) = child_stderr("secrets_in_a_panic_message_show_nowhere", scenario) else { return };
    let ours = library_records(&stderr);
    let (_, secrets) = message_and_secrets();
    assert_clean("the library's stderr records", &ours, &secrets);
}

/// All of stderr, including anything Rust's default panic hook would print:
/// the panics the library catches never reach the previous hook, so nothing
/// of their raw message is printed, whatever `RUST_BACKTRACE` says.
#[test]
fn stderr_holds_no_secret_at_all() {
    let Some(stderr) = child_stderr("stderr_holds_no_secret_at_all", scenario) else { return };
    let (_, secrets) = message_and_secrets();
    assert_clean("stderr", &stderr, &secrets);
}

/// The host's own identifiers (issue 21): passed in `redact` at init, then
/// a panic message holding them in every form (inside words, URLs, paths,
/// other case, JSON-escaped, Debug-escaped, percent-encoded), next to
/// identifiers only the pattern detectors know. The values and the
/// identifiers and what follows the host's extra key may show nowhere.
fn host_values_and_secrets() -> (Vec<String>, String, Vec<String>) {
    let chat_key =
        format!("z{}", bs58::encode([&[0xe7, 0x01, 0x02][..], &[0x5a; 32]].concat()).into_string());
    let peer =
        bs58::encode([&[0x00, 0x25, 0x08, 0x02, 0x12, 0x21, 0x03][..], &[0x6b; 32]].concat()).into_string();
    let values = vec![
        chat_key.clone(),
        "Zoë Quixote".to_owned(),
        "Rocinante42".to_owned(),
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".to_owned(),
        "Qreplaced7marker".to_owned(),
    ];
    let debug = format!("{:?}", r#"{"name":"Zoë Quixote","nick":"Rocinante42"}"#);
    let message = format!(
        "contact {chat_key} named Zoë Quixote (zoë quixote, ZOË QUIXOTE) in xxRocinante42yy\n\
         url https://status.app/u/Rocinante42?x=1 path /tmp/Rocinante42/db q=Zo%C3%AB%20Quixote\n\
         json {{\"name\":\"Zo\\u00eb Quixote\",\"horseName\":\"Dapple9x\",\"HORSE_NAME\":\"Gris8y\"}} debug {debug}\n\
         wallet 0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed to 0x{tx}\n\
         peer /ip4/10.0.0.7/tcp/30303/p2p/{peer} friend friendname.stateofus.eth\n\
         phone +41 79 123 45 67 jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqd3RzdWJqIn0.c2lnbmF0dXJlMTIz\n\
         kept src/api/mod.rs:120:5 HTTP/1.1 503 event 0123456789abcdef0123456789abcdef",
        tx = "7d".repeat(32),
    );
    let secrets = vec![
        chat_key[3..].to_owned(),
        "uixote".to_owned(),
        "UIXOTE".to_owned(),
        "Rocinante42".to_owned(),
        "aAeb6053F3E94C9b9A09".to_owned(),
        "aaeb6053f3e94c9b9a09".to_owned(),
        "Dapple9x".to_owned(),
        "Gris8y".to_owned(),
        "7d7d7d7d7d7d7d7d".to_owned(),
        peer[3..].to_owned(),
        "friendname".to_owned(),
        "79 123 45 67".to_owned(),
        "eyJzdWIiOiJqd3RzdWJqIn0".to_owned(),
    ];
    (values, message, secrets)
}

fn host_values_scenario() {
    let (values, message, secrets) = host_values_and_secrets();
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let receiver = Receiver::start();
    receiver.set_default(Reply::Hang);
    set_environment("ci-main");
    let dir = data_dir();
    let logs = dir.path().join("logs");
    let init = |redact: serde_json::Value| {
        lib().init(json!({
            "dataDir": dir.path(), "sentryDSN": receiver.dsn(), "logDir": logs,
            "logEnabled": true, "logLevel": "debug", "apiLoggingEnabled": true, "logToStderr": true,
            "redact": redact,
        }))
    };
    let answer = init(json!({"values": values, "keys": ["horseName"]}));
    assert!(answer["panicReporting"].is_object(), "{answer}");
    lib().opt_in(true);
    // A wrong type: refused, and its answer does not quote the list.
    let refused = lib().call(
        "InitializeApplication",
        &json!({"dataDir": dir.path(), "redact": {"values": "Qbadtype9value"}}).to_string(),
    );
    support::assert_error(&refused, "invalid-request");
    assert!(!refused.contains("Qbadtype9value"), "{refused}");

    let raw = lib().call("IntendedPanic", &message);
    support::assert_error(&raw, "panic");
    assert_clean("the error answer", &raw, &secrets);
    for kept in ["src/api/mod.rs:120:5", "HTTP/1.1 503", "0123456789abcdef0123456789abcdef", "contact ***"] {
        assert!(raw.contains(kept), "{kept:?} was lost: {raw}");
    }

    assert_eq!(receiver.wait_for_requests(1, Duration::from_secs(20)), 1, "the event did not arrive");
    let body = String::from_utf8_lossy(&receiver.received()[0].body).into_owned();
    assert_clean("the event on the wire", &body, &secrets);
    let outbox = read_dir_text(&dir.path().join("panic-reports"), ".envelope");
    assert_eq!(outbox.len(), 1, "the report waits in the outbox: {outbox:?}");
    for (path, text) in &outbox {
        assert_clean(path, text, &secrets);
    }
    lib().call_int("FlushPanicReports", 0);
    let status = std::fs::read_to_string(logs.join("status.log")).unwrap();
    assert!(status.contains("panic in API call IntendedPanic"), "{status}");
    assert_clean("status.log", &status, &secrets);
    let api = std::fs::read_to_string(logs.join("api.log")).unwrap();
    // The init's own request line holds the list: masked with it.
    assert!(api.contains("InitializeApplication"), "{api}");
    assert_clean("api.log", &api, &secrets);
    assert!(!api.contains("Qreplaced7marker") && !api.contains("Qbadtype9value"), "{api}");
    // Nothing of the list is written anywhere in dataDir.
    for (path, text) in read_tree_text(dir.path()) {
        assert_clean(&path, &text, &secrets);
        assert!(!text.contains("Qreplaced7marker") && !text.contains("Qbadtype9value"), "{path}");
    }

    // The next init replaces the list: a value of the old one is no longer known.
    let answer = init(json!({"values": ["Qnewlist5value"]}));
    assert!(answer["panicReporting"].is_object(), "{answer}");
    let raw = lib().call("IntendedPanic", "old Qreplaced7marker new Qnewlist5value");
    assert!(raw.contains("old Qreplaced7marker new ***"), "{raw}");
}

/// Every file under `dir`, as text.
fn read_tree_text(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(read_tree_text(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path.display().to_string(), String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    out
}

#[test]
fn host_identifiers_show_nowhere() {
    let Some(stderr) = child_stderr("host_identifiers_show_nowhere", host_values_scenario) else { return };
    let (_, _, secrets) = host_values_and_secrets();
    assert_clean("stderr", &stderr, &secrets.iter().map(String::as_str).collect::<Vec<_>>());
}
