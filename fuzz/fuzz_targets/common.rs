//! What every target shares: a sandbox folder (on tmpfs when there is one)
//! that the process works in, a panic hook that turns any panic the library
//! did not mean into a crash, and the check every answer must pass.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;
use status::api::Endpoint;

/// The error codes an answer may carry (README, "Errors").
pub const CODES: &[&str] = &["invalid-request", "not-initialized", "panic", "internal"];

struct Sandbox {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

static SANDBOX: OnceLock<Sandbox> = OnceLock::new();

/// The process's sandbox folder: every path a target hands the library is
/// inside it (absolute: the working directory is where libFuzzer keeps its
/// corpus, so it stays as it is).
pub fn root() -> &'static Path {
    &SANDBOX
        .get_or_init(|| {
            let base =
                if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
            let dir = tempfile::Builder::new().prefix("libstatus-fuzz-").tempdir_in(base).expect("sandbox");
            let root = std::fs::canonicalize(dir.path()).expect("canonical sandbox");
            Sandbox { _dir: dir, root }
        })
        .root
}

/// Where the library panics on purpose: `IntendedPanic` and
/// `IntendedBackgroundPanic` (`panic_intended` is `#[track_caller]`, so the
/// location is its caller in `src/api/mod.rs`).
const INTENDED_AT: &[&str] = &["src/api/mod.rs", "src/panics.rs"];

/// Once per process: the sandbox, and a panic hook that ignores the library's
/// intended panics and aborts on any other, caught or not: a panic the
/// library catches is still a bug when the input is only hostile data.
/// Installed before the first call, so the library's hook chains to it.
pub fn setup() {
    root();
    std::panic::set_hook(Box::new(|info| {
        let intended = info.location().is_some_and(|l| INTENDED_AT.iter().any(|f| l.file().ends_with(f)));
        if !intended {
            eprintln!("UNEXPECTED PANIC (thread {:?}): {info}", std::thread::current().name());
            std::process::abort();
        }
    }));
}

/// The invariant of every answer: a JSON object; a failure has `error` as its
/// first key, non-empty, and a known `code`; a success either has no `error`
/// or an empty one first.
pub fn check_answer(endpoint: Endpoint, answer: &str) -> Value {
    let value: Value = serde_json::from_str(answer)
        .unwrap_or_else(|e| panic!("{endpoint:?}: the answer is not JSON ({e}): {answer:?}"));
    let object = value.as_object().unwrap_or_else(|| panic!("{endpoint:?}: not an object: {answer}"));
    match object.get("error") {
        None => assert!(
            endpoint == Endpoint::InitializeApplication || endpoint == Endpoint::CentralizedMetricsInfo,
            "{endpoint:?}: no `error` key: {answer}"
        ),
        Some(Value::String(e)) if e.is_empty() => {
            assert!(answer.starts_with(r#"{"error":"""#), "{endpoint:?}: `error` is not first: {answer}");
            assert!(object.get("code").is_none(), "{endpoint:?}: a code without an error: {answer}");
        }
        Some(Value::String(_)) => {
            assert!(answer.starts_with(r#"{"error":""#), "{endpoint:?}: `error` is not first: {answer}");
            let code = object.get("code").and_then(Value::as_str).unwrap_or("");
            assert!(CODES.contains(&code), "{endpoint:?}: unknown code: {answer}");
        }
        Some(_) => panic!("{endpoint:?}: `error` is not a string: {answer}"),
    }
    value
}

/// A failure answer's code, if any.
pub fn code(answer: &Value) -> Option<&str> {
    answer.get("code").and_then(Value::as_str)
}

/// `FlushPanicReports` waits up to its timeout while reports are pending: an
/// in-range timeout is shortened to a few milliseconds (out-of-range values
/// are kept, so the validation is fuzzed too).
pub fn short_timeout(ms: i64) -> i64 {
    if (0..=60_000).contains(&ms) {
        ms % 20
    } else {
        ms
    }
}

/// Threads of this process (`/proc/self/status`).
pub fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Threads:").map(|n| n.trim().parse().unwrap_or(0)))
        })
        .unwrap_or(0)
}
