//! status-go's request semantics: how Go's `encoding/json` reads a request
//! into a struct, so a host written against status-go gets the same reading
//! here.
//!
//! What Go does, and this module does the same (Go 1.19 to 1.23
//! `decode.go`, `fold.go`):
//! - An object key picks its field by exact name first, then by a
//!   case-insensitive match (`{"DataDir":...}`, `{"ENABLED":true}`). The fold
//!   is Unicode simple case folding; for the ASCII field names used here the
//!   only non-ASCII runes it maps onto a letter are `ſ` (U+017F, folds with
//!   `s`) and `K` (U+212A KELVIN SIGN, folds with `k`), so `{"ſentryDSN":...}`
//!   sets `sentryDSN` as it does in Go.
//! - A key that matches no field is ignored.
//! - A missing field keeps its zero value: a missing boolean is `false`, so
//!   `ToggleCentralizedMetrics({})` is an opt-out.
//! - `null` for a field is a no-op: the same as leaving the key out (an
//!   earlier non-null value for the same field stays).
//! - A key given twice: the last value wins.
//! - A wrong JSON type for a field is an error.
//!
//! Where this module is stricter than Go, on purpose:
//! - The request must be a JSON object. Go reads a top-level `null` as an
//!   empty request; here it is `invalid-request` (a host sending `null` has a
//!   bug worth seeing).
//! - [`GoRequest::STRICT`] fields (the opt-in `enabled`) given more than once
//!   with different values are refused: Go would let the last one win, so
//!   `{"enabled":false,"Enabled":true}` would opt the user IN; reporting must
//!   never turn on by such an accident.
//! - Invalid UTF-8 is refused (by the guard, before this module); Go replaces
//!   it with U+FFFD.

use std::fmt;

use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use zeroize::Zeroizing;

use super::{
    ApiError, InitializeApplicationRequest, NextPanicReportRequest, PanicReportOutcomeRequest,
    ToggleCentralizedMetricsRequest,
};
use crate::redact::{RedactList, MAX_KEYS, MAX_KEY_BYTES, MAX_VALUES, MAX_VALUE_BYTES};

/// A request type read with Go's rules.
pub trait GoRequest: DeserializeOwned {
    /// The JSON names of the fields, as serde names them (exact-match names).
    const FIELDS: &'static [&'static str];
    /// Fields that must not be given twice with different values.
    const STRICT: &'static [&'static str] = &[];
}

impl GoRequest for InitializeApplicationRequest {
    const FIELDS: &'static [&'static str] = &[
        "dataDir",
        "sentryDSN",
        "logDir",
        "logEnabled",
        "logLevel",
        "logToStderr",
        "apiLoggingEnabled",
        "panicStormWindowMs",
        "redact",
        "sentryProxy",
        "sentryCaCerts",
        "reportFatalErrors",
        "transport",
    ];
}

impl GoRequest for NextPanicReportRequest {
    const FIELDS: &'static [&'static str] = &["leaseMs", "waitMs"];
}

impl GoRequest for PanicReportOutcomeRequest {
    const FIELDS: &'static [&'static str] = &["id", "status", "retryAfter", "rateLimits", "networkError"];
}

impl GoRequest for ToggleCentralizedMetricsRequest {
    const FIELDS: &'static [&'static str] = &["enabled"];
    const STRICT: &'static [&'static str] = &["enabled"];
}

/// Reads `json` into `T` as status-go would (see the module's documentation).
pub fn parse<T: GoRequest>(json: &str) -> Result<T, ApiError> {
    let Entries(entries) = serde_json::from_str(json).map_err(|e| {
        if e.is_data() {
            ApiError::invalid_request("request must be a JSON object")
        } else {
            ApiError::invalid_request(format!("request is not valid JSON: {e}"))
        }
    })?;
    let mut fields = Map::new();
    for (key, value) in entries {
        let Some(field) = field_for(T::FIELDS, &key) else { continue };
        if value.is_null() {
            continue;
        }
        if T::STRICT.contains(&field) {
            if let Some(earlier) = fields.get(field) {
                if *earlier != value {
                    return Err(ApiError::invalid_request(format!(
                        "`{field}` is given more than once with different values"
                    )));
                }
            }
        }
        fields.insert(field.to_owned(), value);
    }
    serde_json::from_value(Value::Object(fields))
        .map_err(|e| ApiError::invalid_request(format!("invalid request: {e}")))
}

