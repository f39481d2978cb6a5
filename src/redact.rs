//! Redaction of sensitive values: the one function that both the logs and the
//! Sentry events use, so a secret hidden in one is hidden in the other.
//!
//! The rule is status-go's (`mobile/callog`): the **string value** of a JSON key
//! whose name contains one of [`SENSITIVE_KEY_PARTS`] (case-insensitive) becomes
//! `"***"`. It works on any text, not only on valid JSON, because panic messages
//! and log lines often embed a fragment of a request (`bad request {"password":"x"`).

/// Lower-case substrings that mark a key as sensitive.
///
/// status-go's list (`password`, `newPassword`, `mnemonic`, `openseaAPIKey`,
/// `poktToken`, `infuraToken`, `alchemy*`, `rarible*`, `statusProxyBlockchainUser`,
/// `verifyENSURL`, `verifyTransactionURL`, `gifs/api-key`) plus the generic parts
/// this library adds so that new keys are covered by default: any `token`,
/// `secret`, `privatekey`, `apikey` and the Sentry `dsn`.
pub const SENSITIVE_KEY_PARTS: &[&str] = &[
    "password",
    "mnemonic",
    "openseaapikey",
    "pokttoken",
    "infuratoken",
    "alchemy",
    "rarible",
    "statusproxyblockchainuser",
    "verifyensurl",
    "verifytransactionurl",
    "gifs/api-key",
    "token",
    "secret",
    "privatekey",
    "apikey",
    "dsn",
];

/// The replacement for a redacted value.
pub const MASK: &str = "***";

/// Whether a JSON key names a sensitive value.
pub fn is_sensitive_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SENSITIVE_KEY_PARTS.iter().any(|part| key.contains(part))
}

/// Returns `text` with the string value of every sensitive `"key": "value"`
/// pair replaced by `"***"`. Text that holds no such pair is returned unchanged.
pub fn redact(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0; // bytes of `text` already copied to `out`
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        let Some(key_end) = string_end(bytes, i) else {
            break;
        };
        let key = &text[i + 1..key_end];
        let mut j = skip_ws(bytes, key_end + 1);
        if j < bytes.len() && bytes[j] == b':' {
            j = skip_ws(bytes, j + 1);
            if j < bytes.len() && bytes[j] == b'"' {
                if let Some(value_end) = string_end(bytes, j) {
                    if is_sensitive_key(key) {
                        out.push_str(&text[copied..=j]);
                        out.push_str(MASK);
                        copied = value_end;
                    }
                    i = value_end + 1;
                    continue;
                }
            }
        }
        // Not a key: continue from the closing quote, which may open the next string.
        i = key_end + 1;
    }
    out.push_str(&text[copied..]);
    out
}

/// Index of the quote that closes the JSON string opening at `start`.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(!out.contains("hunter2"));
    }

    #[test]
    fn leaves_non_string_values_and_plain_text() {
        assert_eq!(redact(r#"{"password":null,"n":1}"#), r#"{"password":null,"n":1}"#);
        assert_eq!(redact("no json here"), "no json here");
        assert_eq!(redact(r#"unterminated "password":"abc"#), r#"unterminated "password":"abc"#);
    }

    #[test]
    fn handles_escapes_and_unicode() {
        let out = redact(r#"{"mnemonic":"a \"quoted\" 😀 word","k":"é"}"#);
        assert_eq!(out, r#"{"mnemonic":"***","k":"é"}"#);
        let out = redact(r#"{"sentryDSN":"https://pub@host/1"}"#);
        assert_eq!(out, r#"{"sentryDSN":"***"}"#);
    }
}
