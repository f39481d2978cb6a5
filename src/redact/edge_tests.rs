//! Edge cases of the redactor that a mutation run (cargo-mutants, issue 22)
//! found unpinned: each test states a behaviour that some changed operator
//! in `redact.rs` would break.

use super::*;

/// An empty value under a sensitive key holds nothing to hide: it stays
/// empty, and no `***` appears at a point.
#[test]
fn an_empty_secret_stays_empty() {
    assert_eq!(redact(r#"{"password":"","n":1}"#), r#"{"password":"","n":1}"#);
    assert_eq!(redact(r#"pin = '' then"#), r#"pin = '' then"#);
}

/// A range inside another that ends on the same byte takes the outer one's
/// replacement: a home folder whose user name is a 40-hex run reads `~`.
#[test]
fn a_user_name_masked_twice_leaves_one_home_mark() {
    let user = "0123456789abcdef0123456789abcdef01234567";
    assert_eq!(redact(&format!("open /home/{user}/notes.txt")), "open ~/notes.txt");
    assert_eq!(redact(&format!(r"C:\Users\{user}\x")), r"~\x");
}

/// `redact_prefix` with a bound inside a multi-byte character keeps only
/// the whole characters before it (and never panics).
#[test]
fn a_bound_inside_a_character_keeps_the_characters_before_it() {
    assert_eq!(redact_prefix("aé", 2), "a");
    assert_eq!(redact_prefix("aé", 3), "aé");
    assert_eq!(redact_prefix("a€b", 3), "a");
    // With a secret after the bound: masked, and cut at the same place.
    assert_eq!(redact_prefix("aé password=hunter2", 2), "a");
    assert_eq!(redact_prefix("password=hunter2 é", 18), "password=*** ");
}

/// `apply` widens a range to whole characters. No detector cuts inside a
/// character (each stops next to an ASCII byte, and the host's values are
/// whole UTF-8), so no input of `redact` reaches this: it is tested on
/// `apply` itself, the guard against a future detector that would.
#[test]
fn a_range_inside_a_character_is_widened_to_whole_characters() {
    let span = |start, end| Span { start, end, with: MASK };
    // `é` is bytes 1..3 of "aéb".
    assert_eq!(apply("aéb", vec![span(1, 2)], 4), "a***b");
    assert_eq!(apply("aéb", vec![span(2, 3)], 4), "a***b");
    assert_eq!(apply("aéb", vec![span(2, 4)], 4), "a***");
}

/// Words of a key split at humps (`myPin`), before the last capital of a
/// capital run (`PINReset`) and between letters and digits (`pin2`): each
/// sensitive word is found though the whole key is no listed spelling.
#[test]
fn key_words_split_at_humps_capital_runs_and_digits() {
    assert_eq!(redact("myPinReset=1234 x"), "myPinReset=*** x");
    assert_eq!(redact("PINReset=1234 x"), "PINReset=*** x");
    assert_eq!(redact("pin2=1234 x"), "pin2=*** x");
    assert_eq!(redact("spinReset=1234 x"), "spinReset=1234 x");
}

/// A key that is sensitive as read (`token`) stays so after a backslash
/// that looks like an escape (`\t`) but opens no sensitive word.
#[test]
fn a_key_after_a_backslash_is_read_whole() {
    assert_eq!(redact(r"config\token=abc123 x"), r"config\token=*** x");
}

/// Go's JSON escapes `<`, `>` and `&` as `\u003c`, `\u003e`, `\u0026`: the
/// key after one is read as after the character itself, so the value of
/// `<pin=1234>` is masked in either spelling.
#[test]
fn a_key_after_an_escaped_character_is_read() {
    assert_eq!(redact(r#"{"msg":"<pin=1234>"}"#), r#"{"msg":"<pin=***>"}"#);
    assert_eq!(redact(r#"{"msg":"\u003cpin=1234\u003e"}"#), r#"{"msg":"\u003cpin=***\u003e"}"#);
    assert_eq!(redact(r"a=1\u0026pin=1234 x"), r"a=1\u0026pin=*** x");
    assert_eq!(redact(r"x\u003epassword=hunter2 x"), r"x\u003epassword=*** x");
    // Escaped twice (`{:?}` of Go's JSON).
    assert_eq!(redact(r"\\u003cpin=1234"), r"\\u003cpin=***");
}

/// An escaped space ends a key as a space does: `session ended=true` is no
/// key `session` with a value.
#[test]
fn an_escaped_space_ends_a_key() {
    assert_eq!(redact("session ended=true"), "session ended=true");
    assert_eq!(redact(r"session\u0020ended=true"), r"session\u0020ended=true");
}

/// `null` stays only as a whole value: `null-secret` and `null.x` are
/// values like any.
#[test]
fn a_value_that_starts_with_null_is_masked_whole() {
    assert_eq!(redact("password=null-secret x"), "password=*** x");
    assert_eq!(redact("password=null.x y"), "password=*** y");
    assert_eq!(redact("password=null, y"), "password=null, y");
    assert_eq!(redact("password=null"), "password=null");
}

/// `::` is a Rust path, not a separator: `SecretKey::from_slice` is code in
/// a panic message, not a key with a value.
#[test]
fn a_path_separator_is_no_key_separator() {
    let text = "SecretKey::from_slice(&bytes) failed; Password::new(x)";
    assert_eq!(redact(text), text);
    assert_eq!(redact("password:: x"), "password:: x");
}

/// A bare value that starts with backslashes (`password=\hunter2`, or
/// `\\hunter2` once Debug-escaped) is masked whole, backslashes included.
#[test]
fn a_value_that_starts_with_a_backslash_is_masked() {
    assert_eq!(redact(r"password=\hunter2 x"), r"password=*** x");
    assert_eq!(redact(r"password=\\hunter2 x"), r"password=*** x");
    assert_eq!(redact(r#"{"pin":\u0031234}"#), r#"{"pin":"***"}"#);
    let debug = format!("{:?}", r"login password=\secret next");
    assert_eq!(redact(&debug), r#""login password=*** next""#);
    // An escaped bracket opens an array or object like a plain one.
    assert_eq!(redact(r"password=\[a b] x"), r"password=*** x");
}

/// After a `null` value the scan goes on right after it: the next key is read.
#[test]
fn the_key_after_a_null_value_is_read() {
    assert_eq!(redact("pin=null password=hunter2"), "pin=null password=***");
}

/// An authorization scheme at the end of the text, with or without spaces
/// after it, is masked and nothing is read past the end.
#[test]
fn a_scheme_without_credentials_at_the_end_is_masked() {
    assert_eq!(redact("Authorization: Basic "), "Authorization: *** ");
    assert_eq!(redact("Authorization: Basic"), "Authorization: ***");
}

/// Redacting Debug-formatted JSON (once or twice) gives the Debug form of
/// the redacted JSON: a value that was no string becomes `"***"` quoted at
/// the key's escaping level, so the text still reads back as JSON.
#[test]
fn redaction_commutes_with_debug_formatting() {
    let debug = |s: &str| format!("{s:?}");
    for json in [r#"{"pin":1234,"k":"v"}"#, r#"{"password":"hunter2","seed":[1,2],"k":true}"#] {
        let masked = redact(json);
        serde_json::from_str::<serde_json::Value>(&masked).unwrap();
        assert_eq!(redact(&debug(json)), debug(&masked), "{json}");
        assert_eq!(redact(&debug(&debug(json))), debug(&debug(&masked)), "{json}");
    }
}

/// An escaped quote inside a string of a masked array does not end it: the
/// `]` inside the string does not close the array.
#[test]
fn a_masked_array_ends_at_its_own_bracket() {
    let text = r#"{"mnemonic":["a\"b]","c"],"k":"v"}"#;
    assert_eq!(redact(text), r#"{"mnemonic":"***","k":"v"}"#);
}

/// A user name ends at a line break (`\n`, `\r`), on Unix and on Windows
/// (whose names may hold spaces): the next line is not part of it.
#[test]
fn a_user_name_ends_at_a_line_break() {
    assert_eq!(redact("/home/bob\nnext line"), "~\nnext line");
    assert_eq!(redact("/home/bob\r\nnext line"), "~\r\nnext line");
    assert_eq!(redact("C:\\Users\\Bob Smith\r\nnext line"), "~\r\nnext line");
}

/// `profiles/<user>` is a user folder after a slash only, and `home`/`users`
/// only as a whole segment name: `/srv/myhome/bob` and `profiles/x` alone
/// are left.
#[test]
fn user_folders_are_whole_segments() {
    assert_eq!(redact("/var/lib/profiles/bob/cache"), "/var/lib~/cache");
    assert_eq!(redact("see profiles/bob"), "see profiles/bob");
    assert_eq!(redact("/srv/myhome/bob/x"), "/srv/myhome/bob/x");
    assert_eq!(redact("D:\\allusers\\bob\\x"), "D:\\allusers\\bob\\x");
}

/// A Windows user path keeps no drive letter however deeply its
/// backslashes are escaped (`{:?}` once and twice).
#[test]
fn a_drive_letter_goes_with_an_escaped_user_path() {
    let debug = |s: &str| format!("{s:?}");
    let path = r"C:\Users\bob\x";
    assert_eq!(redact(path), r"~\x");
    assert_eq!(redact(&debug(path)), debug(r"~\x"));
    assert_eq!(redact(&debug(&debug(path))), debug(&debug(r"~\x")));
}

/// A PEM key block is masked from its BEGIN marker to the end of its END
/// marker, label and dashes included.
#[test]
fn a_pem_block_is_masked_with_both_markers() {
    let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----";
    assert_eq!(redact(&format!("key: {pem} done")), "key: *** done");
    assert_eq!(redact(&format!("[{pem}]")), "[***]");
    // Cut inside the END marker: masked to the end, nothing read past it.
    let cut = &pem[..pem.len() - 5];
    assert!(cut.ends_with("END PRIVATE KEY"));
    assert_eq!(redact(&format!("key: {cut}")), "key: ***");
}

/// Credentials in a URL follow `//`: one slash before an `@` (an image
/// reference `library/redis@latest`) is no URL.
#[test]
fn a_single_slash_before_an_at_is_no_url() {
    assert_eq!(redact("pull library/redis@latest"), "pull library/redis@latest");
    assert_eq!(redact("pull https://u:p@host/x"), "pull https://***@host/x");
}

/// An e-mail address needs a local part and a label of two letters after a
/// dot: `@example.com`, `a@b.c` and `v1@build.42` are none.
#[test]
fn an_email_needs_a_local_part_and_a_letter_tld() {
    for text in ["follow @example.com", "x a@b.c y", "ref v1@build.42 x", "end a@"] {
        assert_eq!(redact(text), text);
    }
    assert_eq!(redact("mail a.@x.com"), "mail ***");
}

/// An IPv6 address that opens with `::` is read from its first colon after
/// a `_` too (`bind_::1`), as after a space.
#[test]
fn an_address_opening_with_colons_after_an_underscore_is_masked() {
    assert_eq!(redact("bind_::1 ok"), "bind_*** ok");
    assert_eq!(redact("bind ::1 ok"), "bind *** ok");
    // `::` alone, the unspecified address, when nothing glued follows it
    // (`::new` is a Rust path).
    assert_eq!(redact("Listening on [::]:8080"), "Listening on [***]:8080");
    assert_eq!(redact("call ::new()"), "call ::new()");
}

/// `body` with its Luhn check digit appended (the digit that makes the
/// number valid), as a card number carries it.
fn with_luhn_check(body: &str) -> String {
    let mut digits: Vec<u32> = body.bytes().map(|c| u32::from(c - b'0')).collect();
    super::tests::property::luhn_complete(&mut digits);
    digits.iter().map(|d| d.to_string()).collect()
}

/// Outside the 15 and 16 digits that are masked whatever they hold, a
/// number is a card's only with a card's first digit and a valid Luhn
/// checksum: 13 and 19 digits whose doubled digits run past 9 (6 makes 12,
/// 7 makes 14), valid, are masked; the same with the last digit changed
/// are not.
#[test]
fn thirteen_and_nineteen_digits_are_masked_only_with_a_valid_checksum() {
    for body in ["466666666666", "477777777777", "466666666666666666", "467676767676767676"] {
        let card = with_luhn_check(body);
        let last = card.as_bytes()[card.len() - 1] - b'0';
        let wrong = format!("{body}{}", (last + 1) % 10);
        assert_eq!(redact(&format!("n {card} x")), "n *** x", "{card}");
        assert_eq!(redact(&format!("n {wrong} x")), format!("n {wrong} x"), "{wrong}");
    }
}

/// A number whose first group is glued to a word (`a716-…`, as in a UUID) is
/// read from its second group: a valid 13-digit card after it is masked.
#[test]
fn a_card_after_a_glued_group_is_read_from_the_next_group() {
    let card = with_luhn_check("466666666666");
    let text = format!("id a716-{card} x");
    assert!(!redact(&text).contains(&card), "{text} -> {}", redact(&text));
}

/// A word of a recovery phrase has a separator on both sides: twelve
/// BIP39 words each glued to a digit on the right (`abandon1 ability1 …`,
/// generated names, not a phrase) are left alone, as are twelve glued on
/// the left.
#[test]
fn phrase_words_glued_to_a_digit_are_no_phrase() {
    let words = ["abandon", "ability", "able", "about", "above", "absent"];
    let words: Vec<&str> = words.iter().chain(words.iter()).copied().collect();
    let right: String = words.iter().map(|w| format!("{w}1 ")).collect();
    let left: String = words.iter().map(|w| format!("1{w} ")).collect();
    assert_eq!(redact(&right), right);
    assert_eq!(redact(&left), left);
    let plain = words.join(" ");
    assert_eq!(redact(&plain), "***", "the same words with separators are one");
    // Only the two end words glued (`1abandon … absent1`): ten words are
    // left, fewer than a phrase has.
    let ends = format!("1{plain}1");
    assert_eq!(redact(&ends), ends);
}

/// Fifteen digits in a row of groups are masked wherever the run of groups
/// holds them (an IMEI inside a longer number): at its start (5 5 5 | 4) or
/// after its first group (4 | 5 5 5), whatever the checksum.
#[test]
fn fifteen_digits_inside_a_longer_run_of_groups_are_masked() {
    assert_eq!(redact("n 12345 12345 12345 1234 x"), "n *** x");
    assert_eq!(redact("n 1234 12345 12345 12345 x"), "n *** x");
    assert_eq!(redact("n 1234 12345 12345 1234 x"), "n 1234 12345 12345 1234 x", "no 15 in a row");
}

/// A number that ends the text with a separator after it is read without
/// looking past the end.
#[test]
fn a_number_with_a_separator_at_the_texts_end_is_read() {
    for text in ["call 123-", "call 123 ", "n 912345678901234-", "n 1234-"] {
        let _ = redact(text);
    }
    assert_eq!(redact("n 912345678901234-"), "n ***-");
}

/// A last group glued to a word (`…-446655440000ab`) does not count: 15
/// digits only with it are no number.
#[test]
fn a_last_group_glued_to_a_word_does_not_count() {
    assert_eq!(redact("n 12345 12345 12345x y"), "n 12345 12345 12345x y");
    assert_eq!(redact("n 12345 12345 12345 y"), "n *** y");
    // The checksum reads the groups before it only: a valid 13-digit card
    // stays valid whatever the glued group holds.
    let card = with_luhn_check("466666666666");
    assert!(!redact(&format!("n {card} 12x y")).contains(&card));
}

/// A recovery phrase after separators at the text's start is masked from
/// its first word: the separators stay.
#[test]
fn a_phrase_after_leading_separators_keeps_them() {
    let words = ["abandon", "ability", "able", "about", "above", "absent"];
    let plain = words.iter().chain(words.iter()).copied().collect::<Vec<_>>().join(" ");
    assert_eq!(redact(&format!("  {plain}")), "  ***");
    assert_eq!(redact(&format!(", {plain}")), ", ***");
}