/// The field `key` sets: the exact name first, then Go's case-insensitive
/// match.
fn field_for(fields: &[&'static str], key: &str) -> Option<&'static str> {
    if let Some(exact) = fields.iter().find(|f| **f == key) {
        return Some(exact);
    }
    let folded = fold(key);
    fields.iter().find(|f| fold(f) == folded).copied()
}

/// Go's `foldName` restricted to what can equal an ASCII name: ASCII letters
/// upper-cased, `ſ` to `S`, the Kelvin sign to `K`; any other non-ASCII rune
/// stays as it is (it cannot fold onto an ASCII letter).
fn fold(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '\u{17F}' => 'S',
            '\u{212A}' => 'K',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

/// `redact`: `{"values": [string...], "keys": [string...]}`, both optional,
/// read with Go's key rules (exact name, then case-insensitive; `null` is
/// absent; other keys ignored). A wrong type or an entry over the bounds is
/// `invalid-request`, whose message never quotes the list: serde's own
/// messages would (`invalid type: string "<the value>"`), and the answer and
/// `api.log` would then hold it.
impl<'de> Deserialize<'de> for RedactList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let Entries(entries) =
            Entries::deserialize(deserializer).map_err(|_| D::Error::custom("`redact` must be an object"))?;
        let mut list = RedactList::default();
        for (key, value) in entries {
            let (name, target, max_count, max_bytes) = match field_for(&["values", "keys"], &key) {
                Some("values") => ("values", &mut list.values, MAX_VALUES, MAX_VALUE_BYTES),
                Some(_) => ("keys", &mut list.keys, MAX_KEYS, MAX_KEY_BYTES),
                None => continue,
            };
            let items = match value {
                Value::Null => continue,
                Value::Array(items) => items,
                _ => return Err(D::Error::custom(format!("`redact.{name}` must be an array of strings"))),
            };
            target.clear(); // given twice: the last wins
            if items.len() > max_count {
                return Err(D::Error::custom(format!("`redact.{name}` holds more than {max_count} entries")));
            }
            for item in items {
                let Value::String(text) = item else {
                    return Err(D::Error::custom(format!("`redact.{name}` must be an array of strings")));
                };
                let text = Zeroizing::new(text);
                if text.len() > max_bytes {
                    return Err(D::Error::custom(format!(
                        "an entry of `redact.{name}` is over {max_bytes} bytes"
                    )));
                }
                target.push(text);
            }
        }
        Ok(list)
    }
}

/// A JSON object's entries in order, duplicates kept (a `serde_json::Map`
/// would keep only one of them).
struct Entries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ErrorCode;

    fn toggle(json: &str) -> Result<bool, ApiError> {
        parse::<ToggleCentralizedMetricsRequest>(json).map(|r| r.enabled)
    }

    fn init(json: &str) -> Result<InitializeApplicationRequest, ApiError> {
        parse(json)
    }

    #[test]
    fn keys_match_exactly_then_case_insensitively() {
        assert_eq!(toggle(r#"{"enabled":true}"#), Ok(true));
        assert_eq!(toggle(r#"{"Enabled":true}"#), Ok(true));
        assert_eq!(toggle(r#"{"ENABLED":true}"#), Ok(true));
        assert_eq!(toggle(r#"{"eNaBlEd":true}"#), Ok(true));
        let r =
            init(r#"{"DataDir":"/d","SENTRYdsn":"x","LOGDIR":"/l","logenabled":true,"LogLevel":"debug"}"#)
                .unwrap();
        assert_eq!(r.data_dir, "/d");
        assert_eq!(r.sentry_dsn.as_deref(), Some("x"));
        assert_eq!(r.log_dir.as_deref(), Some("/l"));
        assert_eq!(r.log_enabled, Some(true));
        assert_eq!(r.log_level.as_deref(), Some("debug"));
        // Not a fold: a different spelling is an unknown key.
        assert_eq!(toggle(r#"{"enable":true}"#), Ok(false));
        assert_eq!(toggle(r#"{"enabled ":true}"#), Ok(false));
    }

    #[test]
    fn unicode_folding_as_go_does_it() {
        // U+017F LATIN SMALL LETTER LONG S folds with s (Go's fold.go).
        let r =
            init("{\"dataDir\":\"/d\",\"\u{17F}entryD\u{17F}N\":\"x\",\"logTo\u{17F}tderr\":true}").unwrap();
        assert_eq!(r.sentry_dsn.as_deref(), Some("x"));
        assert_eq!(r.log_to_stderr, Some(true));
        // U+0131 DOTLESS I does not fold with i in Go (no simple folding).
        let r = init("{\"dataDir\":\"/d\",\"logD\u{131}r\":\"/l\"}").unwrap();
        assert_eq!(r.log_dir, None);
        assert_eq!(fold("\u{212A}ey"), "KEY");
    }

    #[test]
    fn missing_booleans_are_false_and_null_is_absent() {
        assert_eq!(toggle("{}"), Ok(false));
        assert_eq!(toggle(r#"{"enabled":null}"#), Ok(false));
        assert_eq!(toggle(r#"{"other":1,"metricsEnabled":true}"#), Ok(false));
        // null leaves an earlier value alone, as in Go.
        assert_eq!(toggle(r#"{"enabled":true,"enabled":null}"#), Ok(true));
        let r = init(r#"{"dataDir":"/d","sentryDSN":null,"logLevel":null,"logEnabled":null}"#).unwrap();
        assert_eq!((r.sentry_dsn, r.log_level, r.log_enabled), (None, None, None));
    }

    #[test]
    fn duplicates_last_wins_except_for_the_opt_in() {
        let r = init(r#"{"dataDir":"/a","DataDir":"/b"}"#).unwrap();
        assert_eq!(r.data_dir, "/b");
        let r = init(r#"{"DataDir":"/a","dataDir":"/b"}"#).unwrap();
        assert_eq!(r.data_dir, "/b");
        // Go would opt in here (last wins); refused.
        for json in [r#"{"enabled":false,"Enabled":true}"#, r#"{"Enabled":true,"enabled":false}"#] {
            let err = toggle(json).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidRequest);
            assert!(err.message.contains("more than once"), "{}", err.message);
        }
        // Agreeing repeats are not ambiguous.
        assert_eq!(toggle(r#"{"enabled":true,"ENABLED":true}"#), Ok(true));
    }

    #[test]
    fn wrong_types_and_non_objects_are_refused() {
        for json in [
            r#"{"enabled":"true"}"#,
            r#"{"enabled":1}"#,
            r#"{"Enabled":[]}"#,
            "null",
            "[]",
            "true",
            "\"{}\"",
            "",
            "{",
            "{} {}",
        ] {
            assert_eq!(toggle(json).unwrap_err().code, ErrorCode::InvalidRequest, "{json}");
        }
        let err = init(r#"{"DATADIR":5}"#).unwrap_err();
        assert!(err.message.contains("invalid type"), "{}", err.message);
        let err = init("{}").unwrap_err();
        assert!(err.message.contains("dataDir"), "{}", err.message);
        assert!(init(r#"{"dataDir":"/d","panicStormWindowMs":-1}"#).is_err());
        // Go would read a lone surrogate escape as U+FFFD; refused here.
        assert_eq!(init(r#"{"dataDir":"/d\ud800"}"#).unwrap_err().code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn every_listed_field_is_a_field_of_its_request() {
        // A FIELDS entry serde does not know would be dropped silently.
        let mut all = Map::new();
        for field in InitializeApplicationRequest::FIELDS {
            all.insert((*field).to_owned(), Value::Null);
        }
        let values = [
            ("dataDir", Value::from("/d")),
            ("sentryDSN", Value::from("dsn")),
            ("logDir", Value::from("/l")),
            ("logEnabled", Value::from(true)),
            ("logLevel", Value::from("warn")),
            ("logToStderr", Value::from(true)),
            ("apiLoggingEnabled", Value::from(true)),
            ("panicStormWindowMs", Value::from(1000)),
            ("redact", serde_json::json!({"values": ["Zoë"], "keys": ["k1x"]})),
            ("sentryProxy", Value::from("socks5h://p:1")),
            ("sentryCaCerts", Value::from("/ca.pem")),
            ("reportFatalErrors", Value::from(true)),
            ("transport", Value::from("host")),
        ];
        assert_eq!(values.len(), InitializeApplicationRequest::FIELDS.len());
        let json = Value::Object(values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
        let r = init(&json.to_string()).unwrap();
        assert_eq!(r.data_dir, "/d");
        assert_eq!(r.sentry_dsn.as_deref(), Some("dsn"));
        assert_eq!(r.log_dir.as_deref(), Some("/l"));
        assert_eq!(r.log_enabled, Some(true));
        assert_eq!(r.log_level.as_deref(), Some("warn"));
        assert_eq!(r.log_to_stderr, Some(true));
        assert_eq!(r.api_logging_enabled, Some(true));
        assert_eq!(r.panic_storm_window_ms, Some(1000));
        assert_eq!(r.report_fatal_errors, Some(true));
        assert_eq!(r.sentry_proxy.as_deref(), Some("socks5h://p:1"));
        assert_eq!(r.sentry_ca_certs.as_deref(), Some("/ca.pem"));
        // Go's case-insensitive match, as for every key.
        assert_eq!(init(r#"{"dataDir":"/d","SENTRYPROXY":""}"#).unwrap().sentry_proxy.as_deref(), Some(""));
        let redact = r.redact.unwrap();
        assert_eq!((redact.values.len(), redact.keys.len()), (1, 1));
        assert_eq!(r.transport.as_deref(), Some("host"));
        // Read the same Go-like way: a folded key, null as absent.
        assert_eq!(
            init(r#"{"dataDir":"/d","TRANSPORT":"host"}"#).unwrap().transport.as_deref(),
            Some("host")
        );
        assert_eq!(init(r#"{"dataDir":"/d","transport":null}"#).unwrap().transport, None);
        assert!(init(r#"{"dataDir":"/d","transport":true}"#).is_err());
    }

    #[test]
    fn the_redact_list_is_read_the_go_way_and_never_quoted_in_errors() {
        let r = init(r#"{"dataDir":"/d","REDACT":{"Values":["Zoë","alice.eth"],"keys":null,"other":5}}"#)
            .unwrap();
        let list = r.redact.unwrap();
        let values: Vec<&str> = list.values.iter().map(|v| v.as_str()).collect();
        assert_eq!(values, ["Zoë", "alice.eth"]);
        assert!(list.keys.is_empty());
        assert!(init(r#"{"dataDir":"/d","redact":null}"#).unwrap().redact.is_none());
        // Given twice (exact and folded spellings): one wins whole, no mix.
        let r = init(r#"{"dataDir":"/d","redact":{"values":["Qone1"],"VALUES":["Qtwo2"]}}"#).unwrap();
        assert_eq!(r.redact.unwrap().values.len(), 1);
        let long = "x".repeat(crate::redact::MAX_VALUE_BYTES + 1);
        let many: Vec<String> = (0..=crate::redact::MAX_VALUES).map(|n| format!("Qv{n}")).collect();
        let long_key = "k".repeat(crate::redact::MAX_KEY_BYTES + 1);
        for redact in [
            serde_json::json!("Qsecret1value"),
            serde_json::json!(["Qsecret1value"]),
            serde_json::json!({"values": "Qsecret1value"}),
            serde_json::json!({"values": ["Qsecret1value", 5]}),
            serde_json::json!({"values": [["Qsecret1value"]]}),
            serde_json::json!({"keys": {"Qsecret1value": 1}}),
            serde_json::json!({"values": ["Qsecret1value", long]}),
            serde_json::json!({"values": many}),
            serde_json::json!({"keys": [long_key]}),
        ] {
            let json = serde_json::json!({"dataDir": "/d", "redact": redact}).to_string();
            let err = init(&json).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidRequest, "{json}");
            assert!(err.message.contains("redact"), "{}", err.message);
            assert!(!err.message.contains("Qsecret1") && !err.message.contains("xxxx"), "{}", err.message);
        }
        // Its Debug (and so the request's) prints counts only.
        let r = init(r#"{"dataDir":"/d","redact":{"values":["Qsecret1value"]}}"#).unwrap();
        assert!(!format!("{r:?}").contains("Qsecret1"), "{r:?}");
    }

    #[test]
    fn the_pull_and_outcome_requests_are_read_the_go_way() {
        let r: NextPanicReportRequest = parse(r#"{"LeaseMs":5000,"waitMs":null,"other":1}"#).unwrap();
        assert_eq!((r.lease_ms, r.wait_ms), (Some(5000), None));
        let r: PanicReportOutcomeRequest =
            parse(r#"{"ID":"7","status":429,"retryAfter":"2","RateLimits":"60::org"}"#).unwrap();
        assert_eq!(r.id, "7");
        assert_eq!(r.status, Some(429));
        assert_eq!(r.retry_after.as_deref(), Some("2"));
        assert_eq!(r.rate_limits.as_deref(), Some("60::org"));
        assert!(parse::<PanicReportOutcomeRequest>(r#"{"status":200}"#).is_err(), "the id is required");
        assert!(parse::<NextPanicReportRequest>(r#"{"leaseMs":-1}"#).is_err());
    }
}
