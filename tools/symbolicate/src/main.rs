//! Symbolicates a libstatus panic event offline, as Sentry's server does:
//! with `symbolic` (the library behind Sentry's symbolicator), a SymCache of
//! the debug file, and Sentry's instruction address adjustment (the top frame
//! is taken as is, every other frame is a return address).
//!
//! ```text
//! symbolicate DEBUG_FILE EVENT.json     the event's frames, top first, each
//!                                       with its inline frames (innermost first)
//! symbolicate DEBUG_FILE --debug-id     the debug file's debug id
//! symbolicate DEBUG_FILE --addr ADDR..  image-relative call-site addresses
//!                                       (a status.log line's stack)
//! ```
//! Output is JSON on stdout.

use std::process::ExitCode;

use serde_json::{json, Value};
use symbolic::common::{ByteView, InstructionInfo, Language, Name, NameMangling};
use symbolic::debuginfo::Object;
use symbolic::demangle::{Demangle, DemangleOptions};
use symbolic::symcache::{SymCache, SymCacheConverter};

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(out) => {
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("symbolicate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_hex(text: &str) -> Result<u64, String> {
    u64::from_str_radix(text.trim_start_matches("0x"), 16).map_err(|e| format!("{text}: {e}"))
}

fn run(args: Vec<String>) -> Result<Value, String> {
    let [debug_file, rest @ ..] = args.as_slice() else {
        return Err("usage: symbolicate DEBUG_FILE (EVENT.json | --debug-id | --addr ADDR...)".into());
    };
    let view = ByteView::open(debug_file).map_err(|e| format!("{debug_file}: {e}"))?;
    let object = Object::parse(&view).map_err(|e| format!("{debug_file}: {e}"))?;
    let debug_id = object.debug_id().to_string();
    if rest.first().map(String::as_str) == Some("--debug-id") {
        return Ok(json!({ "debug_id": debug_id }));
    }
    let mut converter = SymCacheConverter::new();
    converter.process_object(&object).map_err(|e| format!("{debug_file}: {e}"))?;
    let mut buffer = Vec::new();
    converter.serialize(&mut std::io::Cursor::new(&mut buffer)).map_err(|e| e.to_string())?;
    let cache = SymCache::parse(&buffer).map_err(|e| e.to_string())?;
    let lookup = |addr: u64| -> Vec<Value> {
        cache
            .lookup(addr)
            .map(|location| {
                let function = location.function();
                let name = Name::new(function.name(), NameMangling::Unknown, Language::Unknown);
                let demangled = name.try_demangle(DemangleOptions::name_only());
                json!({
                    "function": demangled,
                    "file": location.file().map(|f| f.full_path()),
                    "line": location.line(),
                })
            })
            .collect()
    };

    if rest.first().map(String::as_str) == Some("--addr") {
        let frames: Result<Vec<Value>, String> = rest[1..]
            .iter()
            .map(|a| Ok(json!({ "addr": a, "inline": lookup(parse_hex(a)?) })))
            .collect();
        return Ok(json!({ "debug_id": debug_id, "frames": frames? }));
    }

    let Some(event_file) = rest.first() else { return Err("no event file".into()) };
    let text = std::fs::read_to_string(event_file).map_err(|e| format!("{event_file}: {e}"))?;
    let event: Value = serde_json::from_str(&text).map_err(|e| format!("{event_file}: {e}"))?;
    let image = event
        .pointer("/debug_meta/images/0")
        .ok_or("the event has no debug image")?;
    let image_addr = parse_hex(image["image_addr"].as_str().ok_or("no image_addr")?)?;
    let frames = event
        .pointer("/exception/values/0/stacktrace/frames")
        .and_then(Value::as_array)
        .ok_or("the event has no stack")?;
    let mut out = Vec::new();
    // Sentry's order is oldest first; symbolication counts from the top.
    for (index, frame) in frames.iter().rev().enumerate() {
        let addr = parse_hex(frame["instruction_addr"].as_str().ok_or("a frame has no instruction_addr")?)?;
        let mut info = InstructionInfo::new(object.arch(), addr);
        info.is_crashing_frame(index == 0);
        let caller = info.caller_address();
        let relative = caller.checked_sub(image_addr).ok_or("an address below the image")?;
        out.push(json!({
            "instruction_addr": frame["instruction_addr"],
            "relative_addr": format!("{relative:#x}"),
            "inline": lookup(relative),
        }));
    }
    Ok(json!({ "debug_id": debug_id, "image_debug_id": image["debug_id"], "frames": out }))
}
